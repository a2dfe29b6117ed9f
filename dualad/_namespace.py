"""The array-API namespace of Duals and Variables (``x.__array_namespace__()``).

SciPy under ``SCIPY_ARRAY_API=1`` (and any library written against the array API standard)
asks an array for its namespace and calls ``xp.exp``, ``xp.sum``, ``xp.asarray``, ... on it.
NumPy 2's own namespace is the standard's, and its functions already dispatch to the
wrappers' hooks; what differs is the constructors: ``xp.asarray(x)`` must hand a wrapper
back rather than convert it (which would drop the derivative), and a list holding wrappers
becomes one wrapper, as under interception. Everything else is NumPy's attribute. Imports
numpy and ``_intercept``.
"""

from __future__ import annotations

import types

import numpy as np

from ._intercept import _convert, _holds


def _asarray(obj, /, *, dtype=None, device=None, copy=None):
    if _holds(obj):
        return _convert("asarray", obj, dtype, copy)
    return np.asarray(obj, dtype=dtype, copy=copy)


def _astype(x, dtype, /, *, copy=True, device=None):
    if _holds(x):
        dt = np.dtype(dtype)
        if not copy and dt == x.dtype:
            return x
        return _convert("astype", x, dt, copy=True)
    return np.astype(x, dtype, copy=copy)


class ArrayNamespace(types.ModuleType):
    """NumPy's namespace with constructors that keep derivatives.

    >>> import numpy as np, dualad
    >>> xp = dualad.Dual(np.array([1.0, 2.0]), np.array([1.0, 0.0])).__array_namespace__()
    >>> xp.__name__
    'dualad.array_api'
    """

    asarray = staticmethod(_asarray)
    astype = staticmethod(_astype)

    def __getattr__(self, name: str):
        return getattr(np, name)


NAMESPACE = ArrayNamespace("dualad.array_api", __doc__)
NAMESPACE.__array_api_version__ = getattr(np, "__array_api_version__", "2023.12")

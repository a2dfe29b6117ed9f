"""Array-namespace helpers: make new arrays on the input's backend, never by coercion.

Imports numpy (and dualad._ops for the complex refusal) only; CuPy and Dask arrays are reached through NumPy's own dispatch.
"""

from __future__ import annotations

from dualad._numpy import np

from ._ops import complex_refused, is_complex


def as_float_leaf(x):
    """A differentiable float array from a user leaf; ints and bools become float64, complex
    values raise NotImplementedError (see dualad._ops.COMPLEX)."""
    if isinstance(x, (np.ndarray, np.generic)) or (
        hasattr(x, "__array_function__") and hasattr(x, "dtype")  # CuPy, Dask, ...
    ):
        kind = x.dtype.kind
        if kind == "f":
            return x
        if kind == "c":
            raise complex_refused(f"an input of dtype {x.dtype}")
        return x.astype(np.float64)
    try:
        return np.asarray(x, dtype=np.float64)
    except TypeError:
        if is_complex(x) or is_complex(np.asarray(x)):
            raise complex_refused("an input") from None
        raise


def to_host(x):
    """NumPy array from a CuPy array (``.get()``) or a Dask array (``.compute()``), else
    ``x`` unchanged."""
    if isinstance(x, (np.ndarray, np.generic)):
        return x
    get = getattr(x, "get", None)
    if callable(get) and hasattr(x, "__cuda_array_interface__"):
        return get()
    compute = getattr(x, "compute", None)
    if callable(compute) and hasattr(x, "dask"):
        return compute()
    return get() if callable(get) else x

"""Array-namespace helpers: make new arrays on the input's backend, never by coercion.

Imports numpy only; CuPy and Dask arrays are reached through NumPy's own dispatch.
"""

from __future__ import annotations

from dualad._numpy import np


def as_float_leaf(x):
    """A differentiable float or complex array from a user leaf; ints and bools become
    float64."""
    if isinstance(x, (np.ndarray, np.generic)) or (
        hasattr(x, "__array_function__") and hasattr(x, "dtype")  # CuPy, Dask, ...
    ):
        return x if x.dtype.kind in "fc" else x.astype(np.float64)
    try:
        return np.asarray(x, dtype=np.float64)
    except TypeError:
        a = np.asarray(x)  # complex numbers (float() refuses them)
        if a.dtype.kind != "c":
            raise
        return a


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


def host_only(leaves, what: str, instead: str) -> None:
    """Raise ``TypeError`` where a leaf (under any wrapper) is another backend's array (Dask,
    CuPy, ...): for the doors that work on host NumPy memory only. ``instead`` names what
    keeps the backend. A plain NumPy leaf costs one type check."""
    for v in leaves:
        if type(v) is np.ndarray:
            continue
        b = v
        while hasattr(b, "_level"):  # the wrappers (Dual, tape.Variable, ...) set _level
            b = b._unwrap()
        if hasattr(b, "__array_function__") and not isinstance(b, (np.ndarray, np.generic)):
            t = type(b)
            raise TypeError(
                f"{what} needs NumPy arrays on the host, got a {t.__module__.split('.')[0]} "
                f"{t.__name__}: pass x.get() (CuPy) or x.compute() (Dask) to bring it to the "
                f"host, or use {instead}, which keep the derivative on the array's backend"
            )

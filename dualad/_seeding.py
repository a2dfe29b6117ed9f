"""Seeding inputs and reading derivatives back, shared by every mode: the memory budget,
input leaves and their offsets, identity seeds (plain, small and packed), an output's tangent
at a level, the checks on a gradient's output, and the layout of Jacobian blocks.

``MEMORY_BUDGET`` lives here: readers look it up as ``_seeding.MEMORY_BUDGET`` at call time.
"""

from __future__ import annotations

import functools
import itertools
import math

from dualad._numpy import np

from . import _tags
from ._alias import INPUT, innermost
from ._backend import as_float_leaf
from ._ops import strip
from ._pytree import flatten, flatten_like, unflatten
from ._scalar import pack
from ._views import foreign
from .dual import Dual

#: Memory the forward Jacobian lets one vectorised pass use for tangents, in bytes.
MEMORY_BUDGET = 1 << 28
_MODES = ("auto", "forward", "reverse")


#: Inputs up to this size get forward gradients in one pass with no chunking bookkeeping.
_SMALL = 64
#: Up to this many input numbers, mode="auto" takes the forward pass on packed scalars (two
#: directions ride in one complex tangent): one evaluation of f, no tape, cheaper than a
#: sweep on every program measured (asv_bench/regret.py).
_PACKED = 2
_F64_DTYPE = np.dtype(np.float64)
_open_level = _tags.open_level
_OPEN = _tags._OPEN


# -- seeding and reading back ---------------------------------------------------------------


def _leaves(x):
    leaves, td = flatten(x)
    return [as_float_leaf(v) for v in leaves], td


def _size(x) -> int:
    return math.prod(np.shape(x))


def _offsets(xs) -> list[int]:
    return list(itertools.accumulate((_size(v) for v in xs), initial=0))


def _seed(leaves, level: int, dots, single: bool):
    return [_seed_one(v, d, level, single) for v, d in zip(leaves, dots)]


def _seed_one(v, d, level: int, single: bool) -> Dual:
    k = d.shape[0]
    if k <= 2 and _packable(v) and type(d) is np.ndarray and d.dtype is _F64_DTYPE:
        # a 0-d float64 leaf: a packed scalar (dualad._scalar), Python numbers inside
        return Dual._new(float(v), pack(d.reshape(k), k), level, k, single)
    return _input(Dual._new(v, d, level, k, single))


def _input(d: Dual) -> Dual:
    """``d``, marked as the point a derivative is taken at: writes into it (or into a view of
    it) raise inside ``f``, so the caller's array and every later pass stay as given."""
    d._owns = INPUT
    return d


def _floats(items, ints: bool = False) -> bool:
    """Every item a Python float or an np.float64 (``ints``: or an int): the numbers the
    tuple and dict doors take. A loop: a generator costs a call per item."""
    for v in items:
        t = type(v)
        if t is not float and t is not np.float64 and not (ints and t is int):
            return False
    return True


def _packable(v) -> bool:
    t = type(v)
    return t is np.float64 or (t is np.ndarray and v.shape == () and v.dtype is _F64_DTYPE)


def refuse_wrapped_chunks(y) -> None:
    """Raise where a value holds a Dask array whose chunks are traced values (Duals,
    Variables): Dask's own functions (``da.sum``, ``da.map_blocks``, ``da.stack``, ...) wrap
    a traced value as an opaque chunk, and the derivative would read as zero."""
    while True:
        if isinstance(getattr(y, "_meta", None), _tags.Leveled):
            name = type(y._meta).__name__
            raise NotImplementedError(
                f"dask's own functions on traced values are not differentiated: a Dask array "
                f"here holds {name} chunks (da.sum, da.map_blocks, da.stack, da.where, "
                f"da.asarray, ... wrap the {name} whole, and its derivative would be lost). Use "
                "the NumPy function (np.sum, np.stack, np.where, ...), which dispatches to Dask "
                "for a Dask input, or call the Dask function on .primal if its derivative is "
                "not needed."
            )
        if not isinstance(y, _tags.Leveled):
            return
        if type(y) is Dual:
            dot = y._dot
            if dot is not None and type(dot) is not np.ndarray and not isinstance(dot, _SCALARS):
                refuse_wrapped_chunks(dot)
        y = y._unwrap()


_SCALARS = (float, complex)


def _read(y, level: int, k: int, like=None):
    """Primal and tangent ``(k,) + shape`` of one output leaf at ``level``. ``like`` (from
    ``_backend_of``): the inputs' backend array, where it is not NumPy; a zero tangent is
    made on it, as reverse mode's zero cotangents are on the input's backend."""
    refuse_wrapped_chunks(y)
    if isinstance(y, Dual) and y._level == level:
        _tags.check_live(y._p)
        dot = y._dot_array()
        if dot is None:
            dot = _zeros(y.primal, (k,) + tuple(y.shape), None, like)
        return y.primal, dot
    _tags.check_constant(y, level)
    if not isinstance(y, (_tags.Leveled, np.ndarray, np.generic)) and not hasattr(
        y, "__array_function__"
    ):  # a Python number or list; another backend's array stays on it
        y = np.asarray(y, float)
    dt = getattr(y, "dtype", None)
    # a constant output: zero derivative, in float even for integer results (argmax, ...)
    dt = dt if dt is not None and dt.kind in "fc" else np.float64
    return y, _zeros(y, (k,) + tuple(np.shape(y)), dt, like)


def _zeros(ref, shape: tuple, dt, like):
    """Zeros of ``shape`` like ``ref``; on ``like``'s backend when ``ref`` is a plain array of
    another (an output that does not depend on a Dask or device input: ``np.ones(3)``)."""
    if like is not None and not isinstance(ref, (_tags.Leveled, type(like))):
        dt = getattr(ref, "dtype", np.float64) if dt is None else dt
        return np.zeros(shape, dtype=dt, like=like)
    return np.zeros_like(ref, shape=shape, dtype=dt)


def _backend_of(xs):
    """The first input leaf's backend array where it is not NumPy's (Dask, CuPy, ...), else
    None: where forward mode makes the zero derivatives of outputs that do not depend on x."""
    for v in xs:
        if type(v) is np.ndarray:
            continue
        b = _base(v)
        if type(b) is not np.ndarray and not isinstance(b, np.generic):
            return b
    return None


def _base(x):
    """The innermost array under every wrapper: the backend seeds are made on."""
    x = strip(x)
    return x if hasattr(x, "__array_function__") else np.asarray(x)


def _eye(k: int, n: int, offset: int, ref, dtype=None):
    """Rows ``offset .. offset + k`` of the n x n identity, on ``ref``'s backend."""
    base = _base(ref)
    if type(base) is np.ndarray or isinstance(base, np.generic):
        return np.eye(k, n, offset, dtype=dtype)
    # built from two aranges: every backend has those (Dask's eye takes no order=)
    rows = np.arange(offset, offset + k, like=base)[:, None]
    return (rows == np.arange(n, like=base)[None, :]).astype(dtype or np.float64)


def _one_direction(refs, td, v, what: str) -> list:
    """``v`` (structured like ``refs``) as one-direction tangents ``(1,) + shape`` per leaf."""
    vs, vtd = flatten(v)
    if vtd != td:
        vs = flatten_like(v, td)  # the same dict keys in another order: read by key
        if vs is None:
            raise ValueError(
                f"{what} must have the same structure as {'f(x)' if what == 'u' else 'x'}"
            )
    out = []
    for ref, vi in zip(refs, vs):
        vi = as_float_leaf(vi)
        shape = tuple(np.shape(ref))
        if tuple(np.shape(vi)) != shape:
            raise ValueError(f"{what} has a leaf of shape {np.shape(vi)} where {shape} is needed")
        vi = _in_field(vi, ref, what)
        base = innermost(ref)  # (x may be traced by an enclosing transform: its values')
        if type(vi) is not type(base) and foreign(base) and not foreign(vi):
            vi = np.asarray(vi, like=base)  # a host u or v onto f(x)'s or x's backend
        out.append(vi.reshape((1,) + shape))
    return out


def _in_field(vi, ref, what: str):
    """``vi`` in ``ref``'s field: cast to complex for a complex ``ref``; for a real one, a
    complex tangent raises (a real value does not move off the real axis) and a complex
    cotangent keeps its real part (it pairs with a real value by Re(u y))."""
    rc = getattr(getattr(ref, "dtype", None), "kind", "f") == "c"
    vc = vi.dtype.kind == "c"
    if rc and not vc:
        return vi.astype(np.result_type(vi.dtype, ref.dtype))
    if vc and not rc:
        if what == "u":
            return np.real(vi)
        raise TypeError(
            f"a complex {what} for a real input: a real value has real tangents. Make the input "
            "complex (x.astype(complex)) to move it off the real axis."
        )
    return vi


def _check_mode(mode: str) -> None:
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")


def _chunk_size(n_in: int, itemsize: int, chunk: int | None) -> int:
    if chunk is not None:
        if int(chunk) < 1:
            raise ValueError(f"chunk must be a positive number of directions, got {chunk}")
        return min(int(chunk), max(n_in, 1))
    # a pass holds a handful of intermediates of k x n_in values each
    per_direction = max(n_in, 1) * itemsize * 16
    return int(max(1, min(n_in, MEMORY_BUDGET // per_direction)))


@functools.lru_cache(maxsize=256)
def _small_eye(n: int, dtype: np.dtype, shape: tuple):
    """The identity seed ``(n,) + shape``, shared and read-only (rules never write tangents)."""
    eye = np.eye(n, dtype=dtype).reshape((n,) + shape)
    eye.flags.writeable = False
    return eye


#: The identity seed of a vector of n <= 2 float64 inputs, and its packed scalar tangents
#: (entry i for x[i]).
_PACKED_EYE = {
    n: (_small_eye(n, _F64_DTYPE, (n,)), (1.0,) if n == 1 else (1 + 0j, 1j)) for n in (1, 2)
}


def _split_eye(eye, xs, offsets, k):
    return [
        eye[:, offsets[i] : offsets[i + 1]].reshape((k,) + tuple(np.shape(v)))
        for i, v in enumerate(xs)
    ]


# -- Jacobian layout and output checks ------------------------------------------------------


def _layout(mats, prim, xs, td, offsets):
    """Per (output leaf, input leaf) blocks ``out.shape + in.shape`` from ``(n_in,) + out.shape``."""
    out = []
    one_leaf = len(xs) == 1
    for m, p in zip(mats, prim):
        pshape = tuple(np.shape(p))
        n = m.shape[0]
        if pshape:
            m = m.reshape((n, math.prod(pshape))).T.reshape(pshape + (n,))
        else:
            m = m.reshape(n)
        if one_leaf:
            out.append([m.reshape(pshape + tuple(np.shape(xs[0])))])
            continue
        m = m.reshape(pshape + (n,))
        row = [
            m[..., offsets[i] : offsets[i + 1]].reshape(pshape + tuple(np.shape(v)))
            for i, v in enumerate(xs)
        ]
        out.append(row)
    return out


def _assemble(rows, ytd, td):
    if ytd.is_leaf and td.is_leaf:
        return rows[0][0]
    return unflatten(ytd, [unflatten(td, r) for r in rows])


def _float_type(prim):
    """The floating dtype of the outputs (cotangent seeds keep float32 results float32)."""
    dts = [getattr(strip(p), "dtype", None) for p in prim]
    dts = [d for d in dts if d is not None and d.kind in "fc"]
    return np.result_type(*dts) if dts else np.float64


def _require_real(p) -> None:
    """A gradient needs a real (float) output, as in JAX: a boolean or integer result is
    piecewise constant, and its zero "gradient" would hide a mistake."""
    dt = getattr(strip(p), "dtype", None)
    if dt is None:
        dt = np.result_type(strip(p))
    if dt.kind not in "fc":
        raise TypeError(
            f"grad needs f to return a float, but it returned {dt}: a {dt} result is piecewise "
            "constant. Return the float quantity itself (e.g. x[0] rather than x[0] > 0)."
        )
    if dt.kind == "c":
        raise TypeError(
            f"grad needs a real-valued f, but it returned {dt} (as in JAX and PyTorch). Take "
            "the gradient of a real quantity (np.abs(y) ** 2, np.real(y)), use "
            "dualad.derivative or jvp for the complex derivative of a holomorphic f, or "
            "jacobian for all partial derivatives."
        )


def _require_scalar(prim, ytd) -> None:
    if ytd.is_leaf and prim:
        _require_real(prim[0])
    if not ytd.is_leaf or np.shape(prim[0]) != ():
        shape = np.shape(prim[0]) if ytd.is_leaf else f"a {ytd.kind}"
        raise ValueError(
            f"grad needs f to return a scalar, but f returned {shape}. Use dualad.jacobian for "
            "the full Jacobian, or dualad.vjp with a cotangent for a weighted sum of rows."
        )


def _peel(v, mark: int):
    """``v`` without the wrappers of levels above ``mark`` (this call's own)."""
    while isinstance(v, _tags.Leveled) and v._level > mark:
        v = v._unwrap()
    return v

"""The user-facing functions: jvp, vjp, derivative, jacobian, grad, hessian, hvp,
check_grad and choose_mode, for arrays and pytrees of arrays.

Forward mode seeds Duals of a fresh level; reverse mode records on a ``tape.Tape``, imported
lazily so that ``import dualad`` never loads the tape. Jacobian layout: ``out.shape +
in.shape``; for pytrees, output structure outside, input structure inside.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dualad._numpy import np

from . import _tags
from ._accumulate import accumulate
from ._alias import INPUT
from ._backend import as_float_leaf, to_host
from ._intercept import intercepting
from ._ops import strip
from ._pytree import LEAF, flatten, unflatten
from ._scalar import pack
from ._stencil import Cols
from .dual import Dual

#: Memory the forward Jacobian lets one vectorised pass use for tangents, in bytes.
MEMORY_BUDGET = 1 << 28
_MODES = ("auto", "forward", "reverse")


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
    if k <= 2 and _packable(v) and type(d) is np.ndarray and d.dtype is _F64:
        # a 0-d float64 leaf: a packed scalar (dualad._scalar), Python numbers inside
        return Dual._new(float(v), pack(d.reshape(k), k), level, k, single)
    return _input(Dual._new(v, d, level, k, single))


def _input(d: Dual) -> Dual:
    """``d``, marked as the point a derivative is taken at: writes into it (or into a view of
    it) raise inside ``f``, so the caller's array and every later pass stay as given."""
    d._owns = INPUT
    return d


def _packable(v) -> bool:
    t = type(v)
    return t is np.float64 or (t is np.ndarray and v.shape == () and v.dtype is _F64)


def _read(y, level: int, k: int):
    """Primal and tangent ``(k,) + shape`` of one output leaf at ``level``."""
    if isinstance(y, Dual) and y._level == level:
        _tags.check_live(y._p)
        dot = y._dot_array()
        if dot is None:
            dot = np.zeros_like(y.primal, shape=(k,) + tuple(y.shape))
        return y.primal, dot
    _tags.check_live(y)
    y = y if isinstance(y, (_tags.Leveled, np.ndarray, np.generic)) else np.asarray(y, float)
    dt = getattr(y, "dtype", None)
    # a constant output: zero derivative, in float even for integer results (argmax, ...)
    dt = dt if dt is not None and dt.kind in "fc" else np.float64
    return y, np.zeros_like(y, shape=(k,) + tuple(np.shape(y)), dtype=dt)


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
        raise ValueError(f"{what} must have the same structure as {'f(x)' if what == 'u' else 'x'}")
    out = []
    for ref, vi in zip(refs, vs):
        vi = as_float_leaf(vi)
        shape = tuple(np.shape(ref))
        if tuple(np.shape(vi)) != shape:
            raise ValueError(f"{what} has a leaf of shape {np.shape(vi)} where {shape} is needed")
        out.append(vi.reshape((1,) + shape))
    return out


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


# -- forward mode ---------------------------------------------------------------------------


def jvp(f: Callable, x: Any, v: Any, *, intercept: bool = False) -> tuple[Any, Any]:
    """Value and Jacobian-vector product ``J(x) v`` in one forward pass.

    Parameters
    ----------
    f : callable
        NumPy code taking ``x`` (an array or a pytree of arrays).
    x, v : array or pytree
        The point and the direction, with the same structure and shapes.

    Returns
    -------
    (y, y_dot) with the structure of ``f(x)``.

    ``intercept=True`` runs ``f`` under :func:`dualad.intercept`: ``np.asarray``, ``np.array``
    and ``math.*`` then accept the traced values (see README).

    >>> import numpy as np, dualad
    >>> dualad.jvp(np.sin, np.array([0.0]), np.array([2.0]))
    (array([0.]), array([2.]))
    """
    f = intercepting(f) if intercept else f
    xs, td = _leaves(x)
    dots = _one_direction(xs, td, v, "v")
    level = _tags.open_level()
    try:
        y = f(unflatten(td, _seed(xs, level, dots, True)))
        ys, ytd = flatten(y)
        pairs = [_read(yi, level, 1) for yi in ys]
    finally:
        _tags.close_level(level)
    return unflatten(ytd, [p for p, _ in pairs]), unflatten(ytd, [d[0] for _, d in pairs])


def derivative(f: Callable, x: Any, *, intercept: bool = False) -> Any:
    """``f'(x)`` for a scalar or elementwise ``f``: the tangent along all-ones.

    ``intercept=True`` runs ``f`` under :func:`dualad.intercept`: ``np.asarray``, ``np.array``
    and ``math.*`` then accept the traced values (see README).

    >>> import numpy as np, dualad
    >>> dualad.derivative(np.sin, np.array([0.0, np.pi]))
    array([ 1., -1.])
    """
    f = intercepting(f) if intercept else f
    xs, td = _leaves(x)
    return jvp(f, unflatten(td, xs), unflatten(td, [np.ones_like(v) for v in xs]))[1]


def _forward_jacobian(f, xs, td, chunk):
    n_in = sum(_size(v) for v in xs)
    k = _chunk_size(n_in, np.dtype(getattr(xs[0], "dtype", np.float64)).itemsize, chunk)
    offsets = _offsets(xs)
    blocks, ys, ytd = [], None, None
    for c0 in range(0, max(n_in, 1), k):
        kc = min(k, n_in - c0)
        eye = _eye(kc, n_in, c0, xs[0], xs[0].dtype) if n_in else None
        dots = _split_eye(eye, xs, offsets, kc)
        level = _tags.open_level()
        try:
            y = f(unflatten(td, _seed(xs, level, dots, False)))
            ys, ytd = flatten(y)
            blocks.append([_read(yi, level, kc) for yi in ys])
        finally:
            _tags.close_level(level)
    prim = [p for p, _ in blocks[0]]
    cols = [
        np.concatenate([b[j][1] for b in blocks], axis=0) if len(blocks) > 1 else blocks[0][j][1]
        for j in range(len(ys))
    ]
    return prim, ytd, _layout(cols, prim, xs, td, offsets), ys


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


# -- mode selection ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ModeChoice:
    """What ``jacobian(mode="auto")`` does for ``f`` at ``x``, and why.

    >>> import numpy as np, dualad
    >>> c = dualad.choose_mode(np.sin, np.ones(3)); (c.mode, c.n_in, c.n_out)
    ('forward', 3, 3)
    """

    mode: str
    n_in: int
    n_out: int
    reason: str


def choose_mode(f: Callable, x: Any) -> ModeChoice:
    """Pick forward or reverse mode by comparing input and output sizes.

    Forward mode costs one vectorised pass per input direction and reverse mode one sweep
    per output direction plus taping overhead, so forward wins when ``n_in <= n_out``.
    Up to two input numbers forward mode always wins: they ride on packed Python scalars in
    one pass (the seed program: 27x the program on floats, against 94x taped), and the "auto" doors of
    grad, value_and_grad and jacobian take it without evaluating ``f`` to choose.

    >>> import numpy as np, dualad
    >>> dualad.choose_mode(lambda x: np.sum(x**2), np.ones(5)).mode
    'reverse'
    """
    xs, td = _leaves(x)
    ys, _ = flatten(f(unflatten(td, xs)))
    n_in = sum(_size(v) for v in xs)
    n_out = sum(_size(v) for v in ys)
    if n_in <= _PACKED:
        mode = "forward"
        why = (
            f"{n_in} input number(s): one forward pass on packed scalars carries every "
            "direction, cheaper than taping whatever f returns"
        )
    elif n_in <= n_out:
        mode = "forward"
        why = f"{n_in} inputs <= {n_out} outputs: forward mode needs one pass per input direction"
    else:
        mode = "reverse"
        why = f"{n_in} inputs > {n_out} outputs: reverse mode needs one sweep per output"
    return ModeChoice(mode, n_in, n_out, why + ", the fewer passes wins.")


# -- any mode ---------------------------------------------------------------------------------


def jacobian(
    f: Callable, x: Any, mode: str = "auto", chunk: int | None = None, *, intercept: bool = False
) -> Any:
    """Dense Jacobian of ``f`` at ``x``, shaped ``out.shape + in.shape``.

    Parameters
    ----------
    mode : {"auto", "forward", "reverse"}
        "auto" follows :func:`choose_mode`.
    chunk : int, optional
        Directions per vectorised pass (forward: input columns; reverse: output rows).
        By default chosen from ``MEMORY_BUDGET``.

    ``intercept=True`` runs ``f`` under :func:`dualad.intercept`: ``np.asarray``, ``np.array``
    and ``math.*`` then accept the traced values (see README).

    >>> import numpy as np, dualad
    >>> dualad.jacobian(lambda x: x**2, np.array([1.0, 3.0]))
    array([[2., 0.],
           [0., 6.]])
    """
    f = intercepting(f) if intercept else f
    _check_mode(mode)
    xs, td = _leaves(x)
    if mode == "auto":
        small = sum(_size(v) for v in xs) <= _PACKED  # forward wins whatever f returns
        mode = "forward" if small else choose_mode(f, unflatten(td, xs)).mode
    if mode == "forward" and td.is_leaf and chunk is None:
        x0 = xs[0]
        if type(x0) is np.ndarray and x0.dtype is _F64 and x0.ndim == 1 and 0 < x0.size <= 2:
            return _jacobian_packed(f, x0, x0.size)
    if mode == "reverse":
        _, ytd, rows = _reverse_jacobian(f, xs, td, chunk)
    else:
        _, ytd, rows, _ = _forward_jacobian(f, xs, td, chunk)
    return _assemble(rows, ytd, td)


def grad(
    f: Callable, x: Any, mode: str = "auto", has_aux: bool = False, *, intercept: bool = False
) -> Any:
    """Gradient of a scalar-valued ``f``; same structure and shapes as ``x``.

    With ``has_aux=True``, ``f`` returns ``(value, aux)`` and this returns ``(grad, aux)``,
    ``aux`` evaluated as plain values (as in JAX).

    ``intercept=True`` runs ``f`` under :func:`dualad.intercept`: ``np.asarray``, ``np.array``
    and ``math.*`` then accept the traced values (see README).

    >>> import numpy as np, dualad
    >>> dualad.grad(lambda x: np.sum(x**2), np.array([1.0, 2.0]))
    array([2., 4.])
    """
    f = intercepting(f) if intercept else f
    if has_aux:
        (_, aux), g = value_and_grad(f, x, mode, has_aux=True)
        return g, aux
    tx = type(x)
    if (tx is tuple or tx is dict) and len(x) <= _PACKED and mode != "reverse":
        g = _grad_numbers(f, x)  # (x1, x2) or {"a": x1, "b": x2}: no pytree bookkeeping
        if g is not None:
            return g
    if tx is np.ndarray and x.dtype is _F64:  # no pytree bookkeeping
        n = x.size
        if 0 < n <= _SMALL and (mode == "forward" or (mode == "auto" and n <= _PACKED)):
            return _grad_forward_small(f, x, n)
        if mode == "reverse":
            return _grad_reverse_array(f, x)
    _check_mode(mode)
    xs, td = _leaves(x)
    n = sum(_size(v) for v in xs)
    if mode == "auto":  # choose_mode's rule for one output, without evaluating f for it
        mode = "reverse" if n > _PACKED else "forward"
    if mode == "reverse" or not xs:  # no leaves (grad(f, [])): the tape answers in kind
        prim, ytd, rows = _reverse_jacobian(f, xs, td, None, scalar=True)
    elif n <= _PACKED and len(xs) == n and all(_packable(v) for v in xs):
        return unflatten(td, _grad_packed(f, xs, td, n))  # scalar leaves: one packed pass
    elif td.is_leaf and type(xs[0]) in (np.ndarray, np.float64) and np.size(xs[0]) <= _SMALL:
        return _grad_forward_small(f, np.asarray(xs[0]), np.size(xs[0]))
    else:
        prim, ytd, rows, _ = _forward_jacobian(f, xs, td, None)
        _require_scalar(prim, ytd)
    return unflatten(td, rows[0])


def value_and_grad(
    f: Callable, x: Any, mode: str = "auto", has_aux: bool = False, *, intercept: bool = False
):
    """``(f(x), grad(f)(x))`` from one evaluation of ``f``, as an optimisation loop needs them.

    With ``has_aux=True``, ``f`` returns ``(value, aux)`` and this returns
    ``((value, aux), grad)``, as JAX's ``value_and_grad`` does. The value and ``aux`` are plain
    values: derivatives taken inside this call are peeled off, outer ones are kept (so it
    nests inside other transforms).

    ``intercept=True`` runs ``f`` under :func:`dualad.intercept`: ``np.asarray``, ``np.array``
    and ``math.*`` then accept the traced values (see README).

    >>> import numpy as np, dualad
    >>> dualad.value_and_grad(lambda x: np.sum(x**2), np.array([1.0, 2.0]))
    (np.float64(5.0), array([2., 4.]))
    """
    f = intercepting(f) if intercept else f
    mark = _tags.new_level()  # every level this call makes is higher
    box = []

    def f_kept(v):
        out = f(v)
        if has_aux:
            if not (isinstance(out, tuple) and len(out) == 2):
                raise ValueError(
                    "with has_aux=True, f must return a pair (value, aux); it returned "
                    f"{type(out).__name__}"
                )
            out, aux = out
            box.append(aux)
        box.insert(0, out)
        return out

    g = grad(f_kept, x, mode)
    value = _peel(box[0], mark)
    if has_aux:
        leaves, td = flatten(box[1])
        return (value, unflatten(td, [_peel(a, mark) for a in leaves])), g
    return value, g


def _peel(v, mark: int):
    """``v`` without the wrappers of levels above ``mark`` (this call's own)."""
    while isinstance(v, _tags.Leveled) and v._level > mark:
        v = v._unwrap()
    return v


#: Inputs up to this size get forward gradients in one pass with no chunking bookkeeping.
_SMALL = 64
#: Up to this many input numbers, mode="auto" takes the forward pass on packed scalars (two
#: directions ride in one complex tangent): one evaluation of f, no tape, cheaper than a
#: sweep on every program measured (asv_bench/regret.py).
_PACKED = 2
_F64 = np.dtype(np.float64)
_open_level = _tags.open_level
_OPEN = _tags._OPEN


@functools.lru_cache(maxsize=256)
def _small_eye(n: int, dtype: np.dtype, shape: tuple):
    """The identity seed ``(n,) + shape``, shared and read-only (rules never write tangents)."""
    eye = np.eye(n, dtype=dtype).reshape((n,) + shape)
    eye.flags.writeable = False
    return eye


#: The identity seed of a vector of n <= 2 float64 inputs, and its packed scalar tangents
#: (entry i for x[i]).
_PACKED_EYE = {n: (_small_eye(n, _F64, (n,)), (1.0,) if n == 1 else (1 + 0j, 1j)) for n in (1, 2)}


_NUMBERS = (float, np.float64, int)


def _grad_numbers(f, x):
    """``grad`` at a tuple or dict of at most two Python or NumPy floats, or None."""
    vals = x.values() if type(x) is dict else x
    if not vals or any(type(v) not in _NUMBERS for v in vals):
        return None
    if type(x) is dict:
        g = _grad_packed(f, [np.float64(v) for v in vals], _DictTree(x), len(x))
        return dict(zip(x, g))
    return tuple(_grad_packed(f, [np.float64(v) for v in x], _TupleTree, len(x)))


class _TupleTree:
    """The unflatten of a tuple of numbers: ``_grad_packed``'s view of ``(x1, x2)``."""

    is_leaf = False

    @staticmethod
    def rebuild(leaves):
        return tuple(leaves)


class _DictTree:
    """The unflatten of a dict of numbers, keys in the caller's order."""

    is_leaf = False

    def __init__(self, d):
        self.keys = tuple(d)

    def rebuild(self, leaves):
        return dict(zip(self.keys, leaves))


def _grad_packed(f, xs, td, n: int):
    """Forward gradient at ``n <= 2`` scalar leaves (a tuple or dict of numbers): one pass on
    packed scalars, each leaf seeded with its own direction; one 0-d array per leaf."""
    level = _open_level()
    try:
        seeds = _PACKED_EYE[n][1]
        ds = [Dual._new(float(v), s, level, n, False) for v, s in zip(xs, seeds)]
        y = f(td.rebuild(ds) if type(td) is _DictTree or td is _TupleTree else unflatten(td, ds))
        if type(y) is Dual and y._m[0] == level and type(y._p) is float:  # a packed result
            dot = y._dot
            g = (0.0,) * n if dot is None else (dot,) if n == 1 else (dot.real, dot.imag)
        else:
            ys, ytd = flatten(y)
            p, dot = _read(ys[0], level, n)
            _require_scalar([p], ytd)
            if not np.any(dot):
                _require_real(p)
            g = dot.reshape(n).tolist()
    finally:
        _OPEN.discard(level)
    out = []
    for gi, v in zip(g, xs):
        a = np.empty((), v.dtype)
        a[()] = gi
        out.append(a)
    return out


def _packed_vector(x, n: int, level: int) -> Dual:
    """``x`` (a float64 vector of n <= 2) seeded with the identity; ``x[i]`` reads its packed
    seed directly (Dual.__getitem__)."""
    d = object.__new__(Dual)
    d._dot, d._pk = _PACKED_EYE[n]
    d._p, d._m, d._owns = x, (level, n, False), INPUT  # every value from d shares this _m
    return d


def _jacobian_packed(f, x, n: int):
    """Forward Jacobian at a float64 vector of n <= 2 entries: one pass, packed seeds."""
    level = _open_level()
    try:
        ys, ytd = flatten(f(_packed_vector(x, n, level)))
        blocks = []
        for y in ys:
            _, dot = _read(y, level, n)  # (n,) + out.shape
            nd = dot.ndim
            blocks.append(dot if nd == 1 else dot.T if nd == 2 else np.moveaxis(dot, 0, -1))
    finally:
        _OPEN.discard(level)
    return unflatten(ytd, blocks)


def _grad_forward_small(f, x, n: int):
    """Forward gradient of a small array input: one pass seeded with the identity."""
    level = _open_level()
    try:
        return _grad_forward_small_at(f, x, n, level)
    finally:
        _OPEN.discard(level)


def _grad_forward_small_at(f, x, n: int, level: int):
    shape = x.shape
    if not shape and x.dtype is _F64:  # one scalar: a packed Dual
        y = f(Dual._new(float(x), 1.0, level, 1, False))
        if type(y) is Dual and y._m[0] == level and type(y._p) is float:
            g = np.empty(())
            g[()] = 0.0 if y._dot is None else y._dot
            return g
    elif n <= 2 and len(shape) == 1 and x.dtype is _F64:  # the scalar-program case
        d = _packed_vector(x, n, level)
        m = d._m
        y = f(d)
        if type(y) is Dual and y._m is m and type(y._p) is float:  # a packed scalar
            dot = y._dot
            if dot is None:
                return np.zeros_like(x)
            g = np.empty(n)
            if n == 1:
                g[0] = dot
            else:
                g[0], g[1] = dot.real, dot.imag
            return g
    else:
        y = f(_input(Dual._new(x, _small_eye(n, x.dtype, shape), level, n, False)))
    if isinstance(y, Dual) and y._level == level:
        p, dot = y.primal, y._dot_array()
    else:
        p, dot = y, None
    _tags.check_live(p)
    if isinstance(y, (tuple, list, dict)) or getattr(p, "shape", None) != ():
        _require_scalar([p], flatten(y)[1])
    if dot is None:
        _require_real(p)
        return np.zeros_like(x)
    return dot.reshape(x.shape)


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


def _require_scalar(prim, ytd) -> None:
    if ytd.is_leaf and prim:
        _require_real(prim[0])
    if not ytd.is_leaf or np.shape(prim[0]) != ():
        shape = np.shape(prim[0]) if ytd.is_leaf else f"a {ytd.kind}"
        raise ValueError(
            f"grad needs f to return a scalar, but f returned {shape}. Use dualad.jacobian for "
            "the full Jacobian, or dualad.vjp with a cotangent for a weighted sum of rows."
        )


def check_grad(
    f: Callable,
    x: Any,
    n_directions: int = 4,
    rtol: float = 1e-5,
    atol: float = 1e-7,
    mode: str = "forward",
    seed: int = 0,
    *,
    intercept: bool = False,
) -> float:
    """Compare dualad's derivatives of ``f`` with central differences along random directions.

    Raises ``AssertionError`` describing the worst mismatch; returns the largest error
    relative to ``atol + rtol * |reference|`` (below 1 means it passed). The differences are
    5-point, with the step ``1e-3`` times the input's scale, then a tenth and a hundredth of
    it where a strongly curved ``f`` has not settled (a wrong derivative fails at every step).

    ``intercept=True`` runs ``f`` under :func:`dualad.intercept`: ``np.asarray``, ``np.array``
    and ``math.*`` then accept the traced values (see README).

    >>> import numpy as np, dualad
    >>> dualad.check_grad(lambda x: np.sin(x) * x, np.array([0.3, 1.2])) < 1
    True
    """
    f = intercepting(f) if intercept else f
    _check_mode(mode)
    xs, td = _leaves(x)
    rng = np.random.default_rng(seed)
    J = jacobian(f, unflatten(td, xs), mode=mode)
    _, ytd = flatten(f(unflatten(td, xs)))
    rows = [[J]] if (ytd.is_leaf and td.is_leaf) else [flatten(r)[0] for r in _split_rows(J, ytd)]
    worst, where = 0.0, ""
    scale = [float(np.max(np.abs(to_host(v)))) for v in xs if getattr(v, "size", 1)]
    h = 1e-3 * max([1.0, *scale])
    for d in range(n_directions):
        vs = [rng.standard_normal(np.shape(v)) for v in xs]
        ads = [
            sum(
                np.tensordot(to_host(b), v, axes=np.ndim(v)) if np.ndim(v) else to_host(b) * v
                for b, v in zip(row, vs)
            )
            for row in rows
        ]
        # A strongly curved f needs a smaller step than h before its differences settle; a
        # wrong derivative disagrees at every step, so the best of three steps is kept
        best = None
        for step in (h, h / 10, h / 100):
            e, w = _compare(ads, _central(f, xs, td, vs, step), rtol, atol)
            if best is None or e < best[0]:
                best = (e, f"direction {d}, step {step:.0e}, {w}")
            if e <= 1:
                break
        if best[0] > worst:
            worst, where = best
    if worst > 1:
        raise AssertionError(f"derivative mismatch ({worst:.3g}x tolerance) at {where}")
    return worst


def _compare(ads, fds, rtol: float, atol: float):
    """The worst of ``|ad - fd| / (atol + rtol |fd|)`` over the output leaves, and where."""
    worst, where = 0.0, ""
    for j, (ad, ref) in enumerate(zip(ads, fds)):
        ad = to_host(ad)
        err = np.abs(ad - ref) / (atol + rtol * np.abs(ref))
        e = float(np.max(err, initial=0.0))
        if e > worst or not where:
            i = np.unravel_index(int(np.argmax(err)), np.shape(err)) if np.ndim(err) else ()
            worst = e
            where = (
                f"output leaf {j}, element {i}: dualad gives {np.asarray(ad)[i]!r}, "
                f"central differences give {np.asarray(ref)[i]!r}"
            )
    return worst, where


def _split_rows(J, ytd):
    if ytd.is_leaf:
        return [J]
    leaves = []
    _collect(J, ytd, leaves)
    return leaves


def _collect(tree, td, acc):
    if td.is_leaf:
        acc.append(tree)
        return
    items = [tree[k] for k in td.meta] if td.kind == "dict" else list(tree)
    for t, c in zip(items, td.children):
        _collect(t, c, acc)


def _central(f, xs, td, vs, h):
    def at(t):
        pts = [x + t * v for x, v in zip(xs, vs)]
        return [np.asarray(to_host(y), dtype=float) for y in flatten(f(unflatten(td, pts)))[0]]

    a, b, c, d = at(2 * h), at(h), at(-h), at(-2 * h)
    return [(-p + 8 * q - 8 * r + s) / (12 * h) for p, q, r, s in zip(a, b, c, d)]


# -- reverse mode (through the tape add-on) ---------------------------------------------------


def _reverse_jacobian(f, xs, td, chunk, scalar=False):
    import tape

    with tape.Tape(persistent=True) as t:
        ws = [t.watch(v) for v in xs]
        y = f(unflatten(td, ws))
    return _reverse_rows(t, ws, y, xs, td, chunk, scalar)


def _grad_reverse_array(f, x):
    """``grad(f, x, mode="reverse")`` for one float64 array ``x``: ``_reverse_jacobian``
    without the pytree bookkeeping (tiny scalar programs pay for every step)."""
    import tape

    with tape.Tape(persistent=True) as t:
        w = t.watch(x)
        y = f(w)
    return _reverse_rows(t, [w], y, [x], LEAF, None, True)[2][0][0]


def _reverse_rows(t, ws, y, xs, td, chunk, scalar):
    """``_reverse_jacobian`` from the recorded tape ``t``: ``f(unflatten(td, ws)) = y``."""
    import tape

    if scalar and type(y) is tape.Variable and type(y._value) is float and y._level == t._level:
        # a scalar program's result (a Python float inside, see tape.variable): one sweep
        # from a NumPy scalar seed, without the pytree and shape bookkeeping below
        bars = t._sweep_scalar(y, ws)
        t.close()
        return [y.value], LEAF, [[_row(b, w, v) for b, w, v in zip(bars, ws, xs)]]
    ys, ytd = flatten(y)
    prim = [tape.value_of(yi) for yi in ys]
    if scalar:
        _require_scalar(prim, ytd)
    n_out = sum(_size(p) for p in prim)
    if n_out == 0:
        t.close()
        return prim, ytd, [[_zeros_block(p, v) for v in xs] for p in prim]
    if n_out == 1:  # a scalar loss: the gradient is the swept cotangent itself, no reshuffle
        p0 = prim[0]
        pshape = tuple(np.shape(p0))
        seed = np.float64(1.0) if type(p0) is np.float64 else np.ones_like(p0, shape=(1,) + pshape)
        bars = t._sweep(ys, [seed], ws)
        t.close()
        return (
            prim,
            ytd,
            [[b[0, ...].reshape(pshape + tuple(np.shape(v))) for b, v in zip(bars, xs)]],
        )
    m = _chunk_size(n_out, 8, chunk)
    offsets = _offsets(xs)
    out_offsets = _offsets(prim)
    parts = []
    for r0 in range(0, max(n_out, 1), m):
        mc = min(m, n_out - r0)
        eye = _eye(mc, n_out, r0, prim[0], _float_type(prim))
        seeds = _split_eye(eye, prim, out_offsets, mc)
        bars = t._sweep(ys, seeds, ws)
        parts.append(np.concatenate([b.reshape(mc, -1) for b in bars], axis=1) if bars else None)
    t.close()
    full = np.concatenate(parts, axis=0) if len(parts) > 1 else parts[0]  # (n_out, n_in)
    mats = [
        full[out_offsets[j] : out_offsets[j + 1]].T.reshape((offsets[-1],) + tuple(np.shape(p)))
        for j, p in enumerate(prim)
    ]
    return prim, ytd, _layout(mats, prim, xs, td, offsets)


def _row(b, w, v):
    """The gradient for leaf ``v`` (watched as ``w``) from its swept cotangent ``b``, shaped
    ``(1,) + v.shape``, or None where the sweep did not reach it: the general path's row."""
    if b is None:  # as Tape._sweep fills it
        b = np.zeros_like(w.value, shape=(1,) + tuple(np.shape(w.value)))
    g = b[0, ...]
    if type(g) is np.ndarray and type(v) is np.ndarray and g.shape == v.shape:
        return g
    return g.reshape(tuple(np.shape(v)))


def _zeros_block(p, v):
    return np.zeros_like(_base(v), shape=tuple(np.shape(p)) + tuple(np.shape(v)))


def vjp(f: Callable, x: Any, u: Any, *, intercept: bool = False) -> tuple[Any, Any]:
    """Value and vector-Jacobian product ``u^T J(x)`` by one reverse sweep.

    ``u`` has the structure and shapes of ``f(x)``; the result has those of ``x``.

    ``intercept=True`` runs ``f`` under :func:`dualad.intercept`: ``np.asarray``, ``np.array``
    and ``math.*`` then accept the traced values (see README).

    >>> import numpy as np, dualad
    >>> dualad.vjp(lambda x: x * 3.0, np.array([1.0, 2.0]), np.array([1.0, 10.0]))[1]
    array([ 3., 30.])
    """
    f = intercepting(f) if intercept else f
    import tape

    xs, td = _leaves(x)
    with tape.Tape() as t:
        ws = [t.watch(v) for v in xs]
        y = f(unflatten(td, ws))
    ys, ytd = flatten(y)
    seeds = _one_direction([tape.value_of(yi) for yi in ys], ytd, u, "u")
    bars = t._sweep(ys, seeds, ws)
    t.close()
    return unflatten(ytd, [tape.value_of(yi) for yi in ys]), unflatten(
        td, [b[0, ...] for b in bars]
    )


def hvp(
    f: Callable,
    x: Any,
    v: Any,
    method: str = "forward-over-reverse",
    *,
    intercept: bool = False,
) -> Any:
    """Hessian-vector product ``H(x) v`` of a scalar ``f``.

    Parameters
    ----------
    method : {"forward-over-reverse", "forward-over-forward"}
        The default pushes one Dual direction ``v`` through a taped gradient: cost of a few
        function evaluations, independent of n. "forward-over-forward" differentiates the
        forward-mode gradient along ``v`` without a tape (n + 1 directions per pass): the
        fallback for code the tape cannot record, and a cross-check.

    ``intercept=True`` runs ``f`` under :func:`dualad.intercept`: ``np.asarray``, ``np.array``
    and ``math.*`` then accept the traced values (see README).

    >>> import numpy as np, dualad
    >>> dualad.hvp(lambda x: np.sum(x**3), np.array([1.0, 2.0]), np.array([1.0, 0.0]))
    array([6., 0.])
    """
    f = intercepting(f) if intercept else f
    if method not in ("forward-over-reverse", "forward-over-forward"):
        raise ValueError(
            f"method must be 'forward-over-reverse' or 'forward-over-forward', got {method!r}"
        )
    xs, td = _leaves(x)
    dots = _one_direction(xs, td, v, "v")
    if method == "forward-over-forward":
        level = _tags.open_level()
        try:
            g = grad(f, unflatten(td, _seed(xs, level, dots, True)), mode="forward")
            return unflatten(td, [_read(gi, level, 1)[1][0] for gi in flatten(g)[0]])
        finally:
            _tags.close_level(level)
    g = _grad_of_duals(f, xs, td, dots, single=True)
    return unflatten(td, [gi[0] for gi in g])


def _grad_of_duals(f, xs, td, dots, single):
    """Reverse gradient of scalar ``f`` at Duals seeded with ``dots``; returns tangents."""
    import tape

    level = _tags.open_level()
    try:
        duals = _seed(xs, level, dots, single)
        k = dots[0].shape[0]
        with tape.Tape() as t:
            ws = [t.watch(d) for d in duals]
            y = f(unflatten(td, ws))
        ys, ytd = flatten(y)
        prim = tape.value_of(ys[0]) if ytd.is_leaf else None
        p0 = prim.primal if isinstance(prim, Dual) else prim
        if not ytd.is_leaf or np.shape(p0) != ():
            raise ValueError("hvp/hessian need f to return a scalar")
        seed = np.ones_like(p0, shape=(1,))
        bars = t._sweep(ys, [seed], ws)
        t.close()
        return [_read(b[0], level, k)[1] for b in bars]
    finally:
        _tags.close_level(level)


_HESSIAN_METHODS = ("auto", "hyperdual", "accumulate", "forward-over-reverse")
#: Largest input size for which ``hessian(method="auto")`` uses hyper-duals.
HYPERDUAL_MAX_N = 8  # measured: on par with "accumulate" up to n ~ 10, slower beyond (3x at 16)


def hessian(
    f: Callable,
    x: Any,
    method: str = "auto",
    chunk: int | None = None,
    *,
    intercept: bool = False,
) -> Any:
    """Dense Hessian of a scalar ``f``: ``x.shape + x.shape`` (nested blocks for pytrees).

    Parameters
    ----------
    method : {"auto", "hyperdual", "accumulate", "forward-over-reverse"}
        "hyperdual" runs ``f`` once on hyper-duals carrying all n x n second-order
        directions (no tape; memory n² per intermediate value), best for small n.
        "accumulate" tapes one plain evaluation, sweeps first-order adjoints back, and
        adds ``J_u @ T_u.T`` for each nonlinear step, with the Jacobians ``J_u`` (n rows)
        computed only for the values that feed such steps; an elementwise step in one
        variable costs ``J_u diag(c) J_u^T`` (one BLAS syrk), affine steps a plain vjp.
        Memory n per Jacobian kept.
        "forward-over-reverse" tapes one evaluation per ``chunk`` of Hessian directions and
        sweeps tangent-carrying adjoints through every step (the fallback when n
        directions do not fit in ``MEMORY_BUDGET``).
        "auto" uses hyper-duals for n <= ``HYPERDUAL_MAX_N``, else "accumulate" when all n
        directions fit the memory budget (or ``chunk >= n``), else forward-over-reverse.
        "accumulate" itself turns to forward-over-reverse when n rows for every recorded
        value would exceed ``MEMORY_BUDGET`` (a long program on large arrays).
        "accumulate" on inputs that are not plain NumPy arrays (inside another transform,
        on a GPU) runs forward-over-reverse instead.

    ``intercept=True`` runs ``f`` under :func:`dualad.intercept`: ``np.asarray``, ``np.array``
    and ``math.*`` then accept the traced values (see README).

    >>> import numpy as np, dualad
    >>> dualad.hessian(lambda x: x[0] ** 2 * x[1], np.array([1.0, 2.0]))
    array([[4., 2.],
           [2., 0.]])
    """
    f = intercepting(f) if intercept else f
    if method not in _HESSIAN_METHODS:
        raise ValueError(f"method must be one of {_HESSIAN_METHODS}, got {method!r}")
    xs, td = _leaves(x)
    n = sum(_size(v) for v in xs)
    if method == "auto":
        fits = _chunk_size(n, 8, chunk) >= n
        small = n <= HYPERDUAL_MAX_N
        method = "hyperdual" if small else "accumulate" if fits else "forward-over-reverse"
    if method == "accumulate" and not all(type(v) is np.ndarray for v in xs):
        # nested inside another transform, or on a non-NumPy backend: H itself must carry
        # wrappers or live on the device, which the in-place accumulation does not do
        method = "forward-over-reverse"
    if method == "hyperdual":
        H = _hessian_hyperdual(f, xs, td, n)
    elif method == "accumulate":
        H = _hessian_accumulate(f, xs, td, n)
        if H is None:  # the Jacobians would not fit MEMORY_BUDGET: n directions in chunks
            H = _hessian_fwd_rev(f, xs, td, n, chunk)
    else:
        H = _hessian_fwd_rev(f, xs, td, n, chunk)
    H = 0.5 * (H + H.T)  # exact up to rounding; make the rounding symmetric too
    offsets = _offsets(xs)
    rows = [
        [
            H[offsets[i] : offsets[i + 1], offsets[j] : offsets[j + 1]].reshape(
                tuple(np.shape(xi)) + tuple(np.shape(xj))
            )
            for j, xj in enumerate(xs)
        ]
        for i, xi in enumerate(xs)
    ]
    if td.is_leaf:
        return rows[0][0]
    return unflatten(td, [unflatten(td, r) for r in rows])


def _split_eye(eye, xs, offsets, k):
    return [
        eye[:, offsets[i] : offsets[i + 1]].reshape((k,) + tuple(np.shape(v)))
        for i, v in enumerate(xs)
    ]


def _hessian_hyperdual(f, xs, td, n):
    offsets = _offsets(xs)
    eye = _split_eye(_eye(n, n, 0, xs[0]), xs, offsets, n)
    l1, l2 = _tags.open_level(), _tags.open_level()
    try:
        return _hessian_hyperdual_at(f, xs, td, n, eye, l1, l2)
    finally:
        _tags.close_level(l1)
        _tags.close_level(l2)


def _hessian_hyperdual_at(f, xs, td, n, eye, l1, l2):
    hds = [
        _input(
            Dual._new(Dual._new(v, e, l1, n, False), Dual._new(e, None, l1, n, False), l2, n, False)
        )
        for v, e in zip(xs, eye)
    ]
    ys, ytd = flatten(f(unflatten(td, hds)))
    if not ytd.is_leaf or np.shape(strip(ys[0])) != ():
        raise ValueError("hessian needs f to return a scalar")
    y = ys[0]
    _tags.check_live(y._p if isinstance(y, Dual) and y._level == l2 else y)
    t = y._dot if isinstance(y, Dual) and y._level == l2 else None
    tt = t._dot_array() if isinstance(t, Dual) and t._level == l1 else None
    if tt is None:
        return np.zeros((n, n), like=_base(xs[0]))
    return tt  # (k1, k2): d2f / dx_k1 dx_k2


def _hessian_accumulate(f, xs, td, n):
    offsets = _offsets(xs)
    if all(type(v) is np.ndarray and v.ndim == 1 for v in xs):  # vectors: stencil seeds
        dots = [Cols.seed(o, v.size, n) for o, v in zip(offsets, xs)]
    else:
        dots = _split_eye(_eye(n, n, 0, xs[0]), xs, offsets, n)
    return accumulate(f, xs, dots, td, n, unflatten, flatten, MEMORY_BUDGET)


def _hessian_fwd_rev(f, xs, td, n, chunk):
    k = _chunk_size(n, 8, chunk)
    offsets = _offsets(xs)
    parts = []
    for c0 in range(0, max(n, 1), k):
        kc = min(k, n - c0)
        dots = _split_eye(_eye(kc, n, c0, xs[0]), xs, offsets, kc)
        g = _grad_of_duals(f, xs, td, dots, single=False)
        parts.append(np.concatenate([gi.reshape(kc, -1) for gi in g], axis=1))
    return np.concatenate(parts, axis=0) if len(parts) > 1 else parts[0]

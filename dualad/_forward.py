"""Forward mode: jvp, derivative, the forward Jacobian in chunks of seeded directions, and
the one-pass paths for small inputs (packed scalars for up to two numbers, identity seeds up
to ``_SMALL``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dualad._numpy import np

from . import _tags
from ._alias import INPUT
from ._intercept import intercepting
from ._pytree import flatten, unflatten
from ._seeding import (
    _F64_DTYPE,
    _PACKED_EYE,
    _backend_of,
    _chunk_size,
    _eye,
    _floats,
    _input,
    _layout,
    _leaves,
    _offsets,
    _one_direction,
    _open_level,
    _read,
    _require_real,
    _require_scalar,
    _seed,
    _size,
    _small_eye,
    _split_eye,
    refuse_wrapped_chunks,
)
from .dual import Dual


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
        like = _backend_of(xs)
        pairs = [_read(yi, level, 1, like) for yi in ys]
    finally:
        _tags.close_level(level)
    given = [a for a in (*xs, *flatten(v)[0]) if type(a) is np.ndarray]
    return (
        unflatten(ytd, [_apart(p, given) for p, _ in pairs]),
        unflatten(ytd, [_apart(d[0], given) for _, d in pairs]),
    )


def _apart(a, given: list):
    """``a``, copied where it shares memory with an array the caller passed (``f(x) = x``
    returns ``x`` and ``v`` themselves): a write into a result must not reach the inputs."""
    if type(a) is np.ndarray and any(np.may_share_memory(a, b) for b in given):
        return a.copy()
    return a


def derivative(f: Callable, x: Any, *, intercept: bool = False) -> Any:
    """``f'(x)`` for a scalar or elementwise ``f``: the tangent along all-ones.

    For an array ``x``, every output's shape must end in ``x``'s (elementwise outputs, maybe
    stacked: else ``ValueError``, use :func:`dualad.jacobian`). An ``f`` of that shape that is not elementwise (``np.cumsum``)
    gives ``J @ 1``, the row sums of its Jacobian, which is not a derivative of each element.

    ``intercept=True`` runs ``f`` under :func:`dualad.intercept`: ``np.asarray``, ``np.array``
    and ``math.*`` then accept the traced values (see README).

    >>> import numpy as np, dualad
    >>> dualad.derivative(np.sin, np.array([0.0, np.pi]))
    array([ 1., -1.])
    """
    f = intercepting(f) if intercept else f
    xs, td = _leaves(x)
    y, t = jvp(f, unflatten(td, xs), unflatten(td, [np.ones_like(v) for v in xs]))
    if td.is_leaf and np.ndim(xs[0]) > 0:
        xshape = np.shape(xs[0])
        for yl in flatten(y)[0]:
            ys = np.shape(yl)
            if len(ys) < len(xshape) or ys[len(ys) - len(xshape) :] != xshape:
                raise ValueError(
                    f"derivative is for a scalar or elementwise f, but f maps shape "
                    f"{np.shape(xs[0])} to {np.shape(yl)}: use dualad.jacobian (or jvp for "
                    "one direction)"
                )
    return t


def _forward_jacobian(f, xs, td, chunk):
    n_in = sum(_size(v) for v in xs)
    k = _chunk_size(n_in, np.dtype(getattr(xs[0], "dtype", np.float64)).itemsize, chunk)
    offsets = _offsets(xs)
    blocks, ys, ytd = [], None, None
    if n_in == 0:  # no input numbers, no directions: f at the point, zero-sized blocks
        ys, ytd = flatten(f(unflatten(td, xs)))
        level = _tags.new_level()  # no value carries it: every output reads as a constant
        pairs = [_read(yi, level, 0, _backend_of(xs)) for yi in ys]
        prim = [p for p, _ in pairs]
        return prim, ytd, _layout([d for _, d in pairs], prim, xs, td, offsets), ys
    like = _backend_of(xs)
    for c0 in range(0, n_in, k):
        kc = min(k, n_in - c0)
        eye = _eye(kc, n_in, c0, xs[0], xs[0].dtype)
        dots = _split_eye(eye, xs, offsets, kc)
        level = _tags.open_level()
        try:
            y = f(unflatten(td, _seed(xs, level, dots, False)))
            ys, ytd = flatten(y)
            blocks.append([_read(yi, level, kc, like) for yi in ys])
        finally:
            _tags.close_level(level)
    prim = [p for p, _ in blocks[0]]
    cols = [
        np.concatenate([b[j][1] for b in blocks], axis=0) if len(blocks) > 1 else blocks[0][j][1]
        for j in range(len(ys))
    ]
    return prim, ytd, _layout(cols, prim, xs, td, offsets), ys


def _grad_numbers(f, x):
    """``grad`` at a tuple or dict of at most two Python or NumPy floats, or None."""
    vals = x.values() if type(x) is dict else x
    if not vals or not _floats(vals, ints=True):
        return None
    if type(x) is dict:
        keys = tuple(x)
        g = _grad_packed(f, [np.float64(v) for v in vals], lambda ds: dict(zip(keys, ds)))
        return dict(zip(keys, g))
    return tuple(_grad_packed(f, [np.float64(v) for v in x], tuple))


#: Tangents of a packed scalar with nothing of an outer transform inside.
_PACKED_DOTS = (float, complex, type(None))


def _grad_packed(f, xs, rebuild, n: int | None = None):
    """Forward gradient at ``n <= 2`` scalar leaves (a tuple or dict of numbers): one pass on
    packed scalars, each leaf seeded with its own direction; one 0-d array per leaf.
    ``rebuild(leaves)`` makes ``f``'s argument from the seeded leaves."""
    n = len(xs) if n is None else n
    level = _open_level()
    try:
        seeds = _PACKED_EYE[n][1]
        ds = [Dual._new(float(v), s, level, n, False) for v, s in zip(xs, seeds)]
        y = f(rebuild(ds))
        if (
            type(y) is Dual
            and y._m[0] == level
            and type(y._p) is float
            and type(y._dot) in _PACKED_DOTS
        ):  # a packed result
            dot = y._dot
            g = (0.0,) * n if dot is None else (dot,) if n == 1 else (dot.real, dot.imag)
        else:
            ys, ytd = flatten(y)
            p, dot = _read(ys[0], level, n)
            _require_scalar([p], ytd)
            if isinstance(dot, _tags.Leveled):
                # traced by an outer transform (f closes over its values): the general
                # path's answer, 0-d wrappers, from this same evaluation of f
                return [dot[i].reshape(()) for i in range(n)]
            if not np.any(dot):
                _require_real(p)
            g = dot.reshape(n).tolist()
    finally:
        _tags.close_level(level)
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
        y = f(_packed_vector(x, n, level))
        if type(y) is Dual and y._m[0] == level and type(y._p) is np.ndarray:
            dot = y._dot  # one array output (np.stack of the results): no pytree
            if dot is not None and dot.ndim == 2:
                return dot.T  # out.shape + in.shape
        ys, ytd = flatten(y)
        blocks = []
        for y in ys:
            _, dot = _read(y, level, n)  # (n,) + out.shape
            nd = dot.ndim
            blocks.append(dot if nd == 1 else dot.T if nd == 2 else np.moveaxis(dot, 0, -1))
    finally:
        _tags.close_level(level)
    return unflatten(ytd, blocks)


def _grad_forward_small(f, x, n: int):
    """Forward gradient of a small array input: one pass seeded with the identity."""
    level = _open_level()
    try:
        if n <= 2 and x.ndim == 1 and x.dtype is _F64_DTYPE:  # the scalar-program case
            d = _packed_vector(x, n, level)
            m = d._m  # every value derived from d shares this tuple
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
            return _small_result(x, y, level)
        return _grad_forward_small_at(f, x, n, level)
    finally:
        _tags.close_level(level)


def _grad_forward_small_at(f, x, n: int, level: int):
    shape = x.shape
    if not shape and x.dtype is _F64_DTYPE:  # one scalar: a packed Dual
        y = f(Dual._new(float(x), 1.0, level, 1, False))
        if type(y) is Dual and y._m[0] == level and type(y._p) is float:
            g = np.empty(())
            g[()] = 0.0 if y._dot is None else y._dot
            return g
    else:
        y = f(_input(Dual._new(x, _small_eye(n, x.dtype, shape), level, n, False)))
    return _small_result(x, y, level)


def _small_result(x, y, level: int):
    """The gradient from ``y = f(seeded x)`` at ``level``, any result kind (checked)."""
    refuse_wrapped_chunks(y)
    if isinstance(y, Dual) and y._level == level:
        p, dot = y.primal, y._dot_array()
    else:
        p, dot = y, None
        _tags.check_constant(p, level)
    _tags.check_live(p)
    if isinstance(y, (tuple, list, dict)) or getattr(p, "shape", None) != ():
        _require_scalar([p], flatten(y)[1])
    if dot is None:
        _require_real(p)
        return np.zeros_like(x)
    return dot.reshape(x.shape)

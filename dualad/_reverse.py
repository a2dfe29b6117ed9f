"""Reverse mode through the tape add-on: vjp and the reverse Jacobian, one sweep per chunk
of output rows. ``tape`` is imported on first use (``_load_tape``), so that ``import dualad``
never loads it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dualad._numpy import np

from ._intercept import intercepting
from ._pytree import LEAF, flatten, unflatten
from ._seeding import (
    _base,
    _chunk_size,
    _eye,
    _float_type,
    _floats,
    _layout,
    _leaves,
    _offsets,
    _one_direction,
    _require_scalar,
    _size,
    _split_eye,
    refuse_wrapped_chunks,
)

_TAPE = None  # the tape add-on, once a reverse mode first needs it


def _load_tape():
    global _TAPE
    import tape

    _TAPE = tape
    return tape


def _reverse_jacobian(f, xs, td, chunk, scalar=False):
    tape = _TAPE or _load_tape()

    with tape.Tape(persistent=True) as t:
        ws = [t._watch(v) for v in xs]
        y = f(unflatten(td, ws))
    return _reverse_rows(t, ws, y, xs, td, chunk, scalar)


def _grad_reverse_array(f, x, value=False):
    """``grad(f, x, mode="reverse")`` for one float64 array ``x``: ``_reverse_jacobian``
    without the pytree bookkeeping (tiny scalar programs pay for every step). ``value``:
    ``(f(x), gradient)``, as ``value_and_grad``."""
    tape = _TAPE or _load_tape()

    with tape.Tape(persistent=True) as t:
        w = t._watch(x)
        y = f(w)
    prim, _, rows = _reverse_rows(t, [w], y, [x], LEAF, None, True)
    return (prim[0], rows[0][0]) if value else rows[0][0]


def _jacobian_reverse_array(f, x):
    """``jacobian(f, x, mode="reverse")`` for one float64 array ``x``: ``_reverse_jacobian``
    without the pytree bookkeeping of the input."""
    _, ytd, rows = _reverse_jacobian(f, [x], LEAF, None)
    return rows[0][0] if ytd.is_leaf else unflatten(ytd, [r[0] for r in rows])


def _grad_numbers_reverse(f, x):
    """``grad(f, x, mode="reverse")`` at a tuple or dict of Python or NumPy floats (a 0-d
    array each, as the pytree path gives), or None for other leaves."""
    tape = _TAPE or _load_tape()
    is_dict = type(x) is dict
    vals = list(x.values()) if is_dict else x
    if not vals or not _floats(vals, ints=True):
        return None
    if not _floats(vals):  # ints among them: watched as floats, as the pytree path does
        vals = [float(v) for v in vals]
    with tape.Tape(persistent=True) as t:
        ws = t._watch(vals)  # a list or tuple of numbers: scalar Variables
        y = f(dict(zip(x, ws)) if is_dict else tuple(ws))
    scalar = type(y) is tape.Variable and type(y.value) is np.float64
    if scalar:  # (the scalar branch of _reverse_rows reads no input values or structure)
        xs, td = ws, LEAF
    else:
        xs, td = [np.float64(v) for v in vals], flatten(x)[1]
    g = _reverse_rows(t, ws, y, xs, td, None, True)[2][0]
    return dict(zip(x, g)) if is_dict else tuple(g)


_ONE = np.float64(1.0)  # the seed of a scalar output (NumPy scalars are immutable)


def _reverse_rows(t, ws, y, xs, td, chunk, scalar):
    """``_reverse_jacobian`` from the recorded tape ``t``: ``f(unflatten(td, ws)) = y``."""
    tape = _TAPE or _load_tape()
    if scalar and type(y) is tape.Variable:
        v = y.value
        if type(v) is np.float64:
            # a scalar program's result: one sweep from a NumPy scalar seed (the tape takes
            # its scalar records' loop), without the pytree and shape bookkeeping below
            bars = t.cotangents([y], [_ONE], ws)
            t.close()
            return [v], LEAF, [[b[0, ...] for b in bars]]  # (1,) + x.shape each
    ys, ytd = flatten(y)
    for yi in ys:
        refuse_wrapped_chunks(yi)
    prim = [tape.value_of(yi) for yi in ys]
    if scalar:
        _require_scalar(prim, ytd)
    elif (
        chunk is None
        and ytd.is_leaf
        and len(xs) == 1
        and type(xs[0]) is np.ndarray
        and type(prim[0]) is np.ndarray
        and prim[0].dtype == np.float64
        and prim[0].ndim == 1
        and 0 < prim[0].shape[0] <= 64
    ):  # a small float vector of one array: one sweep of the identity, no layout shuffles
        p0 = prim[0]
        bars = t.cotangents(ys, [_identity(p0.shape[0])], ws)
        t.close()
        b = bars[0]
        if not b.flags.writeable:  # the seed itself or a view of it (f(x) = x): a copy
            b = b.copy()
        return prim, ytd, [[b]]  # (n_out,) + x.shape: out.shape + in.shape
    n_out = sum(_size(p) for p in prim)
    if n_out == 0:
        t.close()
        return prim, ytd, [[_zeros_block(p, v) for v in xs] for p in prim]
    if n_out == 1:  # a scalar loss: the gradient is the swept cotangent itself, no reshuffle
        p0 = prim[0]
        pshape = tuple(np.shape(p0))
        seed = np.float64(1.0) if type(p0) is np.float64 else np.ones_like(p0, shape=(1,) + pshape)
        if np.iscomplexobj(p0):  # a complex value: dy/dx = xbar(1) - i xbar(i), two sweeps
            bars = t.cotangents(ys, [seed], ws)
            bars_i = t.cotangents(ys, [1j * seed], ws)
            bars = [b - 1j * bi for b, bi in zip(bars, bars_i)]
        else:
            bars = t.cotangents(ys, [seed], ws, release=True)
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
        bars = t.cotangents(ys, seeds, ws)
        if any(np.iscomplexobj(p) for p in prim):  # complex rows: dy/dx = xbar(1) - i xbar(i)
            bars_i = t.cotangents(ys, [1j * s for s in seeds], ws)
            bars = [b - 1j * bi for b, bi in zip(bars, bars_i)]
        parts.append(np.concatenate([b.reshape(mc, -1) for b in bars], axis=1) if bars else None)
    t.close()
    full = np.concatenate(parts, axis=0) if len(parts) > 1 else parts[0]  # (n_out, n_in)
    mats = [
        full[out_offsets[j] : out_offsets[j + 1]].T.reshape((offsets[-1],) + tuple(np.shape(p)))
        for j, p in enumerate(prim)
    ]
    return prim, ytd, _layout(mats, prim, xs, td, offsets)


_IDENTITY: dict = {}


def _identity(n: int):
    """``np.eye(n)``, made once per size and read-only (a sweep only reads its seeds)."""
    e = _IDENTITY.get(n)
    if e is None:
        e = np.eye(n)
        e.flags.writeable = False
        e = _IDENTITY.setdefault(n, e)
    return e


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
    tape = _TAPE or _load_tape()

    xs, td = _leaves(x)
    with tape.Tape() as t:
        ws = [t._watch(v) for v in xs]
        y = f(unflatten(td, ws))
    ys, ytd = flatten(y)
    for yi in ys:
        refuse_wrapped_chunks(yi)
    seeds = _one_direction([tape.value_of(yi) for yi in ys], ytd, u, "u")
    bars = t.cotangents(ys, seeds, ws, release=True)
    t.close()
    return unflatten(ytd, [tape.value_of(yi) for yi in ys]), unflatten(
        td, [b[0, ...] for b in bars]
    )

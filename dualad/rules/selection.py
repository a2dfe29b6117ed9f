"""Selections: max, min, ptp, median (their nan* forms too), clip, where, select.

Tangents are weighted by masks of the primal; ties split the derivative evenly, as JAX does.
The axis helpers come from reductions.py. Imports numpy only.
"""

from __future__ import annotations

import math

from dualad._numpy import np

from ._define import align, fit_dot, getitem, ndim_of, on_host, shape_of, unbroadcast
from .reductions import (
    _NOVALUE,
    _add_initial,
    _axes,
    _dot_at,
    _from_last,
    _given,
    _initial_bar,
    _kd_shape,
    _pad,
    _refuse_out,
    _shift,
    _to_last,
    _wants,
    _weighted_jvp,
    _weighted_vjp,
    _with_bar,
    defchecked,
)

# -- selections: ties split the derivative evenly, as JAX does ------------------------------


def _extremes(a, o, axes, initial=None, where=True):
    """(mask of the entries equal to the max/min ``o`` in keepdims shape, 1 / count or None
    when every slice has exactly one). An ``initial`` equal to the result takes a share;
    NaN-only slices get 0 rather than 0/0."""
    mask = a == o
    if _given(where) and where is not True:
        mask = mask & where
    if not on_host(a):  # Dask, CuPy, ...: no data-dependent branch (it would compute a
        # lazy array), only what every backend has (Dask's count_nonzero takes no keepdims)
        count = np.sum(mask, axis=axes, keepdims=True)
        if _given(initial):
            count = count + (o == initial)
        return mask, 1 / np.maximum(count, 1).astype(a.dtype)
    if not _given(initial):
        hits = np.count_nonzero(mask)
        if hits == math.prod(shape_of(o)) and not np.any(np.isnan(o)):
            return mask, None
    count = np.count_nonzero(mask, axis=axes, keepdims=True)
    if _given(initial):
        count = count + (o == initial)
    return mask, 1 / np.maximum(count, 1).astype(a.dtype)  # float32 in, float32 weights


def _extreme_jvp(d, a, o, axes, keepdims, out, initial=None, where=True):
    mask, scale = _extremes(a, o, axes, initial, where)
    k = shape_of(d)[0]
    # one winner per slice: gather its tangent instead of a masked full-size reduction
    if scale is None and len(axes) == ndim_of(a) > 0:
        flat = np.reshape(d, (k, math.prod(shape_of(a))))
        return np.reshape(getitem(flat, (slice(None), int(np.argmax(mask)))), (k,) + shape_of(out))
    if scale is None and len(axes) == 1:
        idx = np.argmax(mask, axis=axes[0], keepdims=True)
        res = np.take_along_axis(d, np.reshape(idx, (1,) + shape_of(idx)), axis=axes[0] + 1)
        return np.reshape(res, (k,) + shape_of(out))
    return _weighted_jvp(d, mask, axes, keepdims, out, scale)


def _extreme_vjp(g, a, o, axes, initial=None, where=True):
    mask, scale = _extremes(a, o, axes, initial, where)
    return _weighted_vjp(g, mask, shape_of(a), axes, scale)


def _initial_share(a, o, out, axes, initial, where):
    """d out / d initial in ``out``'s shape: an ``initial`` equal to the result competes as
    one more entry, so ties split evenly with the entries (see ``_extremes``)."""
    _, scale = _extremes(a, o, axes, initial, where)
    return np.reshape((o == initial) * scale, shape_of(out))


def max_jvp(dots, out, a, axis=None, out_=None, keepdims=False, initial=None, where=True):
    _refuse_out("max", out_)
    axes = _axes(axis, ndim_of(a))
    o = np.reshape(out, _kd_shape(shape_of(a), axes))
    res = None
    if dots[0] is not None:
        res = _extreme_jvp(dots[0], a, o, axes, keepdims, out, initial, where)
    if _dot_at(dots, 4) is None:
        return res
    return _add_initial(res, dots, 4, out, _initial_share(a, o, out, axes, initial, where))


def max_vjp(out_bar, out, a, axis=None, out_=None, keepdims=False, initial=None, where=True,
            needs=None):  # fmt: skip
    axes = _axes(axis, ndim_of(a))
    o = np.reshape(out, _kd_shape(shape_of(a), axes))
    bars = (None,)
    if needs is None or needs[0]:
        bars = (_extreme_vjp(out_bar, a, o, axes, initial, where),)
    if _wants(needs, 4, initial):
        w = _initial_share(a, o, out, axes, initial, where)
        return _with_bar(bars, 6, 4, _initial_bar(out_bar, initial, w))
    return _pad(bars, 6)


def ptp_jvp(dots, out, a, axis=None, out_=None, keepdims=False):
    _refuse_out("ptp", out_)
    axes = _axes(axis, ndim_of(a))
    hi = np.max(a, axis=axes, keepdims=True)
    lo = np.min(a, axis=axes, keepdims=True)
    d = dots[0]
    return _extreme_jvp(d, a, hi, axes, keepdims, out) - _extreme_jvp(d, a, lo, axes, keepdims, out)


def ptp_vjp(out_bar, out, a, axis=None, out_=None, keepdims=False):
    axes = _axes(axis, ndim_of(a))
    hi = np.max(a, axis=axes, keepdims=True)
    lo = np.min(a, axis=axes, keepdims=True)
    return _pad((_extreme_vjp(out_bar, a, hi, axes) - _extreme_vjp(out_bar, a, lo, axes),), 4)


def _median_index(a, axes):
    """Positions of the middle entry (the two middle ones for even counts) of each slice
    of ``a`` with ``axes`` merged last, found by partitioning."""
    y = _to_last(a, axes)
    n = shape_of(y)[-1]
    kth = sorted({(n - 1) // 2, n // 2})
    return np.argpartition(y, kth, axis=-1)[..., kth], n


def _refuse_overwrite(overwrite_input):
    if overwrite_input:
        raise NotImplementedError(
            "numpy.median(..., overwrite_input=True) on a Dual: the primal was reordered in "
            "place, so its entries no longer line up with the tangent; leave it False"
        )


def median_jvp(dots, out, a, axis=None, out_=None, overwrite_input=False, keepdims=False):
    _refuse_out("median", out_)
    _refuse_overwrite(overwrite_input)
    axes = _axes(axis, ndim_of(a))
    idx, _ = _median_index(a, axes)
    d = dots[0]
    got = np.take_along_axis(_to_last(d, _shift(axes)), np.reshape(idx, (1,) + shape_of(idx)), -1)
    return np.reshape(np.mean(got, axis=-1), shape_of(d)[:1] + shape_of(out))


def median_vjp(out_bar, out, a, axis=None, out_=None, overwrite_input=False, keepdims=False):
    _refuse_overwrite(overwrite_input)
    shape = shape_of(a)
    axes = _axes(axis, len(shape))
    idx, n = _median_index(a, axes)
    # a constant one-hot weight in place of a scatter, which Duals and tapes do not have
    w = np.sum(np.arange(n) == idx[..., None], axis=-2).astype(a.dtype) / shape_of(idx)[-1]
    return _pad((_weighted_vjp(out_bar, _from_last(w, shape, axes), shape, axes),), 5)


# -- piecewise: clip, where, select ---------------------------------------------------------


def _clip_bounds(a_min, a_max, kwargs):
    """(lo, hi), None where absent; NumPy 2 also accepts them as keywords min= and max=."""
    lo = a_min if _given(a_min) else kwargs.get("min")
    hi = a_max if _given(a_max) else kwargs.get("max")
    return (lo if _given(lo) else None), (hi if _given(hi) else None)


def _clip_masks(out, a, lo, hi, bounds: bool):
    """Masks (a, lo, hi) for clip: a passes where it was not clipped (ties keep a); lo takes
    a < lo, hi the rest, which covers crossed bounds (NumPy then returns hi everywhere).
    The bounds' masks are built only when ``bounds`` asks for them."""
    keep = out == a
    if not bounds:
        return keep, None, None
    clipped = np.logical_not(keep)
    if lo is None:
        return keep, None, clipped
    if hi is None:
        return keep, clipped, None
    below = np.logical_and(clipped, np.logical_and(a < lo, lo <= hi))
    return keep, below, np.logical_and(clipped, np.logical_not(below))


def clip_jvp(dots, out, a, a_min=_NOVALUE, a_max=_NOVALUE, out_=None, **kwargs):
    _refuse_out("clip", out_)
    lo, hi = _clip_bounds(a_min, a_max, kwargs)
    masks = _clip_masks(out, a, lo, hi, any(d is not None for d in dots[1:3]))
    nd = ndim_of(out)
    acc = None
    for d, m in zip(dots, masks):
        if d is not None and m is not None:
            term = align(d, nd) * m
            acc = term if acc is None else acc + term
    return None if acc is None else fit_dot(acc, shape_of(acc)[0], shape_of(out))


def clip_vjp(out_bar, out, a, a_min=_NOVALUE, a_max=_NOVALUE, out_=None, needs=None, **kwargs):
    lo, hi = _clip_bounds(a_min, a_max, kwargs)
    # Python numbers carry no derivative: skip their cotangents
    want = [
        v is not None and type(v) not in (int, float) and (needs is None or needs[i])
        for i, v in enumerate((a, lo, hi)[: len(needs) if needs is not None else 3])
    ]
    want += [False] * (3 - len(want))
    masks = _clip_masks(out, a, lo, hi, want[1] or want[2])
    return tuple(
        unbroadcast(out_bar * m, shape_of(v)) if w else None
        for v, m, w in zip((a, lo, hi), masks, want)
    ) + (None,)


def where_jvp(dots, out, condition, x=None, y=None):
    # one-argument np.where(c) is nonzero(c): integer indices, no tangent
    if len(dots) < 3 or (dots[1] is None and dots[2] is None):
        return None
    nd = ndim_of(out)
    dx, dy = dots[1], dots[2]
    k = shape_of(dx if dx is not None else dy)[0]
    res = np.where(condition, 0.0 if dx is None else align(dx, nd),
                   0.0 if dy is None else align(dy, nd))  # fmt: skip
    return fit_dot(res, k, shape_of(out))


def where_vjp(out_bar, out, condition, x=None, y=None, needs=None):
    if x is None:
        return (None,)
    bx = by = None
    if (needs is None or needs[1]) and type(x) not in (int, float):
        bx = unbroadcast(np.where(condition, out_bar, 0.0), shape_of(x))
    if (needs is None or needs[2]) and type(y) not in (int, float):
        by = unbroadcast(np.where(condition, 0.0, out_bar), shape_of(y))
    return (None, bx, by)


def select_jvp(dots, out, condlist, choicelist, default=0):
    # nested np.where instead of np.select: select calls np.asarray on its choices
    nd = ndim_of(out)
    dc = dots[1] if len(dots) > 1 and dots[1] is not None else (None,) * len(choicelist)
    dd = dots[2] if len(dots) > 2 else None
    res = 0.0 if dd is None else align(dd, nd)
    for cond, d in zip(condlist[::-1], dc[::-1]):
        res = np.where(cond, 0.0 if d is None else align(d, nd), res)
    k = shape_of(next(d for d in (*dc, dd) if d is not None))[0]
    return fit_dot(res, k, shape_of(out))


def select_vjp(out_bar, out, condlist, choicelist, default=0):
    taken = False
    bars = []
    for cond, choice in zip(condlist, choicelist):
        picked = np.logical_and(cond, np.logical_not(taken))
        number = type(choice) in (int, float)  # a Python number carries no derivative
        bars.append(
            None if number else unbroadcast(np.where(picked, out_bar, 0.0), shape_of(choice))
        )
        taken = np.logical_or(taken, cond)
    if type(default) in (int, float):
        return (None, tuple(bars), None)
    return (None, tuple(bars), unbroadcast(np.where(taken, 0.0, out_bar), shape_of(default)))


# -- the table ------------------------------------------------------------------------------

# max and amax are distinct objects in NumPy 2 (amax is the old alias), so both are entered;
# min shares max's rule because the weights only test equality with the result
# (defchecked: with the positional arguments each differentiates; it refuses the others)
for _f in (np.max, np.amax, np.min, np.amin, np.nanmax, np.nanmin):
    defchecked(_f, max_jvp, max_vjp, (0, 4))  # a, initial
defchecked(np.ptp, ptp_jvp, ptp_vjp, (0,))
defchecked(np.median, median_jvp, median_vjp, (0,))
defchecked(np.clip, clip_jvp, clip_vjp, (0, 1, 2))  # a, a_min, a_max
# a condition (truthy floats too) is piecewise constant: its derivative is zero, so it counts
# as handled
defchecked(np.where, where_jvp, where_vjp, (0, 1, 2))
defchecked(np.select, select_jvp, select_vjp, (0, 1, 2))

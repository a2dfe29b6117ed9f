"""Reductions: sum, prod, mean, average, var, std, cumsum, cumprod, nansum, nanmean, diff, trace.

They reduce the tangent (which carries a leading direction axis) over the same axes shifted by
one; cotangents are reshaped to ``keepdims`` form and broadcast back. The axis helpers here are
shared with selection.py. Imports numpy only.
"""

from __future__ import annotations

import inspect
import math
import operator

from dualad._numpy import np

from ._define import (
    _masked,
    align,
    defrule,
    fit_dot,
    func_name,
    getitem,
    ndim_of,
    shape_of,
    unbroadcast,
)

_NOVALUE = np._NoValue  # NumPy's "argument not given" marker, as in its own signatures


# -- axis helpers ---------------------------------------------------------------------------


def _given(v) -> bool:
    return v is not None and v is not _NOVALUE


def _flag(v) -> bool:
    return v is not _NOVALUE and bool(v)


def _axes(axis, ndim: int) -> tuple:
    """Sorted non-negative data axes reduced over (all of them for ``None``). A 0-d array
    has none: NumPy takes ``axis=0`` or ``-1`` there (checked on the value already)."""
    if axis is None or axis is _NOVALUE or ndim == 0:
        return tuple(range(ndim))
    if isinstance(axis, (tuple, list)):
        return tuple(sorted(operator.index(a) % ndim for a in axis))
    return (operator.index(axis) % ndim,)


def _shift(axes: tuple) -> tuple:
    """The same axes in a tangent or cotangent, past its leading direction/batch axis."""
    return tuple(a + 1 for a in axes)


def _kd_shape(shape: tuple, axes: tuple) -> tuple:
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def _lift(g, shape: tuple, axes: tuple):
    """Cotangent ``(m,) + out.shape`` reshaped to ``(m,) + keepdims shape``."""
    return np.reshape(g, shape_of(g)[:1] + _kd_shape(shape, axes))


def _pad(bars: tuple, n: int) -> tuple:
    """One cotangent per positional parameter of the NumPy function (None for the rest)."""
    return bars + (None,) * (n - len(bars))


def _to_last(x, axes: tuple):
    """Move the data ``axes`` of ``x`` to the end and merge them into one axis."""
    nd = ndim_of(x)
    dst = list(range(nd - len(axes), nd))
    if list(axes) != dst:
        x = np.moveaxis(x, list(axes), dst)
    s = shape_of(x)
    return np.reshape(x, s[: nd - len(axes)] + (math.prod(s[nd - len(axes) :]),))


def _from_last(y, shape: tuple, axes: tuple):
    """Inverse of ``_to_last`` for an array of the primal's shape."""
    rest = tuple(n for i, n in enumerate(shape) if i not in axes)
    y = np.reshape(y, rest + tuple(shape[a] for a in axes))
    src = list(range(len(shape) - len(axes), len(shape)))
    if src != list(axes):
        y = np.moveaxis(y, src, list(axes))
    return y


def _contract(d, w, axes, keepdims):
    """``sum(d * w)`` over ``axes`` (shifted past d's direction axis) without the product
    temporary: einsum fuses the two and runs about twice as fast."""
    nd = ndim_of(w)
    if ndim_of(d) != nd + 1 or nd > 26:
        return np.sum(d * w, axis=_shift(axes), keepdims=_flag(keepdims))
    data = "".join(chr(97 + i) for i in range(nd))
    kept = "".join(c for i, c in enumerate(data) if i not in axes)
    res = np.einsum(f"Z{data},{data}->Z{kept}", d, w)
    if _flag(keepdims):
        res = np.reshape(res, shape_of(d)[:1] + _kd_shape(shape_of(w), axes))
    return res


def _weighted_jvp(d, w, axes, keepdims, out=None, scale=None):
    """Tangent of a reduction with derivative ``w * scale``: ``w`` has the primal's shape,
    ``scale`` (optional) the keepdims shape, applied after reducing to save a full pass."""
    res = _contract(d, w, axes, keepdims)
    if scale is None:
        return res
    return res * (scale if ndim_of(scale) == 0 else np.reshape(scale, shape_of(out)))


def _weighted_vjp(g, w, shape, axes, scale=None):
    g = _lift(g, shape, axes)
    return fit_dot((g if scale is None else g * scale) * w, shape_of(g)[0], shape)


def _refuse_out(name: str, out_) -> None:
    if out_ is not None:
        raise NotImplementedError(
            f"numpy.{name} with a positional out argument is not supported on a Dual: "
            "pass out= as a keyword, or use the returned value"
        )


def defchecked(func, jvp, vjp, diff: tuple, name: str | None = None):
    """``defrule`` for a rule that differentiates only the positional arguments ``diff``.

    A tangent (forward) or a wanted cotangent (reverse, from ``needs``) reaching any other
    argument raises ``NotImplementedError`` naming the function and the argument, instead of
    being dropped: a traced ``ddof=`` or ``n=`` would otherwise give a silently wrong
    derivative.
    """
    fname = name or func_name(func)
    try:
        params = list(inspect.signature(func).parameters)
    except (TypeError, ValueError):  # pragma: no cover - every rule here has a signature
        params = []
    allowed = frozenset(diff)

    def refuse(i: int):
        arg = repr(params[i]) if i < len(params) else f"number {i}"
        return NotImplementedError(
            f"dualad does not differentiate {fname} with respect to its argument {arg}: pass "
            "a plain value there (.primal for a Dual, .value for a tape Variable)"
        )

    def hot(v) -> bool:
        if type(v) is tuple:  # a list/tuple argument: one entry per item
            return any(hot(e) for e in v)
        return v is not None and v is not False

    def checked_jvp(dots, out, *args, **kwargs):
        for i, d in enumerate(dots):
            if d is not None and i not in allowed and hot(d):
                raise refuse(i)
        return jvp(dots, out, *args, **kwargs)

    inner_needs = "needs" in inspect.signature(vjp).parameters

    def checked_vjp(out_bar, out, *args, needs=None, **kwargs):
        if needs is not None:
            for i, n in enumerate(needs):
                if i not in allowed and hot(n):
                    raise refuse(i)
            if inner_needs:
                return vjp(out_bar, out, *args, needs=needs, **kwargs)
        return vjp(out_bar, out, *args, **kwargs)

    for wrapper, inner in ((checked_jvp, jvp), (checked_vjp, vjp)):
        # the rule's own names (the tests find rules by module); no __wrapped__, so that
        # defrule sees the wrapper's own signature (its needs=)
        for attr in ("__module__", "__name__", "__qualname__", "__doc__"):
            setattr(wrapper, attr, getattr(inner, attr))
    return defrule(func, checked_jvp, checked_vjp, name)


def _weight_dtype(a):
    """The real floating dtype of weights for ``a``: float32 data keeps float32 derivatives."""
    dt = getattr(a, "dtype", None)
    if dt is None or dt.kind not in "fc":
        return np.dtype(np.float64)
    return np.finfo(dt).dtype


def _dot_at(dots, i: int):
    return dots[i] if len(dots) > i else None


def _add_initial(res, dots, i: int, out, w=None):
    """``res`` plus the tangent of a traced scalar ``initial`` (positional argument ``i``),
    times ``w`` (d out / d initial, broadcastable to ``out``; None for 1)."""
    d = _dot_at(dots, i)
    if d is None:
        return res
    oshape = shape_of(out)
    term = align(d, len(oshape))
    if w is not None:
        term = term * w
    term = fit_dot(term, shape_of(term)[0], oshape)
    return term if res is None else res + term


def _initial_bar(out_bar, initial, w=None):
    """Cotangent of a scalar argument (``initial``, ``ddof``): ``out_bar`` (times ``w``,
    d out / d arg) summed over the result."""
    g = out_bar if w is None else out_bar * w
    return unbroadcast(g, shape_of(initial))


def _wants(needs, i: int, v) -> bool:
    """Whether the vjp should return a cotangent for argument ``i`` (value ``v``): where the
    caller says (``needs``), else wherever it is given and could carry one."""
    if needs is not None:
        return len(needs) > i and bool(needs[i])
    return _given(v) and type(v) not in (bool, int)


def _with_bar(bars: tuple, n: int, i: int, bar) -> tuple:
    """``bars`` padded to ``n`` cotangents, with ``bar`` at argument ``i``."""
    bars = list(_pad(bars, n))
    bars[i] = bar
    return tuple(bars)


# -- sums and means -------------------------------------------------------------------------


def sum_jvp(dots, out, a, axis=None, dtype=None, out_=None, keepdims=False, initial=None,
            where=True):  # fmt: skip
    _refuse_out("sum", out_)
    res = None
    if dots[0] is not None:
        kw = {"where": where} if _given(where) and where is not True else {}
        axes = _shift(_axes(axis, ndim_of(a)))
        res = np.sum(dots[0], axis=axes, dtype=dtype, keepdims=_flag(keepdims), **kw)
    return _add_initial(res, dots, 5, out)  # initial + sum(a): slope 1 in initial


def sum_vjp(out_bar, out, a, axis=None, dtype=None, out_=None, keepdims=False, initial=None,
            where=True, needs=None):  # fmt: skip
    shape = shape_of(a)
    g = _lift(out_bar, shape, _axes(axis, len(shape)))
    if _given(where) and where is not True:
        g = g * where
    bars = (fit_dot(g, shape_of(out_bar)[0], shape),)
    if _wants(needs, 5, initial):
        return _with_bar(bars, 7, 5, _initial_bar(out_bar, initial))
    return _pad(bars, 7)


def _notnan(a, where):
    mask = ~np.isnan(a)
    return mask & where if _given(where) and where is not True else mask


def nansum_jvp(dots, out, a, axis=None, dtype=None, out_=None, keepdims=False, initial=None,
               where=True):  # fmt: skip
    # summing with where= skips NaN slots whatever their tangent holds
    return sum_jvp(dots, out, a, axis, dtype, out_, keepdims, initial, _notnan(a, where))


def nansum_vjp(out_bar, out, a, axis=None, dtype=None, out_=None, keepdims=False,
               initial=None, where=True, needs=None):  # fmt: skip
    return sum_vjp(out_bar, out, a, axis, dtype, None, keepdims, initial, _notnan(a, where),
                   needs=needs)  # fmt: skip


def mean_jvp(dots, out, a, axis=None, dtype=None, out_=None, keepdims=False, *, where=True):
    _refuse_out("mean", out_)
    kw = {"where": where} if _given(where) and where is not True else {}
    axes = _shift(_axes(axis, ndim_of(a)))
    return np.mean(dots[0], axis=axes, dtype=dtype, keepdims=_flag(keepdims), **kw)


def mean_vjp(out_bar, out, a, axis=None, dtype=None, out_=None, keepdims=False, *, where=True):
    shape = shape_of(a)
    axes = _axes(axis, len(shape))
    g = _lift(out_bar, shape, axes)
    if _given(where) and where is not True:
        mask = np.broadcast_to(where, shape)
        # an empty slice (no entry selected) has no entry to pass a cotangent to: 0, not 0/0
        w = mask / np.maximum(np.sum(mask, axis=axes, keepdims=True), 1)
        g = g * w.astype(_weight_dtype(a), copy=False)
    else:
        g = g * (1.0 / max(math.prod(shape[i] for i in axes), 1))  # (empty: no entries)
    return _pad((fit_dot(g, shape_of(out_bar)[0], shape),), 5)


def nanmean_jvp(dots, out, a, axis=None, dtype=None, out_=None, keepdims=False, *, where=True):
    return mean_jvp(dots, out, a, axis, dtype, out_, keepdims, where=_notnan(a, where))


def nanmean_vjp(out_bar, out, a, axis=None, dtype=None, out_=None, keepdims=False, *,
                where=True):  # fmt: skip
    return mean_vjp(out_bar, out, a, axis, dtype, None, keepdims, where=_notnan(a, where))


def _weight_order(weights, shape: tuple, axis):
    """None when the weights have a's shape; else (NumPy's other form: weights of shape
    ``a.shape[axis]``) the permutation putting their axes in increasing order."""
    if shape_of(weights) == shape:
        return None
    ua = axis if isinstance(axis, (tuple, list)) else (axis,)
    ua = [operator.index(i) % len(shape) for i in ua]
    return tuple(sorted(range(len(ua)), key=ua.__getitem__))


def _spread(w, shape: tuple, axes: tuple, order, lead: int):
    """Weights (after ``lead`` leading axes) laid out to broadcast against ``a``."""
    if order is None:
        return w
    s = shape_of(w)
    if order != tuple(range(len(order))):
        w = np.transpose(w, tuple(range(lead)) + tuple(lead + o for o in order))
    return np.reshape(w, s[:lead] + tuple(n if i in axes else 1 for i, n in enumerate(shape)))


def _gather(w_bar, shape: tuple, axes: tuple, order):
    """Adjoint of ``_spread`` for a cotangent ``(m,) + shape``."""
    if order is None:
        return w_bar
    w_bar = np.sum(w_bar, axis=tuple(i + 1 for i in range(len(shape)) if i not in axes))
    inv = sorted(range(len(order)), key=order.__getitem__)
    if order != tuple(range(len(order))):
        w_bar = np.transpose(w_bar, (0,) + tuple(1 + i for i in inv))
    return w_bar


def average_jvp(dots, out, a, axis=None, weights=None, returned=False, *, keepdims=False):
    shape = shape_of(a)
    axes = _axes(axis, len(shape))
    da = dots[0]
    dw = dots[2] if len(dots) > 2 else None
    if weights is None:
        res = np.mean(da, axis=_shift(axes), keepdims=_flag(keepdims))
        return (res, None) if returned else res
    order = _weight_order(weights, shape, axis)
    w = _spread(weights, shape, axes, order, 0)
    s = np.sum(np.broadcast_to(w, shape), axis=axes, keepdims=True)
    res = scl = None
    if da is not None:
        res = _weighted_jvp(da, w / s, axes, keepdims)
    if dw is not None:
        # d avg = sum(dw (a - avg)) / sum(w);  d sum(w) = sum(dw)
        k = shape_of(dw)[0]
        dw = fit_dot(_spread(dw, shape, axes, order, 1), k, shape)
        avg = np.reshape(out[0] if returned else out, _kd_shape(shape, axes))
        term = _weighted_jvp(dw, (a - avg) / s, axes, keepdims)
        res = term if res is None else res + term
        if returned:
            scl = np.sum(dw, axis=_shift(axes), keepdims=_flag(keepdims))
            scl = fit_dot(scl, k, shape_of(out[1]))
    return (res, scl) if returned else res


def average_vjp(out_bar, out, a, axis=None, weights=None, returned=False, *, keepdims=False,
                needs=None):  # fmt: skip
    shape = shape_of(a)
    axes = _axes(axis, len(shape))
    g_avg, g_scl = out_bar if returned else (out_bar, None)
    m = shape_of(g_avg)[0]
    g = _lift(g_avg, shape, axes)
    if weights is None:
        return _pad((fit_dot(g * (1.0 / max(math.prod(shape[i] for i in axes), 1)), m, shape),), 4)
    order = _weight_order(weights, shape, axis)
    w = _spread(weights, shape, axes, order, 0)
    s = np.sum(np.broadcast_to(w, shape), axis=axes, keepdims=True)
    a_bar = w_bar = None
    if needs is None or needs[0]:
        a_bar = fit_dot(g * (w / s), m, shape)
    if needs is None or (len(needs) > 2 and needs[2]):
        avg = np.reshape(out[0] if returned else out, _kd_shape(shape, axes))
        w_bar = g * ((a - avg) / s)
        if g_scl is not None:
            w_bar = w_bar + _lift(g_scl, shape, axes)
        w_bar = _gather(fit_dot(w_bar, m, shape), shape, axes, order)
    return (a_bar, None, w_bar, None)


# -- products -------------------------------------------------------------------------------


def _others_product(x, axes: tuple):
    """d prod(x) / d x_i = product of all the other entries, from exclusive prefix and
    suffix products: no division by x, so zeros in x are handled exactly."""
    shape = shape_of(x)
    y = _to_last(x, axes)
    one = np.ones_like(y[..., :1])
    left = np.concatenate([one, np.cumprod(y[..., :-1], axis=-1)], axis=-1)
    right = np.concatenate([np.cumprod(y[..., :0:-1], axis=-1)[..., ::-1], one], axis=-1)
    return _from_last(left * right, shape, axes)


def _prod_fast(a, out, axes, initial, where) -> bool:
    """d prod / d a_i = out / a_i is exact when no a_i is 0 and out is a normal number (no
    underflow or overflow hides the product of the others); else use ``_others_product``.
    Off the host (CuPy, Dask) always the latter: a branch on values would sync the device
    or compute the graph, and ``_others_product`` is exact everywhere."""
    if _given(initial) or (_given(where) and where is not True) or not _on_host(a):
        return False
    if np.any(a == 0):
        return False
    o = np.abs(out)
    return bool(np.all(o >= np.finfo(a.dtype).tiny) and np.all(o < np.inf))


def _on_host(a) -> bool:
    """True for NumPy data, under any of dualad's wrappers (they alone set ``_level``)."""
    if type(a) is np.ndarray:
        return True
    while hasattr(a, "_level"):
        a = a._unwrap()
    return isinstance(a, (np.ndarray, np.generic, float, int))


def _prod_weights(a, axes, initial, where):
    masked = _given(where) and where is not True
    w = _others_product(np.where(where, a, 1.0) if masked else a, axes)
    if _given(initial):
        w = w * initial
    return w * where if masked else w


def _prod_of_a(a, axis, keepdims, where):
    """d out / d initial for ``prod(a, initial=initial)``: the product of ``a`` alone."""
    kw = {"where": where} if _given(where) and where is not True else {}
    return np.prod(a, axis=axis, keepdims=_flag(keepdims), **kw)


def prod_jvp(dots, out, a, axis=None, dtype=None, out_=None, keepdims=False, initial=None,
             where=True):  # fmt: skip
    _refuse_out("prod", out_)
    axes = _axes(axis, ndim_of(a))
    res = None
    if dots[0] is None:
        pass
    elif _prod_fast(a, out, axes, initial, where):
        res = np.sum(dots[0] / a, axis=_shift(axes), keepdims=_flag(keepdims)) * out
    else:
        res = _weighted_jvp(dots[0], _prod_weights(a, axes, initial, where), axes, keepdims)
    if _dot_at(dots, 5) is None:
        return res
    return _add_initial(res, dots, 5, out, _prod_of_a(a, axis, keepdims, where))


def prod_vjp(out_bar, out, a, axis=None, dtype=None, out_=None, keepdims=False, initial=None,
             where=True, needs=None):  # fmt: skip
    shape = shape_of(a)
    axes = _axes(axis, len(shape))
    if needs is not None and not needs[0]:
        bars = (None,)
    elif _prod_fast(a, out, axes, initial, where):
        g = _lift(out_bar, shape, axes) * np.reshape(out, _kd_shape(shape, axes))
        bars = (fit_dot(g / a, shape_of(out_bar)[0], shape),)
    else:
        bars = (_weighted_vjp(out_bar, _prod_weights(a, axes, initial, where), shape, axes),)
    if _wants(needs, 5, initial):
        w = _prod_of_a(a, axis, keepdims, where)
        return _with_bar(bars, 7, 5, _initial_bar(out_bar, initial, w))
    return _pad(bars, 7)


def _flat_axis(a, axis, out):
    """``(a, axis)`` for cumulative functions; ``axis=None`` works on the flattened array,
    as any axis of a 0-d array does (NumPy returns shape ``(1,)``)."""
    if axis is None or ndim_of(a) == 0:
        return np.reshape(a, shape_of(out)), 0
    return a, _axes(axis, ndim_of(a))[0]


def _rcumsum(v, ax: int):
    """Reverse cumulative sum: the adjoint of cumsum."""
    return np.flip(np.cumsum(np.flip(v, ax), axis=ax), ax)


def _cumprod_parts(x, ax: int):
    """Pieces of d cumprod that never divide by zero and stay exact at every order.

    d out_i / d x_j = out_i / x_j wherever x_j != 0, an identity that also holds near x; for
    each zero x_z it is instead c_i = the cumprod with that one x_z replaced by 1. Returns
    (1 / x with zeros masked to 0, [(mask of the r-th zero of each slice, c)]); the loop
    runs once per zero in the slice with the most zeros, and not at all without zeros.
    """
    zero = x == 0
    if not np.any(zero):
        return 1.0 / x, []
    count = np.cumsum(zero, axis=ax)
    inv = np.logical_not(zero) / np.where(zero, 1.0, x)
    parts = []
    for r in range(1, int(np.max(count)) + 1):
        at = np.logical_and(zero, count == r)
        parts.append((at, np.cumprod(np.where(at, 1.0, x), axis=ax)))
    return inv, parts


def cumprod_jvp(dots, out, a, axis=None, dtype=None, out_=None):
    _refuse_out("cumprod", out_)
    x, ax = _flat_axis(a, axis, out)
    d = dots[0]
    if axis is None or ndim_of(a) == 0:
        d = np.reshape(d, shape_of(d)[:1] + shape_of(out))
    inv, parts = _cumprod_parts(x, ax)
    res = out * np.cumsum(d * inv, axis=ax + 1)
    for at, c in parts:
        res = res + c * np.cumsum(d * at, axis=ax + 1)
    return res


def cumprod_vjp(out_bar, out, a, axis=None, dtype=None, out_=None):
    x, ax = _flat_axis(a, axis, out)
    inv, parts = _cumprod_parts(x, ax)
    res = _rcumsum(out_bar * out, ax + 1) * inv
    for at, c in parts:
        res = res + at * _rcumsum(out_bar * c, ax + 1)
    if axis is None or ndim_of(a) == 0:
        res = np.reshape(res, shape_of(out_bar)[:1] + shape_of(a))
    return _pad((res,), 4)


def cumsum_jvp(dots, out, a, axis=None, dtype=None, out_=None):
    _refuse_out("cumsum", out_)
    d = dots[0]
    if axis is None or ndim_of(a) == 0:
        return np.cumsum(np.reshape(d, shape_of(d)[:1] + shape_of(out)), axis=1, dtype=dtype)
    return np.cumsum(d, axis=_axes(axis, ndim_of(a))[0] + 1, dtype=dtype)


def cumsum_vjp(out_bar, out, a, axis=None, dtype=None, out_=None):
    _, ax = _flat_axis(a, axis, out)
    res = _rcumsum(out_bar, ax + 1)
    if axis is None or ndim_of(a) == 0:
        res = np.reshape(res, shape_of(out_bar)[:1] + shape_of(a))
    return _pad((res,), 4)


# -- moments --------------------------------------------------------------------------------


def _dof(n, ddof):
    """NumPy's degrees of freedom ``max(n - ddof, 0)`` (``n`` a count or a keepdims array of
    counts); Python numbers stay Python numbers, so float32 derivatives stay float32."""
    dof = n - ddof
    if isinstance(dof, np.generic):
        dof = dof.item()
    if type(dof) in (int, float):
        return max(dof, 0)
    return np.maximum(dof, 0)


def _over(num, dof):
    """``num / dof`` with NumPy's value at ``dof == 0``: inf (nan for ``num == 0``)."""
    if type(dof) in (int, float):
        if dof > 0:
            return num / dof
        if type(num) in (int, float):
            return math.nan if num == 0 else math.copysign(math.inf, num)
    with np.errstate(divide="ignore", invalid="ignore"):
        return num / dof


def _var_weights(a, axes, ddof, where, mean, correction):
    """Pieces of d var: ``(c, scale, dof, empty)``. d var / d a = c * scale with c = a - mean
    (0 outside where) and scale = 2 / dof, dof = max(n - ddof, 0) as NumPy clamps it (so
    scale is inf at dof == 0, as var is); d var / d ddof = var / dof. ``empty`` marks the
    slices where selects no entry (None without where): nothing there depends on anything,
    so their scale is 0 rather than 2 / 0 times the 0 * nan of an empty slice's mean."""
    if _given(correction):
        ddof = correction
    masked = _given(where) and where is not True
    shape = shape_of(a)
    if masked:
        mask = np.broadcast_to(where, shape)
        n = np.count_nonzero(mask, axis=axes, keepdims=True)
    else:
        n = math.prod(shape[i] for i in axes)
    if not _given(mean):
        kw = {"where": where} if masked else {}
        mean = np.mean(a, axis=axes, keepdims=True, **kw)
    c = a - mean
    dof = _dof(n, ddof)
    scale = _over(2.0, dof)
    empty = None
    if masked:
        c = np.where(mask, c, 0.0)  # an empty slice's mean is nan: no 0 * nan outside where
        empty = n == 0
        scale = np.where(empty, 0.0, scale)
        if type(scale) is np.ndarray:
            scale = scale.astype(_weight_dtype(a), copy=False)
    return c, scale, dof, empty


def _ddof_partial(out, dof, empty, half: bool):
    """d out / d ddof in ``out``'s shape: var / dof for var, std / (2 dof) for std; 0 on
    empty slices (their value, nan, does not change with ddof)."""
    if ndim_of(dof) > 0:
        dof = np.reshape(dof, shape_of(out))
    p = _over(out, 2 * dof if half else dof)
    if empty is not None:
        p = np.where(np.reshape(empty, shape_of(out)), 0.0, p)
    return p


def _finite(scale) -> bool:
    if type(scale) in (int, float):
        return math.isfinite(scale)
    return bool(np.all(np.isfinite(scale)))


def _zero_stays_zero(t, scale):
    """``t * scale``, with 0 where ``t`` is 0 though ``scale`` is inf or nan (dof == 0): a zero
    tangent or cotangent contributes zero, as everywhere in dualad (_define._masked)."""
    return t * scale if _finite(scale) else _masked(t, scale)


def _moment_jvp(dots, out, a, axes, keepdims, c, scale, dof, empty, half):
    res = None
    if dots[0] is not None:
        res = _weighted_jvp(dots[0], c, axes, keepdims)
        if ndim_of(scale) > 0:
            scale = np.reshape(scale, shape_of(out))
        res = _zero_stays_zero(res, scale)
    d = _dot_at(dots, 4)  # a traced ddof
    if d is not None:
        oshape = shape_of(out)
        term = _zero_stays_zero(align(d, len(oshape)), _ddof_partial(out, dof, empty, half))
        term = fit_dot(term, shape_of(term)[0], oshape)
        res = term if res is None else res + term
    return res


def _moment_vjp(out_bar, out, a, axes, ddof, c, scale, dof, empty, half, needs):
    shape = shape_of(a)
    bars = (None,)
    if needs is None or needs[0]:
        g = _zero_stays_zero(_lift(out_bar, shape, axes), scale)
        bars = (fit_dot(g * c, shape_of(g)[0], shape),)
    if _wants(needs, 4, ddof):
        g = _zero_stays_zero(out_bar, _ddof_partial(out, dof, empty, half))
        return _with_bar(bars, 6, 4, _initial_bar(g, ddof))
    return _pad(bars, 6)


def var_jvp(dots, out, a, axis=None, dtype=None, out_=None, ddof=0, keepdims=False, *,
            where=True, mean=None, correction=None):  # fmt: skip
    _refuse_out("var", out_)
    axes = _axes(axis, ndim_of(a))
    c, scale, dof, empty = _var_weights(a, axes, ddof, where, mean, correction)
    return _moment_jvp(dots, out, a, axes, keepdims, c, scale, dof, empty, False)


def var_vjp(out_bar, out, a, axis=None, dtype=None, out_=None, ddof=0, keepdims=False, *,
            where=True, mean=None, correction=None, needs=None):  # fmt: skip
    axes = _axes(axis, ndim_of(a))
    c, scale, dof, empty = _var_weights(a, axes, ddof, where, mean, correction)
    return _moment_vjp(out_bar, out, a, axes, ddof, c, scale, dof, empty, False, needs)


def _std_weights(a, out, axes, ddof, where, mean, correction):
    # d sqrt(v) = dv / (2 sqrt(v)); at v == 0 every a - mean is 0, so 0 is the subgradient
    s = np.reshape(out, _kd_shape(shape_of(a), axes))
    c, scale, dof, empty = _var_weights(a, axes, ddof, where, mean, correction)
    skip = s == 0
    if empty is not None:
        skip = skip | empty  # an empty slice: scale 0, and its std is nan
    with np.errstate(invalid="ignore"):  # inf / inf at dof == 0: nan, as the value is inf
        return c, scale / (2 * np.where(skip, 1.0, s)), dof, empty


def std_jvp(dots, out, a, axis=None, dtype=None, out_=None, ddof=0, keepdims=False, *,
            where=True, mean=None, correction=None):  # fmt: skip
    _refuse_out("std", out_)
    axes = _axes(axis, ndim_of(a))
    c, scale, dof, empty = _std_weights(a, out, axes, ddof, where, mean, correction)
    return _moment_jvp(dots, out, a, axes, keepdims, c, scale, dof, empty, True)


def std_vjp(out_bar, out, a, axis=None, dtype=None, out_=None, ddof=0, keepdims=False, *,
            where=True, mean=None, correction=None, needs=None):  # fmt: skip
    axes = _axes(axis, ndim_of(a))
    c, scale, dof, empty = _std_weights(a, out, axes, ddof, where, mean, correction)
    return _moment_vjp(out_bar, out, a, axes, ddof, c, scale, dof, empty, True, needs)


# -- differences and traces -----------------------------------------------------------------


def _edge(v, shape: tuple, ax: int):
    """Shape of diff's prepend/append block: a scalar is broadcast to length 1 along ``ax``."""
    if ndim_of(v) == 0:
        return shape[:ax] + (1,) + shape[ax + 1 :]
    return shape_of(v)


def diff_jvp(dots, out, a, n=1, axis=-1, prepend=_NOVALUE, append=_NOVALUE):
    da = dots[0]
    if n == 0:
        return da
    shape = shape_of(a)
    ax = _axes(axis, len(shape))[0]
    dp = dots[3] if len(dots) > 3 else None
    dq = dots[4] if len(dots) > 4 else None
    k = shape_of(next(d for d in dots if d is not None))[0]
    if da is None:
        da = np.zeros_like(out, shape=(k,) + shape)
    kw = {}
    for key, v, dv in (("prepend", prepend, dp), ("append", append, dq)):
        if v is _NOVALUE:
            continue
        eshape = (k,) + _edge(v, shape, ax)
        if dv is None:
            kw[key] = np.zeros_like(da, shape=eshape)
        else:
            kw[key] = fit_dot(align(dv, len(shape)), k, eshape[1:])
    return np.diff(da, n, axis=ax + 1, **kw)


def diff_vjp(out_bar, out, a, n=1, axis=-1, prepend=_NOVALUE, append=_NOVALUE):
    shape = shape_of(a)
    ax = _axes(axis, len(shape))[0]
    g = out_bar
    zero = g.dtype.type(0)  # a zero of g's own type: a float32 cotangent stays float32
    for _ in range(n):
        # adjoint of one difference: g -> -diff(g) with a zero on each side
        g = -np.diff(g, axis=ax + 1, prepend=zero, append=zero)
    lp = 0 if prepend is _NOVALUE else _edge(prepend, shape, ax)[ax]
    bars = [getitem(g, (slice(None),) * (ax + 1) + (slice(lp, lp + shape[ax]),)), None, None]
    for v, lo, hi in ((prepend, 0, lp), (append, lp + shape[ax], None)):
        if v is _NOVALUE:
            bars.append(None)
            continue
        b = getitem(g, (slice(None),) * (ax + 1) + (slice(lo, hi),))
        if ndim_of(v) == 0:
            b = np.sum(b, axis=tuple(range(1, len(shape) + 1)))
        bars.append(b)
    return tuple(bars)


def _trace_axes(a, axis1, axis2):
    nd = ndim_of(a)
    return operator.index(axis1) % nd, operator.index(axis2) % nd


def trace_jvp(dots, out, a, offset=0, axis1=0, axis2=1, dtype=None, out_=None):
    _refuse_out("trace", out_)
    ax1, ax2 = _trace_axes(a, axis1, axis2)
    return np.trace(dots[0], offset, ax1 + 1, ax2 + 1, dtype)


def trace_vjp(out_bar, out, a, offset=0, axis1=0, axis2=1, dtype=None, out_=None):
    shape = shape_of(a)
    ax1, ax2 = _trace_axes(a, axis1, axis2)
    eye = np.eye(shape[ax1], shape[ax2], k=offset, dtype=bool)
    g = np.reshape(out_bar, shape_of(out_bar) + (1, 1)) * eye
    return _pad((np.moveaxis(g, (-2, -1), (ax1 + 1, ax2 + 1)),), 6)


# -- the table ------------------------------------------------------------------------------

# each with the positional arguments it differentiates (defchecked refuses the others)
defchecked(np.sum, sum_jvp, sum_vjp, (0, 5))  # a, initial
defchecked(np.nansum, nansum_jvp, nansum_vjp, (0, 5))
defchecked(np.mean, mean_jvp, mean_vjp, (0,))
defchecked(np.nanmean, nanmean_jvp, nanmean_vjp, (0,))
defchecked(np.average, average_jvp, average_vjp, (0, 2))  # a, weights
defchecked(np.prod, prod_jvp, prod_vjp, (0, 5))  # a, initial
defchecked(np.cumprod, cumprod_jvp, cumprod_vjp, (0,))
defchecked(np.cumsum, cumsum_jvp, cumsum_vjp, (0,))
defchecked(np.var, var_jvp, var_vjp, (0, 4))  # a, ddof
defchecked(np.std, std_jvp, std_vjp, (0, 4))
defchecked(np.diff, diff_jvp, diff_vjp, (0, 3, 4))  # a, prepend, append
defchecked(np.trace, trace_jvp, trace_vjp, (0,))

#: Functions whose results are indices, counts, booleans or shapes: they run on the primal.
PRIMAL_ONLY_FUNCS = (
    np.argmax, np.argmin, np.nanargmax, np.nanargmin, np.argsort, np.argpartition,
    np.argwhere, np.nonzero, np.flatnonzero, np.lexsort, np.searchsorted, np.digitize,
    np.shape, np.ndim, np.size, np.count_nonzero, np.any, np.all,
    np.isclose, np.allclose, np.array_equal, np.array_equiv, np.isreal, np.iscomplex,
    np.result_type, np.may_share_memory, np.shares_memory,
)  # fmt: skip

_HIST = (
    "its counts are piecewise constant but its bin edges move with min(a) and max(a), and "
    "weighted or density counts depend on the values, so a primal-only result would drop "
    "real derivatives. Call it on d.primal if only the counts are needed, or build the "
    "edges with np.linspace(np.min(d), np.max(d), bins + 1) for differentiable edges"
)
_UNIQUE = (
    "which entries merge into one value depends on exact equality, so the result has no "
    "derivative where duplicates exist. Use np.unique(d.primal, return_index=True) and "
    "index the Dual with the returned indices: d[index]"
)

#: Functions deliberately without a rule, with the reason the error gives.
UNSUPPORTED_FUNCS = {
    np.histogram: _HIST,
    np.histogram2d: _HIST,
    np.histogramdd: _HIST,
    np.histogram_bin_edges: _HIST,
    np.unique: _UNIQUE,
    np.unique_values: _UNIQUE,
    np.unique_counts: _UNIQUE,
    np.unique_inverse: _UNIQUE,
    np.unique_all: _UNIQUE,
}

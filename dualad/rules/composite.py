"""Composites: NumPy functions differentiated through a definition in other NumPy calls.

NumPy writes many functions in Python (``np.linspace``, ``np.polyval``, ...), but their code
starts with ``np.asanyarray``, which a Dual or Variable refuses (it would drop the derivative).
Each entry here restates such a function with the same signature, using only NumPy calls that
have rules (or that are primal-only: comparisons, ``argsort``, ``searchsorted`` give plain
values on any wrapper). Both wrappers' ``__array_function__`` run the composite on their own
values, so forward mode, reverse mode and every nesting level differentiate it with no rule of
its own; tests compare each with NumPy's result and with central differences.

A composite must never call its own NumPy function on a wrapper (that would recurse). Options
the restatement does not cover raise ``NotImplementedError`` naming them. Imports numpy only.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

from dualad._numpy import np

#: {numpy function: its restatement}. Disjoint from RULES, PRIMAL_ONLY and UNSUPPORTED.
COMPOSITES: dict[Callable, Callable] = {}


def composite(func: Callable | None):
    """Register the decorated function as ``func``'s restatement (skipped when ``None``)."""

    def register(impl: Callable) -> Callable:
        if func is not None:  # None: a function this NumPy lacks (np.cumulative_sum < 2.1)
            COMPOSITES[func] = impl
            impl.__doc__ = impl.__doc__ or f"``numpy.{func.__name__}`` restated in NumPy calls."
        return impl

    return register


def unsupported_option(func: str, option: str, hint: str = "") -> NotImplementedError:
    """The error for an option a composite does not restate."""
    return NotImplementedError(
        f"dualad differentiates numpy.{func} without {option}{': ' + hint if hint else ''}"
    )


def _array(a):
    """``a`` as an array: wrappers and device arrays as they are, lists and numbers converted
    (a list holding wrappers is stacked, which keeps their derivatives)."""
    if hasattr(a, "__array_function__"):
        return a
    if type(a) in (list, tuple) and any(_is_wrapper(e) or type(e) in (list, tuple) for e in a):
        return np.stack([_array(e) for e in a])
    return np.asarray(a)


def _is_wrapper(a) -> bool:
    """A Dual or tape Variable (both set the nesting ``_level``), not a plain array."""
    return hasattr(a, "_level")


def _axis(axis, nd: int) -> int:
    """``axis`` counted from 0; NumPy's ``AxisError`` when out of range."""
    if not -nd <= axis < nd:
        raise np.exceptions.AxisError(axis, nd)
    return int(axis) % nd


def _along(a, axis: int, start=None, stop=None):
    """``a[start:stop]`` along ``axis``."""
    return a[(slice(None),) * axis + (slice(start, stop),)]


def _float_dtype(func: str, y, dtype):
    """``y`` cast to ``dtype``; an integer dtype has no derivative and is refused."""
    if dtype is None:
        return y
    if np.dtype(dtype).kind not in "fc":
        raise unsupported_option(func, f"dtype={dtype!r}", "an integer grid has no derivative")
    return y.astype(dtype)


# -- grids -------------------------------------------------------------------------------------


@composite(np.linspace)
def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0, *,
             device=None):  # fmt: skip
    """``np.linspace`` with differentiable end points (NumPy's own arithmetic, step form)."""
    num = int(num)
    if num < 0:
        raise ValueError(f"Number of samples, {num}, must be non-negative.")
    div = (num - 1) if endpoint else num
    start = start * 1.0
    stop = stop * 1.0
    delta = stop - start
    shape = (-1,) + (1,) * np.ndim(delta)
    y = np.reshape(np.arange(0, num, dtype=float), shape)
    if div > 0:
        step = delta / div
        y = y * step + start
    else:
        step = delta * np.nan
        y = y * delta + start
    if endpoint and num > 1:
        y = np.concatenate([y[:-1], np.broadcast_to(stop, (1,) + np.shape(delta))])
    if axis != 0:
        y = np.moveaxis(y, 0, axis)
    if dtype is not None and np.dtype(dtype).kind not in "fc":
        raise unsupported_option(
            "linspace", f"dtype={dtype!r}", "an integer grid has no derivative"
        )
    return (y, step) if retstep else y


@composite(np.logspace)
def logspace(start, stop, num=50, endpoint=True, base=10.0, dtype=None, axis=0):
    """``np.logspace``: ``base ** linspace(start, stop)``, differentiable in start, stop, base."""
    if np.ndim(base) > 0:  # an array base broadcasts with the end points, then gets the grid axis
        nd = max(np.ndim(start), np.ndim(stop), np.ndim(base))
        start, stop, base = (np.reshape(a, (1,) * (nd - np.ndim(a)) + np.shape(a))
                             for a in (start, stop, base))  # fmt: skip
        base = np.expand_dims(base, axis)
    y = np.power(base, linspace(start, stop, num, endpoint, axis=axis))
    return _float_dtype("logspace", y, dtype)


@composite(np.geomspace)
def geomspace(start, stop, num=50, endpoint=True, dtype=None, axis=0):
    """``np.geomspace``: ``10 ** linspace(log10(start), log10(stop))``, its ends exact."""
    start, stop = _array(start) * 1.0, _array(stop) * 1.0
    if np.any(start == 0) or np.any(stop == 0):
        raise ValueError("Geometric sequence cannot include zero")
    if np.result_type(start, stop).kind == "c":
        raise unsupported_option("geomspace", "complex end points")
    # negative end points: the grid from start/sign to stop/sign, times sign (as in NumPy, ends
    # of opposite signs give NaN inside, with NumPy's warning)
    sign = np.where(start < 0, -1.0, 1.0)  # a comparison: plain, no derivative
    start, stop = start / sign, stop / sign
    y = logspace(np.log10(start), np.log10(stop), num, endpoint)
    if num > 0:  # 10 ** log10(x) need not round back to x: the ends are start and stop
        end = (1,) + np.shape(y)[1:]
        inner = y[1:-1] if endpoint and num > 1 else y[1:]
        ends = [np.broadcast_to(stop, end)] if endpoint and num > 1 else []
        y = np.concatenate([np.broadcast_to(start, end), inner, *ends])
    y = y * sign
    if axis != 0:
        y = np.moveaxis(y, 0, axis)
    return _float_dtype("geomspace", y, dtype)


@composite(np.meshgrid)
def meshgrid(*xi, copy=True, sparse=False, indexing="xy"):
    """``np.meshgrid``: each 1-D input reshaped onto its own axis, then broadcast."""
    if indexing not in ("xy", "ij"):
        raise ValueError("Valid values for `indexing` are 'xy' and 'ij'.")
    n = len(xi)
    axes = list(range(n))
    if indexing == "xy" and n > 1:  # Cartesian: the first input varies along columns
        axes[:2] = [1, 0]
    grids = [np.reshape(x, [-1 if k == ax else 1 for k in range(n)]) for x, ax in zip(xi, axes)]
    if not sparse:
        shape = [0] * n
        for g, ax in zip(grids, axes):
            shape[ax] = np.shape(g)[ax]
        grids = [np.broadcast_to(g, shape) for g in grids]
    if copy:
        return tuple(np.copy(g) for g in grids)
    return tuple(grids) if not sparse else grids  # NumPy's sparse views come as a list


# -- polynomials -------------------------------------------------------------------------------


@composite(np.polyval)
def polyval(p, x):
    """``np.polyval`` by Horner's rule, as NumPy evaluates it."""
    if isinstance(p, np.poly1d):
        raise unsupported_option("polyval", "a poly1d", "pass its coefficients, p.coeffs")
    y = np.zeros_like(x * 1.0)
    for i in range(np.shape(p)[0]):
        y = y * x + p[i]
    return y


@composite(np.vander)
def vander(x, N=None, increasing=False):
    """``np.vander``: columns 1, x, x*x, ... as a cumulative product, as NumPy builds them."""
    x = _array(x)
    if np.ndim(x) != 1:
        raise ValueError("x must be a one-dimensional array or sequence.")
    n = np.shape(x)[0]
    N = n if N is None else int(N)
    if N < 0:
        raise ValueError("negative dimensions are not allowed")
    ones = np.ones((n, min(N, 1)), dtype=np.promote_types(np.result_type(x), int))
    powers = np.cumprod(np.broadcast_to(x[:, None], (n, max(N - 1, 0))), axis=1)
    v = np.concatenate([ones, powers], axis=1)
    return v if increasing else v[:, ::-1]


@composite(np.polyfit)
def polyfit(x, y, deg, rcond=None, full=False, w=None, cov=False):
    """``np.polyfit``: least squares on the column-scaled Vandermonde matrix, as NumPy solves it."""
    if cov:
        raise unsupported_option("polyfit", "cov=True")
    order = int(deg) + 1
    x, y = _array(x) + 0.0, _array(y) + 0.0
    if deg < 0:
        raise ValueError("expected deg >= 0")
    if np.ndim(x) != 1:
        raise TypeError("expected 1D vector for x")
    if np.size(x) == 0:
        raise TypeError("expected non-empty vector for x")
    if np.ndim(y) not in (1, 2):
        raise TypeError("expected 1D or 2D array for y")
    if np.shape(x)[0] != np.shape(y)[0]:
        raise TypeError("expected x and y to have same length")
    if rcond is None:
        rcond = np.shape(x)[0] * np.finfo(np.result_type(x)).eps
    lhs, rhs = vander(x, order), y
    if w is not None:  # weighted rows: w * (V c - y)
        w = _array(w) + 0.0
        if np.ndim(w) != 1:
            raise TypeError("expected a 1-d array for weights")
        if np.shape(w)[0] != np.shape(y)[0]:
            raise TypeError("expected w and y to have the same length")
        lhs = lhs * w[:, None]
        rhs = rhs * (w[:, None] if np.ndim(rhs) == 2 else w)
    scale = np.sqrt(np.sum(lhs * lhs, axis=0))  # unit columns condition the solve
    c, residuals, rank, s = np.linalg.lstsq(lhs / scale, rhs, rcond=rcond)
    c = c / np.reshape(scale, (-1,) + (1,) * (np.ndim(c) - 1))
    if full:  # NumPy's diagnostics, without its rank warning (as NumPy does with full=True)
        return c, residuals, rank, s, rcond
    if rank != order:
        warnings.warn("Polyfit may be poorly conditioned", np.exceptions.RankWarning, stacklevel=3)
    return c


# -- differences, sums, integrals --------------------------------------------------------------


def _spacing(h, m: int):
    """One axis's spacing for ``gradient``: a scalar step, or the steps between coordinates
    (a plain grid found uniform becomes its scalar step, as in NumPy)."""
    if np.ndim(h) == 0:
        return h
    if np.ndim(h) != 1:
        raise ValueError("distances must be either scalars or 1d")
    if np.shape(h)[0] != m:
        raise ValueError("when 1d, distances must match the length of the corresponding dimension")
    if _is_wrapper(h):  # always the non-uniform formula: a coordinate's perturbation breaks
        return np.diff(h)  # uniformity, so it has derivatives the uniform formula lacks
    h = np.asarray(h)
    dx = np.diff(h.astype(np.float64) if h.dtype.kind in "iub" else h)
    return dx[0] if np.all(dx == dx[0]) else dx


def _derivative_along(f, ax: int, dx, edge_order: int):
    """One axis of ``gradient``: NumPy's documented formulas, uniform or non-uniform steps."""
    nd = np.ndim(f)

    def at(i):  # f[i] along ax, keeping the axis
        return _along(f, ax, i, i + 1 or None)

    lo, mid, hi = _along(f, ax, None, -2), _along(f, ax, 1, -1), _along(f, ax, 2)
    if np.ndim(dx) == 0:  # uniform step
        inner = (hi - lo) / (2.0 * dx)
        d0 = dx1 = dx
    else:  # steps hs = dx1 before and hd = dx2 after each interior point

        def on_axis(d):
            return np.reshape(d, [-1 if k == ax else 1 for k in range(nd)])

        d1, d2 = on_axis(dx[:-1]), on_axis(dx[1:])
        a = -d2 / (d1 * (d1 + d2))
        b = (d2 - d1) / (d1 * d2)
        c = d1 / (d2 * (d1 + d2))
        inner = a * lo + b * mid + c * hi
        d0, dx1 = dx[0], dx[-1]
    if edge_order == 1:  # one-sided first differences
        first = (at(1) - at(0)) / d0
        last = (at(-1) - at(-2)) / dx1
    elif np.ndim(dx) == 0:  # one-sided second order, uniform
        first = -1.5 / dx * at(0) + 2.0 / dx * at(1) + -0.5 / dx * at(2)
        last = 0.5 / dx * at(-3) + -2.0 / dx * at(-2) + 1.5 / dx * at(-1)
    else:  # one-sided second order: the parabola through the three end points
        h1, h2 = dx[0], dx[1]
        a = -(2.0 * h1 + h2) / (h1 * (h1 + h2))
        b = (h1 + h2) / (h1 * h2)
        c = -h1 / (h2 * (h1 + h2))
        first = a * at(0) + b * at(1) + c * at(2)
        h1, h2 = dx[-2], dx[-1]
        a = h2 / (h1 * (h1 + h2))
        b = -(h2 + h1) / (h1 * h2)
        c = (2.0 * h2 + h1) / (h2 * (h1 + h2))
        last = a * at(-3) + b * at(-2) + c * at(-1)
    return np.concatenate([first, inner, last], axis=ax)


@composite(np.gradient)
def gradient(f, *varargs, axis=None, edge_order=1):
    """``np.gradient``: central differences inside, one-sided at the edges, any spacing."""
    if not _is_wrapper(f):
        f = np.asarray(f)
        f = f.astype(np.float64) if f.dtype.kind in "iub" else f
    nd = np.ndim(f)
    if axis is None:
        axes = tuple(range(nd))
    else:
        axes = tuple(_axis(a, nd) for a in ((axis,) if np.ndim(axis) == 0 else axis))
        if len(set(axes)) != len(axes):
            raise ValueError("repeated axis")
    n = len(varargs)
    if n == 0:
        spacing = [1.0] * len(axes)
    elif n == 1 and np.ndim(varargs[0]) == 0:
        spacing = list(varargs) * len(axes)
    elif n == len(axes):
        spacing = list(varargs)
    else:
        raise TypeError("invalid number of arguments")
    if edge_order > 2:
        raise ValueError("'edge_order' greater than 2 not supported")
    out = []
    for ax, h in zip(axes, spacing):
        m = np.shape(f)[ax]
        if m < edge_order + 1:
            raise ValueError(
                "Shape of array too small to calculate a numerical gradient, "
                "at least (edge_order + 1) elements are required."
            )
        out.append(_derivative_along(f, ax, _spacing(h, m), edge_order))
    return out[0] if len(out) == 1 else tuple(out)


@composite(getattr(np, "trapezoid", None))
def trapezoid(y, x=None, dx=1.0, axis=-1):
    """``np.trapezoid``: the sum of step * (y[i] + y[i+1]) / 2 along ``axis``."""
    y = _array(y)
    nd = np.ndim(y)
    ax = _axis(axis, nd)
    if x is None:
        d = dx
    elif np.ndim(x) == 1:  # one coordinate vector for the integration axis
        d = np.reshape(np.diff(x), [-1 if k == ax else 1 for k in range(nd)])
    else:
        d = np.diff(x, axis=axis)
    return np.sum(d * (_along(y, ax, 1) + _along(y, ax, None, -1)) / 2.0, axis=ax)


@composite(np.ediff1d)
def ediff1d(ary, to_end=None, to_begin=None):
    """``np.ediff1d``: differences of the flattened array, with optional ends attached."""
    a = np.ravel(ary)
    parts = [a[1:] - a[:-1]]
    for name, extra in (("to_begin", to_begin), ("to_end", to_end)):
        if extra is None:
            continue
        extra = np.ravel(extra)
        if not np.can_cast(np.result_type(extra), np.result_type(a), "same_kind"):
            raise TypeError(
                f"dtype of `{name}` must be compatible with input `ary` under the `same_kind` rule."
            )
        parts = [extra, *parts] if name == "to_begin" else [*parts, extra]
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


@composite(np.unwrap)
def unwrap(p, discont=None, axis=-1, *, period=2 * np.pi):
    """``np.unwrap``: adds the multiples of ``period`` that undo jumps; its tangent is p's."""
    p = _array(p)
    ax = _axis(axis, np.ndim(p))
    dd = np.diff(p, axis=ax)
    discont = period / 2 if discont is None else discont
    high = period / 2
    low = -high
    ddmod = np.mod(dd - low, period) + low  # dd mapped into [low, high)
    # a jump of exactly +period/2 stays +period/2 (low + period: same value, same tangent)
    ddmod = np.where((ddmod == low) & (dd > 0), ddmod + period, ddmod)
    # mod's derivative in its first argument is 1: ddmod - dd has a zero tangent, exactly
    correction = np.where(np.abs(dd) < discont, 0.0, ddmod - dd)
    rest = _along(p, ax, 1) + np.cumsum(correction, axis=ax)
    return np.concatenate([_along(p, ax, None, 1), rest], axis=ax)


def _cumulative(func, accumulate, initial, x, axis, dtype, out, include_initial):
    """``np.cumulative_sum``/``np.cumulative_prod`` through ``np.cumsum``/``np.cumprod``."""
    if out is not None:
        raise unsupported_option(func, "out=", "use the returned array")
    x = _array(x)
    if np.ndim(x) == 0:  # a scalar counts as a vector of one
        x = np.reshape(x, (1,))
    if axis is None:
        if np.ndim(x) > 1:
            raise ValueError(
                "For arrays which have more than one dimension ``axis`` argument is required."
            )
        axis = 0
    ax = _axis(axis, np.ndim(x))
    y = accumulate(x, axis=ax, dtype=dtype)
    if include_initial:  # the empty sum (product) first
        shape = list(np.shape(y))
        shape[ax] = 1
        y = np.concatenate([np.full(shape, initial, dtype=np.result_type(y)), y], axis=ax)
    return y


@composite(getattr(np, "cumulative_sum", None))
def cumulative_sum(x, /, *, axis=None, dtype=None, out=None, include_initial=False):
    """``np.cumulative_sum``: ``np.cumsum``, with an optional leading 0."""
    return _cumulative("cumulative_sum", np.cumsum, 0, x, axis, dtype, out, include_initial)


@composite(getattr(np, "cumulative_prod", None))
def cumulative_prod(x, /, *, axis=None, dtype=None, out=None, include_initial=False):
    """``np.cumulative_prod``: ``np.cumprod``, with an optional leading 1."""
    return _cumulative("cumulative_prod", np.cumprod, 1, x, axis, dtype, out, include_initial)


# -- elementwise -------------------------------------------------------------------------------


@composite(np.sinc)
def sinc(x):
    """``np.sinc``: sin(pi x) / (pi x), 1 at 0 (with its Taylor series, for higher orders)."""
    x = _array(x)
    zero = x == 0
    y = np.pi * np.where(zero, 1.0e-20, x)
    s = np.sin(y) / y
    if np.any(zero):  # NumPy's value there is exactly 1; the series adds the right derivatives
        z = (np.pi * x) ** 2
        s = np.where(zero, 1.0 - z / 6.0 + z * z / 120.0, s)
    return s


@composite(np.nan_to_num)
def nan_to_num(x, copy=True, nan=0.0, posinf=None, neginf=None):
    """``np.nan_to_num``: NaN and infinities replaced by constants (zero tangent there)."""
    x = _array(x)
    dt = np.result_type(x)
    if dt.kind == "c":
        raise unsupported_option("nan_to_num", "complex input")
    if dt.kind != "f":  # integers and booleans hold no NaN
        return x
    big = np.finfo(dt).max
    inf = np.isinf(x)  # copy=False: a wrapper is still returned new (only plain arrays change)
    y = np.where(np.isnan(x), nan, x)
    y = np.where(inf & (x > 0), big if posinf is None else posinf, y)
    return np.where(inf & (x < 0), -big if neginf is None else neginf, y)


# -- interpolation -----------------------------------------------------------------------------


@composite(np.interp)
def interp(x, xp, fp, left=None, right=None, period=None):
    """``np.interp``: piecewise-linear interpolation, differentiable in ``x`` and ``fp``."""
    if _is_wrapper(xp):
        raise unsupported_option(
            "interp", "a differentiable xp", "pass the sample points as a plain array"
        )
    x, xp, fp = _array(x), np.asarray(xp, dtype=np.float64), _array(fp)
    if np.ndim(xp) != 1 or np.ndim(fp) != 1:
        raise ValueError("xp and fp must be one-dimensional")
    if np.shape(xp)[0] == 0:
        raise ValueError("array of sample points is empty")
    if np.shape(fp)[0] != np.shape(xp)[0]:
        raise ValueError("fp and xp are not of the same length.")
    if period is not None:  # one period of sorted samples, padded by a wrapped point each side
        if period == 0:
            raise ValueError("period must be a non-zero value")
        period = abs(period)
        left = right = None
        x, xp = np.mod(x, period), np.mod(xp, period)
        order = np.argsort(xp)
        xp, fp = xp[order], fp[order]
        xp = np.concatenate([xp[-1:] - period, xp, xp[:1] + period])
        fp = np.concatenate([fp[-1:], fp, fp[:1]])
    left = fp[0] if left is None else left
    right = fp[-1] if right is None else right
    n = np.shape(xp)[0]
    if n == 1:
        return np.where(x < xp[0], left, np.where(x > xp[0], right, fp[0]))
    # segment j holds xp[j] <= x < xp[j + 1]; points outside use the end segments, then left/right
    j = np.clip(np.searchsorted(xp, x, side="right") - 1, 0, n - 2)
    x0, x1, f0, f1 = xp[j], xp[j + 1], fp[j], fp[j + 1]
    with np.errstate(divide="ignore", invalid="ignore"):  # repeated xp: silent, as in NumPy
        slope = (f1 - f0) / (x1 - x0)
        y = slope * (x - x0) + f0
        retry = np.isnan(y) & ~np.isnan(x)
        if np.any(retry):  # as NumPy: from the segment's other end, then f0 if it is flat
            y = np.where(retry, slope * (x - x1) + f1, y)
            y = np.where(retry & np.isnan(y) & (f0 == f1), f0, y)
    y = np.where(x == xp[-1], fp[-1], y)  # exactly fp[-1]; the right-hand slope there is 0
    return np.where(x < xp[0], left, np.where(x > xp[-1], right, y))


# -- tensor forms of the linear solvers --------------------------------------------------------


@composite(np.linalg.tensorinv)
def tensorinv(a, ind=2):
    """``np.linalg.tensorinv``: the inverse of ``a`` read as a matrix (first ``ind`` axes as
    rows), reshaped to ``a.shape[ind:] + a.shape[:ind]``."""
    if ind <= 0:
        raise ValueError("Invalid ind argument.")
    shape = tuple(np.shape(a))
    rows = int(np.prod(shape[:ind]))
    inv = np.linalg.inv(np.reshape(a, (rows, -1)))
    return np.reshape(inv, shape[ind:] + shape[:ind])


@composite(np.linalg.tensorsolve)
def tensorsolve(a, b, axes=None):
    """``np.linalg.tensorsolve``: ``x`` with ``tensordot(a, x, x.ndim) == b``, through one
    matrix solve (``axes``: axes of ``a`` moved to the end first)."""
    if axes is not None:
        moved = [ax % np.ndim(a) for ax in axes]
        a = np.moveaxis(a, moved, list(range(np.ndim(a) - len(moved), np.ndim(a))))
    bshape = tuple(np.shape(b))
    xshape = tuple(np.shape(a))[len(bshape) :]
    rows, cols = int(np.prod(bshape)), int(np.prod(xshape))
    if rows != cols:
        raise np.linalg.LinAlgError(
            "Input arrays must satisfy the requirement prod(a.shape[b.ndim:]) == "
            "prod(a.shape[:b.ndim])"
        )
    x = np.linalg.solve(np.reshape(a, (rows, cols)), np.reshape(b, (rows,)))
    return np.reshape(x, xshape)


# -- real-valued forms, casts, and piecewise constants ------------------------------------------


def _real_only(func: str, x) -> None:
    if np.iscomplexobj(x):
        raise unsupported_option(func, "complex input", "dualad differentiates real arithmetic")


@composite(np.fix)
def fix(x, out=None):
    """``np.fix``: rounding toward zero, piecewise constant (a zero derivative)."""
    if out is not None:
        raise unsupported_option("fix", "out=")
    return np.trunc(x)


@composite(np.angle)
def angle(z, deg=False):
    """``np.angle``: ``arctan2(imag, real)``; of a real array 0 or pi (piecewise constant)."""
    if np.iscomplexobj(z):
        a = np.arctan2(np.imag(z), np.real(z))
        return a * (180 / np.pi) if deg else a
    a = np.arctan2(np.zeros(np.shape(z)), np.where(np.signbit(z), -1.0, 1.0))
    return a * (180 / np.pi) if deg else a


@composite(np.real_if_close)
def real_if_close(a, tol=100):
    """``np.real_if_close``: the real part where every imaginary part is within ``tol``
    machine epsilons of 0 (decided on the values, as NumPy), else ``a`` itself."""
    if not np.iscomplexobj(a):
        return a
    eps = np.finfo(a.dtype).eps
    if tol > 1:
        tol = tol * eps
    return np.real(a) if bool(np.all(np.abs(np.imag(a)) < tol)) else a


@composite(getattr(np, "astype", None))
def astype(x, dtype, /, *, copy=True, device=None):
    """``np.astype``: the wrapper's own ``astype`` (float dtypes keep the derivative)."""
    return x.astype(dtype, copy=copy)


@composite(np.choose)
def choose(a, choices, out=None, mode="raise"):
    """``np.choose``: entry ``i`` from ``choices[a[i]]``, all broadcast together."""
    if out is not None:
        raise unsupported_option("choose", "out=")
    n = len(choices)
    idx = np.asarray(a)
    if mode == "wrap":
        idx = idx % n
    elif mode == "clip":
        idx = np.clip(idx, 0, n - 1)
    elif np.any((idx < 0) | (idx >= n)):
        raise ValueError("invalid entry in choice array")
    shape = np.broadcast_shapes(np.shape(idx), *(np.shape(c) for c in choices))
    stacked = np.stack([np.broadcast_to(c, shape) for c in choices])
    picked = np.take_along_axis(stacked, np.broadcast_to(idx, shape)[None], axis=0)
    return picked[0]


@composite(np.apply_over_axes)
def apply_over_axes(func, a, axes):
    """``np.apply_over_axes``: ``func(a, axis)`` for each axis in turn, keeping the rank."""
    nd = np.ndim(a)
    for axis in np.atleast_1d(np.asarray(axes)).tolist():
        axis = axis % nd
        res = func(a, axis)
        if np.ndim(res) == nd:
            a = res
        elif np.ndim(res) == nd - 1:
            a = np.expand_dims(res, axis)
        else:
            raise ValueError("function is not returning an array of the correct shape")
    return a


# -- polynomial arithmetic on coefficient arrays (highest power first) --------------------------


def _coefficients(func: str, p):
    if isinstance(p, np.poly1d):
        raise unsupported_option(func, "a poly1d", "pass its coefficients, p.coeffs")
    return np.atleast_1d(p)


def _aligned(func: str, a1, a2):
    """Both coefficient arrays, the shorter padded with leading zeros."""
    a1, a2 = _coefficients(func, a1), _coefficients(func, a2)
    d = np.shape(a2)[0] - np.shape(a1)[0]
    if d > 0:
        a1 = np.concatenate([np.zeros(d), a1])
    elif d < 0:
        a2 = np.concatenate([np.zeros(-d), a2])
    return a1, a2


@composite(np.polyadd)
def polyadd(a1, a2):
    """``np.polyadd``: the sum of two polynomials."""
    a1, a2 = _aligned("polyadd", a1, a2)
    return a1 + a2


@composite(np.polysub)
def polysub(a1, a2):
    """``np.polysub``: the difference of two polynomials."""
    a1, a2 = _aligned("polysub", a1, a2)
    return a1 - a2


@composite(np.polymul)
def polymul(a1, a2):
    """``np.polymul``: the product of two polynomials, a convolution of coefficients."""
    return np.convolve(_coefficients("polymul", a1), _coefficients("polymul", a2))


@composite(np.polyder)
def polyder(p, m=1):
    """``np.polyder``: the m-th derivative, each pass scaling by the powers."""
    m = int(m)
    if m < 0:
        raise ValueError("Order of derivative must be positive (see polyint)")
    p = _coefficients("polyder", p)
    for _ in range(m):
        n = np.shape(p)[0] - 1
        p = p[:-1] * np.arange(n, 0, -1.0) if n > 0 else np.zeros_like(p[:1])
    return p


@composite(np.polyint)
def polyint(p, m=1, k=None):
    """``np.polyint``: the m-th antiderivative with integration constants ``k`` (default 0)."""
    m = int(m)
    if m < 0:
        raise ValueError("Order of integral must be positive (see polyder)")
    p = _coefficients("polyint", p)
    ks = np.zeros(m) if k is None else np.atleast_1d(k)
    if np.shape(ks)[0] == 1 and m > 1:
        ks = ks[0] * np.ones(m)
    if np.shape(ks)[0] < m:
        raise ValueError("k must be a scalar or a rank-1 array of length 1 or >m.")
    for i in range(m):
        n = np.shape(p)[0]
        p = np.concatenate([p / np.arange(n, 0, -1.0), np.reshape(ks[i], (1,))])
    return p


@composite(np.poly)
def poly(seq_of_zeros):
    """``np.poly`` of a 1-D sequence of real roots: the product of the factors (x - r)."""
    if np.ndim(seq_of_zeros) != 1:
        raise unsupported_option(
            "poly", "a matrix", "its characteristic polynomial needs complex eigenvalues"
        )
    _real_only("poly", seq_of_zeros)
    a = np.ones(1)
    for i in range(np.shape(seq_of_zeros)[0]):
        a = np.convolve(a, np.stack([np.ones(()), -seq_of_zeros[i]]))
    return a


@composite(np.polydiv)
def polydiv(u, v):
    """``np.polydiv``: quotient and remainder by long division (leading zeros of the
    remainder dropped as NumPy does)."""
    u, v = _coefficients("polydiv", u) * 1.0, _coefficients("polydiv", v) * 1.0
    m, n = np.shape(u)[0] - 1, np.shape(v)[0] - 1
    scale = 1.0 / v[0]
    # element lists, stacked at the end: either of u and v may be the traced one, so no
    # array made from one can take the other's values
    r = [u[i] for i in range(m + 1)]
    qs = []
    for k in range(m - n + 1):
        d = scale * r[k]
        qs.append(d)
        for j in range(n + 1):
            r[k + j] = r[k + j] - d * v[j]
    q = np.stack(qs) if qs else np.zeros_like(u, shape=(1,))
    r = np.stack(r)
    while np.allclose(r[0], 0, rtol=1e-14) and np.shape(r)[-1] > 1:
        r = r[1:]
    return q, r


# -- fftshift: a roll, real-safe ------------------------------------------------------------------


def _shift_axes(x, axes):
    nd = np.ndim(x)
    axes = tuple(range(nd)) if axes is None else tuple(np.atleast_1d(np.asarray(axes)).tolist())
    return axes, [np.shape(x)[a] for a in axes]


@composite(np.fft.fftshift)
def fftshift(x, axes=None):
    """``np.fft.fftshift``: the zero frequency moved to the centre, a roll by n // 2."""
    axes, sizes = _shift_axes(x, axes)
    return np.roll(x, [n // 2 for n in sizes], axes)


@composite(np.fft.ifftshift)
def ifftshift(x, axes=None):
    """``np.fft.ifftshift``: the inverse roll, by -(n // 2)."""
    axes, sizes = _shift_axes(x, axes)
    return np.roll(x, [-(n // 2) for n in sizes], axes)

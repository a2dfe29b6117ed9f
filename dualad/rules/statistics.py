"""Statistics: cov, corrcoef, quantiles, nan-reductions, piecewise, apply_along_axis, round,
bincount.

Most are composites (``composite.composite``; see that module for the contract): NumPy's
Python code restated from the documented formulas in calls that have rules, so forward,
reverse and nested modes need nothing more. Order statistics come from ``np.sort`` and
``np.take_along_axis`` at plain indices (comparisons, ``isnan`` and ``searchsorted`` give
plain values on any wrapper), so a quantile's derivative is the linear interpolation between
its two order statistics. ``np.round``/``np.around`` (piecewise constant: a zero derivative)
and ``np.bincount`` (linear in its weights) are rules. Imports numpy only.
"""

from __future__ import annotations

import warnings

from numpy.lib.array_utils import normalize_axis_index, normalize_axis_tuple

from dualad._numpy import np

from ._define import shape_of
from .composite import composite, unsupported_option
from .reductions import (
    _NOVALUE,
    _flag,
    _given,
    _kd_shape,
    _refuse_out,
    _to_last,
    _weight_dtype,
    defchecked,
)
from .shape import _complex


def _float64_only(func: str, dtype) -> None:
    if dtype is not None and np.dtype(dtype) != np.float64:
        raise unsupported_option(func, f"dtype={dtype!r}", "it computes in float64")


def _no_out(func: str, out) -> None:
    if out is not None:
        raise unsupported_option(func, "out=", "use the returned value")


def _data_axes(axis, shape: tuple) -> tuple:
    return tuple(range(len(shape))) if axis is None else normalize_axis_tuple(axis, len(shape))


def _reduced(shape: tuple, axes: tuple, keepdims) -> tuple:
    """The result's shape: ``shape`` without ``axes``, or with 1 there for ``keepdims``."""
    if _flag(keepdims):
        return _kd_shape(shape, axes)
    return tuple(n for i, n in enumerate(shape) if i not in axes)


# -- covariance and correlation ----------------------------------------------------------------


def _variables(v, name: str, transpose: bool):
    """``v`` as a 2-D float array with one variable per row."""
    if np.ndim(v) > 2:
        raise ValueError(f"{name} has more than 2 dimensions")
    x = np.atleast_2d(v) * 1.0
    return np.transpose(x) if transpose else x


@composite(np.cov)
def cov(m, y=None, rowvar=True, bias=False, ddof=None, fweights=None, aweights=None, *,
        dtype=None):  # fmt: skip
    """``np.cov`` from its documented steps: centre each variable on its (weighted) mean, then
    ``C = X (X w)^H / fact``. Weights given as Duals or Variables are differentiated too."""
    _float64_only("cov", dtype)
    x = _variables(m, "m", not rowvar and np.ndim(m) != 1)
    if np.shape(x)[0] == 0:
        return np.zeros((0, 0))
    if y is not None:
        yy = _variables(y, "y", False)
        if not rowvar and np.shape(yy)[0] != 1:
            yy = np.transpose(yy)
        x = np.concatenate([x, yy], axis=0)
    n = np.shape(x)[1]
    if ddof is None:
        ddof = 0 if bias else 1
    w = None
    for name, v in (("fweights", fweights), ("aweights", aweights)):
        if v is None:
            continue
        if type(v) in (list, tuple):
            v = np.asarray(v, dtype=float)
        if name == "fweights" and not np.all(v == np.round(v)):
            raise TypeError("fweights must be integer")
        if np.ndim(v) > 1:
            raise RuntimeError(f"cannot handle multidimensional {name}")
        if np.shape(v)[0] != n:
            raise RuntimeError(f"incompatible numbers of samples and {name}")
        if np.any(v < 0):
            raise ValueError(f"{name} cannot be negative")
        w = v * 1.0 if w is None else w * v
    if w is None:
        fact = n - ddof
        x = x - np.mean(x, axis=1, keepdims=True)
        xw = x
    else:
        w_sum = np.sum(w)
        x = x - np.sum(x * w, axis=1, keepdims=True) / w_sum
        xw = x * w
        if ddof == 0:
            fact = w_sum
        elif aweights is None:
            fact = w_sum - ddof
        else:
            fact = w_sum - ddof * np.sum(w * aweights) / w_sum
    if fact <= 0:
        warnings.warn("Degrees of freedom <= 0 for slice", RuntimeWarning, stacklevel=3)
        fact = 0.0
    c = np.dot(x, np.conj(np.transpose(xw)))
    return np.squeeze(c * np.true_divide(1.0, fact))


@composite(np.corrcoef)
def corrcoef(x, y=None, rowvar=True, *, dtype=None):
    """``np.corrcoef``: ``C_ij / sqrt(C_ii C_jj)`` of the covariance, clipped to [-1, 1]."""
    c = cov(x, y, rowvar, dtype=dtype)
    if np.ndim(c) != 2:
        return c / c  # one variable: 1, or nan for a zero, inf or nan variance
    s = np.sqrt(np.real(np.diagonal(c)))
    c = c / s[:, None]
    c = c / s[None, :]
    if _complex(c):
        return np.clip(np.real(c), -1, 1) + 1j * np.clip(np.imag(c), -1, 1)
    return np.clip(c, -1, 1)


# -- quantiles ---------------------------------------------------------------------------------
# Hyndman & Fan's sample quantiles: with the n values of a slice sorted, a method maps q to a
# virtual index v; continuous methods interpolate linearly between the order statistics at
# floor(v) and floor(v) + 1 (both clipped to 0..n-1), discrete ones take one of them.

#: continuous methods v = n q + alpha + q (1 - alpha - beta) - 1 ('linear' is (n - 1) q)
_ALPHA_BETA = {
    "interpolated_inverted_cdf": (0.0, 1.0), "hazen": (0.5, 0.5), "weibull": (0.0, 0.0),
    "median_unbiased": (1 / 3.0, 1 / 3.0), "normal_unbiased": (3 / 8.0, 3 / 8.0),
}  # fmt: skip
_METHODS = ("linear", *_ALPHA_BETA, "lower", "higher", "nearest", "midpoint", "inverted_cdf",
            "averaged_inverted_cdf", "closest_observation")  # fmt: skip


def _floor(v, top: int):
    """floor(v) as plain integers clipped to -1..top (``v`` may be a wrapper)."""
    return np.searchsorted(np.arange(top + 1), v, side="right") - 1


def _positions(method: str, n, q, top: int):
    """(lower index, upper index, weight of the upper one or None): plain indices into each
    sorted slice of ``n`` valid values; the weight carries q's derivative where it has one."""
    last = np.maximum(n - 1, 0)
    if method in ("lower", "higher", "nearest", "midpoint"):
        v = (n - 1) * q
        lo = _floor(v, top)
        frac = v > lo  # v is not an integer
        if method == "midpoint":
            return np.maximum(lo, 0), np.clip(lo + frac, 0, last), np.where(frac, 0.5, 0.0)
        if method == "higher":
            lo = lo + frac
        elif method == "nearest":  # round half to even, as np.around
            lo = lo + ((v > lo + 0.5) | ((v == lo + 0.5) & (lo % 2 == 1)))
        i = np.clip(lo, 0, last)
        return i, i, None
    if method in ("inverted_cdf", "closest_observation"):
        v = n * q - 1 if method == "inverted_cdf" else n * q - 1 - 0.5
        lo = _floor(v, top)
        at = v == lo
        if method == "closest_observation":
            at = at & (lo % 2 == 1)
        i = np.clip(np.where(at, lo, lo + 1), 0, last)
        return i, i, None
    if method == "linear":
        v = (n - 1) * q
    elif method == "averaged_inverted_cdf":
        v = n * q - 1
    else:
        alpha, beta = _ALPHA_BETA[method]
        v = n * q + (alpha + q * (1 - alpha - beta)) - 1
    lo = _floor(v, top)
    below, above = v < 0, v >= n - 1  # both neighbours are the first or the last value
    i = np.where(below, 0, np.where(above, last, lo))
    j = np.where(below, 0, np.where(above, last, lo + 1))
    if method == "averaged_inverted_cdf":
        return i, j, np.where(v == lo, 0.5, 1.0)
    return i, j, v - lo


def _lerp(a, b, t):
    """a + (b - a) t, written from the nearer end for t >= 1/2 (exact at t = 0 and t = 1)."""
    d = b - a
    return np.where(t >= 0.5, b - d * (1 - t), a + d * t)


def _quantile(a, q, axis, method, keepdims, nan: bool, weak: bool = False):
    if method not in _METHODS:
        raise ValueError(f"{method!r} is not a valid method. Use one of: {_METHODS}")
    if np.ndim(q) > 2:
        raise ValueError("q must be a scalar or 1d")
    shape = np.shape(a)
    axes = _data_axes(axis, shape)
    s = np.sort(_to_last(a, axes), axis=-1)  # NaNs sort last
    top = np.shape(s)[-1] - 1
    if nan:
        n = np.sum(np.logical_not(np.isnan(s)), axis=-1, keepdims=True)
        if np.any(n == 0):
            warnings.warn("All-NaN slice encountered", RuntimeWarning, stacklevel=4)
    else:
        n = top + 1
    rest = np.shape(s)[:-1]
    dt = None
    if s.dtype.kind == "f":  # NumPy's result type: q a Python number promotes weakly
        dt = np.result_type(s.dtype, 0.0 if weak else getattr(q, "dtype", np.float64))
    i, j, t = _positions(method, n, np.reshape(q, (-1,)), top)
    if t is not None and dt is not None and t.dtype != dt:
        t = t.astype(dt)  # float32 data and a Python-float q: a float32 quantile
    i = np.broadcast_to(i, rest + np.shape(i)[-1:])
    res = np.take_along_axis(s, i, axis=-1)
    if t is not None:
        res = _lerp(res, np.take_along_axis(s, np.broadcast_to(j, np.shape(i)), axis=-1), t)
    if not nan:
        bad = np.isnan(s[..., -1:])  # a slice holding a NaN has a NaN quantile
        if np.any(bad):
            res = np.where(bad, np.nan, res)
    return np.reshape(np.moveaxis(res, -1, 0), np.shape(q) + _reduced(shape, axes, keepdims))


def _check_quantile_args(func: str, out, weights) -> None:
    _no_out(func, out)
    if weights is not None:
        raise unsupported_option(func, "weights=", "only unweighted quantiles are restated")


def _in_unit_interval(q, message: str):
    if type(q) in (list, tuple):
        q = np.asarray(q)
    if not (np.all(q >= 0) and np.all(q <= 1)):
        raise ValueError(message)
    return q


@composite(np.quantile)
def quantile(a, q, axis=None, out=None, overwrite_input=False, method="linear",
             keepdims=False, *, weights=None):  # fmt: skip
    """``np.quantile`` by sorting; differentiable in ``a`` and (for continuous methods) in
    ``q``. ``overwrite_input`` only permits reordering the input, so it is ignored."""
    _check_quantile_args("quantile", out, weights)
    weak = type(q) in (int, float)
    q = _in_unit_interval(q, "Quantiles must be in the range [0, 1]")
    return _quantile(a, q, axis, method, keepdims, nan=False, weak=weak)


@composite(np.percentile)
def percentile(a, q, axis=None, out=None, overwrite_input=False, method="linear",
               keepdims=False, *, weights=None):  # fmt: skip
    """``np.percentile``: ``np.quantile`` at ``q / 100``."""
    _check_quantile_args("percentile", out, weights)
    weak = type(q) in (int, float)
    q = _in_unit_interval(np.true_divide(q, 100), "Percentiles must be in the range [0, 100]")
    return _quantile(a, q, axis, method, keepdims, nan=False, weak=weak)


@composite(np.nanquantile)
def nanquantile(a, q, axis=None, out=None, overwrite_input=False, method="linear",
                keepdims=_NOVALUE, *, weights=None):  # fmt: skip
    """``np.nanquantile``: each slice's quantile over its non-NaN values (NaNs sort last)."""
    _check_quantile_args("nanquantile", out, weights)
    weak = type(q) in (int, float)
    q = _in_unit_interval(q, "Quantiles must be in the range [0, 1]")
    return _quantile(a, q, axis, method, keepdims, nan=True, weak=weak)


@composite(np.nanpercentile)
def nanpercentile(a, q, axis=None, out=None, overwrite_input=False, method="linear",
                  keepdims=_NOVALUE, *, weights=None):  # fmt: skip
    """``np.nanpercentile``: ``np.nanquantile`` at ``q / 100``."""
    _check_quantile_args("nanpercentile", out, weights)
    weak = type(q) in (int, float)
    q = _in_unit_interval(np.true_divide(q, 100), "Percentiles must be in the range [0, 100]")
    return _quantile(a, q, axis, method, keepdims, nan=True, weak=weak)


@composite(np.nanmedian)
def nanmedian(a, axis=None, out=None, overwrite_input=False, keepdims=_NOVALUE):
    """``np.nanmedian``: the mean of the middle one or two non-NaN values of each slice."""
    _no_out("nanmedian", out)
    shape = np.shape(a)
    axes = _data_axes(axis, shape)
    s = np.sort(_to_last(a, axes), axis=-1)
    n = np.sum(np.logical_not(np.isnan(s)), axis=-1, keepdims=True)
    if np.any(n == 0):
        warnings.warn("All-NaN slice encountered", RuntimeWarning, stacklevel=3)
    lo = np.take_along_axis(s, np.maximum((n - 1) // 2, 0), axis=-1)
    hi = np.take_along_axis(s, np.minimum(n // 2, np.shape(s)[-1] - 1), axis=-1)
    return np.reshape((lo + hi) / 2, _reduced(shape, axes, keepdims))


# -- nan-reductions ----------------------------------------------------------------------------


def _nanvar(func, a, axis, dtype, out, ddof, keepdims, where, mean, correction):
    _float64_only(func, dtype)
    _no_out(func, out)
    if _given(correction):
        if ddof != 0:
            raise ValueError("ddof and correction can't be provided simultaneously.")
        ddof = correction
    shape = np.shape(a)
    if shape == () and type(axis) is int and axis in (0, -1):
        axis = None  # NumPy's nan-reductions read axis 0 of a 0-d array as the whole of it
    keep = np.logical_not(np.isnan(a))
    if _given(where):
        keep = keep & where
    x = np.where(keep, a, 0.0)
    axes = _data_axes(axis, shape)
    count = np.sum(keep, axis=axes, keepdims=True)
    # counts in the data's real float type: an integer count would promote float32 to float64
    count = count.astype(_weight_dtype(a))
    if _given(mean):
        avg = mean
    else:
        avg = np.sum(x, axis=axes, keepdims=True) / np.maximum(count, 1)
    d = np.where(keep, x - avg, 0.0)
    sq = np.real(d * np.conj(d)) if _complex(d) else d * d
    dof = count - ddof
    var = np.sum(sq, axis=axes, keepdims=True) / np.where(dof > 0, dof, 1)
    if np.any(dof <= 0):
        warnings.warn("Degrees of freedom <= 0 for slice.", RuntimeWarning, stacklevel=4)
        var = np.where(dof > 0, var, np.nan)
    return np.reshape(var, _reduced(shape, axes, keepdims))


@composite(np.nanvar)
def nanvar(a, axis=None, dtype=None, out=None, ddof=0, keepdims=_NOVALUE, *, where=_NOVALUE,
           mean=_NOVALUE, correction=_NOVALUE):  # fmt: skip
    """``np.nanvar``: ``sum |x - mean|^2 / (count - ddof)`` over the non-NaN entries (and
    ``where``); NaN, with NumPy's warning, where ``count - ddof <= 0``."""
    return _nanvar("nanvar", a, axis, dtype, out, ddof, keepdims, where, mean, correction)


@composite(np.nanstd)
def nanstd(a, axis=None, dtype=None, out=None, ddof=0, keepdims=_NOVALUE, *, where=_NOVALUE,
           mean=_NOVALUE, correction=_NOVALUE):  # fmt: skip
    """``np.nanstd``: the square root of ``np.nanvar``; its derivative is 0 (not 0/0) where
    the variance is 0, as for ``np.std``."""
    v = _nanvar("nanstd", a, axis, dtype, out, ddof, keepdims, where, mean, correction)
    pos = v > 0
    return np.where(pos, np.sqrt(np.where(pos, v, 1.0)), v)


def _nan_as(a, value):
    nan = np.isnan(a)
    return np.where(nan, value, a) if np.any(nan) else a


@composite(np.nanprod)
def nanprod(a, axis=None, dtype=None, out=None, keepdims=_NOVALUE, initial=_NOVALUE,
            where=_NOVALUE):  # fmt: skip
    """``np.nanprod``: ``np.prod`` with NaNs read as 1."""
    _no_out("nanprod", out)
    kw = {k: v for k, v in (("initial", initial), ("where", where)) if _given(v)}
    return np.prod(_nan_as(a, 1.0), axis=axis, dtype=dtype, keepdims=_flag(keepdims), **kw)


@composite(np.nancumsum)
def nancumsum(a, axis=None, dtype=None, out=None):
    """``np.nancumsum``: ``np.cumsum`` with NaNs read as 0."""
    _no_out("nancumsum", out)
    return np.cumsum(_nan_as(a, 0.0), axis=axis, dtype=dtype)


@composite(np.nancumprod)
def nancumprod(a, axis=None, dtype=None, out=None):
    """``np.nancumprod``: ``np.cumprod`` with NaNs read as 1."""
    _no_out("nancumprod", out)
    return np.cumprod(_nan_as(a, 1.0), axis=axis, dtype=dtype)


# -- functions applied piecewise or along an axis ----------------------------------------------


def _is_condition(c) -> bool:
    """NumPy's test for ``condlist[0]`` being one condition (a list or an array) rather than
    an entry of a single condition; an array-like that is not a NumPy scalar counts too
    (the compile tracer's ``x < 0`` is a recorded mask, not an ndarray)."""
    if isinstance(c, (list, np.ndarray)):
        return True
    return not isinstance(c, (bool, int, float, complex, np.generic)) and hasattr(c, "shape")


@composite(np.piecewise)
def piecewise(x, condlist, funclist, *args, **kw):
    """``np.piecewise``: each function (or constant) evaluated on ``x[cond]`` and written into
    ``np.zeros_like(x)`` in order, so a later condition wins; one function more than
    conditions is the "otherwise" case."""
    if np.isscalar(condlist) or (not _is_condition(condlist[0]) and np.ndim(x) != 0):
        condlist = [condlist]
    conds = [np.asarray(c, dtype=bool) for c in condlist]  # conditions are plain booleans
    if len(conds) == len(funclist) - 1:
        conds.append(np.logical_not(np.any(conds, axis=0)))
    elif len(conds) != len(funclist):
        raise ValueError(
            f"with {len(conds)} condition(s), either {len(conds)} or {len(conds) + 1} "
            "functions are expected"
        )
    y = np.zeros_like(x)
    for cond, f in zip(conds, funclist):
        if not callable(f):
            y[cond] = f
            continue
        vals = x[cond]
        if np.size(vals) > 0:
            y[cond] = f(vals, *args, **kw)
    return y


@composite(np.apply_along_axis)
def apply_along_axis(func1d, axis, arr, *args, **kwargs):
    """``np.apply_along_axis``: ``func1d`` on every 1-D slice along ``axis``, results stacked;
    a result's own axes take the place of ``axis``."""
    nd = np.ndim(arr)
    axis = normalize_axis_index(axis, nd)
    x = np.moveaxis(arr, axis, -1)
    outer = np.shape(x)[:-1]
    if 0 in outer:
        raise ValueError("Cannot apply_along_axis when any iteration dimensions are 0")
    res = np.stack([func1d(x[i], *args, **kwargs) for i in np.ndindex(outer)])
    inner = np.shape(res)[1:]
    res = np.reshape(res, outer + inner)
    if not inner:
        return res
    k = len(outer)
    return np.moveaxis(res, tuple(range(k, k + len(inner))), tuple(range(axis, axis + len(inner))))


# -- rules: round (piecewise constant), bincount (linear in the weights) -----------------------


def round_jvp(dots, out, a, decimals=0, out_=None):
    """Piecewise constant: a zero tangent. Explicit zeros rather than None: the Hessian
    accumulation reads every recorded value's Jacobian as an array."""
    _refuse_out("round", out_)
    return np.zeros_like(dots[0])


def round_vjp(out_bar, out, a, decimals=0, out_=None):
    return (None, None, None)


def bincount_jvp(dots, out, x, weights=None, minlength=0):
    dw = dots[1] if len(dots) > 1 else None
    if dw is None:
        return None
    nbins = shape_of(out)[0]
    return np.stack([np.bincount(x, dw[j], nbins) for j in range(shape_of(dw)[0])])


def bincount_vjp(out_bar, out, x, weights=None, minlength=0):
    return (None, out_bar[:, np.asarray(x, dtype=np.intp)], None)  # x is a constant


defchecked(np.round, round_jvp, round_vjp, (0,))
defchecked(np.around, round_jvp, round_vjp, (0,))
defchecked(np.bincount, bincount_jvp, bincount_vjp, (1,))  # weights

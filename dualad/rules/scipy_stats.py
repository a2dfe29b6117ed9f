"""scipy.stats: the normal, Student t and gamma distributions, restated in calls with rules.

``norm``, ``t`` and ``gamma`` (and ``erlang``, a subclass of gamma's): ``logpdf``, ``pdf``,
``cdf``, ``logcdf``, ``sf`` and ``logsf``, called on the distribution
(``st.t.logpdf(x, df, loc=0, scale=1)``, shapes and ``loc``/``scale`` positional or by
keyword) or on a frozen one (``st.t(df, loc, scale).cdf(x)``: a frozen distribution calls the
method on a new instance of the same class, so replacing the method on the class covers
both). Each restatement parses its arguments with SciPy's own ``_parse_args``, decides where
the formula applies with SciPy's own ``_argcheck`` and support masks on the plain values, and
computes the value there with SciPy's formulas (``_logpdf``, ``_cdf``, the generic
``_logcdf``/``_logsf`` split at the median, ...) in ``np``/``scipy.special`` calls that have
rules: values equal SciPy's, derivatives of every order follow in ``x``, ``loc``, ``scale``
and, for the densities, the shape (``df``, ``a``). Elsewhere (invalid parameters, outside
the support, infinite ``x``) the value is SciPy's own, a constant. The distribution functions
of ``t`` and ``gamma`` have no closed-form derivative in their shape (``stdtr`` in ``df``,
``gammainc`` in ``a``): a wrapper there raises NotImplementedError naming the method.

``multivariate_normal`` (its ``logpdf``/``pdf``, frozen or not) differentiates in ``x`` and
``mean`` through SciPy's own NumPy code; in ``cov`` SciPy's eigendecomposition has a nan
derivative wherever eigenvalues repeat (``cov = s * np.eye(n)``, a scalar ``cov``), so a
``cov`` holding a wrapper goes through a Cholesky factor instead (positive definite ``cov``
only). Imports numpy and scipy.special; scipy.stats only through the methods handed over at
installation.
"""

from __future__ import annotations

import math

import numpy as _numpy  # the module itself: its asarray is intercepted while we run
import scipy.special as _special

from dualad._numpy import np

from .._foreign import holds_wrapper, target
from .._ops import strip
from .._tags import Leveled
from .special import sc


def _sc(name: str):
    """The scipy.special ufunc ``name`` (the ufunc itself where SCIPY_ARRAY_API=1 wraps it)."""
    return getattr(sc, name)


_ndtr, _log_ndtr, _stdtr, _poch = _sc("ndtr"), _sc("log_ndtr"), _sc("stdtr"), _sc("poch")
_xlogy, _gammaln, _gammainc, _gammaincc = (
    _sc("xlogy"), _sc("gammaln"), _sc("gammainc"), _sc("gammaincc")
)  # fmt: skip

# SciPy's constants, as Python floats (the same doubles as SciPy's np.float64 ones)
_NORM_C = float(np.sqrt(2 * np.pi))
_NORM_LOGC = float(np.log(np.sqrt(2 * np.pi)))
_LOG_PI = float(np.log(np.pi))
_INF = math.inf


def _arr(v):
    """``v`` as an array or a wrapper (a list holding wrappers is stacked by the intercepted
    ``numpy.asarray``)."""
    return v if isinstance(v, Leveled) else _numpy.asarray(v)


def _cast(v, dtype):
    return v if strip(v).dtype == dtype else v.astype(dtype)


# -- the standardised distributions: SciPy's _logpdf, _pdf, _cdf, ... of z = (x - loc)/scale --


def _norm_logpdf(z):
    return -(z**2) / 2.0 - _NORM_LOGC


def _norm_pdf(z):
    return np.exp(-(z**2) / 2.0) / _NORM_C


def _t_logpdf(z, df):
    finite = strip(df) != _INF  # df = inf is the normal distribution (as in SciPy)
    if np.all(finite):
        return _t_logpdf_finite(z, df)
    d = np.where(finite, df, 1.0)  # a finite df in the unused branch
    return np.where(finite, _t_logpdf_finite(z, d), _norm_logpdf(z))


def _t_logpdf_finite(z, df):
    return (
        np.log(_poch(0.5 * df, 0.5))
        - 0.5 * (np.log(df) + _LOG_PI)
        - (df + 1) / 2 * np.log1p(z * z / df)
    )


def _t_pdf(z, df):
    finite = strip(df) != _INF
    if np.all(finite):
        return np.exp(_t_logpdf_finite(z, df))
    d = np.where(finite, df, 1.0)
    return np.where(finite, np.exp(_t_logpdf_finite(z, d)), _norm_pdf(z))


def _log_tail(cdf, sf, median, upper: bool):
    """rv_continuous's own _logcdf (``upper`` false) or _logsf: the log of the tail below
    the median, log1p of minus the other tail above it. Each branch is evaluated where it is
    finite (the median stands in), so an unused branch sends no nan back in reverse mode."""
    near, far = (sf, cdf) if upper else (cdf, sf)

    def log_tail(z, *shapes):
        m = median(*(strip(s) for s in shapes))
        zp = strip(z)
        tail = zp > m if upper else zp < m
        with np.errstate(divide="ignore"):
            a = np.log(near(np.where(tail, z, m), *shapes))
            b = np.log1p(-far(np.where(tail, m, z), *shapes))
        return np.where(tail, a, b)

    return log_tail


def _t_cdf(z, df):
    return _stdtr(df, z)


def _t_sf(z, df):
    return _stdtr(df, -z)


def _t_median(df):  # t._ppf(0.5, df), on plain values
    return _special.stdtrit(df, 0.5)


def _gamma_logpdf(z, a):
    return _xlogy(a - 1.0, z) - z - _gammaln(a)


def _gamma_cdf(z, a):
    return _gammainc(a, z)


def _gamma_sf(z, a):
    return _gammaincc(a, z)


def _gamma_median(a):  # gamma._ppf(0.5, a), on plain values
    return _special.gammaincinv(a, 0.5)


class _Dist:
    """One distribution: its shapes and its formulas of the standardised variable."""

    def __init__(self, name, shapes, funcs, fixed=(), zero_edge=None):
        self.name = name
        self.shapes = shapes  # the shape parameters' names, in order
        self.funcs = funcs  # method -> f(z, *shapes)
        self.fixed = fixed  # methods with no derivative in the shapes
        self.zero_edge = zero_edge  # (z, *shapes), plain -> where the pdf is 0 at its edge


_DISTS = {
    "norm": _Dist(
        "norm",
        (),
        {
            "logpdf": _norm_logpdf,
            "pdf": _norm_pdf,
            "cdf": _ndtr,
            "logcdf": _log_ndtr,
            "sf": lambda z: _ndtr(-z),
            "logsf": lambda z: _log_ndtr(-z),
        },
    ),
    "t": _Dist(
        "t",
        ("df",),
        {
            "logpdf": _t_logpdf,
            "pdf": _t_pdf,
            "cdf": _t_cdf,
            "logcdf": _log_tail(_t_cdf, _t_sf, _t_median, upper=False),
            "sf": _t_sf,
            "logsf": _log_tail(_t_cdf, _t_sf, _t_median, upper=True),
        },
        fixed=("cdf", "logcdf", "sf", "logsf"),
    ),
    "gamma": _Dist(
        "gamma",
        ("a",),
        {
            "logpdf": _gamma_logpdf,
            "pdf": lambda z, a: np.exp(_gamma_logpdf(z, a)),
            "cdf": _gamma_cdf,
            "logcdf": _log_tail(_gamma_cdf, _gamma_sf, _gamma_median, upper=False),
            "sf": _gamma_sf,
            "logsf": _log_tail(_gamma_cdf, _gamma_sf, _gamma_median, upper=True),
        },
        fixed=("cdf", "logcdf", "sf", "logsf"),
        zero_edge=lambda z, a: (z == 0) & (a > 1),
    ),
}


def _restated(dist: _Dist, method: str, orig):
    """``dist.<method>(x, *shapes, loc=0, scale=1)`` as rv_continuous computes it."""
    func = dist.funcs[method]

    def impl(self, x_in, *args, **kwds):
        shapes, loc, scale = self._parse_args(*args, **kwds)  # SciPy's errors for bad args
        x, loc, scale = _arr(x_in), _arr(loc), _arr(scale)
        shapes = tuple(_arr(s) for s in shapes)
        if method in dist.fixed:
            for s, n in zip(shapes, dist.shapes):
                if isinstance(s, Leveled):  # self.name: erlang is gamma's subclass
                    raise NotImplementedError(
                        f"scipy.stats.{self.name}.{method}: dualad has no derivative with "
                        f"respect to {n} (the special function behind it has no closed-form "
                        f"partial in {n}); pass {n} as a constant (a plain value, or .primal "
                        "of a Dual)"
                    )
        # where SciPy computes the formula (decided by its own checks, on plain values), less
        # the infinite points, where the derivative is 0 (and the formula's is nan)
        dtyp = np.promote_types(strip(x).dtype, np.float64)
        ps = strip(scale)
        with np.errstate(divide="ignore", invalid="ignore"):  # SciPy's own call warns
            zp = np.asarray((strip(x) - strip(loc)) / ps, dtype=dtyp)
        sp = tuple(strip(s) for s in shapes)
        if method in ("logpdf", "pdf"):
            support = self._support_mask(zp, *sp)  # closed
        else:
            support = self._open_support_mask(zp, *sp)
        inside = self._argcheck(*sp) & (ps > 0) & support & np.isfinite(zp)
        if method == "pdf" and dist.zero_edge is not None:
            # a pdf of 0 at the end of its support is its minimum: derivative 0 (the
            # formula's is 0 * inf there)
            inside = inside & ~dist.zero_edge(zp, *sp)
        everywhere = bool(np.all(inside))
        if not everywhere:  # parameters kept valid where the formula's value is not used
            scale = np.where(ps > 0, scale, 1.0)
        z = _cast((x - loc) / scale, dtyp)
        if not everywhere:
            z = np.where(inside, z, 1.0)  # 1 lies inside every support here
            shapes = tuple(np.where(inside, s, 1.0) for s in shapes)
            scale = np.where(inside, scale, 1.0)
        out = func(z, *shapes)
        if method == "logpdf":
            out = out - np.log(scale)
        elif method == "pdf":
            out = out / scale
        out = _cast(out, dtyp)
        if not everywhere:  # elsewhere SciPy's own value (nan, -inf, 0 or 1), a constant
            plain = orig(self, strip(x_in), *strip(args), **{k: strip(v) for k, v in kwds.items()})
            out = np.where(inside, out, plain)
        elif np.shape(out) != np.shape(inside):
            out = np.broadcast_to(out, np.shape(inside))
        return out[()] if np.ndim(out) == 0 else out

    return impl


def _register(dist: _Dist, method: str):
    @target(f"scipy.stats.{dist.name}.{method}", "scipy.stats", method, owner=f"type:{dist.name}")
    def make(orig):
        return "restated", _restated(dist, method, orig)

    return make


for _d in _DISTS.values():
    for _m in _d.funcs:
        _register(_d, _m)


# -- multivariate_normal: mean and cov through a Cholesky factor ------------------------------
# SciPy factors cov by an eigendecomposition (_PSD); its derivative is nan where eigenvalues
# repeat (cov = s * eye(n), a scalar or constant-diagonal cov). multivariate_normal_gen's
# _process_parameters, which both the distribution's methods and a frozen one call, is
# restated when cov holds a wrapper: SciPy validates the plain values (its errors), then the
# covariance object below stands in for SciPy's.


class _CholeskyCov:
    """What multivariate_normal reads of SciPy's Covariance, from ``L L^T = cov``."""

    _allow_singular = False

    def __init__(self, cov, dim: int):
        self.covariance = cov  # as SciPy keeps it
        self.shape = (dim, dim)
        self.rank = np.array(dim)[()]
        # SciPy's eigh reads the lower triangle: so does this, mirrored
        sym = np.tril(cov) + np.swapaxes(np.tril(cov, -1), -1, -2)
        self._low = np.linalg.cholesky(sym)
        self.log_pdet = 2.0 * np.sum(np.log(np.diagonal(self._low)))

    def whiten(self, x):
        """``x L^-T`` along the last axis (so ``sum(whiten(d)**2)`` is d cov^-1 d)."""
        n = self.shape[0]
        cols = np.reshape(x, (-1, n)).T
        return np.reshape(np.linalg.solve(self._low, cols).T, np.shape(x))

    def colorize(self, x):
        return x @ self._low.T


def _mvn_process_parameters(orig):
    def process(self, mean, cov, allow_singular=True):
        if not holds_wrapper((cov,), {}):  # a plain cov (or SciPy's Covariance): SciPy's path
            return orig(self, mean, cov, allow_singular)
        # SciPy's own checks and errors on the plain values (not PSD, wrong shapes, ...)
        dim, _, plain = orig(self, strip(mean), strip(cov), allow_singular)
        if plain.rank < dim:
            raise NotImplementedError(
                "scipy.stats.multivariate_normal: dualad differentiates a positive definite "
                "cov only (this one is singular, allowed by allow_singular=True)"
            )
        dim, mean, cov = self._process_parameters_psd(None, mean, cov)
        return dim, mean, _CholeskyCov(cov, dim)

    return process


@target(
    "scipy.stats.multivariate_normal._process_parameters",
    "scipy.stats",
    "_process_parameters",
    owner="type:multivariate_normal",
)
def _make_mvn(orig):
    return "restated", _mvn_process_parameters(orig)

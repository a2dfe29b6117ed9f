"""scipy.stats: continuous distributions restated in calls with rules, and multivariate_normal.

``norm``, ``t``, ``gamma`` (and ``erlang``, a subclass of gamma's), ``expon``, ``logistic``,
``cauchy``, ``laplace``, ``lognorm``, ``beta``, ``uniform``, ``weibull_min``, ``chi2``,
``exponweib``, ``gumbel_r``, ``pareto``, ``halfnorm`` and ``invgamma``: ``logpdf``, ``pdf``,
``cdf``, ``logcdf``, ``sf`` and ``logsf``, called on the distribution
(``st.t.logpdf(x, df, loc=0, scale=1)``, shapes and ``loc``/``scale`` positional or by
keyword) or on a frozen one (``st.t(df, loc, scale).cdf(x)``: a frozen distribution calls the
method on a new instance of the same class, so replacing the method on the class covers
both). Each restatement parses its arguments with SciPy's own ``_parse_args``, decides where
the formula applies with SciPy's own ``_argcheck`` and support masks on the plain values, and
computes the value there with SciPy's formulas (``_logpdf``, ``_cdf``, the generic
``_logcdf``/``_logsf`` split at the median, ...) in ``np``/``scipy.special`` calls that have
rules: values equal SciPy's (where a formula meets SciPy's only to rounding, SciPy's value
with the difference added as a constant), derivatives of every order follow in ``x``,
``loc``, ``scale`` and the shapes. Elsewhere (invalid parameters, outside the support,
infinite ``x`` or shapes, the ends of the support where a density is 0 or infinite, values
that overflow in the formula) the value is SciPy's own, a constant. The distribution
functions (``cdf``, ``logcdf``, ``sf``, ``logsf``) of ``t``, ``gamma``, ``beta``, ``chi2``
and ``invgamma`` have no closed-form derivative in their shapes (``stdtr`` in ``df``,
``gammainc`` in ``a``, ``betainc`` in ``a`` and ``b``, ...): a wrapper there raises
NotImplementedError naming the method.

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
from .._tracing import decide
from .special import sc


def _sc(name: str):
    """The scipy.special ufunc ``name`` (the ufunc itself where SCIPY_ARRAY_API=1 wraps it)."""
    return getattr(sc, name)


_ndtr, _log_ndtr, _stdtr, _poch = _sc("ndtr"), _sc("log_ndtr"), _sc("stdtr"), _sc("poch")
_xlogy, _gammaln, _gammainc, _gammaincc = (
    _sc("xlogy"), _sc("gammaln"), _sc("gammainc"), _sc("gammaincc")
)  # fmt: skip
_xlog1py, _betaln, _betainc, _betaincc = (
    _sc("xlog1py"), _sc("betaln"), _sc("betainc"), _sc("betaincc")
)  # fmt: skip
_expm1, _log1p, _expit, _log_expit = _sc("expm1"), _sc("log1p"), _sc("expit"), _sc("log_expit")
_erf, _chdtr, _chdtrc = _sc("erf"), _sc("chdtr"), _sc("chdtrc")
# SciPy's private ufuncs behind two medians (plain values only); None if absent
_UFUNCS = getattr(_special, "_ufuncs", None)
_BETA_PPF = getattr(_UFUNCS, "_beta_ppf", None)
_CAUCHY_PPF = getattr(_UFUNCS, "_cauchy_ppf", None)

# SciPy's constants, as Python floats (the same doubles as SciPy's np.float64 ones)
_NORM_C = float(np.sqrt(2 * np.pi))
_NORM_LOGC = float(np.log(np.sqrt(2 * np.pi)))
_LOG_PI = float(np.log(np.pi))
_LOG_2 = float(np.log(2))
_SQRT2 = float(np.sqrt(2))
_HALFNORM_C = float(np.sqrt(2.0 / np.pi))
_HALFNORM_LOGC = float(0.5 * np.log(2.0 / np.pi))
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
    finite = decide(np.not_equal, df, _INF)  # df = inf is the normal distribution (as in SciPy)
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
    finite = decide(np.not_equal, df, _INF)
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
        m = decide(median, *shapes)
        tail = decide(np.greater if upper else np.less, z, m)
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


def _abs(z):
    """``|z|`` with the derivative of ``z`` at 0 (``abs`` has none there): SciPy's formulas
    that are smooth in ``z`` through ``|z|`` keep their derivatives of every order at 0."""
    return np.where(decide(np.greater_equal, z, 0), z, -z)


def _expon_cdf(z):
    return -_expm1(-z)


def _logistic_logpdf(z):
    y = -_abs(z)
    return y - 2.0 * _log1p(np.exp(y))


def _cauchy_logpdf(z):
    t = _abs(z)
    small = decide(np.less, t, 1)  # SciPy's two branches, each evaluated where it is finite
    ts, tl = np.where(small, t, 0.5), np.where(small, 2.0, t)
    return np.where(
        small,
        -_LOG_PI - np.log1p(ts**2),
        -_LOG_PI - (2 * np.log(tl) + np.log1p((1 / tl) ** 2)),
    )


def _laplace_cdf(z):
    pos = decide(np.greater, z, 0)
    return np.where(
        pos, 1.0 - 0.5 * np.exp(-np.where(pos, z, 0.0)), 0.5 * np.exp(np.where(pos, 0.0, z))
    )


def _lognorm_logpdf(z, s):
    return -(np.log(z) ** 2) / (2 * s**2) - np.log(s * z * _NORM_C)


def _beta_logpdf(z, a, b):
    return _xlog1py(b - 1.0, -z) + _xlogy(a - 1.0, z) - _betaln(a, b)


def _beta_median(a, b):  # beta._ppf(0.5, a, b)
    return _BETA_PPF(0.5, a, b) if _BETA_PPF is not None else _special.betaincinv(a, b, 0.5)


def _weibull_logsf(z, c):
    return -pow(z, c)


def _chi2_logpdf(z, df):
    return _xlogy(df / 2.0 - 1, z) - z / 2.0 - _gammaln(df / 2.0) - (_LOG_2 * df) / 2.0


def _exponweib_logpdf(z, a, c):
    negxc = -(z**c)
    exm1c = -_expm1(negxc)
    return np.log(a) + np.log(c) + _xlogy(a - 1.0, exm1c) + negxc + _xlogy(c - 1.0, z)


def _exponweib_cdf(z, a, c):
    return (-_expm1(-(z**c))) ** a


def _exponweib_sf(z, a, c):
    """SciPy's ``-_pow1pm1(-exp(-x**c), a)``, ``-expm1(xlog1py(a, -exp(-x**c)))``, whose
    ``log1p(-exp(-t))`` is -inf where ``exp(-t)`` rounds to 1 (a nan derivative); below
    ``t = log 2`` the same ``log(1 - exp(-t))`` as ``log(-expm1(-t))`` (SciPy's value still,
    see ``_restated``)."""
    t = z**c
    small = decide(np.less, t, _LOG_2)
    ts, tl = np.where(small, t, 0.5), np.where(small, 1.0, t)
    return -np.expm1(np.where(small, a * np.log(-_expm1(-ts)), _xlog1py(a, -np.exp(-tl))))


def _exponweib_flat(z, a, c):  # where x**c overflows or underflows
    with np.errstate(all="ignore"):
        t = z**c
    return np.isinf(t) | ((t == 0) & (z > 0))


def _exponweib_median(a, c):
    return (-_special.log1p(-(0.5 ** (1.0 / a)))) ** np.asarray(1.0 / c)


def _gumbel_logpdf(z):
    return -z - np.exp(-z)


def _gumbel_cdf(z):
    return np.exp(-np.exp(-z))


def _gumbel_sf(z):
    return -_expm1(-np.exp(-z))


def _pareto_pdf(z, b):
    return b * z ** (-b - 1)


def _pareto_cdf(z, b):
    return 1 - z ** (-b)


def _pareto_sf(z, b):
    return z ** (-b)


def _halfnorm_cdf(z):
    return _erf(z / _SQRT2)


def _halfnorm_sf(z):
    return 2 * _ndtr(-z)


def _invgamma_logpdf(z, a):
    return -(a + 1) * np.log(z) - _gammaln(a) - 1.0 / z


def _invgamma_cdf(z, a):
    return _gammaincc(a, 1.0 / z)


def _invgamma_sf(z, a):
    return _gammainc(a, 1.0 / z)


def _overflows(f):
    """Where ``f`` of the plain values overflows: the value is a constant to double precision
    there (its derivatives underflow), and the formula's derivative would be 0 * inf."""

    def where(*args):
        with np.errstate(all="ignore"):
            return np.isinf(f(*args))

    return where


def _exp_of_log(logpdf):
    return lambda *args: np.exp(logpdf(*args))


def _log_of(pdf):
    return lambda *args: np.log(pdf(*args))


def _sf_of(cdf):  # rv_generic's _sf
    return lambda *args: 1.0 - cdf(*args)


class _Dist:
    """One distribution: its shapes and its formulas of the standardised variable."""

    def __init__(self, name, shapes, funcs, fixed=(), inner=1.0, flat=None, inf_shape=False):
        self.name = name
        self.shapes = shapes  # the shape parameters' names, in order
        self.funcs = funcs  # method -> f(z, *shapes)
        self.fixed = fixed  # methods with no derivative in the shapes
        self.inner = inner  # a z inside the open support, for every valid shape
        # (z, *shapes), plain -> where the value of the methods but logpdf is a constant to
        # double precision (or None)
        self.flat = flat
        self.inf_shape = inf_shape  # whether the formulas hold at an infinite shape


def _dist(name, shapes, *, logpdf=None, pdf=None, cdf, sf=None, logcdf=None, logsf=None,
          median=None, **kwds):  # fmt: skip
    """A ``_Dist`` with rv_continuous's generic methods where SciPy's class has none:
    ``_logpdf`` (the log of ``_pdf``), ``_sf`` (1 - ``_cdf``), ``_logcdf`` and ``_logsf`` (split
    at ``median``, SciPy's ``_ppf(0.5, *shapes)`` on plain values)."""
    logpdf = logpdf or _log_of(pdf)
    sf = sf or _sf_of(cdf)
    funcs = {
        "logpdf": logpdf,
        "pdf": pdf or _exp_of_log(logpdf),
        "cdf": cdf,
        "logcdf": logcdf or _log_tail(cdf, sf, median, upper=False),
        "sf": sf,
        "logsf": logsf or _log_tail(cdf, sf, median, upper=True),
    }
    return _Dist(name, shapes, funcs, **kwds)


_FIXED = ("cdf", "logcdf", "sf", "logsf")
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
        fixed=_FIXED,
        inf_shape=True,
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
        fixed=_FIXED,
    ),
    "expon": _dist(
        "expon",
        (),
        logpdf=lambda z: -z,
        pdf=lambda z: np.exp(-z),
        cdf=_expon_cdf,
        sf=lambda z: np.exp(-z),
        logsf=lambda z: -z,
        median=lambda: -_special.log1p(-0.5),
    ),
    "logistic": _dist(
        "logistic",
        (),
        logpdf=_logistic_logpdf,
        cdf=_expit,
        logcdf=_log_expit,
        sf=lambda z: _expit(-z),
        logsf=lambda z: _log_expit(-z),
    ),
    "cauchy": _dist(
        "cauchy",
        (),
        logpdf=_cauchy_logpdf,
        pdf=lambda z: 1.0 / np.pi / (1.0 + z * z),
        cdf=lambda z: np.arctan2(1, -z) / np.pi,
        sf=lambda z: np.arctan2(1, z) / np.pi,
        median=lambda: _CAUCHY_PPF(0.5, 0, 1) if _CAUCHY_PPF is not None else 0.0,
    ),
    "laplace": _dist(
        "laplace",
        (),
        pdf=lambda z: 0.5 * np.exp(-_abs(z)),
        cdf=_laplace_cdf,
        sf=lambda z: _laplace_cdf(-z),
        median=lambda: np.log(2 * 0.5),
    ),
    "lognorm": _dist(
        "lognorm",
        ("s",),
        logpdf=_lognorm_logpdf,
        cdf=lambda z, s: _ndtr(np.log(z) / s),
        logcdf=lambda z, s: _log_ndtr(np.log(z) / s),
        sf=lambda z, s: _ndtr(-(np.log(z) / s)),
        logsf=lambda z, s: _log_ndtr(-(np.log(z) / s)),
    ),
    "beta": _dist(
        "beta",
        ("a", "b"),
        logpdf=_beta_logpdf,
        pdf=_exp_of_log(_beta_logpdf),  # SciPy's is Boost's beta density (see _restated)
        cdf=lambda z, a, b: _betainc(a, b, z),
        sf=lambda z, a, b: _betaincc(a, b, z),
        median=_beta_median,
        fixed=_FIXED,
        inner=0.5,
    ),
    "uniform": _dist(
        "uniform",
        (),
        pdf=lambda z: z * 0.0 + 1.0,  # SciPy's 1.0 * (x == x), with a (zero) derivative
        cdf=lambda z: z,
        median=lambda: 0.5,
        inner=0.5,
    ),
    "weibull_min": _dist(
        "weibull_min",
        ("c",),
        logpdf=lambda z, c: np.log(c) + _xlogy(c - 1, z) - pow(z, c),
        pdf=lambda z, c: c * pow(z, c - 1) * np.exp(-pow(z, c)),
        cdf=lambda z, c: -_expm1(-pow(z, c)),
        sf=lambda z, c: np.exp(_weibull_logsf(z, c)),
        logsf=_weibull_logsf,
        median=lambda c: pow(-_special.log1p(-0.5), 1.0 / c),
        flat=_overflows(pow),
    ),
    "chi2": _dist(
        "chi2",
        ("df",),
        logpdf=_chi2_logpdf,
        cdf=lambda z, df: _chdtr(df, z),
        sf=lambda z, df: _chdtrc(df, z),
        median=lambda df: 2 * _special.gammaincinv(df / 2, 0.5),
        fixed=_FIXED,
    ),
    "exponweib": _dist(
        "exponweib",
        ("a", "c"),
        logpdf=_exponweib_logpdf,
        cdf=_exponweib_cdf,
        sf=_exponweib_sf,
        median=_exponweib_median,
        flat=_exponweib_flat,
    ),
    "gumbel_r": _dist(
        "gumbel_r",
        (),
        logpdf=_gumbel_logpdf,
        cdf=_gumbel_cdf,
        logcdf=lambda z: -np.exp(-z),
        sf=_gumbel_sf,
        median=lambda: -np.log(-np.log(0.5)),
        flat=_overflows(lambda z: np.exp(-z)),
    ),
    "pareto": _dist(
        "pareto",
        ("b",),
        pdf=_pareto_pdf,
        cdf=_pareto_cdf,
        sf=_pareto_sf,
        median=lambda b: pow(1 - 0.5, -1.0 / b),
        inner=2.0,
    ),
    "halfnorm": _dist(
        "halfnorm",
        (),
        logpdf=lambda z: _HALFNORM_LOGC - z * z / 2.0,
        pdf=lambda z: _HALFNORM_C * np.exp(-z * z / 2.0),
        cdf=_halfnorm_cdf,
        sf=_halfnorm_sf,
        median=lambda: _special.ndtri((1 + 0.5) / 2.0),
    ),
    "invgamma": _dist(
        "invgamma",
        ("a",),
        logpdf=_invgamma_logpdf,
        cdf=_invgamma_cdf,
        sf=_invgamma_sf,
        median=lambda a: 1.0 / _special.gammainccinv(a, 0.5),
        fixed=_FIXED,
        flat=_overflows(lambda z, a: 1.0 / (z * z)),
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
        # SciPy's own value everywhere: the formula below is used where SciPy computes its
        # own (decided by its own checks, on plain values: under dualad.compile again at
        # each call, see ``decide``), less the points where the value is a constant
        dtyp = np.promote_types(x.dtype, np.float64)
        both = decide(_Inside(self, dist, method, orig, dtyp), x, tuple(args), **kwds)
        plain, inside = both[0], both[1]
        everywhere = bool(np.all(inside))
        if not everywhere:  # parameters kept valid where the formula's value is not used
            scale = np.where(decide(np.greater, scale, 0), scale, 1.0)
        z = _cast((x - loc) / scale, dtyp)
        if not everywhere:
            z = np.where(inside, z, dist.inner)
            shapes = tuple(np.where(inside, s, 1.0) for s in shapes)
            scale = np.where(inside, scale, 1.0)
        out = func(z, *shapes)
        if method == "logpdf":
            out = out - np.log(scale)
        elif method == "pdf":
            out = out / scale
        out = _cast(out, dtyp)
        # the formula meets SciPy's value to an ulp or two where it is not SciPy's own
        # expression (Boost's beta density; NumPy's power takes another path for an exponent
        # of one element, which SciPy's argsreduce hands it or not): SciPy's value, the
        # difference added as a constant (exactly so: the two lie within a factor 2)
        out = out + decide(_fix, inside, plain, out)
        if not everywhere:  # elsewhere SciPy's own value (nan, -inf, 0 or 1), a constant
            out = np.where(inside, out, plain)
        return out[()] if np.ndim(out) == 0 else out

    return impl


class _Inside:
    """``(SciPy's value, where the formula stands for it)`` of ``dist.<method>(x, *args,
    **kwds)``, on plain values. The formula is used where SciPy computes its own (by its own
    checks), less the points where the value is a constant: infinite x or shape (t's df
    aside), an infinite or nan value (the log of a density at its edge), a density of 0 (the
    end of its support, or underflow: its derivative is 0 there, the formula's 0 * inf) and
    the distribution's flat points."""

    def __init__(self, owner, dist: _Dist, method: str, orig, dtyp):
        self.owner, self.dist, self.method, self.orig, self.dtyp = owner, dist, method, orig, dtyp
        self.__name__ = f"{dist.name}.{method}"

    def __call__(self, x, args, **kwds):
        owner, dist, method = self.owner, self.dist, self.method
        plain = self.orig(owner, x, *args, **kwds)
        sp, loc, ps = owner._parse_args(*args, **kwds)
        ps = np.asarray(ps)
        with np.errstate(divide="ignore", invalid="ignore"):  # SciPy's own call warns
            zp = np.asarray((np.asarray(x) - np.asarray(loc)) / ps, dtype=self.dtyp)
        sp = tuple(np.asarray(s) for s in sp)
        if method in ("logpdf", "pdf"):
            support = owner._support_mask(zp, *sp)  # closed
        else:
            support = owner._open_support_mask(zp, *sp)
        inside = owner._argcheck(*sp) & (ps > 0) & support & np.isfinite(zp) & np.isfinite(plain)
        if not dist.inf_shape:
            for s in sp:
                inside = inside & np.isfinite(s)
        if method == "pdf":
            inside = inside & (plain != 0)
        if dist.flat is not None and method != "logpdf" and np.any(inside):
            with np.errstate(all="ignore"):
                inside = inside & ~dist.flat(np.where(inside, zp, dist.inner), *sp)
        return plain, inside


def _fix(inside, plain, out):
    """SciPy's value less the formula's where the formula is used (see ``_restated``)."""
    with np.errstate(invalid="ignore"):
        return np.where(inside, plain - out, 0.0)


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

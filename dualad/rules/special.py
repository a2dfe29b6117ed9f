"""scipy.special ufuncs, each stated once by its partial derivatives (real inputs).

Imported only when scipy is installed. Partials call ufuncs that have rules here too, so every
order works. Arguments with no closed-form derivative (orders, shape parameters) raise when a
tangent or cotangent reaches them; integer-only arguments are ``None``. Imports numpy and scipy.
"""

from __future__ import annotations

import math

import scipy.special as _scipy_special

from dualad._numpy import np

from ._define import defpartials, defrule, defzero, func_name

# Python floats, not NumPy scalars: those would promote float32 data to float64 (NEP 50)
_2_SQRTPI = 2 / math.sqrt(math.pi)
_SQRTPI_2 = math.sqrt(math.pi) / 2
_SQRT_2PI = math.sqrt(2 * math.pi)
_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)
_SQRT1_2 = math.sqrt(0.5)
_SQRT_2_PI = math.sqrt(2 / math.pi)
_SQRT2 = math.sqrt(2.0)
_LN2 = math.log(2.0)
_LN10 = math.log(10.0)
_DEG = np.pi / 180


class _Ufuncs:
    """``scipy.special`` with its functions as the ufuncs themselves: under
    ``SCIPY_ARRAY_API=1`` SciPy wraps each ufunc in a Python function (which reaches the
    ufunc after its array-API dispatch), so rules are keyed, and partials call, the ufunc."""

    def __getattr__(self, name: str):
        f = getattr(_scipy_special, name)
        inner = getattr(f, "__wrapped__", None)
        return inner if isinstance(inner, np.ufunc) else f


sc = _Ufuncs()

# the ufuncs behind the Python function scipy.special.zeta: private names, so looked up
# softly (an ImportError here would drop every scipy rule)
_UFUNCS = getattr(sc, "_ufuncs", None)
_HURWITZ = getattr(_UFUNCS, "_zeta", None)
_RIEMANN = getattr(_UFUNCS, "_riemann_zeta", None)


def _fixed(func, arg: str):
    """Partial of a differentiable argument with no closed form here: it raises instead of
    returning zero, so a derivative with respect to ``arg`` is never silently dropped."""
    name = func_name(func)

    def partial(out, *args):
        raise NotImplementedError(
            f"dualad has no derivative of {name} with respect to its argument {arg} (only the "
            f"others are differentiated). Pass {arg} as a constant (a plain array, or .primal "
            "of a Dual) if its derivative is not needed."
        )

    return partial


def _defpartials_fixed(func, *partials, name: str | None = None):
    """``defpartials`` for a function with a ``_fixed`` argument.

    The rule keeps no ``partials``: the scalar fast paths would otherwise record on the tape
    with ``needs=None`` and evaluate (and raise in) the partial of a constant argument.
    """
    rule = defpartials(func, *partials, name=name)
    return defrule(func, rule.jvp, rule.vjp, rule.name)


def _defmulti(func, *partials, singular: tuple = ()):
    """A one-input ufunc with several outputs; ``partials[i](out, x)`` is d out[i] / dx.

    ``singular`` lists outputs whose partial can be infinite: the tape gives an unused output
    a zero cotangent (and seeds have zero directions), and 0 * inf must not become NaN.
    """

    def term(i, p, out, x, d):
        pv = p(out, x)
        if i in singular:  # a zero direction or cotangent contributes 0, not 0 * inf
            pv = np.where(d == 0, 0.0, pv)
        return d * pv

    def jvp(dots, out, x):
        d = dots[0]
        if d is None:
            return None
        return tuple(term(i, p, out, x, d) for i, p in enumerate(partials))

    def vjp(out_bar, out, x):
        g = None
        for i, (p, b) in enumerate(zip(partials, out_bar)):
            if b is not None:
                t = term(i, p, out, x, b)
                g = t if g is None else g + t
        return (g,)

    return defrule(func, jvp, vjp)


def _horner(t, coeffs):
    """``sum_k coeffs[k] t**k``: on a Dual its derivatives are the polynomial's, exactly."""
    acc = coeffs[-1]
    for c in coeffs[-2::-1]:
        acc = acc * t + c
    return acc


def _piecewise(cond, near, far, args, near_fill=(), far_fill=()):
    """``near(*args)`` where ``cond``, ``far(*args)`` elsewhere: a partial in two forms, such as
    a quotient with a removable singularity and its Taylor polynomial near it (the quotient's
    derivatives cancel catastrophically there; the polynomial's are right to every order).

    Only the branches some element takes are evaluated, one element's by Python's ``if`` (the
    packed scalar paths stay packed). Where both are, each sees in the other's elements the
    placeholders ``near_fill``/``far_fill`` (one per leading argument; None: as it is), so that
    it and its derivatives stay finite there (nested use).
    """
    if np.ndim(cond) == 0:
        return near(*args) if cond else far(*args)
    if type(cond) is not np.ndarray and hasattr(cond, "dask"):
        pass  # lazy (Dask): both forms, no test of the values (``if`` would compute them)
    elif not np.any(cond):
        return far(*args)
    elif np.all(cond):
        return near(*args)
    if type(cond) is np.ndarray and all(type(a) is np.ndarray or np.ndim(a) == 0 for a in args):
        # plain values (a first derivative): the form most elements take on all of them (its
        # values on the others, whatever they are, are overwritten), the other form on its
        # own elements only (a continued fraction on every element would cost more than the
        # function itself)
        n = np.count_nonzero(cond)
        most, few, mask = (near, far, ~cond) if 2 * n >= cond.size else (far, near, cond)
        with np.errstate(all="ignore"):
            res = most(*args)
        if (
            type(res) is not np.ndarray
            or res.shape != cond.shape
            or not res.flags.writeable
            or any(np.may_share_memory(res, a) for a in args)
        ):
            res = np.array(np.broadcast_to(res, cond.shape))
        parts = np.broadcast_arrays(mask, *[np.asarray(a) for a in args])
        res[parts[0]] = few(*[r[parts[0]] for r in parts[1:]])
        return res

    def filled(fill, keep):
        fill = tuple(fill) + (None,) * (len(args) - len(fill))
        return (a if f is None else np.where(keep, a, f) for a, f in zip(args, fill))

    return np.where(cond, near(*filled(near_fill, cond)), far(*filled(far_fill, ~cond)))


def _over_x(f, x, coeffs):
    """``f(x) / x`` for an odd ``f``. The quotient's derivatives cancel as x -> 0 (the n-th
    loses about n + 1 powers of x: NaN at 1e-300), and a constant at 0 has derivatives 0: below
    |x| = 1/2 the Taylor polynomial ``sum_k coeffs[k] x^2k`` instead (under 1e-22 there)."""
    return _piecewise(
        np.abs(x) < 0.5,
        lambda x: _horner(x * x, coeffs),
        lambda x: f(x) / x,
        (x,),
        near_fill=(0.0,),
        far_fill=(1.0,),
    )


# sin(x)/x and sinh(x)/x: (+-1)^k / (2k + 1)!
_SIN_OVER_X = tuple((-1) ** k / math.factorial(2 * k + 1) for k in range(11))
_SINH_OVER_X = tuple(1 / math.factorial(2 * k + 1) for k in range(11))


# -- error function, normal distribution, logistic ----------------------------------------
defpartials(sc.erf, lambda out, x: _2_SQRTPI * np.exp(-x * x))
defpartials(sc.erfc, lambda out, x: -_2_SQRTPI * np.exp(-x * x))
defpartials(sc.erfi, lambda out, x: _2_SQRTPI * np.exp(x * x))


# Laplace's continued fraction of the Mills ratio: phi(t) / Phi(-t) = t + q(t) with
# q(t) = 1/(t + 2/(t + 3/(t + ...))). 40 levels leave under 2e-17 from t = 4 on, and every term
# is positive: q's derivatives do not cancel, where t - phi/Phi and 2x erfcx(x) - 2/sqrt(pi) do.
_MILLS_FROM = 4.0
_MILLS_DEPTH = 40


def _mills_tail(t):
    """q(t) = phi(t) / Phi(-t) - t for t >= 4 (1/t to leading order; 0 at t = inf)."""
    acc = t
    for n in range(_MILLS_DEPTH, 1, -1):
        acc = t + n / acc
    return 1 / acc


def _erfcx_dx(out, x):
    """erfcx' = 2x erfcx(x) - 2/sqrt(pi): the two terms agree to about 1/(2x²) for large x (a
    relative error 2x² eps, 1e-6 at x = 7e4, that log_ndtr's second derivative inherited).
    From x = 4/sqrt(2) on, -sqrt(2) q(sqrt(2) x) erfcx(x) instead (erfcx(x) =
    sqrt(2/pi) Phi(-t)/phi(t) at t = sqrt(2) x), whose derivatives are as accurate."""
    x0 = _MILLS_FROM * _SQRT1_2
    return _piecewise(
        x > x0,
        lambda x, out: -_SQRT2 * _mills_tail(_SQRT2 * x) * out,
        lambda x, out: 2 * x * out - _2_SQRTPI,
        (x, out),
        near_fill=(x0, 0.0),  # out = inf far left
        far_fill=(0.0,),
    )


defpartials(sc.erfcx, _erfcx_dx)  # erfcx = exp(x²) erfc(x)
defpartials(sc.erfinv, lambda out, x: _SQRTPI_2 * np.exp(out * out))
defpartials(sc.erfcinv, lambda out, x: -_SQRTPI_2 * np.exp(out * out))
defpartials(sc.dawsn, lambda out, x: 1 - 2 * x * out)
defpartials(sc.ndtr, lambda out, x: _INV_SQRT_2PI * np.exp(-0.5 * x * x))
defpartials(sc.ndtri, lambda out, x: _SQRT_2PI * np.exp(0.5 * out * out))


def _log_ndtr_dx(out, x):
    """pdf / cdf = exp(-x²/2 - log_ndtr(x)) / sqrt(2 pi), whose exponent cancels far left
    (x² eps: -7403 for the second derivative -1 at x = -1e5): below x = -4, -x + q(-x) (see
    _mills_tail), finite where ndtr(x) underflows, and its derivatives do not cancel."""
    return _piecewise(
        x < -_MILLS_FROM,
        lambda x, out: _mills_tail(-x) - x,
        lambda x, out: _INV_SQRT_2PI * np.exp(-0.5 * x * x - out),
        (x, out),
        near_fill=(-_MILLS_FROM, 0.0),
        far_fill=(0.0, 0.0),  # (the tail's log_ndtr may be -5e9: exp of the sum stays finite)
    )


defpartials(sc.log_ndtr, _log_ndtr_dx)
defpartials(sc.ndtri_exp, lambda out, y: _SQRT_2PI * np.exp(y + 0.5 * out * out))
defpartials(
    sc.owens_t,
    lambda out, h, a: -0.5 * _INV_SQRT_2PI * np.exp(-0.5 * h * h) * sc.erf(_SQRT1_2 * a * h),
    lambda out, h, a: np.exp(-0.5 * h * h * (1 + a * a)) / (2 * np.pi * (1 + a * a)),
)


def _expit_dx(out, x):
    """expit'(x) = out (1 - out), with 1 - out = out e^-x where out is near 1: 1 - out has an
    absolute error of eps, a relative one of eps e^x (all of it from x = 37: 0.0 for 4.25e-18).
    Only those elements pay for the exponential (a typical array has none)."""
    return _piecewise(
        x > 5.0,
        lambda x, out: out * (out * np.exp(-x)),
        lambda x, out: out * (1 - out),
        (x, out),
        near_fill=(5.0,),
    )


defpartials(sc.expit, _expit_dx)
defpartials(sc.logit, lambda out, x: 1 / (x * (1 - x)))
defpartials(sc.log_expit, lambda out, x: sc.expit(-x))

# -- gamma, beta, zeta ---------------------------------------------------------------------


def _rgamma_dx(out, x):
    # -rgamma(x) psi(x) is 0 * inf at the zeros x = 0, -1, -2, ... of 1/gamma. Left of 1/2 use
    # the reflection 1/gamma(x) = gamma(1 - x) sin(pi x) / pi instead, whose derivative is
    # finite there; below -170 gamma(1 - x) overflows, and rgamma with it.
    left = (x < 0.5) & (x > -170)
    xl = np.where(left, x, 0.0)  # both branches finite, for nested derivatives
    xr = np.where(left, 1.0, x)
    s, c = np.sin(np.pi * xl), np.cos(np.pi * xl)
    refl = sc.gamma(1 - xl) * (c - sc.digamma(1 - xl) * s / np.pi)
    return np.where(left, refl, -out * sc.digamma(xr))


defpartials(sc.gamma, lambda out, x: out * sc.digamma(x))
defpartials(sc.rgamma, _rgamma_dx)
defpartials(sc.gammaln, lambda out, x: sc.digamma(x))  # log|gamma|: psi on every branch
defpartials(sc.loggamma, lambda out, x: sc.digamma(x))
defpartials(sc.digamma, lambda out, x: sc.zeta(2.0, x))  # trigamma = hurwitz zeta(2, x)
defzero(sc.gammasgn)
defpartials(
    sc.beta,
    lambda out, a, b: out * (sc.digamma(a) - sc.digamma(a + b)),
    lambda out, a, b: out * (sc.digamma(b) - sc.digamma(a + b)),
)
defpartials(
    sc.betaln,
    lambda out, a, b: sc.digamma(a) - sc.digamma(a + b),
    lambda out, a, b: sc.digamma(b) - sc.digamma(a + b),
)
defpartials(  # binom(n, k) = gamma(n + 1) / (gamma(k + 1) gamma(n - k + 1))
    sc.binom,
    lambda out, n, k: out * (sc.digamma(n + 1) - sc.digamma(n - k + 1)),
    lambda out, n, k: out * (sc.digamma(n - k + 1) - sc.digamma(k + 1)),
)
defpartials(  # poch(z, m) = gamma(z + m) / gamma(z)
    sc.poch,
    lambda out, z, m: out * (sc.digamma(z + m) - sc.digamma(z)),
    lambda out, z, m: out * sc.digamma(z + m),
)
if _HURWITZ is not None:  # d/dq zeta(x, q) = -x zeta(x + 1, q); d/dx has no closed form
    _defpartials_fixed(
        _HURWITZ,
        _fixed(sc.zeta, "x"),
        lambda out, x, q: -x * sc.zeta(x + 1, q),
        name="scipy.special.zeta",
    )

# -- incomplete gamma and beta: derivatives in the shape parameters have no closed form -----


def _gamma_pdf(a, x):
    # x^(a-1) e^-x / gamma(a) in logs: no overflow for large a; xlogy makes (a=1, x=0) exact
    return np.exp(sc.xlogy(a - 1, x) - x - sc.gammaln(a))


def _beta_pdf(a, b, x):
    return np.exp(sc.xlogy(a - 1, x) + sc.xlog1py(b - 1, -x) - sc.betaln(a, b))


_defpartials_fixed(sc.gammainc, _fixed(sc.gammainc, "a"), lambda out, a, x: _gamma_pdf(a, x))
_defpartials_fixed(sc.gammaincc, _fixed(sc.gammaincc, "a"), lambda out, a, x: -_gamma_pdf(a, x))
_defpartials_fixed(
    sc.gammaincinv, _fixed(sc.gammaincinv, "a"), lambda out, a, y: 1 / _gamma_pdf(a, out)
)
_defpartials_fixed(
    sc.gammainccinv, _fixed(sc.gammainccinv, "a"), lambda out, a, y: -1 / _gamma_pdf(a, out)
)
for _f, _sign, _inverse in (
    (sc.betainc, 1, False),
    (sc.betaincc, -1, False),
    (sc.betaincinv, 1, True),
    (sc.betainccinv, -1, True),
):
    _defpartials_fixed(
        _f,
        _fixed(_f, "a"),
        _fixed(_f, "b"),
        (lambda out, a, b, y, s=_sign: s / _beta_pdf(a, b, out))
        if _inverse
        else (lambda out, a, b, x, s=_sign: s * _beta_pdf(a, b, x)),
    )

# -- distribution functions: counts (k, n) are floored by scipy, so not differentiable ------
_defpartials_fixed(
    sc.chdtr, _fixed(sc.chdtr, "v"), lambda out, v, x: 0.5 * _gamma_pdf(v / 2, x / 2)
)
_defpartials_fixed(
    sc.chdtrc, _fixed(sc.chdtrc, "v"), lambda out, v, x: -0.5 * _gamma_pdf(v / 2, x / 2)
)
for _f, _sign in ((sc.gdtr, 1), (sc.gdtrc, -1)):  # gdtr(a, b, x) = gammainc(b, a x)
    _defpartials_fixed(
        _f,
        lambda out, a, b, x, s=_sign: s * x * _gamma_pdf(b, a * x),
        _fixed(_f, "b"),
        lambda out, a, b, x, s=_sign: s * a * _gamma_pdf(b, a * x),
    )
defpartials(sc.pdtr, None, lambda out, k, m: -_gamma_pdf(np.floor(k) + 1, m))
defpartials(sc.pdtrc, None, lambda out, k, m: _gamma_pdf(np.floor(k) + 1, m))


def _bdtr_dp(out, k, n, p):
    # bdtr(k, n, p) = betainc(n - k, k + 1, 1 - p), k and n floored
    k, n = np.floor(k), np.floor(n)
    return -_beta_pdf(n - k, k + 1, 1 - p)


def _nbdtr_dp(out, k, n, p):
    # nbdtr(k, n, p) = betainc(n, k + 1, p), k and n floored
    return _beta_pdf(np.floor(n), np.floor(k) + 1, p)


defpartials(sc.bdtr, None, None, _bdtr_dp)
defpartials(sc.bdtrc, None, None, lambda out, k, n, p: -_bdtr_dp(out, k, n, p))
defpartials(sc.nbdtr, None, None, _nbdtr_dp)
defpartials(sc.nbdtrc, None, None, lambda out, k, n, p: -_nbdtr_dp(out, k, n, p))


def _t_pdf(df, t):
    inf = np.isinf(df)  # df = inf: the normal density (the formula below gives nan there)
    if np.any(inf):
        df = np.where(inf, 1.0, df)
    lognorm = sc.gammaln(0.5 * (df + 1)) - sc.gammaln(0.5 * df) - 0.5 * np.log(df * np.pi)
    pdf = np.exp(lognorm - 0.5 * (df + 1) * np.log1p(t * t / df))
    if np.any(inf):
        pdf = np.where(inf, _INV_SQRT_2PI * np.exp(-0.5 * t * t), pdf)
    return pdf


def _f_pdf(dfn, dfd, x):
    # fdtr = betainc(dfn/2, dfd/2, u) with u = dfn x / (dfd + dfn x)
    den = dfd + dfn * x
    return _beta_pdf(0.5 * dfn, 0.5 * dfd, dfn * x / den) * (dfn * dfd / (den * den))


_defpartials_fixed(sc.stdtr, _fixed(sc.stdtr, "df"), lambda out, df, t: _t_pdf(df, t))
for _f, _sign in ((sc.fdtr, 1), (sc.fdtrc, -1)):
    _defpartials_fixed(
        _f,
        _fixed(_f, "dfn"),
        _fixed(_f, "dfd"),
        lambda out, dfn, dfd, x, s=_sign: s * _f_pdf(dfn, dfd, x),
    )

# -- information theory, robust losses --------------------------------------------------------
# d/dy is 0 where x == 0 (the function is 0 there for every y): x / y would give nan at
# x = y = 0 only, so only there is y replaced (elsewhere x / y's own derivative in x, 1 / y,
# is the mixed second partial: replacing y wherever x == 0 made it 1)
defpartials(
    sc.xlogy,
    lambda out, x, y: np.log(y),
    lambda out, x, y: x / np.where((x == 0) & (y == 0), 1.0, y),
)
defpartials(
    sc.xlog1py,
    lambda out, x, y: np.log1p(y),
    lambda out, x, y: x / np.where((x == 0) & (y == -1), 1.0, 1 + y),
)
defpartials(sc.entr, lambda out, x: -np.log(x) - 1)


# -- Box-Cox: (x^l - 1) / l, log x at l = 0 ---------------------------------------------------
# exprel'(t) = (t e^t - e^t + 1) / t² = sum_k (k + 1) t^k / (k + 2)!; below |t| = 1, 26 terms
# leave under 1e-25 (under 1e-20 in the fourth derivative)
_EXPREL_D1 = tuple((k + 1) / math.factorial(k + 2) for k in range(26))


def _boxcox_dl_far(lmbda, log, out):
    # log x^l -> 0 where x^l underflows to 0 (x = 0, l > 0: the derivative is 1 / l^2, and
    # -inf * 0 would make it nan); there the term and its derivatives are 0
    t = np.exp(lmbda * log)
    return (np.where(t == 0, 0.0, log * t) - out) / lmbda


def _boxcox_dl(out, log, lmbda):
    """d/dl (x^l - 1) / l with ``log`` = log x (log1p x for boxcox1p): log² exprel'(l log), which
    is (log x^l - out) / l away from l log = 0. Near there that difference cancels (its
    derivatives more so: 225.6 for 0.111 at l = 1e-9), and a constant at l = 0 had derivative
    0: below |l log| = 1 the series, right to every order."""
    return _piecewise(
        (np.abs(lmbda * log) < 1.0) | (lmbda == 0),
        lambda lmbda, log, out: log * log * _horner(lmbda * log, _EXPREL_D1),
        _boxcox_dl_far,
        (lmbda, log, out),
        near_fill=(0.0,),
        far_fill=(1.0,),
    )


defpartials(
    sc.boxcox,
    lambda out, x, lmbda: np.power(x, lmbda - 1),
    lambda out, x, lmbda: _boxcox_dl(out, np.log(x), lmbda),
)
defpartials(
    sc.boxcox1p,
    lambda out, x, lmbda: np.power(1 + x, lmbda - 1),
    lambda out, x, lmbda: _boxcox_dl(out, np.log1p(x), lmbda),
)
defpartials(sc.rel_entr, lambda out, x, y: np.log(x / y) + 1, lambda out, x, y: -x / y)
defpartials(sc.kl_div, lambda out, x, y: np.log(x / y), lambda out, x, y: 1 - x / y)
defpartials(  # huber = r²/2 inside |r| <= delta, delta (|r| - delta/2) outside
    sc.huber,
    lambda out, delta, r: np.maximum(np.abs(r) - delta, 0.0),
    lambda out, delta, r: np.minimum(np.maximum(r, -delta), delta),
)


def _pseudo_huber_ddelta(out, delta, r):
    s = np.sqrt(1 + (r / delta) ** 2)
    return 2 * out / delta - r * r / (delta * s)


defpartials(
    sc.pseudo_huber,
    _pseudo_huber_ddelta,
    lambda out, delta, r: r / np.sqrt(1 + (r / delta) ** 2),
)

# -- Bessel functions: x-derivatives by the recurrences (DLMF 10.6, 10.29) --------------------
# order-2 terms instead of j1/x etc., so the partials stay finite at x = 0
defpartials(sc.j0, lambda out, x: -sc.j1(x))
defpartials(sc.j1, lambda out, x: 0.5 * (sc.j0(x) - sc.jv(2.0, x)))
defpartials(sc.y0, lambda out, x: -sc.y1(x))
defpartials(sc.y1, lambda out, x: 0.5 * (sc.y0(x) - sc.yv(2.0, x)))
defpartials(sc.i0, lambda out, x: sc.i1(x))
defpartials(sc.i1, lambda out, x: 0.5 * (sc.i0(x) + sc.iv(2.0, x)))
defpartials(sc.k0, lambda out, x: -sc.k1(x))
defpartials(sc.k1, lambda out, x: -0.5 * (sc.k0(x) + sc.kv(2.0, x)))
# scaled: i0e = i0 exp(-|x|), k0e = k0 exp(x)
defpartials(sc.i0e, lambda out, x: sc.i1e(x) - np.sign(x) * out)
defpartials(sc.i1e, lambda out, x: 0.5 * (sc.i0e(x) + sc.ive(2.0, x)) - np.sign(x) * out)
defpartials(sc.k0e, lambda out, x: out - sc.k1e(x))
defpartials(sc.k1e, lambda out, x: out - 0.5 * (sc.k0e(x) + sc.kve(2.0, x)))
# real order v: differentiable, but its derivative has no closed form; jn is jv
_defpartials_fixed(
    sc.jv, _fixed(sc.jv, "v"), lambda out, v, x: 0.5 * (sc.jv(v - 1, x) - sc.jv(v + 1, x))
)
_defpartials_fixed(
    sc.yv, _fixed(sc.yv, "v"), lambda out, v, x: 0.5 * (sc.yv(v - 1, x) - sc.yv(v + 1, x))
)
_defpartials_fixed(
    sc.iv, _fixed(sc.iv, "v"), lambda out, v, x: 0.5 * (sc.iv(v - 1, x) + sc.iv(v + 1, x))
)
_defpartials_fixed(
    sc.kv, _fixed(sc.kv, "v"), lambda out, v, x: -0.5 * (sc.kv(v - 1, x) + sc.kv(v + 1, x))
)
# jve, yve equal jv, yv for real x; ive = iv exp(-|x|), kve = kv exp(x)
_defpartials_fixed(
    sc.jve, _fixed(sc.jve, "v"), lambda out, v, x: 0.5 * (sc.jve(v - 1, x) - sc.jve(v + 1, x))
)
_defpartials_fixed(
    sc.yve, _fixed(sc.yve, "v"), lambda out, v, x: 0.5 * (sc.yve(v - 1, x) - sc.yve(v + 1, x))
)
_defpartials_fixed(
    sc.ive,
    _fixed(sc.ive, "v"),
    lambda out, v, x: 0.5 * (sc.ive(v - 1, x) + sc.ive(v + 1, x)) - np.sign(x) * out,
)
_defpartials_fixed(
    sc.kve,
    _fixed(sc.kve, "v"),
    lambda out, v, x: out - 0.5 * (sc.kve(v - 1, x) + sc.kve(v + 1, x)),
)
# integer order n: not differentiable
defpartials(sc.kn, None, lambda out, n, x: -0.5 * (sc.kn(n - 1, x) + sc.kn(n + 1, x)))
defpartials(sc.yn, None, lambda out, n, x: 0.5 * (sc.yn(n - 1, x) - sc.yn(n + 1, x)))

# -- exponential and trigonometric integrals -------------------------------------------------
defpartials(sc.expi, lambda out, x: np.exp(x) / x)
defpartials(sc.exp1, lambda out, x: -np.exp(-x) / x)


def _expn_dx(out, n, x):
    # E_n' = -E_{n-1}; scipy has no E_{-1}, so n = 0 uses E_{-1} = E_0 (1 + x) / x
    prev = sc.expn(np.maximum(n - 1, 0), x)
    return np.where(n == 0, -out * (1 + x) / np.where(n == 0, x, 1.0), -prev)


defpartials(sc.expn, None, _expn_dx)


def _singular_over_x(f):
    # Ci' = cos x / x and Chi' = cosh x / x are infinite at 0, where Ci and Chi are too
    # (scipy returns -inf there without a warning); their derivatives overflow as truly
    # near it (Ci'' = -1/x² at x = 1e-300): no warning either, so Si beside them stays quiet
    def partial(out, x):
        with np.errstate(divide="ignore", over="ignore"):
            return f(x) / x

    return partial


_defmulti(  # (Si, Ci)
    sc.sici,
    lambda out, x: _over_x(np.sin, x, _SIN_OVER_X),
    _singular_over_x(np.cos),
    singular=(1,),
)
_defmulti(  # (Shi, Chi)
    sc.shichi,
    lambda out, x: _over_x(np.sinh, x, _SINH_OVER_X),
    _singular_over_x(np.cosh),
    singular=(1,),
)
_defmulti(  # (S, C)
    sc.fresnel,
    lambda out, x: np.sin(0.5 * np.pi * x * x),
    lambda out, x: np.cos(0.5 * np.pi * x * x),
)
_defmulti(  # (Ai, Ai', Bi, Bi'), and Ai'' = x Ai
    sc.airy,
    lambda out, x: out[1],
    lambda out, x: x * out[0],
    lambda out, x: out[3],
    lambda out, x: x * out[2],
)


# log z / (1 - z) = -2/(z + 1) atanh(s)/s with s = (z - 1)/(z + 1) = -2/(z + 1) sum s^2k/(2k + 1)
_ATANH_OVER_X = tuple(1 / (2 * k + 1) for k in range(14))


def _spence_dz(out, z):
    """log z / (1 - z), -1 at z = 1 (0/0 there, and its derivatives cancel near it): within
    1/4 of 1 the atanh series (s² < 0.021: 14 terms leave under 1e-22, at every order)."""

    def near(z):
        s = (z - 1) / (z + 1)
        return -2 / (z + 1) * _horner(s * s, _ATANH_OVER_X)

    return _piecewise(
        np.abs(z - 1) < 0.25,
        near,
        lambda z: np.log(z) / (1 - z),
        (z,),
        near_fill=(1.0,),
        far_fill=(0.5,),
    )


defpartials(sc.spence, _spence_dz)
defpartials(sc.wrightomega, lambda out, z: out / (1 + out))

# -- elementary functions in scipy.special (distinct ufunc objects from NumPy's) -------------
defpartials(sc.exp2, lambda out, x: out * _LN2)
defpartials(sc.exp10, lambda out, x: out * _LN10)
defpartials(sc.expm1, lambda out, x: out + 1)
defpartials(sc.log1p, lambda out, x: 1 / (1 + x))
# np.square: at 0, NumPy's inf (the array path's), not Python's ZeroDivisionError on floats
defpartials(sc.cbrt, lambda out, x: 1 / (3 * np.square(out)))
defpartials(sc.cosm1, lambda out, x: -np.sin(x))
defpartials(sc.sindg, lambda out, x: _DEG * sc.cosdg(x))
defpartials(sc.cosdg, lambda out, x: -_DEG * sc.sindg(x))
defpartials(sc.tandg, lambda out, x: _DEG * (1 + out * out))
defpartials(sc.cotdg, lambda out, x: -_DEG * (1 + out * out))
defzero(sc.round)


def _exprel_dx(out, x):
    """(e^x - exprel(x)) / x, which cancels near 0, its derivatives more so (a six-term series
    below |x| = 1e-2 left the third derivative 3e-9 off at 1e-2): below |x| = 1 the series of
    exprel' (``_EXPREL_D1``, as for Box-Cox), right to every order."""
    return _piecewise(
        np.abs(x) < 1.0,
        lambda x, out: _horner(x, _EXPREL_D1),
        lambda x, out: (np.exp(x) - out) / x,
        (x, out),
        near_fill=(0.0,),
        far_fill=(1.0,),
    )


defpartials(sc.exprel, _exprel_dx)

# -- elliptic integrals (parameter m = k²; DLMF 19.4) --------------------------------------
# The m-derivatives are quotients by m, 0/0 at m = 0 (NaN there, and cancelling near it): below
# |m| = 1/10 their Taylor series in m, right to every order. With a_n = (1/2)_n / n! and
# b_n = (3/2)_n / n! (the coefficients of (1 - u)^(-1/2) and (1 - u)^(-3/2)), DLMF 19.5.1-2:
# K' = (pi/2) sum_{n>=1} n a_n² m^(n-1),  E' = (pi/2) sum_{n>=1} n a_n² m^(n-1) / (1 - 2n), and
# d/dm F(phi, m) = (1/2) sum_n b_n m^n I_{n+1}(phi), d/dm E(phi, m) = -(1/2) sum_n a_n m^n
# I_{n+1}(phi), with I_k = int_0^phi sin^2k (by parts: I_k = (2k-1)/(2k) I_{k-1} - s^(2k-1) c / 2k).
# 24 terms leave under 1e-22 below |m| = 1/10.
_ELLIP_SMALL = 0.1
_ELLIP_TERMS = 24


def _pochhammer_over_factorial(a: float, n: int) -> float:
    return math.prod((a + j) / (j + 1) for j in range(n))


_A = tuple(_pochhammer_over_factorial(0.5, n) for n in range(_ELLIP_TERMS + 1))
_B = tuple(_pochhammer_over_factorial(1.5, n) for n in range(_ELLIP_TERMS + 1))
_ELLIPK_DM = tuple(0.5 * math.pi * n * _A[n] ** 2 for n in range(1, _ELLIP_TERMS + 1))
_ELLIPE_DM = tuple(0.5 * math.pi * n * _A[n] ** 2 / (1 - 2 * n) for n in range(1, _ELLIP_TERMS + 1))


def _ellipk_dm(out, m):
    return _piecewise(
        np.abs(m) < _ELLIP_SMALL,
        lambda m, out: _horner(m, _ELLIPK_DM),
        lambda m, out: (sc.ellipe(m) - (1 - m) * out) / (2 * m * (1 - m)),
        (m, out),
        near_fill=(0.0,),
        far_fill=(0.5,),
    )


def _ellipkm1_dp(out, p):
    # ellipkm1(p) = K(1 - p): m = 0 is p = 1 (1 - p exact near there)
    return _piecewise(
        np.abs(1 - p) < _ELLIP_SMALL,
        lambda p, out: -_horner(1 - p, _ELLIPK_DM),
        lambda p, out: -(sc.ellipe(1 - p) - p * out) / (2 * p * (1 - p)),
        (p, out),
        near_fill=(1.0,),
        far_fill=(0.5,),
    )


def _ellipe_dm(out, m):
    return _piecewise(
        np.abs(m) < _ELLIP_SMALL,
        lambda m, out: _horner(m, _ELLIPE_DM),
        lambda m, out: (out - sc.ellipk(m)) / (2 * m),
        (m, out),
        near_fill=(0.0,),
        far_fill=(0.5,),
    )


def _incomplete_series(phi, m, coeffs):
    """sum_n coeffs[n] m^n I_{n+1}(phi)."""
    s, c = np.sin(phi), np.cos(phi)
    s2 = s * s
    odd = s * c  # s^(2k-1) c
    i_k = phi  # I_0
    acc = 0.0
    mn = 1.0  # m^n
    for n, coef in enumerate(coeffs):
        k = n + 1
        i_k = ((2 * k - 1) / (2 * k)) * i_k - odd / (2 * k)
        acc = acc + coef * mn * i_k
        odd = odd * s2
        mn = mn * m
    return acc


def _ellipkinc_dm(out, phi, m):
    def far(m, phi, out):
        d = np.sqrt(1 - m * np.sin(phi) ** 2)
        e = sc.ellipeinc(phi, m)
        return (e - (1 - m) * out) / (2 * m * (1 - m)) - np.sin(2 * phi) / (4 * (1 - m) * d)

    return _piecewise(
        np.abs(m) < _ELLIP_SMALL,
        lambda m, phi, out: 0.5 * _incomplete_series(phi, m, _B),
        far,
        (m, phi, out),
        near_fill=(0.0,),
        far_fill=(0.5,),
    )


def _ellipeinc_dm(out, phi, m):
    return _piecewise(
        np.abs(m) < _ELLIP_SMALL,
        lambda m, phi, out: -0.5 * _incomplete_series(phi, m, _A),
        lambda m, phi, out: (out - sc.ellipkinc(phi, m)) / (2 * m),
        (m, phi, out),
        near_fill=(0.0,),
        far_fill=(0.5,),
    )


defpartials(sc.ellipk, _ellipk_dm)
defpartials(sc.ellipkm1, _ellipkm1_dp)
defpartials(sc.ellipe, _ellipe_dm)
defpartials(sc.ellipkinc, lambda out, phi, m: 1 / np.sqrt(1 - m * np.sin(phi) ** 2), _ellipkinc_dm)
defpartials(
    sc.ellipeinc,
    lambda out, phi, m: np.sqrt(1 - m * np.sin(phi) ** 2),
    _ellipeinc_dm,
)

# -- hypergeometric functions: derivatives in the parameters have no closed form -------------
_defpartials_fixed(sc.hyp0f1, _fixed(sc.hyp0f1, "v"), lambda out, v, z: sc.hyp0f1(v + 1, z) / v)
_defpartials_fixed(
    sc.hyp1f1,
    _fixed(sc.hyp1f1, "a"),
    _fixed(sc.hyp1f1, "b"),
    lambda out, a, b, x: a / b * sc.hyp1f1(a + 1, b + 1, x),
)
_defpartials_fixed(
    sc.hyp2f1,
    _fixed(sc.hyp2f1, "a"),
    _fixed(sc.hyp2f1, "b"),
    _fixed(sc.hyp2f1, "c"),
    lambda out, a, b, c, z: a * b / c * sc.hyp2f1(a + 1, b + 1, c + 1, z),
)
_defpartials_fixed(
    sc.hyperu,
    _fixed(sc.hyperu, "a"),
    _fixed(sc.hyperu, "b"),
    lambda out, a, b, x: -a * sc.hyperu(a + 1, b + 1, x),
)

# -- orthogonal polynomials: degree n may be real (hypergeometric continuation) --------------
_defpartials_fixed(
    sc.eval_jacobi,
    _fixed(sc.eval_jacobi, "n"),
    _fixed(sc.eval_jacobi, "alpha"),
    _fixed(sc.eval_jacobi, "beta"),
    lambda out, n, al, be, x: 0.5 * (n + al + be + 1) * sc.eval_jacobi(n - 1, al + 1, be + 1, x),
)
_defpartials_fixed(
    sc.eval_gegenbauer,
    _fixed(sc.eval_gegenbauer, "n"),
    _fixed(sc.eval_gegenbauer, "alpha"),
    lambda out, n, al, x: 2 * al * sc.eval_gegenbauer(n - 1, al + 1, x),
)
_defpartials_fixed(
    sc.eval_genlaguerre,
    _fixed(sc.eval_genlaguerre, "n"),
    _fixed(sc.eval_genlaguerre, "alpha"),
    lambda out, n, al, x: -sc.eval_genlaguerre(n - 1, al + 1, x),
)
for _f, _dx in (
    (sc.eval_legendre, lambda out, n, x: 0.5 * (n + 1) * sc.eval_jacobi(n - 1, 1.0, 1.0, x)),
    (sc.eval_chebyt, lambda out, n, x: n * sc.eval_chebyu(n - 1, x)),
    (sc.eval_chebyu, lambda out, n, x: 2 * sc.eval_gegenbauer(n - 1, 2.0, x)),
    (sc.eval_chebyc, lambda out, n, x: n * sc.eval_chebys(n - 1, x)),  # chebyc = 2 T_n(x/2)
    (sc.eval_chebys, lambda out, n, x: sc.eval_gegenbauer(n - 1, 2.0, 0.5 * x)),
    (sc.eval_laguerre, lambda out, n, x: -sc.eval_genlaguerre(n - 1, 1.0, x)),
    (  # shifted to [0, 1]: p_n(2x - 1)
        sc.eval_sh_legendre,
        lambda out, n, x: (n + 1) * sc.eval_jacobi(n - 1, 1.0, 1.0, 2 * x - 1),
    ),
    (sc.eval_sh_chebyt, lambda out, n, x: 2 * n * sc.eval_chebyu(n - 1, 2 * x - 1)),
    (sc.eval_sh_chebyu, lambda out, n, x: 4 * sc.eval_gegenbauer(n - 1, 2.0, 2 * x - 1)),
):
    _defpartials_fixed(_f, _fixed(_f, "n"), _dx)
# Hermite: integer degree only; scipy has no H_{-1}, and the factor n makes it vanish anyway
defpartials(
    sc.eval_hermite, None, lambda out, n, x: 2 * n * sc.eval_hermite(np.maximum(n - 1, 0), x)
)
defpartials(
    sc.eval_hermitenorm,
    None,
    lambda out, n, x: n * sc.eval_hermitenorm(np.maximum(n - 1, 0), x),
)

#: ufuncs deliberately without a rule, each with the reason the error message gives.
UNSUPPORTED_FUNCS = {
    sc.zetac: "the derivative of the Riemann zeta function in its argument has no closed "
    "form in scipy; hold x constant (.primal) or use finite differences",
}
if _RIEMANN is not None:
    UNSUPPORTED_FUNCS[_RIEMANN] = (
        "zeta(x) (Riemann) has no closed-form derivative in x in scipy; hold x constant "
        "(.primal). zeta(x, q) is differentiable in q"
    )

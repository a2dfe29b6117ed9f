"""scipy.stats under interception (dualad.rules.scipy_stats).

``norm``, ``t``, ``gamma``, ``expon``, ``logistic``, ``cauchy``, ``laplace``, ``lognorm``,
``beta``, ``uniform``, ``weibull_min``, ``chi2``, ``exponweib``, ``gumbel_r``, ``pareto``,
``halfnorm`` and ``invgamma``: each of ``logpdf``, ``pdf``, ``cdf``, ``logcdf``, ``sf`` and
``logsf`` gives SciPy's own value (dtype, shape, 0-d scalars, nan/-inf/0/1 off the support
and for invalid parameters), its formula SciPy's to rounding; its gradient in ``x``, ``loc``,
``scale`` and the shapes (where they have one) equals central differences of the plain SciPy
call, in forward and reverse mode, called positionally, by keyword and on a frozen
distribution; its Hessian equals central differences of the gradient; closed forms for some
parameter derivatives. The distribution functions of ``t``, ``gamma``, ``beta``, ``chi2``
and ``invgamma`` refuse a derivative in their shapes, naming the method.
``multivariate_normal``: gradients and Hessians in ``x``, ``mean`` and ``cov`` (repeated
eigenvalues included), frozen too. Plain calls stay SciPy's.
"""

from __future__ import annotations

import numpy as np
import pytest

import dualad
from dualad import Dual
from tests._check import central_jacobian

st = pytest.importorskip("scipy.stats")
sc = pytest.importorskip("scipy.special")

METHODS = ("logpdf", "pdf", "cdf", "logcdf", "sf", "logsf")
DENSITIES = ("logpdf", "pdf")
X = np.array([-1.3, -0.2, 0.4, 1.7])
P0 = np.array([1.1, 0.3, 1.4, 2.5])  # x factor, loc, scale, shape


# name -> (shape names, shapes from s, (factor, offset) putting x = X * v[0] inside the support)
DISTS = {
    "norm": ((), lambda s: (), (1.0, 0.0)),
    "t": (("df",), lambda s: (s + 1.0,), (1.0, 0.0)),
    "gamma": (("a",), lambda s: (s,), (1.0, 2.0)),
    "expon": ((), lambda s: (), (1.0, 2.0)),
    "logistic": ((), lambda s: (), (1.0, 0.0)),
    "cauchy": ((), lambda s: (), (1.0, 0.0)),
    "laplace": ((), lambda s: (), (1.0, 0.0)),
    "lognorm": (("s",), lambda s: (0.3 * s,), (1.0, 2.0)),
    "beta": (("a", "b"), lambda s: (s, s - 0.8), (0.25, 1.0)),
    "uniform": ((), lambda s: (), (0.25, 1.0)),
    "weibull_min": (("c",), lambda s: (0.6 * s,), (1.0, 2.0)),
    "chi2": (("df",), lambda s: (2.0 * s,), (1.0, 2.0)),
    "exponweib": (("a", "c"), lambda s: (s - 0.5, 0.6 * s), (1.0, 2.0)),
    "gumbel_r": ((), lambda s: (), (1.0, 0.0)),
    "pareto": (("b",), lambda s: (s,), (1.0, 4.0)),
    "halfnorm": ((), lambda s: (), (1.0, 2.0)),
    "invgamma": (("a",), lambda s: (s,), (1.0, 2.0)),
}
# distributions whose cdf and its relatives have no closed-form derivative in the shapes
FIXED = {"t", "gamma", "beta", "chi2", "invgamma"}


def _shape(dist: str, method: str, v):
    """The shape parameters: differentiated (from ``v[3]``) unless the method has no
    closed-form derivative in them (then from the constant 2.5)."""
    s = v[3] if method in DENSITIES or dist not in FIXED else 2.5
    return DISTS[dist][1](s)


def _x(dist: str, v):
    factor, offset = DISTS[dist][2]
    return X * v[0] * factor + offset


def _call(dist: str, method: str, v, style: str = "positional"):
    """``dist.method`` at x = X * v[0] (inside the support), loc = v[1], scale = v[2], shapes
    from ``v[3]``."""
    d = getattr(st, dist)
    x = _x(dist, v)
    shapes = _shape(dist, method, v)
    if style == "positional":
        return getattr(d, method)(x, *shapes, v[1], v[2])
    if style == "keyword":
        names = DISTS[dist][0]
        return getattr(d, method)(x, **dict(zip(names, shapes)), loc=v[1], scale=v[2])
    return getattr(d(*shapes, loc=v[1], scale=v[2]), method)(x)  # frozen


def central(f, x, h=1e-5):
    return central_jacobian(f, x, h)


CASES = [(d, m) for d in DISTS for m in METHODS]
IDS = [f"{d}.{m}" for d, m in CASES]


@pytest.fixture(autouse=True)
def _intercepting():
    with dualad.intercept():
        yield


# -- values --------------------------------------------------------------------------------------

EDGE_X = np.array([-3.0, -0.5, 0.0, 0.5, 2.0, 40.0, -40.0, np.inf, -np.inf, np.nan])
SCALES = np.array([[1.5], [0.05], [-1.0], [0.0]])


def _col(*v):
    return np.array(v)[:, None]


EDGE_ARGS = {  # broadcasting (rows x points), invalid scale or shape in some rows; the ends
    # of the support among the points
    "norm": ((), {"loc": 0.2, "scale": SCALES}),
    "t": ((_col(2.5, np.inf, -1.0),), {"loc": 0.2, "scale": 1.3}),
    "gamma": ((_col(2.5, 1.0, 0.5, 0.0, np.inf),), {"loc": -0.5, "scale": 1.3}),
    "expon": ((), {"loc": 0.0, "scale": SCALES}),
    "logistic": ((), {"loc": 0.2, "scale": SCALES}),
    "cauchy": ((), {"loc": 0.2, "scale": SCALES}),
    "laplace": ((), {"loc": 0.0, "scale": SCALES}),
    "lognorm": ((_col(0.7, 2.0, 0.0, -1.0, np.inf),), {"loc": 0.0, "scale": 1.3}),
    "beta": (
        (_col(0.5, 1.0, 2.5, 0.0, 2.0), _col(0.7, 1.0, 3.0, 1.5, np.inf)),
        {"loc": -0.5, "scale": 2.5},
    ),
    "uniform": ((), {"loc": -0.5, "scale": _col(2.5, 0.05, -1.0)}),
    "weibull_min": ((_col(0.5, 1.0, 2.5, 0.0, 40.0),), {"loc": 0.0, "scale": 1.3}),
    "chi2": ((_col(1.0, 2.0, 5.0, -1.0),), {"loc": 0.0, "scale": 1.3}),
    "exponweib": (
        (_col(0.5, 1.0, 2.5, 1.0, 2.0), _col(1.5, 1.0, 0.7, 0.0, 40.0)),
        {"loc": 0.0, "scale": 1.3},
    ),
    "gumbel_r": ((), {"loc": 0.2, "scale": SCALES}),
    "pareto": ((_col(0.5, 1.0, 2.5, 0.0),), {"loc": -1.0, "scale": 1.0}),
    "halfnorm": ((), {"loc": 0.0, "scale": SCALES}),
    "invgamma": ((_col(0.5, 2.5, -1.0),), {"loc": 0.0, "scale": _col(1.3, 1.3, 0.01)}),
}


@pytest.mark.parametrize(("dist", "method"), CASES, ids=IDS)
def test_values_are_scipys(dist, method):
    args, kwds = EDGE_ARGS[dist]
    f = getattr(getattr(st, dist), method)
    with np.errstate(all="ignore"):
        want = f(EDGE_X, *args, **kwds)
        got = f(Dual(EDGE_X, np.ones_like(EDGE_X)), *args, **kwds)
    assert got.primal.dtype == want.dtype and got.primal.shape == want.shape
    np.testing.assert_array_equal(got.primal, want)  # nan where SciPy has nan
    # where SciPy gives nan, and at infinite x, the value is a constant: derivative 0; a
    # finite one wherever the value is finite
    tangent = np.broadcast_to(got.tangent, want.shape)
    constant = np.isnan(want) | ~np.isfinite(np.broadcast_to(EDGE_X, want.shape))
    assert np.all(tangent[constant] == 0)
    assert np.all(np.isfinite(tangent[np.isfinite(want)]))


@pytest.mark.parametrize("method", METHODS)
def test_scalars_and_dtypes_are_scipys(method):
    f = getattr(st.gamma, method)
    got = f(Dual(np.float32(1.3), np.float32(1.0)), 2.0, scale=1.5)
    want = f(np.float32(1.3), 2.0, scale=1.5)
    assert type(got.primal) is type(want) is np.float64
    assert got.primal == want
    got = f(1.3, 2.0, Dual(0.2, 1.0))  # a 0-d result from a differentiated loc
    assert type(got.primal) is np.float64 and got.primal == f(1.3, 2.0, 0.2)


def test_lists_holding_duals():
    got = st.t.logpdf([Dual(0.3, 1.0), 0.5], 3.0)
    np.testing.assert_array_equal(got.primal, st.t.logpdf([0.3, 0.5], 3.0))
    got = st.t.logpdf(0.3, [Dual(3.0, 1.0), 4.0])
    np.testing.assert_array_equal(got.primal, st.t.logpdf(0.3, [3.0, 4.0]))


# -- first and second derivatives against central differences -------------------------------


@pytest.mark.parametrize("mode", ["forward", "reverse"])
@pytest.mark.parametrize(("dist", "method"), CASES, ids=IDS)
def test_gradient(dist, method, mode):
    def f(v):
        return np.sum(_call(dist, method, v))

    g = dualad.grad(f, P0, mode=mode, intercept=True)
    np.testing.assert_allclose(g, central(f, P0), rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize(("dist", "method"), CASES, ids=IDS)
def test_gradient_keyword_and_frozen(dist, method):
    # SciPy's values, and the gradient of the positional call (against central differences
    # in test_gradient): by keyword in forward mode, frozen in reverse mode
    want = dualad.grad(lambda v: np.sum(_call(dist, method, v)), P0, intercept=True)
    for style, mode in (("keyword", "forward"), ("frozen", "reverse")):

        def f(v, style=style):
            return np.sum(_call(dist, method, v, style))

        with dualad.intercept(False):
            plain = f(P0)
        np.testing.assert_array_equal(f(Dual(P0, np.ones(4))).primal, plain)
        g = dualad.grad(f, P0, mode=mode, intercept=True)
        np.testing.assert_allclose(g, want, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize(("dist", "method"), CASES, ids=IDS)
def test_hessian(dist, method):
    def f(v):
        return np.sum(_call(dist, method, v))

    h = dualad.hessian(f, P0, intercept=True)
    ref = central(lambda v: dualad.grad(f, v, mode="reverse", intercept=True), P0)
    np.testing.assert_allclose(h, ref, rtol=1e-6, atol=1e-8)


def test_density_parameter_derivatives_closed_form():
    x, loc, scale = 1.7, 0.3, 1.4
    z = (x - loc) / scale
    grad = dualad.grad(lambda p: st.norm.logpdf(x, p[0], p[1]), np.array([loc, scale]))
    np.testing.assert_allclose(grad, [z / scale, (z * z - 1) / scale], rtol=1e-13)
    a = 2.5  # d/da log gamma pdf = log z - digamma(a)
    g = dualad.grad(lambda a: st.gamma.logpdf(x, a, loc, scale), a, mode="reverse")
    np.testing.assert_allclose(g, np.log(z) - sc.digamma(a), rtol=1e-13)
    nu = 3.5  # d/dnu log t pdf
    want = (
        0.5 * (sc.digamma((nu + 1) / 2) - sc.digamma(nu / 2))
        - 0.5 / nu
        - 0.5 * np.log1p(z * z / nu)
        + (nu + 1) * z * z / (2 * nu * nu * (1 + z * z / nu))
    )
    g = dualad.grad(lambda nu: st.t(nu, loc, scale).logpdf(x), nu, mode="forward")
    np.testing.assert_allclose(g, want, rtol=1e-12)
    s = 0.8  # d/ds log lognorm pdf = -1/s + log(z)^2 / s^3
    g = dualad.grad(lambda s: st.lognorm.logpdf(x, s, loc, scale), s, mode="reverse")
    np.testing.assert_allclose(g, -1 / s + np.log(z) ** 2 / s**3, rtol=1e-13)
    c = 1.7  # d/dc log weibull_min pdf = 1/c + log z - z^c log z
    g = dualad.grad(lambda c: st.weibull_min.logpdf(x, c, loc, scale), c, mode="forward")
    np.testing.assert_allclose(g, 1 / c + np.log(z) - z**c * np.log(z), rtol=1e-13)
    b = 2.5  # d/db log pareto pdf = 1/b - log z (z >= 1)
    g = dualad.grad(lambda b: st.pareto.logpdf(x + 2, b, loc, scale), b, mode="reverse")
    np.testing.assert_allclose(g, 1 / b - np.log(z + 2 / scale), rtol=1e-13)
    a, b, u = 2.5, 1.5, 0.3  # d/da log beta pdf = log u - digamma(a) + digamma(a + b)
    g = dualad.grad(lambda a: st.beta(a, b).logpdf(u), a, mode="forward")
    np.testing.assert_allclose(g, np.log(u) - sc.digamma(a) + sc.digamma(a + b), rtol=1e-13)

    # smooth through |x| at 0: second derivatives of the log densities there
    h = dualad.hessian(lambda v: st.logistic.logpdf(v[0], scale=v[1]), np.array([0.0, 1.0]))
    np.testing.assert_allclose(h, [[-0.5, 0.0], [0.0, 1.0]], atol=1e-15)
    h = dualad.hessian(lambda v: st.cauchy.logpdf(v[0], scale=v[1]), np.array([0.0, 1.0]))
    np.testing.assert_allclose(h, [[-2.0, 0.0], [0.0, 1.0]], atol=1e-15)


@pytest.mark.parametrize("dist", DISTS)
def test_cdf_derivative_is_the_pdf(dist):
    xs, shapes = _x(dist, P0), _shape(dist, "pdf", P0)
    d = getattr(st, dist)
    jac = dualad.jacobian(lambda x: d.cdf(x, *shapes, 0.3, 1.4), xs, intercept=True)
    np.testing.assert_allclose(jac, np.diag(d.pdf(xs, *shapes, 0.3, 1.4)), rtol=1e-12)
    jac = dualad.jacobian(lambda x: d.sf(x, *shapes, 0.3, 1.4), xs, mode="reverse", intercept=True)
    np.testing.assert_allclose(jac, -np.diag(d.pdf(xs, *shapes, 0.3, 1.4)), rtol=1e-12)


@pytest.mark.parametrize(("dist", "method"), CASES, ids=IDS)
def test_formulas_are_scipys(dist, method):
    # the restated formula of the standardised variable meets SciPy's own private method to
    # rounding (the restatement then hands back SciPy's exact value)
    from dualad.rules.scipy_stats import _DISTS

    d = getattr(st, dist)
    z = (_x(dist, P0) - 0.3) / 1.4
    shapes = tuple(np.full_like(z, s) for s in _shape(dist, "pdf", P0))
    want = getattr(d, "_" + method)(z, *shapes)
    np.testing.assert_allclose(_DISTS[dist].funcs[method](z, *shapes), want, rtol=1e-14)


def test_no_nan_off_the_support_in_reverse_mode():
    # x below gamma's support, a scale <= 0 and an infinite x: derivative 0 there
    def f(v):
        return np.sum(st.gamma.logpdf(v, 2.5, 0.5, np.array([1.0, 1.0, -1.0]))[:2])

    v = np.array([0.2, 1.5, 1.0])
    g = dualad.grad(f, v, mode="reverse", intercept=True)
    np.testing.assert_allclose(g, [0.0, 0.5, 0.0], atol=1e-12)  # (a - 1)/z - 1 at z = 1
    g = dualad.grad(lambda v: np.sum(st.norm.pdf(v)), np.array([np.inf, 0.5]), mode="reverse")
    np.testing.assert_allclose(g, [0.0, -0.5 * st.norm.pdf(0.5)], rtol=1e-13)
    # a density 0 or infinite at the end of its support, values whose formula overflows
    # (exp(800), 40**40): constants
    calls = [
        (lambda v: st.lognorm.pdf(v, 0.7), 0.0),
        (lambda v: st.beta.logpdf(v, 0.5, 2.5), 0.0),
        (lambda v: st.beta.pdf(v, 0.5, 2.5), 1.0),
        (lambda v: st.gamma.pdf(v, 0.5), 0.0),
        (lambda v: st.chi2.logpdf(v, 5.0), 0.0),
        (lambda v: st.gumbel_r.sf(v, scale=0.05), -40.0),
        (lambda v: st.gumbel_r.logsf(v, scale=0.05), -40.0),
        (lambda v: st.weibull_min.cdf(v, 40.0), 40.0),
        (lambda v: st.exponweib.logcdf(v, 2.0, 40.0), 40.0),
        (lambda v: st.invgamma.sf(v, 2.5), 1e-200),
    ]
    for f, v in calls:
        for mode in ("forward", "reverse"):
            with np.errstate(over="ignore"):  # SciPy's own exp(800)
                assert dualad.grad(f, v, mode=mode, intercept=True) == 0.0, (f, v)


def test_erlang_uses_gammas_formulas():
    v = np.array([1.2, 2.5])
    g = dualad.grad(lambda v: np.sum(st.erlang.logsf(v, 3, scale=1.5)), v, mode="reverse")
    ref = central(lambda v: np.sum(st.erlang.logsf(v, 3, scale=1.5)), v)
    np.testing.assert_allclose(g, ref, rtol=1e-7)


# -- refusals --------------------------------------------------------------------------------


REFUSED = [("t", m, "df", lambda m, s: getattr(st.t, m)(0.7, s)) for m in METHODS[2:]]
REFUSED += [  # frozen
    ("gamma", m, "a", lambda m, s: getattr(st.gamma(a=s, scale=2.0), m)(1.3)) for m in METHODS[2:]
]
REFUSED += [("beta", m, "a", lambda m, s: getattr(st.beta, m)(0.3, s, 1.5)) for m in METHODS[2:]]
REFUSED += [("beta", m, "b", lambda m, s: getattr(st.beta(2.0, s), m)(0.3)) for m in METHODS[2:]]
REFUSED += [("chi2", m, "df", lambda m, s: getattr(st.chi2, m)(1.3, df=s)) for m in METHODS[2:]]
REFUSED += [("invgamma", m, "a", lambda m, s: getattr(st.invgamma, m)(0.7, s)) for m in METHODS[2:]]


@pytest.mark.parametrize("mode", ["forward", "reverse"])
@pytest.mark.parametrize(
    ("dist", "method", "shape", "call"), REFUSED, ids=[f"{r[0]}.{r[1]}" for r in REFUSED]
)
def test_distribution_functions_refuse_their_shape(dist, method, shape, call, mode):
    match = rf"scipy\.stats\.{dist}\.{method}: .* respect to {shape} "
    with pytest.raises(NotImplementedError, match=match):
        dualad.grad(lambda s: call(method, s), 2.5, mode=mode, intercept=True)


# -- multivariate_normal ---------------------------------------------------------------------

rng = np.random.default_rng(3)
_A = rng.standard_normal((3, 3))
S0 = _A @ _A.T + 2 * np.eye(3)
M0 = np.array([0.1, 0.2, -0.3])
XS = rng.standard_normal((4, 3))
mvn = st.multivariate_normal

MVN = {
    "x": (lambda v: mvn.logpdf(v, M0, S0), XS[0]),
    "x_batch": (lambda v: mvn.logpdf(XS * v, M0, S0).sum(), M0 + 1),
    "mean": (lambda v: mvn.logpdf(XS, v, S0).sum(), M0),
    "cov": (lambda v: mvn.logpdf(XS, M0, v).sum(), S0),  # SciPy reads the lower triangle
    "cov_pdf": (lambda v: mvn.pdf(XS[0], mean=M0, cov=v), S0),
    "cov_scalar": (lambda v: mvn.logpdf(XS, M0, v[0]).sum(), np.array([1.3])),
    "cov_s_eye": (lambda v: mvn.logpdf(XS, M0, v[0] * np.eye(3)).sum(), np.array([1.3])),
    "cov_diagonal": (lambda v: mvn.logpdf(XS, M0, v).sum(), np.array([1.3, 1.3, 0.5])),
    "one_dimensional": (lambda v: mvn.logpdf(XS[:, 0], v[0], v[1]).sum(), np.array([0.2, 1.3])),
    "frozen": (lambda v: mvn(v[:3], np.diag(v[3:]) + S0).logpdf(XS).sum(), np.r_[M0, 1, 1, 1]),
    "frozen_pdf": (lambda v: mvn(M0, S0 * v[0]).pdf(XS).sum(), np.array([1.3])),
}


@pytest.mark.parametrize("name", sorted(MVN))
def test_multivariate_normal(name):
    f, v = MVN[name]
    with dualad.intercept(False):
        plain = f(v)
    np.testing.assert_allclose(f(Dual(v, np.ones_like(v))).primal, plain, rtol=1e-13)
    ref = central(f, v)
    for mode in ("forward", "reverse"):
        g = dualad.grad(f, v, mode=mode, intercept=True)
        np.testing.assert_allclose(g, ref, rtol=1e-7, atol=1e-9)
    h = dualad.hessian(f, v, intercept=True)
    ref = central(lambda v: dualad.grad(f, v, mode="reverse", intercept=True), v)
    np.testing.assert_allclose(h, ref, rtol=1e-6, atol=1e-8)


def test_multivariate_normal_refusals_and_errors():
    singular = np.diag([1.0, 1.0, 0.0])
    d = Dual(singular, np.eye(3))
    with pytest.raises(NotImplementedError, match="multivariate_normal.*singular"):
        mvn.logpdf(XS, M0, d, allow_singular=True)
    with pytest.raises(np.linalg.LinAlgError):  # SciPy's own error, allow_singular=False
        mvn.logpdf(XS, M0, d)
    with pytest.raises(ValueError, match="positive semidefinite"):
        mvn.logpdf(XS, M0, Dual(-S0, np.eye(3)))


# -- plain calls ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("dist", "method"), CASES, ids=IDS)
def test_plain_calls_untouched(dist, method):
    d = getattr(st, dist)
    dualad.grad(lambda v: np.sum(_call(dist, method, v)), P0, intercept=True)
    dispatcher = getattr(type(d), method)
    original = dualad._foreign.ORIGINALS[f"scipy.stats.{dist}.{method}"]
    assert dispatcher._dualad_original is original  # the dispatcher is in place
    args, kwds = EDGE_ARGS[dist]
    with np.errstate(all="ignore"):
        want = original(d, EDGE_X, *args, **kwds)
        np.testing.assert_array_equal(getattr(d, method)(EDGE_X, *args, **kwds), want)
        with dualad.intercept(False):
            np.testing.assert_array_equal(getattr(d, method)(EDGE_X, *args, **kwds), want)
    assert type(getattr(d, method)(0.5, *(2.0,) * len(DISTS[dist][0]))) is np.float64

"""scipy.special derivatives at and near removable singularities and far in tails (fuzzer finds).

Each case compares dualad's first derivative (forward and reverse mode), second derivative
(``hessian`` on a float, the scalar path, and on a 1-element array, forward-over-reverse
included) and, where the bug was there, third derivative (nested ``derivative``) with an
independent reference: a closed form, a convergent series evaluated here in plain Python, or
values computed once with mpmath at 80 digits (quoted to 17 significant digits).
"""

import math

import numpy as np
import pytest

sc = pytest.importorskip("scipy.special")

import dualad


def _nth(f, n):
    """The n-th derivative of the scalar function ``f``, by nested ``dualad.derivative``."""
    for _ in range(n):
        f = _derivative_of(f)
    return f


def _derivative_of(f):
    return lambda t: dualad.derivative(f, t)


def _d3(f, x):
    return float(_nth(f, 3)(x))


def check(f, x, d1, d2, d3=None, rtol=1e-13, rtol3=1e-12):
    """f', f'' (and f''') of the scalar function ``f`` at the float ``x``, every path."""
    for mode in ("forward", "reverse"):
        got = float(dualad.grad(f, x, mode=mode))
        assert got == pytest.approx(d1, rel=rtol, abs=0), (mode, x)
    h_scalar = float(dualad.hessian(f, x))
    assert h_scalar == pytest.approx(d2, rel=rtol, abs=0), ("hessian, scalar", x)
    for method in ("auto", "forward-over-reverse"):
        h = dualad.hessian(lambda v: f(v[0]), np.array([x]), method=method)
        assert float(h[0, 0]) == pytest.approx(d2, rel=rtol, abs=0), (method, x)
    if d3 is not None:
        assert _d3(f, x) == pytest.approx(d3, rel=rtol3, abs=0), ("third", x)


# -- 1. boxcox, boxcox1p in lambda at and near 0 ------------------------------------------------
def _exprel_derivative(n, t):
    """d^n/dt^n (e^t - 1)/t = int_0^1 s^n e^(ts) ds = sum_k t^k / (k! (k + n + 1)), |t| <= 3."""
    return math.fsum(t**k / (math.factorial(k) * (k + n + 1)) for k in range(80))


def _boxcox_lambda_derivatives(log, lmbda):
    # (x^l - 1)/l = log * exprel(l log): the n-th l-derivative is log^(n+1) exprel^(n)(l log)
    t = lmbda * log
    return [log ** (n + 1) * _exprel_derivative(n, t) for n in (1, 2, 3)]


def test_boxcox_lambda_derivatives_at_zero_are_the_closed_form():
    # at l = 0: (log x)^(n+1) / (n+1); the l = 0 branch was a constant: second derivative 0
    for x in (2.0, 0.3, 50.0):
        log = math.log(x)
        check(lambda l, x=x: sc.boxcox(x, l), 0.0, log**2 / 2, log**3 / 3, log**4 / 4)
    log = math.log(2.0)
    check(lambda l: sc.boxcox1p(1.0, l), 0.0, log**2 / 2, log**3 / 3, log**4 / 4)


@pytest.mark.parametrize("x", [2.0, 0.3, 50.0])
def test_boxcox_lambda_derivatives_near_zero(x):
    # lambda = scale / log x: l log x = scale, across the series' edge at |l log x| = 1
    # (at 1e-9 the quotient's cancellation gave a second derivative 225.6 for 0.111)
    log = math.log(x)
    for scale in (1e-300, 1e-9, -1e-9, 1e-4, -0.3, 0.99, 1.01, -1.01, 2.5):
        lmbda = scale / log
        d1, d2, d3 = _boxcox_lambda_derivatives(log, lmbda)
        check(lambda l: sc.boxcox(x, l), lmbda, d1, d2, d3)


@pytest.mark.parametrize("x", [1.0, 1e-10, 30.0])
def test_boxcox1p_lambda_derivatives_near_zero(x):
    # log1p, not log(1 + x): at x = 1e-10 that lost 1e-7 of the derivative
    log = math.log1p(x)
    for scale in (1e-9, -0.3, 0.5, 1.5):
        lmbda = scale / log
        d1, d2, d3 = _boxcox_lambda_derivatives(log, lmbda)
        check(lambda l: sc.boxcox1p(x, l), lmbda, d1, d2, d3)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("lmbda", [0.5, 2.0, 3.0])
def test_boxcox_lambda_derivatives_at_x_zero(lmbda):
    # x = 0, l > 0: boxcox = -1/l, so d/dl = 1/l^2, d2 = -2/l^3, d3 = 6/l^4 (log x^l was
    # -inf * 0 = nan there)
    check(lambda l: sc.boxcox(0.0, l), lmbda, 1 / lmbda**2, -2 / lmbda**3, 6 / lmbda**4)
    check(lambda l: sc.boxcox1p(-1.0, l), lmbda, 1 / lmbda**2, -2 / lmbda**3, 6 / lmbda**4)


def test_exprel_derivatives_near_zero():
    # found beside 1.: exprel's own partial switched from a six-term series to the cancelling
    # quotient at |x| = 1e-2 (third derivative 3e-9 off there); now the series up to |x| = 1
    for x in (0.0, 1e-300, 0.0099, 0.0101, -0.02, 0.3, 0.99, 1.01, -1.01, 2.5):
        d1, d2, d3 = (_exprel_derivative(n, x) for n in (1, 2, 3))
        check(sc.exprel, x, d1, d2, d3)


# -- 2. log_ndtr in the left tail, and erfcx (its derivative) for large x ----------------------
# (x, r, r', r'') with r = pdf/cdf = d log_ndtr / dx, from mpmath (80 digits)
LOG_NDTR = [
    (-1e5, 100000.00001, -0.9999999999, 1.9999999976e-15),
    (-1e3, 1000.000999998, -0.99999900000599995, 1.9999760002999959e-9),
    (-40.0, 40.024968847207264, -0.99937733162140861, 3.1017440396486248e-5),
    (-8.0, 8.1213681122361127, -0.98567511655665909, 0.0032918765663441355),
    (-4.5, 4.7043198448277324, -0.96118590071522447, 0.013795416560255427),
    (-3.0, 3.2830986549304365, -0.92944081321473188, 0.031470672830842488),
]


def test_log_ndtr_left_tail():
    # exp(-x²/2 - log_ndtr(x)) lost x² eps: a second derivative -7403 for -1 at x = -1e5
    for x, d1, d2, d3 in LOG_NDTR:
        check(sc.log_ndtr, x, d1, d2, d3)


# (x, erfcx', erfcx'', erfcx''') from mpmath (80 digits)
ERFCX = [
    (3.0, -0.054372260007172871, 0.031768742319742673, -0.02687658611023545),
    (6.0, -0.015060353489052321, 0.0048288937324488541, -0.0022946891668230356),
    (30.0, -0.00062583541050748407, 4.1653092384458876e-5, -4.1560989624037205e-6),
    (7e4, -1.1514073130102963e-10, 3.2897351790223562e-15, -1.4098865047198316e-19),
    (1e8, -5.641895835477562e-17, 1.1283791670955122e-24, -3.385137501286536e-32),
]


def test_erfcx_derivatives_for_large_x():
    # 2x erfcx(x) - 2/sqrt(pi) cancels: 0.0 for -5.6e-17 at x = 1e8
    for x, d1, d2, d3 in ERFCX:
        check(sc.erfcx, x, d1, d2, d3)


# -- 3. Si and Shi at 0 to every order ----------------------------------------------------------
def _sinc_series_derivatives(x, sign):
    """Si (sign -1) or Shi (sign +1): d^n/dx^n of sum_k sign^k x^(2k+1) / ((2k+1) (2k+1)!)."""
    out = []
    for n in (1, 2, 3, 5):
        terms = []
        for k in range(30):
            p = 2 * k + 1
            if p < n:
                continue
            c = sign**k / (p * math.factorial(p)) * math.perm(p, n)
            terms.append(c * x ** (p - n))
        out.append(math.fsum(terms))
    return out


@pytest.mark.parametrize("which", ["Si", "Shi"])
def test_si_shi_derivatives_near_zero(which):
    # the x = 0 branch was a constant (third derivative 0 for -1/3), and near 0 the quotient's
    # derivatives cancelled (NaN at 1e-300); 0.45 and 0.55 straddle the series' edge
    sign, f = (-1, sc.sici) if which == "Si" else (1, sc.shichi)

    def g(t):
        return f(t)[0]

    # Ci and Chi, computed beside them, are infinite at 0: their derivatives overflow there
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        for x in (0.0, 1e-300, -1e-8, 1e-3, 0.45, 0.55):
            d1, d2, d3, d5 = _sinc_series_derivatives(x, sign)
            check(g, x, d1, d2, d3, rtol=1e-13, rtol3=1e-13)
            if x == 0.0:  # the fifth derivative too: 1/5 for both
                assert float(_nth(g, 5)(x)) == pytest.approx(d5, rel=1e-13)
                assert d5 == pytest.approx(0.2, rel=1e-15)


def test_si_third_derivative_at_zero_is_minus_a_third():
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        for x in (0.0, 1e-300):
            d3 = dualad.grad(
                lambda a: dualad.grad(lambda b: dualad.grad(lambda c: sc.sici(c)[0], b), a), x
            )
            assert float(d3) == pytest.approx(-1 / 3, rel=1e-15)
            d3 = dualad.grad(
                lambda a: dualad.grad(lambda b: dualad.grad(lambda c: sc.shichi(c)[0], b), a), x
            )
            assert float(d3) == pytest.approx(1 / 3, rel=1e-15)


# -- 4. removable singularities: spence at 1, elliptic integrals at m = 0; expit far out ----------
def _spence_derivatives(z):
    # spence'(z) = log z / (1 - z) = -log1p(u)/u = -sum_k (-u)^k / (k + 1), u = z - 1 (|u| < 0.1)
    u = z - 1
    out = []
    for n in (0, 1, 2):
        out.append(
            -math.fsum((-1) ** k * math.perm(k, n) * u ** (k - n) / (k + 1) for k in range(n, 60))
        )
    return out


def test_spence_at_and_near_one():
    # 0/0 at z = 1 (NaN for -1), cancelling near it; 1.05 and 0.92 away from the series
    for z in (1.0, 1 + 1e-12, 1 - 1e-7, 1.05, 0.92):
        d1, d2, d3 = _spence_derivatives(z)
        check(sc.spence, z, d1, d2, d3)
    assert _spence_derivatives(1.0) == [-1.0, 0.5, pytest.approx(-2 / 3)]


def _a(n):
    """(1/2)_n / n! = C(2n, n) / 4^n."""
    return math.comb(2 * n, n) / 4**n


def _ellip_derivatives(m, complete_e):
    # K(m) = pi/2 sum a_n² m^n, E(m) = pi/2 sum a_n² m^n / (1 - 2n) (|m| < 1e-3 here)
    out = []
    for d in (1, 2, 3):
        terms = []
        for n in range(d, 40):
            c = _a(n) ** 2 / (1 - 2 * n) if complete_e else _a(n) ** 2
            terms.append(c * math.perm(n, d) * m ** (n - d))
        out.append(math.pi / 2 * math.fsum(terms))
    return out


@pytest.mark.parametrize("m", [0.0, 1e-300, 1e-9, -1e-6, 1e-3])
def test_ellipk_ellipe_at_and_near_zero(m):
    k1, k2, k3 = _ellip_derivatives(m, False)
    e1, e2, e3 = _ellip_derivatives(m, True)
    check(sc.ellipk, m, k1, k2, k3)
    check(sc.ellipe, m, e1, e2, e3)
    check(sc.ellipkm1, 1 - m, -k1, k2, -k3)  # ellipkm1(p) = K(1 - p)
    if m == 0.0:
        assert (k1, k2, k3) == pytest.approx((math.pi / 8, 9 * math.pi / 64, 75 * math.pi / 256))
        assert (e1, e2, e3) == pytest.approx((-math.pi / 8, -3 * math.pi / 64, -15 * math.pi / 256))


def _sin_power_integrals(phi):
    """I_k = int_0^phi sin^2k, k = 1, 2, 3."""
    s2, s4, s6 = math.sin(2 * phi), math.sin(4 * phi), math.sin(6 * phi)
    i1 = phi / 2 - s2 / 4
    i2 = 3 * phi / 8 - s2 / 4 + s4 / 32
    i3 = 5 * phi / 16 - 15 * s2 / 64 + 3 * s4 / 64 - s6 / 192
    return i1, i2, i3


@pytest.mark.parametrize("phi", [0.7, 1.5, 2.5, -4.0])
@pytest.mark.parametrize("m", [0.0, 1e-300, 1e-7, -1e-7])
def test_incomplete_elliptic_m_derivatives_at_and_near_zero(phi, m):
    # d/dm F = (1/2) int sin² (1 - m sin²)^(-3/2), d/dm E = -(1/2) int sin² (1 - m sin²)^(-1/2):
    # in powers of m, sum_n c_n m^n I_(n+1) (m² I_3 is the last term that counts at |m| <= 1e-7)
    i1, i2, i3 = _sin_power_integrals(phi)
    f1 = 0.5 * (i1 + 1.5 * m * i2 + 15 / 8 * m * m * i3)
    f2 = 0.5 * (1.5 * i2 + 2 * 15 / 8 * m * i3)
    e1 = -0.5 * (i1 + 0.5 * m * i2 + 3 / 8 * m * m * i3)
    e2 = -0.5 * (0.5 * i2 + 2 * 3 / 8 * m * i3)
    check(lambda t: sc.ellipkinc(phi, t), m, f1, f2)
    check(lambda t: sc.ellipeinc(phi, t), m, e1, e2)
    if m == 0.0:  # (phi - sin phi cos phi) / 4
        assert f1 == pytest.approx((phi - math.sin(phi) * math.cos(phi)) / 4, rel=1e-14)
        assert e1 == -f1
    # the mixed second derivatives: (1/2) sin² phi / D³ and -(1/2) sin² phi / D, D² = 1 - m sin²
    d2 = 1 - m * math.sin(phi) ** 2
    for f, want in (
        (sc.ellipkinc, 0.5 * math.sin(phi) ** 2 / d2**1.5),
        (sc.ellipeinc, -0.5 * math.sin(phi) ** 2 / d2**0.5),
    ):
        h = dualad.hessian(lambda v, f=f: f(v[0], v[1]), np.array([phi, m]))
        assert h[0, 1] == pytest.approx(want, rel=1e-14)
        assert h[1, 0] == pytest.approx(want, rel=1e-14)


def _expit_derivatives(x):
    # s' = s(1 - s) = 1/(4 cosh²(x/2)); s'' = -s' tanh(x/2); s''' = s' (1 - 6 s')
    d1 = 0.25 / math.cosh(0.5 * x) ** 2 if abs(x) < 700 else math.exp(-abs(x))
    return d1, -d1 * math.tanh(0.5 * x), d1 * (1 - 6 * d1)


@pytest.mark.parametrize("x", [40.0, 300.0, 700.0, 6.0])
def test_expit_derivatives_far_out(x):
    # out (1 - out) rounds to 0 from x = 37 (grad 0.0 for 4.25e-18): 1 - out is out e^-x there
    for point in (x, -x, -0.5, 0.99, 1.01):
        d1, d2, d3 = _expit_derivatives(point)
        check(sc.expit, point, d1, d2, d3)


def test_expit_second_derivative_near_zero_to_rounding():
    # s'' = s'(1 - 2s) crosses 0 at 0: the value near it is right to an absolute eps-level
    # error (as in every tool that states s' = s(1 - s)), not to a relative one
    for x in (1e-10, -1e-10, 1e-6, 0.0):
        d2 = _expit_derivatives(x)[1]
        assert float(dualad.hessian(sc.expit, x)) == pytest.approx(d2, abs=1e-16)
        h = dualad.hessian(lambda v: sc.expit(v[0]), np.array([x]))
        assert float(h[0, 0]) == pytest.approx(d2, abs=1e-16)


# -- 5. cbrt at 0: NumPy's inf/nan on the scalar path, not ZeroDivisionError --------------------
def test_cbrt_hessian_at_zero_is_nan_on_every_path():
    with np.errstate(divide="ignore", invalid="ignore"):
        scalar = dualad.hessian(sc.cbrt, 0.0)  # raised ZeroDivisionError
        array = dualad.hessian(lambda v: sc.cbrt(v).sum(), np.array([0.0]))
        numpy_scalar = dualad.hessian(np.cbrt, 0.0)
        for mode in ("forward", "reverse"):
            assert dualad.grad(sc.cbrt, 0.0, mode=mode) == np.inf
    assert np.isnan(scalar) and np.isnan(array[0, 0]) and np.isnan(numpy_scalar)
    # and elsewhere the closed form -2/9 x^(-5/3)
    assert float(dualad.hessian(sc.cbrt, -8.0)) == pytest.approx(2 / 9 / 32, rel=1e-15)
    assert float(dualad.hessian(sc.cbrt, 8.0)) == pytest.approx(-2 / 9 / 32, rel=1e-15)


@pytest.mark.parametrize(
    "f, x",
    [(sc.logit, 0.0), (sc.logit, 1.0), (sc.log1p, -1.0), (np.log1p, -1.0), (np.log, 0.0)],
    ids=["logit 0", "logit 1", "sc.log1p -1", "np.log1p -1", "np.log 0"],
)
def test_scalar_hessian_at_a_pole_is_not_a_python_exception(f, x):
    # the scalar second-order path evaluated the partial line on Python floats and let its
    # ZeroDivisionError out; it now leaves for the generic path (NumPy's inf/nan, warnings)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = float(dualad.hessian(f, x))
        a = float(dualad.hessian(lambda v: np.sum(f(v)), np.array([x]))[0, 0])
    assert not np.isfinite(h) and not np.isfinite(a)


@pytest.mark.parametrize("g, shift", [(sc.xlogy, 0.0), (sc.xlog1py, 1.0)], ids=["xlogy", "xlog1py"])
def test_xlogy_mixed_second_partial_at_x_zero(g, shift):
    # y's partial x / y had y replaced by 1 wherever x == 0 (to avoid 0/0 at y = 0), so its
    # derivative in x, the mixed partial 1 / y, came out 1 there (arrays: an unsymmetric H)
    x = np.array([0.0, 0.5])
    want = 1 / (0.5 + shift)

    def f(z):
        return g(z[:1], z[1:]).sum()

    for method in ("auto", "hyperdual", "forward-over-reverse"):
        h = dualad.hessian(f, x, method=method)
        np.testing.assert_allclose(h, [[0.0, want], [want, 0.0]], rtol=1e-15)

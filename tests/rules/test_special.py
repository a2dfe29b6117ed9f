"""Every scipy.special rule against central differences, forward and reverse, and nested."""

import math

import numpy as np
import pytest

sc = pytest.importorskip("scipy.special")

import dualad
from dualad import Dual, HyperDual
from dualad.rules import RULES, UNSUPPORTED, special
from tests._check import check_rule

rng = np.random.default_rng(5)
ANY = rng.uniform(-2, 2, (2, 3))
POS = rng.uniform(0.3, 2.0, (2, 3))
BIG = rng.uniform(1.5, 4.0, (2, 3))
UNIT = rng.uniform(-0.8, 0.8, (2, 3))
PROB = rng.uniform(0.1, 0.9, (2, 3))
SIGNED = POS * np.array([[1, -1, 1], [-1, 1, -1]])  # both signs, away from the kink at 0
ROW = rng.uniform(0.5, 1.5, (3,))  # broadcasts against (2, 3)
N = np.array([[0, 1, 2], [3, 4, 5]])  # integer degrees and orders, 0 included


def case(func, *args):
    return pytest.param(func, args, id=func.__name__)


UNARY = [
    case(sc.erf, ANY), case(sc.erfc, ANY), case(sc.erfi, ANY), case(sc.erfcx, ANY),
    case(sc.erfinv, UNIT), case(sc.erfcinv, PROB * 2), case(sc.dawsn, ANY),
    case(sc.ndtr, ANY), case(sc.ndtri, PROB), case(sc.log_ndtr, ANY * 4),
    case(sc.ndtri_exp, -BIG), case(sc.expit, ANY * 3), case(sc.logit, PROB),
    case(sc.log_expit, ANY * 3), case(sc.gamma, POS), case(sc.rgamma, ANY),
    case(sc.gammaln, POS), case(sc.loggamma, POS), case(sc.digamma, POS),
    case(sc.entr, POS), case(sc.j0, POS * 3), case(sc.j1, POS * 3), case(sc.y0, POS * 3),
    case(sc.y1, POS * 3), case(sc.i0, SIGNED), case(sc.i1, SIGNED), case(sc.i0e, SIGNED),
    case(sc.i1e, SIGNED), case(sc.k0, POS), case(sc.k1, POS), case(sc.k0e, POS),
    case(sc.k1e, POS), case(sc.expi, POS), case(sc.exp1, POS), case(sc.spence, BIG),
    case(sc.wrightomega, ANY), case(sc.exp2, ANY), case(sc.exp10, ANY),
    case(sc.expm1, ANY), case(sc.log1p, POS), case(sc.cbrt, POS), case(sc.cosm1, ANY),
    case(sc.exprel, ANY), case(sc.sindg, ANY * 50), case(sc.cosdg, ANY * 50),
    case(sc.tandg, ANY * 30), case(sc.cotdg, POS * 40), case(sc.ellipk, PROB),
    case(sc.ellipkm1, PROB), case(sc.ellipe, PROB),
]  # fmt: skip
MULTI = [case(sc.sici, SIGNED), case(sc.shichi, POS), case(sc.fresnel, ANY), case(sc.airy, ANY)]
# both arguments differentiable; the second one broadcasts
BINARY = [
    case(sc.owens_t, ANY, ROW), case(sc.beta, POS, ROW), case(sc.betaln, POS, ROW),
    case(sc.binom, BIG * 2, ROW), case(sc.poch, POS, ROW), case(sc.xlogy, ANY, ROW),
    case(sc.xlog1py, ANY, ROW), case(sc.rel_entr, POS, ROW), case(sc.kl_div, POS, ROW),
    case(sc.huber, ROW, ANY), case(sc.pseudo_huber, ROW, ANY),
    case(sc.ellipkinc, ANY, ROW * 0.6), case(sc.ellipeinc, ANY, ROW * 0.6),
    case(sc.boxcox, POS, ROW), case(sc.boxcox1p, POS, ROW),
]  # fmt: skip
# leading integer arguments (orders, counts) are not differentiable: None partials
INTEGER_FIRST = [
    case(sc.kn, N, POS), case(sc.yn, N, POS * 3), case(sc.expn, N, POS),
    case(sc.eval_hermite, N, ANY), case(sc.eval_hermitenorm, N, ANY),
    case(sc.pdtr, N, POS * 2), case(sc.pdtrc, N, POS * 2),
    case(sc.bdtr, N, N + 7, PROB), case(sc.bdtrc, N, N + 7, PROB),
    case(sc.nbdtr, N, N + 1, PROB), case(sc.nbdtrc, N, N + 1, PROB),
]  # fmt: skip


def fixed(func, args, at, names):
    """A function with arguments (``names``) whose derivative dualad does not implement:
    ``at`` lists the positions that are differentiable and perturbed in the check."""
    return pytest.param(func, args, at, names, id=func.__name__)


V = np.array([0.5, 1.0, 2.3])
FIXED = [
    fixed(special._HURWITZ, (3.0, POS), (1,), {0: "x"}),
    fixed(sc.gammainc, (BIG, POS), (1,), {0: "a"}),
    fixed(sc.gammaincc, (BIG, POS), (1,), {0: "a"}),
    fixed(sc.gammaincinv, (BIG, PROB), (1,), {0: "a"}),
    fixed(sc.gammainccinv, (BIG, PROB), (1,), {0: "a"}),
    fixed(sc.betainc, (BIG, ROW + 1, PROB), (2,), {0: "a", 1: "b"}),
    fixed(sc.betaincc, (BIG, ROW + 1, PROB), (2,), {0: "a", 1: "b"}),
    fixed(sc.betaincinv, (BIG, ROW + 1, PROB), (2,), {0: "a", 1: "b"}),
    fixed(sc.betainccinv, (BIG, ROW + 1, PROB), (2,), {0: "a", 1: "b"}),
    fixed(sc.chdtr, (BIG, POS), (1,), {0: "v"}),
    fixed(sc.chdtrc, (BIG, POS), (1,), {0: "v"}),
    fixed(sc.gdtr, (POS, BIG, POS), (0, 2), {1: "b"}),
    fixed(sc.gdtrc, (POS, BIG, POS), (0, 2), {1: "b"}),
    fixed(sc.stdtr, (BIG, ANY), (1,), {0: "df"}),
    fixed(sc.fdtr, (BIG, BIG + 1, POS), (2,), {0: "dfn", 1: "dfd"}),
    fixed(sc.fdtrc, (BIG, BIG + 1, POS), (2,), {0: "dfn", 1: "dfd"}),
    fixed(sc.jv, (V, POS * 3), (1,), {0: "v"}),
    fixed(sc.yv, (V, POS * 3), (1,), {0: "v"}),
    fixed(sc.iv, (V, POS), (1,), {0: "v"}),
    fixed(sc.kv, (V, POS), (1,), {0: "v"}),
    fixed(sc.jve, (V, POS * 3), (1,), {0: "v"}),
    fixed(sc.yve, (V, POS * 3), (1,), {0: "v"}),
    fixed(sc.ive, (V, POS), (1,), {0: "v"}),
    fixed(sc.kve, (V, POS), (1,), {0: "v"}),
    fixed(sc.hyp0f1, (V, ANY), (1,), {0: "v"}),
    fixed(sc.hyp1f1, (V, ROW + 1, ANY), (2,), {0: "a", 1: "b"}),
    fixed(sc.hyp2f1, (V, ROW, ROW + 2, UNIT), (3,), {0: "a", 1: "b", 2: "c"}),
    fixed(sc.hyperu, (V, ROW, POS), (2,), {0: "a", 1: "b"}),
    fixed(sc.eval_jacobi, (N, 0.5, 1.5, UNIT), (3,), {0: "n", 1: "alpha", 2: "beta"}),
    fixed(sc.eval_gegenbauer, (N, 1.5, UNIT), (2,), {0: "n", 1: "alpha"}),
    fixed(sc.eval_genlaguerre, (N, 0.5, POS), (2,), {0: "n", 1: "alpha"}),
    fixed(sc.eval_legendre, (N, UNIT), (1,), {0: "n"}),
    fixed(sc.eval_chebyt, (N, UNIT), (1,), {0: "n"}),
    fixed(sc.eval_chebyu, (N, UNIT), (1,), {0: "n"}),
    fixed(sc.eval_chebyc, (N, ANY * 0.9), (1,), {0: "n"}),
    fixed(sc.eval_chebys, (N, ANY * 0.9), (1,), {0: "n"}),
    fixed(sc.eval_laguerre, (N, POS), (1,), {0: "n"}),
    fixed(sc.eval_sh_legendre, (N, PROB), (1,), {0: "n"}),
    fixed(sc.eval_sh_chebyt, (N, PROB), (1,), {0: "n"}),
    fixed(sc.eval_sh_chebyu, (N, PROB), (1,), {0: "n"}),
]
ZERO = [sc.gammasgn, sc.round]


def _over(func, args, at):
    """``func`` as a function of its arguments at positions ``at`` only."""

    def g(*xs):
        full = list(args)
        for i, x in zip(at, xs):
            full[i] = x
        return func(*full)

    return g


# -- first derivatives: forward vs central differences, rule vjp, tape parity --------------


@pytest.mark.parametrize("f, args", UNARY + MULTI + BINARY + INTEGER_FIRST)
def test_rule(f, args):
    check_rule(f, *args)


@pytest.mark.parametrize("f, args", BINARY)
def test_binary_python_scalar_operand(f, args):
    a, b = args
    check_rule(lambda x: f(x, float(np.ravel(b)[0])), a)
    check_rule(lambda y: f(float(np.ravel(a)[0]), y), b)


@pytest.mark.parametrize("f, args, at, names", FIXED)
def test_fixed_argument_functions(f, args, at, names):
    check_rule(_over(f, args, at), *[args[i] for i in at])


def test_digamma_and_polygamma_identities():
    # trigamma through the Hurwitz zeta rule, checked against scipy's own polygamma
    x = POS.ravel()
    np.testing.assert_allclose(dualad.derivative(sc.digamma, x), sc.polygamma(1, x), rtol=1e-13)
    d2 = dualad.derivative(lambda t: dualad.derivative(sc.digamma, t), x)
    np.testing.assert_allclose(d2, sc.polygamma(2, x), rtol=1e-12)


def test_exprel_near_zero():
    # the series branch: exprel'(x) = 1/2 + x/3 + ..., continuous across the switch at 1e-2
    x = np.array([0.0, 1e-6, -3e-3, 9.9e-3, 1.01e-2, -0.05])
    want = sum((m + 1) * x**m / math.factorial(m + 2) for m in range(20))  # the series
    np.testing.assert_allclose(dualad.derivative(sc.exprel, x), want, rtol=1e-11)
    check_rule(sc.exprel, x)
    check_rule(lambda t: dualad.derivative(sc.exprel, t), x)


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_si_shi_and_i1_are_smooth_at_zero(mode):
    # Ci' and Chi' are infinite at 0: an unused Ci must not spoil Si's gradient (reverse
    # mode hands the unused output a zero cotangent)
    x = np.array([0.0, 0.0])
    for f in (lambda t: sc.sici(t)[0], lambda t: sc.shichi(t)[0]):
        assert dualad.grad(lambda t, f=f: np.sum(f(t)), x, mode=mode).tolist() == [1.0, 1.0]
    for f in (sc.i1, sc.j1, sc.i1e):
        np.testing.assert_allclose(dualad.grad(lambda t, f=f: np.sum(f(t)), x, mode=mode), 0.5)


def test_rgamma_at_its_zeros():
    # 1/gamma is entire: at x = -m its derivative is (-1)^m m!, not 0 * psi(-m) = NaN
    x = np.array([0.0, -1.0, -2.0, -3.0, -3.5, 0.2, 2.5])
    want = [1.0, -1.0, 2.0, -6.0]
    np.testing.assert_allclose(dualad.derivative(sc.rgamma, x)[:4], want, rtol=1e-14)
    check_rule(sc.rgamma, x)
    check_rule(lambda t: dualad.derivative(sc.rgamma, t), x)


def test_log_ndtr_deep_left_tail():
    # pdf / cdf ~ -x as x -> -inf; ndtr(x) itself underflows there
    x = np.array([-40.0, -300.0])
    np.testing.assert_allclose(dualad.derivative(sc.log_ndtr, x), -x, rtol=1e-3)


def test_gammainc_at_x_zero_a_one():
    # xlogy keeps x^(a - 1) = 1 at (a = 1, x = 0): P(1, x) = 1 - e^-x, derivative 1
    assert dualad.derivative(lambda x: sc.gammainc(1.0, x), np.array([0.0]))[0] == 1.0


@pytest.mark.parametrize("f", ZERO, ids=lambda f: f.__name__)
def test_piecewise_constant_has_zero_tangent(f):
    d = f(Dual(ANY + 0.01, np.ones_like(ANY)))
    np.testing.assert_array_equal(d.primal, f(ANY + 0.01))
    np.testing.assert_array_equal(d.tangent, 0.0)


# -- nested: second derivatives (forward over forward, and the tape over Duals) ------------


@pytest.mark.parametrize("f, args", UNARY)
def test_second_derivative_unary(f, args):
    check_rule(lambda x: dualad.derivative(f, x), *args)


@pytest.mark.parametrize("f, args", MULTI)
def test_second_derivative_multi_output(f, args):
    for i in range(len(f(args[0]))):
        check_rule(lambda x, i=i: dualad.derivative(lambda t: f(t)[i], x), *args)


@pytest.mark.parametrize("f, args", BINARY + INTEGER_FIRST)
def test_second_derivative_binary(f, args):
    # d/dx f(..., x) as a function of every float argument: f_xx and the cross terms
    def g(*vals):
        return dualad.derivative(lambda s: f(*vals[:-1], s), vals[-1])

    check_rule(g, *args)


@pytest.mark.parametrize("f, args, at, names", FIXED)
def test_second_derivative_fixed(f, args, at, names):
    inner = _over(f, args, at)

    def g(*vals):
        return dualad.derivative(lambda s: inner(*vals[:-1], s), vals[-1])

    check_rule(g, *[args[i] for i in at])


@pytest.mark.parametrize("f", [sc.erf, sc.gammaln, sc.i0, sc.expit, sc.ndtri])
def test_composed_with_numpy(f):
    x = PROB if f is sc.ndtri else POS
    check_rule(lambda t: f(np.sin(t) * t) * f(t), x)


def _log_ndtr_second(x):
    r = np.exp(-0.5 * x * x - sc.log_ndtr(x)) / np.sqrt(2 * np.pi)  # the first derivative
    return -x * r - r * r


SECOND = {
    sc.erf: lambda x: -4 / np.sqrt(np.pi) * x * np.exp(-x * x),
    sc.gammaln: lambda x: sc.polygamma(1, x),
    sc.digamma: lambda x: sc.polygamma(2, x),
    sc.i0: lambda x: 0.5 * (sc.i0(x) + sc.iv(2, x)),
    sc.j0: lambda x: -0.5 * (sc.j0(x) - sc.jv(2, x)),
    sc.expit: lambda x: sc.expit(x) * (1 - sc.expit(x)) * (1 - 2 * sc.expit(x)),
    sc.log_ndtr: _log_ndtr_second,
}


@pytest.mark.parametrize("f", list(SECOND), ids=lambda f: f.__name__)
def test_hyperdual_second_derivative(f):
    x = POS
    h = f(HyperDual(x, 1.0, 1.0, 0.0))
    np.testing.assert_allclose(h.eps12, SECOND[f](x), rtol=1e-11, atol=1e-14)


@pytest.mark.parametrize("method", ["hyperdual", "forward-over-reverse"])
def test_hessian(method):
    def f(v):
        return np.sum(sc.gammaln(v)) + sc.erf(v[0]) * sc.i1(v[1]) + sc.xlogy(v[2], v[1])

    x = np.array([0.7, 1.3, 2.1])
    H = dualad.hessian(f, x, method=method)
    want = np.diag(sc.polygamma(1, x))
    derf = 2 / np.sqrt(np.pi) * np.exp(-(x[0] ** 2))
    di1 = 0.5 * (sc.i0(x[1]) + sc.iv(2, x[1]))
    want[0, 0] += SECOND[sc.erf](x[0]) * sc.i1(x[1])
    want[1, 1] += sc.erf(x[0]) * 0.5 * (sc.i1(x[1]) + 0.5 * (sc.iv(1, x[1]) + sc.iv(3, x[1])))
    want[1, 1] -= x[2] / x[1] ** 2
    want[0, 1] = want[1, 0] = derf * di1
    want[1, 2] = want[2, 1] = 1 / x[1]
    np.testing.assert_allclose(H, want, rtol=1e-12)


def test_scalar_fast_paths():
    # 0-d Duals take the packed-tangent paths, scalar tapes the scalar record path
    d = sc.erf(Dual(np.float64(0.5), 1.0))
    assert np.isclose(d.tangent, 2 / np.sqrt(np.pi) * np.exp(-0.25))

    def f(v):
        return sc.gamma(v[0]) * sc.betaln(v[0], v[1]) + sc.gammainc(2.0, v[1])

    x = np.array([1.5, 2.5])
    g_rev = dualad.grad(f, x, mode="reverse")
    g_fwd = dualad.grad(f, x, mode="forward")
    np.testing.assert_allclose(g_rev, g_fwd, rtol=1e-13)
    # create_graph over a scalar record: the constant a = 2.0 must not be differentiated
    H = dualad.hessian(f, x, method="forward-over-reverse")
    np.testing.assert_allclose(H, dualad.hessian(f, x, method="hyperdual"), rtol=1e-12)


# -- what is not differentiated raises, naming the function ---------------------------------


@pytest.mark.parametrize("f, args, at, names", FIXED)
def test_fixed_argument_raises_forward_and_reverse(f, args, at, names):
    name = RULES[f].name.split(".")[-1]
    for pos, arg in names.items():
        a = np.asarray(args[pos], dtype=float)
        msg = rf"scipy\.special\.{name} with respect to its argument {arg}\b"

        def g(t, pos=pos):
            full = list(args)
            full[pos] = t
            return np.sum(f(*full))

        with pytest.raises(NotImplementedError, match=msg):
            dualad.grad(g, a, mode="forward")
        with pytest.raises(NotImplementedError, match=msg):
            dualad.grad(g, a, mode="reverse")


def test_unsupported_and_unregistered_name_the_function():
    x = Dual(POS + 1.5, np.ones_like(POS))
    with pytest.raises(NotImplementedError, match=r"does not differentiate scipy\.special\.zetac"):
        sc.zetac(x)
    with pytest.raises(NotImplementedError, match=r"scipy\.special\._riemann_zeta"):
        sc.zeta(x)  # the Riemann zeta: scipy's Python zeta() calls this private ufunc
    with pytest.raises(NotImplementedError, match=r"no derivative rule for scipy\.special\.agm"):
        sc.agm(x, 1.0)
    assert set(special.UNSUPPORTED_FUNCS) <= set(UNSUPPORTED)


def test_softplus_works_through_numpy():
    # not a ufunc in current scipy: it calls np.logaddexp, which has a rule
    if isinstance(sc.softplus, np.ufunc):
        pytest.skip("softplus is a ufunc here and would need its own rule")
    np.testing.assert_allclose(dualad.derivative(sc.softplus, ANY), sc.expit(ANY), rtol=1e-14)


def test_every_registered_scipy_ufunc_is_tested():
    ufuncs = {getattr(sc, n) for n in dir(sc) if isinstance(getattr(sc, n), np.ufunc)}
    ufuncs.add(special._HURWITZ)
    tested = {p.values[0] for p in UNARY + MULTI + BINARY + INTEGER_FIRST + FIXED} | set(ZERO)
    untested = {u for u in ufuncs if u in RULES} - tested
    assert not untested, sorted(u.__name__ for u in untested)


def test_boxcox_at_lambda_zero():
    # l = 0 is log x: d/dx = 1/x, d/dl = (log x)^2 / 2 (the limit of the general formula)
    x = np.array([0.5, 2.0, 3.0])
    for mode in ("forward", "reverse"):
        gx = dualad.grad(lambda x: np.sum(sc.boxcox(x, 0.0)), x, mode=mode)
        np.testing.assert_allclose(gx, 1 / x, rtol=1e-14)
        gl = dualad.grad(lambda lm: np.sum(sc.boxcox(x, lm)), 0.0, mode=mode)
        np.testing.assert_allclose(gl, np.sum(0.5 * np.log(x) ** 2), rtol=1e-14)


def test_partials_at_their_edges():
    # xlogy(0, y) is 0 for every y: its y-partial is 0 at y = 0 too (x / y gave nan)
    for f in (sc.xlogy, sc.xlog1py):
        for mode in ("forward", "reverse"):
            g = dualad.grad(lambda y, f=f: f(0.0, y), 0.0 if f is sc.xlogy else -1.0, mode=mode)
            assert g == 0.0
    # stdtr at df = inf is the normal cdf: its t-partial is the normal density
    t = np.array([-1.0, 0.3, 2.0])
    for mode in ("forward", "reverse"):
        g = dualad.grad(lambda t: np.sum(sc.stdtr(np.inf, t)), t, mode=mode)
        np.testing.assert_allclose(g, np.exp(-0.5 * t * t) / np.sqrt(2 * np.pi), rtol=1e-14)

"""Every elementwise rule against central differences, forward and reverse."""

import numpy as np
import pytest

import dualad
from dualad.rules import RULES
from dualad.rules.elementwise import PRIMAL_ONLY_UFUNCS, UNSUPPORTED_UFUNCS
from tests._check import check_rule

rng = np.random.default_rng(7)
POS = rng.uniform(0.3, 2.0, (2, 3))  # inside every domain below
UNIT = rng.uniform(-0.8, 0.8, (2, 3))
ANY = rng.uniform(-2, 2, (2, 3))
BIG = rng.uniform(1.2, 3.0, (2, 3))
ROW = rng.uniform(0.5, 1.5, (3,))  # broadcasts against (2, 3)

UNARY = {
    np.negative: ANY, np.positive: ANY, np.conjugate: ANY, np.absolute: ANY, np.fabs: ANY,
    np.sqrt: POS, np.cbrt: ANY, np.square: ANY, np.reciprocal: POS, np.exp: ANY,
    np.exp2: ANY, np.expm1: ANY, np.log: POS, np.log2: POS, np.log10: POS, np.log1p: POS,
    np.sin: ANY, np.cos: ANY, np.tan: UNIT, np.arcsin: UNIT, np.arccos: UNIT, np.arctan: ANY,
    np.sinh: ANY, np.cosh: ANY, np.tanh: ANY, np.arcsinh: ANY, np.arccosh: BIG,
    np.arctanh: UNIT, np.deg2rad: ANY, np.rad2deg: ANY, np.radians: ANY, np.degrees: ANY,
}  # fmt: skip
BINARY = {
    np.add: (ANY, ROW), np.subtract: (ANY, ROW), np.multiply: (ANY, ROW),
    np.divide: (ANY, ROW), np.power: (POS, ROW), np.float_power: (POS, ROW),
    np.logaddexp: (ANY, ROW), np.logaddexp2: (ANY, ROW), np.arctan2: (ANY, ROW),
    np.hypot: (ANY, ROW), np.maximum: (ANY, ROW), np.minimum: (ANY, ROW),
    np.fmax: (ANY, ROW), np.fmin: (ANY, ROW), np.fmod: (POS * 3, ROW),
    np.remainder: (POS * 3, ROW), np.copysign: (ANY, ROW),
}  # fmt: skip
ZERO = [np.sign, np.floor, np.ceil, np.trunc, np.rint, np.spacing]


@pytest.mark.parametrize("f", list(UNARY), ids=lambda f: f.__name__)
def test_unary(f):
    check_rule(f, UNARY[f])


@pytest.mark.parametrize("f", list(BINARY), ids=lambda f: f.__name__)
def test_binary_broadcast(f):
    a, b = BINARY[f]
    check_rule(f, a, b)  # both differentiable, b broadcast along axis 0
    check_rule(f, b, np.abs(a[:1]) + 0.5)  # a broadcast, scalar-like row on the right


@pytest.mark.parametrize("f", list(BINARY), ids=lambda f: f.__name__)
def test_binary_scalar_operand(f):
    a, b = BINARY[f]
    check_rule(lambda x: f(x, 1.3), a)
    if f not in (np.fmod, np.remainder):
        check_rule(lambda y: f(1.7, y), b)


@pytest.mark.parametrize("f", ZERO, ids=lambda f: f.__name__)
def test_piecewise_constant_has_zero_tangent(f):
    from dualad import Dual

    d = f(Dual(ANY + 0.01, np.ones_like(ANY)))
    np.testing.assert_array_equal(d.primal, f(ANY + 0.01))
    np.testing.assert_array_equal(d.tangent, 0.0)


def test_abs_at_zero_is_zero_subgradient():
    from dualad import Dual

    assert abs(Dual(0.0, 1.0)).tangent == 0.0
    assert np.abs(Dual(np.zeros(3), np.ones(3))).tangent.tolist() == [0, 0, 0]


def test_maximum_tie_splits_evenly():
    from dualad import Dual

    d = np.maximum(Dual(1.0, 1.0), Dual(1.0, 0.0, tag=1))
    assert d.tangent == 0.5


def test_every_numpy_ufunc_is_classified_once():
    ufuncs = {getattr(np, n) for n in dir(np) if isinstance(getattr(np, n), np.ufunc)}
    groups = [set(RULES) & ufuncs, set(PRIMAL_ONLY_UFUNCS), set(UNSUPPORTED_UFUNCS)]
    missing = ufuncs - set().union(*groups)
    assert not missing, f"unclassified ufuncs: {sorted(u.__name__ for u in missing)}"
    assert sum(len(g) for g in groups) == len(set().union(*groups)), "a ufunc is in two groups"


# -- two outputs: modf and divmod ----------------------------------------------------------------


def _central(f, x, h=1e-6):
    cols = []
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = h
        cols.append((f(x + e) - f(x - e)) / (2 * h))
    return np.stack(cols, axis=-1)


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_modf_frac_has_slope_one_and_the_integral_part_none(mode):
    x = np.array([1.3, -2.7, 0.4])

    def f(x):
        frac, whole = np.modf(x * 1.5)
        return frac * np.sin(x) + whole * x

    np.testing.assert_allclose(dualad.jacobian(f, x, mode=mode), _central(f, x), atol=1e-7)


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_divmod_remainder_in_both_arguments(mode):
    x = np.array([5.3, -2.6, 7.1, 1.9])

    def f(x):
        q, r = np.divmod(x[:2] * 3.0, x[2:])
        return r * x[:2] + q

    np.testing.assert_allclose(dualad.jacobian(f, x, mode=mode), _central(f, x), atol=1e-6)


def test_ldexp_is_linear_in_its_mantissa():
    e = np.array([[1, 2, 3], [0, -1, 4]])
    check_rule(lambda m: np.ldexp(m, e), ANY)


@pytest.mark.parametrize("f", [np.floor_divide, np.heaviside],
                         ids=lambda f: f.__name__)  # fmt: skip
def test_piecewise_constant_binary_has_zero_derivative(f):
    a, b = ANY, ROW + 0.25  # away from the steps
    for mode in ("forward", "reverse"):
        J = dualad.jacobian(lambda x: f(x, b), a, mode=mode)
        np.testing.assert_array_equal(J, np.zeros(a.shape + a.shape))


def test_nextafter_moves_with_x():
    # nextafter(x, y) is x plus one ulp towards y: slope 1 in x (it was stated zero), 0 in y
    a, b = ANY, ROW + 0.25
    for mode in ("forward", "reverse"):
        J = dualad.jacobian(lambda x: np.nextafter(x, b), a, mode=mode)
        np.testing.assert_array_equal(J, np.eye(a.size).reshape(a.shape + a.shape))
        J = dualad.jacobian(lambda y: np.nextafter(a, y), b + 0 * a, mode=mode)
        np.testing.assert_array_equal(J, np.zeros(a.shape + a.shape))
    x = np.array([0.3, -1.2])  # against central differences
    num = [(np.nextafter(x + h, 2.0) - np.nextafter(x - h, 2.0)) / (2 * h) for h in (1e-6,)]
    np.testing.assert_allclose(dualad.derivative(lambda z: np.nextafter(z, 2.0), x), num[0])

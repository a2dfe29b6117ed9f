"""Composites (dualad/rules/composite.py): NumPy's value, and derivatives in both modes.

Each case runs through ``check_rule`` (forward with 1 and 3 directions against central
differences, then the tape against forward), and its primal is compared with NumPy's own
function on the plain arrays.
"""

import numpy as np
import pytest

import dualad
from dualad import Dual
from dualad.rules import COMPOSITES
from tests._check import check_rule

rng = np.random.default_rng(21)


def R(*shape):
    return rng.standard_normal(shape)


def POS(*shape):
    return rng.uniform(0.5, 2.0, shape)


def GRID(n):
    """Increasing, unevenly spaced coordinates."""
    return np.cumsum(rng.uniform(0.3, 1.0, n))


#: interp's sample points (a list: check_rule perturbs only arrays)
XP = [-1.3, -0.6, 0.1, 0.4, 1.2, 2.0]


def case(name, func, *args, **kwargs):
    skip = pytest.mark.skipif(func is None, reason="not in this NumPy")
    return pytest.param(func, args, kwargs, id=name, marks=skip)


def _value_matches_numpy(func, args, kwargs, rtol=1e-13):
    got = COMPOSITES[func](*args, **kwargs)
    want = func(*args, **kwargs)
    assert type(got) is type(want) or not isinstance(want, (tuple, list))
    got, want = ((x if isinstance(x, (tuple, list)) else (x,)) for x in (got, want))
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert np.shape(g) == np.shape(w)
        np.testing.assert_allclose(g, w, rtol=rtol, atol=1e-14)


CASES = [
    case("linspace", np.linspace, np.array(0.3), np.array(2.5), 7),
    case("linspace-no-endpoint", np.linspace, np.array(-1.0), np.array(2.0), 5, False),
    case("linspace-arrays", np.linspace, R(3), R(3), 4),
    case("linspace-axis", np.linspace, R(2, 3), R(2, 3), 4, axis=-1),
    case("linspace-one", np.linspace, np.array(0.3), np.array(2.5), 1),
    case("linspace-broadcast-ends", np.linspace, R(3), np.array(2.5), 4),
    case("linspace-broadcast-ends-2d", np.linspace, R(2, 1), R(3), 5, axis=1),
    case("polyval", np.polyval, R(4), R(5)),
    case("polyval-scalar-x", np.polyval, R(3), np.array(0.7)),
    case("polyval-2d-x", np.polyval, R(3), R(2, 3)),
    # grids
    case("logspace", np.logspace, np.array(0.3), np.array(1.5), 6),
    case("logspace-base", np.logspace, np.array(-0.5), np.array(1.2), 5, True, np.array(2.5)),
    case("logspace-no-endpoint", np.logspace, R(3), R(3), 4, False),
    case("logspace-array-base", np.logspace, R(3), R(3), 4, True, POS(3), axis=1),
    case("geomspace", np.geomspace, np.array(0.3), np.array(20.0), 7),
    case("geomspace-negative", np.geomspace, np.array(-0.5), np.array(-8.0), 5),
    case("geomspace-mixed-rows", np.geomspace, np.array([1.0, -2.0]), np.array([3.0, -0.1]), 5),
    case("geomspace-no-endpoint", np.geomspace, POS(3), POS(3), 4, False, axis=-1),
    case("geomspace-one", np.geomspace, np.array(2.0), np.array(5.0), 1),
    case("geomspace-two", np.geomspace, np.array(2.0), np.array(5.0), 2),
    case("meshgrid", np.meshgrid, R(3), R(4)),
    case("meshgrid-ij", np.meshgrid, R(3), R(4), R(2), indexing="ij"),
    case("meshgrid-sparse", np.meshgrid, R(3), R(4), sparse=True),
    case("meshgrid-no-copy", np.meshgrid, R(2), R(3), R(2), sparse=True, copy=False),
    case("meshgrid-one", np.meshgrid, R(2, 3)),
    # polynomials
    case("vander", np.vander, R(4)),
    case("vander-N", np.vander, R(3), 5),
    case("vander-increasing", np.vander, R(4), 3, True),
    case("vander-N1", np.vander, R(4), 1),
    case("polyfit", np.polyfit, R(8), R(8), 3),
    case("polyfit-2d-y", np.polyfit, R(9), R(9, 2), 2),
    case("polyfit-weights", np.polyfit, R(7), R(7), 2, None, False, POS(7)),
    case("polyfit-weights-2d", np.polyfit, R(7), R(7, 3), 1, w=POS(7)),
    case("polyfit-deg0", np.polyfit, R(5), R(5), 0),
    case("polyfit-full", np.polyfit, R(8), R(8), 3, None, True),
    case("polyfit-full-2d-y", np.polyfit, R(9), R(9, 2), 2, full=True),
    # differences, sums, integrals
    case("gradient", np.gradient, R(6)),
    case("gradient-scalar-step", np.gradient, R(6), np.array(0.3)),
    case("gradient-edge2", np.gradient, R(5), edge_order=2),
    case("gradient-2d", np.gradient, R(4, 5)),
    case("gradient-2d-steps", np.gradient, R(4, 5), np.array(0.5), np.array(2.0)),
    case("gradient-coordinates", np.gradient, R(6), GRID(6)),
    case("gradient-coordinates-edge2", np.gradient, R(6), GRID(6), edge_order=2),
    case("gradient-plain-coordinates", np.gradient, R(6), list(GRID(6))),
    case("gradient-uniform-plain-coordinates", np.gradient, R(5), [0.0, 0.5, 1.0, 1.5, 2.0]),
    case("gradient-mixed-spacing", np.gradient, R(4, 5), GRID(4), 0.7, edge_order=2),
    case("gradient-axis", np.gradient, R(3, 4, 5), axis=1),
    case("gradient-axis-tuple", np.gradient, R(3, 4, 5), np.array(0.4), axis=(0, -1)),
    case("gradient-axis-coords", np.gradient, R(3, 4), GRID(3), GRID(4), axis=(0, 1)),
    case("gradient-two-points", np.gradient, R(2, 3), axis=0),
    case("gradient-three-points-edge2", np.gradient, R(3), GRID(3), edge_order=2),
    case("trapezoid", np.trapezoid, R(6)),
    case("trapezoid-dx", np.trapezoid, R(3, 6), dx=0.25),
    case("trapezoid-x", np.trapezoid, R(6), GRID(6)),
    case("trapezoid-x-axis", np.trapezoid, R(5, 3), GRID(5), axis=0),
    case("trapezoid-x-2d", np.trapezoid, R(3, 5), np.cumsum(POS(3, 5), axis=1)),
    case("trapezoid-plain-x", np.trapezoid, R(2, 4), [0.0, 0.5, 2.0, 2.25]),
    case("ediff1d", np.ediff1d, R(6)),
    case("ediff1d-2d", np.ediff1d, R(2, 3)),
    case("ediff1d-ends", np.ediff1d, R(5), R(2), R(3)),
    case("ediff1d-scalar-ends", np.ediff1d, R(4), to_begin=-7.0, to_end=[1, 2]),
    case("unwrap", np.unwrap, np.cumsum(R(12)) * 3.0),
    case("unwrap-2d-axis0", np.unwrap, np.cumsum(R(10, 3), axis=0) * 4.0, None, 0),
    case("unwrap-discont", np.unwrap, np.cumsum(R(12)) * 3.0, 4.0),
    case("unwrap-period", np.unwrap, np.cumsum(R(3, 12), axis=1) * 250.0, period=360),
    case("cumulative_sum", getattr(np, "cumulative_sum", None), R(5)),
    case("cumulative_sum-initial", getattr(np, "cumulative_sum", None), R(5), include_initial=True),
    case(
        "cumulative_sum-axis",
        getattr(np, "cumulative_sum", None),
        R(3, 4),
        axis=1,
        include_initial=True,
    ),
    case("cumulative_sum-scalar", getattr(np, "cumulative_sum", None), np.array(2.5)),
    case("cumulative_prod", getattr(np, "cumulative_prod", None), R(5)),
    case(
        "cumulative_prod-initial",
        getattr(np, "cumulative_prod", None),
        R(2, 4),
        axis=0,
        include_initial=True,
    ),
    case("cumulative_prod-axis", getattr(np, "cumulative_prod", None), R(3, 4), axis=-1),
    # elementwise
    case("sinc", np.sinc, R(7)),
    case("sinc-zero", np.sinc, np.array([0.0, 0.5, -1.0, 2.5])),
    case("sinc-scalar", np.sinc, np.array(0.3)),
    case("nan_to_num", np.nan_to_num, np.array([1.0, np.nan, -2.0, np.nan])),
    case("nan_to_num-value", np.nan_to_num, np.array([[np.nan, 0.5], [0.25, np.nan]]), nan=-1.0),
    case("nan_to_num-finite", np.nan_to_num, R(2, 3), False),
    # interpolation (xp is a list: a constant, as it must be)
    case("interp", np.interp, np.array([-1.1, -0.35, 0.0, 0.27, 0.8, 1.55, 1.9]), XP, R(6)),
    case("interp-scalar-x", np.interp, np.array(0.37), XP, R(6)),
    case("interp-outside", np.interp, np.array([-5.0, -0.3, 0.2, 4.0]), XP, R(6)),
    case(
        "interp-left-right",
        np.interp,
        np.array([-5.0, 0.2, 4.0]),
        XP,
        R(6),
        np.array(0.3),
        np.array(-1.5),
    ),
    case("interp-2d-x", np.interp, np.array([[-1.0, 0.3, 1.7], [0.05, 0.5, 1.3]]), XP, R(6)),
    case(
        "interp-period",
        np.interp,
        np.array([-7.3, -2.7, 0.8, 3.6, 4.6, 6.2, 11.1]),
        [0.5, 2.5, 1.0, 4.0, 3.0],
        R(5),
        period=5.0,
    ),
    case("interp-one-point", np.interp, np.array([-1.0, 1.0]), [0.0], R(1)),
]


@pytest.mark.parametrize("f, args, kwargs", CASES)
def test_composites(f, args, kwargs):
    _value_matches_numpy(f, args, kwargs)
    check_rule(f, *args, **kwargs)


def test_linspace_retstep_carries_the_step():
    a, b = Dual(np.float64(1.0), np.float64(1.0)), Dual(np.float64(3.0), np.float64(0.0))
    y, step = np.linspace(a, b, 5, retstep=True)
    assert step.primal == 0.5 and step.tangent == -0.25
    np.testing.assert_allclose(y.tangent, [1.0, 0.75, 0.5, 0.25, 0.0])


def test_linspace_derivative_by_grad():
    # d/db sum(linspace(0, b, 5)) = sum(i / 4 for i in 0..4) = 2.5, in both modes
    for mode in ("forward", "reverse"):
        g = dualad.grad(lambda b: np.sum(np.linspace(0.0, b, 5)), np.float64(2.0), mode=mode)
        np.testing.assert_allclose(g, 2.5)


def test_options_not_restated_raise_naming_them():
    with pytest.raises(NotImplementedError, match="poly1d"):
        np.polyval(np.poly1d([1.0, 2.0]), Dual(np.float64(1.0), np.float64(1.0)))


# -- values on plain inputs NumPy accepts but derivatives do not apply to (integers, lists,
# -- NaN and infinities, repeated sample points): the restatement still gives NumPy's values

VALUE_CASES = [
    case("logspace-float32", np.logspace, 0.2, 0.9, 3, dtype=np.float32),
    case("geomspace-python-numbers", np.geomspace, 1, 1000, 4),
    case("geomspace-two-ends", np.geomspace, np.array([1.0, 2.0]), 64.0, 7),
    case("meshgrid-lists", np.meshgrid, [1, 2, 3], [4.0, 5.0]),
    case("meshgrid-none", np.meshgrid),
    case("vander-int", np.vander, np.array([1, 2, 3, 5])),
    case("vander-list", np.vander, [0.5, 2.0], 4, True),
    case("gradient-int", np.gradient, np.array([1, 4, 9, 16, 25])),
    case(
        "gradient-int-coordinates", np.gradient, np.array([1.0, 4, 9, 16]), np.array([0, 1, 3, 4])
    ),
    case("gradient-list", np.gradient, [[1.0, 2.0, 4.0], [2.0, 5.0, 3.0]], 2.0, [0.0, 0.5, 2.0]),
    case(
        "gradient-uniform-edge2",
        np.gradient,
        R(5, 4),
        [0.0, 0.5, 1.0, 1.5, 2.0],
        edge_order=2,
        axis=0,
    ),
    case("trapezoid-int", np.trapezoid, np.array([1, 2, 4]), np.array([0, 1, 3])),
    case("ediff1d-int", np.ediff1d, np.array([[1, 4], [9, 16]]), 0, [-1, -2]),
    case(
        "interp-repeated-xp",
        np.interp,
        np.array([0.0, 1.0, 1.5, 2.0, 2.5, 3.0]),
        [0.0, 1.0, 1.0, 2.0, 2.0],
        [0.0, 1.0, 3.0, 4.0, 6.0],
    ),
    case("interp-at-knots", np.interp, np.array(XP), XP, R(6)),
    case("interp-nan-x", np.interp, np.array([np.nan, 0.5]), [0.0, 1.0, 2.0], [1.0, 1.0, 1.0]),
    case("interp-int-fp", np.interp, np.array([0.5, 1.5]), [0, 1, 2], [3, 1, 4]),
    case("sinc-list", np.sinc, [0.0, 1.0, -0.5]),
    case("nan_to_num-inf", np.nan_to_num, np.array([np.nan, np.inf, -np.inf, 1.0])),
    case(
        "nan_to_num-inf-values",
        np.nan_to_num,
        np.array([[np.inf, 0.5], [np.nan, -np.inf]]),
        nan=-1.0,
        posinf=9.0,
        neginf=-9.0,
    ),
    case("nan_to_num-int", np.nan_to_num, np.array([1, 2])),
    case(
        "cumulative_sum-int",
        getattr(np, "cumulative_sum", None),
        np.array([1, 2, 3]),
        include_initial=True,
    ),
    case(
        "cumulative_prod-dtype",
        getattr(np, "cumulative_prod", None),
        np.array([1.5, 2.0]),
        dtype=np.float32,
    ),
]


@pytest.mark.parametrize("f, args, kwargs", VALUE_CASES)
def test_composite_values(f, args, kwargs):
    _value_matches_numpy(f, args, kwargs)


def test_values_are_numpys_to_the_bit():
    # the restatements follow NumPy's arithmetic, so plain inputs give identical floats
    p = np.cumsum(R(40)) * 3.0
    for func, args, kwargs in [
        (np.unwrap, (p,), {}),
        (np.unwrap, (np.array([0.0, np.pi, 0.0, -np.pi, 2 * np.pi]),), {}),  # jumps of pi
        (np.interp, (R(30) * 2.0, np.sort(R(9)), R(9)), {}),
        (np.gradient, (R(7), GRID(7)), {"edge_order": 2}),
        (np.geomspace, (0.5, 300.0, 9), {}),
        (np.logspace, (-1.0, 2.0, 9), {}),
        (np.vander, (R(5),), {}),
        (np.polyfit, (R(9), R(9), 3), {}),
        (np.trapezoid, (R(3, 8), GRID(8)), {}),
    ]:
        np.testing.assert_array_equal(COMPOSITES[func](*args, **kwargs), func(*args, **kwargs))


def test_float_dtype_is_kept():
    y = np.logspace(Dual(np.float64(0.2), np.float64(1.0)), 0.9, 3, dtype=np.float32)
    assert y.primal.dtype == np.float32
    np.testing.assert_allclose(y.primal, np.logspace(0.2, 0.9, 3, dtype=np.float32))


# -- dedicated checks ----------------------------------------------------------------------


def _dual(x, v=None):
    x = np.asarray(x, dtype=float)
    return Dual(x, np.ones_like(x) if v is None else v)


def test_geomspace_ends_are_the_inputs():
    start, stop = Dual(np.float64(-0.3), np.float64(2.0)), Dual(np.float64(-7.0), np.float64(-1.0))
    y = np.geomspace(start, stop, 6)
    assert y.primal[0] == -0.3 and y.primal[-1] == -7.0
    assert y.tangent[0] == 2.0 and y.tangent[-1] == -1.0
    with pytest.raises(ValueError, match="zero"):
        np.geomspace(_dual(0.0), 1.0, 3)


def test_geomspace_ends_of_opposite_signs_are_nan_inside_as_in_numpy():
    with pytest.warns(RuntimeWarning):
        want = np.geomspace(1.0, -8.0, 4)
    with pytest.warns(RuntimeWarning):
        got = np.geomspace(_dual(1.0), -8.0, 4)
    np.testing.assert_array_equal(got.primal, want)


def test_meshgrid_returns_a_tuple_of_grids():
    x, y = _dual([1.0, 2.0, 3.0]), np.array([4.0, 5.0])
    X, Y = np.meshgrid(x, y)
    assert isinstance(np.meshgrid(x, y), tuple)
    assert isinstance(X, Dual) and not isinstance(Y, Dual)
    np.testing.assert_array_equal(X.tangent, np.ones((2, 3)))
    np.testing.assert_array_equal(Y, np.meshgrid([1.0, 2.0, 3.0], y)[1])
    with pytest.raises(ValueError, match="indexing"):
        np.meshgrid(x, y, indexing="yx")


def test_gradient_of_several_axes_is_a_tuple():
    f = _dual(R(3, 4))
    out = np.gradient(f)
    assert isinstance(out, tuple) and len(out) == 2 and all(isinstance(g, Dual) for g in out)
    assert isinstance(np.gradient(f, axis=0), Dual)


def test_gradient_in_differentiable_coordinates_on_a_uniform_grid():
    # a plain uniform grid takes NumPy's uniform formula; a differentiable one always takes
    # the non-uniform formula, whose derivative in the coordinates the uniform one lacks
    f, x = R(6), np.linspace(0.0, 2.5, 6)
    v = R(6)
    got = np.gradient(f, Dual(x, v), edge_order=2)
    np.testing.assert_allclose(got.primal, np.gradient(f, x, edge_order=2), rtol=1e-13)
    h = 1e-6
    fd = (np.gradient(f, x + h * v, edge_order=2) - np.gradient(f, x - h * v, edge_order=2)) / 2 / h
    np.testing.assert_allclose(got.tangent, fd, rtol=1e-6, atol=1e-8)


def test_gradient_errors_are_numpys():
    for args, kwargs in [
        ((R(4), 1.0, 2.0), {}),  # too many spacings
        ((R(2),), {"edge_order": 2}),  # too few points
        ((R(4),), {"edge_order": 3}),
        ((R(4), R(3)), {}),  # coordinates of the wrong length
        ((R(4), R(2, 2)), {}),
        ((R(3, 4),), {"axis": 2}),
    ]:
        with pytest.raises(Exception) as want:
            np.gradient(*args, **kwargs)
        with pytest.raises(want.type):
            np.gradient(_dual(args[0]), *args[1:], **kwargs)


def test_unwrap_tangent_is_the_inputs_exactly():
    p = np.cumsum(R(3, 30), axis=1) * 3.0
    v = R(3, 30)
    got = np.unwrap(Dual(p, v))
    np.testing.assert_array_equal(got.primal, np.unwrap(p))
    np.testing.assert_array_equal(got.tangent, v)
    w = R(3, 30)
    g = dualad.grad(lambda q: np.sum(w * np.unwrap(q, axis=1)), p, mode="reverse")
    np.testing.assert_array_equal(g, w)


def test_interp_outside_and_at_the_ends():
    xp, fp = np.array([0.0, 1.0, 3.0]), np.array([2.0, 4.0, 1.0])
    x = np.array([-1.0, 0.0, 0.5, 3.0, 4.0])
    y = np.interp(Dual(x, np.ones(5)), xp, fp)
    np.testing.assert_array_equal(y.primal, np.interp(x, xp, fp))
    # slopes: flat outside, the segment's inside, right-hand at the knots (0 at the last one)
    np.testing.assert_array_equal(y.tangent, [0.0, 2.0, 2.0, 0.0, 0.0])
    for mode in ("forward", "reverse"):
        J = dualad.jacobian(lambda f: np.interp(x, xp, f), fp, mode=mode)
        want = [[1, 0, 0], [1, 0, 0], [0.5, 0.5, 0], [0, 0, 1], [0, 0, 1]]
        np.testing.assert_array_equal(J, want)
        J = dualad.jacobian(lambda f: np.interp(x, xp, f, left=-1.0, right=f[1]), fp, mode=mode)
        want = [[0, 0, 0], [1, 0, 0], [0.5, 0.5, 0], [0, 0, 1], [0, 1, 0]]
        np.testing.assert_array_equal(J, want)


def test_interp_refuses_differentiable_sample_points():
    with pytest.raises(NotImplementedError, match="interp.*xp"):
        np.interp(0.5, _dual([0.0, 1.0]), np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match="same length"):
        np.interp(_dual(0.5), [0.0, 1.0], np.array([1.0, 2.0, 3.0]))


def test_nan_to_num_tangent_is_zero_where_replaced():
    x = np.array([1.0, np.nan, np.inf, -np.inf, -2.0])
    v = R(5)
    y = np.nan_to_num(Dual(x, v), posinf=5.0)
    np.testing.assert_array_equal(y.primal, np.nan_to_num(x, posinf=5.0))
    np.testing.assert_array_equal(y.tangent, [v[0], 0, 0, 0, v[4]])
    g = dualad.grad(
        lambda x: np.sum(np.nan_to_num(x, posinf=1.0, neginf=-1.0) * np.arange(5.0)),
        x,
        mode="reverse",
    )
    np.testing.assert_array_equal(g, [0.0, 0.0, 0.0, 0.0, 4.0])


def test_sinc_at_zero_has_its_derivatives():
    # sinc(x) = 1 - (pi x)^2 / 6 + ...: slope 0 and curvature -pi^2 / 3 at 0
    for method in ("hyperdual", "accumulate", "forward-over-reverse"):
        H = dualad.hessian(lambda x: np.sum(np.sinc(x)), np.array([0.0, 0.5]), method=method)
        h = 1e-4
        fd = (np.sinc(0.5 + h) - 2 * np.sinc(0.5) + np.sinc(0.5 - h)) / h**2
        np.testing.assert_allclose(np.diag(H), [-(np.pi**2) / 3, fd], rtol=1e-6)
    assert dualad.grad(lambda x: np.sinc(x), np.float64(0.0)) == 0.0


def test_polyfit_recovers_a_polynomial_and_its_derivative():
    t = np.linspace(-1.0, 2.0, 9)
    c = np.array([0.5, -1.0, 2.0])
    # polyfit is linear in y and reproduces exact data: d c / d y maps V c' back to c'
    J = dualad.jacobian(lambda y: np.polyfit(t, y, 2), np.polyval(c, t))
    np.testing.assert_allclose(J @ np.vander(t, 3), np.eye(3), atol=1e-12)
    with pytest.warns(np.exceptions.RankWarning):
        np.polyfit(_dual([0.0, 1.0, 2.0]), np.array([1.0, 2.0, 0.0]), 5)


@pytest.mark.skipif(not hasattr(np, "cumulative_sum"), reason="NumPy < 2.1")
def test_cumulative_errors():
    with pytest.raises(ValueError, match="axis"):
        np.cumulative_sum(_dual(R(2, 2)))
    with pytest.raises(NotImplementedError, match="out="):
        np.cumulative_prod(_dual(R(3)), out=np.empty(3))


def test_options_not_restated_raise_naming_them_too():
    x, y = _dual(R(5)), R(5)
    with pytest.raises(NotImplementedError, match="cov=True"):
        np.polyfit(x, y, 2, cov=True)
    with pytest.raises(NotImplementedError, match="dtype"):
        np.logspace(x, 1.0, 3, dtype=int)
    with pytest.raises(NotImplementedError, match="complex"):
        COMPOSITES[np.nan_to_num](np.array([1j]))


def test_reverse_mode_keeps_0d_branches():
    # a 0-d recorded value arrives in a vjp as np.float64, a float subclass: it still gets
    # its cotangent from where/clip/select (np.interp's left/right rely on it)
    x = np.array([0.0, 5.0, 1.0])
    c = np.array([False, True])
    for f in (
        lambda v: np.where(c, v[2], v[:2]),
        lambda v: np.clip(v[:2], v[2], 10.0),
        lambda v: np.select([c], [v[2]], v[:2]),
    ):
        jf = dualad.jacobian(f, x, mode="forward")
        np.testing.assert_array_equal(dualad.jacobian(f, x, mode="reverse"), jf)


# -- second order and reverse mode through composites -------------------------------------

T = np.linspace(0.0, 2.0, 7) + np.array([0.0, 0.1, -0.05, 0.02, 0.0, 0.07, 0.0])
Y = np.sin(T) + 0.1 * T**3


def _with_gradient(x):  # gradient and trapezoid in f and in the coordinates
    g = np.gradient(np.sin(x) * x, T[:6], edge_order=2)
    return np.sum(g**2) + np.trapezoid(np.exp(x / 3.0), np.cumsum(x**2) + T[:6])


def _with_interp(x):  # interp in x (piecewise linear) and in fp
    return np.sum(np.interp(T, XP, x) ** 3) + np.sum(np.interp(x * 0.9, XP, np.cos(XP)) ** 2)


def _with_polynomials(x):
    fit = np.polyfit(T[:6] + 0.1 * x, Y[:6] * x, 2)  # both the abscissae and the data move
    return np.sum(np.polyval(x[:3], x[3:]) ** 2) + np.sum(fit**2) + np.sum(np.vander(x, 3))


def _with_the_rest(x):
    grid = np.geomspace(x[0] ** 2 + 1.0, x[1] ** 2 + 2.0, 5)
    p = np.unwrap(np.cumsum(x) * 4.0)
    return np.sum(grid) + np.sum(p**2) + np.sum(np.sinc(x)) + np.sum(np.ediff1d(x) ** 3)


SECOND_ORDER = [_with_gradient, _with_interp, _with_polynomials, _with_the_rest]
X0 = np.array([0.3, -0.8, 1.1, 0.45, -0.2, 0.9])


def _fd_hessian(f, x, h=1e-5):
    cols = []
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = h
        cols.append((dualad.grad(f, x + e) - dualad.grad(f, x - e)) / (2 * h))
    return np.array(cols)


@pytest.mark.parametrize("f", SECOND_ORDER, ids=lambda f: f.__name__)
@pytest.mark.parametrize("method", ["hyperdual", "accumulate", "forward-over-reverse"])
def test_hessians_through_composites(f, method):
    H = dualad.hessian(f, X0, method=method)
    np.testing.assert_allclose(H, H.T, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(H, _fd_hessian(f, X0), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("f", SECOND_ORDER, ids=lambda f: f.__name__)
def test_gradients_in_both_modes(f):
    gf = dualad.grad(f, X0, mode="forward")
    np.testing.assert_allclose(dualad.grad(f, X0, mode="reverse"), gf, rtol=1e-12, atol=1e-12)
    h = 1e-6
    fd = [(f(X0 + h * e) - f(X0 - h * e)) / (2 * h) for e in np.eye(X0.size)]
    np.testing.assert_allclose(gf, fd, rtol=1e-6, atol=1e-7)


_T = np.eye(6).reshape(6, 2, 3) * 2 + R(6, 2, 3) * 0.3  # a well-conditioned (6, 2, 3) tensor
TENSOR_SOLVERS = [
    case("tensorinv", np.linalg.tensorinv, _T.reshape(2, 3, 2, 3), 2),
    case("tensorinv-ind1", np.linalg.tensorinv, _T, 1),
    case("tensorsolve", np.linalg.tensorsolve, _T, R(6)),
    case("tensorsolve-2d-b", np.linalg.tensorsolve, _T.reshape(2, 3, 2, 3), R(2, 3)),
    case("tensorsolve-axes", np.linalg.tensorsolve, np.moveaxis(_T, 0, 2), R(6), (0, 1)),
]


@pytest.mark.parametrize("f, args, kwargs", TENSOR_SOLVERS)
def test_tensor_solvers(f, args, kwargs):
    _value_matches_numpy(f, args, kwargs, rtol=1e-12)
    check_rule(f, *args, **kwargs)


P4, Q2 = np.array([1.0, -3.0, 2.0, 0.5]), np.array([2.0, 1.0])
MORE = [
    case("fix", np.fix, R(6) * 3),
    case("angle", np.angle, np.array([1.5, -2.0, 0.3])),
    case("angle-deg", np.angle, np.array([1.5, -2.0]), True),
    case("real_if_close", np.real_if_close, R(4)),
    case("choose", lambda c0, c1: np.choose(np.array([0, 1, 1, 0]), [c0, c1]), R(4), R(4)),
    case("choose-bcast-wrap", lambda c0, c1: np.choose(np.array([[0], [3]]), [c0, c1], mode="wrap"),
         R(3), R(2, 3)),
    case("apply_over_axes", lambda a: np.apply_over_axes(np.sum, a, [0, 2]), R(2, 3, 4)),
    case("polyadd", np.polyadd, P4, Q2),
    case("polysub", np.polysub, Q2, P4),
    case("polymul", np.polymul, P4, Q2),
    case("polyder", np.polyder, P4, 2),
    case("polyint", np.polyint, P4, 2, np.array([1.0, -2.0])),
    case("polyint-k0", np.polyint, P4),
    case("poly", np.poly, np.array([0.5, -1.5, 2.0])),
    case("polydiv", np.polydiv, P4, Q2),
    case("fftshift", np.fft.fftshift, R(5, 4)),
    case("fftshift-axis", np.fft.fftshift, R(5, 4), 1),
    case("ifftshift", np.fft.ifftshift, R(5, 4), (0,)),
]  # fmt: skip


@pytest.mark.parametrize("f, args, kwargs", MORE)
def test_more_composites(f, args, kwargs):
    if f in COMPOSITES:
        _value_matches_numpy(f, args, kwargs)
    check_rule(f, *args, **kwargs)


def test_astype_keeps_the_derivative_for_float_types():
    d = Dual(np.array([1.0, 2.0]), np.array([1.0, -1.0]))
    out = np.astype(d, np.float32)
    assert out.dtype == np.float32 and out.tangent.dtype == np.float32
    with pytest.raises(TypeError, match="drop the derivative"):
        np.astype(d, np.int64)


def test_piecewise_constant_composites_have_zero_derivative():
    d = Dual(np.array([1.7, -2.4, 0.3]), np.ones(3))
    for out in (np.fix(d), np.angle(d)):
        np.testing.assert_array_equal(np.broadcast_to(getattr(out, "tangent", 0.0), (3,)), 0.0)


def test_lists_holding_wrappers_are_stacked():
    # NumPy dispatches np.interp on x here; fp arrives as a list holding a Dual
    def f(v):
        return np.interp(v[0], [0.0, 1.0], [v[1], 2.0]) * v[1]

    v = np.array([0.37, 1.21])
    want = np.array([(f(v + e) - f(v - e)) / 2e-6 for e in np.eye(2) * 1e-6])
    for mode in ("forward", "reverse"):
        np.testing.assert_allclose(dualad.grad(f, v, mode=mode), want, rtol=1e-6)

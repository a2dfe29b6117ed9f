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


def case(name, func, *args, **kwargs):
    return pytest.param(func, args, kwargs, id=name)


def _value_matches_numpy(func, args, kwargs, rtol=1e-13):
    got = COMPOSITES[func](*args, **kwargs)
    want = func(*args, **kwargs)
    for g, w in zip(*(x if isinstance(x, (tuple, list)) else (x,) for x in (got, want))):
        np.testing.assert_allclose(g, w, rtol=rtol, atol=1e-14)


CASES = [
    case("linspace", np.linspace, np.array(0.3), np.array(2.5), 7),
    case("linspace-no-endpoint", np.linspace, np.array(-1.0), np.array(2.0), 5, False),
    case("linspace-arrays", np.linspace, R(3), R(3), 4),
    case("linspace-axis", np.linspace, R(2, 3), R(2, 3), 4, axis=-1),
    case("linspace-one", np.linspace, np.array(0.3), np.array(2.5), 1),
    case("polyval", np.polyval, R(4), R(5)),
    case("polyval-scalar-x", np.polyval, R(3), np.array(0.7)),
    case("polyval-2d-x", np.polyval, R(3), R(2, 3)),
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

"""Hyper-dual numbers: exact second derivatives through every elementary function."""

import numpy as np
import pytest

import dualad
from dualad import HyperDual

X = 0.37
SECOND = {  # f, f'' in closed form
    "sin": (np.sin, lambda x: -np.sin(x)),
    "cos": (np.cos, lambda x: -np.cos(x)),
    "tan": (np.tan, lambda x: 2 * np.tan(x) / np.cos(x) ** 2),
    "exp": (np.exp, np.exp),
    "exp2": (np.exp2, lambda x: np.log(2) ** 2 * 2**x),
    "expm1": (np.expm1, np.exp),
    "log": (np.log, lambda x: -1 / x**2),
    "log2": (np.log2, lambda x: -1 / (x**2 * np.log(2))),
    "log10": (np.log10, lambda x: -1 / (x**2 * np.log(10))),
    "log1p": (np.log1p, lambda x: -1 / (1 + x) ** 2),
    "sqrt": (np.sqrt, lambda x: -0.25 * x**-1.5),
    "cbrt": (np.cbrt, lambda x: -2 / 9 * x ** (-5 / 3)),
    "square": (np.square, lambda x: 2.0 + 0 * x),
    "reciprocal": (np.reciprocal, lambda x: 2 / x**3),
    "arcsin": (np.arcsin, lambda x: x / (1 - x**2) ** 1.5),
    "arccos": (np.arccos, lambda x: -x / (1 - x**2) ** 1.5),
    "arctan": (np.arctan, lambda x: -2 * x / (1 + x**2) ** 2),
    "sinh": (np.sinh, np.sinh),
    "cosh": (np.cosh, np.cosh),
    "tanh": (np.tanh, lambda x: -2 * np.tanh(x) / np.cosh(x) ** 2),
    "arcsinh": (np.arcsinh, lambda x: -x / (x**2 + 1) ** 1.5),
    "arctanh": (np.arctanh, lambda x: 2 * x / (1 - x**2) ** 2),
    "power": (lambda x: x**3.5, lambda x: 3.5 * 2.5 * x**1.5),
    "rpower": (lambda x: 2.0**x, lambda x: np.log(2) ** 2 * 2**x),
    "divide": (lambda x: 1.0 / (1 + x), lambda x: 2 / (1 + x) ** 3),
    "product": (lambda x: x * np.sin(x), lambda x: 2 * np.cos(x) - x * np.sin(x)),
    "logaddexp": (lambda x: np.logaddexp(x, 0.0), lambda x: np.exp(x) / (1 + np.exp(x)) ** 2),
    "hypot": (lambda x: np.hypot(x, 2.0), lambda x: 4 / (x**2 + 4) ** 1.5),
    "arctan2": (lambda x: np.arctan2(x, 1.5), lambda x: -2 * x * 1.5 / (x**2 + 2.25) ** 2),
}


@pytest.mark.parametrize("name", list(SECOND))
def test_second_derivative_closed_form(name):
    f, d2 = SECOND[name]
    h = f(HyperDual(np.array(X), 1.0, 1.0, 0.0))
    np.testing.assert_allclose(h.primal, f(X), rtol=1e-14)
    np.testing.assert_allclose(h.eps12, d2(X), rtol=1e-12)
    np.testing.assert_allclose(h.eps1, h.eps2, rtol=1e-14)


def test_arccosh_second_derivative():
    h = np.arccosh(HyperDual(np.array(1.7), 1.0, 1.0, 0.0))
    np.testing.assert_allclose(h.eps12, -1.7 / (1.7**2 - 1) ** 1.5, rtol=1e-12)


def test_vectorised_directions_give_the_hessian():
    x = np.array([0.3, -0.4, 1.1])
    n = x.size
    h = HyperDual(x, np.eye(n), np.eye(n), np.zeros((n, n, n)))
    y = np.exp(h[0]) * h[1] * h[2] ** 2
    ref = dualad.hessian(
        lambda x: np.exp(x[0]) * x[1] * x[2] ** 2, x, method="forward-over-reverse"
    )
    np.testing.assert_allclose(y.eps12, ref, rtol=1e-12)


def test_shapes_and_errors():
    h = HyperDual(np.ones(3), np.ones(3), np.ones((2, 3)), np.zeros((2, 3)))
    assert h.eps1.shape == (3,) and h.eps2.shape == (2, 3) and h.eps12.shape == (2, 3)
    with pytest.raises(ValueError, match="eps12"):
        HyperDual(np.ones(3), np.ones(3), np.ones(3), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="eps1"):
        HyperDual(np.ones(3), np.ones(4))
    with pytest.raises(TypeError):
        float(HyperDual(np.array(1.0), 1.0, 1.0, 0.0))


def test_hyperdual_meets_plain_numbers_and_arrays():
    h = HyperDual(np.array([1.0, 2.0]), 1.0, 1.0, 0.0)
    y = 3.0 * h * h + np.array([1.0, 1.0])
    np.testing.assert_allclose(y.eps12, [6.0, 6.0])
    assert isinstance(y, HyperDual)

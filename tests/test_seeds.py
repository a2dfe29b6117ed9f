"""The worked examples we were given, with their exact numbers."""

import numpy as np
import pytest

import dualad


def seed_f(x):
    a = x[0] / x[1]
    e = np.exp(x[1])
    return (np.sin(a) + a - e) * (a - e)


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_two_input_program(mode):
    x = np.array([1.5, 0.5])
    assert seed_f(x) == pytest.approx(2.016646669428201, rel=1e-15)
    g = dualad.grad(seed_f, x, mode=mode)
    np.testing.assert_allclose(g, [3.0118433276739069, -13.723961509314076], rtol=1e-14)


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_two_path_example(mode):
    f = lambda x: np.log(x[0]) + x[0] * x[1] - np.sin(x[1])
    x = np.array([2.0, 5.0])
    assert f(x) == pytest.approx(11.652, abs=1e-3)
    g = dualad.grad(f, x, mode=mode)
    np.testing.assert_allclose(g, [1 / 2 + 5, 2 - np.cos(5.0)], rtol=1e-14)
    assert g[1] == pytest.approx(1.716, abs=1e-3)


def test_sqrt_cos_closed_form():
    def f(x):
        u = x**2 + np.exp(x**2)
        return np.sqrt(u) + np.cos(u)

    def df(x):
        u = x**2 + np.exp(x**2)
        du = 2 * x + 2 * x * np.exp(x**2)
        return du / (2 * np.sqrt(u)) - np.sin(u) * du

    x = np.linspace(-1.5, 1.5, 11)
    np.testing.assert_allclose(dualad.derivative(f, x), df(x), rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_least_squares_gradient(mode):
    rng = np.random.default_rng(3)
    X, y, w = rng.standard_normal((20, 4)), rng.standard_normal(20), rng.standard_normal(4)

    def z(w):
        r = X @ w - y
        return r @ r

    np.testing.assert_allclose(dualad.grad(z, w, mode=mode), 2 * (X @ w - y) @ X, rtol=1e-12)

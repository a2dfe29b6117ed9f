"""Scalar code on a vector of 3 to 64 inputs in forward mode: ``x[i]`` gives a float primal
with a ``(k,)`` tangent array, which the packed fast paths combine as they combine floats.
Every gradient against reverse mode and central differences."""

import numpy as np
import pytest

import dualad


def central(f, x, h=1e-6):
    g = np.zeros_like(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = h
        g[i] = (f(x + e) - f(x - e)) / (2 * h)
    return g


def scalar_code(x):
    n = x.size
    s = 0.0
    for i in range(n):
        a = x[i]
        b = x[(i + 1) % n]
        s = s + np.sin(a) * b - 2.0 / (1.5 + b * b) + abs(a - 0.3) ** 1.5
        s = s + np.maximum(a, b) * 0.5 + np.hypot(a, 2.0 * b) - (0.5**a) + np.exp(-a) * b**2
    return s / n + np.tanh(x[0] * x[n - 1])


@pytest.mark.parametrize("n", [3, 5, 16, 64, 65])
def test_forward_gradients_of_scalar_code(n):
    x = np.linspace(0.2, 1.4, n)
    g = dualad.grad(scalar_code, x, mode="forward")
    np.testing.assert_allclose(g, dualad.grad(scalar_code, x, mode="reverse"), rtol=1e-12)
    np.testing.assert_allclose(g, central(scalar_code, x), rtol=1e-6, atol=1e-8)


def test_items_carry_a_tangent_array_and_stack_back():
    x = np.array([0.3, 0.7, 1.1, 1.9])

    def f(v):
        parts = [v[i] * v[(i + 1) % 4] for i in range(4)]
        return np.stack(parts) * 2.0

    J = dualad.jacobian(f, x, mode="forward")
    np.testing.assert_allclose(J, dualad.jacobian(f, x, mode="reverse"), rtol=1e-14)
    seen = []
    dualad.jvp(lambda v: seen.append(v[0]) or v[0], x, np.ones(4))
    dualad.jacobian(lambda v: seen.append(v[1]) or v[1], x, mode="forward")
    assert type(seen[1]._p) is float and seen[1]._dot.shape == (4,)


def test_hessians_and_nested_transforms_on_wide_items():
    x = np.array([0.45, 0.7, 1.1])  # away from the kink of |a - 0.3| ** 1.5
    H = dualad.hessian(scalar_code, x)
    want = np.stack(
        [central(lambda z, i=i: dualad.grad(scalar_code, z, mode="forward")[i], x) for i in range(3)]
    )  # fmt: skip
    np.testing.assert_allclose(H, want, rtol=1e-5, atol=1e-6)


def test_an_infinite_partial_keeps_the_other_directions_zero():
    v = np.array([1.0, 0.7, 2.0])

    def scalar(x):
        return np.sqrt(x[1] - 0.7) + x[0]

    def arrays(x):
        return np.sum(np.sqrt(x[1:2] - 0.7)) + np.sum(x[0:1])

    with np.errstate(divide="ignore"):
        got = dualad.grad(scalar, v, mode="forward")
        want = dualad.grad(arrays, v, mode="forward")
    np.testing.assert_array_equal(got, want)
    assert got[2] == 0.0 and np.isinf(got[1])

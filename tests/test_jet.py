"""hessian at one or two numbers runs on second-order packed scalars (dualad._jet).

Each case is compared with method="hyperdual" (the nested Duals, an independent path) and
with central differences of the forward gradient."""

import numpy as np
import pytest

import dualad
from dualad._jet import Jet

V = np.array([0.7, 1.3])


def central_hessian(f, x, h=1e-5):
    x = np.asarray(x, float)
    H = np.zeros((x.size, x.size))
    for i in range(x.size):
        e = np.zeros(x.size)
        e[i] = h
        H[i] = (dualad.grad(f, x + e, mode="forward") - dualad.grad(f, x - e, mode="forward")) / (
            2 * h
        )
    return H


CASES = {
    "seed": lambda x: (np.sin(x[0] / x[1]) + x[0] / x[1] - np.exp(x[1])) * (x[0] / x[1]),
    "constants both sides": lambda x: 2.0 / x[0] - 3.0 * x[1] ** 3 + (1.5 - x[0]) * x[1] ** -1,
    "powers": lambda x: x[0] ** x[1] + 2.0 ** x[0] + x[1] ** 0.5 + x[0] ** 2,
    "selection": lambda x: np.maximum(x[0], 0.2) * np.minimum(x[1], 2.0) + np.abs(x[0] - x[1]),
    "jet meets the hyper-dual form": lambda x: np.sum(x**2) * x[0] + np.prod(x) * np.sin(x[1]),
    "a reduction of jets": lambda x: np.sum(np.stack([x[0] * x[1], np.cos(x[0])])) ** 2,
    "a python loop": lambda x: _loop(x),
    "arctan2 and hypot": lambda x: np.arctan2(x[0], x[1]) * np.hypot(x[0], x[1]),
}


def _loop(x):
    y = x[0]
    for _ in range(5):
        y = np.tanh(y * x[1]) + 0.5 * y
    return y


@pytest.mark.parametrize("name", sorted(CASES))
def test_jets_match_the_hyperdual_method_and_differences(name):
    f = CASES[name]
    H = dualad.hessian(f, V)
    np.testing.assert_allclose(H, dualad.hessian(f, V, method="hyperdual"), rtol=1e-12)
    np.testing.assert_allclose(H, central_hessian(f, V), rtol=1e-5, atol=1e-6)
    Ht = dualad.hessian(lambda t: f(np.stack(t)) if name.startswith("jet") else f(t), (0.7, 1.3))
    np.testing.assert_allclose(np.array(Ht, dtype=float), H, rtol=1e-12)


def test_one_number_in_every_form():
    f = lambda x: np.exp(np.sin(x)) * x**3
    want = dualad.hessian(f, np.array(0.4), method="hyperdual")
    for x in (np.array(0.4), 0.4, np.float64(0.4)):
        np.testing.assert_allclose(dualad.hessian(f, x), want, rtol=1e-13)
    np.testing.assert_allclose(
        dualad.hessian(lambda v: f(v[0]), np.array([0.4])), [[want]], rtol=1e-13
    )


def test_a_nested_transform_inside_f():
    def f(x):  # the derivative of an inner function, taken inside the Hessian's f
        return x[0] * dualad.derivative(lambda t: np.sin(t * x[1]), 0.3)

    np.testing.assert_allclose(
        dualad.hessian(f, V), dualad.hessian(f, V, method="hyperdual"), rtol=1e-12
    )


def test_a_leaked_jet_raises():
    box = []

    def f(x):
        y = x[0] * x[1]
        box.append(y)
        return y

    dualad.hessian(f, V)
    assert type(box[0]) is Jet
    with pytest.raises(RuntimeError, match="finished"):
        np.sin(box[0])
    with pytest.raises(RuntimeError, match="finished"):
        dualad.grad(lambda x: np.sum(x) * box[0], V)


def test_writing_into_the_input_raises():
    def f(x):
        x[0] = 1.0
        return x[0] * x[1]

    with pytest.raises((ValueError, TypeError)):
        dualad.hessian(f, V)


def test_a_constant_result_and_coercion():
    np.testing.assert_array_equal(dualad.hessian(lambda x: 3.0, V), np.zeros((2, 2)))
    with pytest.raises(TypeError):
        dualad.hessian(lambda x: float(x[0]) * x[1], V)


def test_under_interception_the_hyperdual_form_answers():
    import math

    def f(x):  # a buffer write, a list conversion and math.* : interception's machinery
        out = np.zeros(2)
        out[0] = x[0] ** 2
        out[1] = math.sin(x[1]) * x[0]
        return np.sum(out * np.asarray([x[0], x[1] * 2]))

    H = dualad.hessian(f, V, intercept=True)
    np.testing.assert_allclose(H, dualad.hessian(f, V, method="hyperdual", intercept=True))
    ref = central_hessian(_f_plain, V)  # the same function without the conversions
    np.testing.assert_allclose(H, ref, rtol=1e-5, atol=1e-6)


def _f_plain(x):
    return (x[0] ** 2) * x[0] + np.sin(x[1]) * x[0] * (x[1] * 2)


def _unary_cases():
    from dualad._kernels import KERNELS

    # every scalar kernel (the Jet's value and first partial), and rules without a kernel
    return sorted({*KERNELS, np.deg2rad, np.log1p, np.sign, np.rint}, key=lambda u: u.__name__)


@pytest.mark.parametrize("u", _unary_cases(), ids=lambda u: u.__name__)
def test_each_unary_rule_on_jets(u):
    shift = 1.6 if u is np.arccosh else 0.0  # a point inside the domain

    def f(x):
        return u(0.4 * x[0] - 0.1 * x[1] + shift) * x[1] + u(x[1] * 0.3 + shift)

    H = dualad.hessian(f, V)
    np.testing.assert_allclose(H, dualad.hessian(f, V, method="hyperdual"), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(H, central_hessian(f, V), rtol=1e-5, atol=1e-6)
    g = lambda t: u(0.4 * t - 0.2 + shift) ** 2
    h1 = dualad.hessian(g, 0.7)
    np.testing.assert_allclose(
        h1, dualad.hessian(g, 0.7, method="hyperdual"), rtol=1e-12, atol=1e-15
    )

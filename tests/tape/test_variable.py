"""``tape.Variable`` in PyTorch style: backward, .grad accumulation, zero_grad, detach,
create_graph (grad-of-grad), retain_graph, item assignment and a small training loop.

Every derivative is compared with a closed form or with central differences.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import tape
from tape import Tape, Variable
from tests.tape._numdiff import numgrad

# -- construction ----------------------------------------------------------------------------


def test_leaf_properties():
    x = Variable(np.array([1.0, 2.0]), requires_grad=True)
    assert x.is_leaf and x.requires_grad and x.grad is None
    y = x * 2.0
    assert not y.is_leaf
    np.testing.assert_array_equal(y.value, [2.0, 4.0])


def test_integer_values_become_float64():
    x = Variable(np.arange(3))
    assert x.value.dtype == np.float64
    np.sum(x * x).backward()
    np.testing.assert_array_equal(x.grad, 2 * np.arange(3.0))


def test_python_scalar_value():
    x = Variable(1.5)
    (x**3).backward()
    np.testing.assert_allclose(x.grad, 3 * 1.5**2, rtol=1e-15)


# -- backward and .grad ------------------------------------------------------------------------


def test_backward_scalar_closed_form():
    x0 = np.array([0.3, -0.7, 1.9])
    x = Variable(x0)
    np.sum(np.sin(x) * np.exp(x)).backward()
    np.testing.assert_allclose(x.grad, np.exp(x0) * (np.sin(x0) + np.cos(x0)), rtol=1e-14)


def test_grad_accumulates_across_backward_calls():
    x0 = np.array([0.5, 2.0])
    x = Variable(x0)
    np.sum(x**2).backward()
    np.sum(np.sin(x)).backward()
    np.testing.assert_allclose(x.grad, 2 * x0 + np.cos(x0), rtol=1e-15)
    np.sum(x**2).backward()
    np.testing.assert_allclose(x.grad, 4 * x0 + np.cos(x0), rtol=1e-15)
    x.zero_grad()
    assert x.grad is None
    np.sum(x**2).backward()
    np.testing.assert_allclose(x.grad, 2 * x0, rtol=1e-15)


def test_two_leaves_and_a_value_on_two_paths():
    a, b = Variable(np.array(2.0)), Variable(np.array(5.0))
    y = np.log(a) + a * b - np.sin(b)
    y.backward()
    np.testing.assert_allclose(a.grad, 1 / 2.0 + 5.0, rtol=1e-15)
    np.testing.assert_allclose(b.grad, 2.0 - np.cos(5.0), rtol=1e-15)


def test_requires_grad_false_gets_no_grad():
    x0, c0 = np.array([1.0, 3.0]), np.array([2.0, -1.0])
    x, c = Variable(x0), Variable(c0, requires_grad=False)
    np.sum(x * c).backward()
    assert c.grad is None
    np.testing.assert_array_equal(x.grad, c0)


def test_backward_with_gradient_for_non_scalar():
    x0 = np.array([[0.1, 0.2], [0.3, 0.4]])
    s = np.array([[1.0, -1.0], [2.0, 0.5]])
    x = Variable(x0)
    (np.tanh(x) * 3.0).backward(gradient=s)
    np.testing.assert_allclose(x.grad, 3.0 * s / np.cosh(x0) ** 2, rtol=1e-14)


def test_backward_non_scalar_without_gradient_raises():
    x = Variable(np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match="gradient="):
        (x * x).backward()
    with pytest.raises(ValueError, match="shape"):
        (x * x).backward(gradient=np.ones(3))


def test_backward_on_a_leaf():
    x = Variable(np.array([1.0, 2.0]))
    x.backward(gradient=np.array([3.0, 4.0]))
    np.testing.assert_array_equal(x.grad, [3.0, 4.0])


def test_detach_stops_the_gradient():
    x0 = np.array([1.5, -2.0])
    x = Variable(x0)
    d = x.detach()
    assert d.is_leaf and not d.requires_grad
    np.testing.assert_array_equal(d.value, x0)
    np.sum(d * x).backward()  # d/dx (c x) with c = x's value held constant: c, not 2x
    np.testing.assert_array_equal(x.grad, x0)
    assert d.grad is None


def test_detach_of_intermediate():
    x = Variable(np.array(3.0))
    y = x * x
    z = y.detach() * x + y  # d/dx = y + 2x at y = 9
    z.backward()
    np.testing.assert_allclose(x.grad, 9.0 + 6.0)


# -- retain_graph ----------------------------------------------------------------------------


def test_second_backward_without_retain_graph_raises():
    x = Variable(np.array([0.2, 0.4]))
    y = np.sum(np.exp(x) * x)
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        y.backward()


def test_retain_graph_allows_second_backward():
    x0 = np.array([0.2, 0.4])
    x = Variable(x0)
    y = np.sum(np.exp(x) * x)
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad, 2 * np.exp(x0) * (1 + x0), rtol=1e-14)
    with pytest.raises(RuntimeError, match="retain_graph"):
        y.backward()


# -- create_graph: grad-of-grad --------------------------------------------------------------


def test_create_graph_cube_second_derivative():
    x0 = np.array([0.5, -1.0, 2.0])
    x = Variable(x0)
    np.sum(x**3).backward(create_graph=True)
    g = x.grad
    np.testing.assert_allclose(tape.value_of(g), 3 * x0**2, rtol=1e-15)
    (h,) = tape.grad(np.sum(g), [x])
    np.testing.assert_allclose(h, 6 * x0, rtol=1e-15)


def test_create_graph_sin_second_derivative_via_backward():
    x0 = np.array([0.3, 1.1])
    x = Variable(x0)
    np.sum(np.sin(x)).backward(create_graph=True)
    g = x.grad
    np.testing.assert_allclose(tape.value_of(g), np.cos(x0), rtol=1e-15)
    x.zero_grad()
    np.sum(g).backward()
    np.testing.assert_allclose(x.grad, -np.sin(x0), rtol=1e-15)


def test_tape_grad_create_graph_third_derivative():
    x = Variable(np.array(0.8))
    (g1,) = tape.grad(x**4, [x], create_graph=True)  # 4 x^3
    (g2,) = tape.grad(g1, [x], create_graph=True)  # 12 x^2
    (g3,) = tape.grad(g2, [x])  # 24 x
    np.testing.assert_allclose(tape.value_of(g1), 4 * 0.8**3, rtol=1e-15)
    np.testing.assert_allclose(tape.value_of(g2), 12 * 0.8**2, rtol=1e-15)
    np.testing.assert_allclose(g3, 24 * 0.8, rtol=1e-15)


def test_tape_grad_does_not_touch_grad():
    x = Variable(np.array([1.0, 2.0]))
    g = tape.grad(np.sum(x * x), x)
    np.testing.assert_array_equal(g, [2.0, 4.0])
    assert x.grad is None


def test_mixed_second_derivative_create_graph():
    a, b = Variable(np.array(1.3)), Variable(np.array(0.4))
    ga, gb = tape.grad(np.sin(a * b), [a, b], create_graph=True)  # b cos(ab), a cos(ab)
    (gab,) = tape.grad(ga, [b])  # cos(ab) - ab sin(ab)
    ab = 1.3 * 0.4
    np.testing.assert_allclose(tape.value_of(gb), 1.3 * np.cos(ab), rtol=1e-15)
    np.testing.assert_allclose(gab, np.cos(ab) - ab * np.sin(ab), rtol=1e-14)


# -- item assignment -------------------------------------------------------------------------


def _recurrence(x):
    """out[0] = sin x0; out[i] = out[i-1] * x[i] + x[i-1]^2, filled into a buffer."""
    out = np.zeros_like(x)
    out[0] = np.sin(x[0])
    for i in range(1, len(x)):
        out[i] = out[i - 1] * x[i] + x[i - 1] ** 2
    return out


_W = np.array([1.0, -0.5, 2.0, 0.25])


def test_item_assignment_differentiates_variable_style():
    x0 = np.array([0.3, -0.8, 1.2, 0.5])
    x = Variable(x0)
    loss = np.sum(_W * _recurrence(x))
    np.testing.assert_allclose(loss.value, np.sum(_W * _recurrence(x0)), rtol=1e-15)
    loss.backward()
    ref = numgrad(lambda v: np.sum(_W * _recurrence(v)), x0)
    np.testing.assert_allclose(x.grad, ref, rtol=1e-8, atol=1e-10)


def test_item_assignment_differentiates_tape_style():
    x0 = np.array([0.3, -0.8, 1.2, 0.5])
    with Tape() as t:
        x = t.watch(x0)
        loss = np.sum(_W * _recurrence(x))
    ref = numgrad(lambda v: np.sum(_W * _recurrence(v)), x0)
    np.testing.assert_allclose(t.gradient(loss, x), ref, rtol=1e-8, atol=1e-10)


def test_item_assignment_slice_and_overwrite():
    x0 = np.array([[0.5, 1.0, 1.5], [2.0, 2.5, 3.0]])

    def f(x):
        out = np.zeros_like(x)
        out[0, :] = np.exp(x[1, :])
        out[1, 1:] = x[0, :2] * x[1, 2]
        out[0, 2] = x[0, 0] ** 3  # overwrites: exp(x[1, 2]) no longer contributes
        return np.sum(out * np.arange(1.0, 7.0).reshape(2, 3))

    x = Variable(x0)
    f(x).backward()
    np.testing.assert_allclose(x.grad, numgrad(f, x0), rtol=1e-8, atol=1e-10)


def test_assigning_into_a_leaf_that_requires_grad_raises():
    x = Variable(np.array([1.0, 2.0, 3.0]))
    with pytest.raises(RuntimeError, match="copy"):
        x[0] = x[1] * 3.0
    with Tape() as t:
        w = t.watch(np.array([1.0, 2.0, 3.0]))
        with pytest.raises(RuntimeError, match="watched input"):
            w[0] = 5.0


def test_assigning_into_a_copy_of_the_input():
    # z = (3 x1, x1, x2): d/dx sum(z^2) = (0, 18 x1 + 2 x1, 2 x2)
    x0 = np.array([1.0, 2.0, 3.0])
    x = Variable(x0)
    z = np.copy(x)
    z[0] = z[1] * 3.0
    np.sum(z * z).backward()
    np.testing.assert_allclose(x.grad, [0.0, 20 * 2.0, 2 * 3.0], rtol=1e-15)
    with Tape() as t:
        w = t.watch(x0)
        z = np.copy(w)
        z[0] = z[1] * 3.0
        loss = np.sum(z * z)
    np.testing.assert_allclose(t.gradient(loss, w), [0.0, 40.0, 6.0], rtol=1e-15)


def test_assigning_into_a_constant_buffer():
    x0 = np.array([0.4, 1.3])
    x = Variable(x0)
    buf = Variable(np.zeros(3), requires_grad=False)
    buf[0] = x[0] * x[1]
    buf[2] = np.sin(x[1])
    np.sum(buf * np.array([1.0, 5.0, 2.0])).backward()
    np.testing.assert_allclose(x.grad, [x0[1], x0[0] + 2 * np.cos(x0[1])], rtol=1e-15)
    assert buf.grad is None


@pytest.mark.parametrize("c", [np.float64(3.0), 3.0, np.array(3.0), np.array([3.0, 5.0])])
def test_constant_variable_made_inside_a_tape(c):
    # a Variable(..., requires_grad=False) made inside `with Tape()` is a constant of the
    # standalone graph: used with the tape's values it reads as its value (the gradient
    # came back as a Variable), and it takes a tape value written into it (that raised)
    x0 = np.array([0.3, 0.7])

    def f(x):
        b = Variable(c, requires_grad=False)
        return np.sum(np.sin(b * x) + x * b)

    with Tape() as t:
        x = t.watch(x0)
        y = f(x)
    g = t.gradient(y, x)
    assert type(g) is np.ndarray
    np.testing.assert_allclose(g, numgrad(lambda z: tape.value_of(f(z)), x0), rtol=1e-7)
    with Tape() as t:
        x = t.watch(x0)
        buf = Variable(np.zeros(2), requires_grad=False)
        buf[0] = x[1] ** 2
        y = np.sum(buf * x)
    np.testing.assert_allclose(t.gradient(y, x), [x0[1] ** 2, 2 * x0[1] * x0[0]], rtol=1e-15)


# -- training loop ---------------------------------------------------------------------------


def test_linear_regression_by_gradient_descent():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((40, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 0.1 * rng.standard_normal(40)
    w = Variable(np.zeros(3))
    lr = 0.005
    losses = []
    for _ in range(150):
        w.zero_grad()
        loss = np.sum((X @ w - y) ** 2)
        loss.backward()
        np.testing.assert_allclose(w.grad, 2 * (X @ w.value - y) @ X, rtol=1e-12, atol=1e-12)
        losses.append(float(loss.value))
        w.value = w.value - lr * w.grad
    # strictly decreasing until it reaches the least-squares minimum (rounding level)
    steps = list(itertools.pairwise(losses))
    assert all(b < a or b - a < 1e-12 * a for a, b in steps)
    assert all(b < a for a, b in steps[:20])
    assert losses[-1] < 0.01 * losses[0]
    w_star = np.linalg.lstsq(X, y, rcond=None)[0]
    np.testing.assert_allclose(w.value, w_star, rtol=1e-6, atol=1e-8)

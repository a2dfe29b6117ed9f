"""Regressions from the fuzz pass over the tape's PyTorch-style API: a Variable made of a
traced value, integer seeds, backward() on a persistent tape. Gradients against closed
forms (d/dx sum(x^2) = 2x, d/dx sum(3x * s) = 3s).
"""

from __future__ import annotations

import numpy as np
import pytest

import dualad
import tape

X = np.array([1.0, 2.0])


@pytest.mark.parametrize("mode", ["forward", "reverse"])
@pytest.mark.parametrize("door", ["grad", "jacobian", "jvp", "hessian", "hvp"])
def test_variable_of_a_traced_value_raises(mode, door):
    # tape.Variable(x) of grad's own value cut the graph: zero gradients without an error
    def f(x):
        return np.sum(tape.Variable(x) ** 2)

    call = {
        "grad": lambda: dualad.grad(f, X, mode=mode),
        "jacobian": lambda: dualad.jacobian(f, X, mode=mode),
        "jvp": lambda: dualad.jvp(f, X, np.ones(2)),
        "hessian": lambda: dualad.hessian(
            f, X, method="hyperdual" if mode == "forward" else "accumulate"
        ),
        "hvp": lambda: dualad.hvp(f, X, np.ones(2)),
    }[door]
    with pytest.raises(TypeError, match="tape.Variable|lower level"):
        call()


def test_variable_of_a_recorded_variable_raises_and_detach_works():
    with tape.Tape() as t:
        x = t.watch(X)
        with pytest.raises(TypeError, match="detach"):
            tape.Variable(x * 2)
        z = (x * 2).detach()  # deliberate: a constant
        y = np.sum(z * x)
    np.testing.assert_allclose(t.gradient(y, x), 2 * X)  # through x only: 2x, not 4x


def test_forward_over_a_standalone_variable_still_differentiates():
    # tape.Variable of a forward-mode Dual: reverse inside forward, by hand
    def f(x):
        v = tape.Variable(x)
        np.sum(v**3).backward()
        return np.sum(v.grad * x)  # 3 x^3 summed: gradient 9 x^2

    np.testing.assert_allclose(dualad.grad(f, X, mode="forward"), 9 * X**2)


def test_integer_seed_gives_float_gradients():
    x = tape.Variable(X.copy())
    (x * 3).backward(gradient=np.array([1, 2]))
    assert x.grad.dtype == np.float64
    np.testing.assert_array_equal(x.grad, [3.0, 6.0])
    x.grad *= 0.5  # in place, as an optimizer does: no casting error
    np.testing.assert_array_equal(x.grad, [1.5, 3.0])
    with tape.Tape() as t:
        w = t.watch(X)
        y = w * 3
    g = t.gradient(y, w, seed=np.array([1, 2]))
    assert g.dtype == np.float64
    np.testing.assert_array_equal(g, [3.0, 6.0])


def test_backward_on_a_persistent_tape_keeps_the_records():
    with tape.Tape(persistent=True) as t:
        w = t.watch(X)
        y = np.sum(w**2)
    y.backward()
    np.testing.assert_array_equal(w.grad, 2 * X)
    np.testing.assert_array_equal(t.gradient(y, w), 2 * X)  # raised: records freed
    y.backward()
    np.testing.assert_array_equal(w.grad, 4 * X)


# -- a write into an array after recording never reaches the gradient -------------------------


def test_variable_and_watch_hold_their_own_copy():
    a = X.copy()
    w = tape.Variable(a)
    y = np.sum(w * w)
    a[0] = 10.0  # the caller's array: not the Variable's
    y.backward()
    np.testing.assert_array_equal(w.grad, 2 * X)
    a = X.copy()
    with tape.Tape() as t:
        x = t.watch(a)
        a[0] = 10.0  # even inside the block
        y = np.sum(x * x)
    np.testing.assert_array_equal(t.gradient(y, x), 2 * X)
    a = X.copy()
    with tape.Tape() as t:
        p = t.watch({"a": a, "b": 2.0})
        y = np.sum(p["a"] * p["a"]) * p["b"]
    a[1] = 10.0
    g = t.gradient(y, p)
    np.testing.assert_array_equal(g["a"], 4 * X)


def test_writes_into_value_raise():
    w = tape.Variable(X.copy(), requires_grad=False)
    with tape.Tape() as t:
        x = t.watch(X.copy())
        z = x * 2
        y = np.sum(z**3) + np.sum(w * x)
        r = x.reshape(2, 1)
    for arr in (w.value, x.value, z.value, x.detach().value, r.value):
        with pytest.raises(ValueError, match="read-only"):
            arr[0] = 0.0
    # d/dx [sum((2x)^3) + sum(w x)] = 6 (2x)^2 + w, w = X
    np.testing.assert_allclose(t.gradient(y, x), 6 * (2 * X) ** 2 + X)


def test_rebinding_value_is_the_optimizer_step():
    w = tape.Variable(np.array([1.0, -2.0]))
    for _ in range(3):
        w.grad = None
        np.sum(w * w).backward()
        w.value = w.value - 0.25 * w.grad  # a new array: the next step reads it
    np.testing.assert_allclose(w.value, np.array([1.0, -2.0]) * 0.5**3)
    new = np.array([3.0, 4.0])
    w.value = new
    new[0] = 100.0  # the caller's array again: not the Variable's
    np.testing.assert_array_equal(w.value, [3.0, 4.0])


def test_constant_variable_is_copied_too():
    c_arr = np.array([5.0, 7.0])
    c = tape.Variable(c_arr, requires_grad=False)
    w = tape.Variable(X.copy())
    y = np.sum(w * c)
    c_arr[0] = 100.0
    y.backward()
    np.testing.assert_array_equal(w.grad, [5.0, 7.0])

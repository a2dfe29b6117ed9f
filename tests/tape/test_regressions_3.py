"""Regressions: repeated-index writes through views, low-precision NumPy scalar constants in
scalar code, backward on a Python-float leaf, and gradients that share memory."""

import numpy as np
import pytest

import dualad
import tape

V = tape.Variable


def _central(f, x, h=1e-6):
    x = np.asarray(x, dtype=float)
    y0 = np.asarray(f(x))
    jac = np.zeros(y0.shape + x.shape)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = h
        jac[(...,) + i] = (np.asarray(f(x + e)) - np.asarray(f(x - e))) / (2 * h)
    return jac


# -- 1. repeated indices through a view: the last write wins -----------------------------------


def _set_slice(x):
    y = x * 1.0
    v = y[:]
    v[[0, 0]] = x[2:]
    return y


def _iadd_reshape(x):
    y = x * 1.0
    v = y.reshape(-1)
    v[[0, 0, 11]] += x[0, :3] * 2
    return y


def _imul_transpose_row(x):
    y = x * 1.0
    v = y.T[0]
    v[[1, 1]] *= x[0, :2]
    return y


def _set_row(x):
    y = x * 1.0
    v = y[0]
    v[[2, 0, 2]] = x[1, :3] ** 2
    return y


def _set_ravel(x):
    y = x * 1.0
    v = y.ravel()
    v[[5, 5]] = np.sin(x[2, 1:3])
    return y


def _set_flipped(x):
    y = x * 1.0
    v = y[::-1]
    v[[1, 1, 3]] = x[:3] * 3.0
    return y


def _iadd_flipped(x):
    y = x * 1.0
    v = y[::-2]
    v[[0, 0]] += x[1:3] ** 2
    return y


@pytest.mark.parametrize(
    "f, x",
    [
        (_set_slice, np.array([1.0, 2.0, 3.0, 4.0])),
        (_iadd_reshape, np.arange(1.0, 13.0).reshape(3, 4)),
        (_imul_transpose_row, np.arange(1.0, 13.0).reshape(3, 4)),
        (_set_row, np.arange(1.0, 13.0).reshape(3, 4)),
        (_set_ravel, np.arange(1.0, 13.0).reshape(3, 4)),
        (_set_flipped, np.array([1.0, 2.0, 3.0, 4.0, 5.0])),
        (_iadd_flipped, np.array([1.0, 2.0, 3.0, 4.0, 5.0])),
    ],
)
def test_repeated_index_write_through_view(f, x):
    ref = _central(f, x)
    fwd = dualad.jacobian(f, x, mode="forward")
    rev = dualad.jacobian(f, x, mode="reverse")
    np.testing.assert_allclose(fwd, ref, atol=1e-6)
    np.testing.assert_allclose(rev, ref, atol=1e-6)


def test_distinct_view_write_still_right():
    def f(x):
        y = x * 1.0
        v = y.T[0]
        v[[2, 0]] = x[1, 1:3] * x[0, 0]
        return y

    x = np.arange(1.0, 13.0).reshape(3, 4)
    np.testing.assert_allclose(dualad.jacobian(f, x, mode="reverse"), _central(f, x), atol=1e-6)


# -- 2. float16/float32 NumPy scalar constants in float64 scalar code ---------------------------


def test_float16_constant_full_precision():
    def f(x):
        return np.array(2) * x + 2.0**x + np.float16(2) * x

    exact = 2.0 + np.log(2.0) * 2.0**1.5 + 2.0
    x = V(1.5)
    f(x).backward()
    assert x.grad.dtype == np.float64
    assert x.grad == pytest.approx(exact, rel=1e-14)
    assert dualad.grad(f, 1.5, mode="reverse") == pytest.approx(exact, rel=1e-14)
    assert dualad.grad(f, 1.5, mode="forward") == pytest.approx(exact, rel=1e-14)


@pytest.mark.parametrize("c", [np.float32(2), np.float16(2), np.array(2, np.float32)])
def test_low_precision_constant_scalar(c):
    exact = 2.0 * np.cos(3.0)
    x = V(1.5)
    np.sin(x * c).backward()
    assert x.grad.dtype == np.float64
    assert x.grad == pytest.approx(exact, rel=1e-14)

    x = V(np.array([1.5, 2.0]))
    np.sin(x[0] * c).backward()
    np.testing.assert_allclose(x.grad, [exact, 0.0], rtol=1e-14)

    g = dualad.grad(lambda x: np.sin(x * c), 1.5, mode="reverse")
    assert g == pytest.approx(exact, rel=1e-14)
    assert dualad.grad(lambda x: np.sin(c * x), 1.5, mode="reverse") == pytest.approx(
        exact, rel=1e-14
    )


def test_float32_program_keeps_float32():
    f = lambda x: np.sin(x * np.float32(2))
    g = dualad.grad(f, np.float32(1.5), mode="reverse")
    assert g.dtype == np.float32
    assert g == pytest.approx(2.0 * np.cos(3.0), rel=1e-6)
    g = dualad.grad(lambda x: np.sum(f(x)), np.array([1.5], np.float32), mode="reverse")
    assert g.dtype == np.float32


# -- 3. backward on a leaf holding a Python float ------------------------------------------------


def test_backward_on_python_float_leaf():
    x = V(3.0)
    x.backward()
    assert x.grad == 1.0
    x.backward()
    assert x.grad == 2.0
    y = V(np.array([1.0, 2.0]))
    y.backward(gradient=np.array([3.0, 4.0]))
    np.testing.assert_array_equal(y.grad, [3.0, 4.0])


# -- 4. gradients own their memory ------------------------------------------------------------


def test_grads_do_not_share_memory():
    a = V(np.array([1.0, 2.0]))
    b = V(np.array([3.0, 4.0]))
    np.sum(a + b).backward()
    a.grad *= 0.5
    np.testing.assert_array_equal(b.grad, [1.0, 1.0])


def test_grad_does_not_share_seed():
    s = np.ones(2)
    x = V(np.array([1.0, 2.0]))
    (x + 1.0).backward(gradient=s)
    s[0] = 55
    np.testing.assert_array_equal(x.grad, [1.0, 1.0])

    s = np.ones(2)
    x = V(np.array([1.0, 2.0]))
    x.backward(gradient=s)
    s[0] = 55
    np.testing.assert_array_equal(x.grad, [1.0, 1.0])


def test_tape_gradient_results_own_memory():
    with tape.Tape() as t:
        a = t.watch(np.array([1.0, 2.0]))
        b = t.watch(np.array([3.0, 4.0]))
        y = np.sum(a + b)
    ga, gb = t.gradient(y, [a, b])
    assert not np.shares_memory(ga, gb)

    s = np.ones(2)
    with tape.Tape() as t:
        a = t.watch(np.array([1.0, 2.0]))
        y = a * 1.0
    g = t.gradient(y, a, seed=s)
    assert not np.shares_memory(g, s)

    a = V(np.array([1.0, 2.0]))
    b = V(np.array([3.0, 4.0]))
    gs = tape.grad(np.sum(a + b), [a, b])
    assert not np.shares_memory(gs[0], gs[1])
    s = np.ones(2)
    a = V(np.array([1.0, 2.0]))
    (g,) = tape.grad(a * 1.0, [a], grad_output=s)
    assert not np.shares_memory(g, s)


def test_leaf_reached_only_through_a_zero_derivative_gets_zeros():
    # np.round's reverse step gives no cotangent, so .grad stayed None (PyTorch: zeros) and
    # a training step `w.value - lr * w.grad` raised
    x = tape.Variable(np.array([1.2, 2.7]))
    w = tape.Variable(np.array([1.0, 2.0]))
    np.sum(np.round(x) * w).backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.0])
    np.testing.assert_array_equal(w.grad, [1.0, 3.0])
    s = tape.Variable(1.5)
    (np.floor(s) * 2.0).backward()
    assert np.shape(s.grad) == () and s.grad == 0.0


def test_backward_on_a_constant_raises():
    # it silently did nothing (every .grad stayed None); PyTorch raises too
    x = tape.Variable(2.0, requires_grad=False)
    with pytest.raises(RuntimeError, match="does not require grad"):
        (x * x).backward()


def test_outer_tape_cannot_watch_an_inner_tapes_variable():
    # it built a Variable of a Variable silently, and the inner gradient then failed with
    # a closed-tape message far from the cause
    a = np.array([1.0, 2.0])
    with tape.Tape() as t1, tape.Tape() as t2:
        x = t2.watch(a)
        with pytest.raises(ValueError, match="opened inside this one"):
            t1.watch(x)
    with tape.Tape() as t1:  # the right order: outer first, then inner
        x1 = t1.watch(a)
        with tape.Tape() as t2:
            x2 = t2.watch(x1)
            y = np.sum(x2**3)
        z = np.sum(t2.gradient(y, x2))
    np.testing.assert_allclose(t1.gradient(z, x1), 6 * a)

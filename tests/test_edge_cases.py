"""Edge cases a peer's test suite hits (issue 10, item 6); each failed on the old code."""

import numpy as np
import pytest

import dualad

MODES = ("forward", "reverse")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("stack", [np.vstack, np.hstack, np.stack, np.column_stack])
def test_stacking_one_array_iterates_its_rows(stack, mode):
    x = np.array([[1.0, 2.0], [3.0, 4.0]])

    def f(a):
        return stack(np.sin(a) * a)

    J = dualad.jacobian(f, x, mode=mode)
    h = 1e-6
    cols = []
    for i in range(x.size):
        e = np.zeros(x.size)
        e[i] = h
        e = e.reshape(x.shape)
        cols.append((f(x + e) - f(x - e)) / (2 * h))
    want = np.stack(cols, axis=-1).reshape(f(x).shape + x.shape)
    np.testing.assert_allclose(J, want, atol=1e-8)


@pytest.mark.parametrize("mode", MODES)
def test_append_to_a_list_of_traced_scalars(mode):
    x = np.array([1.0, 2.0, 5.0])
    J = dualad.jacobian(lambda x: np.append([x[0], x[1] * 2, x[2]], x[0] * 3), x, mode=mode)
    np.testing.assert_array_equal(J, [[1, 0, 0], [0, 2, 0], [0, 0, 1], [3, 0, 0]])


@pytest.mark.parametrize("mode", MODES)
def test_power_with_a_zero_base_and_a_zero_exponent(mode):
    # d/dy 0**y = 0 (y > 0); d/dx x**0 = 0, also at x = 0
    y0, g = dualad.vjp(lambda y: np.power(0.0, y), np.float64(0.3), 1.0)
    assert y0 == 0.0 and g == 0.0
    assert dualad.grad(lambda x: np.power(x, 0.0), 0.0, mode=mode) == 0.0
    x = np.array([0.0, 2.0])
    np.testing.assert_array_equal(dualad.grad(lambda x: np.sum(x**0.0), x, mode=mode), [0, 0])
    np.testing.assert_array_equal(
        dualad.grad(lambda x: np.sum(np.power(x, np.array([0.0, 3.0]))), x, mode=mode), [0, 12]
    )


@pytest.mark.parametrize("mode", ["auto", "forward", "reverse"])
def test_grad_of_no_inputs_is_empty(mode):
    assert dualad.grad(lambda t: 1.0, [], mode=mode) == []


def test_reverse_jacobian_keeps_float32():
    x = np.ones(2, np.float32)
    assert dualad.jacobian(np.sin, x, mode="forward").dtype == np.float32
    assert dualad.jacobian(np.sin, x, mode="reverse").dtype == np.float32


@pytest.mark.parametrize("mode", ["auto", "forward", "reverse"])
def test_grad_of_a_boolean_output_raises(mode):
    with pytest.raises(TypeError, match="float"):
        dualad.grad(lambda x: x[0] > 0, np.ones(2), mode=mode)

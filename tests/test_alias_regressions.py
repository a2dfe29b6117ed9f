"""Aliases NumPy makes through its helper objects (found beside the sparsity tracer's pass)."""

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

import dualad
from tests.tape._numdiff import numgrad, numjac

X = np.array([0.5, -1.2, 2.0, 0.7, 1.3])


def _window_after_write(x):
    y = x * 1.0
    w = sliding_window_view(y, 3)  # a view made by as_strided: its base is NumPy's helper
    y[0] = x[3] ** 2
    y[2:4] += x[:2] * x[4]
    return (w * np.arange(1.0, 4.0)).ravel()


def _broadcast_after_write(x):
    y = x[:3] * 1.0
    b, _ = np.broadcast_arrays(y, np.ones((2, 3)))
    y[1] = np.sin(x[4])
    return b.ravel() * x[0]


@pytest.mark.parametrize("f", [_window_after_write, _broadcast_after_write])
@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_writes_reach_views_made_by_as_strided(f, mode):
    # memory_root stopped at as_strided's helper object: the window kept the values and
    # derivatives from before the write (row 0 was [1, 0, 0, 0, 0] for [0, 0, 0, 1.4, 0])
    got = dualad.jacobian(f, X, mode=mode)
    np.testing.assert_allclose(got, numjac(f, X), rtol=1e-7, atol=1e-9)


def test_second_order_through_a_window_after_a_write():
    def g(x):
        return np.sum(_window_after_write(x) ** 2)

    h = dualad.hessian(g, X)
    np.testing.assert_allclose(h, numjac(lambda x: numgrad(g, x), X), rtol=1e-5, atol=1e-4)


def _iadd(x):
    y = x * 1.0
    y += np.exp(1j * x)
    return y


def _out(x):
    y = x * 1.0
    np.add(y, np.exp(1j * x), out=y)
    return y


def _buffer(x):
    y = np.zeros(2)
    y += np.exp(1j * x)
    return y


@pytest.mark.parametrize("f", [_iadd, _out, _buffer])
@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_in_place_writes_cast_as_numpy_casts(f, mode):
    # NumPy refuses complex into a float array (same_kind); dualad wrote the real part and
    # returned a derivative of a program that NumPy stops
    x = np.array([0.3, 0.5])
    with pytest.raises(TypeError, match="same_kind"):
        f(x)
    with pytest.raises(TypeError, match="same_kind"):
        dualad.jacobian(f, x, mode=mode, intercept=True)


@pytest.mark.filterwarnings("ignore::numpy.exceptions.ComplexWarning")
@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_unsafe_casting_writes_the_real_part_as_numpy(mode):
    def f(x):
        y = x * 1.0
        np.add(y, np.exp(1j * x), out=y, casting="unsafe")
        return y

    x = np.array([0.3, 0.5])
    np.testing.assert_allclose(dualad.jacobian(f, x, mode=mode), np.diag(1 - np.sin(x)), rtol=1e-14)


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_fill_of_an_intercepted_buffer_with_a_traced_value(mode):
    # b.fill(x[1]) bypassed the buffer's promotion: NumPy's "setting an array element with a
    # sequence" in every mode
    def f(x):
        b = np.zeros(3)
        b.fill(x[1])
        b[0] = x[0] ** 2
        return b * x

    x = np.array([1.0, 2.0, 3.0])
    got = dualad.jacobian(f, x, mode=mode, intercept=True)
    np.testing.assert_allclose(got, numjac(f, x), rtol=1e-7, atol=1e-9)
    assert np.array_equal(dualad.sparsity(f, x, intercept=True).toarray(), numjac(f, x) != 0)

"""Backends: nothing coerces arrays to host NumPy (simulated device array); CuPy when present."""

import numpy as np
import pytest

import dualad
from tests.device import DeviceArray


def f(x):
    return np.sin(x) * np.exp(-x * x) + np.log1p(x * x) + np.sqrt(1 + x * x)


def test_device_array_refuses_host_conversion():
    with pytest.raises(TypeError, match="implicit"):
        np.asarray(DeviceArray([1.0]))


def test_jvp_stays_on_device():
    x = DeviceArray(np.linspace(-1, 1, 5))
    y, y_dot = dualad.jvp(f, x, DeviceArray(np.ones(5)))
    assert isinstance(y, DeviceArray) and isinstance(y_dot, DeviceArray)
    np.testing.assert_allclose(y_dot.get(), dualad.derivative(f, x.get()), rtol=1e-14)


def test_forward_jacobian_stays_on_device():
    W = DeviceArray(np.random.default_rng(0).standard_normal((3, 4)))
    x = DeviceArray(np.linspace(-1, 1, 4))
    J = dualad.jacobian(lambda x: np.tanh(W @ x), x, mode="forward")
    assert isinstance(J, DeviceArray)
    ref = (1 - np.tanh(W.get() @ x.get()) ** 2)[:, None] * W.get()
    np.testing.assert_allclose(J.get(), ref, rtol=1e-13)


def test_reverse_gradient_stays_on_device():
    x = DeviceArray(np.linspace(-1, 1, 5))
    g = dualad.grad(lambda x: np.sum(f(x)), x, mode="reverse")
    assert isinstance(g, DeviceArray)
    np.testing.assert_allclose(g.get(), dualad.derivative(f, x.get()), rtol=1e-14)


def test_cupy_gradient_on_gpu():  # runs only where CuPy and a GPU work
    cupy = pytest.importorskip("cupy", reason="CuPy not installed (no GPU here)")
    x = cupy.linspace(-1, 1, 7)
    g = dualad.grad(lambda x: np.sum(f(x)), x)
    assert isinstance(g, cupy.ndarray)
    np.testing.assert_allclose(cupy.asnumpy(g), dualad.derivative(f, cupy.asnumpy(x)), rtol=1e-12)


def test_hessian_stays_on_device():
    def f(x):
        return np.sum(np.sin(x) * x[0]) + np.sum(x**3)

    host = np.linspace(0.1, 1.0, 10)  # n > HYPERDUAL_MAX_N: the taped methods
    H = dualad.hessian(f, DeviceArray(host))
    assert isinstance(H, DeviceArray)
    np.testing.assert_allclose(H.a, dualad.hessian(f, host), rtol=1e-12, atol=1e-12)

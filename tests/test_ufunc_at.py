"""``ufunc.at`` (``np.add.at(y, idx, w)`` and friends) on traced targets and operands: an
in-place update applied once per occurrence of an index, in NumPy's order. Values against
NumPy's own ``at`` on plain arrays, derivatives against central differences in float64, in
every mode (forward, reverse, Hessian, sparse, compiled) and through ``tape.Variable``.
"""

from __future__ import annotations

import numpy as np
import pytest

import dualad
import tape
from tests._check import central_jacobian as _central


def central_jacobian(f, x, h=1e-5):
    """Central differences laid out as dualad's Jacobians: ``f(x).shape + x.shape``."""
    j = _central(f, x, h)
    return np.moveaxis(j.reshape(x.size, -1), 0, -1).reshape(np.shape(f(x)) + x.shape)


IDX = [0, 2, 0, 1, 0]


def add_repeats(x):
    y = x[:3].copy()
    np.add.at(y, IDX, x[3:8])
    return y


def multiply_repeats(x):
    y = x[:3] ** 2
    np.multiply.at(y, IDX, x[3:8])
    return y


def subtract_and_maximum(x):
    y = x[:3].copy()
    np.subtract.at(y, [2, 2], 1.5 * x[0])  # a scalar b, broadcast to every occurrence
    np.maximum.at(y, [0, 0, 1], x[5:8])
    return y


def through_a_view(x):
    y = np.ones((2, 3)) * x[0]
    np.add.at(y, (np.array([0, 1, 0]), np.array([2, 2, 2])), x[1:4])
    np.power.at(y, (0, [1, 1]), x[4])  # (y ** x4) ** x4
    v = y[1]  # a view: the update reaches y
    np.multiply.at(v, [0, 0], x[5])
    return y


def unary_repeats(x):
    y = x[:4].copy()
    np.negative.at(y, [1, 1, 1])
    np.sin.at(y, [0, 0])  # sin(sin(x0))
    return y


def mask_and_slice(x):
    y = x[:4] * x[4]
    np.add.at(y, np.array([True, False, True, False]), x[5:7])
    np.multiply.at(y, slice(1, 3), x[7])
    return y


PROGRAMS = [add_repeats, multiply_repeats, subtract_and_maximum, through_a_view, unary_repeats,
            mask_and_slice]  # fmt: skip
X = np.random.default_rng(3).uniform(0.5, 1.5, 8)


def _plain_at(f, x):
    """f(x) on plain NumPy: the reference values (NumPy's own at)."""
    return f(np.array(x))


@pytest.mark.parametrize("f", PROGRAMS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_jacobian_and_value_match_numpy(f, mode):
    ref = central_jacobian(f, X)
    np.testing.assert_allclose(dualad.jacobian(f, X, mode=mode), ref, rtol=1e-7, atol=1e-8)
    y, _ = dualad.jvp(f, X, np.ones_like(X))
    np.testing.assert_array_equal(y, _plain_at(f, X))


@pytest.mark.parametrize("f", PROGRAMS, ids=lambda f: f.__name__)
def test_hessian_sparse_and_compiled(f):
    def loss(z):
        return np.sum(f(z) ** 2)

    def grad_fd(z):
        return central_jacobian(loss, z)

    h_ref = central_jacobian(grad_fd, X, h=1e-4)
    np.testing.assert_allclose(dualad.hessian(loss, X), h_ref, rtol=1e-5, atol=1e-5)
    j = dualad.jacobian(f, X, mode="sparse").toarray()
    ref = central_jacobian(f, X)
    np.testing.assert_allclose(j, ref.reshape(j.shape), rtol=1e-7, atol=1e-8)
    cf = dualad.compile(loss, X, backend="numpy")
    x2 = X + 0.1
    np.testing.assert_allclose(cf.grad(x2), central_jacobian(loss, x2), rtol=1e-7, atol=1e-7)


def test_variable_backward():
    v = tape.Variable(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    y = v * 1.0
    np.multiply.at(y, [0, 0, 2], v[1])  # y0 = v0 v1^2, y2 = v2 v1
    np.sum(y).backward()
    np.testing.assert_allclose(v.grad, [4.0, 2 * 1 * 2 + 1 + 3, 2.0])


def test_plain_target_raises_and_a_buffer_takes_it():
    def f(x):
        y = np.zeros(3)
        np.add.at(y, [0, 0], x[:2])
        return y

    for mode in ("forward", "reverse"):
        with pytest.raises(TypeError, match="plain array"):
            dualad.jacobian(f, X, mode=mode)
    ref = central_jacobian(f, X)
    for mode in ("forward", "reverse"):  # under interception np.zeros is a buffer
        np.testing.assert_allclose(dualad.jacobian(f, X, mode=mode, intercept=True), ref,
                                   atol=1e-8)  # fmt: skip


def test_complex_into_real_raises():
    def f(x):
        y = x[:3].copy()
        np.add.at(y, [0], 1j * x[0])
        return y

    for mode in ("forward", "reverse"):
        with pytest.raises(TypeError, match="cast"):
            dualad.jacobian(f, X, mode=mode)

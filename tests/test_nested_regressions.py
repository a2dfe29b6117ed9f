"""Transforms inside transforms (a fuzzing pass over nested doors and higher order)."""

import numpy as np
import pytest

import dualad


def _f(x):
    return np.sum(np.sin(x) * x[0])


def _third(x, u, v):
    """d/dx of u^T H(x) v for f = sum(sin(x) x0): closed form of the third derivatives."""
    n = x.size
    t = np.zeros((n, n, n))
    s, c = np.sin(x), np.cos(x)
    for i in range(n):  # d3/dxi3 of x0 sin(xi) (i != 0) and of x0 sin(x0)
        t[i, i, i] = -x[0] * c[i] if i else -3 * s[0] - x[0] * c[0]
        if i:  # d3/dx0 dxi dxi = -sin(xi)
            t[0, i, i] = t[i, 0, i] = t[i, i, 0] = -s[i]
    return np.einsum("ijk,i,j->k", t, u, v)


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_hvp_jvp_vjp_with_a_plain_direction_inside_another_transform(mode):
    # the plain v was put on x's backend with np.asarray(v, like=x), and x was the outer
    # transform's Dual or Variable: TypeError from NumPy
    x = np.array([0.8, 0.45, -0.3])
    v = np.array([1.0, 2.0, -0.5])
    ones = np.ones(3)
    got = dualad.grad(lambda z: np.sum(dualad.hvp(_f, z, v)), x, mode=mode)
    np.testing.assert_allclose(got, _third(x, ones, v), rtol=1e-12)
    h = dualad.hessian(_f, x)
    np.testing.assert_allclose(
        dualad.grad(lambda z: dualad.jvp(_f, z, v)[1], x, mode=mode), h @ v, rtol=1e-12
    )
    np.testing.assert_allclose(
        dualad.grad(lambda z: dualad.vjp(_f, z, 2.0)[1] @ v, x, mode=mode), 2 * h @ v, rtol=1e-12
    )
    d = dualad.derivative(lambda t: dualad.jvp(np.sin, t, 1.0)[1], 0.3)
    assert d == pytest.approx(-np.sin(0.3), rel=1e-15)


def test_nested_forward_element_write_says_what_to_use():
    # the refusal was NumPy's conversion TypeError, which blamed the user's code
    def f(x):
        y = x * 2
        y[0] = np.exp(y[0])
        return np.sum(y**2)

    x = np.array([0.8, 0.3, 0.5])
    with pytest.raises(TypeError, match="accumulate"):
        dualad.jacobian(lambda z: dualad.hessian(f, z), x, mode="forward")
    t = dualad.jacobian(lambda z: dualad.hessian(f, z, method="accumulate"), x, mode="forward")
    # d/dx0 of H00 = d/dx0 of 2 (d/dx0 e^{2 x0})^2 + ... : f = e^{4 x0} + 4 x1^2 + 4 x2^2
    assert t[0, 0, 0] == pytest.approx(64 * np.exp(4 * x[0]), rel=1e-12)
    assert np.count_nonzero(t) == 1

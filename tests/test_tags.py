"""Nested derivatives: levels keep perturbations apart."""

import numpy as np

import dualad


def test_perturbation_confusion_classic():
    # d/dx [x * d/dy (x + y)] at x = 1 is 1 (confusion gives 2)
    def outer(x):
        return x * dualad.derivative(lambda y: x + y, np.array(1.0))

    assert dualad.derivative(outer, np.array(1.0)) == 1.0


def test_inner_closure_over_outer_variable():
    # d/dx d/dy (x * y**2) = 2y, at y = 3
    def dy(x):
        return dualad.derivative(lambda y: x * y**2, np.array(3.0))

    assert dualad.derivative(dy, np.array(2.0)) == 6.0


def test_third_derivative_of_sin():
    d1 = lambda x: dualad.derivative(np.sin, x)
    d2 = lambda x: dualad.derivative(d1, x)
    d3 = dualad.derivative(d2, np.array(0.3))
    np.testing.assert_allclose(d3, -np.cos(0.3), rtol=1e-14)


def test_jacobian_of_jacobian_is_hessian():
    def f(x):
        return np.sum(np.sin(x) * x**2)

    x = np.array([0.3, -1.2, 0.8])
    H = dualad.jacobian(lambda x: dualad.jacobian(f, x, mode="forward"), x, mode="forward")
    # f_i = sin(x_i) x_i^2: f'' = -sin x^2 + 4 x cos x + 2 sin
    ref = np.diag(-np.sin(x) * x**2 + 4 * x * np.cos(x) + 2 * np.sin(x))
    np.testing.assert_allclose(H, ref, rtol=1e-12, atol=1e-14)


def test_user_duals_of_same_default_tag_interact():
    a = dualad.Dual(2.0, 1.0)
    b = dualad.Dual(3.0, 0.0)
    assert (a * b).tangent == 3.0

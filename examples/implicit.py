"""Differentiating scipy.optimize.root
===================================

Implicit differentiation: the derivative of scipy.optimize.root's answer.

A steady state x*(theta) solves F(x, theta) = 0. SciPy finds it in compiled code (MINPACK's
hybrid method), which no AD tool can trace through. The implicit function theorem gives the
derivative anyway: F_x dx = -F_theta dtheta. Stated once with ``dualad.defrule``, the solve
then differentiates like any NumPy call: forward and reverse Jacobians, the gradient of a
loss that fits theta to a measured state, and its Hessian (the rule is written with dualad's
own jacobian/jvp, so it differentiates again).

Run:  python examples/implicit.py
"""

import numpy as np
import scipy.optimize

import dualad


def residual(x, theta):
    """A small nonlinear network at rest: F(x, theta) = 0 defines the steady state."""
    a, b, c = theta[0], theta[1], theta[2]
    return np.stack([x[0] ** 3 + a * x[0] + x[1] - b, np.tanh(x[1]) + c * x[1] - 0.5 * x[0] - 0.2])


def _solve(theta):
    """Plain SciPy: the root by MINPACK (compiled), with dualad's Jacobian for speed."""

    def jac(x, t):
        return dualad.jacobian(lambda y: residual(y, t), x)

    sol = scipy.optimize.root(residual, np.zeros(2), args=(theta,), jac=jac)
    if not sol.success:
        raise RuntimeError(sol.message)
    return sol.x


def _solve_jvp(tangents, x, theta):
    """dx = -F_x^-1 F_theta dtheta at the solution x."""
    f_x = dualad.jacobian(lambda y: residual(y, theta), x, mode="forward")
    f_theta_dot = dualad.jvp(lambda t: residual(x, t), theta, tangents[0])[1]
    return -np.linalg.solve(f_x, f_theta_dot)


steady_state = dualad.defrule(_solve, jvp=_solve_jvp, name="steady_state")


PRIOR = np.array([1.0, 1.5, 2.0])
MEASURED = np.array([0.9, 0.25])


def loss(theta):
    """Misfit of the steady state to a measurement, with a small pull towards a prior."""
    return np.sum((steady_state(theta) - MEASURED) ** 2) + 1e-2 * np.sum((theta - PRIOR) ** 2)


def central(f, x, h=1e-6):
    return np.stack([(f(x + e) - f(x - e)) / (2 * h) for e in np.eye(len(x)) * h], axis=-1)


def main():
    theta = PRIOR.copy()
    x = steady_state(theta)
    print("steady state x*(theta):", x, "  |F| =", np.abs(residual(x, theta)).max())

    fd = central(_solve, theta)  # re-solving at perturbed theta
    for mode in ("forward", "reverse"):
        j = dualad.jacobian(steady_state, theta, mode=mode)
        print(f"dx*/dtheta ({mode}) matches finite differences:", np.allclose(j, fd, atol=1e-7))

    g = dualad.grad(loss, theta)
    print("gradient of the fit loss matches finite differences:",
          np.allclose(g, central(loss, theta), atol=1e-7))  # fmt: skip
    h = dualad.hessian(loss, theta)
    print("Hessian matches finite differences of the gradient:",
          np.allclose(h, central(lambda t: dualad.grad(loss, t), theta), atol=1e-5))  # fmt: skip

    fit = scipy.optimize.minimize(loss, theta, jac=lambda t: dualad.grad(loss, t),
                                  hess=lambda t: dualad.hessian(loss, t), method="trust-exact")  # fmt: skip
    print(f"fitted theta {fit.x} in {fit.nit} iterations, loss {fit.fun:.2e}")


if __name__ == "__main__":
    main()

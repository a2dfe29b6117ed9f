"""Quickstart
==========

dualad quickstart: exact derivatives of unmodified NumPy code.

Run:  python examples/quickstart.py
"""

import numpy as np

import dualad
import tape


def f(x):
    """Plain NumPy: operators, a ufunc chain, a Python branch."""
    x1, x2 = x[0], x[1]
    a = x1 / x2
    e = np.exp(x2)
    y = (np.sin(a) + a - e) * (a - e)
    if y > 0:  # comparisons on Duals give plain booleans
        y = y * 1.0
    return y


def loss(w, X, y):
    r = X @ w - y
    return r @ r


def main():
    x = np.array([1.5, 0.5])
    print("f(x)            =", f(x))
    print("grad (forward)  =", dualad.grad(f, x, mode="forward"))
    print("grad (reverse)  =", dualad.grad(f, x, mode="reverse"))
    print("Hessian         =\n", dualad.hessian(f, x))

    rng = np.random.default_rng(0)
    X, w, y = rng.standard_normal((50, 3)), rng.standard_normal(3), rng.standard_normal(50)
    g = dualad.grad(lambda w: loss(w, X, y), w)
    print("least squares grad  =", g)
    print("closed form 2(Xw-y)ᵀX =", 2 * (X @ w - y) @ X)

    J = dualad.jacobian(lambda x: np.tanh(x[:, None] * x[None, :]).sum(axis=1), np.ones(4))
    print("Jacobian shape  =", J.shape, " mode chosen:", dualad.choose_mode(np.sin, x).reason)
    dualad.check_grad(f, x)
    print("check_grad: derivatives agree with central differences")

    # reverse mode by hand: the Wengert list the tape recorded, then its adjoints
    with tape.Tape() as t:
        x1, x2 = t.watch(np.array(1.5)), t.watch(np.array(0.5))
        a = x1 / x2
        e = np.exp(x2)
        y = (np.sin(a) + a - e) * (a - e)
    print(t)
    print("adjoints        =", t.gradient(y, [x1, x2]))

    # exact second derivative with a hyper-dual number: f(x + e1 + e2) carries f''(x)
    h = np.sin(dualad.HyperDual(np.array(0.3), 1.0, 1.0, 0.0)) * 2.0
    print("d2/dx2 2 sin(x) at 0.3 =", h.eps12, " (closed form", -2 * np.sin(0.3), ")")


if __name__ == "__main__":
    main()

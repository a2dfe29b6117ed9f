"""scipy.optimize.minimize with exact derivatives
==============================================

scipy.optimize.minimize with dualad's derivatives against finite differences.

Rosenbrock in n = 100 dimensions (20 in the quick run the tests make), from x = 0:
BFGS with dualad's gradient, Newton-CG with its gradient and Hessian-vector products, and
trust-exact with its gradient and Hessian, each against the same method with finite
differences (SciPy's own, where the method accepts them). The table shows iterations,
function evaluations, time and the final distance to the minimum at (1, ..., 1). Run as a
script with matplotlib installed, it plots the convergence (optimize.png).

Run:  python examples/optimize.py
"""

import time

import numpy as np
import scipy.optimize

import dualad


def rosen(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def run(method, n, **derivs):
    history = []
    x0 = np.zeros(n)
    t0 = time.perf_counter()
    res = scipy.optimize.minimize(
        rosen, x0, method=method, callback=lambda xk, *a: history.append(rosen(xk)),
        options={"maxiter": 5000}, **derivs,
    )  # fmt: skip
    return res, time.perf_counter() - t0, history


def main(figure: bool = False, n: int = 20):
    grad = lambda x: dualad.grad(rosen, x)
    hess = lambda x: dualad.hessian(rosen, x)
    hessp = lambda x, p: dualad.hvp(rosen, x, p)
    fd_hess = lambda x: scipy.optimize.approx_fprime(x, grad, 1e-7)
    cases = [
        ("BFGS", "dualad gradient", {"jac": grad}),
        ("BFGS", "finite differences", {}),
        ("Newton-CG", "dualad gradient + hvp", {"jac": grad, "hessp": hessp}),
        ("Newton-CG", "dualad gradient, FD hvp", {"jac": grad}),
        ("trust-exact", "dualad gradient + Hessian", {"jac": grad, "hess": hess}),
        ("trust-exact", "dualad gradient, FD Hessian", {"jac": grad, "hess": fd_hess}),
    ]
    print(f"{'method':12} {'derivatives':28} {'iters':>6} {'f evals':>8} {'time':>8} "
          f"{'|x - 1|':>9}")  # fmt: skip
    histories = {}
    for method, label, derivs in cases:
        res, t, hist = run(method, n, **derivs)
        err = np.abs(res.x - 1).max()
        histories[f"{method}, {label}"] = hist
        print(f"{method:12} {label:28} {res.nit:6d} {res.nfev:8d} {t:7.2f}s {err:9.1e}")
    x = np.linspace(-1, 1, n)
    print("dualad's gradient and Hessian equal rosen_der and rosen_hess:",
          bool(np.allclose(dualad.grad(rosen, x), scipy.optimize.rosen_der(x)))
          and bool(np.allclose(dualad.hessian(rosen, x), scipy.optimize.rosen_hess(x))))  # fmt: skip
    if not figure:
        return
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(matplotlib not installed: no figure)")
        return
    fig, ax = plt.subplots(figsize=(7, 4))
    for label, hist in histories.items():
        ax.semilogy(np.maximum(hist, 1e-16), label=label)
    ax.set_xlabel("iteration")
    ax.set_ylabel("f")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig("optimize.png", dpi=100)
    print("figure: optimize.png")


if __name__ == "__main__":
    main(figure=True, n=100)

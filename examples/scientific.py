"""Scientific code as written
==========================

Scientific NumPy code, differentiated as written: grids, quadrature, interpolation,
least squares, statistics and buffers filled in place.

Run:  python examples/scientific.py
"""

import numpy as np

import dualad


def energy(u):
    """Discrete Dirichlet energy plus a potential: np.gradient and np.trapezoid on a grid."""
    x = np.linspace(0.0, 1.0, u.shape[0])
    du = np.gradient(u, x)
    return np.trapezoid(0.5 * du**2 + np.cos(u), x)


def lookup_loss(table):
    """A calibration table read through np.interp at measured points."""
    grid = np.linspace(0.0, 10.0, table.shape[0])
    measured = np.array([0.7, 2.2, 4.9, 8.1])
    target = np.array([1.0, 1.8, 2.9, 4.4])
    return np.sum((np.interp(measured, grid, table) - target) ** 2)


def fit_sensitivity(y):
    """How a cubic fit's value at 0.5 moves with the data: np.polyfit then np.polyval."""
    x = np.linspace(-1.0, 1.0, y.shape[0])
    return np.polyval(np.polyfit(x, y, 3), 0.5)


def robust_spread(x):
    """Interquartile range over the median: np.quantile and np.median."""
    q1, q3 = np.quantile(x, [0.25, 0.75])
    return (q3 - q1) / np.median(np.abs(x))


def tridiagonal_solve(d):
    """A matrix built in place in a buffer, then solved: np.fill_diagonal and item writes."""
    n = d.shape[0]
    a = np.zeros_like(d, shape=(n, n))
    np.fill_diagonal(a, 2.0 + d**2)
    for i in range(n - 1):
        a[i, i + 1] = -1.0
        a[i + 1, i] = -1.0
    return np.sum(np.linalg.solve(a, np.ones(n)))


def main():
    rng = np.random.default_rng(3)
    cases = [
        ("energy (gradient, trapezoid)", energy, np.sin(np.linspace(0.0, 3.0, 12))),
        ("lookup table (interp)", lookup_loss, np.linspace(0.5, 5.0, 6)),
        ("fit sensitivity (polyfit)", fit_sensitivity, rng.standard_normal(9)),
        ("robust spread (quantile)", robust_spread, rng.standard_normal(15)),
        ("tridiagonal (fill_diagonal, solve)", tridiagonal_solve, rng.standard_normal(5)),
    ]
    for name, f, x in cases:
        g_fwd = dualad.grad(f, x, mode="forward")
        g_rev = dualad.grad(f, x, mode="reverse")
        worst = dualad.check_grad(f, x)  # raises if either disagrees with differences
        dualad.check_grad(f, x, mode="reverse")
        print(f"{name:36s} f = {f(x): .6f}   |grad| = {np.linalg.norm(g_fwd):.6f}   "
              f"forward == reverse: {np.allclose(g_fwd, g_rev, rtol=1e-12, atol=1e-14)}   "
              f"check_grad error {worst:.1e} of tolerance")  # fmt: skip
    h = dualad.hessian(energy, cases[0][2])
    print("energy Hessian: symmetric", np.allclose(h, h.T), "- shape", h.shape)


if __name__ == "__main__":
    main()

"""Sparse Jacobians for PDE solvers
================================

Sparse Jacobians for stiff PDEs and large least squares, from the code as written.

1. A 1-D reaction-diffusion equation u_t = D u_xx + u - u^3, solved with
   scipy.integrate.solve_ivp(method="BDF"): the Jacobian from dualad (exact, 3 colors)
   against SciPy's own finite differences (dense).
2. The same on a 2-D grid with the 5-point Laplacian (5 colors), against SciPy's finite
   differences given the sparsity pattern dualad found.
3. A bound-constrained Broyden tridiagonal problem with scipy.optimize.least_squares,
   the exact sparse Jacobian against finite differences with the same pattern.

Each pair must reach the same solution; the times are printed. ``python
examples/sparse_pde.py --full`` runs larger sizes.

Run:  python examples/sparse_pde.py
"""

import sys
import time

import numpy as np
import scipy.integrate
import scipy.optimize

import dualad


def reaction_diffusion_1d(u, d=0.5):
    p = np.concatenate([u[:1], u, u[-1:]])  # no flux at the ends
    return d * (p[:-2] - 2 * u + p[2:]) * (u.size / 10) ** 2 + u - u**3


def reaction_diffusion_2d(u_flat, n):
    u = u_flat.reshape(n, n)
    p = np.pad(u, 1, mode="edge")
    lap = p[:-2, 1:-1] + p[2:, 1:-1] + p[1:-1, :-2] + p[1:-1, 2:] - 4 * u
    return (0.1 * lap * (n / 4) ** 2 + u - u**3).ravel()


def broyden(x):
    xm = np.concatenate([np.zeros(1), x[:-1]])
    xp = np.concatenate([x[1:], np.zeros(1)])
    return (3 - 2 * x) * x - xm - 2 * xp + 1


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def ode_case(name, rhs, u0, t_end, pattern_for_fd):
    pattern = dualad.sparsity(rhs, u0)

    def jac(t, u):
        return dualad.jacobian(rhs, u, mode="sparse", sparsity=pattern)

    sol_ad, t_ad = timed(
        lambda: scipy.integrate.solve_ivp(
            lambda t, u: rhs(u), (0, t_end), u0, method="BDF", jac=jac, rtol=1e-6, atol=1e-9
        )
    )
    sol_fd, t_fd = timed(
        lambda: scipy.integrate.solve_ivp(
            lambda t, u: rhs(u), (0, t_end), u0, method="BDF", rtol=1e-6, atol=1e-9,
            jac_sparsity=pattern if pattern_for_fd else None,
        )
    )  # fmt: skip
    same = np.allclose(sol_ad.y[:, -1], sol_fd.y[:, -1], rtol=1e-4, atol=1e-6)
    fd = "finite differences" + (" (sparse)" if pattern_for_fd else " (dense)")
    print(f"{name}: n = {u0.size}, {pattern.nnz} nonzeros; dualad {t_ad:.2f} s "
          f"({sol_ad.njev} Jacobians), {fd} {t_fd:.2f} s; same solution: {same}")  # fmt: skip
    return same


def least_squares_case(n):
    x0 = np.full(n, -1.0)
    pattern = dualad.sparsity(broyden, x0)

    def jac(x):
        return dualad.jacobian(broyden, x, mode="sparse", sparsity=pattern)

    bounds = (np.full(n, -2.0), np.full(n, 0.0))
    r_ad, t_ad = timed(lambda: scipy.optimize.least_squares(broyden, x0, jac=jac, bounds=bounds))
    r_fd, t_fd = timed(
        lambda: scipy.optimize.least_squares(
            broyden, x0, jac="2-point", jac_sparsity=pattern, bounds=bounds
        )
    )
    same = np.allclose(r_ad.x, r_fd.x, atol=1e-6)
    print(f"least squares (Broyden tridiagonal, bounds): n = {n}; dualad {t_ad:.2f} s "
          f"({r_ad.njev} Jacobians), finite differences (sparse) {t_fd:.2f} s; cost "
          f"{r_ad.cost:.2e}; same solution: {same}")  # fmt: skip
    return same


def main(full: bool = False):
    n1, n2, n3 = (2000, 64, 100_000) if full else (300, 16, 2000)
    x = np.linspace(0, 10, n1)
    ode_case("1-D reaction-diffusion", reaction_diffusion_1d, np.tanh(x - 5) * 0.9, 1.0, False)
    g = np.linspace(-1, 1, n2)
    u0 = (np.sin(3 * g)[:, None] * np.cos(2 * g)[None, :]).ravel()
    ode_case("2-D reaction-diffusion", lambda u: reaction_diffusion_2d(u, n2), u0, 0.5, True)
    least_squares_case(n3)
    x = np.linspace(-1, 1, 2000)
    j = dualad.jacobian(broyden, x, mode="sparse")
    c = j.coloring
    print(f"coloring of the Broyden Jacobian: {c}; equal to the dense Jacobian: "
          f"{np.array_equal(j.toarray(), dualad.jacobian(broyden, x))}")  # fmt: skip


if __name__ == "__main__":
    main(full="--full" in sys.argv)

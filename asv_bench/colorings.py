"""Color counts against their lower bound, per case (issue 13).

The lower bound of a column coloring is the largest number of nonzeros in one row (those
columns all need different colors). Prints one row per case: the benchmark stencils at
their benchmark sizes, Rosenbrock's Hessian, the banded/block test set that
tests/test_sparse.py checks to within 10%, an arrowhead Hessian (star coloring, where H = H^T
beats the column bound) and random patterns (greedy; no structure to exploit).

    python3 asv_bench/colorings.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import scipy.sparse as sp

import dualad
from dualad._sparse import color_columns, coloring

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchmarks.sparse import laplacian_2d, rosenbrock, tridiagonal


def banded(n, lo, hi):
    return sp.csr_array(sp.diags([np.ones(n - abs(k)) for k in range(-lo, hi + 1)],
                                 list(range(-lo, hi + 1))) != 0)  # fmt: skip


def block_diagonal(n, b):
    return sp.csr_array(sp.kron(sp.eye(n // b), np.ones((b, b))) != 0)


def rows() -> list:
    out = []
    x = np.linspace(-1.0, 1.0, 10**6)
    c = coloring(dualad.sparsity(tridiagonal, x), x.shape)
    out.append(("tridiagonal, n = 10^6", c))
    u = np.random.default_rng(0).standard_normal((1000, 1000))
    c = coloring(dualad.sparsity(laplacian_2d, u), u.shape)
    out.append(("5-point Laplacian, 1000 x 1000", c))
    xr = np.random.default_rng(0).uniform(-1, 1, 10**5)
    h = dualad.hessian(rosenbrock, xr, method="sparse")
    out.append(("Rosenbrock Hessian, n = 10^5", h.coloring))
    rng = np.random.default_rng(1)
    cases = [("banded 200 (1, 1)", banded(200, 1, 1)), ("banded 300 (2, 3)", banded(300, 2, 3)),
             ("banded 100 (0, 4)", banded(100, 0, 4)), ("blocks 120 of 4", block_diagonal(120, 4))]  # fmt: skip
    for _ in range(6):
        lo, hi = int(rng.integers(0, 4)), int(rng.integers(0, 4))
        cases.append((f"banded 150 ({lo}, {hi})", banded(150, lo, hi)))
    cases.append(("blocks 10^5 of 7", block_diagonal(7 * 14285, 7)))
    for name, p in cases:
        out.append((name, color_columns(p)))
    for d in (0.02, 0.05):
        p = sp.random_array((400, 400), density=d, rng=rng, format="csr") != 0
        out.append((f"random 400 x 400, density {d}", color_columns(p)))

    def arrow(x):  # f = x0 * sum(x) + sum(x^2): an arrowhead Hessian
        return x[0] * np.sum(x) + np.sum(x**2)

    n = 1000
    a = sp.lil_array((n, n), dtype=bool)
    a[0, :] = True
    a[:, 0] = True
    a.setdiag(True)
    # the pattern given (hessian_sparsity sees a product of sums, not a sum of terms, and
    # states every pair: conservative, n colors)
    h = dualad.hessian(arrow, np.linspace(0.1, 1.0, n), method="sparse", sparsity=a.tocsr())
    out.append(("arrowhead Hessian, n = 1000, given", h.coloring))
    return out


def main() -> int:
    table = rows()
    w = max(len(n) for n, _ in table)
    print(f"{'case':<{w}}  colors  lower bound  within 10%  mode       method")
    for name, c in table:
        ok = c.count <= int(np.ceil(1.1 * c.lower_bound))
        print(f"{name:<{w}}  {c.count:>6}  {c.lower_bound:>11}  {'yes' if ok else 'NO':>10}  "
              f"{c.mode:<9}  {c.method}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

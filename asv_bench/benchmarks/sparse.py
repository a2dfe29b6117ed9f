"""Sparse Jacobians and Hessians (issue 13): ratios to one evaluation of ``f``.

- the tridiagonal f_i = x_{i-1} - 2 x_i + x_{i+1} + x_i^3 at n = 10^6: sparse Jacobian with
  the pattern given (target <= 8x), with pattern detection (<= 20x), and the detection alone;
- the 2-D 5-point Laplacian plus u^3 on a 1000 x 1000 grid, pattern given (<= 12x);
- Rosenbrock at n = 10^5: sparse Hessian (<= 30x).
"""

import numpy as np

import dualad


def tridiagonal(x):
    y = x**3 - 2 * x
    y = y + np.concatenate([np.zeros(1), x[:-1]])
    return y + np.concatenate([x[1:], np.zeros(1)])


def laplacian_2d(u):
    p = np.pad(u, 1)
    return p[:-2, 1:-1] + p[2:, 1:-1] + p[1:-1, :-2] + p[1:-1, 2:] - 4 * u + u**3


def rosenbrock(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


class Tridiagonal1e6:
    def setup(self):
        self.x = np.linspace(-1.0, 1.0, 10**6)
        self.pattern = dualad.sparsity(tridiagonal, self.x)
        dualad.jacobian(tridiagonal, self.x, mode="sparse", sparsity=self.pattern)  # colors once

    def time_plain(self):
        tridiagonal(self.x)

    def time_sparse_given(self):
        dualad.jacobian(tridiagonal, self.x, mode="sparse", sparsity=self.pattern)

    def time_sparse_detect(self):
        dualad.jacobian(tridiagonal, self.x, mode="sparse")

    def time_sparsity(self):
        dualad.sparsity(tridiagonal, self.x)


class Laplacian2D:
    def setup(self):
        self.u = np.random.default_rng(0).standard_normal((1000, 1000))
        self.pattern = dualad.sparsity(laplacian_2d, self.u)
        dualad.jacobian(laplacian_2d, self.u, mode="sparse", sparsity=self.pattern)

    def time_plain(self):
        laplacian_2d(self.u)

    def time_sparse_given(self):
        dualad.jacobian(laplacian_2d, self.u, mode="sparse", sparsity=self.pattern)


class Rosenbrock1e5:
    def setup(self):
        self.x = np.random.default_rng(0).uniform(-1, 1, 10**5)
        self.pattern = dualad.hessian_sparsity(rosenbrock, self.x)
        dualad.hessian(rosenbrock, self.x, method="sparse", sparsity=self.pattern)

    def time_plain(self):
        rosenbrock(self.x)

    def time_sparse_hessian_given(self):
        dualad.hessian(rosenbrock, self.x, method="sparse", sparsity=self.pattern)

    def time_sparse_hessian(self):
        dualad.hessian(rosenbrock, self.x, method="sparse")

    def setup_compiled(self):
        import tempfile

        try:
            self.cf = dualad.compile(rosenbrock, self.x, cache_dir=tempfile.mkdtemp())
        except ImportError:  # no Numba: the NumPy replay
            self.cf = dualad.compile(rosenbrock, self.x, backend="numpy")
        self.cf.hessian(self.x, sparse=True)

    def time_compiled_sparse_hessian(self):
        if not hasattr(self, "cf"):
            self.setup_compiled()
        self.cf.hessian(self.x, sparse=True)


def tridiagonal_cheap(x):
    """The same f with x * x * x: no pow call, so f itself is 20x cheaper at n = 10^6 and
    the ratios show the forward pass's own cost (3 tangent rows per value)."""
    y = x * x * x - 2 * x
    y = y + np.concatenate([np.zeros(1), x[:-1]])
    return y + np.concatenate([x[1:], np.zeros(1)])


class Tridiagonal1e6Cheap:
    def setup(self):
        self.x = np.linspace(-1.0, 1.0, 10**6)
        self.pattern = dualad.sparsity(tridiagonal_cheap, self.x)
        dualad.jacobian(tridiagonal_cheap, self.x, mode="sparse", sparsity=self.pattern)

    def time_plain(self):
        tridiagonal_cheap(self.x)

    def time_sparse_given(self):
        dualad.jacobian(tridiagonal_cheap, self.x, mode="sparse", sparsity=self.pattern)

    def time_sparse_detect(self):
        dualad.jacobian(tridiagonal_cheap, self.x, mode="sparse")

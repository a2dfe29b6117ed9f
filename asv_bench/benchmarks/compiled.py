"""Compiled derivatives (issue 14): ``dualad.compile``, against the plain programs.

- the seed program's value and gradient through every door of a compiled function (a
  vector, a tuple, ``grad``, ``jacobian`` of a two-output variant, ``hessian``), against the
  program on Python floats with ``math`` (targets: 1 us per call, 8x math);
- the 1000-step scalar loop ``y = y*0.999 + x`` (2000 recorded operations): gradient per
  recorded operation (target 0.05 us/op);
- Rosenbrock at n = 100: the compiled Hessian against the NumPy function (target 5x), with
  SciPy's hand-written ``rosen_hess`` as a comparison row;
- the 10^6-element chain ``sin(x) exp(-x^2) + log1p(x^2) + sqrt(1 + x^2)``: JVP and gradient
  against the NumPy function (target 1.0x);
- the NumPy replay backend on the seed and on Rosenbrock, for comparison.

Compilation happens in ``setup`` (into a temporary cache): the times are of calls only.
"""

import tempfile

import numpy as np

import dualad

from .doors import seed_dict, seed_tuple, seed_two_outputs, seed_vector
from .forward import scalar_program_math

_CACHE = tempfile.mkdtemp(prefix="dualad_bench_")


def _compile(f, x, backend="numba"):
    return dualad.compile(f, x, backend=backend, cache_dir=_CACHE)


def rosenbrock(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def chain(x):
    return np.sin(x) * np.exp(-(x**2)) + np.log1p(x**2) + np.sqrt(1 + x**2)


def chain_sum(x):
    return np.sum(chain(x))


def loop(x):
    y = x
    for _ in range(1000):
        y = y * 0.999 + x
    return y


class CompiledSeed:
    """The seed program, compiled (targets: 1 us per call; 8x ``time_plain_math``)."""

    def setup(self):
        self.v = np.array([1.5, 0.5])
        self.t = (1.5, 0.5)
        self.d = {"x1": 1.5, "x2": 0.5}
        self.cv = _compile(seed_vector, self.v)
        self.ct = _compile(seed_tuple, self.t)
        self.cd = _compile(seed_dict, self.d)
        self.cd.value_and_grad(self.d)
        self.cj = _compile(seed_two_outputs, self.v)
        self.cn = _compile(seed_vector, self.v, backend="numpy")
        for c, x in ((self.cv, self.v), (self.ct, self.t), (self.cn, self.v)):
            c.value_and_grad(x)
            c.hessian(x)
        self.cj.jacobian(self.v)

    def time_plain_math(self):
        scalar_program_math(1.5, 0.5)

    def time_value_and_grad(self):
        self.cv.value_and_grad(self.v)

    def time_value_and_grad_tuple(self):
        self.ct.value_and_grad(self.t)

    def time_value_and_grad_dict(self):
        self.cd.value_and_grad(self.d)

    def time_grad(self):
        self.cv.grad(self.v)

    def time_jacobian(self):
        self.cj.jacobian(self.v)

    def time_hessian(self):
        self.cv.hessian(self.v)

    def time_value_and_grad_numpy_backend(self):
        self.cn.value_and_grad(self.v)


class CompiledLoop:
    """The 1000-step scalar loop (2000 recorded operations), compiled: gradient per op
    (target 0.05 us/op); ``time_plain`` is the loop on a Python float."""

    def setup(self):
        self.c = _compile(loop, 0.5)
        self.c.grad(0.5)
        self.x = np.array(0.5)
        self.c.grad(self.x)

    def time_plain(self):
        loop(0.5)

    def time_grad_float(self):
        self.c.grad(0.5)

    def time_grad_0d(self):
        self.c.grad(self.x)


class CompiledRosenbrock100:
    """Rosenbrock at n = 100: compiled Hessian and gradient against the NumPy function
    (target 5x for the Hessian)."""

    def setup(self):
        from scipy.optimize import rosen_hess

        self.rosen_hess = rosen_hess
        self.x = np.linspace(-1.0, 1.5, 100)
        self.c = _compile(rosenbrock, self.x)
        self.cn = _compile(rosenbrock, self.x, backend="numpy")
        self.c.hessian(self.x)
        self.c.grad(self.x)
        self.cn.hessian(self.x)

    def time_plain(self):
        rosenbrock(self.x)

    def time_hessian(self):
        self.c.hessian(self.x)

    def time_grad(self):
        self.c.grad(self.x)

    def time_rosen_hess(self):
        self.rosen_hess(self.x)

    def time_hessian_numpy_backend(self):
        self.cn.hessian(self.x)


class CompiledChain1e6:
    """The 10^6-element chain: compiled JVP and gradient (one fused loop each) against the
    NumPy function (target 1.0x)."""

    def setup(self):
        self.x = np.linspace(-2.0, 2.0, 10**6)
        self.v = np.cos(self.x)
        self.c = _compile(chain, self.x)
        self.cs = _compile(chain_sum, self.x)
        self.c.jvp(self.x, self.v)
        self.cs.grad(self.x)

    def time_plain(self):
        chain(self.x)

    def time_plain_sum(self):
        chain_sum(self.x)

    def time_jvp(self):
        self.c.jvp(self.x, self.v)

    def time_grad(self):
        self.cs.grad(self.x)

    def time_value(self):
        self.c(self.x)

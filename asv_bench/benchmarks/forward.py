"""Forward-mode benchmarks: one-direction JVP, scalar seeding, a dense forward Jacobian."""

import math
import types

import numpy as np

import dualad
from dualad import Dual


def elementwise(x):
    return np.sin(x) * np.exp(-(x**2)) + np.log1p(x**2) + np.sqrt(1 + x**2)


class FwdElementwise1e6:
    """JVP in one direction of an elementwise chain over 1e6 float64 (target 2.8x)."""

    def setup(self):
        rng = np.random.default_rng(0)
        self.x = rng.standard_normal(1_000_000)
        self.v = rng.standard_normal(1_000_000)

    def time_plain(self):
        elementwise(self.x)

    def time_dualad(self):
        dualad.jvp(elementwise, self.x, self.v)


def scalar_program(x1, x2):
    a = x1 / x2
    e = np.exp(x2)
    return (np.sin(a) + a - e) * (a - e)


#: math's own functions, taken at import: once dualad's interception is installed (the
#: intercept cases of ratios.py run before the doors), ``math.sin`` is a wrapper that costs
#: 0.2-0.3 us more a call, which doubled this baseline and halved the doors' ratios
#: (looked up as attributes, as ``math.exp`` is, so the baseline costs what the program does)
_math = types.ModuleType("_math")
_math.exp, _math.sin = math.exp, math.sin


def scalar_program_math(x1, x2):
    """The same program on Python floats with ``math``: the issue's 0.13 us baseline."""
    a = x1 / x2
    e = _math.exp(x2)
    return (_math.sin(a) + a - e) * (a - e)


def scalar_program_indexed(x):
    return scalar_program(x[0], x[1])


class FwdScalarSeed:
    """Both partials of a two-input scalar program in one forward pass (target 8 us/call).

    ``time_dualad_grad`` goes through the API (``x[0]``, ``x[1]`` index one Dual);
    ``time_dualad_dual`` seeds two scalar Duals with two directions each by hand.
    ``time_plain`` is the same program on Python floats (through NumPy's functions, as the
    Duals run it); ``time_plain_math`` uses ``math``, as the target's 0.13 us baseline did.
    """

    def setup(self):
        self.x = np.array([1.5, 0.5])
        self.p1, self.p2 = np.float64(1.5), np.float64(0.5)
        self.t1, self.t2 = np.array([1.0, 0.0]), np.array([0.0, 1.0])

    def time_plain(self):
        scalar_program(1.5, 0.5)

    def time_plain_math(self):
        scalar_program_math(1.5, 0.5)

    def time_dualad_grad(self):
        dualad.grad(scalar_program_indexed, self.x, mode="forward")

    def time_dualad_dual(self):
        scalar_program(Dual(self.p1, self.t1), Dual(self.p2, self.t2))


def tanh_layer(W, b):
    def f(x):
        return np.tanh(W @ x + b) * x

    return f


class FwdJacobian300:
    """Dense 300x300 forward Jacobian of tanh(W @ x + b) * x vs one 300^3 matmul (target 2x)."""

    def setup(self):
        rng = np.random.default_rng(0)
        self.W = rng.standard_normal((300, 300)) / np.sqrt(300)
        self.W2 = rng.standard_normal((300, 300))
        self.b = rng.standard_normal(300)
        self.x = rng.standard_normal(300)
        self.f = tanh_layer(self.W, self.b)

    def time_plain(self):
        self.W @ self.W2

    def time_dualad(self):
        dualad.jacobian(self.f, self.x, mode="forward")

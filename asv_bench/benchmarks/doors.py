"""Every door to one derivative (issue 10): the seed program and the scalar loop.

The seed program ``f(x1, x2) = (sin(x1/x2) + x1/x2 - e^x2)(x1/x2 - e^x2)`` at (1.5, 0.5) is
differentiated through each way a user reaches it: the default ``grad`` on a vector, a tuple
and a dict, ``value_and_grad``, ``jacobian`` of a two-output variant, ``mode="reverse"`` on
the same calls, and ``hessian`` on a vector, a tuple and a dict. Each is compared with the program on Python floats with
``math`` (``time_plain_math``). The scalar loop ``y = y*0.999 + x`` (1000 steps, 2000
recorded operations) is differentiated in reverse mode through ``grad`` with a float, a 0-d
array and an ``np.float64``, through ``Tape().watch`` of each, and through
``tape.Variable(0.5, requires_grad=True)`` + ``backward()``; each is compared with the same
loop on a NumPy 0-d array (``time_plain_0d``).
"""

import numpy as np

import dualad
import tape

from .forward import scalar_program, scalar_program_math


def seed_vector(x):
    return scalar_program(x[0], x[1])


def seed_tuple(x):
    return scalar_program(*x)


def seed_dict(x):
    return scalar_program(x["x1"], x["x2"])


def seed_two_outputs(x):
    a = x[0] / x[1]
    e = np.exp(x[1])
    return np.stack([(np.sin(a) + a - e) * (a - e), a * e])


class SeedDoors:
    """The seed program through every public door (targets: 60x default, 120x reverse,
    300x hessian, as ratios to ``time_plain_math``)."""

    def setup(self):
        self.v = np.array([1.5, 0.5])
        self.t = (1.5, 0.5)
        self.d = {"x1": 1.5, "x2": 0.5}

    def time_plain_math(self):
        scalar_program_math(1.5, 0.5)

    def time_grad_vector(self):
        dualad.grad(seed_vector, self.v)

    def time_grad_tuple(self):
        dualad.grad(seed_tuple, self.t)

    def time_grad_dict(self):
        dualad.grad(seed_dict, self.d)

    def time_value_and_grad(self):
        dualad.value_and_grad(seed_vector, self.v)

    def time_jacobian(self):
        dualad.jacobian(seed_two_outputs, self.v)

    def time_grad_vector_reverse(self):
        dualad.grad(seed_vector, self.v, mode="reverse")

    def time_grad_tuple_reverse(self):
        dualad.grad(seed_tuple, self.t, mode="reverse")

    def time_grad_dict_reverse(self):
        dualad.grad(seed_dict, self.d, mode="reverse")

    def time_value_and_grad_reverse(self):
        dualad.value_and_grad(seed_vector, self.v, mode="reverse")

    def time_jacobian_reverse(self):
        dualad.jacobian(seed_two_outputs, self.v, mode="reverse")

    def time_hessian(self):
        dualad.hessian(seed_vector, self.v)

    def time_hessian_tuple(self):
        dualad.hessian(seed_tuple, self.t)

    def time_hessian_dict(self):
        dualad.hessian(seed_dict, self.d)


N_STEPS = 1000
N_OPS = 2 * N_STEPS


def leaky(x):
    y = x
    for _ in range(N_STEPS):
        y = y * 0.999 + x
    return y


class LoopDoors:
    """The scalar loop in reverse mode through every door (target 10x the loop on a NumPy 0-d
    array, per operation)."""

    def setup(self):
        self.zero_d = np.array(0.5)
        self.f64 = np.float64(0.5)

    def time_plain_0d(self):
        leaky(self.zero_d)

    def time_grad_float(self):
        dualad.grad(leaky, 0.5, mode="reverse")

    def time_grad_0d(self):
        dualad.grad(leaky, self.zero_d, mode="reverse")

    def time_grad_f64(self):
        dualad.grad(leaky, self.f64, mode="reverse")

    def _watch(self, x):
        with tape.Tape() as t:
            v = t.watch(x)
            y = leaky(v)
        t.gradient(y, v)

    def time_watch_float(self):
        self._watch(0.5)

    def time_watch_0d(self):
        self._watch(self.zero_d)

    def time_watch_f64(self):
        self._watch(self.f64)

    def time_variable_backward(self):
        x = tape.Variable(0.5, requires_grad=True)
        y = leaky(x)
        y.backward()
        return x.grad

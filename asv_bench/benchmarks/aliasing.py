"""Benchmarks of real code as it is (issue 9): writes through views, and code that converts
its input (``intercept=True``), against the plain NumPy run of the same function."""

import math

import numpy as np

import dualad


def smooth_in_place(x):
    """A relaxation sweep written with views and in-place writes, as NumPy users write it."""
    y = x * 1.0
    inner = y[1:-1]  # a view: every write below reaches y
    for _ in range(3):
        inner += 0.25 * (y[2:] - 2.0 * y[1:-1] + y[:-2])
    grid = y.reshape(-1, 10)
    grid[:, 0] = np.sin(grid[:, 1])  # a strided column of the reshape view
    return np.sum(y * y)


class Views1e5:
    """Forward JVP and reverse gradient through views and in-place writes, n = 1e5."""

    def setup(self):
        self.x = np.linspace(-1.0, 1.0, 100_000)
        self.v = np.ones_like(self.x)

    def time_plain(self):
        smooth_in_place(self.x)

    def time_jvp(self):
        dualad.jvp(smooth_in_place, self.x, self.v)

    def time_grad_reverse(self):
        dualad.grad(smooth_in_place, self.x, mode="reverse")


def coercing(x):
    """Code that converts its input: np.asarray, math.* on items, a plain buffer filled in."""
    x = np.asarray(x, dtype=float)
    out = np.zeros(x.shape[0])
    out[:] = x * x
    out[0] += math.sin(x[0]) + math.exp(x[1])
    return np.sum(out) + math.hypot(x[2], x[3])


def native(x):
    """The same function written without conversions: the interception overhead's yardstick."""
    out = x * x
    first = np.sin(x[0]) + np.exp(x[1])
    return np.sum(out) + first + np.hypot(x[2], x[3])


class Intercept1e3:
    """jvp and reverse grad with intercept=True on code that converts its input, n = 1000."""

    def setup(self):
        self.x = np.linspace(0.1, 1.0, 1000)
        self.v = np.ones_like(self.x)

    def time_plain(self):
        coercing(self.x)

    def time_jvp(self):
        dualad.jvp(coercing, self.x, self.v, intercept=True)

    def time_native_jvp(self):
        dualad.jvp(native, self.x, self.v)

    def time_reverse(self):
        dualad.grad(coercing, self.x, mode="reverse", intercept=True)

    def time_native_reverse(self):
        dualad.grad(native, self.x, mode="reverse")

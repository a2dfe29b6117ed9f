"""Reverse-mode tape benchmarks: per-operation recording and sweep cost."""

import numpy as np

import tape

N_STEPS = 1000
N_OPS = 2 * N_STEPS  # one multiply and one add per step


def leaky_loop(x):
    y = x
    for _ in range(N_STEPS):
        y = 0.999 * y + x
    return y


class RevScalarLoop:
    """1000 steps of y = 0.999*y + x on a tape, then the gradient (target 4 us per op).

    ``time_dualad`` records 2000 operations and sweeps them; divide by ``N_OPS`` for the
    per-operation cost. ``time_plain`` runs the loop on a NumPy float64.
    """

    def setup(self):
        self.x = np.float64(0.5)

    def time_plain(self):
        leaky_loop(self.x)

    def time_dualad(self):
        with tape.Tape() as t:
            x = t.watch(self.x)
            y = leaky_loop(x)
        t.gradient(y, x)

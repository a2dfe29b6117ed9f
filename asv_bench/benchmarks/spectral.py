"""Complex numbers and FFTs (issue 11): a 2^18-point rfft -> power -> irfft chain, its
gradient in reverse mode (the default for one output) against the plain NumPy run."""

import numpy as np

import dualad

N = 2**18


class PowerChain:
    """grad of sum(w * irfft(|rfft(x)|^2)): at most 3x the primal (issue 11)."""

    def setup(self):
        rng = np.random.default_rng(0)
        self.x = rng.standard_normal(N)
        self.w = rng.standard_normal(N)

    def f(self, x):
        return np.sum(self.w * np.fft.irfft(np.abs(np.fft.rfft(x)) ** 2, n=N))

    def time_plain(self):
        self.f(self.x)

    def time_grad(self):
        dualad.grad(self.f, self.x)

    def time_value_and_grad(self):
        dualad.value_and_grad(self.f, self.x)

    def time_tape_backward(self):
        import tape

        v = tape.Variable(self.x)
        self.f(v).backward()

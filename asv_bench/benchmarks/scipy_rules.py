"""SciPy and custom rules (issue 12): the doors users take, against the plain SciPy run.

- a Gaussian-process negative log likelihood through scipy.linalg.cho_factor/cho_solve
  and scipy.stats.norm.logpdf (n = 200 points, 3 hyperparameters): grad (auto), reverse,
  hessian, all with intercept=True;
- scipy.special.logsumexp of 10^5 values: grad (reverse, the default for one output);
- a custom rule (dualad.defrule) against the same derivative built in: the cost of
  stating a rule yourself, on 10^5 elements, forward and reverse.
"""

import numpy as np

import dualad


class GaussianProcessNLL:
    def setup(self):
        import scipy.linalg
        import scipy.stats

        self.sl, self.st = scipy.linalg, scipy.stats
        rng = np.random.default_rng(0)
        self.t = np.sort(rng.uniform(0, 10, 200))
        self.y = np.sin(self.t) + 0.1 * rng.standard_normal(200)
        self.theta = np.array([0.0, 0.5, -2.0])  # log amplitude, log length, log noise
        with dualad.intercept():  # install the dispatchers before timing
            pass

    def nll(self, theta):
        d2 = (self.t[:, None] - self.t[None, :]) ** 2
        k = np.exp(theta[0]) * np.exp(-0.5 * d2 / np.exp(2 * theta[1]))
        k = k + np.exp(theta[2]) * np.eye(self.t.size)
        c = self.sl.cho_factor(k, lower=True)
        alpha = self.sl.cho_solve(c, self.y)
        logdet = 2 * np.sum(np.log(np.diagonal(c[0])))
        return 0.5 * self.y @ alpha + 0.5 * logdet - np.sum(self.st.norm.logpdf(theta))

    def time_plain(self):
        self.nll(self.theta)

    def time_grad(self):
        dualad.grad(self.nll, self.theta, intercept=True)

    def time_grad_reverse(self):
        dualad.grad(self.nll, self.theta, mode="reverse", intercept=True)

    def time_hessian(self):
        dualad.hessian(self.nll, self.theta, intercept=True)


class LogSumExp:
    def setup(self):
        import scipy.special

        self.lse = scipy.special.logsumexp
        self.x = np.random.default_rng(1).standard_normal(10**5)
        with dualad.intercept():
            pass

    def time_plain(self):
        self.lse(self.x)

    def time_grad(self):
        dualad.grad(self.lse, self.x, intercept=True)


def _plain_sin(x):
    return np.sin(x)


_MY_SIN = dualad.defrule(_plain_sin, jvp=lambda t, out, x: np.cos(x) * t[0])


class CustomRule:
    """sum(my_sin(x) * x) with a user-stated rule, and the same with np.sin's own."""

    def setup(self):
        self.x = np.random.default_rng(2).standard_normal(10**5)

    def time_plain(self):
        np.sum(np.sin(self.x) * self.x)

    def time_builtin_forward(self):
        dualad.jvp(lambda x: np.sum(np.sin(x) * x), self.x, self.x)

    def time_custom_forward(self):
        dualad.jvp(lambda x: np.sum(_MY_SIN(x) * x), self.x, self.x)

    def time_builtin_reverse(self):
        dualad.grad(lambda x: np.sum(np.sin(x) * x), self.x, mode="reverse")

    def time_custom_reverse(self):
        dualad.grad(lambda x: np.sum(_MY_SIN(x) * x), self.x, mode="reverse")

"""Benchmarks of the mode-generic API: reverse gradients and the Hessian."""

import numpy as np

import dualad


def elementwise_sum(x):
    return np.sum(np.sin(x) * np.exp(-(x**2)) + np.log1p(x**2) + np.sqrt(1 + x**2))


class RevElementwise1e6:
    """Reverse gradient of a summed elementwise chain over 1e6 float64 (target 3.3x)."""

    def setup(self):
        self.x = np.random.default_rng(0).standard_normal(1_000_000)

    def time_plain(self):
        elementwise_sum(self.x)

    def time_dualad(self):
        dualad.grad(elementwise_sum, self.x, mode="reverse")


def mlp_loss(params, X, Y):
    """Mean softmax cross-entropy of a tanh MLP; ``Y`` holds one-hot labels."""
    h = np.tanh(X @ params["W1"] + params["b1"])
    logits = h @ params["W2"] + params["b2"]
    z = logits - np.max(logits, axis=1, keepdims=True)  # shift: exp cannot overflow
    lse = np.log(np.sum(np.exp(z), axis=1, keepdims=True))
    return -np.sum(Y * (z - lse)) / X.shape[0]


class RevMLP:
    """Gradient wrt W1, b1, W2, b2 of a 784-256-10 MLP loss, batch 256 (target 2.4x)."""

    def setup(self):
        rng = np.random.default_rng(0)
        self.params = {
            "W1": rng.standard_normal((784, 256)) / np.sqrt(784),
            "b1": np.zeros(256),
            "W2": rng.standard_normal((256, 10)) / np.sqrt(256),
            "b2": np.zeros(10),
        }
        self.X = rng.standard_normal((256, 784))
        self.Y = np.eye(10)[rng.integers(0, 10, 256)]

    def loss(self, params):
        return mlp_loss(params, self.X, self.Y)

    def time_plain(self):
        self.loss(self.params)

    def time_dualad(self):
        dualad.grad(self.loss, self.params, mode="reverse")


def rosenbrock(x):
    return np.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


class HessRosenbrock100:
    """Dense Hessian of the Rosenbrock function at n=100 (target 50x)."""

    def setup(self):
        self.x = np.linspace(-1.0, 1.5, 100)

    def time_plain(self):
        rosenbrock(self.x)

    def time_dualad(self):
        dualad.hessian(rosenbrock, self.x)  # method="auto": accumulate

    def time_forward_over_reverse(self):
        dualad.hessian(rosenbrock, self.x, method="forward-over-reverse")


def tanh_net(x):
    return np.sum(np.tanh(A_NET @ x) ** 2) + np.log1p(np.sum(x * x))


A_NET = np.random.default_rng(1).standard_normal((50, 100)) / 10


class HessDense100:
    """Dense Hessian of a small tanh network (no stencil structure), n=100."""

    def setup(self):
        self.x = np.linspace(-1.0, 1.5, 100)

    def time_plain(self):
        tanh_net(self.x)

    def time_dualad(self):
        dualad.hessian(tanh_net, self.x)

    def time_forward_over_reverse(self):
        dualad.hessian(tanh_net, self.x, method="forward-over-reverse")

"""Training a small network, PyTorch style
=========================================

A 64-32-10 tanh MLP trained on scikit-learn's bundled digits (``load_digits``: 8x8 images,
no download) with tape gradients in the PyTorch style: ``tape.Variable(...,
requires_grad=True)`` parameters, ``loss.backward()``, an Adam step on ``.grad``, and
``zero_grad()``. The model and its softmax cross-entropy are plain NumPy. A progress bar per
epoch (tqdm, when installed) shows the loss; the run ends at 95 % or more test accuracy, and
the first step's gradient is checked against central differences. Run as a script with
matplotlib installed, it saves the loss and accuracy curves (train_mlp.png).

Run:  python examples/train_mlp.py
"""

import numpy as np

import tape


def forward(params, X):
    W1, b1, W2, b2 = params
    h = np.tanh(X @ W1 + b1)
    return h @ W2 + b2  # logits


def cross_entropy(logits, y):
    z = logits - np.max(logits.value if isinstance(logits, tape.Variable) else logits,
                        axis=1, keepdims=True)  # fmt: skip
    logp = z - np.log(np.sum(np.exp(z), axis=1, keepdims=True))
    return -np.mean(np.sum(logp * y, axis=1))


def accuracy(params, X, labels) -> float:
    plain = [p.value if isinstance(p, tape.Variable) else p for p in params]
    return float(np.mean(np.argmax(forward(plain, X), axis=1) == labels))


class Adam:
    def __init__(self, params, lr=0.01, b1=0.9, b2=0.999, eps=1e-8):
        self.params, self.lr, self.b1, self.b2, self.eps = params, lr, b1, b2, eps
        self.m = [np.zeros_like(p.value) for p in params]
        self.v = [np.zeros_like(p.value) for p in params]
        self.t = 0

    def step(self):
        self.t += 1
        for p, m, v in zip(self.params, self.m, self.v):
            g = p.grad
            m *= self.b1
            m += (1 - self.b1) * g
            v *= self.b2
            v += (1 - self.b2) * g * g
            mh, vh = m / (1 - self.b1**self.t), v / (1 - self.b2**self.t)
            p.value = p.value - self.lr * mh / (np.sqrt(vh) + self.eps)

    def zero_grad(self):
        for p in self.params:
            p.zero_grad()


def _check_first_gradient(params, X, Y) -> float:
    """The tape gradient of W2 against central differences: the worst relative error."""
    loss = cross_entropy(forward(params, X), Y)
    loss.backward()
    g = params[2].grad.copy()
    for p in params:
        p.zero_grad()
    plain = [p.value.copy() for p in params]
    worst = 0.0
    for i, j in [(0, 0), (5, 3), (31, 9)]:
        h = 1e-6
        up = [a.copy() for a in plain]
        dn = [a.copy() for a in plain]
        up[2][i, j] += h
        dn[2][i, j] -= h
        fd = (cross_entropy(forward(up, X), Y) - cross_entropy(forward(dn, X), Y)) / (2 * h)
        worst = max(worst, abs(fd - g[i, j]) / max(1e-8, abs(fd)))
    return worst


def main(epochs: int = 6, figure: bool = False):
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError:
        print("scikit-learn is not installed: pip install -e .[examples]")
        return

    try:
        from tqdm import tqdm
    except ImportError:  # no progress bars

        def tqdm(it, **kw):
            return it

    digits = load_digits()
    X = digits.data / 16.0
    Xtr, Xte, ltr, lte = train_test_split(X, digits.target, test_size=0.25, random_state=0)
    Ytr = np.eye(10)[ltr]
    rng = np.random.default_rng(0)
    params = [
        tape.Variable(rng.normal(0, 1 / 8, (64, 32)), requires_grad=True),
        tape.Variable(np.zeros(32), requires_grad=True),
        tape.Variable(rng.normal(0, 1 / np.sqrt(32), (32, 10)), requires_grad=True),
        tape.Variable(np.zeros(10), requires_grad=True),
    ]
    err = _check_first_gradient(params, Xtr[:64], Ytr[:64])
    print(f"tape gradient vs central differences, worst relative error: {err:.1e}")
    assert err < 1e-5
    opt = Adam(params, lr=0.01)
    losses, accs = [], []
    for epoch in range(epochs):
        order = rng.permutation(len(Xtr))
        bar = tqdm(
            range(0, len(Xtr), 64), desc=f"epoch {epoch + 1}/{epochs}", leave=False, mininterval=0.5
        )
        total = 0.0
        for start in bar:
            idx = order[start : start + 64]
            loss = cross_entropy(forward(params, Xtr[idx]), Ytr[idx])
            loss.backward()
            opt.step()
            opt.zero_grad()
            total += float(loss.value) * len(idx)
            if hasattr(bar, "set_postfix"):
                bar.set_postfix(loss=f"{float(loss.value):.3f}")
        losses.append(total / len(Xtr))
        accs.append(accuracy(params, Xte, lte))
        print(f"epoch {epoch + 1}: loss {losses[-1]:.4f}, test accuracy {accs[-1]:.3f}")
    print(f"test accuracy {accs[-1]:.3f} (>= 0.95: {accs[-1] >= 0.95})")
    assert accs[-1] >= 0.95
    if figure:
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            print("(matplotlib not installed: no figure)")
            return
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.5))
        a1.plot(range(1, epochs + 1), losses, "o-")
        a1.set(xlabel="epoch", ylabel="training loss", yscale="log")
        a2.plot(range(1, epochs + 1), accs, "o-", color="C1")
        a2.set(xlabel="epoch", ylabel="test accuracy")
        fig.suptitle("64-32-10 tanh MLP on the digits, tape gradients + Adam")
        fig.tight_layout()
        fig.savefig("train_mlp.png", dpi=100)
        print("figure: train_mlp.png")


if __name__ == "__main__":
    main(epochs=20, figure=True)

"""Realistic NumPy programs through every mode: forward, reverse, both Hessian methods, hvp.

Each function mixes families (reductions with keepdims, einsum, solve, slogdet, item
assignment in a loop with branches, padding and rolling, ...), the way user code does.
"""

import numpy as np
import pytest

import dualad

rng = np.random.default_rng(0)
A = rng.standard_normal((4, 4))
A = A @ A.T + 4 * np.eye(4)


def softmax_xent(w):
    logits = w.reshape(4, 3) @ np.ones(3) * np.arange(1, 5)
    z = logits - np.max(logits)
    return -(z[2] - np.log(np.sum(np.exp(z))))


def attention(x):
    q = x.reshape(3, 4)
    k, v = np.tanh(q), q**2
    s = np.einsum("id,jd->ij", q, k) / 2.0
    s = s - s.max(axis=1, keepdims=True)
    p = np.exp(s)
    p = p / p.sum(axis=1, keepdims=True)
    return np.sum((p @ v) ** 2)


def solve_loss(x):
    m = A + np.diag(x[:4] ** 2)
    y = np.linalg.solve(m, x[:4])
    return y @ y + np.linalg.slogdet(m)[1]


def branchy_buffer(x):
    out = np.zeros_like(x)
    for i in range(len(x)):
        out[i] = np.sin(x[i]) if x[i] > 0 else x[i] ** 3
    kinked = np.where(out > 0.1, out, 0.5 * out + 0.05)  # continuous, with a kink at 0.1
    return np.sum(kinked * out[::-1]) + np.linalg.norm(out)


def statistics(x):
    return np.var(x) + np.std(x) * np.median(x) + np.prod(np.clip(x, -1, 1)) + np.cumsum(x)[-2]


def reshaping(x):
    m = x.reshape(3, 4)
    t = np.concatenate([m, m[::-1] * 2], axis=0)
    t = np.pad(np.roll(t, 1, axis=1), 1)
    return np.sum(np.triu(t @ t.T)) + np.trace(np.kron(m[:2, :2], m[1:3, 1:3]))


FUNCS = [softmax_xent, attention, solve_loss, branchy_buffer, statistics, reshaping]


@pytest.mark.parametrize("f", FUNCS, ids=lambda f: f.__name__)
def test_all_modes_agree_with_differences(f):
    # seed 7 keeps every entry >= 0.06 away from branchy_buffer's kinks (x = 0, sin x = 0.1),
    # so the differences are smooth over their stencil
    x = np.random.default_rng(7).uniform(-1, 1, 12)
    for mode in ("forward", "reverse"):
        assert dualad.check_grad(f, x, mode=mode) < 1
    np.testing.assert_allclose(
        dualad.grad(f, x, mode="reverse"), dualad.grad(f, x, mode="forward"), rtol=1e-10, atol=1e-12
    )


@pytest.mark.parametrize("f", FUNCS, ids=lambda f: f.__name__)
def test_second_order_methods_agree(f):
    x = np.random.default_rng(7).uniform(-1, 1, 12)
    h_hd = dualad.hessian(f, x, method="hyperdual")
    h_fr = dualad.hessian(f, x, method="forward-over-reverse")
    np.testing.assert_allclose(h_hd, h_fr, rtol=1e-9, atol=1e-10)
    h_ac = dualad.hessian(f, x, method="accumulate")
    np.testing.assert_allclose(h_ac, h_fr, rtol=1e-9, atol=1e-10)
    v = np.linspace(-1, 1, 12)
    np.testing.assert_allclose(dualad.hvp(f, x, v), h_fr @ v, rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(
        dualad.hvp(f, x, v, method="forward-over-forward"), h_fr @ v, rtol=1e-9, atol=1e-10
    )
    g = lambda y: dualad.grad(f, y, mode="reverse")
    e = 1e-6 * v
    np.testing.assert_allclose(h_fr @ v, (g(x + e) - g(x - e)) / 2e-6, rtol=1e-5, atol=1e-6)

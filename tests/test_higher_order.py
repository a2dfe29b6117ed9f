"""Higher derivatives by every route must agree: hyper-duals, forward-over-reverse,
jacobian-of-jacobian, jacobian-of-reverse-grad, tape-over-tape and create_graph."""

import numpy as np
import pytest

import dualad
import tape
from dualad._pytree import flatten

rng = np.random.default_rng(3)
W = rng.standard_normal((3, 4))


def linalg_mix(x):
    m = np.eye(3) * 3 + np.outer(x[:3], x[:3])
    s = np.sum(np.sort(x)[::2] * np.cumprod(x)[:3].sum())
    return np.linalg.det(m) + np.sum(np.linalg.inv(m) @ x[:3]) + s


def einsum_mix(x):
    m = x.reshape(2, 3)
    e = np.einsum("ij,ik->jk", m, np.sin(m)).sum()
    return e + np.max(m, axis=0).sum() + np.linalg.norm(m, axis=1).sum()


@pytest.mark.parametrize("f", [linalg_mix, einsum_mix], ids=lambda f: f.__name__)
def test_four_hessian_routes_agree(f):
    x = np.random.default_rng(4).uniform(0.2, 1.0, 6)
    ref = dualad.hessian(f, x, method="forward-over-reverse")
    routes = [
        dualad.hessian(f, x, method="hyperdual"),
        dualad.hessian(f, x, method="accumulate"),
        dualad.jacobian(lambda y: dualad.jacobian(f, y, mode="forward"), x, chunk=2),
        dualad.jacobian(lambda y: dualad.grad(f, y, mode="reverse"), x, mode="forward"),
    ]
    for h in routes:
        np.testing.assert_allclose(h, ref, rtol=1e-9, atol=1e-10)
    g = lambda y: dualad.grad(f, y)
    e = 1e-6 * np.eye(6)
    fd = np.stack([(g(x + e[i]) - g(x - e[i])) / 2e-6 for i in range(6)])
    np.testing.assert_allclose(ref, fd, rtol=1e-5, atol=1e-6)


def loss(x):
    return np.sum(np.tanh(W @ x) ** 2)


def test_tape_over_tape_and_create_graph_give_hessian_vector_products():
    x = rng.standard_normal(4)
    v = np.arange(4.0)
    ref = dualad.hessian(loss, x) @ v

    with tape.Tape() as outer:
        xo = outer.watch(x)
        with tape.Tape() as inner:
            xi = inner.watch(xo)
            y = loss(xi)
        s = np.sum(inner.gradient(y, xi) * v)
    np.testing.assert_allclose(outer.gradient(s, xo), ref, rtol=1e-12)

    xv = tape.Variable(x.copy())
    (gv,) = tape.grad(loss(xv), [xv], create_graph=True)
    (hv,) = tape.grad(np.sum(gv * v), [xv])
    np.testing.assert_allclose(hv, ref, rtol=1e-12)


def multi_out(p):
    return {"a": p["x"] * p["y"][0], "b": (np.sum(p["x"] ** 2), np.exp(p["y"][1]))}


def test_pytree_jacobians_vjp_and_hessian_blocks():
    p = {"x": np.array([1.0, 2.0]), "y": (np.array(0.5), np.array([0.1, 0.2, 0.3]))}
    jf = dualad.jacobian(multi_out, p, mode="forward")
    jr = dualad.jacobian(multi_out, p, mode="reverse")
    for a, b in zip(flatten(jf)[0], flatten(jr)[0]):
        np.testing.assert_allclose(a, b, rtol=1e-14)
    u = {"a": np.ones(2), "b": (np.array(2.0), np.ones(3))}
    _, pb = dualad.vjp(multi_out, p, u)
    np.testing.assert_allclose(pb["x"], [0.5 + 4.0, 0.5 + 8.0])  # y0 + 2 * 2x
    np.testing.assert_allclose(pb["y"][0], 3.0)  # sum(x)
    np.testing.assert_allclose(pb["y"][1], np.exp([0.1, 0.2, 0.3]))

    h = dualad.hessian(lambda q: np.sum(q["x"] ** 2) * q["y"][0] ** 3, p)
    np.testing.assert_allclose(h["x"]["x"], 2 * 0.125 * np.eye(2))
    np.testing.assert_allclose(h["x"]["y"][0], 2 * p["x"] * 3 * 0.25)
    np.testing.assert_allclose(h["y"][1]["y"][1], np.zeros((3, 3)))

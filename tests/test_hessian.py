"""hessian and hvp: Rosenbrock against SciPy, 20 functions against differences of the
exact gradient, hvp == H v, and SciPy optimisers driven by dualad derivatives."""

import numpy as np
import pytest
from scipy import optimize

import dualad


def rosen(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


@pytest.mark.parametrize("n", [2, 10, 100])
def test_rosenbrock_against_scipy(n):
    x = np.random.default_rng(n).uniform(-1.5, 1.5, n)
    np.testing.assert_allclose(dualad.grad(rosen, x), optimize.rosen_der(x), rtol=1e-10, atol=1e-10)
    H = dualad.hessian(rosen, x)
    np.testing.assert_allclose(H, optimize.rosen_hess(x), rtol=1e-10, atol=1e-10)


METHODS = ["hyperdual", "accumulate", "forward-over-reverse"]


@pytest.mark.parametrize("method", METHODS)
def test_every_method_agrees(method):
    x = np.array([0.3, -0.2, 0.9, 1.4])
    np.testing.assert_allclose(
        dualad.hessian(rosen, x, method=method), optimize.rosen_hess(x), rtol=1e-12
    )


A = np.array([[2.0, 0.5, 0.1], [0.5, 1.5, -0.3], [0.1, -0.3, 1.0]])
B = np.random.default_rng(5).standard_normal((4, 3))
LABELS = np.array([0, 2, 1, 2])

FUNCS = {
    "product": lambda x: x[0] * x[1] * x[2],
    "quotient": lambda x: x[0] / (1 + x[1] ** 2) + x[2] / x[0],
    "exp_log": lambda x: np.exp(x[0] * x[1]) + np.log(1 + x[2] ** 2),
    "trig": lambda x: np.sin(x[0]) * np.cos(x[1]) + np.tan(0.3 * x[2]),
    "hyperbolic": lambda x: np.sum(np.tanh(x) * np.cosh(x[::-1])),
    "quadratic": lambda x: x @ A @ x,
    "norm2": lambda x: np.linalg.norm(x),
    "norm2_sq": lambda x: np.linalg.norm(x) ** 2,
    "pnorm": lambda x: np.sum(np.abs(x) ** 3) ** (1 / 3),
    "logsumexp": lambda x: np.log(np.sum(np.exp(x))),
    "softmax_xent": lambda x: _xent(B * x, LABELS),
    "power": lambda x: np.sum(x**4) + x[0] ** 3 * x[1],
    "sqrt": lambda x: np.sqrt(1 + np.sum(x * x)),
    "rational": lambda x: np.sum(x) / (1 + np.sum(x**2)),
    "mean_var": lambda x: np.var(x) + np.mean(x) ** 2,
    "prod": lambda x: np.prod(x + 2.0),
    "cumsum": lambda x: np.sum(np.cumsum(x) ** 2),
    "outer": lambda x: np.sum(np.outer(x, np.sin(x))),
    "arctan2": lambda x: np.arctan2(x[0], x[1]) * x[2],
    "sigmoid_net": lambda x: np.sum(1 / (1 + np.exp(-(A @ x))) ** 2),
    "rosenbrock": rosen,
}


def _xent(logits, labels):
    z = logits - np.max(logits, axis=1, keepdims=True)
    logp = z - np.log(np.sum(np.exp(z), axis=1, keepdims=True))
    return -np.mean(logp[np.arange(len(labels)), labels])


@pytest.mark.parametrize("method", ["auto"] + METHODS)
@pytest.mark.parametrize("name", list(FUNCS))
def test_hessian_against_differences_of_exact_gradient(name, method):
    f = FUNCS[name]
    x = np.array([0.7, -0.4, 1.3])
    H = dualad.hessian(f, x, method=method)
    h = 1e-5
    ref = np.empty((3, 3))
    for j in range(3):
        e = np.zeros(3)
        e[j] = h
        ref[:, j] = (dualad.grad(f, x + e) - dualad.grad(f, x - e)) / (2 * h)
    np.testing.assert_allclose(H, ref, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(H, H.T, rtol=0, atol=0)


@pytest.mark.parametrize("name", ["trig", "quadratic", "softmax_xent", "prod"])
def test_hvp_equals_hessian_times_v(name):
    f = FUNCS[name]
    x, v = np.array([0.7, -0.4, 1.3]), np.array([0.2, 1.0, -0.5])
    np.testing.assert_allclose(dualad.hvp(f, x, v), dualad.hessian(f, x) @ v, rtol=1e-12)


@pytest.mark.parametrize("name", ["trig", "quadratic", "softmax_xent", "prod", "norm2"])
def test_hvp_forward_over_forward_fallback_agrees(name):
    f = FUNCS[name]
    x, v = np.array([0.7, -0.4, 1.3]), np.array([0.2, 1.0, -0.5])
    a = dualad.hvp(f, x, v, method="forward-over-forward")
    np.testing.assert_allclose(a, dualad.hessian(f, x) @ v, rtol=1e-12, atol=1e-14)
    with pytest.raises(ValueError, match="method"):
        dualad.hvp(f, x, v, method="magic")


def test_hessian_pytree_blocks():
    def f(p):
        return p["a"] ** 2 * np.sum(p["b"] ** 3)

    p = {"a": np.array(2.0), "b": np.array([1.0, 3.0])}
    H = dualad.hessian(f, p)
    np.testing.assert_allclose(H["a"]["a"], 2 * 28.0)
    np.testing.assert_allclose(H["a"]["b"], 2 * 2.0 * 3 * p["b"] ** 2)
    np.testing.assert_allclose(H["b"]["b"], np.diag(4.0 * 6 * p["b"]))


def test_hessian_of_non_scalar_raises():
    with pytest.raises(ValueError, match="scalar"):
        dualad.hessian(np.sin, np.ones(2))


def test_scipy_trust_exact_and_newton_cg():
    x0 = np.array([1.3, 0.7, 0.8, 1.9, 1.2])  # SciPy's own Rosenbrock example start
    r = optimize.minimize(
        rosen, x0, jac=lambda x: dualad.grad(rosen, x),
        hess=lambda x: dualad.hessian(rosen, x), method="trust-exact",
    )  # fmt: skip
    ref = optimize.minimize(
        rosen, x0, jac=optimize.rosen_der, hess=optimize.rosen_hess, method="trust-exact"
    )
    np.testing.assert_allclose(r.x, ref.x, atol=1e-8)  # same iterates as SciPy's own derivatives
    assert r.nit == ref.nit
    np.testing.assert_allclose(r.x, np.ones(5), atol=1e-5)
    r = optimize.minimize(
        rosen, x0, jac=lambda x: dualad.grad(rosen, x),
        hessp=lambda x, p: dualad.hvp(rosen, x, p), method="Newton-CG",
    )  # fmt: skip
    ref = optimize.minimize(
        rosen, x0, jac=optimize.rosen_der, hessp=optimize.rosen_hess_prod, method="Newton-CG"
    )
    np.testing.assert_allclose(r.x, ref.x, atol=1e-8)
    np.testing.assert_allclose(r.x, np.ones(5), atol=1e-3)


def _agree(f, x, ref="forward-over-reverse", tol=1e-12):
    """hessian(method="accumulate") equals another method's Hessian at x."""
    np.testing.assert_allclose(
        dualad.hessian(f, x, method="accumulate"), dualad.hessian(f, x, method=ref),
        rtol=tol, atol=tol,
    )  # fmt: skip


@pytest.mark.parametrize("n", [1, 2, 30])
def test_accumulate_matches_hyperdual_at_every_size(n):
    # n <= 2 puts 0-d values on the tape's scalar records (Python floats inside)
    x = np.random.default_rng(n).uniform(0.5, 1.5, n)

    def f(x):
        return np.sum(np.exp(x[0] * x) * np.log1p(x**2)) + x[-1] ** 3 * np.sin(x[0])

    _agree(f, x, ref="hyperdual")


def test_accumulate_through_buffer_writes():
    def f(x):
        out = np.zeros_like(x)
        for i in range(len(x)):
            out[i] = x[i] ** 2 * x[(i + 1) % len(x)]
        return np.sum(out * out)

    x = np.linspace(0.2, 1.4, 20)
    _agree(f, x, ref="hyperdual")


@pytest.mark.parametrize(
    "f",
    [
        lambda x: np.linalg.slogdet(np.outer(x, x) + np.eye(x.size))[1],  # several outputs
        lambda x: np.sum(np.linalg.eigh(np.outer(x, x) + np.diag(x))[0] ** 3),
        lambda x: np.sum(np.concatenate([x, np.sin(x) * x[0]]) ** 2),  # list arguments
        lambda x: np.sum(np.sort(x) * np.arange(x.size)) + np.max(x) ** 2,  # piecewise
        lambda x: np.einsum("i,j,ij->", x, np.cos(x), np.outer(x, x)),
        lambda x: np.sum((np.reshape(x, (4, 3)) @ np.reshape(x, (3, 4))) ** 2),
    ],
    ids=["slogdet", "eigh", "concatenate", "sort-max", "einsum", "matmul"],
)
def test_accumulate_through_non_elementwise_rules(f):
    x = np.random.default_rng(7).uniform(-1.0, 1.0, 12) + np.arange(12) * 0.1
    _agree(f, x, tol=1e-9)


@pytest.mark.parametrize(
    "f",
    [
        lambda x: np.sum(x[::2] ** 2 * x[1::2] ** 3),
        lambda x: np.sum(np.sin(x[::-1]) * x),
        lambda x: np.sum(np.exp(x[3:7]) * x[5:9] ** 2) + x[-1] ** 4,
        lambda x: np.sum(np.sin(x[::-3]) ** 2),
    ],
    ids=["even-odd", "reversed", "windows", "negative-step"],
)
def test_accumulate_with_slices_of_the_input(f):
    # slices of the input are views of the identity seed: their products become row additions
    x = np.linspace(-0.9, 1.3, 14)
    _agree(f, x)


def test_accumulate_pytree_with_sliced_leaves():
    def f(p):
        return np.sum(p["a"][1:] ** 2 * p["b"][:-1]) + np.sum(np.exp(p["b"][::2]))

    p = {"a": np.linspace(0.1, 1.0, 6), "b": np.linspace(-0.5, 0.5, 6)}
    Ha = dualad.hessian(f, p, method="accumulate")
    Hf = dualad.hessian(f, p, method="forward-over-reverse")
    for i in "ab":
        for j in "ab":
            np.testing.assert_allclose(Ha[i][j], Hf[i][j], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    "f",
    [
        lambda x: np.sum(np.exp(np.cumsum(x) * 0.3)),  # curvature >= 0: J S S^T
        lambda x: -np.sum(np.exp(np.cumsum(x) * 0.3)),  # <= 0
        lambda x: np.sum(np.sin(np.cumsum(x))),  # both signs
        lambda x: np.sum(np.sin(x)),  # x itself: diagonal only
        lambda x: np.sum(np.log1p(x[2:] ** 2) * 3.0) + np.sum(x[:4] / 7.0),
    ],
    ids=["convex", "concave", "mixed", "on-x", "scaled"],
)
def test_accumulate_one_input_curvature_branches(f):
    x = np.linspace(-0.7, 0.9, 20)
    _agree(f, x, tol=1e-11)


def test_accumulate_inside_another_transform_uses_the_tape():
    # third derivatives: a jvp of the Hessian; accumulate hands nested inputs to the tape
    def f(x):
        return np.sum(np.sin(x) * x[0]) + np.sum(x**3)

    x, v = np.linspace(0.1, 1.0, 10), np.linspace(1.0, -1.0, 10)
    _, a = dualad.jvp(lambda x: dualad.hessian(f, x, method="accumulate"), x, v)
    _, b = dualad.jvp(lambda x: dualad.hessian(f, x, method="hyperdual"), x, v)
    np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-11)


def test_accumulate_through_a_scalar_loop():
    # 0-d values on the tape's scalar records (Python floats inside) and 0-d curvatures
    def rosen_loop(x):
        s = 0.0
        for i in range(len(x) - 1):
            a = x[i + 1] - x[i] * x[i]
            s = s + 100.0 * a * a + (1.0 - x[i]) ** 2 / x[i + 1] ** 0.0
        return s

    x = np.random.default_rng(4).uniform(-1.2, 1.2, 20)
    H = dualad.hessian(rosen_loop, x, method="accumulate")
    np.testing.assert_allclose(H, optimize.rosen_hess(x), rtol=1e-10, atol=1e-10)


def test_accumulate_turns_to_chunks_when_its_jacobians_would_not_fit(monkeypatch):
    def f(x):
        y = x
        for _ in range(30):  # many recorded values
            y = np.sin(y) + 0.1 * y
        return np.sum(y**2)

    x = np.linspace(-0.5, 0.5, 12)
    want = dualad.hessian(f, x, method="hyperdual")
    monkeypatch.setattr(dualad._seeding, "MEMORY_BUDGET", 12 * 8 * 12 * 10)  # ~10 values' worth
    calls = []
    real = dualad._second._hessian_fwd_rev
    monkeypatch.setattr(dualad._second, "_hessian_fwd_rev", lambda *a: calls.append(1) or real(*a))
    np.testing.assert_allclose(dualad.hessian(f, x, method="accumulate"), want, rtol=1e-10)
    assert calls  # the chunked method ran


@pytest.mark.parametrize(
    "f",
    [
        # np.where(True, ...) hands exp a 0-d ndarray whose output is an np.float64: the step
        # takes the all-directions branch (this term was once dropped, silently)
        lambda x: np.exp(np.where(True, np.sum(x), 1.0)),
        lambda x: np.sqrt(np.where(True, np.sum(x * x), 1.0)),
        # a factor that does not depend on x has no Jacobian (this once crashed)
        lambda x: np.sum((np.zeros_like(x) + 1) * np.sin(x) * x),
        lambda x: np.sum(np.ones_like(x) * np.exp(x) * x[::-1]),
    ],
    ids=["exp-where-0d", "sqrt-where-0d", "zeros_like-factor", "ones_like-factor"],
)
def test_accumulate_steps_outside_the_one_direction_shortcut(f):
    x = np.array([0.3, -0.2, 0.5])
    h, ref = 1e-5, np.empty((3, 3))  # differences of the exact gradient
    for j in range(3):
        e = np.zeros(3)
        e[j] = h
        ref[:, j] = (dualad.grad(f, x + e) - dualad.grad(f, x - e)) / (2 * h)
    assert np.abs(ref).max() > 0.1  # the second-order term is there to be dropped
    H = dualad.hessian(f, x, method="accumulate")
    np.testing.assert_allclose(H, ref, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(H, dualad.hessian(f, x, method="forward-over-reverse"), rtol=1e-12)

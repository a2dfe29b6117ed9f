"""hessian regressions: inputs broadcast against higher-rank operands in nonlinear steps
(accumulation), element writes of Jets into buffers (the n <= 2 path), empty selections.

References are independent of the method under test: central differences of the
forward-mode gradient, or closed forms."""

import numpy as np
import pytest

import dualad

METHODS = ["auto", "accumulate", "forward-over-reverse", "hyperdual"]


def fd_hessian(f, x, eps=1e-5):
    """Central differences of ``dualad.grad(mode="forward")``, symmetrised."""
    x = np.asarray(x, dtype=float)
    n = x.size
    H = np.empty((n, n))
    for k in range(n):
        e = np.zeros(n)
        e[k] = eps
        gp = dualad.grad(f, x + e.reshape(x.shape), mode="forward")
        gm = dualad.grad(f, x - e.reshape(x.shape), mode="forward")
        H[k] = (np.ravel(gp) - np.ravel(gm)) / (2 * eps)
    return (0.5 * (H + H.T)).reshape(x.shape * 2)


def _W(n):
    return np.random.default_rng(n).uniform(-1, 1, (n, n))


# -- 1. a raw input broadcast against a higher-rank operand in a nonlinear binary step ------
BROADCAST = {
    "outer_sin": lambda x: np.sum(np.sin(x[:, None] * x)),
    "broadcast_to_square": lambda x: np.sum(np.broadcast_to(x, (x.size, x.size)) * x),
    "broadcast_to_two_rows": lambda x: np.sum(np.broadcast_to(x, (2, x.size)) * x),
    "broadcast_to_three_rows_sin": lambda x: np.sum(np.sin(np.broadcast_to(x, (3, x.size)) * x)),
    "tile": lambda x: np.sum(np.tile(x, (x.size, 1)) * x),
    "tile_two_rows": lambda x: np.sum(np.tile(x, (2, 1)) * x),
    "power_outer": lambda x: np.sum(x ** x[:, None]),
    "cos_matrix_plus": lambda x: np.sum(np.cos(_W(x.size) + x) * x),
    "repeat": lambda x: np.sum(np.repeat(x[None], x.size, 0) * x),
    "broadcast_left_operand": lambda x: np.sum(x * np.exp(x[:, None] * 0.5)),
}


@pytest.mark.parametrize("n", [3, 8, 9, 10, 12])
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("name", sorted(BROADCAST))
def test_broadcast_input_in_nonlinear_step(name, method, n):
    f = BROADCAST[name]
    x = np.linspace(0.1, 1.0, n)
    H = dualad.hessian(f, x, method=method)
    np.testing.assert_allclose(H, fd_hessian(f, x), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("n", [3, 9, 10])
@pytest.mark.parametrize("method", METHODS)
def test_broadcast_to_square_closed_form(method, n):
    # sum_ij x_j * x_j = n * |x|^2: H = 2 n I
    x = np.linspace(0.1, 1.0, n)
    H = dualad.hessian(lambda x: np.sum(np.broadcast_to(x, (n, n)) * x), x, method=method)
    np.testing.assert_allclose(H, 2 * n * np.eye(n), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("m", [1, 2, 5])
@pytest.mark.parametrize("method", METHODS)
def test_broadcast_rows_closed_form(method, m):
    # sum_ij x_j^2 over m rows: H = 2 m I
    x = np.linspace(0.1, 1.0, 10)
    H = dualad.hessian(lambda x: np.sum(np.broadcast_to(x, (m, 10)) * x), x, method=method)
    np.testing.assert_allclose(H, 2 * m * np.eye(10), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("method", METHODS)
def test_broadcast_two_vector_inputs(method):
    # a pytree of two vectors, each broadcast against the other's outer product
    def f(p):
        a, b = p
        return np.sum(np.sin(a[:, None] * b)) + np.sum(np.broadcast_to(a, (3, a.size)) * a)

    a, b = np.linspace(0.1, 0.9, 6), np.linspace(-0.5, 0.7, 5)
    H = dualad.hessian(f, (a, b), method=method)
    flat = lambda z: f((z[:6], z[6:]))
    ref = fd_hessian(flat, np.concatenate([a, b]))
    full = np.block([[H[0][0], H[0][1]], [H[1][0], H[1][1]]])
    np.testing.assert_allclose(full, ref, rtol=1e-6, atol=1e-6)


# -- 2. element writes on the n <= 2 path ----------------------------------------------------
def _w_scaled(x):
    y = x * 1.0
    y[0] = 2 * x[-1]
    return np.sum(np.sin(y))


def _w_exp(x):
    y = x * 1.0
    y[0] = np.exp(x[0])
    return np.sum(np.sin(y))


def _w_product(x):
    y = x * 1.0
    y[-1] = x[0] * x[-1]
    return np.sum(np.sin(y))


def _w_zeros_like(x):
    y = np.zeros_like(x)
    y[0] = x[0] * x[-1]
    y[-1] = np.sin(x[-1])
    return np.sum(y**2)


def _w_view(x):
    y = x * 1.0
    v = y[::-1]
    v[0] = x[0] * x[-1]
    return np.sum(np.sin(y) * y)


WRITES = [_w_scaled, _w_exp, _w_product, _w_zeros_like, _w_view]


@pytest.mark.parametrize("n", [1, 2, 3])
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("f", WRITES, ids=lambda f: f.__name__)
def test_scalar_element_write(f, method, n):
    x = np.array([0.3, 0.5, 0.7])[:n]
    H = dualad.hessian(f, x, method=method)
    np.testing.assert_allclose(H, fd_hessian(f, x), rtol=1e-6, atol=1e-6)


def test_scalar_element_write_closed_form():
    # y = [2 x1, x1]: f = sin(2 x1) + sin(x1)
    x = np.array([0.3, 0.5])
    H = dualad.hessian(_w_scaled, x)
    ref = np.array([[0.0, 0.0], [0.0, -4 * np.sin(1.0) - np.sin(0.5)]])
    np.testing.assert_allclose(H, ref, rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("pack", ["tuple", "dict"])
def test_scalar_element_write_numbers(pack):
    def f(t):
        a, b = (t["a"], t["b"]) if pack == "dict" else t
        y = np.stack([a, b]) * 1.0
        y[0] = a * b
        return np.sum(np.sin(y))

    a, b = 0.3, 0.5
    x = {"a": a, "b": b} if pack == "dict" else (a, b)
    H = dualad.hessian(f, x)
    # f = sin(a b) + sin(b)
    s, c = np.sin(a * b), np.cos(a * b)
    ref = [[-(b**2) * s, c - a * b * s], [c - a * b * s, -(a**2) * s - np.sin(b)]]
    got = [[H[k][l] for l in (["a", "b"] if pack == "dict" else (0, 1))]
           for k in (["a", "b"] if pack == "dict" else (0, 1))]  # fmt: skip
    np.testing.assert_allclose(np.array(got, dtype=float), ref, rtol=1e-14, atol=1e-14)


# -- 3. empty selections ---------------------------------------------------------------------
@pytest.mark.parametrize("method", METHODS)
def test_empty_boolean_scalar_index(method):
    x = np.arange(12.0).reshape(3, 4)
    H = dualad.hessian(lambda x: np.sum(np.sin(x[np.False_])), x, method=method)
    assert H.shape == (3, 4, 3, 4)
    np.testing.assert_array_equal(H, 0.0)


@pytest.mark.parametrize("n", [3, 12])
@pytest.mark.parametrize("method", METHODS)
def test_empty_mask(method, n):
    x = -np.arange(1.0, n + 1)
    H = dualad.hessian(lambda x: np.sum(np.sin(x[x > 0])), x, method=method)
    np.testing.assert_array_equal(H, np.zeros((n, n)))


@pytest.mark.parametrize("method", METHODS)
def test_empty_mask_plus_curvature(method):
    # the empty branch adds nothing; the rest is sum(x^3): H = diag(6 x)
    x = -np.arange(1.0, 11.0)
    f = lambda x: np.sum(np.exp(x[x > 0]) * x[x > 0]) + np.sum(x**3)
    H = dualad.hessian(f, x, method=method)
    np.testing.assert_allclose(H, np.diag(6 * x), rtol=1e-14)

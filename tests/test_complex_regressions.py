"""Regressions for complex values written through ``.real``/``.imag`` (views onto half of each
element), complex buffers, the ``.real``/``.imag`` setters and the holomorphy check of complex
Jacobians. Each test fails on the code before its fix; references are closed forms or central
differences in float64, and every test runs forward and reverse mode."""

import warnings

import numpy as np
import pytest

import dualad
import tape
from tests.test_fuzz_regressions_2 import central

X = np.array([0.3, -1.2, 2.0])
X6 = np.array([0.3, -1.2, 2.0, 0.7, 1.1, -0.4])


def central_hessian(f, x, h=1e-4):
    n = x.size
    H = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            ei, ej = np.eye(n)[i] * h, np.eye(n)[j] * h
            H[i, j] = (f(x + ei + ej) - f(x + ei - ej) - f(x - ei + ej) + f(x - ei - ej)) / (
                4 * h * h
            )
    return H


def doors(f, x, intercept=False):
    """(name, value, gradient) by forward mode, reverse mode, a Tape and Variable.backward."""
    out = [
        (m, *dualad.value_and_grad(f, x, mode=m, intercept=intercept))
        for m in ("forward", "reverse")
    ]
    ctx = dualad.intercept() if intercept else warnings.catch_warnings()
    with ctx:
        with tape.Tape() as t:
            w = t.watch(x)
            y = f(w)
        out.append(("tape", tape.value_of(y), t.gradient(y, w)))
        v = tape.Variable(x.copy())
        y = f(v)
        y.backward()
        out.append(("Variable", tape.value_of(y), v.grad))
    return out


def check(f, x, grad=None, intercept=False, rtol=1e-6, atol=1e-7):
    value = f(x)
    grad = central(f, x) if grad is None else grad
    for name, v, g in doors(f, x, intercept):
        np.testing.assert_allclose(v, value, rtol=1e-12, atol=1e-12, err_msg=name)
        np.testing.assert_allclose(g, grad, rtol=rtol, atol=atol, err_msg=name)


# -- S2: a write through z.real replaces the real parts only ----------------------------------


def test_real_view_write_keeps_imaginary_part():
    def f(x):
        z = np.exp(1j * x)
        z.real[:] = 0.0
        return np.sum(np.imag(z) * x)  # sum(x sin x)

    check(f, X, grad=np.sin(X) + X * np.cos(X))


def test_real_view_write_value_inside_tape():
    with tape.Tape() as t:
        x = t.watch(X)
        z = np.exp(1j * x)
        z.real[:] = 1.5
        y = np.sum(np.imag(z) ** 2 + np.real(z) * x)
    np.testing.assert_allclose(z.value, 1.5 + 1j * np.sin(X), rtol=1e-15)
    np.testing.assert_allclose(t.gradient(y, x), 2 * np.sin(X) * np.cos(X) + 1.5, rtol=1e-12)


def _shaped(write):
    def f(x):
        z = (np.exp(1j * x) * (1 + x)).reshape(2, 3)
        write(z, x)
        y = x.reshape(2, 3)
        return np.sum(np.abs(z + y) ** 2 + np.real(z) * y) + np.sum(np.imag(z) ** 3)

    return f


def _root_then_part(z, x):
    r = z.imag
    z[0, 0] = 5 + 7j
    r[1, 1] = x[0] * 3


def _both_parts(z, x):
    r, i = z.real, z.imag
    r *= i
    i += r


def _repeated_key(z, x):
    z.real[np.array([0, 0]), np.array([1, 1])] = x[:2]  # the last write wins


def _complex_into_real(z, x):
    with pytest.warns(np.exceptions.ComplexWarning):
        z.real[0] = np.exp(1j * x[:3])  # NumPy keeps the real part


PART_WRITES = {
    "slice of real": lambda z, x: z.real[1:].__setitem__(
        (slice(None), slice(None, None, 2)), x[:2] ** 2
    ),
    "imag of transpose": lambda z, x: z.T.imag.__setitem__(1, np.sin(x[:2])),
    "real of strided": lambda z, x: z[:, ::2].real.__setitem__(Ellipsis, 2.0),
    "root, then part": _root_then_part,
    "both parts in place": _both_parts,
    "repeated key": _repeated_key,
    "complex into real": _complex_into_real,
    "real of real part": lambda z, x: np.real(z.real).__setitem__((1, 2), x[3]),
    "row imag from row real": lambda z, x: z[1].imag.__setitem__(slice(None), z[0].real * x[3:]),
    "ravel imag": lambda z, x: z.ravel().imag.__setitem__(slice(None, None, 2), x[::2]),
    "fill": lambda z, x: z.real.fill(0.5),
}


@pytest.mark.parametrize("name", list(PART_WRITES))
def test_write_through_part_view(name):
    f = _shaped(PART_WRITES[name])
    value = f(X6)
    grad = central(f, X6)
    for m in ("forward", "reverse"):
        v, g = dualad.value_and_grad(f, X6, mode=m)
        np.testing.assert_allclose(v, value, rtol=1e-12, err_msg=m)
        np.testing.assert_allclose(g, grad, rtol=1e-6, atol=1e-6, err_msg=m)
    with tape.Tape() as t:
        w = t.watch(X6)
        y = f(w)
    np.testing.assert_allclose(t.gradient(y, w), grad, rtol=1e-6, atol=1e-6)


def test_write_through_part_view_second_order():
    f = _shaped(PART_WRITES["slice of real"])
    H = central_hessian(f, X6)
    np.testing.assert_allclose(dualad.hessian(f, X6), H, rtol=1e-5, atol=1e-5)
    v = np.array([0.5, -1.0, 0.25, 2.0, 0.0, 1.0])
    np.testing.assert_allclose(dualad.hvp(f, X6, v), H @ v, rtol=1e-5, atol=1e-5)


# -- E2: writes through z.imag in reverse mode ------------------------------------------------


def test_imag_view_slice_write():
    def f(x):
        z = x + 0j
        z.imag[:] = x**2
        return np.sum(np.abs(z) ** 2)  # sum(x^2 + x^4)

    check(f, X, grad=2 * X + 4 * X**3)


def test_imag_view_item_write():
    def f(x):
        z = x * (1 + 1j)
        z.imag[1] = 5.0
        return np.sum(np.abs(z) ** 2)

    check(f, X, grad=np.array([4 * X[0], 2 * X[1], 4 * X[2]]))


def test_imag_view_in_place_add():
    def f(x):
        z = x * (1 + 1j)
        zi = z.imag
        zi += x**2
        return np.sum(np.abs(z) ** 2)  # sum(x^2 + (x + x^2)^2)

    check(f, X, grad=2 * X + 2 * (X + X**2) * (1 + 2 * X))


# -- E3: complex buffers under interception ---------------------------------------------------


def _buf_real_into_complex(x):
    z = np.zeros(3, complex)
    z[:] = x
    z *= 1j
    return np.sum(np.real(z) ** 2 + np.imag(z) * x)


def _buf_parts(x):
    z = np.zeros(3, complex)
    z.imag[:] = x**2
    z.real[:] = x
    return np.sum(np.abs(z) ** 2 + np.real(z) * x)


def _buf_part_views_first(x):
    z = np.zeros(3, complex)
    r, i = z.real, z.imag  # views taken before anything traced is written
    i[:] = x**2
    r[1:] = x[:2]
    return np.sum(np.abs(z) ** 2 + np.imag(z) * x**3)


def _buf_strided_imag(x):
    z = np.zeros(4, complex)
    t = z.imag[::2]
    z[1:] = x
    t[:] = x[:2] ** 2
    return np.sum(np.abs(z) ** 2 * np.arange(4) + np.real(z))


def _buf_2d(x):
    z = np.ones((2, 3), complex)
    zi = z.imag
    z[0] = x
    zi[1] = np.sin(x)
    return np.sum(np.abs(z) ** 3 + np.real(z) * np.imag(z))


def _buf_setters(x):
    z = np.full(3, 1 + 1j)
    z.imag = x**2
    z.real *= x
    return np.sum(np.abs(z) ** 2)


BUFFERS = [_buf_real_into_complex, _buf_parts, _buf_part_views_first, _buf_strided_imag,
           _buf_2d, _buf_setters]  # fmt: skip


@pytest.mark.parametrize("f", BUFFERS, ids=lambda f: f.__name__)
def test_complex_buffer(f):
    value, grad = f(X), central(f, X)
    for m in ("forward", "reverse"):
        v, g = dualad.value_and_grad(f, X, mode=m, intercept=True)
        np.testing.assert_allclose(v, value, rtol=1e-12, err_msg=m)
        np.testing.assert_allclose(g, grad, rtol=1e-6, atol=1e-7, err_msg=m)


def test_complex_buffer_part_view_values():
    """Views of a complex buffer taken before its promotion read NumPy's values after it."""

    def f(x, log):
        z = np.zeros(4, complex)
        t, r = z.imag[::2], z.real[1:]
        z[1:] = x * (2 + 3j)
        t[:] = x[:2] ** 2
        log.append((z * 1, t * 1, r * 1))
        return np.sum(np.abs(z) ** 2)

    ref = []
    f(X, ref)
    with dualad.intercept():
        log = []
        f(dualad.Dual(X, np.ones(3)), log)
        for a, b in zip(log[0], ref[0]):
            np.testing.assert_array_equal(a.primal, b)
        log = []
        with tape.Tape() as t:
            f(t.watch(X), log)
        for a, b in zip(log[0], ref[0]):
            np.testing.assert_array_equal(a.value, b)


# -- E4: the .real and .imag setters ----------------------------------------------------------


def test_real_setter_in_place_multiply():
    def f(x):
        z = x * (1 + 1j)
        z.real *= 2
        return np.sum(np.abs(z) ** 2)  # sum(5 x^2)

    check(f, X, grad=10 * X)


def test_imag_setter():
    def f(x):
        y = x.astype(complex)
        y.imag = x**2
        return np.sum(np.abs(y) ** 2)  # sum(x^2 + x^4)

    check(f, X, grad=2 * X + 4 * X**3)


def test_real_setter_of_real_array():
    def f(x):
        y = x * 1.0
        y.real = x**3
        return np.sum(y)

    check(f, X, grad=3 * X**2)


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_imag_setter_of_real_array_raises_as_numpy(mode):
    with pytest.raises(TypeError, match="imaginary part"):
        np.zeros(3).imag = 1.0

    def f(x):
        y = x * 1.0
        y.imag = x
        return np.sum(y)

    with pytest.raises(TypeError, match="imaginary part"):
        dualad.grad(f, X, mode=mode)


# -- S5: the holomorphy check is per entry ----------------------------------------------------

Z = np.array([0.3 + 0.4j, -0.7 + 0.2j, 1.1 - 0.5j])

NOT_HOLOMORPHIC = {
    "conj beside 1e12": lambda w: np.stack([1e12 * w[0], np.conj(w[1])]),
    "w|w| beside 1e12": lambda w: np.stack([1e12 * w[0], w[1] * np.abs(w[1])]),
    "1e-12 conj": lambda w: 1e-12 * np.conj(w),
    "conj in a 1e12 row": lambda w: np.stack([1e12 * w[0] + 1e-3 * np.conj(w[1]), w[2]]),
    "tiny conj part": lambda w: w + 1e-9 * np.conj(w),
}


@pytest.mark.parametrize("name", list(NOT_HOLOMORPHIC))
@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_non_holomorphic_entry_beside_large_ones_raises(name, mode):
    with pytest.raises(ValueError, match="holomorphic"):
        dualad.jacobian(NOT_HOLOMORPHIC[name], Z, mode=mode)


_A = (np.arange(9).reshape(3, 3) + 1j * np.eye(3) + 1.0) * np.logspace(-8, 8, 3)[:, None]
_S = np.logspace(-12, 12, 3)
HOLOMORPHIC = {  # f, closed-form Jacobian
    "scaled cube": (lambda w: _S * w**3, lambda w: np.diag(3 * _S * w**2)),
    "spread matmul": (lambda w: _A @ w, lambda w: _A),
    "spread matmul of exp": (lambda w: _A @ np.exp(w), lambda w: _A * np.exp(w)),
    "stacked scales": (
        lambda w: np.stack([1e12 * w[0], 1e-12 * w[1], w[2] ** 2]),
        lambda w: np.diag([1e12, 1e-12, 2 * w[2]]),
    ),
    "scaled sqrt": (lambda w: np.sqrt(w * _S), lambda w: np.diag(0.5 * _S / np.sqrt(w * _S))),
    "reciprocal": (lambda w: 1 / (w * _S), lambda w: np.diag(-1 / (_S * w**2))),
    # (2 (w + 1e8) - 2e8 rounds at 1e8 * eps: an absolute error the check must accept)
    "cancelling": (lambda w: (w + 1e8) ** 2 - 1e16 - 2e8 * w, lambda w: np.diag(2 * w), 1e-7),
    "outer": (
        lambda w: np.outer(w, w * _S).ravel(),
        lambda w: (
            np.einsum("ik,j->ijk", np.eye(3), w * _S) + np.einsum("i,jk->ijk", w, np.diag(_S))
        ).reshape(9, 3),
    ),
}


@pytest.mark.parametrize("name", list(HOLOMORPHIC))
@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_holomorphic_with_scale_spread_passes(name, mode):
    f, J, atol = (*HOLOMORPHIC[name], 0.0)[:3]
    ref = J(Z)
    got = dualad.jacobian(f, Z, mode=mode)
    row = np.abs(ref).max(axis=1, keepdims=True)  # (the closed forms round on the row's scale)
    assert np.all(np.abs(got - ref) <= 1e-9 * (np.abs(ref) + row) + atol)

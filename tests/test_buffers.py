"""Promotable buffers: np.zeros & co. under interception hold the derivatives written in.

Every derivative is compared with central differences of the same function on plain NumPy,
in forward and reverse mode; views of a buffer (taken before or after the first write) follow
it, as NumPy's views do.
"""

import numpy as np
import pytest

import dualad

MODES = ("forward", "reverse")
X = np.array([0.5, 2.0, -0.7])


def central(f, x, h=1e-6):
    cols = []
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = h
        cols.append((np.asarray(f(x + e)) - np.asarray(f(x - e))) / (2 * h))
    return np.stack(cols, axis=-1)


def check(f, x=X):
    want = central(f, x)
    for mode in MODES:
        got = dualad.jacobian(f, x, mode=mode, intercept=True)
        np.testing.assert_allclose(got, want, atol=1e-7, err_msg=mode)


def test_item_writes():
    def f(x):
        out = np.zeros(3)
        out[0] = x[0] * x[1]
        out[2] = np.sin(x[2])
        return out

    check(f)


def test_masked_augmented_assignment():
    # opfunu's modified Schwefel: fx[mask] -= ...
    def f(x):
        z = np.asarray(x) * 3.0
        fx = np.zeros_like(z)
        mask = z > 0
        fx[mask] -= z[mask] * np.sin(np.sqrt(np.abs(z[mask])))
        fx[~mask] += z[~mask] ** 2
        return fx

    check(f)


def test_views_taken_before_the_first_write_follow():
    def f(x):
        out = np.ones((2, 3))
        row = out[1]
        col = out[:, 0]
        flat = out.reshape(-1)
        out[1, 0] = x[0] ** 2  # promotes: row, col and flat see it
        row[2] = x[1] * row[0]
        return np.concatenate([flat, col * x[2]])

    check(f)


def test_loop_filled_matrix():
    def f(x):
        n = x.shape[0]
        A = np.empty((n, n))
        for i in range(n):
            for j in range(n):
                A[i, j] = np.exp(-((x[i] - x[j]) ** 2))
        return A.sum(axis=0)

    check(f)


def test_out_argument_and_full():
    def f(x):
        buf = np.full(3, 2.0)
        np.multiply(x, x, out=buf)
        acc = np.zeros(3)
        np.add(acc, buf, out=acc)
        return acc * np.arange(1.0, 4.0)

    check(f)


def test_plain_buffers_stay_plain():
    seen = {}

    def f(x):
        idx = np.zeros(3, dtype=int)  # integers cannot hold a derivative: a plain array
        w = np.zeros(3)
        w[:] = [1.0, 2.0, 3.0]  # never promoted: behaves as NumPy's
        seen["w"] = float(w.sum())
        return x * w[idx + 1]

    check(f)
    assert seen["w"] == 6.0


def test_a_promoted_buffer_refuses_conversion():
    def f(x):
        out = np.zeros(2)
        out[0] = x[0]
        return float(out[0]) * x

    for mode in MODES:
        with pytest.raises(TypeError, match="derivative"):
            dualad.jacobian(f, X, mode=mode, intercept=True)


def test_without_interception_writes_still_raise():
    def f(x):
        out = np.zeros(3)
        out[:] = x**2
        return out

    for mode in MODES:
        with pytest.raises(TypeError):
            dualad.jacobian(f, X, mode=mode)


def test_scalar_loop_accumulator():
    def f(x):
        s = np.zeros(1)
        for v in x:
            s[0] += v**3
        return s

    check(f)


def test_gradient_of_scalar_output():
    def f(x):
        out = np.zeros(3)
        out[1:] = x[:2] * x[1:]
        return np.sum(out**2)

    want = central(lambda z: np.array([f(z)]), X)[0]
    for mode in MODES:
        np.testing.assert_allclose(dualad.grad(f, X, mode=mode, intercept=True), want, atol=1e-7)


def test_weierstrass_against_its_closed_form():
    # finite differences cannot check this one (cos(2 pi 3^k x), k <= 20): the closed form can
    a, b, k = 0.5, 3.0, np.arange(21)

    def weierstrass(x):  # as opfunu writes it: np.array(x), a Python loop, a plain start
        x = np.array(x).ravel()
        result = 0
        for i in range(len(x)):
            result += np.sum(a**k * np.cos(2 * np.pi * b**k * (x[i] + 0.5)))
        return result

    x = np.array([0.123, -0.377, 0.2])
    want = [np.sum(a**k * -np.sin(2 * np.pi * b**k * (xi + 0.5)) * 2 * np.pi * b**k) for xi in x]
    for mode in MODES:
        got = dualad.grad(weierstrass, x, mode=mode, intercept=True)
        np.testing.assert_allclose(got, want, rtol=1e-12)


@pytest.mark.parametrize("method", ["hyperdual", "accumulate", "forward-over-reverse"])
def test_hessians_through_a_buffer(method):
    def f(x):
        out = np.zeros(4)
        row = out[1:3]
        out[0] = x[0] * x[1]
        row[:] = np.sin(x[1:]) * x[0]
        out[3] = np.exp(x[2]) * row[1]
        return np.sum(out**2)

    def g(z):
        return dualad.grad(f, z, mode="forward", intercept=True)

    want = central(g, X)
    got = dualad.hessian(f, X, method=method, intercept=True)
    np.testing.assert_allclose(got, want, atol=1e-6)
    v = np.array([1.0, -2.0, 0.5])
    np.testing.assert_allclose(dualad.hvp(f, X, v, intercept=True), want @ v, atol=1e-6)


# -- random programs on a buffer (the alias programs of test_aliasing.py) ------------------------

from hypothesis import given, settings

from tests.test_aliasing import PROGRAMS, run


@settings(max_examples=40, deadline=None)
@given(PROGRAMS)
def test_random_programs_on_a_filled_buffer(program):
    x = np.array([0.3, -0.4, 0.5, 0.2, -0.1, 0.6, 0.35, -0.25])

    def f(z):
        buf = np.zeros(8)
        view = buf[2:]  # taken before the first write: it must follow the promotion
        buf[:2] = z[:2] * 1.0
        view[:] = np.cos(z[2:])
        return run(program, buf, copy=False)

    want = central(f, x)
    for mode in MODES:
        got = dualad.jacobian(f, x, mode=mode, intercept=True)
        np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5, err_msg=mode)


def test_compiled_code_reading_a_promoted_buffer_sees_nan_not_stale_numbers():
    seen = {}

    def f(x):
        out = np.zeros(2)
        out[0] = x[0] * 2.0
        seen["memory"] = out.view(np.ndarray).copy()  # what a C routine would read
        seen["asarray"] = type(np.asarray(out)).__name__  # hands on the wrapper itself
        return out

    for mode in MODES:
        dualad.jacobian(f, X, mode=mode, intercept=True)
        assert np.isnan(seen["memory"]).all()
        assert seen["asarray"] in ("Dual", "Variable")


def test_augmented_assignment_into_an_empty_selection_and_out_aliasing_an_input():
    def f(x):
        fx = np.zeros(3)
        none = x > 10.0  # selects nothing
        fx[none] -= x[none] ** 2
        fx[~none] += x[~none] ** 2
        acc = np.ones(3)
        np.add(acc, x, out=acc)  # out is also an input: its value before the write counts
        return fx + acc

    check(f)


# -- a buffer read as a plain value by a rule's own decision (SciPy's value and masks) --------


def _stats_programs():
    st = pytest.importorskip("scipy.stats")

    def loc_buffer(x):
        b = np.zeros(3)
        b[:] = x * x
        return np.sum(st.norm.cdf(x, loc=b))

    def loc_buffer_plain_x(x):
        b = np.zeros(3)
        b[:] = x * x
        return np.sum(st.norm.cdf(0.3, loc=b))

    def out_buffer_positional_loc(x):
        b = np.empty(3)
        np.multiply(x, x, out=b)
        return np.sum(st.t.logpdf(x, 3, b))

    return [loc_buffer, loc_buffer_plain_x, out_buffer_positional_loc]


@pytest.mark.parametrize("i", range(3))
@pytest.mark.parametrize("mode", MODES)
def test_buffer_as_scipy_stats_parameter(i, mode):
    # decide() read the buffer's own (stale) memory: nan values, all-zero derivatives
    f = _stats_programs()[i]
    x = np.array([0.11, 0.805, -0.4])
    v, g = dualad.value_and_grad(f, x, mode=mode, intercept=True)
    np.testing.assert_allclose(v, f(x), rtol=1e-14)
    np.testing.assert_allclose(g, central(f, x), rtol=1e-6, atol=1e-9)
    want = central(lambda z: dualad.grad(f, z, intercept=True), x, h=1e-5)
    for method in ("auto", "accumulate", "forward-over-reverse"):
        h = dualad.hessian(f, x, method=method, intercept=True)
        np.testing.assert_allclose(h, want, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("mode", MODES)
def test_full_with_a_traced_fill_value(mode):
    # np.full(3, x[1]) raised (NumPy's own full copies the fill into a plain array), as
    # jnp.full takes a traced fill
    def f(x):
        a = np.full(3, x[1])
        b = np.full((2, 2), x[0] * x[2], dtype=float)
        c = np.full_like(np.zeros(3), x[2])
        a[0] = x[0]
        return np.sum(a**2) + np.sum(b) * np.sum(c * np.arange(3.0))

    np.testing.assert_allclose(
        dualad.grad(f, X, mode=mode, intercept=True), central(f, X), rtol=1e-6
    )
    h = dualad.hessian(f, X, intercept=True)
    want = central(lambda z: dualad.grad(f, z, intercept=True), X, h=1e-5)
    np.testing.assert_allclose(h, want, rtol=1e-5, atol=1e-6)

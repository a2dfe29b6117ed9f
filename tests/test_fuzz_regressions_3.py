"""Regressions found by the third round of fuzzing (random and hand-made programs against
central differences and against the other mode); each test fails on the code before its fix."""

import numpy as np
import pytest

import dualad
import tape
from tests.test_fuzz_regressions_2 import central

X0 = np.array([0.7, 1.3, 0.4])


_central = central  # of a scalar f, any input shape


def _all_doors(f, x, intercept=False):
    """(value, gradient) through forward, reverse, the tape and Variable.backward."""
    out = [dualad.value_and_grad(f, x, mode=m, intercept=intercept) for m in ("forward", "reverse")]
    with dualad.intercept() if intercept else _nothing():
        with tape.Tape() as t:
            w = t.watch(x)
            y = f(w)
        out.append((tape.value_of(y), t.gradient(y, w)))
        v = tape.Variable(x.copy())
        y = f(v)
        y.backward()
        out.append((tape.value_of(y), v.grad))
    return out


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _check_doors(f, x, intercept=False):
    want_v, want_g = f(x), _central(f, x)
    for v, g in _all_doors(f, x, intercept):
        np.testing.assert_allclose(v, want_v, rtol=1e-12)
        np.testing.assert_allclose(g, want_g, rtol=1e-6, atol=1e-8)


def test_astype_same_dtype_without_copy_is_the_array_itself():
    # NumPy's y.astype(y.dtype, copy=False) is y: a write into it is a write into y
    # (forward kept the value but not the tangent; reverse lost both)
    def f(x):
        y = x * 2.0
        z = y.astype(np.float64, copy=False)
        z[0] = 0.0
        return np.sum(y * x)

    def g(x):  # another dtype: a copy, as in NumPy
        y = x * 2.0
        z = y.astype(np.float32, copy=False)
        z[0] = 0.0
        return np.sum(y * x)

    _check_doors(f, X0)
    _check_doors(g, X0)


CONVERSIONS = {  # (y, Y): a vector and a matrix that the program reads after the write
    "ascontiguousarray of a strided view": lambda y, Y: np.ascontiguousarray(y[::2]),
    "ascontiguousarray of a transpose": lambda y, Y: np.ascontiguousarray(Y.T),
    "asfortranarray": lambda y, Y: np.asfortranarray(Y),
    "asarray order=F": lambda y, Y: np.asarray(Y, order="F"),
    "require F": lambda y, Y: np.require(Y, requirements="F"),
    "require C, W of a strided view": lambda y, Y: np.require(y[::2], requirements=["C", "W"]),
    "asarray of an element": lambda y, Y: np.asarray(y[1]),
    "asarray": lambda y, Y: np.asarray(y),
    "array copy=None": lambda y, Y: np.array(y, copy=None),
    "array copy=None ndmin=2": lambda y, Y: np.array(y, copy=None, ndmin=2),
    "ascontiguousarray of a contiguous array": lambda y, Y: np.ascontiguousarray(Y),
    "require": lambda y, Y: np.require(Y),
}


@pytest.mark.parametrize("conv", list(CONVERSIONS.values()), ids=list(CONVERSIONS))
def test_intercepted_conversions_copy_where_numpy_copies(conv):
    # under interception these returned the wrapper itself where NumPy copies (a write into
    # the result then changed y: silently wrong value and gradient), and np.asarray of an
    # element returned an immutable scalar (a write raised)
    def f(x):
        y = x * 2.0
        Y = np.outer(x, x[:2])
        z = conv(y, Y)
        z[(0,) * np.ndim(z) if np.ndim(z) else ...] = 0.0
        return np.sum(y * x) + np.sum(Y * Y) + np.sum(z * x[0])

    _check_doors(f, X0, intercept=True)


# -- two cotangent rows of a 0-d value, packed as one complex number by the scalar records --

special = pytest.importorskip("scipy.special")

TWO_ROWS = {
    "scalar and array records on one value": lambda y: (
        y[0] * 2.0 * np.array([1.0, 0.0]) + special.erf(y[0]) * np.array([0.0, 1.0])
    ),
    "a 0-d array factor": lambda y: np.stack(
        [np.multiply(y[0], np.array(2.0)), np.exp(y[0] * 0.3)]
    ),
    "np.float64 factor": lambda y: np.stack(
        [y[0] * np.float64(1.5) + y[1], special.expit(y[0] * y[1])]
    ),
}


@pytest.mark.parametrize("f", list(TWO_ROWS.values()), ids=list(TWO_ROWS))
def test_two_row_reverse_jacobians_keep_their_rows(f):
    # the pair packed by a scalar record was added to a rule's (2,) array cotangent (both
    # rows got it), or multiplied by a NumPy value into np.complex128 (read as a complex
    # cotangent): wrong rows, and a complex Jacobian of a real function
    x = np.array([0.9, -1.2])
    want = np.stack([_central(lambda z, i=i: f(z)[i], x) for i in range(2)])
    j = dualad.jacobian(f, x, mode="reverse")
    assert j.dtype == np.float64
    np.testing.assert_allclose(j, want, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(dualad.jacobian(f, x, mode="forward"), want, rtol=1e-7, atol=1e-9)


def test_hessian_by_reverse_jacobian_of_reverse_grad():
    def g(y):
        return dualad.grad(lambda z: special.erf(z[0]) * z[1], y, mode="reverse")

    x = np.array([2.0, -1.2])
    h = dualad.jacobian(g, x, mode="reverse")
    assert h.dtype == np.float64
    np.testing.assert_allclose(h, dualad.hessian(lambda z: special.erf(z[0]) * z[1], x), rtol=1e-12)
    np.testing.assert_allclose(h, h.T, rtol=1e-12)


# -- linear algebra and FFTs ----------------------------------------------------------------


@pytest.mark.parametrize(
    "a",
    [
        np.array([[1.0, 2.0], [2.0, 4.0]]),
        np.diag([0.0, 2.0, 3.0]),
        np.zeros((3, 3)),
        np.stack([np.array([[1.0, 2.0], [2.0, 4.0]]), np.array([[1.0, 0.5], [2.0, 4.0]])]),
    ],
    ids=["rank-1", "one zero", "zero", "batch"],
)
def test_det_at_a_singular_matrix(a):
    # det is a polynomial: its derivative (the cofactors) exists everywhere; the rules
    # inverted a and raised LinAlgError
    def f(m):
        return np.sum(np.linalg.det(m))

    for mode in ("forward", "reverse"):
        np.testing.assert_allclose(dualad.grad(f, a, mode=mode), central(f, a), atol=1e-8)
    if a.ndim == 2:  # second order through the cofactors: by minors, exact at repeated zeros
        n = a.size
        h = dualad.hessian(f, a).reshape(n, n)
        hr = dualad.jacobian(lambda m: dualad.grad(f, m, mode="reverse"), a, mode="reverse")
        np.testing.assert_allclose(hr.reshape(n, n), h, atol=1e-12)
        hn = np.stack(
            [
                (
                    dualad.grad(f, a + 1e-6 * e.reshape(a.shape))
                    - dualad.grad(f, a - 1e-6 * e.reshape(a.shape))
                ).ravel()
                / 2e-6
                for e in np.eye(n)
            ]
        )
        np.testing.assert_allclose(h, hn, atol=1e-6)


W6 = np.arange(6.0)
REAL_IRFFT = {
    "irfft of |rfft|^2": lambda x: np.sum(np.fft.irfft(np.abs(np.fft.rfft(x)) ** 2) * W6),
    "irfft of a real array": lambda x: np.sum(np.fft.irfft(x[:5]) * np.arange(8.0)),
    "hfft of a real array": lambda x: np.sum(np.fft.hfft(x[:5]) ** 2 * np.arange(8.0)),
    "irfft n=7 ortho": lambda x: np.sum(
        np.fft.irfft(x[:5], n=7, norm="ortho") * np.arange(7.0) ** 2
    ),
}


@pytest.mark.parametrize("f", list(REAL_IRFFT.values()), ids=list(REAL_IRFFT))
def test_irfft_of_a_real_input_in_reverse(f):
    # irfft's transpose is complex; a real input takes its real part (the step was skipped
    # when input and output were both real: complex or wrong gradients)
    x = np.array([0.3, -1.2, 0.8, 2.0, -0.5, 1.1])
    want = _central(f, x)
    for mode in ("forward", "reverse"):
        g = dualad.grad(f, x, mode=mode)
        assert g.dtype == np.float64
        np.testing.assert_allclose(g, want, rtol=1e-6, atol=1e-7)
    x32 = x.astype(np.float32)
    want32 = dualad.grad(f, x32, mode="forward").dtype
    assert dualad.grad(f, x32, mode="reverse").dtype == want32


def test_rfft_irfft_keep_float32_in_reverse():
    # the fold weights and the ortho factor were float64: a float32 program's reverse
    # gradient came back float64 (forward kept float32)
    x = np.arange(1, 9, dtype=np.float32)
    for norm in (None, "ortho", "forward"):

        def f(z, norm=norm):
            return np.sum(np.fft.irfft(np.fft.rfft(z, norm=norm) ** 2, norm=norm))

        assert f(x).dtype == np.float32
        g = dualad.grad(f, x, mode="reverse")
        assert g.dtype == np.float32
        np.testing.assert_allclose(g, dualad.grad(f, x.astype(np.float64)), rtol=1e-4)


def test_eig_of_a_real_matrix_gives_a_real_gradient():
    a = np.array([[2.0, 1.0], [1.0, 3.0]])

    def f(m):
        w, v = np.linalg.eig(m)
        return np.sum(w * np.array([1.0, 2.0])) + np.sum(np.real(v[:, 0]) * np.array([1.0, 2.0]))

    g = dualad.grad(f, a, mode="reverse")
    assert g.dtype == np.float64
    np.testing.assert_allclose(g, dualad.grad(f, a, mode="forward"), rtol=1e-10, atol=1e-12)


X4 = np.array([0.7, 1.3, 0.4, 0.9])
LIST_OPERANDS = {
    "x * [y, 1.0]": lambda x: np.sum(x[:2] * [x[2], 1.0]),
    "x + [y, z]": lambda x: np.sum((x[:2] + [x[2], x[3]]) ** 2),
    "(y, z) - x": lambda x: np.sum(((x[1], x[2]) - x[:2]) ** 2),
    "np.maximum(x, [y, c])": lambda x: np.sum(np.maximum(x[:2], [x[2], 0.5])),
    "np.where(c, [y, z], x)": lambda x: np.sum(np.where([True, False], [x[0], x[1]], x[2:])),
    "np.inner([y, z], x)": lambda x: np.inner([x[0], x[1]], x[2:]),
    "np.outer([y, c], x)": lambda x: np.sum(np.outer([x[0], 1.0], x[2:]) ** 2),
    "np.einsum(s, [y, z], x)": lambda x: np.einsum("i,i->", [x[0], x[1]], x[2:]),
    "np.tensordot([y, z], x)": lambda x: np.tensordot([x[0], x[1]], x[2:], axes=1),
    "x ** [c, c]": lambda x: np.sum(x[:2] ** [2.0, 3.0]),
    "[c, c] ** x": lambda x: np.sum([1.5, 2.0] ** x[:2]),
    "np.float_power([c, c], x)": lambda x: np.sum(np.float_power([1.5, 2.0], x[:2])),
    "np.arctan2(x, [c, c])": lambda x: np.sum(np.arctan2(x[:2], [1.0, 2.0])),
    "np.arctan2([c, c], x)": lambda x: np.sum(np.arctan2([1.0, 2.0], x[:2])),
}


@pytest.mark.parametrize("f", list(LIST_OPERANDS.values()), ids=list(LIST_OPERANDS))
def test_list_operands_of_ufuncs_and_products(f):
    # a list operand holding traced values crashed (forward: tuple has no ndim; reverse:
    # index out of bounds), and a plain list reached the partials (power, arctan2) as a list
    want = _central(f, X4)
    for mode in ("forward", "reverse"):
        np.testing.assert_allclose(dualad.grad(f, X4, mode=mode), want, rtol=1e-6, atol=1e-8)
    hn = np.stack([_central(lambda z, e=e: dualad.grad(f, z)[e], X4) for e in range(4)])
    np.testing.assert_allclose(dualad.hessian(f, X4), hn, rtol=1e-5, atol=1e-6)


INTERCEPTED = {
    "np.isscalar(x[0])": lambda x: x[0] * 2 if np.isscalar(x[0]) else x[0] * 3 + x[1],
    "np.isscalar(x)": lambda x: np.sum(x) * 2 if np.isscalar(x) else np.sum(x * x),
    "np.dot of two lists": lambda x: np.dot([x[0], x[1]], [x[2], 2.0]),
    "np.inner of two lists": lambda x: np.inner([x[0], x[1]], [x[2], x[3]]),
    "np.where of lists": lambda x: np.sum(np.where([True, False], [x[0], x[1]], [x[2], x[3]])),
    "np.einsum of lists": lambda x: np.einsum("i,i->", [x[0], x[1]], [x[2], 2.0]),
    "np.clip with a list bound": lambda x: np.sum(np.clip(x, [x[0] * 0.9, 0.0, 0.0, 0.0], 1.0)),
}


@pytest.mark.parametrize("f", list(INTERCEPTED.values()), ids=list(INTERCEPTED))
def test_intercepted_isscalar_and_list_operands(f):
    # np.isscalar(x[0]) was False for a traced element (NumPy: True), so the program took
    # the other branch (value and gradient of the wrong branch); operands after the first
    # were not stacked (np.dot([a, b], [c, 2.0]) raised)
    want = _central(f, X4)
    for mode in ("forward", "reverse"):
        g = dualad.grad(f, X4, mode=mode, intercept=True)
        np.testing.assert_allclose(g, want, rtol=1e-6, atol=1e-8)


def test_sparse_doors_take_intercept():
    # the sparsity tracer was not a wrapper to interception: np.array([...]) of traced
    # values raised "would lose its dependencies" in mode="sparse" with intercept=True
    import math

    x0 = np.array([0.5, 2.0, 1.5])
    programs = [
        lambda x: np.array([x[0] * x[1], x[1]]),
        lambda x: np.asarray(x) ** 2,
        lambda x: np.array([math.sin(x[0]), math.exp(x[1]) * x[2]]),
        lambda x: np.stack([np.dot([x[0], x[1]], [x[2], 1.0]), x[0]]),
    ]
    for f in programs:
        dense = dualad.jacobian(f, x0, intercept=True)
        sparse = dualad.jacobian(f, x0, mode="sparse", intercept=True)
        np.testing.assert_allclose(sparse.toarray(), dense, rtol=1e-15)
        assert (dualad.sparsity(f, x0, intercept=True).toarray() >= (dense != 0)).all()

        def s(x, f=f):
            return np.sum(f(x) ** 2)

        h = dualad.hessian(s, x0, method="sparse", intercept=True)
        np.testing.assert_allclose(h.toarray(), dualad.hessian(s, x0, intercept=True), rtol=1e-13)
        assert (
            dualad.hessian_sparsity(s, x0, intercept=True).toarray() >= (h.toarray() != 0)
        ).all()


M23 = np.array([[1, 1, 0], [1, 1, 1]], bool)
METHODS = {
    "z.sum(axis=1, where=m)": lambda z: np.sum(z.sum(axis=1, where=M23) ** 2),
    "z.sum(initial=c)": lambda z: z.sum(initial=2.0) ** 2,
    "z.prod(where=m)": lambda z: z.prod(where=M23),
    "z.max(initial=c)": lambda z: z.max(initial=4.5),
    "z.max(axis, where=, initial=)": lambda z: np.sum(z.max(axis=1, where=M23, initial=-10.0)),
    "z.mean(axis, where=m)": lambda z: np.sum(z.mean(axis=1, where=M23) ** 2),
    "z.var(axis, where=m)": lambda z: np.sum(z.var(axis=1, where=M23)),
    "z.std(0, None)": lambda z: np.sum(z.std(0, None)),
    "z.std(0, None, None, 1)": lambda z: np.sum(z.std(0, None, None, 1)),
    "z.cumsum(1, np.float64)": lambda z: np.sum(z.cumsum(1, np.float64) ** 2),
    "z.max(1, None, True)": lambda z: np.sum(z.max(1, None, True)),
    "z.take(i, axis, mode=)": lambda z: np.sum(z.take([0, 2], axis=1, mode="clip") ** 2),
    "z.argmax(axis, keepdims=)": lambda z: np.sum(
        np.take_along_axis(z, z.argmax(axis=1, keepdims=True), axis=1)
    ),
}


@pytest.mark.parametrize("f", list(METHODS.values()), ids=list(METHODS))
def test_ndarray_methods_take_numpys_arguments(f):
    # the methods took fewer arguments than ndarray's (where=, initial=, out=, dtype) and
    # in another positional order (z.std(0, None) passed None as ddof): TypeError
    x = np.array([[1.0, 2.0, 4.0], [3.0, 5.0, 0.5]])
    want = central(f, x)
    for mode in ("forward", "reverse"):
        np.testing.assert_allclose(dualad.grad(f, x, mode=mode), want, rtol=1e-6, atol=1e-7)


def test_directions_given_as_dicts_in_another_key_order():
    # a tangent or cotangent dict with x's keys in another order was refused ("must have the
    # same structure"); it is read by key
    x = {"a": np.array([1.0, 2.0]), "b": 0.5}

    def f(d):
        return {"p": d["a"] * d["b"], "q": np.sum(d["a"]) ** 2}

    v_sorted = {"a": np.array([0.0, 1.0]), "b": 1.0}
    v_other = {"b": 1.0, "a": np.array([0.0, 1.0])}
    a, b = dualad.jvp(f, x, v_other)[1], dualad.jvp(f, x, v_sorted)[1]
    np.testing.assert_allclose(a["p"], b["p"])
    np.testing.assert_allclose(a["q"], b["q"])
    u_sorted = {"p": np.array([1.0, 0.0]), "q": 1.0}
    u_other = {"q": 1.0, "p": np.array([1.0, 0.0])}
    a, b = dualad.vjp(f, x, u_other)[1], dualad.vjp(f, x, u_sorted)[1]
    np.testing.assert_allclose(a["a"], b["a"])
    np.testing.assert_allclose(a["b"], b["b"])

    def g(d):
        return np.sum(d["a"] ** 2) * d["b"]

    a, b = dualad.hvp(g, x, v_other), dualad.hvp(g, x, v_sorted)
    np.testing.assert_allclose(a["a"], b["a"])
    with pytest.raises(ValueError, match="same structure"):
        dualad.jvp(f, x, {"b": 1.0, "c": np.zeros(2)})


def test_divmod_and_whole_array_view():
    # builtin divmod raised TypeError; x.view() (no dtype) raised NotImplementedError as if
    # it reinterpreted bytes: it is a view, and a write through it shows in x
    def f(x):
        _q, r = divmod(x, 0.5)
        return np.sum(r * x)

    def g(x):
        y = x * 2.0
        v = y.view()
        v[1] = x[0] ** 2
        return np.sum(y * x)

    for h in (f, g):
        want = _central(h, X0)
        for mode in ("forward", "reverse"):
            np.testing.assert_allclose(dualad.grad(h, X0, mode=mode), want, rtol=1e-6, atol=1e-8)
    with pytest.raises(NotImplementedError, match="view"):
        dualad.grad(lambda x: np.sum(x.view(np.int64)), X0)


def test_roll_with_a_repeated_axis_and_hyperdual_default_eps12():
    # np.roll(x, (1, 2), axis=(1, 1)) is NumPy's (the shifts add up): the rule raised
    # "repeated axis"; HyperDual with k directions and no eps12 made a (shape)-zero eps12
    x0 = np.arange(12.0).reshape(3, 4)
    w = np.arange(12.0).reshape(3, 4) ** 2

    def f(x):
        return np.sum(np.roll(x, (1, 2), axis=(1, 1)) * w)

    want = np.roll(w, -3, axis=1)
    for mode in ("forward", "reverse"):
        np.testing.assert_array_equal(dualad.grad(f, x0, mode=mode), want)
    h = dualad.HyperDual(np.full(3, 0.5), np.ones((2, 3)), np.ones((2, 3)))
    np.testing.assert_allclose(np.sin(h).eps12, np.broadcast_to(-np.sin(0.5), (2, 2, 3)))

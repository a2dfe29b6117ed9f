"""Regressions of ``dualad.compile`` found by fuzzing: each compares the compiled calls with
the uncompiled API (or a closed form) on both backends where both apply."""

import math
import warnings

import numpy as np
import pytest
import scipy.spatial.distance as ssd
import scipy.special as sc
import scipy.stats as st

import dualad

BACKENDS = ["numba", "numpy"]
X4 = np.array([0.3, -1.2, 2.0, 0.7])
V4 = np.array([1.0, -0.5, 0.25, 2.0])


@pytest.fixture(params=BACKENDS)
def backend(request):
    if request.param == "numba":
        pytest.importorskip("numba")
    return request.param


def _same_as_uncompiled(f, x, v, backend):
    cf = dualad.compile(f, np.ones_like(x), backend=backend)
    np.testing.assert_allclose(cf(x), f(x), rtol=1e-13)
    np.testing.assert_allclose(cf.grad(x), dualad.grad(f, x), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(cf.jvp(x, v)[1], dualad.jvp(f, x, v)[1], rtol=1e-13)
    np.testing.assert_allclose(cf.jacobian(x), dualad.jacobian(f, x), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(cf.vjp(x, 2.0)[1], dualad.vjp(f, x, 2.0)[1], rtol=1e-13)
    return cf


# -- a slice or an element read by a step that runs in NumPy (numba: between kernels) ----------

SLICED = {
    "prod(x[:2])": lambda x: np.prod(x[:2]),
    "max(x[:2])": lambda x: np.max(x[:2]),
    "norm(x[:2])": lambda x: np.linalg.norm(x[:2]),
    "prod(x[0])": lambda x: np.prod(x[0]),
    "prod(x[:1])": lambda x: np.prod(x[:1]),
    "prod(cumprod(x)[:2])": lambda x: np.prod(np.cumprod(x)[:2]),
    "gamma(x[0])": lambda x: sc.gamma(x[0]) + np.sum(x),
    "tile(x[:2])": lambda x: np.sum(np.tile(x[:2], 3) ** 2),
    "cumsum(x[:2])": lambda x: np.sum(np.cumsum(x[:2]) ** 2),
    "outer(x[:2], x[2:])": lambda x: np.sum(np.outer(x[:2], x[2:]) ** 2),
    "concatenate([x, x[:2]**2])": lambda x: np.sum(np.concatenate([x, x[:2] ** 2]) ** 2),
}


@pytest.mark.parametrize("name", list(SLICED))
def test_slice_into_numpy_step(name, backend):
    _same_as_uncompiled(SLICED[name], X4, V4, backend)


def test_leading_slice_reshaped(backend):
    def f(x):
        return np.sum(np.sin(x[:6].reshape(2, 3)) @ np.arange(3.0))

    _same_as_uncompiled(f, np.linspace(0.1, 0.8, 8), np.arange(8.0), backend)


def test_prod_of_leading_slice_closed_form(backend):
    cf = dualad.compile(lambda x: np.prod(x[:2]), np.ones(4), backend=backend)
    assert cf(X4) == pytest.approx(-0.36, rel=1e-14)
    np.testing.assert_allclose(cf.grad(X4), [-1.2, 0.3, 0.0, 0.0], rtol=1e-14)


def test_sum_along_axis0_is_not_a_total(backend):
    def f(x):
        return np.sum(x.reshape(2, 3).sum(axis=0) * x[:3])

    x = np.linspace(0.1, 0.6, 6)
    cf = _same_as_uncompiled(f, x, np.arange(6.0), backend)
    assert cf(x) == pytest.approx(0.46, rel=1e-13)
    np.testing.assert_allclose(cf.grad(x), [0.6, 0.9, 1.2, 0.1, 0.2, 0.3], rtol=1e-13)


# -- input structure, directions, cotangents --------------------------------------------------


def test_one_vector_tuple_does_not_serve_a_bare_array(backend):
    def f(t):
        return np.sum(t[0] ** 2)

    x = np.array([1.0, 2.0, 3.0])
    cf = dualad.compile(f, (np.ones(3),), backend=backend)
    np.testing.assert_allclose(cf.grad((x,))[0], 2 * x)
    np.testing.assert_allclose(cf.grad(x), dualad.grad(f, x))  # [2, 0, 0]
    np.testing.assert_allclose(cf.value_and_grad(x)[1], [2.0, 0.0, 0.0])
    np.testing.assert_allclose(cf.grad((x,))[0], 2 * x)


@pytest.mark.parametrize(
    "v", [2.0, np.ones(2), np.ones((4, 1)), np.ones(5)], ids=lambda a: str(np.shape(a))
)
@pytest.mark.parametrize("method", ["hvp", "jvp"])
def test_direction_of_the_wrong_shape_raises(method, v, backend):
    def f(x):
        return np.sum(x**3)

    cf = dualad.compile(f, np.ones(4), backend=backend)
    with pytest.raises(ValueError, match="has a leaf of shape"):
        getattr(dualad, method)(f, np.ones(4), v)
    with pytest.raises(ValueError, match=r"v has a leaf of shape .* where \(4,\) is needed"):
        getattr(cf, method)(np.ones(4), v)


@pytest.mark.parametrize("u", [2.0, np.ones((4, 1)), np.ones(5)], ids=lambda a: str(np.shape(a)))
def test_cotangent_of_the_wrong_shape_raises(u, backend):
    cf = dualad.compile(lambda x: x**2, np.ones(4), backend=backend)
    with pytest.raises(ValueError, match=r"u has a leaf of shape .* where \(4,\) is needed"):
        cf.vjp(np.ones(4), u)


# -- results the caller owns ------------------------------------------------------------------


def test_constant_output_is_a_fresh_array(backend):
    x = np.ones(2)
    cf = dualad.compile(lambda x: np.zeros(3), x, backend=backend)
    r = cf(x)
    r += 5
    np.testing.assert_array_equal(cf(x), np.zeros(3))
    y, t = cf.jvp(x, x)
    y += 5
    t += 5
    np.testing.assert_array_equal(cf.jvp(x, x)[0], np.zeros(3))
    np.testing.assert_array_equal(cf.jvp(x, x)[1], np.zeros(3))
    y, _ = cf.vjp(x, np.ones(3))
    y += 5
    np.testing.assert_array_equal(cf.vjp(x, np.ones(3))[0], np.zeros(3))
    J = cf.jacobian(x)
    J += 5
    np.testing.assert_array_equal(cf.jacobian(x), np.zeros((3, 2)))


def test_constant_scalar_output_is_fresh(backend):
    x = np.ones(2)
    cf = dualad.compile(lambda x: np.array(2.0), x, backend=backend)
    r = cf(x)
    r += 5
    assert cf(x) == 2.0
    y, _ = cf.value_and_grad(x)
    y += 5
    assert cf.value_and_grad(x)[0] == 2.0


def test_jacobian_of_scalar_to_scalar_is_0d(backend):
    def f(a):
        return a**2

    J = dualad.compile(f, 1.0, backend=backend).jacobian(3.0)
    assert np.shape(J) == np.shape(dualad.jacobian(f, 3.0)) == ()
    assert J == 6.0

    def g(a):
        return np.sum(np.cumsum(a) ** 2)  # a step in NumPy: numba's fallback

    J = dualad.compile(g, 1.0, backend=backend).jacobian(3.0)
    assert np.shape(J) == () and J == 6.0


def test_array_output_with_a_scalar_tangent(backend):
    def f(x):
        return x[0] + np.arange(3.0)  # the tangent is x[0]'s, at every element

    x, v = np.ones(3), np.array([2.0, 5.0, 7.0])
    cf = dualad.compile(f, x, backend=backend)
    np.testing.assert_array_equal(cf.jvp(x, v)[1], [2.0, 2.0, 2.0])
    np.testing.assert_array_equal(cf.jacobian(x), dualad.jacobian(f, x))


# -- inputs Numba's signatures do not take as they are -----------------------------------------


@pytest.mark.parametrize("kind", ["readonly", "big-endian"])
def test_readonly_and_big_endian_inputs(kind, backend):
    def f(x):
        return np.sum(np.sin(x) * x)

    x = np.array([0.1, 0.2, 0.3])
    if kind == "readonly":
        a = x.copy()
        a.flags.writeable = False
        v = np.ones(3)
        v.flags.writeable = False
    else:
        a, v = x.astype(">f8"), np.ones(3).astype(">f8")
    cf = dualad.compile(f, np.ones(3), backend=backend)
    assert cf(a) == pytest.approx(f(x), rel=1e-14)
    np.testing.assert_allclose(cf.grad(a), dualad.grad(f, x), rtol=1e-14)
    np.testing.assert_allclose(cf.value_and_grad(a)[1], dualad.grad(f, x), rtol=1e-14)
    np.testing.assert_allclose(cf.jacobian(a), dualad.jacobian(f, x), rtol=1e-14)
    np.testing.assert_allclose(cf.hessian(a), dualad.hessian(f, x), rtol=1e-13)
    np.testing.assert_allclose(cf.jvp(a, v)[1], dualad.jvp(f, x, np.ones(3))[1], rtol=1e-14)
    np.testing.assert_allclose(cf.hvp(a, v), dualad.hvp(f, x, np.ones(3)), rtol=1e-13)
    np.testing.assert_array_equal(a, x)  # never written
    cg = dualad.compile(f, a, backend=backend)  # recorded at such an array
    np.testing.assert_allclose(cg.grad(a), dualad.grad(f, x), rtol=1e-14)


# -- steps that crashed the numba lowering ---------------------------------------------------


def _setitem_clip(x):
    y = x * 1.0
    y[y < 0] = 0
    return np.sum(y**2)


STEPS = {
    "where(x > 0, 0.0, 1.0) * x": lambda x: np.sum(np.where(x > 0, 0.0, 1.0) * x),
    "where(x > 1, x, 0.0)": lambda x: np.sum(np.where(x > 1, x, 0.0) ** 2),
    "fmax(x, 0.5)": lambda x: np.sum(np.fmax(x, 0.5) ** 2),
    "(x > 0).astype(float)": lambda x: np.sum((x > 0).astype(float) * x),
    "(x > 0).all()": lambda x: x[0] ** 2 if (x > 0).all() else x[1] ** 3,
    "(x > 0).any()": lambda x: x[0] ** 2 if (x > 2).any() else x[1] ** 3,
    "np.all(x > 0)": lambda x: x[0] ** 2 if np.all(x > 0) else x[1] ** 3,
    "x[x > 0]": lambda x: np.sum(x[x > 0] ** 2),
    "y[y < 0] = 0": _setitem_clip,
}


@pytest.mark.parametrize("name", list(STEPS))
@pytest.mark.parametrize("x", [[1.0, 2.0, 3.0], [0.5, -2.0, 3.0]], ids=["recorded", "moved"])
def test_steps_that_crashed(name, x, backend):
    f, x = STEPS[name], np.array(x)
    v = np.array([1.0, 0.5, -1.0])
    cf = dualad.compile(f, np.array([1.0, 2.0, 3.0]), backend=backend)
    np.testing.assert_allclose(cf(x), f(x), rtol=1e-14)
    np.testing.assert_allclose(cf.grad(x), dualad.grad(f, x), rtol=1e-14)
    np.testing.assert_allclose(cf.jvp(x, v)[1], dualad.jvp(f, x, v)[1], rtol=1e-14)
    np.testing.assert_allclose(cf.jacobian(x), dualad.jacobian(f, x), rtol=1e-14)
    np.testing.assert_allclose(cf.hessian(x), dualad.hessian(f, x), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(cf.hvp(x, v), dualad.hvp(f, x, v), rtol=1e-13, atol=1e-15)


def test_where_and_fmax_vectors_compile():
    pytest.importorskip("numba")
    for f in (lambda x: np.where(x > 1, x, 0.0), lambda x: np.fmax(x, 0.5)):
        x = np.array([0.5, -2.0, 3.0])
        cf = dualad.compile(f, np.ones(3))
        np.testing.assert_allclose(cf.jacobian(x), dualad.jacobian(f, x), rtol=1e-14)
        assert "NumPy replay" not in cf.report()


# -- arrays built from traced scalars (np.stack, np.array under interception) ----------------

X3 = np.array([0.7, 1.3, 0.4])
X3_NEW = np.array([-0.3, 2.1, 1.1])
V3 = np.array([1.0, -0.5, 0.25])


def _check_against_uncompiled(cf, f, points, v, intercept=False):
    """cf(x), jvp, jacobian and (scalar f) grad, hessian, hvp, or (array f) vjp against the
    uncompiled API at each point."""
    kw = {"intercept": True} if intercept else {}
    for x in points:
        J = dualad.jacobian(f, x, **kw)
        np.testing.assert_allclose(cf.jacobian(x), J, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(cf.jvp(x, v)[1], dualad.jvp(f, x, v, **kw)[1], rtol=1e-12,
                                   atol=1e-14)  # fmt: skip
        y = cf(x)
        if np.ndim(y) == 0:
            val, g = dualad.value_and_grad(f, x, **kw)
            np.testing.assert_allclose(y, val, rtol=1e-13)
            np.testing.assert_allclose(cf.grad(x), g, rtol=1e-12, atol=1e-14)
            np.testing.assert_allclose(cf.hessian(x), dualad.hessian(f, x, **kw), rtol=1e-12,
                                       atol=1e-14)  # fmt: skip
            np.testing.assert_allclose(cf.hvp(x, v), dualad.hvp(f, x, v, **kw), rtol=1e-12,
                                       atol=1e-14)  # fmt: skip
        else:
            u = np.linspace(1.0, 2.0, np.size(y)).reshape(np.shape(y))
            np.testing.assert_allclose(cf.vjp(x, u)[1], dualad.vjp(f, x, u, **kw)[1],
                                       rtol=1e-12, atol=1e-14)  # fmt: skip


def _nested_stack(x):
    return np.sum(np.stack([np.stack([x[0], x[1]]), np.stack([x[1], x[2]])]) ** 2)


def test_nested_stack(backend):
    # numba crashed: TypeError: float() argument must be ... not 'list' (lower.py)
    cf = dualad.compile(_nested_stack, X3, backend=backend)
    np.testing.assert_allclose(cf.grad(X3), [1.4, 5.2, 0.8], rtol=1e-14)
    _check_against_uncompiled(cf, _nested_stack, [X3, X3_NEW], V3)
    if backend == "numba":
        assert "NumPy replay" not in cf.report(), cf.report()


def _s(*items):
    return np.stack(list(items))


BUILT = {
    "array([[x0, 0], [0, x1]])": lambda x: np.sum(np.array([[x[0], 0.0], [0.0, x[1]]]) ** 2),
    "array out": lambda x: np.array([[x[0], 0.0], [x[2], x[1] * x[2]]]),
    "stack mixing constants": lambda x: np.sum(np.stack([x[0], 2.0, x[2]]) ** 2),
    "stack(axis=1) @ c": lambda x: _s(_s(x[0], x[1]), _s(x[2], 1.0)).T @ np.array([1.0, 2.0]),
    "concatenate(stacks, lists)": lambda x: np.sum(
        np.concatenate([_s(x[0], x[1]), [x[2] * 1.0], np.array([3.0])]) ** 3
    ),
    "concatenate 2-d": lambda x: np.sum(
        np.concatenate([np.array([[x[0], x[1]]]), np.array([[1.0, x[2]]])], axis=0) ** 3
    ),
    "reshape.T @ c": lambda x: np.sum(_s(x[0], x[1], x[2], 1.0).reshape(2, 2).T @ [1.0, 3.0]),
    "matrix @ matrix": lambda x: np.sum(
        (np.array([[x[0], x[1]], [x[2], x[0]]]) @ np.array([[x[2], 1.0], [x[1], x[0]]])) ** 2
    ),
    "rows, entries, axis sums": lambda x: (
        np.sum(np.array([[x[0], x[1]], [x[2], x[0]]])[1] ** 2)
        + np.array([[x[0], x[1]], [x[2], x[0]]])[0, 1] * x[2]
        + np.sum(np.mean(np.array([[x[0], x[1]], [x[2], 1.0]]), axis=0) ** 2)
    ),
    "where of stacks": lambda x: np.sum(np.where(_s(x[0], x[1]) > 1.0, _s(x[2], x[0]), 0.5) ** 2),
    "stack * x": lambda x: np.sum(_s(x[2], x[0], x[1]) * x**2),
}


def _compiled_under_interception(f, backend):
    """``f`` compiled inside ``dualad.intercept()``, checked against the uncompiled API at
    the example point and a new one."""
    with dualad.intercept():
        cf = dualad.compile(f, X3, backend=backend)
    _check_against_uncompiled(cf, f, [X3, X3_NEW], V3, intercept=True)
    return cf


@pytest.mark.parametrize("name", list(BUILT))
def test_array_built_from_traced_scalars(name, backend):
    f = BUILT[name]
    cf = _compiled_under_interception(f, backend)
    if backend == "numba":  # compiled, not sent to the NumPy replay
        assert "NumPy replay" not in cf.report(), cf.report()


def test_long_stack_runs_in_numpy_between_kernels(backend):
    n = 70  # more elements than are computed one by one: np.stack runs in NumPy

    def f(x):
        return np.sum(np.stack([x[i] * x[(i + 1) % n] for i in range(n)]) ** 2)

    x = np.linspace(0.1, 1.0, n)
    cf = dualad.compile(f, x, backend=backend)
    xn = x[::-1].copy()
    np.testing.assert_allclose(cf.grad(xn), dualad.grad(f, xn), rtol=1e-13)
    v = np.cos(np.arange(n))
    np.testing.assert_allclose(cf.jvp(xn, v)[1], dualad.jvp(f, xn, v)[1], rtol=1e-13)


def test_numpy_step_reading_a_computed_scalar(backend):
    # numba: the stage kernel's seed parameter s<id> was overwritten by the scalar node of
    # the same number (exp(x[0]) here), so the gradient came out wrong without an error
    f = lambda x: sc.gamma(np.exp(x[0])) + x[1]
    x = np.array([0.3, 0.8])
    cf = dualad.compile(f, x, backend=backend)
    e = np.exp(0.3)
    want = [sc.gamma(e) * sc.digamma(e) * e, 1.0]
    np.testing.assert_allclose(cf.grad(x), want, rtol=1e-12)
    np.testing.assert_allclose(cf.grad(x), dualad.grad(f, x), rtol=1e-13)
    np.testing.assert_allclose(cf.jacobian(x), dualad.jacobian(f, x), rtol=1e-13)
    if backend == "numba":  # the gradient came from the stage kernels around gamma
        rep = cf.report()
        assert "step gamma runs in NumPy between stages" in rep, rep
        assert "not compiled" not in rep and "grad runs on the NumPy replay" not in rep, rep


# -- buffers under interception (np.zeros & co. take traced values) --------------------------


def _buffer_f(x):
    out = np.zeros(2)
    out[0] = x[0] * x[1]
    return np.sum(out**2)


def _buffer_views(x):
    out = np.zeros((2, 3))
    row = out[1]
    row[1:] = x[:2]
    out[0, ::2] += x[2]
    out[[0, 0], [1, 1]] = np.stack([x[1], x[0] ** 2])  # (the last write stays)
    return np.sum(np.sin(out) * np.arange(6.0).reshape(2, 3)) + np.prod(out[1, 1:])


def _buffer_out(x):
    out = np.ones(3)
    out[1:] = x[1:] ** 2
    return out * x[0]


def _buffer_large(x):
    out = np.zeros(300)  # too large to compute element by element: runs in NumPy
    out[3] = x[0] * x[1]
    out[10:13] = np.sin(x)
    return np.sum(out**2)


BUFFERS = {"out[0] = x0 x1": _buffer_f, "views": _buffer_views, "array output": _buffer_out,
           "large": _buffer_large}  # fmt: skip


@pytest.mark.parametrize("how", ["with intercept()", "intercept=True"])
def test_buffer_under_interception(how, backend):
    # crashed: "ValueError: setting an array element with a sequence" (np.zeros was a plain
    # array: the buffer's allocation was not seen as the user's under dualad.compile)
    x = np.array([0.5, 2.0])
    if how == "intercept=True":
        cf = dualad.compile(_buffer_f, x, backend=backend, intercept=True)
    else:
        with dualad.intercept():
            cf = dualad.compile(_buffer_f, x, backend=backend)
    for p in (x, np.array([-1.5, 0.25])):  # closed form: (x0 x1)^2
        a, b = p
        assert cf(p) == pytest.approx((a * b) ** 2, rel=1e-14)
        np.testing.assert_allclose(cf.grad(p), [2 * a * b * b, 2 * a * a * b], rtol=1e-14)
        H = [[2 * b * b, 4 * a * b], [4 * a * b, 2 * a * a]]
        np.testing.assert_allclose(cf.hessian(p), H, rtol=1e-14)
        np.testing.assert_allclose(cf.jacobian(p), dualad.jacobian(_buffer_f, p, intercept=True),
                                   rtol=1e-14)  # fmt: skip
    if backend == "numba":
        assert "NumPy replay" not in cf.report(), cf.report()


@pytest.mark.parametrize("name", list(BUFFERS))
def test_buffers_against_uncompiled(name, backend):
    f = BUFFERS[name]
    cf = _compiled_under_interception(f, backend)
    # and against central differences (the uncompiled API is no witness for itself)
    h = 1e-6
    ff = dualad._intercept.intercepting(f)
    for j in range(3):
        e = np.zeros(3)
        e[j] = h
        fd = (np.asarray(ff(X3_NEW + e)) - np.asarray(ff(X3_NEW - e))) / (2 * h)
        np.testing.assert_allclose(cf.jvp(X3_NEW, e / h)[1], fd, rtol=1e-6, atol=1e-8)


def test_buffer_branch_records_again_under_interception(backend):
    def f(x):
        out = np.zeros(2)
        out[0] = x[0] * x[1]
        if x[0] > 0:
            out[1] = np.sin(x[1])
        return np.sum(out**2)

    with dualad.intercept():
        cf = dualad.compile(f, np.array([0.5, 2.0]), backend=backend)
    x = np.array([-0.5, 1.5])  # the branch flips outside the block: recorded again under it
    np.testing.assert_allclose(cf.grad(x), dualad.grad(f, x, intercept=True), rtol=1e-14)
    assert cf.records == 2


_ORDER_SCRIPT = """
import sys, numpy as np, dualad
x = np.array([0.7, 1.3, 0.4])
f = lambda x: np.sum(np.sin(x) * x[0]) * 1.2345
if sys.argv[1] == "numba first":
    dualad.compile(lambda x: np.sum(x ** 3), x, cache_dir=sys.argv[2]).hessian(x)
with dualad.intercept():
    pass
cf = dualad.compile(f, x, cache_dir=sys.argv[2])
err = np.abs(cf.hessian(x[::-1]) - dualad.hessian(f, x[::-1])).max()
assert err < 1e-13, err
assert "NumPy replay" not in cf.report(), cf.report()
"""


@pytest.mark.parametrize("order", ["numba first", "interception first"])
def test_kernels_compile_after_interception_was_switched_on(order, tmp_path):
    # interception replaces np.zeros/np.empty in the numpy module for good (dormant
    # wrappers). The kernels called np.zeros: Numba knows only the object the module held
    # when it first compiled, so after interception every kernel that allocates (hvp here)
    # failed and went to the NumPy replay (in a fresh process: the order matters)
    pytest.importorskip("numba")
    import subprocess
    import sys

    cmd = [sys.executable, "-c", _ORDER_SCRIPT, order, str(tmp_path)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    assert r.returncode == 0, r.stderr[-3000:]


# -- values Python or a rule read at record time: guards, or decisions made at each call -------


def _central(f, x, h=1e-6):
    """Central differences of a scalar ``f`` at ``x``."""
    return np.array([(f(x + h * e) - f(x - h * e)) / (2 * h) for e in np.eye(x.size)])


def _check_at(f, x0, x1, backend, intercept=False, rtol=1e-12):
    """Compiled at x0; value and gradient at x0 and at x1 (where a decision differs) against
    the uncompiled API, and at x1 against central differences too."""
    cf = dualad.compile(f, x0, backend=backend, intercept=intercept)
    ff = dualad._intercept.intercepting(f) if intercept else f
    for x in (x0, x1):
        np.testing.assert_allclose(cf(x), ff(x), rtol=rtol)
        g = cf.grad(x)
        np.testing.assert_allclose(g, dualad.grad(f, x, intercept=intercept), rtol=rtol,
                                   atol=1e-14)  # fmt: skip
    np.testing.assert_allclose(g, _central(ff, x1), rtol=1e-6, atol=1e-7)
    return cf


SHAPES = {  # a shape that depends on values: read by Python, it was frozen without a guard
    "len(nonzero)": lambda x: np.sum(x) * len(np.nonzero(x > 0)[0]),
    "flatnonzero.size": lambda x: np.sum(x) * np.flatnonzero(x > 0).size,
    "mean by len": lambda x: np.sum(x[x > 0]) / len(x[x > 0]),
    ".shape[0]": lambda x: np.sum(x[x > 0] ** 2) / x[x > 0].shape[0],
    "np.size": lambda x: np.sum(x[x > 0]) * np.size(x[x > 0]),
    "loop": lambda x: sum(v**2 for v in x[x > 0]),
    "range(len)": lambda x: sum(x[i] for i in range(len(x[x > 0]))),
    "arange(shape)": lambda x: np.sum(x[x > 0] * np.arange(x[x > 0].shape[0])),
    "compress": lambda x: np.sum(np.compress(x > 0, x)) * len(np.compress(x > 0, x)),
}


@pytest.mark.parametrize("name", list(SHAPES))
def test_data_dependent_shape_is_a_guard(name, backend):
    # the count of x > 0 was read at record time (3) and kept: len(...) gave 3 at x1 (2
    # positives), a wrong value and gradient, or an IndexError/broadcast error
    x0, x1 = np.array([1.0, 2.0, -3.0, 4.0]), np.array([1.0, -2.0, -3.0, 5.0])
    cf = _check_at(SHAPES[name], x0, x1, backend)
    assert cf.records == 2


def test_same_count_keeps_the_variant(backend):
    f = lambda x: np.sum(x[x > 0]) / len(x[x > 0])
    cf = _check_at(f, np.array([1.0, 2.0, -3.0]), np.array([-1.0, 2.5, 3.0]), backend)
    assert cf.records == 1  # another mask, the same count: the shape guard holds


SLICE_BOUNDS = {  # a slice bound from the input: every call failed after the trace ended
    "x[argmax:]": lambda x: np.sum(x[np.argmax(x) :] ** 2),
    "x[:argmax+1]": lambda x: np.sum(x[: np.argmax(x) + 1] ** 2),
    "x[:count]": lambda x: np.sum(x[: np.sum(x > 1)] ** 3),
    "mask[argmax:]": lambda x: np.sum(
        np.where((x > 0)[np.argmax(x) :], 1.0, 2.0) * x[np.argmax(x) :]
    ),
}


@pytest.mark.parametrize("name", list(SLICE_BOUNDS))
def test_slice_bound_from_the_input_is_a_guard(name, backend):
    x0, x1 = np.array([1.5, 3.0, 2.0, 0.5]), np.array([4.0, 0.5, 0.2, 3.0])
    cf = _check_at(SLICE_BOUNDS[name], x0, x1, backend)
    assert cf.records == 2


MATH = {  # math.* under interception: record-time answers kept without a guard
    "isclose": (lambda x: x[0] ** 2 if math.isclose(x[0], 0.3) else x[0] ** 3,
                [0.3, 1.7], [2.6, -1.2]),
    "isnan": (lambda x: x[0] ** 2 if math.isnan(x[1] * np.inf) else x[0] ** 3,
              [0.5, 0.0], [0.5, 2.0]),
    "isinf": (lambda x: x[0] ** 2 if math.isinf(x[1] * 1e308 * 10) else x[0] ** 3,
              [0.5, 1.0], [0.5, 1e-9]),
    "isfinite": (lambda x: x[0] ** 2 if math.isfinite(x[1] * 1e308 * 10) else x[0] ** 3,
                 [0.5, 1.0], [0.5, 1e-9]),
    "fsum": (lambda x: math.fsum([x[0], x[1], -x[0]]) * x[1], [1e16, 1.0], [1.0, 2.0]),
    "frexp": (lambda x: math.frexp(x[0] * x[1])[0] * x[1] + math.frexp(x[0])[1],
              [0.3, 1.7], [2.6, -1.2]),
    "modf": (lambda x: math.modf(3 * x[0])[0] * x[1], [0.3, 1.7], [2.6, -1.2]),
    "remainder": (lambda x: math.remainder(4 * x[0], x[1]) * x[1], [0.3, 1.7], [2.6, -1.2]),
}  # fmt: skip
if hasattr(math, "sumprod"):
    MATH["sumprod"] = (lambda x: math.sumprod([x[0], x[1], -x[0]], [1.0, x[1], 1.0]),
                       [1e16, 1.0], [1.0, 2.0])  # fmt: skip


@pytest.mark.parametrize("name", list(MATH))
def test_math_decisions_under_interception(name, backend):
    # isclose & co. were answered from stripped values (no guard): cf(x1) took the recorded
    # branch; fsum's rounding correction was a constant (cf(x1) = 3, not 2); frexp, modf and
    # remainder raised a TypeError blaming `from math import`
    f, x0, x1 = MATH[name]
    cf = _check_at(f, np.array(x0), np.array(x1), backend, intercept=True)
    if name in ("fsum", "sumprod"):
        assert cf(np.array(x1)) == 4.0


SCIPY_DECISIONS = {  # decisions restatements made on stripped values at record time
    "logsumexp": (lambda x: sc.logsumexp(x), [0.0, 0.0], [1000.0, 999.0]),
    "logsumexp b=0": (lambda x: sc.logsumexp(x[:2], b=x[2:]), [1.0, 2.0, 0.0, 1.0],
                      [1.0, 2.0, 1.0, 1.0]),
    "logsumexp sign": (lambda x: sc.logsumexp(x[:2], b=x[2:], return_sign=True)[1] * x[0],
                       [1.0, 2.0, 1.0, 1.0], [1.0, 2.0, 1.0, -5.0]),
    "softmax": (lambda x: sc.softmax(x)[0], [0.0, 0.0], [1000.0, 999.0]),
    "laplace.cdf": (lambda x: np.sum(st.laplace.cdf(x)), [1.0], [-1.0]),
    "expon.cdf": (lambda x: np.sum(st.expon.cdf(x)), [-1.0], [0.5]),
    "gamma.logpdf": (lambda x: np.sum(st.gamma.logpdf(x, 2.0)), [-1.0], [1.5]),
    "norm.pdf scale": (lambda x: np.sum(st.norm.pdf(1.0, scale=x)), [-1.0], [2.0]),
    "logistic.logpdf": (lambda x: np.sum(st.logistic.logpdf(x)), [1.0], [-800.0]),
    "cauchy.logpdf": (lambda x: np.sum(st.cauchy.logpdf(x)), [0.5], [1e200]),
    "t.logsf": (lambda x: np.sum(st.t.logsf(x, 3.0)), [-1.0], [1e6]),
    "canberra": (lambda x: ssd.canberra(x[:2], x[2:]), [0.0, 2.0, 0.0, 4.0],
                 [1.0, 2.0, 3.0, 4.0]),
}  # fmt: skip


@pytest.mark.parametrize("name", list(SCIPY_DECISIONS))
def test_scipy_decisions_made_at_each_call(name, backend):
    # logsumexp at [1000, 1000] gave inf and [nan, nan] (the shift of [0, 0] kept);
    # laplace.cdf at -1 gave -0.359 (a negative CDF: the branch of z > 0 kept); canberra kept
    # its zero-denominator mask
    f, x0, x1 = SCIPY_DECISIONS[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        _check_at(f, np.array(x0), np.array(x1), backend, intercept=True, rtol=1e-9)


def test_t_logpdf_df_inf_at_each_call(backend):
    # df = inf is the normal density: the mask of finite df was kept from the record point
    f = lambda x: np.sum(st.t.logpdf(x[0], x[1]))
    x0, x1 = np.array([0.5, np.inf]), np.array([0.5, 3.0])
    cf = dualad.compile(f, x0, backend=backend, intercept=True)
    ff = dualad._intercept.intercepting(f)
    assert cf(x1) == pytest.approx(st.t.logpdf(0.5, 3.0), rel=1e-12)
    np.testing.assert_allclose(cf.grad(x1), dualad.grad(f, x1, intercept=True), rtol=1e-12)
    np.testing.assert_allclose(cf.grad(x1), _central(ff, x1), rtol=1e-6)
    assert cf(x0) == pytest.approx(st.norm.logpdf(0.5), rel=1e-12)


@pytest.mark.parametrize("name", ["eigh", "svd"])
def test_eigenvector_signs_at_each_call(name, backend):
    # eigh took SciPy's signs at the record point: 175 of 200 points disagreed with SciPy
    sl = pytest.importorskip("scipy.linalg")

    def f(x):
        a = np.reshape(x, (3, 3))
        a = a + a.T
        v = sl.eigh(a)[1] if name == "eigh" else sl.svd(a)[0]
        return np.sum(v * np.arange(1.0, 10.0).reshape(3, 3))

    rng = np.random.default_rng(0)
    cf = dualad.compile(f, rng.normal(size=9), backend=backend, intercept=True)
    for _ in range(20):
        x = rng.normal(size=9)
        a = np.reshape(x, (3, 3)) + np.reshape(x, (3, 3)).T
        v = sl.eigh(a)[1] if name == "eigh" else sl.svd(a)[0]
        assert cf(x) == pytest.approx(np.sum(v * np.arange(1.0, 10.0).reshape(3, 3)), rel=1e-10)
        np.testing.assert_allclose(cf.grad(x), dualad.grad(f, x, intercept=True), rtol=1e-8,
                                   atol=1e-10)  # fmt: skip


def test_grad_of_a_complex_output_raises(backend):
    # cf.grad silently kept the real part ([1, 1]); dualad.grad raises (a real f is needed)
    g = lambda x: np.sum(x * (1 + 2j))
    x = np.array([1.0, 2.0, 3.0])
    cf = dualad.compile(g, x, backend=backend)
    with pytest.raises(TypeError, match="real-valued"):
        dualad.grad(g, x)
    for method in ("grad", "value_and_grad", "hessian"):
        with pytest.raises(TypeError, match="real-valued"):
            getattr(cf, method)(x)
    np.testing.assert_allclose(cf.jacobian(x), dualad.jacobian(g, x, mode="forward"),
                               rtol=1e-15)  # fmt: skip
    np.testing.assert_allclose(cf.jacobian(x), np.full(3, 1 + 2j), rtol=1e-15)
    assert cf(2 * x) == g(2 * x)


def test_wrapper_inputs_on_both_backends(backend):
    # numba: cf(Dual) and dualad.grad(cf, x) raised np.asarray's TypeError (numpy backend ran)
    f = lambda x: np.sum(np.sin(x) * x) if x[0] > 0 else np.sum(x**3)
    x0 = np.array([0.3, 1.7])
    cf = dualad.compile(f, x0, backend=backend)
    for x in (x0, -x0):
        np.testing.assert_allclose(dualad.grad(cf, x), dualad.grad(f, x), rtol=1e-14)
        np.testing.assert_allclose(dualad.hessian(cf, x), dualad.hessian(f, x), rtol=1e-14)
        d = cf(dualad.Dual(x, np.ones(2)))
        assert d.tangent == pytest.approx(np.sum(dualad.grad(f, x)), rel=1e-14)
        np.testing.assert_allclose(cf.grad(x), _central(f, x), rtol=1e-6)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_indexing_with_the_tuple_np_where_returns(backend):
    # x[np.where(mask)] raised at compile (np.result_type of the index tuple)
    if backend == "numba":
        pytest.importorskip("numba")

    def g(x):
        return np.sum(x[np.where(x > 0.2)] ** 2)

    def h(x):
        m = x.reshape(2, 2)
        return np.sum(m[np.nonzero(m > 0.2)] ** 3)

    for f, x0, x1 in (
        (g, np.array([1.0, -2.0, 3.0]), np.array([-1.0, 2.0, 3.0])),
        (h, np.array([1.0, -2.0, 3.0, 0.5]), np.array([-1.0, 2.0, -3.0, 0.5])),
    ):
        cf = dualad.compile(f, x0, backend=backend)
        for x in (x0, x1, x0):  # the count of selected elements changes: a new variant
            np.testing.assert_allclose(cf(x), f(x), rtol=1e-15)
            np.testing.assert_allclose(cf.grad(x), dualad.grad(f, x), rtol=1e-15)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_second_order_through_decisions_under_interception(backend):
    # a decision step (scipy.stats' support mask, math.isclose) replayed on Duals for
    # cf.hessian/hvp handed Duals to SciPy's own function: TypeError
    if backend == "numba":
        pytest.importorskip("numba")
    st = pytest.importorskip("scipy.stats")
    import math

    def f(x):
        return np.sum(st.norm.logpdf(x) * x)

    def g(x):
        return x[0] ** 2 if math.isclose(x[0], 0.3) else x[0] ** 3 * x[1]

    for fn, points in (
        (f, [np.array([1.0, 2.0])]),
        (g, [np.array([0.3, 1.7]), np.array([2.6, -1.2])]),
    ):
        cf = dualad.compile(fn, points[0], backend=backend, intercept=True)
        for x in points + points[:1]:
            want = dualad.hessian(fn, x, intercept=True)
            np.testing.assert_allclose(cf.hessian(x), want, rtol=1e-12)
            np.testing.assert_allclose(cf.hvp(x, np.ones(2)), want @ np.ones(2), rtol=1e-12)


# -- a scalar broadcast over an array in the element graph: its adjoint sums over the loop --

_DATA = np.array([0.1, -0.3, 1.2, 0.7, 0.4])
BROADCAST = {
    "gauss_nll": (
        lambda p: np.sum(0.5 * ((_DATA - p[0]) / np.exp(p[1])) ** 2 + p[1]),
        np.array([0.2, -0.1]),
    ),
    "sum_x0_plus_slice": (lambda x: np.sum(x[0] + x[1:4]), np.array([0.6, -0.3, 0.4, -1.2])),
    "mean_slice_minus_x0": (lambda x: np.mean(x[1:] - x[0]), np.array([0.6, -0.3, 0.4, -1.2])),
    "constant_times_x0": (
        lambda x: np.sum(np.array([1.0, 2.0, 3.0, 4.0]) * x[0] + x[1]),
        np.array([0.6, -0.3, 0.4, -1.2]),
    ),
    "sum_squared": (lambda x: np.sum(x**2 + np.sum(x) ** 2), np.array([0.6, -0.3, 0.4, -1.2])),
    "sin_x0": (lambda x: np.sum(np.sin(x[0]) + x[1:4]), np.array([0.6, -0.3, 0.4, -1.2])),
}


@pytest.mark.parametrize("name", list(BROADCAST))
@pytest.mark.parametrize("backend", BACKENDS)
def test_scalar_broadcast_adjoint_sums_over_the_loop(name, backend):
    # the numba kernels added a broadcast scalar's per-element partial once (d/dx0 of
    # sum(x0 + x[1:4]) was 1, not 3); the Gaussian NLL's d/dlog(sigma) lost its + n
    f, x = BROADCAST[name]
    cf = dualad.compile(f, x, backend=backend)
    x2 = x + 0.05
    g = _central(f, x2)
    np.testing.assert_allclose(cf.grad(x2), g, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(cf.value_and_grad(x2)[1], g, rtol=1e-6, atol=1e-8)
    h = np.array(
        [(_central(f, x2 + e) - _central(f, x2 - e)) / 2e-4 for e in np.eye(x.size) * 1e-4]
    )
    np.testing.assert_allclose(cf.hessian(x2), h, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(cf.hvp(x2, x2), h @ x2, rtol=1e-5, atol=1e-5)


def test_many_numpy_steps_run_on_the_replay_not_hundreds_of_kernels():
    # a Kalman-like loop of matrix steps split into 200 compiled stages: Numba compiled for
    # minutes; past MAX_STAGES the variant runs on the NumPy replay (and says so)
    a = np.array([[1.0, 0.1], [0.0, 1.0]])

    def f(x):
        p = np.eye(2) * x[0]
        s = 0.0
        for _ in range(15):
            p = a @ p @ a.T + np.eye(2) * x[1] ** 2
            k = np.linalg.solve(p + np.eye(2), p)
            s = s + np.log(np.linalg.det(p)) + np.sum(k)
        return s

    x = np.array([0.7, 0.4])
    cf = dualad.compile(f, x, backend="numba")
    assert "NumPy replay" in cf.report()
    np.testing.assert_allclose(cf.grad(x), _central(f, x), rtol=1e-6)

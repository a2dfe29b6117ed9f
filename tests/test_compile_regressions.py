"""Regressions of ``dualad.compile`` found by fuzzing: each compares the compiled calls with
the uncompiled API (or a closed form) on both backends where both apply."""

import numpy as np
import pytest
import scipy.special as sc

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

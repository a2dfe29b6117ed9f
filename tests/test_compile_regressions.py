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

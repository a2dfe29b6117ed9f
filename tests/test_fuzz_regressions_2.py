"""Regressions found by fuzzing (second round): custom_vjp residuals, nested packed gradients,
transforms of Hessians, float16 sparse Jacobians, names in custom-rule errors."""

import gc

import numpy as np
import pytest

import dualad


def central(f, x, h=1e-6):
    """Central differences of a scalar ``f`` at a float64 array ``x``."""
    x = np.asarray(x, dtype=np.float64)
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = h
        g[i] = (f(x + e) - f(x - e)) / (2 * h)
    return g


# -- custom_vjp: one call's residuals never reach another call --------------------------------


@dualad.custom_vjp
def gscale(x, s):
    return x  # identity forward, gradient scaled by s


gscale.defvjp(lambda x, s: (x, s), lambda res, g: (g * res, None))


@pytest.mark.parametrize("mode", ["reverse", "forward"])
def test_custom_vjp_pass_through_output_keeps_each_calls_residuals(mode):
    # fwd returns its input object: the same output object on both calls
    f = lambda x: np.sum(gscale(x, 2.0)) + np.sum(gscale(x, 3.0))
    g = dualad.grad(f, np.array([1.0, 2.0]), mode=mode)
    np.testing.assert_allclose(g, [5.0, 5.0])


def test_custom_vjp_residuals_survive_freed_outputs():
    @dualad.custom_vjp
    def mul(x, k):
        return x * k

    mul.defvjp(lambda x, k: (x * k, k), lambda res, g: (g * res, None))

    def f(x):
        total = 0.0
        for k in range(40):  # more calls than any table of residuals would keep
            total = total + np.sum(mul(x, float(k)))
            gc.collect()  # outputs freed: their ids come back for later calls
        return total

    g = dualad.grad(f, np.array([1.0, 2.0]), mode="reverse")
    np.testing.assert_allclose(g, [780.0, 780.0])  # sum(range(40))


def test_custom_vjp_pass_through_second_order():
    f = lambda x: np.sum(gscale(x, 2.0) ** 2) + np.sum(gscale(x, 3.0) ** 2)
    # d/dx: 2*2*x + 2*3*x = 10 x (a custom gradient: not f's own), so H = 10 I
    np.testing.assert_allclose(dualad.hessian(f, np.array([1.0, 2.0])), 10 * np.eye(2))


# -- nested grad whose inner transform takes the packed-scalar path ---------------------------


@pytest.mark.parametrize("inner", ["auto", "forward"])
def test_grad_of_inner_grad_at_a_float(inner):
    # d/dx [d/dy x y^2 at y=2] = d/dx (4 x) = 4
    g = dualad.grad(lambda x: dualad.grad(lambda y: x * y * y, 2.0, mode=inner), 3.0)
    assert float(g) == pytest.approx(4.0)


@pytest.mark.parametrize("outer", ["auto", "reverse"])
def test_grad_of_inner_grad_at_a_tuple_and_a_dict(outer):
    # inner grad of x^2 a b^3 w.r.t. b: 3 x^2 a b^2; its x-derivative: 6 x a b^2 = 6*3*2*25
    def at_tuple(x):
        return dualad.grad(lambda p: x**2 * p[0] * p[1] ** 3, (2.0, 5.0))[1]

    def at_dict(x):
        return dualad.grad(lambda p: x**2 * p["a"] * p["b"] ** 3, {"a": 2.0, "b": 5.0})["b"]

    for f in (at_tuple, at_dict):
        assert float(dualad.grad(f, 3.0, mode=outer)) == pytest.approx(900.0)


def test_grad_of_inner_value_and_grad_at_a_float():
    def f(x):
        v, g = dualad.value_and_grad(lambda y: x * np.sin(y) * y, 2.0)
        return v + g

    want = 3 * np.sin(2.0) + 2 * np.cos(2.0)  # d/dx of x (2 sin 2) + x (2 cos 2 + sin 2)
    g = dualad.grad(lambda x: f(x[0]), np.array([0.7]), mode="reverse")
    assert float(g[0]) == pytest.approx(want)
    assert float(dualad.grad(f, 0.7)) == pytest.approx(want)


# -- transforms of a Hessian whose f closes over a traced value ------------------------------


@pytest.mark.parametrize("method", ["auto", "accumulate"])
@pytest.mark.parametrize("mode", ["auto", "forward", "reverse"])
def test_grad_of_accumulated_hessian_with_traced_closure(method, mode):
    y0 = np.arange(1.0, 12.0)  # more than HYPERDUAL_MAX_N inputs: "accumulate" by default

    def h_sum(a):
        def f(y):
            return a[0] * np.sum(y**3) + np.sum(np.sin(a[1] * y))

        return dualad.hessian(f, y0, method=method).sum()

    a0 = np.array([3.0, 0.5])
    want = central(lambda a: np.sum(6 * a[0] * y0 - a[1] ** 2 * np.sin(a[1] * y0)), a0)
    np.testing.assert_allclose(dualad.grad(h_sum, a0, mode=mode), want, rtol=1e-6)


def test_sparse_hessian_and_jacobian_of_traced_values_say_what_to_use():
    y0 = np.arange(1.0, 12.0)

    def h(a):
        return dualad.hessian(lambda y: a * np.sum(y**3), y0, method="sparse").sum()

    def j(a):
        return dualad.jacobian(lambda y: a * y, y0, mode="sparse").sum()

    for f, hint in ((h, "forward-over-reverse"), (j, "mode='forward'")):
        with pytest.raises(NotImplementedError, match=hint):
            dualad.grad(f, 3.0)


# -- float16 through the sparse door --------------------------------------------------------


def test_sparse_jacobian_at_float16():
    x = np.array([0.5, -1.2, 2.0], dtype=np.float16)
    J = dualad.jacobian(np.sin, x, mode="sparse").toarray()
    np.testing.assert_allclose(J, np.diag(np.cos(x.astype(np.float64))), rtol=2e-3)
    H = dualad.hessian(lambda v: np.sum(v**3), x, method="sparse").toarray()
    np.testing.assert_allclose(H, np.diag(6 * x.astype(np.float64)), rtol=2e-3)


# -- errors from user rules name the function ------------------------------------------------


def _wrong_shape(x):
    return np.sum(x)


_wrong_shape.__module__ = "__main__"  # as defined in a script
_wrong_shape.__qualname__ = "bad"


def test_custom_rule_error_names_the_function():
    bad = dualad.custom_jvp(_wrong_shape)
    bad.defjvp(lambda p, t: (bad(p[0]), t[0]))  # tangent shaped like x, not like the sum
    with pytest.raises(ValueError, match=r"^bad: the custom jvp returned shape \(3,\)"):
        dualad.grad(bad, np.ones(3))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("reduce", [np.mean, np.average])
def test_mean_of_an_empty_slice_in_reverse(reduce):
    # the reverse step divided by the number of entries, 0 here (ZeroDivisionError); the
    # gradient into an empty slice is empty whatever the factor
    x0 = np.arange(1.0, 5.0)

    def f(x):
        return np.nan_to_num(reduce(x[2:2])) + np.sum(x**3)

    want = 3 * x0**2
    for mode in ("forward", "reverse"):
        np.testing.assert_allclose(dualad.grad(f, x0, mode=mode), want, rtol=1e-15)
    np.testing.assert_allclose(dualad.hessian(f, x0, method="sparse").toarray(), np.diag(6 * x0))

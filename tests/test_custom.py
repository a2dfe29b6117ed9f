"""Custom rules (dualad.defrule, custom_jvp, custom_vjp) on functions that call compiled code.

Every derivative is compared with central differences of the plain function (or a closed
form), in forward and reverse mode, nested inside another derivative, and in Hessians.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import math

import numpy as np
import pytest

import dualad
import tape
from tests._check import central_jacobian

quad = pytest.importorskip("scipy.integrate").quad


def central(f, x, h=1e-6):
    return central_jacobian(f, x, h)


def plain_only(x):
    """What compiled code does with its argument: a Dual or Variable is refused."""
    return np.array(x, dtype=float)


# -- a libm function through ctypes ---------------------------------------------------------

_LIBM = ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")
_LIBM.sin.restype = ctypes.c_double
_LIBM.sin.argtypes = [ctypes.c_double]
_LIBM.cos.restype = ctypes.c_double
_LIBM.cos.argtypes = [ctypes.c_double]


def _c_map(cfun, x):
    x = plain_only(x)
    return np.array([cfun(float(v)) for v in x.ravel()]).reshape(x.shape)


# c_sin's derivative calls c_cos, whose derivative calls c_sin: every order has a rule
c_cos = None
c_sin = dualad.defrule(
    functools.partial(_c_map, _LIBM.sin), jvp=lambda t, out, x: c_cos(x) * t[0], name="c_sin"
)
c_cos = dualad.defrule(
    functools.partial(_c_map, _LIBM.cos), jvp=lambda t, out, x: -c_sin(x) * t[0], name="c_cos"
)


def compiled_program(x):
    return np.sum(c_sin(x) * x**2) + c_cos(x[0]) * x[1]


X = np.array([0.3, -1.2, 2.0])


def test_compiled_code_refuses_wrappers_without_a_rule():
    with pytest.raises(TypeError):
        dualad.grad(lambda x: _c_map(_LIBM.sin, x).sum(), X)


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_ctypes_gradient_both_modes(mode):
    g = dualad.grad(compiled_program, X, mode=mode)
    np.testing.assert_allclose(g, central(compiled_program, X), rtol=1e-7, atol=1e-8)


def test_ctypes_value_is_the_compiled_one():
    np.testing.assert_array_equal(c_sin(X), _c_map(_LIBM.sin, X))
    v, g = dualad.value_and_grad(compiled_program, X)
    assert v == compiled_program(X)
    np.testing.assert_allclose(g, dualad.grad(compiled_program, X), rtol=1e-14)


@pytest.mark.parametrize("mode", ["forward", "reverse", "auto"])
def test_ctypes_jacobian(mode):
    f = lambda x: c_sin(x) * x[::-1]
    np.testing.assert_allclose(
        dualad.jacobian(f, X, mode=mode), central(f, X).T, rtol=1e-7, atol=1e-8
    )


def test_ctypes_hessian_and_nested():
    h = dualad.hessian(compiled_program, X)
    ref = central(lambda x: dualad.grad(compiled_program, x), X)
    np.testing.assert_allclose(h, ref, rtol=1e-6, atol=1e-7)
    # closed form of d2/dx2 sin(x) = -sin(x), nested grad of grad in both orders
    for outer, inner in (("forward", "reverse"), ("reverse", "forward"), ("reverse", "reverse")):
        d2 = dualad.grad(
            lambda x, inner=inner: dualad.grad(lambda y: c_sin(y).sum(), x, mode=inner).sum(),
            X,
            mode=outer,
        )
        np.testing.assert_allclose(d2, -np.sin(X), rtol=1e-12)


def test_ctypes_hvp_and_tape_doors():
    v = np.array([1.0, 0.5, -2.0])
    hv = dualad.hvp(compiled_program, X, v)
    np.testing.assert_allclose(hv, dualad.hessian(compiled_program, X) @ v, rtol=1e-10)
    x = tape.Variable(X.copy(), requires_grad=True)
    compiled_program(x).backward()
    np.testing.assert_allclose(x.grad, central(compiled_program, X), rtol=1e-7, atol=1e-8)
    with tape.Tape() as t:
        w = t.watch(X.copy())
        y = compiled_program(w)
    assert "c_sin" in str(t)  # the Wengert list names the custom function
    np.testing.assert_allclose(t.gradient(y, w), x.grad, rtol=1e-12)


# -- scipy.integrate.quad: the derivative of an integral is an integral ------------------------


@functools.cache
def moment(p: int):
    """I_p(theta) = int_0^1 t^p exp(theta t) dt by quad; dI_p/dtheta = I_{p+1}."""

    def integral(theta):
        theta = plain_only(theta)
        out = [quad(lambda t, th=th: t**p * math.exp(th * t), 0.0, 1.0)[0] for th in theta.ravel()]
        return np.array(out).reshape(theta.shape)

    return dualad.defrule(integral, jvp=lambda t, out, theta: moment(p + 1)(theta) * t[0])


def closed_moment(theta, p):
    return np.array([quad(lambda t, th=th: t**p * math.exp(th * t), 0, 1)[0] for th in theta])


TH = np.array([0.5, -1.0])


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_quad_gradient_against_closed_form(mode):
    # d/dtheta int exp(theta t) dt = int t exp(theta t) dt = (e^th (th - 1) + 1) / th^2
    g = dualad.grad(lambda th: moment(0)(th).sum(), TH, mode=mode)
    ref = (np.exp(TH) * (TH - 1) + 1) / TH**2
    np.testing.assert_allclose(g, ref, rtol=1e-10)


def test_quad_hessian_and_third_order():
    f = lambda th: np.sum(moment(0)(th) * th)
    h = dualad.hessian(f, TH)
    ref = central(lambda th: dualad.grad(f, th), TH)
    np.testing.assert_allclose(h, ref, rtol=1e-6, atol=1e-8)
    d3 = dualad.grad(
        lambda th: dualad.grad(
            lambda s: dualad.grad(lambda r: moment(0)(r).sum(), s).sum(), th
        ).sum(),
        TH,
    )
    np.testing.assert_allclose(d3, closed_moment(TH, 3), rtol=1e-10)


# -- vjp-only and jvp-only rules: the other mode through the Jacobian ---------------------------


def _matvec_plain(a, x):
    return plain_only(a) @ plain_only(x)


matvec_vjp_only = dualad.defrule(
    _matvec_plain,
    vjp=lambda g, out, a, x: (np.outer(g, x), a.T @ g),
    name="matvec_vjp_only",
)
matvec_jvp_only = dualad.defrule(
    _matvec_plain, jvp=lambda t, out, a, x: t[0] @ x + a @ t[1], name="matvec_jvp_only"
)
A = np.array([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]])


@pytest.mark.parametrize("mv", [matvec_vjp_only, matvec_jvp_only])
@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_one_rule_serves_both_modes(mv, mode):
    f = lambda x: np.tanh(mv(A * x[0], x))
    np.testing.assert_allclose(
        dualad.jacobian(f, X, mode=mode), central(f, X).T, rtol=1e-7, atol=1e-9
    )
    ga = dualad.grad(lambda a: np.sum(mv(a, X) ** 2), A, mode=mode)
    np.testing.assert_allclose(ga, central(lambda a: np.sum(_matvec_plain(a, X) ** 2), A))


@pytest.mark.parametrize("mv", [matvec_vjp_only, matvec_jvp_only])
def test_one_rule_second_order(mv):
    f = lambda x: np.sum(mv(A, x) ** 3)
    ref = central(lambda x: dualad.grad(f, x, mode="forward"), X)
    np.testing.assert_allclose(dualad.hessian(f, X), ref, rtol=1e-6, atol=1e-7)


def test_batched_rule_and_kwargs():
    calls = []

    def jvp(dots, out, x, *, scale=1.0):
        calls.append(dots[0].shape)
        return scale * np.cos(plain_only(x)) * dots[0]

    def plain_sin(x, *, scale=1.0):
        return scale * np.sin(plain_only(x))

    f = dualad.defrule(plain_sin, jvp=jvp, batched=True)
    j = dualad.jacobian(lambda x: f(x, scale=2.0), X, mode="forward")
    np.testing.assert_allclose(j, np.diag(2 * np.cos(X)), rtol=1e-14)
    assert calls == [(3, 3)]  # the three directions in one call


# -- JAX-style decorators ---------------------------------------------------------------------


@dualad.custom_jvp
def logaddexp_stable(x, y):
    return plain_only(np.logaddexp(plain_only(x), plain_only(y)))


@logaddexp_stable.defjvp
def _logaddexp_jvp(primals, tangents):
    x, y = primals
    tx, ty = tangents
    out = logaddexp_stable(x, y)
    return out, tx * np.exp(x - out) + ty * np.exp(y - out)


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_custom_jvp_decorator(mode):
    f = lambda v: np.sum(logaddexp_stable(v[:2], v[1:]) * v[:2])
    g = dualad.grad(f, X, mode=mode)
    ref = central(lambda v: np.sum(np.logaddexp(v[:2], v[1:]) * v[:2]), X)
    np.testing.assert_allclose(g, ref, rtol=1e-7, atol=1e-9)
    h = dualad.hessian(f, X)
    href = central(lambda v: dualad.grad(f, v), X)
    np.testing.assert_allclose(h, href, rtol=1e-6, atol=1e-7)


def test_custom_vjp_decorator_residuals_and_forward():
    fwd_calls = []

    @dualad.custom_vjp
    def c_exp(x):
        return np.exp(plain_only(x))

    def fwd(x):
        fwd_calls.append(1)
        y = np.exp(plain_only(x))
        return y, y  # the residual is the result itself

    def bwd(res, g):
        return (g * res,)

    c_exp.defvjp(fwd, bwd)
    f = lambda x: np.sum(c_exp(x) * x)
    ref = central(lambda x: np.sum(np.exp(x) * x), X)
    np.testing.assert_allclose(dualad.grad(f, X, mode="reverse"), ref, rtol=1e-7)
    assert len(fwd_calls) == 1  # the backward pass reused the residuals
    np.testing.assert_allclose(dualad.grad(f, X, mode="forward"), ref, rtol=1e-7)


def test_wrong_shapes_and_counts_raise():
    bad = dualad.defrule(lambda x: plain_only(x) * 2, jvp=lambda t, out, x: np.ones(5))
    with pytest.raises(ValueError, match="shape"):
        dualad.grad(lambda x: bad(x).sum(), X, mode="forward")
    bad2 = dualad.defrule(lambda x, y: plain_only(x) * y, vjp=lambda g, out, x, y: (g,))
    with pytest.raises(ValueError, match="2 positional"):
        dualad.grad(lambda x: bad2(x, 2.0).sum(), X, mode="reverse")
    with pytest.raises(TypeError, match="jvp=, vjp="):
        dualad.defrule(lambda x: x)
    with pytest.raises(ValueError, match="already has a derivative"):
        dualad.defrule(np.sin, jvp=lambda t, out, x: t[0])


def test_plain_calls_untouched():
    assert c_sin(0.5) == pytest.approx(math.sin(0.5))
    np.testing.assert_array_equal(logaddexp_stable(X, X), np.logaddexp(X, X))


# -- one mode from the other: transposed by tracing, the Jacobian only as a fallback ----------


def _np_sin(x):
    return np.sin(plain_only(x))


def test_transposed_by_tracing_at_scale():
    # 10^5 elements: a Jacobian would be 80 GB; the traced transpose is one rule call
    x = np.linspace(-2, 2, 10**5)
    sin_j = dualad.defrule(_np_sin, jvp=lambda t, out, x: np.cos(x) * t[0])
    sin_v = dualad.defrule(_np_sin, vjp=lambda g, out, x: (np.cos(x) * g,))
    ref = np.cos(x) * x + np.sin(x)
    g = dualad.grad(lambda x: np.sum(sin_j(x) * x), x, mode="reverse")
    np.testing.assert_allclose(g, ref, rtol=1e-12, atol=1e-15)
    v = np.cos(3 * x)
    _, t = dualad.jvp(lambda x: np.sum(sin_v(x) * x), x, v)  # forward: one direction
    np.testing.assert_allclose(t, ref @ v, rtol=1e-9, atol=1e-9)


def test_untraceable_rules_fall_back_to_the_jacobian():
    # rules that hand the tangent/cotangent to compiled code cannot be traced
    jvp_c = lambda t, out, x: np.cos(plain_only(x)) * plain_only(t[0])
    vjp_c = lambda g, out, x: (np.cos(plain_only(x)) * plain_only(g),)
    sin_j = dualad.defrule(_np_sin, jvp=jvp_c)
    sin_v = dualad.defrule(_np_sin, vjp=vjp_c)
    ref = np.cos(X) * X + np.sin(X)
    for f, mode in ((sin_j, "reverse"), (sin_v, "forward")):
        g = dualad.grad(lambda x, f=f: np.sum(f(x) * x), X, mode=mode)
        np.testing.assert_allclose(g, ref, rtol=1e-12)
    big = np.zeros(10**4)
    with pytest.raises(NotImplementedError, match="give vjp= too"):
        dualad.grad(lambda x: np.sum(sin_j(x)), big, mode="reverse")
    with pytest.raises(NotImplementedError, match="give jvp= too"):
        dualad.jvp(lambda x: sin_v(x), big, big)


def test_custom_vjp_second_order():
    @dualad.custom_vjp
    def softplus(x):
        return np.log1p(np.exp(x))

    softplus.defvjp(lambda x: (softplus.fun(x), x), lambda x, g: (g / (1 + np.exp(-x)),))
    f = lambda x: np.sum(softplus(x) * x)
    ref = central(lambda x: dualad.grad(f, x, mode="reverse"), X)
    np.testing.assert_allclose(dualad.hessian(f, X), ref, rtol=1e-6, atol=1e-8)
    s = 1 / (1 + np.exp(-X))
    np.testing.assert_allclose(
        np.diag(dualad.hessian(lambda x: np.sum(softplus(x)), X)), s * (1 - s), rtol=1e-12
    )


def test_rules_made_in_a_loop_do_not_accumulate():
    import gc
    import weakref

    from dualad.rules import RULES

    before = len(RULES)
    refs = []
    for k in range(50):
        g = dualad.defrule(lambda x, k=k: plain_only(x) * k, jvp=lambda t, out, x, k=k: k * t[0])
        assert dualad.grad(lambda x, g=g: np.sum(g(x)), X)[0] == k
        refs.append(weakref.ref(g))
        del g
    gc.collect()
    assert len(RULES) == before  # the rule lives on its function, not in the table
    assert sum(r() is not None for r in refs) <= 1

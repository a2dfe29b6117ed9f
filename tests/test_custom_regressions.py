"""Regressions in custom rules (defrule, custom_jvp, custom_vjp) found by fuzzing.

Each derivative is compared with a closed form or central differences of the plain
function; each error case checks that dualad raises instead of returning a wrong number.
"""

from __future__ import annotations

import numpy as np
import pytest

import dualad
import tape
from tests._check import central_jacobian

X = np.array([0.25, 1.0, 4.0])
V = np.array([1.0, -2.0, 0.5])


def plain_only(x):
    """What compiled code does with its argument: a Dual or Variable is refused."""
    return np.array(x, dtype=float)


# -- S1: a rule that tests its tangent / cotangent for zero, transposed -----------------------


@dualad.custom_jvp
def safe_sqrt(a):
    return np.sqrt(a)


@safe_sqrt.defjvp
def _safe_sqrt_jvp(p, t):
    s = safe_sqrt(p[0])
    return s, np.where(t[0] == 0, 0.0, t[0] / (2 * np.where(s == 0, 1.0, s)))


@dualad.custom_vjp
def sqrt_v(a):
    return np.sqrt(a)


sqrt_v.defvjp(
    lambda a: (np.sqrt(a), np.sqrt(a)), lambda s, g: (np.where(g == 0, 0.0, g / (2 * s)),)
)

sqrt_early = dualad.defrule(
    lambda a: np.sqrt(plain_only(a)),
    jvp=lambda t, out, a: np.zeros_like(out) if not np.any(t[0]) else t[0] / (2 * out),
    name="sqrt_early",
)


@pytest.mark.parametrize("fn", [safe_sqrt, sqrt_early], ids=["custom_jvp", "defrule"])
def test_jvp_rule_testing_for_zero_tangents_in_reverse_mode(fn):
    want = 0.5 / np.sqrt(X)
    g = dualad.grad(lambda a: np.sum(fn(a)), X, mode="reverse")
    np.testing.assert_allclose(g, want, rtol=1e-14)
    np.testing.assert_allclose(dualad.jacobian(fn, X, mode="reverse"), np.diag(want), rtol=1e-14)
    np.testing.assert_allclose(dualad.vjp(fn, X, V)[1], V * want, rtol=1e-14)
    with tape.Tape() as t:
        xv = t.watch(X)
        y = np.sum(fn(xv) * xv)
    np.testing.assert_allclose(t.gradient(y, xv), 1.5 * np.sqrt(X), rtol=1e-14)


def test_vjp_rule_testing_for_zero_cotangent_in_forward_mode():
    want = 0.5 / np.sqrt(X)
    g = dualad.grad(lambda a: np.sum(sqrt_v(a)), X, mode="forward")
    np.testing.assert_allclose(g, want, rtol=1e-14)
    np.testing.assert_allclose(dualad.jvp(sqrt_v, X, V)[1], V * want, rtol=1e-14)
    np.testing.assert_allclose(dualad.jacobian(sqrt_v, X, mode="forward"), np.diag(want))
    np.testing.assert_allclose(dualad.derivative(sqrt_v, X), want, rtol=1e-14)


@pytest.mark.parametrize("method", ["auto", "accumulate", "forward-over-reverse"])
def test_zero_testing_rules_at_second_order(method):
    # sum(x * sqrt(x)) = sum(x^1.5): Hessian diag(0.75 / sqrt(x))
    want = np.diag(0.75 / np.sqrt(X))
    for fn in (safe_sqrt, sqrt_v):
        f = lambda a, fn=fn: np.sum(fn(a) * a)
        np.testing.assert_allclose(dualad.hessian(f, X, method=method), want, rtol=1e-13)
        np.testing.assert_allclose(dualad.hvp(f, X, V), want @ V, rtol=1e-13)


def test_rule_that_is_not_linear_raises_when_transposed():
    # a constant term: forward mode takes it as stated, but no transpose matches it
    affine = dualad.defrule(
        lambda a: 2.0 * plain_only(a), jvp=lambda t, out, a: 2.0 * t[0] + 1.0, name="affine"
    )
    with pytest.raises(ValueError, match="affine: its jvp rule is not linear"):
        dualad.grad(lambda a: np.sum(affine(a)), X, mode="reverse")
    affine_v = dualad.defrule(
        lambda a: 2.0 * plain_only(a), vjp=lambda g, out, a: (2.0 * g + 1.0,), name="affine_v"
    )
    with pytest.raises(ValueError, match="affine_v: its vjp rule is not linear"):
        dualad.jvp(affine_v, X, V)


# -- S3, E8: results that are dicts, tuples, lists ---------------------------------------------


def _sc_dict(a):
    return {"s": np.sin(plain_only(a)), "c": np.cos(plain_only(a))}


def _sc_tuple(a):
    return np.sin(plain_only(a)), np.cos(plain_only(a))


def _sc_list(a):
    return [np.sin(plain_only(a)), np.cos(plain_only(a))]


_MAKE = {
    "dict": lambda s, c: {"s": s, "c": c},
    "tuple": lambda s, c: (s, c),
    "list": lambda s, c: [s, c],
}
_FUN = {"dict": _sc_dict, "tuple": _sc_tuple, "list": _sc_list}
_KEYS = {"dict": ("s", "c"), "tuple": (0, 1), "list": (0, 1)}


def _structured(kind: str, how: str):
    fun, mk = _FUN[kind], _MAKE[kind]
    ks, kc = _KEYS[kind]
    jvp = lambda t, out, a: mk(np.cos(a) * t[0], -np.sin(a) * t[0])
    vjp = lambda g, out, a: (g[ks] * np.cos(a) - g[kc] * np.sin(a),)
    if how == "custom_jvp":
        F = dualad.custom_jvp(fun)
        F.defjvp(lambda p, t: (F(*p), jvp(t, None, *p)))
        return F
    if how == "custom_vjp":
        F = dualad.custom_vjp(fun)
        F.defvjp(lambda a: (fun(a), a), lambda a, g: vjp(g, None, a))
        return F
    return dualad.defrule(fun, jvp=jvp if "jvp" in how else None, vjp=vjp if "vjp" in how else None)


_HOWS = ["custom_jvp", "custom_vjp", "defrule jvp", "defrule vjp", "defrule jvp vjp"]


@pytest.mark.parametrize("how", _HOWS)
@pytest.mark.parametrize("kind", ["dict", "tuple", "list"])
def test_structured_results_in_both_modes(kind, how):
    F = _structured(kind, how)
    ks, kc = _KEYS[kind]
    f = lambda a: np.sum(F(a)[ks] * F(a)[kc] ** 2 + F(a)[ks])
    ref = central_jacobian(lambda a: np.sum(np.sin(a) * np.cos(a) ** 2 + np.sin(a)), X, 1e-6)
    for mode in ("forward", "reverse"):
        np.testing.assert_allclose(dualad.grad(f, X, mode=mode), ref, rtol=1e-8, atol=1e-9)
        j = dualad.jacobian(lambda a: F(a)[kc], X, mode=mode)
        np.testing.assert_allclose(j, np.diag(-np.sin(X)), atol=1e-15)
    y, y_dot = dualad.jvp(F, X, V)
    assert type(y) is type(F(X)) and type(y_dot) is type(F(X))
    np.testing.assert_allclose(y_dot[ks], np.cos(X) * V, rtol=1e-14)
    np.testing.assert_allclose(y_dot[kc], -np.sin(X) * V, rtol=1e-14)
    with tape.Tape() as t:
        xv = t.watch(X)
        out = F(xv)
        assert isinstance(out[ks], tape.Variable)
        y = np.sum(out[ks])
    np.testing.assert_allclose(t.gradient(y, xv), np.cos(X), rtol=1e-14)


@pytest.mark.parametrize("kind", ["dict", "tuple"])
def test_structured_results_second_order(kind):
    F = _structured(kind, "custom_jvp")
    ks, kc = _KEYS[kind]
    f = lambda a: np.sum(F(a)[ks] * F(a)[kc])  # sum(sin(2x) / 2): Hessian diag(-2 sin(2x))
    want = np.diag(-2 * np.sin(2 * X))
    for method in ("auto", "accumulate", "forward-over-reverse"):
        np.testing.assert_allclose(dualad.hessian(f, X, method=method), want, atol=1e-13)


def test_tangent_of_the_wrong_structure_raises():
    F = dualad.custom_jvp(_sc_dict)
    F.defjvp(lambda p, t: (F(*p), (np.cos(p[0]) * t[0], -np.sin(p[0]) * t[0])))
    with pytest.raises(ValueError, match="returned a tuple where the function returns a dict"):
        dualad.jvp(F, X, V)


# -- S4, E7: derivatives inside containers or keyword arguments: a clear error ------------------


_pair = dualad.defrule(
    lambda ab: plain_only(ab[0]) * plain_only(ab[1]),
    jvp=lambda t, out, ab: t[0][0] * ab[1] + ab[0] * t[0][1],
    name="pair",
)
_pair_v = dualad.defrule(
    lambda ab: plain_only(ab[0]) * plain_only(ab[1]),
    vjp=lambda g, out, ab: ((g * ab[1], g * ab[0]),),
    name="pair_v",
)


@pytest.mark.parametrize("fn", [_pair, _pair_v], ids=["jvp", "vjp"])
@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_sequence_argument_with_a_derivative_raises(fn, mode):
    for wrap in (tuple, list):
        with pytest.raises(NotImplementedError, match="pair.*not lists/tuples"):
            dualad.grad(lambda a, w=wrap: np.sum(fn(w((a, np.cos(a))))), X, mode=mode)
    with pytest.raises(NotImplementedError, match="not lists/tuples/dicts"):
        dualad.grad(lambda a: np.sum(fn({0: a, 1: a})), X, mode=mode)


def _prod(a, b=None):
    return plain_only(a) * plain_only(b)


@dualad.custom_jvp
def _prod_j(a, b=None):
    return _prod(a, b)


@_prod_j.defjvp
def _prod_j_jvp(p, t, **kw):
    return _prod_j(p[0], **kw), t[0] * kw["b"]


@dualad.custom_vjp
def _prod_v(a, b=None):
    return _prod(a, b)


_prod_v.defvjp(lambda a, b=None: (_prod(a, b), b), lambda b, g: (g * b,))
_prod_d = dualad.defrule(_prod, jvp=lambda t, out, a, b=None: t[0] * b, name="prod_d")


@pytest.mark.parametrize("fn", [_prod_d, _prod_j, _prod_v], ids=["defrule", "jvp", "vjp"])
@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_keyword_argument_with_a_derivative_raises(fn, mode):
    y = np.cos(X)
    with pytest.raises(NotImplementedError, match="keyword argument 'b' carries a derivative"):
        dualad.grad(lambda b: np.sum(fn(X, b=b)), y, mode=mode)
    # a keyword argument without a derivative reaches the rule as a keyword
    np.testing.assert_allclose(dualad.grad(lambda a: np.sum(fn(a, b=y)), X, mode=mode), y)


# -- E1: interception in force while the reverse sweep runs the rules ---------------------------


@dualad.custom_vjp
def _cube(x):
    return plain_only(x) ** 3


_cube.defvjp(lambda x: (x**3, np.asarray(x) ** 2), lambda r, g: (3.0 * r * g,))
_cube_j = dualad.defrule(
    lambda x: plain_only(x) ** 3, jvp=lambda t, out, x: 3.0 * np.asarray(x) ** 2 * t[0]
)


@pytest.mark.parametrize("fn", [_cube, _cube_j], ids=["custom_vjp", "defrule"])
def test_intercept_true_reaches_rules_run_by_the_reverse_sweep(fn):
    f = lambda x: np.sum(fn(x))
    want = np.diag(6.0 * X)
    np.testing.assert_allclose(dualad.hvp(f, X, V, intercept=True), want @ V, rtol=1e-14)
    for method in ("accumulate", "forward-over-reverse"):
        h = dualad.hessian(f, X, method=method, intercept=True)
        np.testing.assert_allclose(h, want, rtol=1e-14)


# -- E6: a jvp rule that writes its tangent into a plain buffer --------------------------------


def _buffer_jvp(t, out, a):
    r = np.empty(out.shape)
    for i in range(len(out)):
        r[i] = out[i] * t[0][i]
    return r


def test_rule_writing_tangents_into_a_buffer_falls_back_to_the_jacobian():
    E = dualad.defrule(lambda a: np.exp(plain_only(a)), jvp=_buffer_jvp, name="buf_exp")
    f = lambda a: np.sum(E(a) * a)
    want = np.exp(X) * (1 + X)
    for mode in ("forward", "reverse"):
        np.testing.assert_allclose(dualad.grad(f, X, mode=mode), want, rtol=1e-14)
    np.testing.assert_allclose(dualad.vjp(E, X, V)[1], np.exp(X) * V, rtol=1e-14)


def test_genuine_error_in_a_rule_is_not_swallowed_by_the_fallback():
    def jvp(t, out, a):
        raise ValueError("a genuine mistake")

    E = dualad.defrule(lambda a: np.exp(plain_only(a)), jvp=jvp, name="broken")
    with pytest.raises(ValueError, match="a genuine mistake"):
        dualad.grad(lambda a: np.sum(E(a)), X, mode="reverse")


# -- E9: the caller's tangent is never handed to a rule to write into --------------------------


def _inplace_jvp(t, out, a):
    t0 = t[0]
    t0 *= out
    return t0


def test_rule_writing_into_its_tangent_cannot_change_the_callers_v():
    E = dualad.defrule(lambda a: np.exp(plain_only(a)), jvp=_inplace_jvp, name="inplace_exp")
    v = V.copy()
    with pytest.raises(ValueError, match="read-only"):
        dualad.jvp(lambda a: E(a) + a, X, v)
    np.testing.assert_array_equal(v, V)
    # a rule that returns its tangent itself is fine, and so is writing into the result
    ident = dualad.defrule(lambda a: plain_only(a), jvp=lambda t, out, a: t[0], name="ident")

    def g(a):
        y = ident(a)
        y[0] = 0.0
        return 2.0 * y

    _, y_dot = dualad.jvp(g, X, v)
    np.testing.assert_array_equal(y_dot, [0.0, 2.0 * V[1], 2.0 * V[2]])
    np.testing.assert_array_equal(v, V)


def test_result_with_an_integer_leaf():
    def sin_and_order(a):
        a = plain_only(a)
        return {"y": np.sin(a), "order": np.argsort(a)}

    F = dualad.custom_jvp(sin_and_order)
    F.defjvp(lambda p, t: (F(*p), {"y": np.cos(p[0]) * t[0], "order": None}))
    G = dualad.defrule(sin_and_order, vjp=lambda g, out, a: (g["y"] * np.cos(a),))
    for fn in (F, G):
        for mode in ("forward", "reverse"):
            g = dualad.grad(lambda a, fn=fn: np.sum(fn(a)["y"]), X, mode=mode)
            np.testing.assert_allclose(g, np.cos(X), rtol=1e-14)
        np.testing.assert_array_equal(dualad.jvp(fn, X, V)[0]["order"], [0, 1, 2])


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_ill_conditioned_linear_rules_pass_the_linearity_check(mode):
    # the check's tolerance (1e-8 of the terms) rejected linear rules that round at ~1e-6:
    # a solve with a Hilbert matrix (cond 1.6e13), t * (1e10 + 1) - t * 1e10
    import scipy.linalg as sl

    h = sl.hilbert(10)
    solve = dualad.defrule(
        lambda a: np.linalg.solve(h, a), vjp=lambda c, o, a: (np.linalg.solve(h.T, c),),
        name="hilbert_solve",
    )  # fmt: skip
    x = np.linspace(0.1, 1.0, 10)
    inv = np.linalg.inv(h)
    got = dualad.jacobian(solve, x, mode=mode)
    assert np.abs(got - inv).max() <= 1e-6 * np.abs(inv).max()
    cancel = dualad.defrule(
        lambda a: a * 1.0, jvp=lambda t, o, a: t[0] * (1e10 + 1) - t[0] * 1e10, name="cancel"
    )
    g = dualad.grad(lambda z: np.sum(cancel(z)), np.array([1.0, 2.0]), mode="reverse")
    np.testing.assert_allclose(g, [1.0, 1.0], rtol=1e-5)

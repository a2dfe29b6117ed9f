"""``tape.Tape``: context, nesting, persistence, pytrees, seeds, errors, threads, and the
reverse-mode API functions built on it (vjp, grad, jacobian, hvp, hessian).

Every derivative is compared with a closed form or with central differences.
"""

from __future__ import annotations

import importlib
import itertools
import threading
from collections import namedtuple

import numpy as np
import pytest

import dualad
import tape
from tape import Tape
from tests.tape._numdiff import numgrad, numgrad_tree, numjac

Point = namedtuple("Point", ["p", "q"])


# -- context manager ------------------------------------------------------------------------


def test_context_sets_and_resets_current():
    assert tape.current() is None
    with Tape() as t:
        assert tape.current() is t
    assert tape.current() is None


def test_nested_tapes_current_is_innermost():
    with Tape() as outer:
        with Tape() as inner:
            assert tape.current() is inner
        assert tape.current() is outer
    assert tape.current() is None


def test_exception_inside_with_leaves_no_current_tape():
    with pytest.raises(KeyError), Tape() as t:
        x = t.watch(np.array([1.0, 2.0]))
        np.sin(x)
        raise KeyError("boom")
    assert tape.current() is None


def test_exception_in_inner_tape_restores_outer():
    with Tape() as outer:
        with pytest.raises(ZeroDivisionError), Tape():
            _ = 1 / 0
        assert tape.current() is outer
    assert tape.current() is None


def test_tape_records_only_once():
    t = Tape()
    with t:
        pass
    with pytest.raises(RuntimeError, match="records once"), t:
        pass
    assert tape.current() is None


def test_watch_outside_with_raises():
    t = Tape()
    with pytest.raises(RuntimeError, match="open tape"):
        t.watch(np.ones(2))
    with t:
        pass
    with pytest.raises(RuntimeError, match="open tape"):
        t.watch(np.ones(2))


def test_variable_used_after_tape_closed_raises():
    with Tape() as t:
        x = t.watch(np.array([0.5, 1.0]))
        y = np.sin(x)
    with pytest.raises(RuntimeError, match="no longer recording"):
        x * 2.0
    with pytest.raises(RuntimeError, match="no longer recording"):
        np.exp(y)
    # the recorded part is still usable
    g = t.gradient(y, x, seed=np.ones(2))
    np.testing.assert_allclose(g, np.cos([0.5, 1.0]), rtol=1e-15)


# -- nesting: grad-of-grad -------------------------------------------------------------------


def test_grad_of_grad_outer_tape_records_inner_gradient():
    x0 = 0.7
    with Tape() as outer:
        x = outer.watch(np.array(x0))
        with Tape() as inner:
            xi = inner.watch(x)
            y = np.sin(xi) * xi**2
        g = inner.gradient(y, xi)  # runs while outer records
    d2 = outer.gradient(g, x)
    d1 = np.cos(x0) * x0**2 + 2 * x0 * np.sin(x0)
    np.testing.assert_allclose(tape.value_of(g), d1, rtol=1e-14)
    np.testing.assert_allclose(d2, (2 - x0**2) * np.sin(x0) + 4 * x0 * np.cos(x0), rtol=1e-13)


def test_grad_of_grad_vector_with_seed():
    x0 = np.array([0.3, -1.1, 2.0])
    with Tape() as outer:
        x = outer.watch(x0)
        with Tape() as inner:
            xi = inner.watch(x)
            y = np.sum(xi**3)
        g = inner.gradient(y, xi)  # 3 x^2, elementwise
    np.testing.assert_allclose(tape.value_of(g), 3 * x0**2, rtol=1e-14)
    np.testing.assert_allclose(outer.gradient(g, x, seed=np.ones(3)), 6 * x0, rtol=1e-14)


def test_third_derivative_with_three_tapes():
    x0 = 0.4
    with Tape() as t3:
        x = t3.watch(np.array(x0))
        with Tape() as t2:
            x2 = t2.watch(x)
            with Tape() as t1:
                x1 = t1.watch(x2)
                y = np.sin(x1)
            g1 = t1.gradient(y, x1)  # cos
        g2 = t2.gradient(g1, x2)  # -sin
    g3 = t3.gradient(g2, x)  # -cos
    np.testing.assert_allclose(tape.value_of(tape.value_of(g1)), np.cos(x0), rtol=1e-15)
    np.testing.assert_allclose(tape.value_of(g2), -np.sin(x0), rtol=1e-15)
    np.testing.assert_allclose(g3, -np.cos(x0), rtol=1e-15)


# -- persistence -----------------------------------------------------------------------------


def test_persistent_allows_several_gradients():
    x0 = np.array([0.2, 1.5])
    with Tape(persistent=True) as t:
        x = t.watch(x0)
        y = np.sum(x * x)
        z = np.sum(np.sin(x))
    np.testing.assert_allclose(t.gradient(y, x), 2 * x0, rtol=1e-15)
    np.testing.assert_allclose(t.gradient(z, x), np.cos(x0), rtol=1e-15)
    np.testing.assert_allclose(t.gradient(y, x), 2 * x0, rtol=1e-15)
    assert len(t.records) == 4  # square, sum, sin, sum
    t.release()
    assert t.records == []
    with pytest.raises(RuntimeError, match="persistent"):
        t.gradient(y, x)


def test_non_persistent_second_gradient_raises():
    with Tape() as t:
        x = t.watch(np.array(2.0))
        y = x * x
    np.testing.assert_allclose(t.gradient(y, x), 4.0)
    with pytest.raises(RuntimeError, match="persistent=True"):
        t.gradient(y, x)


# -- watch and pytrees -----------------------------------------------------------------------


def test_watch_array_returns_variable_and_keeps_value():
    a = np.array([1.0, 2.0])
    with Tape() as t:
        x = t.watch(a)
    assert isinstance(x, tape.Variable)
    np.testing.assert_array_equal(x.value, a)


def test_watch_integers_become_float64():
    with Tape() as t:
        x = t.watch(np.arange(3))
        s = t.watch(3)
        y = np.sum(x * x) * s
    assert x.value.dtype == np.float64
    g = t.gradient(y, (x, s))
    np.testing.assert_allclose(g[0], 2 * np.arange(3) * 3)
    np.testing.assert_allclose(g[1], 5.0)


def test_watch_dict_gradient_has_dict_structure():
    p0 = {"a": np.array(0.5), "b": np.array([1.0, 2.0, 3.0])}
    with Tape() as t:
        p = t.watch(p0)
        y = np.sum(np.exp(p["a"]) * p["b"] ** 2)
    g = t.gradient(y, p)
    assert isinstance(g, dict) and list(g) == ["a", "b"]
    np.testing.assert_allclose(g["a"], np.exp(0.5) * np.sum(p0["b"] ** 2), rtol=1e-14)
    np.testing.assert_allclose(g["b"], 2 * np.exp(0.5) * p0["b"], rtol=1e-14)


def test_watch_tuple_and_list():
    with Tape(persistent=True) as t:
        u, v = t.watch((np.array(2.0), np.array(3.0)))
        w = t.watch([np.array(4.0)])
        y = u * v * w[0]
    g = t.gradient(y, (u, v))
    assert type(g) is tuple
    np.testing.assert_allclose(g, (12.0, 8.0))
    gw = t.gradient(y, w)
    assert type(gw) is list
    np.testing.assert_allclose(gw[0], 6.0)


def test_watch_namedtuple_gradient_has_namedtuple_structure():
    x0 = Point(np.array([0.3, 0.6]), np.array(1.7))
    with Tape() as t:
        x = t.watch(x0)
        y = np.sum(np.sin(x.p) * x.q)
    assert isinstance(x, Point)
    g = t.gradient(y, x)
    assert isinstance(g, Point)
    np.testing.assert_allclose(g.p, np.cos(x0.p) * 1.7, rtol=1e-14)
    np.testing.assert_allclose(g.q, np.sum(np.sin(x0.p)), rtol=1e-14)


def test_nested_pytree():
    x0 = {"w": (np.array([1.0, -2.0]), np.array(0.5)), "c": [np.array(3.0)]}
    with Tape() as t:
        x = t.watch(x0)
        (w0, w1), c = x["w"], x["c"][0]
        y = np.sum(w0**2) * w1 + c**3
    g = t.gradient(y, x)
    np.testing.assert_allclose(g["w"][0], 2 * x0["w"][0] * 0.5)
    np.testing.assert_allclose(g["w"][1], 5.0)
    np.testing.assert_allclose(g["c"][0], 27.0)


def test_unreached_input_gets_zeros():
    with Tape() as t:
        x, z = t.watch((np.array([1.0, 2.0]), np.array([[3.0, 4.0]])))
        y = np.sum(x)
    gx, gz = t.gradient(y, (x, z))
    np.testing.assert_array_equal(gx, [1.0, 1.0])
    np.testing.assert_array_equal(gz, np.zeros((1, 2)))


# -- seeds and errors ------------------------------------------------------------------------


def test_gradient_with_seed_for_vector_output():
    x0 = np.array([0.1, 0.2, 0.3])
    s = np.array([1.0, -2.0, 0.5])
    with Tape() as t:
        x = t.watch(x0)
        y = np.exp(x) * x
    np.testing.assert_allclose(t.gradient(y, x, seed=s), s * np.exp(x0) * (1 + x0), rtol=1e-14)


def test_gradient_with_seed_for_matrix_output():
    A0 = np.arange(6.0).reshape(2, 3) / 7
    s = np.arange(1.0, 7.0).reshape(2, 3)
    with Tape() as t:
        A = t.watch(A0)
        y = np.tanh(A)
    np.testing.assert_allclose(t.gradient(y, A, seed=s), s / np.cosh(A0) ** 2, rtol=1e-14)


def test_vector_output_without_seed_raises_value_error():
    with Tape() as t:
        x = t.watch(np.array([1.0, 2.0]))
        y = x * x
    with pytest.raises(ValueError, match="seed"):
        t.gradient(y, x)


def test_seed_of_wrong_shape_raises_value_error():
    with Tape() as t:
        x = t.watch(np.array([1.0, 2.0]))
        y = x * x
    with pytest.raises(ValueError, match="shape"):
        t.gradient(y, x, seed=np.ones(3))


def test_gradient_of_unwatched_array_names_the_problem():
    a = np.array([1.0, 2.0])
    with Tape() as t:
        x = t.watch(a)
        y = np.sum(x * a)
    with pytest.raises(ValueError, match="not watched"):
        t.gradient(y, a)


def test_gradient_wrt_variable_of_another_tape_raises():
    with Tape() as other:
        z = other.watch(np.array(1.0))
    with Tape() as t:
        x = t.watch(np.array(2.0))
        y = x * x
    with pytest.raises(ValueError, match="not watched"):
        t.gradient(y, z)
    with pytest.raises(ValueError, match="not watched"):
        t.gradient(y, tape.Variable(np.array(2.0)))


def test_constant_output_gives_zero_gradient():
    with Tape() as t:
        x = t.watch(np.array([1.0, 2.0]))
    np.testing.assert_array_equal(t.gradient(np.array(3.0), x), [0.0, 0.0])


# -- the seed examples -----------------------------------------------------------------------


def test_seed_example_records_value_and_adjoints():
    # f(x1, x2) = (sin(x1/x2) + x1/x2 - e^x2) * (x1/x2 - e^x2) at (1.5, 0.5)
    with Tape() as t:
        x1, x2 = t.watch((np.array(1.5), np.array(0.5)))
        a = x1 / x2
        e = np.exp(x2)
        y = (np.sin(a) + a - e) * (a - e)
    assert len(t.records) == 7
    assert [r.name for r in t.records] == [
        "divide", "exp", "sin", "add", "subtract", "subtract", "multiply",
    ]  # fmt: skip
    np.testing.assert_allclose(y.value, 2.016646669428201, rtol=0, atol=1e-12)
    g1, g2 = t.gradient(y, (x1, x2))
    np.testing.assert_allclose(g1, 3.0118433276739069, rtol=0, atol=1e-12)
    np.testing.assert_allclose(g2, -13.723961509314076, rtol=0, atol=1e-12)


def test_value_used_on_two_paths_gets_the_sum():
    # y = ln x1 + x1 x2 - sin x2 at (2, 5): x1 and x2 each feed two operations
    with Tape() as t:
        x1, x2 = t.watch((np.array(2.0), np.array(5.0)))
        y = np.log(x1) + x1 * x2 - np.sin(x2)
    np.testing.assert_allclose(y.value, np.log(2.0) + 10.0 - np.sin(5.0), rtol=1e-15)
    assert abs(y.value - 11.652) < 1e-3
    g1, g2 = t.gradient(y, (x1, x2))
    np.testing.assert_allclose(g1, 1 / 2.0 + 5.0, rtol=1e-15)
    np.testing.assert_allclose(g2, 2.0 - np.cos(5.0), rtol=1e-15)
    assert abs(g2 - 1.716) < 1e-3


def test_value_used_many_times():
    with Tape() as t:
        x = t.watch(np.array(1.3))
        y = x * x * x + x - x / x  # x^3 + x - 1
    np.testing.assert_allclose(t.gradient(y, x), 3 * 1.3**2 + 1, rtol=1e-14)


# -- broadcasting ----------------------------------------------------------------------------


def test_broadcast_cotangents_summed_to_input_shapes():
    rng = np.random.default_rng(0)
    x0, y0, w = rng.standard_normal(3), rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    with Tape(persistent=True) as t:
        x, y = t.watch((x0, y0))
        s = np.sum(w * (x + y))
        p = np.sum(w * (x * y))
    gx, gy = t.gradient(s, (x, y))
    assert gx.shape == (3,) and gy.shape == (2, 3)
    np.testing.assert_allclose(gx, w.sum(axis=0), rtol=1e-14)
    np.testing.assert_allclose(gy, w, rtol=1e-14)
    gx, gy = t.gradient(p, (x, y))
    np.testing.assert_allclose(gx, np.sum(w * y0, axis=0), rtol=1e-14)
    np.testing.assert_allclose(gy, w * x0, rtol=1e-14)


def test_broadcast_column_times_row_and_scalar_input():
    rng = np.random.default_rng(1)
    c0, r0, w = (
        rng.standard_normal((3, 1)),
        rng.standard_normal((1, 4)),
        rng.standard_normal((3, 4)),
    )
    with Tape() as t:
        c, r, k = t.watch((c0, r0, np.array(2.0)))
        y = np.sum(w * c * r * k)
    gc, gr, gk = t.gradient(y, (c, r, k))
    assert gc.shape == (3, 1) and gr.shape == (1, 4) and np.shape(gk) == ()
    np.testing.assert_allclose(gc, 2 * np.sum(w * r0, axis=1, keepdims=True), rtol=1e-13)
    np.testing.assert_allclose(gr, 2 * np.sum(w * c0, axis=0, keepdims=True), rtol=1e-13)
    np.testing.assert_allclose(gk, np.sum(w * c0 * r0), rtol=1e-13)


@pytest.mark.parametrize(
    "f, df",
    [
        (lambda x: 2.0 - x, lambda x: -np.ones_like(x)),
        (lambda x: x - 2.0, lambda x: np.ones_like(x)),
        (lambda x: 3.0 / x, lambda x: -3.0 / x**2),
        (lambda x: x / 3.0, lambda x: np.full_like(x, 1 / 3)),
        (lambda x: 2.0**x, lambda x: np.log(2.0) * 2.0**x),
        (lambda x: x**3.0, lambda x: 3 * x**2),
        (lambda x: 5 * x + 1, lambda x: np.full_like(x, 5.0)),
        (lambda x: np.float64(0.5) * x, lambda x: np.full_like(x, 0.5)),
    ],
    ids=["rsub", "sub", "rdiv", "div", "rpow", "pow", "int", "np.float64"],
)
def test_python_scalars_either_side(f, df):
    x0 = np.array([0.5, 1.5, 2.5])
    with Tape() as t:
        x = t.watch(x0)
        y = f(x)
    np.testing.assert_allclose(y.value, f(x0), rtol=1e-15)
    np.testing.assert_allclose(t.gradient(y, x, seed=np.ones(3)), df(x0), rtol=1e-14)


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def _network_loss(params, f0, target, n_layers):
    f = f0
    for i in range(n_layers):
        f = _sigmoid(params[f"A{i}"] @ f + params[f"b{i}"])
    return np.sum((f - target) ** 2)


def test_layered_network_gradient_matches_central_differences():
    rng = np.random.default_rng(2)
    sizes = [4, 5, 3, 2]
    params = {}
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        params[f"A{i}"] = rng.standard_normal((n_out, n_in))
        params[f"b{i}"] = rng.standard_normal(n_out)
    f0, target = rng.standard_normal(4), rng.uniform(size=2)
    L = len(sizes) - 1
    with Tape() as t:
        p = t.watch(params)
        loss = _network_loss(p, f0, target, L)
    np.testing.assert_allclose(loss.value, _network_loss(params, f0, target, L), rtol=1e-15)
    g = t.gradient(loss, p)
    ref = numgrad_tree(lambda q: _network_loss(q, f0, target, L), params)
    assert set(g) == set(params)
    for k, v in params.items():
        assert g[k].shape == v.shape
        np.testing.assert_allclose(g[k], ref[k], rtol=1e-7, atol=1e-10, err_msg=k)


# -- threads ---------------------------------------------------------------------------------


def test_two_threads_record_their_own_tapes():
    x0 = np.linspace(0.2, 2.0, 7)
    barrier = threading.Barrier(2, timeout=10)
    results, errors = {}, []

    def work(name, f):
        try:
            with Tape() as t:
                assert tape.current() is t
                x = t.watch(x0)
                y = x
                for _ in range(20):  # interleave the two recordings step by step
                    barrier.wait()
                    y = y * 1.0
                y = np.sum(f(y))
                barrier.wait()
                assert tape.current() is t
            results[name] = (t.gradient(y, x), len(t.records))
        except Exception as e:  # noqa: BLE001  (surfaced in the main thread below)
            errors.append(e)
            barrier.abort()

    threads = [
        threading.Thread(target=work, args=("a", lambda x: np.sin(x) * x)),
        threading.Thread(target=work, args=("b", lambda x: np.exp(x) / x)),
    ]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors
    assert tape.current() is None
    np.testing.assert_allclose(results["a"][0], np.cos(x0) * x0 + np.sin(x0), rtol=1e-14)
    np.testing.assert_allclose(results["b"][0], np.exp(x0) * (x0 - 1) / x0**2, rtol=1e-14)


# -- dualad's reverse-mode API on the tape -----------------------------------------------------


def _f_scalar(x):
    return np.sum(np.sin(x) * x**2) + np.prod(np.exp(x / 4))


def _df_scalar(x):
    return np.cos(x) * x**2 + 2 * x * np.sin(x) + np.exp(np.sum(x) / 4) / 4


def test_grad_reverse_matches_closed_form_and_forward():
    x0 = np.array([0.3, -1.2, 2.0, 0.9])
    g = dualad.grad(_f_scalar, x0, mode="reverse")
    np.testing.assert_allclose(g, _df_scalar(x0), rtol=1e-13)
    np.testing.assert_allclose(g, dualad.grad(_f_scalar, x0, mode="forward"), rtol=1e-13)


def test_grad_reverse_on_pytree():
    x0 = {"u": np.array([0.5, 1.5]), "v": np.array(2.0)}
    g = dualad.grad(lambda d: np.sum(d["u"] ** 2) * d["v"], x0, mode="reverse")
    np.testing.assert_allclose(g["u"], 2 * x0["u"] * 2.0)
    np.testing.assert_allclose(g["v"], np.sum(x0["u"] ** 2))


def test_vjp_matches_closed_form():
    x0 = np.array([0.1, 0.7, -0.4])
    u = np.array([2.0, -1.0, 0.5])
    y, xbar = dualad.vjp(lambda x: np.exp(x) * x, x0, u)
    np.testing.assert_allclose(y, np.exp(x0) * x0, rtol=1e-15)
    np.testing.assert_allclose(xbar, u * np.exp(x0) * (1 + x0), rtol=1e-14)


def test_vjp_equals_u_times_forward_jacobian():
    A = np.arange(15.0).reshape(3, 5) / 10
    x0 = np.linspace(-1, 1, 5)
    u = np.array([1.0, -2.0, 0.25])

    def f(x):
        return A @ np.tanh(x)

    _, xbar = dualad.vjp(f, x0, u)
    np.testing.assert_allclose(xbar, u @ (A / np.cosh(x0) ** 2), rtol=1e-13)
    np.testing.assert_allclose(xbar, u @ dualad.jacobian(f, x0, mode="forward"), rtol=1e-13)


_JAC_CASES = [
    (lambda x: np.exp(x) * x, np.array([0.3, -0.5, 1.1])),
    (lambda x: np.sin(x) / (1 + x**2), np.array([[0.2, 0.4], [-0.8, 1.6]])),
    (lambda x: np.cumsum(x**2), np.array([1.0, -2.0, 0.5, 3.0])),
    (lambda x: x * np.sum(x), np.array([1.0, 2.0, 3.0])),
]


@pytest.mark.parametrize("f, x0", _JAC_CASES, ids=["exp", "2d", "cumsum", "outer"])
def test_jacobian_reverse_equals_forward_and_differences(f, x0):
    Jr = dualad.jacobian(f, x0, mode="reverse")
    Jf = dualad.jacobian(f, x0, mode="forward")
    assert Jr.shape == np.shape(f(x0)) + x0.shape
    np.testing.assert_allclose(Jr, Jf, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(Jr, numjac(f, x0), rtol=1e-8, atol=1e-10)


def test_reverse_jacobian_is_one_sweep_of_four_cotangents(monkeypatch):
    tape_mod = importlib.import_module("tape.tape")
    calls = []
    real = tape_mod.sweep

    def counting(roots, seeds, wanted, **kw):
        calls.append([np.shape(s) for s in seeds])
        return real(roots, seeds, wanted, **kw)

    monkeypatch.setattr(tape_mod, "sweep", counting)
    A = np.arange(20.0).reshape(4, 5) / 7
    x0 = np.array([0.1, 0.2, -0.3, 0.4, 0.5])
    J = dualad.jacobian(lambda x: A @ np.sin(x), x0, mode="reverse")
    assert calls == [[(4, 4)]]
    np.testing.assert_allclose(J, A * np.cos(x0), rtol=1e-14)


# -- Hessians --------------------------------------------------------------------------------


def _f_hess(x):
    return np.sum(x**4) / 4 + x[0] * x[1]


def _hess_closed(x):
    H = np.diag(3 * x**2)
    H[0, 1] += 1
    H[1, 0] += 1
    return H


@pytest.mark.parametrize("method", ["auto", "hyperdual", "forward-over-reverse"])
def test_hessian_closed_form(method):
    x0 = np.array([0.5, -1.0, 2.0])
    np.testing.assert_allclose(
        dualad.hessian(_f_hess, x0, method=method), _hess_closed(x0), rtol=1e-14
    )


def test_hessian_large_uses_forward_over_reverse_and_is_right():
    x0 = np.linspace(-1, 1, 20)
    H = dualad.hessian(lambda x: np.sum(np.sin(x)) * np.sum(x), x0)
    S, C = np.sum(np.sin(x0)), np.cos(x0)
    ref = -np.diag(np.sin(x0)) * np.sum(x0) + C[:, None] + C[None, :]
    np.testing.assert_allclose(H, ref, rtol=1e-12, atol=1e-13)
    assert S  # the function is not trivially zero here


def test_hvp_equals_hessian_times_v():
    x0 = np.array([0.5, -1.0, 2.0])
    v = np.array([1.0, -0.5, 3.0])
    hv = dualad.hvp(_f_hess, x0, v)
    np.testing.assert_allclose(hv, _hess_closed(x0) @ v, rtol=1e-14)
    np.testing.assert_allclose(hv, dualad.hessian(_f_hess, x0) @ v, rtol=1e-14)


def test_hvp_of_nonpolynomial_matches_differences_of_gradient():
    x0 = np.array([0.3, 0.8, -0.6, 1.2])
    v = np.array([0.2, -1.0, 0.5, 1.0])

    def f(x):
        return np.sum(np.exp(np.sin(x)) * x)

    def df(x):  # closed-form gradient
        return np.exp(np.sin(x)) * (np.cos(x) * x + 1)

    ref = numjac(df, x0) @ v
    np.testing.assert_allclose(dualad.hvp(f, x0, v), ref, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(dualad.grad(f, x0, mode="reverse"), df(x0), rtol=1e-14)
    np.testing.assert_allclose(numgrad(f, x0), df(x0), rtol=1e-8)

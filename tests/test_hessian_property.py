"""Hessians of random scalar programs on the input forms users pass (issue 10): a 0-d array,
a 1-element vector, a Python float, a tuple and a dict of numbers. Every method (and the
default) against central differences of the forward gradient, and hvp against H @ v."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dualad

UNARY = {
    "sin": np.sin,
    "exp_small": lambda a: np.exp(0.3 * a),
    "square": lambda a: a * a,
    "tanh": np.tanh,
    "log1p_sq": lambda a: np.log1p(a * a),
    "recip": lambda a: 1.0 / (1.5 + a * a),
    "sqrt": lambda a: np.sqrt(1.0 + a * a),
    "min": lambda a: np.minimum(a, 5.0),
    "view": lambda a: np.sum(np.sin(np.reshape(a, (1,)))),
}
BINARY = {
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / (2.0 + b * b),
    "add": lambda a, b: a + 0.5 * b,
    "pow": lambda a, b: (1.0 + a * a) ** (0.5 + 0.1 * np.tanh(b)),
    "hypot": np.hypot,
    "arctan2": lambda a, b: np.arctan2(a, 2.0 + b * b),
}


def _ops():
    un = st.tuples(st.just("u"), st.sampled_from(sorted(UNARY)), st.integers(0, 9))
    bi = st.tuples(st.just("b"), st.sampled_from(sorted(BINARY)), st.integers(0, 9))
    return st.lists(st.one_of(un, bi), min_size=1, max_size=5)


def scalar_program(ops):
    def g(a, b):
        vals = [a, b]
        for kind, name, i in ops:
            u = vals[i % len(vals)]
            if kind == "u":
                vals.append(UNARY[name](u))
            else:
                vals.append(BINARY[name](u, vals[(i + 1) % len(vals)]))
        return vals[-1] + 0.1 * vals[0] * vals[1]

    return g


def central_hessian(f, x, h=1e-5):
    n = x.size
    H = np.zeros((n, n))
    for i in range(n):
        e = np.zeros(n)
        e[i] = h
        H[i] = (dualad.grad(f, x + e, mode="forward") - dualad.grad(f, x - e, mode="forward")) / (
            2 * h
        )
    return H


METHODS = [None, "hyperdual", "accumulate", "forward-over-reverse"]


def _hessian(f, x, method):
    return dualad.hessian(f, x) if method is None else dualad.hessian(f, x, method=method)


@settings(max_examples=25, deadline=None)
@given(_ops(), st.floats(0.2, 1.5), st.floats(-1.0, 1.0))
def test_random_programs_two_inputs_every_form(ops, a, b):
    g = scalar_program(ops)
    vec = np.array([a, b])
    ref = central_hessian(lambda x: g(x[0], x[1]), vec)
    tol = {"rtol": 1e-5, "atol": 1e-6}
    for method in METHODS:
        H = _hessian(lambda x: g(x[0], x[1]), vec, method)
        np.testing.assert_allclose(H, ref, **tol, err_msg=str(method))
        Ht = _hessian(lambda t: g(t[0], t[1]), (a, b), method)  # a tuple of numbers
        np.testing.assert_allclose(np.array(Ht, dtype=float), ref, **tol, err_msg=str(method))
        Hd = _hessian(lambda d: g(d["a"], d["b"]), {"a": a, "b": b}, method)
        got = np.array([[Hd["a"]["a"], Hd["a"]["b"]], [Hd["b"]["a"], Hd["b"]["b"]]], float)
        np.testing.assert_allclose(got, ref, **tol, err_msg=str(method))
    v = np.array([0.3, -1.1])
    np.testing.assert_allclose(dualad.hvp(lambda x: g(x[0], x[1]), vec, v), ref @ v, **tol)


@settings(max_examples=25, deadline=None)
@given(_ops(), st.floats(0.2, 1.5))
def test_random_programs_one_input_every_form(ops, a):
    g = scalar_program(ops)
    f1 = lambda x: g(x, 0.7 * x)
    ref = central_hessian(lambda x: f1(x[0]), np.array([a]))[0, 0]
    tol = {"rtol": 1e-5, "atol": 1e-6}
    for method in METHODS:
        for x, f in [
            (np.array(a), f1),  # 0-d
            (a, f1),  # a Python float
            (np.float64(a), f1),
            (np.array([a]), lambda x: f1(x[0])),  # one element
            (np.array([a]), lambda x: np.sum(f1(x))),  # one element, array ops
        ]:
            H = _hessian(f, x, method)
            assert np.size(H) == 1
            np.testing.assert_allclose(np.ravel(H)[0], ref, **tol, err_msg=f"{method} {x!r}")


@pytest.mark.parametrize("method", METHODS)
def test_x_none_and_friends_at_a_0d_input(method):
    # issue 10's report: x[None], expand_dims and reshape(1) of a 0-d input inside hessian
    for view in (lambda x: x[None], lambda x: np.expand_dims(x, 0), lambda x: x.reshape(1)):
        f = lambda x, view=view: np.sum(np.sin(np.minimum(view(x), 0.9)))
        np.testing.assert_allclose(_hessian(f, np.array(0.4), method), -np.sin(0.4), rtol=1e-12)

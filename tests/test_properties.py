"""Hypothesis: random chains of supported functions, forward vs reverse vs differences."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import dualad

SAFE = [
    np.sin, np.cos, np.tanh, np.arctan, np.exp, np.sinh, np.square, np.negative,
    lambda x: np.log1p(x * x), lambda x: np.sqrt(1 + x * x), lambda x: x * 0.5 + 1.0,
    lambda x: np.hypot(x, 1.0), lambda x: x / (1 + x * x),
]  # fmt: skip
REDUCE = [np.sum, np.mean, lambda y: np.sum(y * y)]


def compose(ix):
    def f(x):
        for i in ix:
            x = SAFE[i](x)
            x = np.tanh(x) * 2.0  # keep every intermediate in a safe range
        return x

    return f


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(0, len(SAFE) - 1), min_size=1, max_size=5),
    st.lists(st.floats(-1.5, 1.5), min_size=1, max_size=4),
)
def test_random_chain_forward_matches_differences(ix, xs):
    f = compose(ix)
    x = np.array(xs)
    d = dualad.derivative(f, x)
    h = 1e-5
    fd = (f(x + h) - f(x - h)) / (2 * h)
    np.testing.assert_allclose(d, fd, rtol=1e-5, atol=1e-7)


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.integers(0, len(SAFE) - 1), min_size=1, max_size=4),
    st.integers(0, len(REDUCE) - 1),
    st.lists(st.floats(-1.5, 1.5), min_size=2, max_size=4),
)
def test_random_chain_reverse_equals_forward(ix, r, xs):
    f = compose(ix)
    g = lambda x: REDUCE[r](f(x) * np.arange(1.0, len(xs) + 1))
    x = np.array(xs)
    gf = dualad.grad(g, x, mode="forward")
    gr = dualad.grad(g, x, mode="reverse")
    np.testing.assert_allclose(gr, gf, rtol=1e-12, atol=1e-14)
    assert dualad.check_grad(g, x, mode="reverse") < 1

"""Stencil Jacobians (dualad._stencil) against their dense forms and dense jvps."""

import numpy as np
import pytest

import dualad
import tape
from dualad._accumulate import _Jacobians
from dualad._stencil import MAX_TERMS, Cols

rng = np.random.default_rng(3)


def _cols():
    return Cols(
        [(2, 1, rng.standard_normal(5)), (9, -1, 0.5), (0, 2, rng.standard_normal(5))], 5, 12
    )


def test_dense_form_places_each_term_on_its_slice():
    J = Cols([(2, 1, np.arange(1.0, 4.0)), (6, -2, 2.0)], 3, 8)
    want = np.zeros((8, 3))
    want[[2, 3, 4], [0, 1, 2]] += [1.0, 2.0, 3.0]
    want[[6, 4, 2], [0, 1, 2]] += 2.0
    np.testing.assert_array_equal(J.dense(), want)


def test_products_match_the_dense_products():
    J = _cols()
    D = J.dense()
    T = rng.standard_normal((12, 5))
    c = rng.standard_normal(5)
    H1, H2 = np.zeros((12, 12)), np.zeros((12, 12))
    J.add_product(H1, T)
    np.testing.assert_allclose(H1, D @ T.T, rtol=1e-14, atol=1e-14)
    J.add_sandwich(H2, c)  # its symmetric part is the sandwich
    np.testing.assert_allclose((H2 + H2.T) / 2, (D * c) @ D.T, rtol=1e-14, atol=1e-14)


FUNCS = {
    "slices": lambda x: x[1:] - x[:-1] ** 2,
    "reversed": lambda x: np.sin(x[::-1]) * x,
    "strided": lambda x: x[::2] * x[1::2] + 3.0,
    "scalar ops": lambda x: 2.0 / (1.0 + x[2:7] ** 2) - x[:5] * 0.5,
    "negate": lambda x: -(x[3:] + x[:-3]),
    "many terms": lambda x: x[:-4] + x[1:-3] + x[2:-2] + x[3:-1] + x[4:],
    "broadcast": lambda x: x[1:] * np.sum(x),
    "fancy index": lambda x: x[[0, 2, 2, 5]] ** 2,
}


@pytest.mark.parametrize("name", list(FUNCS))
def test_recorded_jacobians_match_forward_mode(name):
    # every value's Jacobian, stencil-built or dense, against dualad.jacobian of the same code
    x = np.linspace(-0.8, 1.1, 10)
    with tape.Tape() as t:
        w = t.watch(x)
        y = FUNCS[name](w)
    jac = _Jacobians(t._records, {w._id: Cols.seed(0, 10, 10)})
    J = jac(y._id)  # (n,) + shape
    np.testing.assert_allclose(J.T, dualad.jacobian(FUNCS[name], x), rtol=1e-13, atol=1e-13)
    raw = jac.raw(y._id)
    if name in ("broadcast", "fancy index", "many terms"):
        assert type(raw) is not Cols  # these turn dense
    else:
        assert type(raw) is Cols and len(raw.terms) <= MAX_TERMS
    t.close()


@pytest.mark.parametrize("start,step,m", [(2, 1, 5), (11, -2, 6), (11, -1, 12), (0, 3, 4)])
def test_one_slice_sandwich_is_a_strided_diagonal(start, step, m):
    J = Cols([(start, step, rng.standard_normal(m))], m, 12)
    c = rng.standard_normal(m)
    H = np.zeros((12, 12))
    J.add_sandwich(H, c)
    D = J.dense()
    np.testing.assert_allclose(H, (D * c) @ D.T, rtol=1e-14, atol=1e-14)

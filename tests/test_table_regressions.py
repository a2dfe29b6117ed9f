"""Findings of a pass over the coverage table's claims (each function, its keyword arguments,
every mode and second order, against central differences or a closed form)."""

import numpy as np
import pytest

import dualad

from tests.tape._numdiff import numgrad


@pytest.mark.parametrize(
    "sa, sb", [((2, 1), (1, 3)), ((2, 3), (3,)), ((), (2, 2)), ((2, 2), ()), ((3,), (3,))]
)
@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_divmod_remainder_broadcasts_its_tangent(sa, sb, mode):
    # forward mode gave the remainder a's tangent unbroadcast ((2, 1) for a (2, 3) result):
    # the gradient summed one copy instead of three, or the jacobian raised
    rng = np.random.default_rng(1)
    a, b = rng.uniform(1, 3, sa), rng.uniform(0.5, 0.9, sb)
    w = rng.normal(size=np.broadcast_shapes(sa, sb))
    for x0, f in (
        (a, lambda x: np.sum(w * np.divmod(x, b)[1] ** 2)),
        (b, lambda x: np.sum(w * np.divmod(a, x)[1] ** 2)),
    ):
        got = dualad.grad(f, x0, mode=mode)
        np.testing.assert_allclose(got, numgrad(f, x0), rtol=1e-6, atol=1e-7)
    out, tangent = dualad.jvp(lambda x: np.divmod(x, b)[1], a, np.ones_like(a))
    assert np.shape(tangent) == np.shape(out) == np.broadcast_shapes(sa, sb)


@pytest.mark.parametrize("method", ["auto", "hyperdual", "forward-over-reverse", "accumulate"])
def test_divmod_remainder_hessian_with_broadcasting(method):
    # d/da (a mod b) = 1 broadcast over b's axis: H of sum(w r^2) is 2 diag(sum_j w_ij)
    a, b = np.array([1.3, 2.5]), np.array([[0.7, 1.1, 0.9]]).T  # (3, 1) against (2,)
    w = np.arange(1.0, 7.0).reshape(3, 2)
    h = dualad.hessian(lambda x: np.sum(w * np.divmod(x, b)[1] ** 2), a, method=method)
    np.testing.assert_allclose(h, np.diag(2 * w.sum(axis=0)), rtol=1e-12)

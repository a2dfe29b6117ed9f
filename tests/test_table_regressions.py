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


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("method", ["auto", "hyperdual", "forward-over-reverse", "accumulate"])
def test_polyfit_hessian_at_symmetric_sample_points(method):
    # polyfit scales its columns to unit norm: at symmetric points [x, 1] are orthonormal, equal
    # singular values, and lstsq's unread singular-value output got a zero cotangent whose
    # second derivative went through the singular vectors' 1/0 factors: all nan
    xs, ys = np.linspace(-1, 1, 8), np.sin(3 * np.linspace(-1, 1, 8))

    def g(x):
        return np.sum(np.sin(np.polyfit(x, ys, 1)))

    h = dualad.hessian(g, xs, method=method)
    ref = numgrad(lambda x: numgrad(g, x)[0], xs)  # row 0 by nested central differences
    np.testing.assert_allclose(h[0], ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(h, h.T, rtol=1e-10, atol=1e-12)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("method", ["hyperdual", "forward-over-reverse", "accumulate"])
def test_nuclear_norm_hessian_at_equal_singular_values_is_not_finite_and_wrong(method):
    # singular values [2, 2] (to one ulp): the derivative goes through U and V, which are not
    # unique there; their 1/(s_j^2 - s_i^2) factors were ~1e15 and the Hessian came out
    # finite and wrong ([.0312 .0625 ...] for [.0218 .0706 ...]); now nan, never wrong
    c, s = np.cos(0.3), np.sin(0.3)
    a = 2 * np.array([[c, -s], [s, c], [0, 0]])

    def f(x):
        return np.linalg.norm(x.reshape(3, 2), "nuc")

    h = dualad.hessian(f, a.ravel(), method=method)
    ref_row = np.array([0.0218, 0.0706, -0.0706, 0.0218, 0, 0])  # smooth limit (see above)
    assert not np.allclose(h[0], [0.03125, 0.0625, -0.0625, 0.03125, 0, 0])
    assert np.isnan(h[0]).any() or np.allclose(h[0], ref_row, atol=1e-3)
    # the gradient (first order) and nearby points are exact
    np.testing.assert_allclose(dualad.grad(f, a.ravel()), numgrad(f, a.ravel()), atol=1e-8)
    near = (a + 1e-3 * np.arange(6.0).reshape(3, 2)).ravel()
    np.testing.assert_allclose(
        dualad.hessian(f, near, method=method)[0],
        numgrad(lambda x: numgrad(f, x)[0], near),
        rtol=1e-4,
        atol=1e-5,
    )


@pytest.mark.parametrize("mode", ["forward", "reverse"])
@pytest.mark.parametrize("traced", ["divisor", "dividend", "both"])
def test_polydiv_with_a_traced_divisor(mode, traced):
    # the quotient was a plain array made like the dividend: a traced divisor's quotient
    # could not be written into it (ValueError: setting an array element with a sequence)
    u, v = np.array([1.0, 2, 3, 4]), np.array([1.2, 0.5])
    x0 = np.concatenate([u, v])

    def f(x):
        a = x[:4] if traced != "divisor" else u
        b = x[4:] if traced != "dividend" else v
        return np.concatenate(np.polydiv(a, b))

    np.testing.assert_array_equal(f(x0), np.concatenate(np.polydiv(u, v)))
    jac = dualad.jacobian(f, x0, mode=mode)
    ref = np.stack([numgrad(lambda x, i=i: f(x)[i], x0) for i in range(4)])
    np.testing.assert_allclose(jac, ref, rtol=1e-7, atol=1e-9)


def test_frompyfunc_ufunc_is_named_as_such():
    # a ufunc from np.frompyfunc was reported as "scipy.special.<lambda> (vectorized)"
    double = np.frompyfunc(lambda a: a * 2, 1, 1)
    with pytest.raises(NotImplementedError, match=r"numpy\.frompyfunc\(<lambda>\)"):
        dualad.grad(lambda x: np.sum(double(x)), np.ones(2))

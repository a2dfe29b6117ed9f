"""Second-order regressions: each case is a Hessian that was NaN, raised, or crashed, checked
against nested central differences in float64 for every Hessian method and for hvp."""

import numpy as np
import pytest

import dualad

METHODS = ["auto", "hyperdual", "accumulate", "forward-over-reverse"]


def _nested_differences(f, x, h=1e-4):
    """d2f/dxi dxj by central differences of central differences."""
    x = np.asarray(x, float)
    n = x.size
    H = np.zeros((n, n))
    for i in range(n):
        for j in range(i, n):
            ei, ej = np.zeros(n), np.zeros(n)
            ei[i], ej[j] = h, h
            with np.errstate(invalid="ignore"):  # dropped elements may be NaN off the point
                fs = [f(x + s * ei + t * ej) for s, t in ((1, 1), (1, -1), (-1, 1), (-1, -1))]
            H[i, j] = H[j, i] = (fs[0] - fs[1] - fs[2] + fs[3]) / (4 * h * h)
    return H


def _check(f, x, intercept=False, methods=METHODS):
    ref = _nested_differences(f, x)
    tol = 1e-5 * max(1.0, np.abs(ref).max())
    for method in methods:
        H = dualad.hessian(f, x, method=method, intercept=intercept)
        assert np.all(np.isfinite(H)), method
        np.testing.assert_allclose(H, ref, atol=tol, rtol=1e-5, err_msg=method)
    v = np.linspace(-1.0, 1.5, x.size)
    np.testing.assert_allclose(
        dualad.hvp(f, x, v, intercept=intercept), ref @ v, atol=10 * tol, rtol=1e-5
    )


# -- B: an element that never reaches the output (sqrt(0) on a diagonal) ------------------

X10 = np.array([0.0, 0.0, 1.1, 0.1, 0.2, 1.3, 1.0, 1.2, 2.1, 0.4])


def _distances(p):
    X = p.reshape(-1, 2)
    return np.sqrt(((X[:, None] - X[None]) ** 2).sum(-1))  # sqrt(0) on the diagonal


def test_pairwise_distances_diagonal_dropped_accumulate_not_nan():
    def f(p):
        d = _distances(p)
        return np.sum(d[np.triu_indices(len(d), 1)] ** 3)  # the diagonal is thrown away

    _check(f, X10)


def test_lennard_jones_fill_diagonal_inf_accumulate_not_nan():
    def f(p):
        d = _distances(p)
        np.fill_diagonal(d, np.inf)
        return np.sum(1.0 / d**6 - 1.0 / d**3) / 2

    _check(f, X10)


def test_two_traced_inputs_infinite_partial_dropped_not_nan():
    # power with a traced exponent: both inputs depend on x, so the step takes all n
    # directions; 0 ** 0.5 has an infinite partial at an element that never reaches f
    def f(p):
        y = np.power(p[:3] - np.array([0.3, 0.0, 0.0]), p[3])
        return np.sum(y[1:] ** 2)

    _check(f, np.array([0.3, 0.5, 0.7, 0.5]))


def test_masked_hypot_distances():
    def f(p):
        X = p.reshape(-1, 2)
        d = np.hypot(X[:, None, 0] - X[None, :, 0], X[:, None, 1] - X[None, :, 1])
        return np.sum(d * (1.0 - np.eye(len(X))) ** 2)

    _check(f, X10)


def test_accumulate_zero_adjoint_emits_no_warning():
    def f(p):
        d = _distances(p)
        return np.sum(d[np.triu_indices(len(d), 1)] ** 3)

    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dualad.hessian(f, X10, method="accumulate")


# -- 1: empty products (A[i, :i] @ x[:i] at i = 0) ---------------------------------------

B3 = np.array([0.3, 0.5, 0.7])


@pytest.mark.parametrize(
    "extra",
    [
        lambda b: b[:0] @ b[:0],
        lambda b: np.dot(b[:0], b[:0]),
        lambda b: np.vdot(b[:0], b[:0]),
        lambda b: np.sum(np.ones((2, 0)) @ b[:0]),
        lambda b: np.sum(np.outer(b, b)[:, :0] @ np.ones((0, 2))),
        lambda b: np.sum(np.ones((2, 2, 0)) @ np.outer(b, b)[:0]),
        lambda b: np.sum(np.dot(np.ones((2, 2, 0)), b[:0])),
    ],
    ids=["matmul", "dot", "vdot", "mat_vec", "mat_mat", "batched", "dot_3d"],
)
def test_empty_products(extra):
    def f(b):
        return np.sum(b**3) + extra(b)

    _check(f, B3)
    np.testing.assert_allclose(dualad.grad(f, B3, mode="forward"), 3 * B3**2)
    np.testing.assert_allclose(dualad.grad(f, B3, mode="reverse"), 3 * B3**2)


def test_gauss_seidel_substitution():
    def f(b):
        n = b.size
        A = np.diag(np.full(n, 4.0)) + np.outer(b, b) * 0.1
        x = np.zeros(n)
        for _ in range(3):
            for i in range(n):
                x[i] = (b[i] - A[i, :i] @ x[:i] - A[i, i + 1 :] @ x[i + 1 :]) / A[i, i]
        return np.sum(x**2)

    _check(f, B3, intercept=True)


# -- 3: a write into an array after one of its views was taken ---------------------------

B4 = np.array([0.3, 0.5, 0.7, 1.1])


def _view_then_write(b):
    x = np.zeros_like(b)
    y = x[:-1] + b[1:]
    x[0] = b[0]
    return np.sum(y**3) + np.sum(x**3)


def _unused_view_then_write(b):
    x = np.zeros_like(b)
    v = x[1:]  # noqa: F841 - its existence alone made the write fail
    x[0] = b[0] ** 2
    return np.sum(x**3) + np.sum(b**3)


def _jacobi_swap(b):
    x, xn = np.zeros_like(b), np.zeros_like(b)
    for _ in range(4):
        xn[1:-1] = 0.5 * (x[:-2] + x[2:] + b[1:-1])
        xn[0] = 0.5 * (x[1] + b[0])
        xn[-1] = 0.5 * (x[-2] + b[-1])
        x, xn = xn, x
    return np.sum(x**3)


def _write_reaches_views(b):
    x = np.zeros_like(b)
    m = x.reshape(2, -1)
    t = m.T
    x[1:] = b[:-1] ** 2
    t[0] += m[1, 0] * b[0]
    return np.sum(x**3) + np.sum(t[1] ** 2)


@pytest.mark.parametrize("intercept", [False, True])
@pytest.mark.parametrize(
    "f", [_view_then_write, _unused_view_then_write, _jacobi_swap, _write_reaches_views]
)
def test_write_after_view(f, intercept):
    _check(f, B4, intercept=intercept)
    x10 = np.linspace(0.2, 1.3, 10)  # "auto" is "accumulate" here
    ref = _nested_differences(f, x10)
    np.testing.assert_allclose(dualad.hessian(f, x10, intercept=intercept), ref, atol=1e-5)


def test_zero_buffer_read_through_a_view_accumulate():
    def f(b):
        x = np.zeros_like(b)
        return np.sum((x[:-1] + b[1:]) ** 3)

    _check(f, np.linspace(0.2, 1.3, 10), methods=["accumulate"])


# -- 5: a view of an intercepted buffer taken before its first write ----------------------


def test_view_of_buffer_before_first_write_hvp():
    def f(x):
        buf = np.zeros(4)
        w = buf.reshape(2, 2)
        buf[:] = x**2
        w[1] += w[0]
        return np.sum(buf**2)

    # forward-over-reverse itself cannot follow it (tape.alias): see docs/limitations.rst
    _check(f, B4, intercept=True, methods=["auto", "hyperdual", "accumulate"])


# -- 4: forward-over-forward names the method that follows writes through views -----------


def test_forward_over_forward_view_write_message():
    def f(x):
        y = x.reshape(2, 2) * 1.0
        for row in y:
            row *= row[0] + 2
        return np.sum(y**3)

    v = np.ones(4)
    with pytest.raises(NotImplementedError, match="forward-over-reverse"):
        dualad.hvp(f, B4, v, method="forward-over-forward")
    ref = _nested_differences(f, B4)
    np.testing.assert_allclose(dualad.hvp(f, B4, v), ref @ v, atol=1e-5)


# -- a NaN marker inside f, skipped by a nan-reduction: "accumulate" was NaN everywhere ------


def _marker_sin(x):
    y = x * 1.0
    y[1] = np.nan
    return np.nansum(np.sin(y))


def _marker_product(x):
    y = x * 1.0
    y[1] = np.nan
    return np.nanmean(np.sin(y) * y)


def _marker_where(x):
    y = np.where(x > 0.4, np.nan, x)
    return np.nansum(np.exp(y) * y)


def _marker_appended(x):
    y = np.concatenate([x, [np.nan]])
    return np.nansum(np.log(y) ** 2) + np.nanmax(y * x[0])


@pytest.mark.parametrize("f", [_marker_sin, _marker_product, _marker_where, _marker_appended])
def test_nan_marker_skipped_by_a_nan_reduction(f):
    # the marked element's partials are NaN (no "invalid" fires: NaN was there already) and
    # its adjoint or Jacobian column 0; 0 * NaN spread through H to every entry
    _check(f, np.array([0.3, 0.5, 0.9]))


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_eigh_values_at_a_repeated_eigenvalue(mode):
    # eigh(a)[0] is eigvalsh(a): reverse mode met the unread vectors' zero cotangent with the
    # nan gaps of the repeated value (1 has multiplicity 2 here) and gave nan
    def f(x):
        return np.sum(np.array([1.0, 2.0, 3.0]) * np.linalg.eigh(np.outer(x, x) + np.eye(3))[0])

    x = np.array([0.4, -0.2, 1.1])
    # the top eigenvalue is 1 + |x|^2 (weight 3), the others stay 1: gradient 6 x
    np.testing.assert_allclose(dualad.grad(f, x, mode=mode), 6 * x, rtol=1e-12)


def _norm2_rank_one(x):
    v = np.stack([x[0], np.sin(x[0]), x[0], x[0] ** 2])
    # 2.5 I plus a rank-one term: three equal singular values below the top one
    return np.linalg.norm(0.3 * np.outer(v, np.sin(v)) + 2.5 * np.eye(4), 2)


def test_reverse_over_reverse_at_repeated_singular_values():
    # the unread block of singular vectors met the nan gaps of the repeated values in the
    # outer reverse sweep: [[nan]] where every other second-order path is finite
    x = np.array([1.103])
    want = _nested_differences(_norm2_rank_one, x)
    for inner in ("forward", "reverse"):
        h = dualad.jacobian(
            lambda z, inner=inner: dualad.grad(_norm2_rank_one, z, mode=inner), x, mode="reverse"
        )
        np.testing.assert_allclose(h, want, rtol=1e-5, atol=1e-7)
    _check(_norm2_rank_one, x)


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_eigh_top_vector_with_repeated_lower_values(mode):
    def f(x):
        w, v = np.linalg.eigh(np.outer(x, x) + np.eye(3))  # eigenvalues 1, 1, 1 + |x|^2
        return np.sum(v[:, -1] ** 4) + w[-1]

    x = np.array([0.4, -0.2, 1.1])
    h = 1e-6
    ref = np.array([(f(x + e) - f(x - e)) / (2 * h) for e in np.eye(3) * h])
    np.testing.assert_allclose(dualad.grad(f, x, mode=mode), ref, rtol=1e-7, atol=1e-9)

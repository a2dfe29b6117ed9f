"""Statistics (dualad/rules/statistics.py): NumPy's value, and derivatives in both modes.

Composites (cov, corrcoef, the quantiles, the nan-reductions, piecewise, apply_along_axis)
are compared with NumPy's own function on plain arrays and run through ``check_rule``
(forward against central differences, the tape against forward); so are the rules for
round/around and bincount. NaN entries stay NaN under a perturbation, so they drop out of
every difference; outputs that are NaN (all-NaN slices) get a check of their own.
"""

import warnings

import numpy as np
import pytest

import dualad
from dualad import Dual
from dualad.rules import COMPOSITES, RULES
from tape import Variable
from tests._check import H, check_rule

rng = np.random.default_rng(34)


def R(*shape):
    return rng.standard_normal(shape)


def case(name, func, *args, **kwargs):
    return pytest.param(func, args, kwargs, id=name)


def _value_matches_numpy(func, args, kwargs, rtol=1e-13):
    impl = COMPOSITES.get(func) or func  # a rule's primal is NumPy's own function
    got = impl(*args, **kwargs)
    want = func(*args, **kwargs)
    assert np.shape(got) == np.shape(want), (np.shape(got), np.shape(want))
    np.testing.assert_allclose(got, want, rtol=rtol, atol=1e-14)


A = R(3, 5)
B = R(2, 3, 4)
V = R(7)
NANS = A.copy()
NANS[0, 1] = NANS[2, 3] = NANS[2, 0] = np.nan
NANB = B.copy()
NANB[0, 1, 2] = NANB[1, 0, 0] = NANB[1, 2, 3] = np.nan
POS = rng.uniform(0.5, 1.5, (3, 5))
POSNAN = POS.copy()
POSNAN[1, 1] = POSNAN[0, 4] = np.nan
AW = rng.uniform(0.5, 2.0, 5)  # aweights over A's 5 observations
FW = np.array([1, 3, 2, 1, 2])  # fweights
Q = np.array([0.13, 0.58, 0.91])  # virtual indices well away from integers
X = np.linspace(-2.05, 1.95, 9)  # piecewise: no point on a condition's boundary
COUNTS = np.array([0, 2, 2, 5, 1, 2, 0])
ROUNDED = np.round(R(3, 4) * 3, 1) + 0.02  # 0.03 from the nearest rounding boundary

METHODS = ("linear", "lower", "higher", "nearest", "midpoint", "inverted_cdf",
           "averaged_inverted_cdf", "closest_observation", "interpolated_inverted_cdf", "hazen",
           "weibull", "median_unbiased", "normal_unbiased")  # fmt: skip


CASES = [
    # covariance and correlation
    case("cov", np.cov, A),
    case("cov-rowvar-false", np.cov, A.T, rowvar=False),
    case("cov-1d", np.cov, V),
    case("cov-with-y", np.cov, A, A[:2] * 2 + R(2, 5)),
    case("cov-with-y-columns", np.cov, A.T, R(5, 2), rowvar=False),
    case("cov-two-vectors", np.cov, V, V**2),
    case("cov-bias", np.cov, A, bias=True),
    case("cov-ddof", np.cov, A, ddof=2),
    case("cov-aweights", np.cov, A, aweights=AW),
    case("cov-fweights", np.cov, A, fweights=FW),
    case("cov-both-weights", np.cov, A, fweights=FW, aweights=AW),
    case("cov-both-weights-ddof0", np.cov, A, fweights=FW, aweights=AW, ddof=0),
    case("cov-d-aweights", np.cov, A, None, True, False, None, None, AW),
    case("cov-d-aweights-fweights", np.cov, A, None, True, False, None, FW, AW),
    case("corrcoef", np.corrcoef, A),
    case("corrcoef-rowvar-false", np.corrcoef, A.T, rowvar=False),
    case("corrcoef-with-y", np.corrcoef, A, R(2, 5)),
    case("corrcoef-two-vectors", np.corrcoef, V, np.sin(V) + V),
    # quantiles, method='linear'
    case("quantile-scalar-q", np.quantile, A, 0.37),
    case("quantile-array-q", np.quantile, A, Q),
    case("quantile-axis", np.quantile, A, Q, axis=1),
    case("quantile-axis0-keepdims", np.quantile, A, 0.42, axis=0, keepdims=True),
    case("quantile-axis-tuple", np.quantile, B, Q, axis=(0, 2)),
    case("quantile-axis-tuple-keepdims", np.quantile, B, Q, axis=(-1, 0), keepdims=True),
    case("quantile-2d-q", np.quantile, B, np.array([[0.11, 0.62], [0.33, 0.87]]), axis=-1),
    case("quantile-ends", np.quantile, A, 1.0, axis=1),
    case("quantile-1d", np.quantile, V, Q),
    case("percentile", np.percentile, A, Q * 100, axis=1),
    case("percentile-scalar", np.percentile, B, 64.0, axis=(1, 2), keepdims=True),
    # other methods
    *[case(f"quantile-{m}", np.quantile, A, Q, axis=1, method=m) for m in METHODS[1:]],
    case("percentile-nearest", np.percentile, B, 41.0, axis=0, method="nearest"),
    # nan-quantiles: NaNs drop out, each slice has its own count
    case("nanquantile", np.nanquantile, NANS, Q, axis=1),
    case("nanquantile-all", np.nanquantile, NANS, 0.37),
    case("nanquantile-axis0-keepdims", np.nanquantile, NANS, Q, axis=0, keepdims=True),
    case("nanquantile-3d", np.nanquantile, NANB, Q, axis=(0, 2)),
    case("nanquantile-hazen", np.nanquantile, NANS, Q, axis=1, method="hazen"),
    case("nanquantile-midpoint", np.nanquantile, NANS, Q, axis=1, method="midpoint"),
    case("nanquantile-no-nans", np.nanquantile, A, Q, axis=1),
    case("nanpercentile", np.nanpercentile, NANS, Q * 100, axis=1),
    case("nanmedian", np.nanmedian, NANS),
    case("nanmedian-axis", np.nanmedian, NANS, axis=1),
    case("nanmedian-axis0-keepdims", np.nanmedian, NANS, axis=0, keepdims=True),
    case("nanmedian-3d", np.nanmedian, NANB, axis=(0, 1)),
    # nan-reductions
    case("nanvar", np.nanvar, NANS),
    case("nanvar-axis", np.nanvar, NANS, axis=1),
    case("nanvar-ddof-keepdims", np.nanvar, NANS, axis=0, ddof=1, keepdims=True),
    case("nanvar-3d", np.nanvar, NANB, axis=(0, 2)),
    case("nanvar-where", np.nanvar, NANS, axis=1, where=np.arange(5) != 2),
    case("nanvar-correction", np.nanvar, NANS, axis=1, correction=1),
    case("nanvar-mean", np.nanvar, NANS, axis=1, mean=np.full((3, 1), 0.2)),
    case("nanvar-no-nans", np.nanvar, A, axis=1),
    case("nanstd", np.nanstd, NANS),
    case("nanstd-axis-ddof", np.nanstd, NANS, axis=1, ddof=1),
    case("nanstd-3d-keepdims", np.nanstd, NANB, axis=-1, keepdims=True),
    case("nanprod", np.nanprod, POSNAN),
    case("nanprod-axis", np.nanprod, POSNAN, axis=1),
    case("nanprod-keepdims-initial", np.nanprod, POSNAN, axis=0, keepdims=True, initial=2.0),
    case("nanprod-where", np.nanprod, POSNAN, axis=1, where=np.arange(5) != 3),
    case("nancumsum", np.nancumsum, NANS),
    case("nancumsum-axis", np.nancumsum, NANS, axis=1),
    case("nancumsum-3d", np.nancumsum, NANB, axis=0),
    case("nancumprod", np.nancumprod, POSNAN),
    case("nancumprod-axis", np.nancumprod, POSNAN, axis=0),
    # piecewise and apply_along_axis
    case("piecewise", np.piecewise, X, [X < 0, X >= 0], [lambda v: -v, lambda v: v**2]),
    case("piecewise-otherwise", np.piecewise, X, [X < -1, X > 1], [np.sin, np.exp, np.cos]),
    case("piecewise-constant", np.piecewise, X, [X < 0], [0.5, lambda v: v**3]),
    case("piecewise-overlap", np.piecewise, X, [X < 1, X > 0], [np.sin, lambda v: 2 * v]),
    case("piecewise-one-cond", np.piecewise, X, X > 0, [np.exp]),
    case("piecewise-args", np.piecewise, X, [X < 0], [lambda v, c: c * v, lambda v, c: v / c], 3.0),
    case("piecewise-2d", np.piecewise, A, [A < 0], [np.sin, lambda v: v * v]),
    case("apply_along_axis-scalar", np.apply_along_axis, np.sum, 1, A),
    case("apply_along_axis-vector", np.apply_along_axis, lambda v: np.cumsum(v * v), 0, A),
    case("apply_along_axis-3d", np.apply_along_axis, lambda v: v[::-1] * v, 1, B),
    case("apply_along_axis-matrix", np.apply_along_axis, lambda v: np.outer(v, v), 2, B),
    case("apply_along_axis-args", np.apply_along_axis, lambda v, p: v**p, -1, POS, 3),
    case("apply_along_axis-kwargs", np.apply_along_axis, np.mean, 0, B, keepdims=True),
    # rules
    case("round", np.round, ROUNDED),
    case("round-decimals", np.round, ROUNDED * 10, 1),
    case("around", np.around, ROUNDED, -1),
    case("bincount", np.bincount, COUNTS, R(7)),
    case("bincount-minlength", np.bincount, COUNTS, R(7), 9),
]


@pytest.mark.parametrize("f, args, kwargs", CASES)
def test_statistics(f, args, kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # none of these cases is degenerate
        _value_matches_numpy(f, args, kwargs)
    check_rule(f, *args, **kwargs)


def test_every_addition_has_a_case():
    tested = {p.values[0] for p in CASES}
    mine = {f for f, impl in COMPOSITES.items() if impl.__module__.endswith("statistics")}
    mine |= {f for f, r in RULES.items() if r.jvp.__module__.endswith("statistics")}
    assert mine - tested == set()
    median = getattr(np.median, "__wrapped__", np.median)  # under an interception wrapper
    assert median in RULES and median not in COMPOSITES  # not restated twice


# -- values on plain arrays, over every method and many sizes ----------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_quantile_values_every_method(method):
    grid = np.linspace(0, 1, 41)  # hits integer virtual indices, ties of nearest, the ends
    for n in range(1, 9):
        x = R(n)
        _value_matches_numpy(np.quantile, (x, grid), {"method": method})
    for f, a in ((np.quantile, A), (np.quantile, NANS), (np.nanquantile, NANS)):
        for axis in (None, 0, 1, (0, 1)):
            for keepdims in (False, True):
                kw = {"axis": axis, "method": method, "keepdims": keepdims}
                _value_matches_numpy(f, (a, grid), kw)
    _value_matches_numpy(np.percentile, (NANB, grid * 100), {"axis": (2, 0), "method": method})
    _value_matches_numpy(np.nanpercentile, (NANB, grid * 100), {"axis": -1, "method": method})


def test_nan_values_match_numpy():
    for axis in (None, 0, 1):
        for kw in ({}, {"keepdims": True}):
            for f in (np.nanmedian, np.nanprod, np.nanvar, np.nanstd):
                _value_matches_numpy(f, (NANS,), {"axis": axis, **kw})
        for f in (np.nancumsum, np.nancumprod):
            _value_matches_numpy(f, (NANS,), {"axis": axis})
    _value_matches_numpy(np.nanvar, (NANS,), {"axis": 1, "ddof": 2})


def test_cov_and_corrcoef_values():
    with pytest.warns(RuntimeWarning, match="Degrees of freedom"), np.errstate(all="ignore"):
        _value_matches_numpy(np.cov, (np.float64(2.0),), {})  # one observation: ddof = 1
    for args, kw in [
        ((A[:1],), {}), ((A[0], A[1]), {"rowvar": False}),
        ((A.T, R(5)), {"rowvar": False}), ((A,), {"fweights": list(FW)}),
        ((A,), {"aweights": AW, "bias": True}), ((A,), {"aweights": AW, "ddof": 2}),
    ]:  # fmt: skip
        _value_matches_numpy(np.cov, args, kw)
    _value_matches_numpy(np.corrcoef, (V,), {})  # one variable: c / c
    c = COMPOSITES[np.corrcoef](np.stack([V, 2 * V + 1]))
    assert np.max(np.abs(c)) <= 1.0  # clipped like NumPy's


def test_quantile_of_a_slice_holding_nan_is_nan():
    a = Dual(NANS, np.ones_like(NANS))
    got = np.quantile(a, Q, axis=1)
    np.testing.assert_array_equal(np.isnan(got.primal), np.isnan(np.quantile(NANS, Q, axis=1)))
    assert np.all(got.tangent[:, [0, 2]] == 0)  # NaN rows carry no derivative
    np.testing.assert_allclose(got.tangent[:, 1], 1.0)


# -- derivatives with respect to q, and what they should be ------------------------------------


def test_quantile_derivative_in_q_is_the_gap_between_order_statistics():
    x = np.array([4.0, 1.0, 3.0, 0.0, 2.5])  # sorted: 0, 1, 2.5, 3, 4
    q = Dual(np.array([0.3, 0.6]), np.ones(2))  # virtual indices 1.2 and 2.4
    got = np.quantile(x, q)
    np.testing.assert_allclose(got.primal, np.quantile(x, [0.3, 0.6]))
    np.testing.assert_allclose(got.tangent, [(2.5 - 1) * 4, (3 - 2.5) * 4])
    for mode in ("forward", "reverse"):
        g = dualad.grad(lambda qq: np.sum(np.percentile(x, qq)), np.array([30.0, 60.0]), mode=mode)
        np.testing.assert_allclose(g, [0.06, 0.02])
    # a discrete method is piecewise constant in q
    nearest = np.quantile(x, q, method="nearest")
    assert not isinstance(nearest, Dual) or np.all(nearest.tangent == 0)


def test_quantile_derivative_in_a_interpolates():
    x = np.array([4.0, 1.0, 3.0, 0.0, 2.5])
    for mode in ("forward", "reverse"):
        g = dualad.grad(lambda a: np.quantile(a, 0.3), x, mode=mode)
        np.testing.assert_allclose(g, [0, 0.8, 0, 0, 0.2])  # 1 + 0.2 (2.5 - 1)
        g = dualad.grad(lambda a: np.nanmedian(a), np.append(x, np.nan), mode=mode)
        np.testing.assert_allclose(g, [0, 0, 0, 0, 1, 0])


# -- NaN-valued results: derivatives compared where they are defined ---------------------------

ALLNAN = NANS.copy()
ALLNAN[1] = np.nan  # row 1 is all NaN: a NaN result and a warning


def _finite_jacobian_check(f, x):
    """Both modes' Jacobians against central differences, over the non-NaN inputs and the
    finite outputs only (perturbing a NaN leaves it NaN; a NaN result has no derivative)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        y = f(x)
        ok_in, ok_out = ~np.isnan(x), np.isfinite(y)
        assert ok_out.any() and not ok_out.all()
        jf = np.asarray(dualad.jacobian(f, x, mode="forward"))
        jr = np.asarray(dualad.jacobian(f, x, mode="reverse"))
        for i in zip(*np.nonzero(ok_in)):
            e = np.zeros_like(x)
            e[i] = H
            fd = (-f(x + 2 * e) + 8 * f(x + e) - 8 * f(x - e) + f(x - 2 * e)) / (12 * H)
            for j in (jf, jr):
                col = j[(...,) + i]
                np.testing.assert_allclose(col[ok_out], fd[ok_out], rtol=1e-6, atol=1e-8)


ONENAN = A.copy()
ONENAN[1, 2] = np.nan  # quantile: the rows holding a NaN have a NaN result


@pytest.mark.parametrize(
    "f, x",
    [
        (lambda a: np.nanquantile(a, [0.21, 0.67], axis=1), ALLNAN),
        (lambda a: np.nanpercentile(a, 41.0, axis=1, method="weibull"), ALLNAN),
        (lambda a: np.nanmedian(a, axis=1), ALLNAN),
        (lambda a: np.nanvar(a, axis=1, ddof=1), ALLNAN),
        (lambda a: np.nanstd(a, axis=1), ALLNAN),
        (lambda a: np.quantile(a, 0.43, axis=1), ONENAN),
        (lambda a: np.percentile(a, [17.0, 52.0], axis=(0, 1)), NANB),
    ],
    ids=["nanquantile", "nanpercentile-w", "nanmedian", "nanvar", "nanstd", "quantile", "pct-3d"],
)
def test_nan_results(f, x):
    _finite_jacobian_check(f, x)


def test_all_nan_slices_warn_like_numpy():
    for f, args in ((np.nanmedian, ()), (np.nanquantile, (0.5,)), (np.nanvar, ())):
        with pytest.warns(RuntimeWarning):
            want = f(ALLNAN, *args, axis=1)
        with pytest.warns(RuntimeWarning):
            got = COMPOSITES[f](ALLNAN, *args, axis=1)
        np.testing.assert_allclose(got, want)


def test_nanstd_of_a_constant_slice_has_zero_derivative():
    x = np.array([[2.0, 2.0, np.nan], [1.0, 3.0, 0.5]])
    t = np.nanstd(Dual(x, R(2, 3)), axis=1).tangent
    assert t[0] == 0.0 and np.isfinite(t[1])


# -- second order ------------------------------------------------------------------------------

SECOND = {
    "quantile": lambda x: np.sum(np.quantile(np.sin(x) * x, [0.27, 0.71], axis=0) ** 2),
    "cov": lambda x: np.sum(np.cov(x) ** 2) + np.sum(np.corrcoef(x)[0] ** 3),
    "nanvar": lambda x: np.sum(np.nanvar(x, axis=1) ** 3) + np.sum(np.nanstd(x, axis=0) ** 3),
    "nanstd-0d": lambda x: np.nanstd(x) ** 3 + np.nanvar(x, ddof=1) ** 2,
    "nan-mix": lambda x: (
        np.sum(np.nancumprod(x, axis=1) * np.nanmedian(x, axis=0)[None])
        + np.nanprod(x)
        + np.sum(np.nancumsum(x, axis=0) ** 3)
    ),
    "apply-piecewise": lambda x: np.sum(
        np.apply_along_axis(lambda v: np.piecewise(v, [v < 0], [np.sin, np.exp]), 1, x) ** 2
    ),
    "round-bincount": lambda x: (
        np.sum(np.bincount(COUNTS[:5], x[0] ** 2) ** 2) * np.round(x[1, 0])
        + np.sum(np.around(x) * x**2)
    ),
}


@pytest.mark.parametrize("name", list(SECOND))
@pytest.mark.parametrize("method", ["hyperdual", "accumulate", "forward-over-reverse"])
def test_hessian_against_differences_of_the_gradient(name, method):
    f = SECOND[name]
    # NaN inputs for the nan-functions; not for "accumulate", whose dense products spread
    # 0 * NaN from the NaN entries' own (meaningless) rows over the whole Hessian
    x = NANS.copy() if name.startswith("nan") and method != "accumulate" else A.copy()
    ok = ~np.isnan(x)
    hess = dualad.hessian(f, x, method=method)
    v = np.where(ok, R(*x.shape), 0.0)

    def g(xx):
        return dualad.grad(f, xx)

    fd = (-g(x + 2 * H * v) + 8 * g(x + H * v) - 8 * g(x - H * v) + g(x - 2 * H * v)) / (12 * H)
    hv = np.tensordot(np.where(ok[..., None, None] & ok, hess, 0.0), v, axes=v.ndim)
    np.testing.assert_allclose(hv[ok], fd[ok], rtol=1e-5, atol=1e-7)


# -- rules: round and bincount -----------------------------------------------------------------


def test_round_is_numpys_with_zero_derivative():
    x = np.array([0.5, 1.5, 2.449, -0.5, 2.675])
    d = np.round(Dual(x, np.ones(5)), 2)
    np.testing.assert_array_equal(d.primal, np.round(x, 2))  # half to even, NumPy's value
    np.testing.assert_array_equal(d.tangent, np.zeros(5))
    assert isinstance(np.around(Variable(x) * 2.0), Variable)
    np.testing.assert_array_equal(dualad.grad(lambda a: np.sum(np.round(a) * a), x), np.round(x))


def test_bincount_without_differentiable_weights_is_numpys():
    assert type(np.bincount(COUNTS)) is np.ndarray
    assert type(np.bincount(COUNTS, weights=A[0, :5].tolist() + [1.0, 2.0])) is np.ndarray
    w = np.arange(7.0)
    d = np.bincount(COUNTS, weights=Dual(w, np.ones(7)), minlength=8)
    np.testing.assert_array_equal(d.primal, np.bincount(COUNTS, w, minlength=8))
    np.testing.assert_array_equal(d.tangent, np.bincount(COUNTS, minlength=8))
    for mode in ("forward", "reverse"):
        g = dualad.grad(lambda ww: np.sum(np.bincount(COUNTS, ww) ** 2), w, mode=mode)
        np.testing.assert_allclose(g, 2 * np.bincount(COUNTS, w)[COUNTS])


# -- shapes and options ------------------------------------------------------------------------


def test_piecewise_on_a_0d_dual():
    x = Dual(np.float64(-0.3), np.float64(1.0))
    y = np.piecewise(x, [x < 0, x >= 0], [lambda v: v**2, lambda v: v])
    assert y.primal == pytest.approx(0.09) and y.tangent == pytest.approx(-0.6)


def test_apply_along_axis_on_empty_iteration_raises_like_numpy():
    with pytest.raises(ValueError, match="iteration dimensions are 0"):
        np.apply_along_axis(np.sum, 1, Dual(np.zeros((0, 3)), np.zeros((0, 3))))


def test_options_not_restated_raise_naming_them():
    d = Dual(A, np.ones_like(A))
    with pytest.raises(NotImplementedError, match="weights"):
        np.quantile(d, 0.5, method="inverted_cdf", weights=np.ones_like(A))
    with pytest.raises(NotImplementedError, match="out="):
        np.nanvar(d, out=Dual(np.zeros(()), np.zeros(())))
    with pytest.raises(NotImplementedError, match="dtype"):
        np.cov(d, dtype=np.float32)
    with pytest.raises(ValueError, match="not a valid method"):
        np.quantile(d, 0.5, method="bogus")
    with pytest.raises(ValueError, match="range"):
        np.percentile(d, 120.0)
    with pytest.raises(TypeError, match="fweights must be integer"):
        np.cov(d, fweights=np.full(5, 1.5))

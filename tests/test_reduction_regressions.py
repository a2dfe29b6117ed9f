"""Regressions from the fuzzer in the reduction, selection, elementwise and statistics rules.

Each test compares forward mode, reverse mode and (where it applies) the tape with central
differences in float64 or a closed form; every one failed before its fix:

- np.fmin put the derivative on its NaN operand (fmax was right);
- a traced ``initial=`` of sum/prod/max/min (and their nan forms, ufunc.reduce) was dropped;
  so was a traced ``ddof=`` of var/std, and heaviside's ``h0``;
- reverse mode gave NaN for entries outside ``where=`` when a slice selected nothing;
- var/std with ``ddof >= n`` raised ZeroDivisionError or gave a finite gradient of the wrong
  sign where NumPy clamps the degrees of freedom to 0 (value inf);
- dualad.compile of np.piecewise raised IndexError;
- float32 inputs got float64 derivatives from diff (reverse), quantile and nanvar.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import dualad
import tape
from dualad.rules import RULES
from tests.test_fuzz_regressions_2 import central

MODES = ("forward", "reverse")


_central = central  # of a scalar f in float64 (tests.test_fuzz_regressions_2)


def _tape_grad(f, x):
    with tape.Tape() as t:
        w = t.watch(np.array(x))
        y = f(w)
    return t.gradient(y, w)


def _all_grads(f, x):
    """(forward, reverse, tape) gradients of a scalar ``f``."""
    return [dualad.grad(f, x, mode=m) for m in MODES] + [_tape_grad(f, x)]


def _check(f, x, ref=None, atol=1e-6):
    ref = _central(f, x) if ref is None else ref
    for g in _all_grads(f, x):
        np.testing.assert_allclose(g, ref, atol=atol, rtol=1e-6)


# -- 1. fmin and NaN -----------------------------------------------------------------------


def test_fmin_derivative_goes_to_the_operand_that_is_not_nan():
    x = np.array([1.5, np.nan, 0.5])

    def f(z):
        return np.fmin(z[0], z[1]) + np.fmin(z[1], z[2])

    for g in _all_grads(f, x):
        np.testing.assert_array_equal(g, [1.0, 0.0, 1.0])


def test_fmin_on_arrays_with_nans_matches_central_differences():
    a = np.array([1.5, np.nan, 0.5, np.nan, -2.0])
    b = np.array([np.nan, 2.0, 3.0, np.nan, -1.0])

    def f(z):
        return np.nansum(np.fmin(z[:5], z[5:]) * np.arange(1.0, 6.0))

    x = np.concatenate([a, b])
    ref = np.array([1, 0, 3, 0, 5, 0, 2, 0, 0, 0], dtype=float)
    _check(f, x, ref)


def test_fmin_scalar_fast_paths():
    # 0-d values and Python floats on the tape take the scalar kernels
    for m in MODES:
        assert dualad.grad(lambda z: np.fmin(z, np.nan), np.array(1.5), mode=m) == 1.0
        assert dualad.grad(lambda z: np.fmin(np.nan, z), np.array(1.5), mode=m) == 1.0
        assert dualad.grad(lambda z: np.fmin(z * 2.0, 7.0), np.array(1.5), mode=m) == 2.0
    with tape.Tape() as t:
        w = t.watch(1.5)
        y = np.fmin(w, float("nan")) * w
    assert t.gradient(y, w) == 3.0


def test_fmin_second_order_with_a_nan_operand():
    x = np.array([1.5, np.nan, 0.5])

    def f(z):
        return np.fmin(z[0] ** 2, z[1]) + np.fmin(z[1], z[2] ** 3)

    np.testing.assert_array_equal(dualad.hessian(f, x), np.diag([2.0, 0.0, 3.0]))


# -- 2. traced initial, ddof, h0 -------------------------------------------------------------

X3 = np.array([3.0, 1.0, 2.0])


@pytest.mark.parametrize(
    "f, ref",
    [
        (lambda z: np.sum(z[1:], initial=z[0]), [1, 1, 1]),
        (lambda z: np.prod(z[1:], initial=z[0]), [2, 6, 3]),
        (lambda z: np.max(z[1:], initial=z[0]), [1, 0, 0]),
        (lambda z: np.min(z[1:], initial=z[0] - 2.5), [1, 0, 0]),
        (lambda z: np.amax(z[1:], initial=z[0]), [1, 0, 0]),
        (lambda z: np.nansum(z[1:], initial=z[0]), [1, 1, 1]),
        (lambda z: np.nanprod(z[1:], initial=z[0]), [2, 6, 3]),
        (lambda z: np.nanmax(z[1:], initial=z[0]), [1, 0, 0]),
        (lambda z: np.nanmin(z[1:], initial=z[0] - 2.5), [1, 0, 0]),
        (lambda z: np.add.reduce(z[1:], initial=z[0]), [1, 1, 1]),
        (lambda z: np.multiply.reduce(z[1:], initial=z[0]), [2, 6, 3]),
        (lambda z: np.maximum.reduce(z[1:], initial=z[0]), [1, 0, 0]),
        (lambda z: np.sum(np.sin(z[1:]), initial=z[0] ** 2), None),
        (lambda z: np.prod(z[1:] ** 2, initial=np.exp(z[0])), None),
        (lambda z: np.sum(z[1:] * 0.0, initial=z[0] * z[1]), None),  # a carries nothing
        (lambda z: np.max(z[1:] - 5.0, initial=z[0] * z[1]), None),  # initial wins outright
    ],
)
def test_traced_initial_has_its_derivative(f, ref):
    _check(f, X3, None if ref is None else np.array(ref, dtype=float))


def test_traced_initial_with_axis_keepdims_and_where():
    a = np.array([[1.0, 2.0, -1.0], [0.5, -3.0, 2.0]])
    m = np.array([[True, False, True], [False, False, False]])  # row 1: nothing selected

    def pack(z):
        return z[:6].reshape(2, 3), z[6]

    x = np.concatenate([a.ravel(), [1.2]])
    weights = np.array([[1.0], [2.5]])
    for fn in (np.sum, np.prod, np.max, np.min, np.nansum):

        def f(z, fn=fn):
            arr, init = pack(z)
            r = fn(arr, axis=1, keepdims=True, initial=init, where=m)
            return np.sum(r * weights)

        _check(f, x)


def test_traced_initial_that_ties_with_the_max_splits_evenly():
    # the README's convention: ties in max split the derivative evenly, initial included
    x = np.array([3.0, 3.0, 1.0])
    for g in _all_grads(lambda z: np.max(z[1:], initial=z[0]), x):
        np.testing.assert_allclose(g, [0.5, 0.5, 0.0])


def test_traced_initial_second_order():
    def f(z):
        return np.prod(z[1:], initial=z[0] ** 2) + np.sum(z[1:] ** 2, initial=z[0] * z[2])

    H = dualad.hessian(f, X3)
    ref = np.stack([_central(lambda y, i=i: dualad.grad(f, y)[i], X3) for i in range(3)])
    np.testing.assert_allclose(H, ref, atol=1e-5)


@pytest.mark.parametrize("fn", [np.var, np.std])
def test_traced_ddof(fn):
    x = np.array([3.0, 1.0, 2.0, 5.5])
    _check(lambda z: fn(z, ddof=z[0] / 3), x)
    _check(lambda z: fn(z[1:], ddof=np.sin(z[0])), x)
    y = np.array([[1.0, 2.0, 4.0], [3.0, 5.0, 0.5]])
    _check(lambda z: np.sum(fn(z, axis=0, ddof=z[0, 0] / 4) * np.array([1.0, 2.0, 3.0])), y)


def test_traced_ddof_second_order():
    x = np.array([3.0, 1.0, 2.0, 5.5])

    def f(z):
        return np.var(z, ddof=z[0] / 3) + np.std(z, ddof=z[1] ** 2 / 4)

    H = dualad.hessian(f, x)
    ref = np.stack([_central(lambda y, i=i: dualad.grad(f, y)[i], x) for i in range(4)])
    np.testing.assert_allclose(H, ref, atol=1e-5)


def test_heaviside_h0_has_its_derivative():
    # heaviside(x, h0) is h0 where x == 0: d/dh0 is 1 there and 0 elsewhere
    x = np.array([0.0, -1.0, 2.0, 0.5])

    def f(z):  # x = z[:2] = [0, -1]: the first is at the step, so h0 = 3 z[2] + 1 counts, times 2
        return np.sum(np.heaviside(z[:2], 3 * z[2:] + 1) * np.array([2.0, 5.0]))

    for g in _all_grads(f, x):
        np.testing.assert_array_equal(g, [0.0, 0.0, 6.0, 0.0])
    # against central differences, with x held at its step
    steps = np.array([0.0, 1.0, 0.0])
    _check(lambda z: np.sum(np.heaviside(steps, z**2)), np.array([1.5, 2.0, -0.5]))


def _rule(name):
    # by name: other tests may leave a wrapper bound to np.diff (interception)
    return next(r for r in RULES.values() if r.name == name)


def test_a_tangent_for_an_argument_a_rule_does_not_differentiate_raises():
    # a safety net under every reduction/selection rule: np.diff's n, np.trace's offset ...
    # carry no derivative; a tangent or a wanted cotangent there must not be dropped
    a = np.array([1.0, 4.0, 2.0])
    rule = _rule("numpy.diff")
    out = np.diff(a)
    with pytest.raises(NotImplementedError, match=r"numpy\.diff.*'n'"):
        rule.jvp((np.ones((1, 3)), np.ones((1,))), out, a, 1.0)
    with pytest.raises(NotImplementedError, match=r"numpy\.diff.*'n'"):
        rule.vjp(np.ones((1, 2)), out, a, 1.0, needs=(True, True))
    trace = _rule("numpy.trace")
    m = np.eye(2)
    with pytest.raises(NotImplementedError, match=r"numpy\.trace.*'offset'"):
        trace.jvp((None, np.ones((1,))), np.trace(m), m, 0.0)
    # the ones it handles still work
    assert rule.vjp(np.ones((1, 2)), out, a, needs=(True,))[0].shape == (1, 3)


# -- 3. where= with an empty slice -----------------------------------------------------------

XW = np.array([[1.0, 2.0, 4.0], [3.0, 5.0, 0.5]])
MW = np.array([[1, 1, 0], [1, 1, 0]], dtype=bool)  # column 2: nothing selected


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NumPy's own, for the empty slice
@pytest.mark.parametrize(
    "fn",
    [
        lambda z, **k: np.mean(z, **k),
        lambda z, **k: np.var(z, **k),
        lambda z, **k: np.std(z, **k),
        lambda z, **k: np.var(z, ddof=1, **k),
        lambda z, **k: np.nanmean(z, **k),
    ],
    ids=["mean", "var", "std", "var_ddof1", "nanmean"],
)
def test_where_with_an_empty_slice_gives_zero_not_nan(fn):
    def f(z):
        return np.nansum(fn(z, axis=0, where=MW) * np.array([1.0, 2.0, 3.0]))

    def g(z):  # the empty slice's nan removed with np.where instead of nansum
        v = fn(z, axis=0, where=MW)
        return np.sum(np.where(np.isnan(v), 0.0, v))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for h in (f, g):
            ref = _central(h, XW)
            for grad in _all_grads(h, XW):
                assert np.all(np.isfinite(grad))
                np.testing.assert_allclose(grad, ref, atol=1e-6)


# -- 4. ddof >= n: NumPy clamps the degrees of freedom ----------------------------------------


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("ddof", [3, 4, 7.5])
def test_var_with_ddof_at_least_n_matches_numpy_clamp(ddof):
    x = np.array([1.0, 2.0, 4.0])
    assert np.var(x, ddof=ddof) == np.inf  # NumPy: sum of squares / max(n - ddof, 0)
    sign = np.sign(x - x.mean())
    for g in _all_grads(lambda z: np.var(z, ddof=ddof), x):
        np.testing.assert_array_equal(g, sign * np.inf)  # not finite, not sign-flipped
    for g in _all_grads(lambda z: np.std(z, ddof=ddof), x):
        assert not np.any(np.isfinite(g))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_var_with_ddof_n_along_an_axis_and_with_where():
    # two rows, ddof 2: every column has 0 degrees of freedom (value inf)
    for g in _all_grads(lambda z: np.sum(np.var(z, axis=0, ddof=2)), XW):
        assert not np.any(np.isfinite(g))
    # counts 2, 0, 1 with ddof 1: a finite column, an empty one and a 0/0 one (both nan,
    # dropped by nansum): zero gradient there in both modes, not 0 * inf
    m = np.array([[1, 0, 1], [1, 0, 0]], dtype=bool)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        _check(lambda z: np.nansum(np.var(z, axis=0, ddof=1, where=m)), XW)
        _check(lambda z: np.nansum(np.std(z, axis=0, ddof=1, where=m)), XW)


# -- 5. compile of np.piecewise ----------------------------------------------------------------


def test_compile_piecewise_with_traced_conditions():
    def f(z):
        return np.sum(np.piecewise(z, [z < 0, z >= 0], [lambda t: t**2, np.sin]))

    x0 = np.array([-1.0, 0.5, 0.3])
    cf = dualad.compile(f, x0, backend="numpy")
    for x in (x0, np.array([-1.0, -0.5, 0.3]), np.array([2.0, 0.5, -0.3])):
        np.testing.assert_allclose(cf(x), f(x))
        np.testing.assert_allclose(cf.grad(x), dualad.grad(f, x), atol=1e-12)
        np.testing.assert_allclose(cf.grad(x), _central(f, x), atol=1e-6)


def test_piecewise_still_wraps_a_single_condition_as_numpy_does():
    x = np.array([-1.0, 0.5, 2.0])
    f = lambda z: np.sum(np.piecewise(z, x > 0, [np.cos, lambda t: t]))
    assert f(x) == np.sum(np.piecewise(x, x > 0, [np.cos, lambda t: t]))
    _check(f, x)


# -- 6. float32 stays float32 ------------------------------------------------------------------

X32 = np.array([1.0, 2.0, 4.0, 3.0], dtype=np.float32)


@pytest.mark.parametrize(
    "f",
    [
        lambda z: np.sum(np.diff(z) ** 2),
        lambda z: np.sum(np.diff(z, n=2) ** 2),
        lambda z: np.quantile(z, 0.3),
        lambda z: np.nanquantile(z, 0.7),
        lambda z: np.percentile(z, 30),
        lambda z: np.nanvar(z),
        lambda z: np.nanstd(z),
        lambda z: np.mean(z, where=np.array([1, 1, 0, 1], dtype=bool)),
        lambda z: np.var(z, where=np.array([1, 1, 0, 1], dtype=bool)),
        lambda z: np.nanmean(z),
    ],
    ids=str.split(
        "diff diff2 quantile nanquantile percentile nanvar nanstd mean_where var_where nanmean"
    ),
)
def test_float32_derivatives_stay_float32(f):
    assert np.asarray(f(X32)).dtype == np.float32
    ref = _central(f, X32.astype(np.float64))
    for m in MODES:
        v, g = dualad.value_and_grad(f, X32, mode=m)
        assert np.asarray(v).dtype == np.float32, m
        assert g.dtype == np.float32, m
        np.testing.assert_allclose(g, ref, atol=1e-4)

"""Every reduction and selection rule against central differences, forward and reverse."""

import numpy as np
import pytest

import dualad
from dualad import Dual
from dualad.rules import RULES
from dualad.rules.reductions import PRIMAL_ONLY_FUNCS, UNSUPPORTED_FUNCS
from tests._check import H, check_rule

rng = np.random.default_rng(11)
A = rng.standard_normal((3, 4))
B = rng.standard_normal((2, 3, 4))
V = rng.standard_normal(5)
POS = rng.uniform(0.5, 1.5, (3, 4))
MASK = rng.random((3, 4)) > 0.3
MASK[:, 0] = True  # no empty slice along either axis
ROWMASK = np.array([True, False, True, True])  # broadcasts against (3, 4)
NANS = A.copy()
NANS[0, 1] = NANS[2, 3] = np.nan
ZERO1 = POS.copy()
ZERO1[1, 2] = 0.0  # one zero in row 1
ZERO2 = POS.copy()
ZERO2[0, 1] = ZERO2[0, 3] = ZERO2[2, 0] = 0.0  # two zeros in row 0, one in row 2
TIES = np.array([[1.0, 3.0, 3.0, 0.5], [2.0, -1.0, 2.0, -1.0], [0.0, 0.0, 4.0, 1.0]])
W1 = rng.uniform(0.5, 2.0, 4)  # weights along axis 1 of A
WB = rng.uniform(0.5, 2.0, (4, 2))  # weights along axes (2, 0) of B, in that order

CASES = [
    # sums and means
    (np.sum, (A,), {}), (np.sum, (A,), {"axis": 1}), (np.sum, (B,), {"axis": -1, "keepdims": True}),
    (np.sum, (B,), {"axis": (0, 2)}), (np.sum, (B,), {"axis": (-1, 0), "keepdims": True}),
    (np.sum, (A, 0), {}), (np.sum, (A,), {"dtype": np.float64, "initial": 2.0}),
    (np.sum, (A,), {"axis": 1, "where": MASK}), (np.sum, (A,), {"axis": 0, "where": ROWMASK}),
    (np.sum, (np.array(1.5),), {}), (np.sum, (V,), {"axis": 0}),
    (np.nansum, (NANS,), {}), (np.nansum, (NANS,), {"axis": -1, "keepdims": True}),
    (np.nansum, (NANS,), {"axis": 0, "where": MASK}),
    (np.mean, (A,), {}), (np.mean, (B,), {"axis": (0, -1)}), (np.mean, (B,), {"axis": 1, "keepdims": True}),
    (np.mean, (A,), {"axis": 1, "where": MASK}), (np.mean, (A,), {"where": ROWMASK}),
    (np.nanmean, (NANS,), {}), (np.nanmean, (NANS,), {"axis": 0}),
    (np.nanmean, (NANS,), {"axis": 1, "keepdims": True}),
    (np.average, (A,), {}), (np.average, (A,), {"axis": -1}),
    (np.average, (A, None, POS), {}), (np.average, (A, 1, W1), {}),
    (np.average, (A, 1, W1), {"keepdims": True}), (np.average, (B, (2, 0), WB), {}),
    (np.average, (A, 0, POS, True), {}), (np.average, (A, None, POS, True), {}),
    (np.average, (B, (2, 0), WB, True), {}),
    # products
    (np.prod, (POS,), {}), (np.prod, (POS,), {"axis": 1}), (np.prod, (B,), {"axis": (0, 2)}),
    (np.prod, (B,), {"axis": -2, "keepdims": True}), (np.prod, (ZERO1,), {}),
    (np.prod, (ZERO2,), {"axis": 1}), (np.prod, (ZERO2,), {"axis": 0}),
    (np.prod, (POS,), {"axis": 1, "where": MASK, "initial": 1.5}),
    (np.cumprod, (POS,), {}), (np.cumprod, (POS,), {"axis": 1}),
    (np.cumprod, (B,), {"axis": -1}), (np.cumprod, (ZERO1,), {"axis": 1}),
    (np.cumprod, (ZERO2,), {"axis": 1}), (np.cumprod, (ZERO2,), {}),
    (np.cumprod, (ZERO2,), {"axis": 0}),
    (np.cumsum, (A,), {}), (np.cumsum, (B,), {"axis": 1}), (np.cumsum, (A,), {"axis": -1}),
    (np.cumsum, (A, 0), {}),
    # moments
    (np.var, (A,), {}), (np.var, (B,), {"axis": (0, 2)}), (np.var, (A,), {"axis": 1, "ddof": 1}),
    (np.var, (B,), {"axis": -1, "keepdims": True}), (np.var, (A,), {"axis": 1, "where": MASK}),
    (np.var, (A,), {"axis": 0, "correction": 1}),
    (np.var, (A,), {"axis": 1, "mean": np.mean(A, axis=1, keepdims=True)}),
    (np.std, (A,), {}), (np.std, (B,), {"axis": (1, 2), "ddof": 1}),
    (np.std, (A,), {"axis": -1, "keepdims": True}), (np.std, (A,), {"axis": 0, "where": MASK}),
    # selections
    (np.ptp, (A,), {}), (np.ptp, (B,), {"axis": 1}), (np.ptp, (TIES,), {"axis": 1, "keepdims": True}),
    (np.median, (A,), {}), (np.median, (V,), {}), (np.median, (A,), {"axis": 0}),
    (np.median, (A,), {"axis": 1, "keepdims": True}), (np.median, (B,), {"axis": (0, 2)}),
    (np.median, (B,), {"axis": -2}),
    # differences and traces
    (np.diff, (V,), {}), (np.diff, (A,), {"axis": 0}), (np.diff, (A,), {"n": 2}),
    (np.diff, (A, 3, 1), {}), (np.diff, (A, 0), {}), (np.diff, (A,), {"prepend": 0.5}),
    (np.diff, (A,), {"n": 2, "axis": 0, "append": A[:1]}),
    (np.diff, (A, 2, -1, A[:, :2], POS[:, :1]), {}), (np.diff, (V, 1, 0, np.array(0.7)), {}),
    (np.trace, (A,), {}), (np.trace, (A, 1), {}), (np.trace, (A, -1), {}),
    (np.trace, (B,), {"axis1": 2, "axis2": 0}), (np.trace, (B, 1, -1, 1), {}),
    # piecewise
    (np.clip, (A, -0.5, 0.5), {}), (np.clip, (A, None, 0.3), {}), (np.clip, (A, -0.3, None), {}),
    (np.clip, (A, A[:1] - 0.1, POS[:1] - 0.5), {}), (np.clip, (A,), {"max": 0.2}),
    (np.clip, (A, -0.2 + A[:, :1] * 0, 0.1 + 0 * A[:, :1]), {}),
    (np.clip, (A, 0.4, -0.4), {}), (np.clip, (A, POS - 1.0, A[0] - 0.2), {}),
    (np.where, (MASK, A, POS), {}), (np.where, (MASK, A[0], POS[:, :1]), {}),
    (np.where, (ROWMASK, A, 2.0), {}), (np.where, (MASK[0], -1.0, A), {}),
    (np.select, ([MASK, ~MASK & (A > 0)], [A, POS], B[0]), {}),
    (np.select, ([A > 0.5, A < -0.5], [A, POS[0]]), {}),
    (np.select, ([A > 0.5, A < 0.0], [A, 2.0], 0.5), {}),
]  # fmt: skip
for _f in (np.max, np.amax, np.min, np.amin, np.nanmax, np.nanmin):
    CASES += [
        (_f, (A,), {}), (_f, (A,), {"axis": 0}), (_f, (B,), {"axis": (0, -1)}),
        (_f, (B,), {"axis": -2, "keepdims": True}), (_f, (TIES,), {"axis": 1}),  # 2-way ties
        (_f, (A,), {"axis": 1, "initial": 0.0 if _f in (np.max, np.amax, np.nanmax) else -0.0}),
        (_f, (A,), {"axis": 1, "where": MASK, "initial": 5.0 * (-1) ** (_f in (np.max, np.amax, np.nanmax))}),
    ]  # fmt: skip
CASES += [(np.nanmax, (NANS,), {"axis": 1}), (np.nanmin, (NANS,), {})]


def _id(case):
    f, args, kw = case
    shapes = ",".join(str(np.shape(a)) if isinstance(a, np.ndarray) else type(a).__name__
                      for a in args)  # fmt: skip
    return f"{f.__name__}({shapes}){''.join(f'-{k}' for k in kw)}"


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_rule(case):
    f, args, kw = case
    check_rule(f, *args, **kw)


def test_every_rule_has_a_case():
    mine = {f for f, r in RULES.items() if r.jvp.__module__.endswith(("reductions", "selection"))}
    assert mine - {c[0] for c in CASES} == set()


# -- compositions: a Dual built by an earlier rule flows in ----------------------------------

COMPOSED = [
    lambda x: np.sum(np.sin(x) * x, axis=1),
    lambda x: np.prod(np.sin(x) * x, axis=0),
    lambda x: np.max(np.sin(x) * x, axis=-1) - np.min(x),
    lambda x: np.std(np.sin(x) * x) + np.var(x, axis=0),
    lambda x: np.cumprod(np.sin(x) * x, axis=1) + np.cumsum(x, axis=0),
    lambda x: np.median(np.sin(x) * x, axis=1) * np.mean(x),
    lambda x: np.clip(np.sin(x) * x, -0.2, np.max(x, 0)) + np.where(x > 0, x * x, np.exp(x)),
    lambda x: np.diff(np.sin(x) * x, prepend=0.0) + np.trace(x),
    lambda x: np.average(np.sin(x) * x, 1, np.exp(np.mean(x, axis=0))),
    lambda x: x.sum(axis=0) + x.max(axis=0) + x.mean(0) + x.prod(0) + np.sum(x.clip(-1, 1), 0),
    lambda x: np.add.reduce(x * x, axis=1) + np.sum(np.multiply.accumulate(x, axis=1), 1),
    lambda x: np.ptp(np.exp(x)) * np.nansum(x) + np.nanmean(x * x),
]


@pytest.mark.parametrize("g", COMPOSED, ids=[f"composed{i}" for i in range(len(COMPOSED))])
def test_composed(g):
    check_rule(g, A)


# -- values the derivative must take -------------------------------------------------------


def test_max_splits_ties_evenly():
    x = np.array([1.0, 3.0, 3.0, 3.0])
    t = np.max(Dual(x, np.eye(4))).tangent  # one direction per entry: the gradient
    np.testing.assert_allclose(t, [0, 1 / 3, 1 / 3, 1 / 3])
    t = np.min(Dual(x, np.eye(4)), initial=1.0).tangent  # initial ties with x[0]
    np.testing.assert_allclose(t, [0.5, 0, 0, 0])


def test_prod_with_zeros_is_exact():
    x = np.array([2.0, 0.0, 3.0, 5.0])
    np.testing.assert_allclose(np.prod(Dual(x, np.eye(4))).tangent, [0, 30, 0, 0])
    x = np.array([2.0, 0.0, 3.0, 0.0])
    np.testing.assert_allclose(np.prod(Dual(x, np.eye(4))).tangent, [0, 0, 0, 0])


def test_cumprod_with_zeros_is_exact():
    x = np.array([2.0, 0.0, 3.0, 0.0, 4.0])
    t = np.cumprod(Dual(x, np.eye(5))).tangent  # t[j, i] = d out_i / d x_j
    want = np.zeros((5, 5))
    want[0, 0] = 1
    want[1, 1:] = [2, 6, 0, 0]
    np.testing.assert_allclose(t, want)


def test_std_of_constant_is_zero_not_nan():
    assert np.std(Dual(np.ones(4), rng.standard_normal(4))).tangent == 0.0


def test_clip_passes_tangent_inside_only():
    t = np.clip(Dual(np.array([-2.0, 0.0, 2.0]), np.ones(3)), -1, 1).tangent
    np.testing.assert_array_equal(t, [0, 1, 0])


def test_where_one_argument_is_indices():
    res = np.where(Dual(A, np.ones_like(A)) > 0)
    assert all(not isinstance(r, Dual) for r in res)
    res = np.where(Dual(A, np.ones_like(A)))
    assert isinstance(res, tuple) and all(r.dtype.kind == "i" for r in res)


def test_median_overwrite_input_leaves_the_primal_alone():
    a = A.copy()
    m = np.median(Dual(a, np.ones_like(a)), overwrite_input=True)
    np.testing.assert_array_equal(a, A)  # the dispatcher drops the flag: no reordering
    np.testing.assert_allclose(m.primal, np.median(A))
    np.testing.assert_allclose(m.tangent, 1.0)


# -- primal-only and unsupported -----------------------------------------------------------

D = Dual(A, np.ones_like(A))
DV = Dual(np.sort(V), np.ones_like(V))
PRIMAL_CALLS = {
    np.argmax: (D,), np.argmin: (D,), np.nanargmax: (D,), np.nanargmin: (D,),
    np.argsort: (D,), np.argpartition: (D, 1), np.argwhere: (D,), np.nonzero: (D,),
    np.flatnonzero: (D,), np.lexsort: ((DV, DV),), np.searchsorted: (DV, 0.1),
    np.digitize: (D, np.sort(V)), np.shape: (D,), np.ndim: (D,), np.size: (D,),
    np.count_nonzero: (D,), np.any: (D,), np.all: (D,), np.isclose: (D, A),
    np.allclose: (D, A), np.array_equal: (D, A), np.array_equiv: (D, A), np.isreal: (D,),
    np.iscomplex: (D,), np.result_type: (D,), np.may_share_memory: (D, A),
    np.shares_memory: (D, A),
}  # fmt: skip


def test_primal_only_calls_cover_the_table():
    assert set(PRIMAL_CALLS) == set(PRIMAL_ONLY_FUNCS)
    assert not set(PRIMAL_ONLY_FUNCS) & set(RULES)


@pytest.mark.parametrize("f", list(PRIMAL_CALLS), ids=lambda f: f.__name__)
def test_primal_only_returns_plain(f):
    res = f(*PRIMAL_CALLS[f])
    for r in res if isinstance(res, tuple) else (res,):
        assert not isinstance(r, Dual)


D0, D1 = Dual(A[0], V[:4]), Dual(A[1], V[1:])
UNSUPPORTED_CALLS = {np.histogram2d: (D0, D1), np.histogramdd: (D,)}


@pytest.mark.parametrize("f", list(UNSUPPORTED_FUNCS), ids=lambda f: f.__name__)
def test_unsupported_raises_naming_it(f):
    assert f not in RULES
    with pytest.raises(NotImplementedError, match=f"numpy.{f.__name__}"):
        f(*UNSUPPORTED_CALLS.get(f, (D0,)))


# -- higher order: rules applied to Duals (skipped until the rules they call exist) ---------

SECOND = [
    (np.sum, (B,), {"axis": (0, 2)}), (np.sum, (A,), {"axis": 1, "where": MASK}),
    (np.prod, (POS,), {"axis": 1}), (np.prod, (ZERO2,), {}), (np.prod, (ZERO1,), {"axis": 1}),
    (np.prod, (POS,), {"axis": 1, "where": MASK, "initial": 1.5}),
    (np.mean, (A,), {"axis": 0}), (np.mean, (A,), {"where": ROWMASK}),
    (np.var, (A,), {"axis": 1}), (np.var, (A,), {"axis": 1, "where": MASK}),
    (np.std, (B,), {"axis": -1}), (np.std, (A,), {"axis": 0, "where": MASK}),
    (np.max, (A,), {"axis": 1}), (np.max, (A,), {}), (np.min, (B,), {"axis": (0, 2)}),
    (np.nanmax, (NANS,), {"axis": 1}), (np.ptp, (A,), {"axis": 1}),
    (np.cumprod, (POS,), {"axis": 1}), (np.cumprod, (ZERO2,), {"axis": 1}),
    (np.cumprod, (ZERO2,), {}), (np.cumsum, (A,), {}), (np.cumsum, (B,), {"axis": 1}),
    (np.median, (A,), {"axis": 0}), (np.median, (V,), {}), (np.median, (B,), {"axis": (0, 2)}),
    (np.average, (A, 1, W1), {}), (np.average, (B, (2, 0), WB), {}),
    (np.diff, (A, 2, 0), {}), (np.diff, (A,), {"prepend": 0.5}),
    (np.trace, (B, 1, 2, 0), {}), (np.trace, (A, 1), {}),
    (np.clip, (A, -0.5, 0.5), {}), (np.clip, (A, A[:1] - 0.1, POS[:1] - 0.5), {}),
    (np.where, (MASK, A, POS), {}), (np.where, (ROWMASK, A, 2.0), {}),
    (np.select, ([A > 0.5, A < 0.0], [A, POS]), {}),
    (np.nansum, (NANS,), {"axis": 0}), (np.nanmean, (NANS,), {}),
]  # fmt: skip


def _slot(args):
    """Index of the first float array argument; None for select (its first choice)."""
    for i, a in enumerate(args):
        if isinstance(a, np.ndarray) and a.dtype.kind == "f":
            return i
    return None


def _get(args, i):
    return args[1][0] if i is None else args[i]


def _put(args, i, x):
    a = list(args)
    if i is None:
        a[1] = [x] + list(a[1][1:])
    else:
        a[i] = x
    return a


def _central(g, x, v):
    fd = [g(x + s * H * v) for s in (2, 1, -1, -2)]
    return (-fd[0] + 8 * fd[1] - 8 * fd[2] + fd[3]) / (12 * H)


@pytest.mark.parametrize("case", SECOND, ids=[_id(c) for c in SECOND])
def test_jvp_on_duals_gives_second_derivatives(case):
    """Forward over forward: D_v D_w f from nested Duals against a difference of D_w f."""
    f, args, kw = case
    i = _slot(args)
    x = _get(args, i)
    v, w = rng.standard_normal(x.shape), rng.standard_normal(x.shape)

    def first(xx):  # D_w f at xx, exact from first-order Duals
        return np.nan_to_num(np.asarray(f(*_put(args, i, Dual(xx, w)), **kw).tangent))

    def nested():
        xx = Dual(Dual(x, v, tag=2), w[None], tag=3)  # k = 1 kept: .tangent needs no indexing
        t = f(*_put(args, i, xx), **kw).tangent
        if isinstance(t, Dual):
            return t.primal, t.tangent
        return t, np.zeros(np.shape(t))

    d1, d2 = nested()
    np.testing.assert_allclose(np.nan_to_num(d1[0]), first(x), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(np.nan_to_num(d2[0]), _central(first, x, v), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("case", SECOND, ids=[_id(c) for c in SECOND])
def test_vjp_on_duals_is_differentiable(case):
    """Reverse over forward: the rule's vjp evaluated on Duals, against a difference of it."""
    f, args, kw = case
    rule = RULES[f]
    i = _slot(args)
    x = _get(args, i)
    v = rng.standard_normal(x.shape)
    u = rng.standard_normal((2,) + np.shape(f(*args, **kw)))

    def bar(xx):
        a = _put(args, i, xx)
        b = rule.vjp(u, f(*a, **kw), *a, **kw)
        return b[1][0] if i is None else b[i]

    res = bar(Dual(x, v, tag=5))
    got = res.tangent if isinstance(res, Dual) else np.zeros(np.shape(res))
    want = _central(lambda xx: np.nan_to_num(bar(xx)), x, v)
    np.testing.assert_allclose(np.nan_to_num(got), want, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize(
    "f",
    [
        lambda a: np.where(np.sum(a) > 0, 2 * np.sum(a), 0.0),
        lambda a: np.where(np.sum(a) < 0, 0.0, np.sum(a) ** 2),
        lambda a: np.clip(np.sum(a), -10.0, 10.0) * 3,
        lambda a: np.select([np.sum(a) > 0], [np.sum(a) * 5], default=0.0),
        lambda a: np.select([np.sum(a) < 0], [np.sum(a)], default=np.prod(a)),
    ],
    ids=["where-x", "where-y", "clip", "select-choice", "select-default"],
)
def test_selection_of_zero_d_values_in_reverse_mode(f):
    # a 0-d tape value is an np.float64, a subclass of float: it must not be taken for a
    # Python-number constant (whose cotangent is skipped), or the gradient comes out zero
    x = np.array([0.4, 0.9, 1.3])
    want = np.array([(f(x + e) - f(x - e)) / 2e-6 for e in np.eye(3) * 1e-6])
    assert np.abs(want).max() > 0.5
    for mode in ("reverse", "forward"):
        np.testing.assert_allclose(dualad.grad(f, x, mode=mode), want, rtol=1e-6)

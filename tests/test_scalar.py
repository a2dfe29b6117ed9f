"""The packed-scalar fast path (dualad._scalar) against the generic array path.

A 0-d float64 Dual with k <= 2 directions computes on Python numbers; a 1-element array Dual
goes through the rule table. Both must agree, edge cases (division by zero, domain errors,
overflow) included, where the fast path has to hand over to NumPy.
"""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dualad
from dualad import Dual
from dualad._scalar import KERNELS

TANGENTS = {1: (np.array(1.0), np.array(0.0)), 2: (np.array([1.0, -0.3]), np.array([0.0, 1.0]))}


def _pair(p, k, which=0):
    """The same value as a packed scalar Dual and as a 1-element array Dual."""
    t = TANGENTS[k][which]
    return Dual(np.float64(p), t), Dual(np.array([p]), t[..., None])


def _agree(fast, arr, rtol=1e-14):
    assert type(fast.primal) is np.float64
    np.testing.assert_allclose(fast.primal, arr.primal[0], rtol=4e-16, atol=0)
    np.testing.assert_allclose(fast.tangent, arr.tangent[..., 0], rtol=rtol, atol=1e-300)


def _domain(f):
    if f in (np.arccosh,):
        return 1.7
    if f in (np.arcsin, np.arccos, np.arctanh):
        return 0.4
    return 0.7


@pytest.mark.parametrize("k", [1, 2])
@pytest.mark.parametrize("f", sorted(KERNELS, key=lambda f: f.__name__), ids=lambda f: f.__name__)
def test_every_kernel_matches_the_rule_table(f, k):
    for x in (_domain(f), -_domain(f) if f not in (np.arccosh, np.log, np.log2, np.log10) else 3.1):
        if f in (np.sqrt, np.log, np.log2, np.log10) and x < 0:
            continue
        fast, arr = _pair(x, k)
        out = f(fast)
        _agree(out, f(arr))
        assert type(out._p) is float  # it stayed on the fast path


OPERANDS = [2.5, 3, np.float64(-1.25)]


@pytest.mark.parametrize("k", [1, 2])
@pytest.mark.parametrize("op", ["add", "sub", "mul", "truediv"])
def test_operators_with_every_operand_kind_on_either_side(op, k):
    a, a_arr = _pair(1.5, k, 0)
    b, b_arr = _pair(-0.5, k, 1)
    fn = getattr(np, {"add": "add", "sub": "subtract", "mul": "multiply"}.get(op, "divide"))
    pyop = {"add": lambda x, y: x + y, "sub": lambda x, y: x - y}.get(op)
    pyop = pyop or {"mul": lambda x, y: x * y, "truediv": lambda x, y: x / y}[op]
    _agree(pyop(a, b), pyop(a_arr, b_arr))
    _agree(fn(a, b), fn(a_arr, b_arr))
    _agree(pyop(a, a), pyop(a_arr, a_arr))
    for c in OPERANDS:
        _agree(pyop(a, c), pyop(a_arr, c))
        _agree(pyop(c, a), pyop(c, a_arr))
        _agree(fn(c, a), fn(c, a_arr))
        _agree(fn(a, c), fn(a_arr, c))
        assert type(pyop(c, a)._p) is float and type(fn(c, a)._p) is float


PYOPS = {"add": lambda x, y: x + y, "sub": lambda x, y: x - y, "mul": lambda x, y: x * y,
         "truediv": lambda x, y: x / y}  # fmt: skip


@pytest.mark.parametrize("k", [1, 2])
@pytest.mark.parametrize("op", list(PYOPS))
def test_operators_with_a_zero_tangent_on_either_side(op, k):
    # np.floor gives a packed Dual whose tangent is None: each None branch of the rules
    a, a_arr = _pair(1.5, k, 0)
    z, z_arr = np.floor(_pair(-2.5, k, 1)[0]), np.floor(_pair(-2.5, k, 1)[1])
    assert z._dot is None and type(z._p) is float
    f = PYOPS[op]
    for left, right in [(a, z), (z, a), (z, z)]:
        la, ra = (a_arr if left is a else z_arr), (a_arr if right is a else z_arr)
        out = f(left, right)
        assert type(out._p) is float
        _agree(out, f(la, ra))
    assert f(z, z)._dot is None and f(z, 2.0)._dot is None and f(2.0, z)._dot is None


@pytest.mark.parametrize("op", list(PYOPS))
def test_operands_from_different_seeds_and_levels(op):
    f = PYOPS[op]
    # one direction given as a scalar tangent and as a (1,) tangent: same level, other layout
    one, vec = Dual(1.5, 2.0), Dual(np.float64(-0.5), np.array([3.0]))
    arr = f(Dual(np.array([1.5]), np.array([2.0])), Dual(np.array([-0.5]), np.array([[3.0]])))
    np.testing.assert_allclose(np.ravel(f(one, vec).tangent), np.ravel(arr.tangent), rtol=1e-15)
    # another level nests instead of mixing: d/dx [x * d/dy (x OP y)] as with arrays
    inner = dualad.Dual(0.75, 1.0, tag=dualad.Dual(1.0, 1.0).tag + 1)
    got = f(inner, Dual(1.5, 2.0))
    want = f(dualad.Dual(np.array([0.75]), np.array([1.0]), tag=inner.tag), Dual(1.5, 2.0))
    assert got.tag == inner.tag

    def parts(v):  # primal and tangent of the lower level, whichever side holds a Dual
        return (v.primal, v.tangent) if isinstance(v, Dual) else (v, 0.0)

    for g, w in zip(
        parts(got.primal) + parts(got.tangent), parts(want.primal) + parts(want.tangent)
    ):
        np.testing.assert_allclose(np.ravel(g), np.ravel(w), rtol=1e-15)


def test_seeds_of_one_level_share_their_metadata():
    # the operators compare operands by identity first; equal metadata must still match
    a, b = Dual(1.5, np.array([1.0, 0.0])), Dual(0.5, np.array([0.0, 1.0]))
    assert a._m is b._m and (a / b)._m is a._m
    c = dualad.Dual(0.5, np.array([0.0, 1.0]))
    object.__setattr__(c, "_m", tuple(c._m))  # an equal tuple that is not the shared one
    assert type((a / c)._p) is float


@pytest.mark.parametrize("k", [1, 2])
@pytest.mark.parametrize("x0", [1.5, -0.75, 0.0, -0.0])
def test_unary_operators(x0, k):
    fast, arr = _pair(x0, k)
    for f in (lambda v: -v, lambda v: +v, abs):
        out = f(fast)
        assert type(out._p) is float
        _agree(out, f(arr))
    # abs at 0: the sub-gradient 0, as np.abs on arrays
    if x0 == 0:
        assert np.all(abs(fast).tangent == 0)


def test_abs_of_nan_keeps_nan_in_the_tangent():
    fast, arr = _pair(np.nan, 2)
    assert np.all(np.isnan(abs(fast).tangent)) and np.all(np.isnan(np.abs(arr).tangent))


EXPONENTS = [2, 2.0, 3, 0.5, -1, -1.0, 1, 1.5, -2.5, np.float64(1.7), 0.25]


@pytest.mark.parametrize("k", [1, 2])
@pytest.mark.parametrize("c", EXPONENTS, ids=repr)
def test_powers_with_a_constant_exponent(c, k):
    for x0 in (1.3, 0.4, -1.7):
        if x0 < 0 and float(c) != int(c):
            continue  # NaN with a warning: test_edge_cases_hand_over_to_numpy
        fast, arr = _pair(x0, k)
        out = fast**c
        assert type(out._p) is float
        _agree(out, arr**c)
        _agree(np.power(fast, c), np.power(arr, c))
        assert type(np.power(fast, c)._p) is float


@pytest.mark.parametrize("k", [1, 2])
@pytest.mark.parametrize("c", [2.0, 3, 0.5, np.float64(1.3), 10])
def test_constant_to_the_power_of_a_dual(c, k):
    for x0 in (1.3, -0.4, 2.0):
        fast, arr = _pair(x0, k)
        out = c**fast
        assert type(out._p) is float
        _agree(out, c**arr)
        _agree(np.power(c, fast), np.power(c, arr))


@pytest.mark.parametrize("k", [1, 2])
def test_dual_to_the_power_of_a_dual(k):
    a, a_arr = _pair(1.3, k, 0)
    b, b_arr = _pair(-0.7, k, 1)
    assert type((a**b)._p) is float
    _agree(a**b, a_arr**b_arr)
    with warnings.catch_warnings():  # a negative base: NaN with NumPy's warning, both ways
        warnings.simplefilter("ignore", RuntimeWarning)
        got, want = b**a, b_arr**a_arr
    np.testing.assert_array_equal(got.primal, want.primal[0])
    z, z_arr = _pair(0.0, k, 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        got, want = z**b, z_arr**b_arr
    np.testing.assert_array_equal(got.primal, want.primal[0])


@pytest.mark.parametrize("k", [1, 2])
@pytest.mark.parametrize(
    "f", [np.maximum, np.minimum, np.arctan2, np.hypot], ids=lambda f: f.__name__
)
def test_binary_kernels_match_the_rule_table(f, k):
    pairs = [(1.5, -0.5), (-0.5, 1.5), (0.7, 0.7), (2.0, 0.0)]
    if f is not np.arctan2:  # (arctan2 has no derivative at the origin)
        pairs += [(0.0, -0.0), (-0.0, 0.0)]
    if f is np.hypot:
        pairs.append((0.0, 0.0))  # the sub-gradient 0
    for p, q in pairs:
        a, a_arr = _pair(p, k, 0)
        b, b_arr = _pair(q, k, 1)
        for x, y, xa, ya in [(a, b, a_arr, b_arr), (a, q, a_arr, q), (p, b, p, b_arr)]:
            out = f(x, y)
            assert type(out._p) is float
            want = f(xa, ya)
            _agree(out, want)
            np.testing.assert_array_equal(np.signbit(out.primal), np.signbit(want.primal[0]))


def test_binary_kernels_hand_nan_over_to_numpy():
    a, a_arr = _pair(np.nan, 2, 0)
    b, b_arr = _pair(1.0, 2, 1)
    for f in (np.maximum, np.minimum):
        got, want = f(a, b), f(a_arr, b_arr)
        np.testing.assert_array_equal(got.primal, want.primal[0])
        np.testing.assert_array_equal(got.tangent, want.tangent[..., 0])


@pytest.mark.parametrize(
    "expr",
    [
        lambda x: x / 0,
        lambda x: x / 0.0,
        lambda x: 1.0 / (x - x),
        lambda x: np.log(-x),
        lambda x: np.sqrt(x - x),
        lambda x: np.exp(1000 * x),
        lambda x: np.arcsin(3 * x),
        lambda x: x ** 0.5,
        lambda x: (-x) ** 0.5,
        lambda x: x * 10**400,
        lambda x: (x - x) ** -1.0,
        lambda x: (x - x) ** 0.5,
        lambda x: (-x) ** 1.5,
        lambda x: x**2000.0,
        lambda x: (-2.0) ** x,
        lambda x: 0.0**-x,
    ],
    ids=["div0-int", "div0-float", "div0-dual", "log-neg", "sqrt0", "exp-overflow", "asin-dom",
         "pow-half", "pow-neg-base", "int-overflow", "pow-0-inv", "pow-0-half", "pow-neg-frac",
         "pow-overflow", "rpow-neg-base", "rpow-zero-base"],
)  # fmt: skip
def test_edge_cases_hand_over_to_numpy(expr):
    fast, arr = _pair(1.5, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            want = expr(arr)
        except OverflowError:
            with pytest.raises(OverflowError):
                expr(fast)
            return
        got = expr(fast)
    np.testing.assert_array_equal(got.primal, want.primal[0])
    np.testing.assert_array_equal(got.tangent, want.tangent[..., 0])


def test_indexing_a_vector_caches_packed_tangents_until_a_write():
    x = Dual(np.array([1.0, 2.0, 3.0]), np.array([[1.0, 0, 0], [0, 1.0, 0]]))
    assert x[1].tangent.tolist() == [0.0, 1.0] and type(x[1]._p) is float
    assert x[-1].tangent.tolist() == [0.0, 0.0]
    x[1] = x[0] * 5.0  # the write must invalidate the cache
    assert x[1].tangent.tolist() == [5.0, 0.0] and x[1].primal == 5.0
    with pytest.raises(IndexError):
        x[3]


def test_long_vectors_are_not_packed_wholesale():
    n = 10_000
    t = np.stack([np.arange(n, dtype=float), -np.arange(n, dtype=float)])
    x = Dual(np.linspace(0, 1, n), t)
    np.testing.assert_array_equal(x[n - 7].tangent, [n - 7.0, 7.0 - n])
    assert x._pk is None


def test_packed_scalars_behave_like_numpy_scalars():
    d = Dual(1.5, 2.0)
    assert d.dtype == np.float64 and d.shape == () and d.ndim == 0
    assert type(d.primal) is np.float64 and type(d.tangent) is np.float64
    assert "primal=np.float64(1.5)" in repr(d) or "primal=1.5" in repr(d)
    assert d.astype(np.float32).tangent.dtype == np.float32
    with pytest.raises(TypeError, match="drop"):
        float(d)


# -- random scalar programs: the packed path against the array path, and the tape against both
_STEPS = [
    lambda a, b: a + b, lambda a, b: a - b, lambda a, b: a * b, lambda a, b: a / (1.5 + b * b),
    lambda a, b: np.sin(a) * b, lambda a, b: np.exp(-a * a) + b, lambda a, b: np.log1p(a * a),
    lambda a, b: 2.0 - a, lambda a, b: np.float64(0.5) * a + 3, lambda a, b: np.tanh(a - b),
    lambda a, b: np.arctan(a) / 2, lambda a, b: np.sqrt(1.0 + b * b) - a, lambda a, b: a * a,
    lambda a, b: np.hypot(a, b) + 0.1, lambda a, b: np.maximum(a, b), lambda a, b: -a + b**2,
    lambda a, b: abs(a) ** 1.5 - b, lambda a, b: 2.0 ** a * b**3, lambda a, b: np.minimum(a, 0.3),
    lambda a, b: (1.0 + a * a) ** (0.5 + b * b), lambda a, b: np.arctan2(a, 1.0 + b * b),
    lambda a, b: +a / (1.0 + abs(b)) ** 0.5, lambda a, b: np.power(1.2 + a * a, -1),
]  # fmt: skip


def _program(ix):
    def f(x, y):
        for i in ix:
            x, y = _STEPS[i](x, y), x
            x = np.tanh(x) * 2.0  # keep values in range
        return x * y

    return f


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(0, len(_STEPS) - 1), min_size=1, max_size=6),
    st.floats(-1.5, 1.5),
    st.floats(-1.5, 1.5),
    st.sampled_from([1, 2]),
)
def test_random_scalar_programs_agree_with_arrays_and_tape(ix, p, q, k):
    f = _program(ix)
    (a, a_arr), (b, b_arr) = _pair(p, k, 0), _pair(q, k, 1)
    fast, arr = f(a, b), f(a_arr, b_arr)
    np.testing.assert_allclose(fast.primal, arr.primal[0], rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(fast.tangent, arr.tangent[..., 0], rtol=1e-12, atol=1e-14)
    x = np.array([p, q])
    g = lambda v: f(v[0], v[1])
    np.testing.assert_allclose(
        dualad.grad(g, x, mode="reverse"), dualad.grad(g, x, mode="forward"), rtol=1e-12, atol=1e-14
    )


@pytest.mark.parametrize("c", [3, 1.5, 0.5, 2.0, -1.0, -2.0, 2.5])
def test_powers_round_as_numpys_power_loop_to_the_bit(c):
    # NumPy computes the exponents 2, 0.5 and -1 as square, sqrt and reciprocal, in the value
    # and in the partial's a ** (c - 1) alike; pow() differs from those in the last bit for
    # some bases, so the packed path must take the same route
    bases = np.random.default_rng(7).uniform(0.1, 20.0, 4000)
    t = np.array([1.0, -0.5])
    got = [Dual(np.float64(b), t) ** c for b in bases]
    want = Dual(bases, t[:, None] * np.ones(4000)) ** c
    assert all(type(g._p) is float for g in got)
    np.testing.assert_array_equal([g.primal for g in got], want.primal)
    np.testing.assert_array_equal(np.stack([g.tangent for g in got], axis=1), want.tangent)


@pytest.mark.parametrize("x", [0.5, np.float64(0.5), np.array(0.5)], ids=["float", "f64", "0d"])
def test_scalar_inputs_are_seeded_packed(x):
    # jvp, derivative and grad of a one-number input run on Python floats inside f
    seen = []

    def f(v):
        seen.append(type(v._p))
        return np.sin(v) * v + np.exp(-v * v)

    want = np.cos(0.5) * 0.5 + np.sin(0.5) - 2 * 0.5 * np.exp(-0.25)
    y, t = dualad.jvp(f, x, 1.0 if not isinstance(x, np.ndarray) else np.array(1.0))
    np.testing.assert_allclose([y, t], [np.sin(0.5) * 0.5 + np.exp(-0.25), want], rtol=1e-15)
    np.testing.assert_allclose(dualad.derivative(f, x), want, rtol=1e-15)
    g = dualad.grad(f, x, mode="forward")
    assert type(g) is np.ndarray and g.shape == ()
    np.testing.assert_allclose(g, want, rtol=1e-15)
    assert seen and all(t is float for t in seen)


@pytest.mark.parametrize(
    "f",
    [
        lambda a, b: a**3 * b, lambda a, b: a**0.5 + b**-1.0, lambda a, b: 2.0**a * 3**b,
        lambda a, b: a**b, lambda a, b: -abs(a - b) + +a, lambda a, b: np.maximum(a, b) * b,
        lambda a, b: np.minimum(a, 2 * b), lambda a, b: np.arctan2(a, b), lambda a, b: np.hypot(a, b),
    ],
    ids=["pow3", "pow-half-inv", "rpow", "pow-dual", "neg-abs-pos", "maximum", "minimum",
         "arctan2", "hypot"],
)  # fmt: skip
def test_scalar_fast_paths_against_central_differences(f):
    # the packed forward path and the tape's scalar records, each against 5-point differences
    x = np.array([1.3, 0.7])
    g = lambda v: f(v[0], v[1])
    h = 1e-4
    want = [
        (-g(x + 2 * h * e) + 8 * g(x + h * e) - 8 * g(x - h * e) + g(x - 2 * h * e)) / (12 * h)
        for e in np.eye(2)
    ]
    for mode in ("forward", "reverse"):
        np.testing.assert_allclose(dualad.grad(g, x, mode=mode), want, rtol=1e-9, atol=1e-11)

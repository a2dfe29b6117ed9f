"""The scalar fast paths: ``a (+ - * /) b`` and forward mode's kernels (``-a``, ``a ** b``,
``np.sin(a)``, ``np.maximum(a, b)``, ...) on 0-d float64 Variables run on Python floats.

A 0-d float64 Variable computes as a Python float and records a ``ScalarRecord``; a 1-element
array Variable goes through the rule table. Both must agree bit for bit, in the value and in
the gradient, for every operand kind on either side; where Python would raise or a result is
not finite (x / 0, overflow) the fast path hands over to NumPy, warnings included.
"""

from __future__ import annotations

import contextlib
import operator
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dualad
import tape
from dualad._ops import ArrayOps
from dualad._scalar import BINARY_KERNELS, KERNELS
from dualad.rules import RULES
from dualad.rules._define import NEG, ONE
from tape import Tape, Variable
from tape.record import SWEEP_PARTIALS, ArgIndex, ScalarRecord
from tests.test_scalar import _STEPS, _program

OPS = {
    "add": (operator.add, np.add),
    "sub": (operator.sub, np.subtract),
    "mul": (operator.mul, np.multiply),
    "div": (operator.truediv, np.divide),
}
CONSTANTS = [2.5, 3, np.float64(-1.25)]


def _both(f, x0=1.5, y0=-0.75):
    """``f(x, y)`` and its gradient on 0-d float64 inputs and on 1-element arrays."""
    res = []
    for wrap in (np.float64, lambda v: np.array([v])):
        with Tape() as t:
            x, y = t.watch((wrap(x0), wrap(y0)))
            z = f(x, y)
        kind = type(z._record)
        gx, gy = t.gradient(z, (x, y), seed=None if wrap is np.float64 else np.ones(1))
        res.append((z.value, gx, gy, kind))
    return res


def _zero_d(g) -> bool:
    """Gradients of 0-d inputs are 0-d arrays, as in forward mode."""
    return type(g) is np.ndarray and g.shape == () and g.dtype == np.float64


def _agree(fast, arr):
    (v, gx, gy, kind), (va, gxa, gya, _) = fast, arr
    assert type(v) is np.float64 and _zero_d(gx) and _zero_d(gy)
    np.testing.assert_array_equal([v, gx, gy], [va[0], gxa[0], gya[0]])
    return kind


@pytest.mark.parametrize("name", sorted(OPS))
def test_operators_agree_with_the_array_path_bit_for_bit(name):
    pyop, ufunc = OPS[name]
    cases = [
        lambda x, y: pyop(x, y),
        lambda x, y: pyop(x, x),
        lambda x, y: pyop(pyop(x, y), y) * x,
        lambda x, y: ufunc(x, y),
        lambda x, y: ufunc(0.5 * x, y),
    ]
    for c in CONSTANTS:
        cases += [
            lambda x, y, c=c: pyop(x, c) * y,
            lambda x, y, c=c: pyop(c, x) * y,
            lambda x, y, c=c: ufunc(c, x) + y,
            lambda x, y, c=c: ufunc(x, c) - y,
        ]
    for f in cases:
        fast, arr = _both(f)
        assert _agree(fast, arr) is ScalarRecord  # it stayed on the fast path


def test_a_long_loop_matches_the_array_path():
    def loop(x, y):
        z = x
        for i in range(200):
            z = 0.999 * z + x / (1.0 + i) - y * 0.5
        return z

    assert _agree(*_both(loop)) is ScalarRecord


def test_value_reads_as_numpy_scalar():
    with Tape() as t:
        x = t.watch(np.float64(0.5))
        y = 3 * x + 1
        s = np.sin(y)  # a forward-mode kernel: a ScalarRecord too
        q = np.logaddexp(y, 1.0)  # no kernel: the rule on NumPy scalars
    assert type(y._value) is float  # internally a Python float
    assert type(y.value) is np.float64 and y.value == 2.5
    assert type(tape.value_of(y)) is np.float64
    assert y.dtype == np.float64 and y.shape == () and y.ndim == 0
    assert type(y > 1) is np.bool_ and bool(y)
    assert repr(y) == f"Variable({np.float64(2.5)!r}, requires_grad=True)"
    assert type(s._value) is float and type(s.value) is np.float64
    assert isinstance(s._record, ScalarRecord)
    assert type(q.value) is np.float64 and not isinstance(q._record, ScalarRecord)
    assert _zero_d(t.gradient(y, x))


@pytest.mark.parametrize(
    "f",
    [
        lambda x: x / 0,
        lambda x: x / 0.0,
        lambda x: 1.0 / (x - x),
        lambda x: (x - x) / (x - x),
        lambda x: x * 1e308,
        lambda x: 1e308 + x * 1e308,
        lambda x: np.divide(x, 0.0),
    ],
    ids=["div0-int", "div0-float", "rdiv0", "0/0", "mul-overflow", "add-overflow", "ufunc-div0"],
)
def test_division_by_zero_and_overflow_hand_over_to_numpy(f):
    out = []
    for x0 in (np.float64(10.0), np.array([10.0])):
        with Tape() as t:
            x = t.watch(x0)
            with pytest.warns(RuntimeWarning):
                y = f(x)
        assert not isinstance(y._record, ScalarRecord)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            g = t.gradient(y, x, seed=None if x0.ndim == 0 else np.ones(1))
        out.append((y.value, g))
    (v, g), (va, ga) = out
    assert type(v) is np.float64
    np.testing.assert_array_equal([v, g], [va[0], ga[0]])


def test_numpy_errstate_still_applies():
    with np.errstate(divide="raise", over="raise"), Tape() as t:
        x = t.watch(np.float64(10.0))
        with pytest.raises(FloatingPointError):
            x / 0.0
        with pytest.raises(FloatingPointError):
            x * 1e308


def test_int_too_large_for_a_float_raises_as_numpy_does():
    with Tape() as t:
        x = t.watch(np.float64(1.5))
        with pytest.raises(OverflowError):
            x * 10**400


@pytest.mark.parametrize("where", ["product", "sum"])
def test_cotangent_overflow_in_the_sweep_warns_like_numpy(where):
    def f(x):
        if where == "product":  # finite forward, the cotangent of x * 1e-300 overflows
            return x * 1e-300 * 1e300 * 1e300
        t = x * 1e-300
        return t * 1e300 * 1e300 + t * 1e300 * 1e300  # each term finite, their sum not

    res = []
    for x0 in (np.float64(1.0), np.array([1.0])):
        with Tape(persistent=True) as t:
            x = t.watch(x0)
            y = f(x)
        seed = None if x0.ndim == 0 else np.ones(1)
        with pytest.warns(RuntimeWarning, match="overflow"):
            g = t.gradient(y, x, seed=seed)
        with np.errstate(over="raise"), pytest.raises(FloatingPointError):
            t.gradient(y, x, seed=seed)
        res.append(g)
    np.testing.assert_array_equal(res[0], res[1][0])


def test_sweep_partials_match_the_rule_table():
    rng = np.random.default_rng(0)
    for ufunc, parts in SWEEP_PARTIALS.items():
        table = RULES[ufunc].partials
        assert len(parts) == len(table) == 2
        for p, q in zip(parts, table):
            if type(p) is not ArgIndex:
                assert p is q
                continue
            for a, b in rng.normal(size=(5, 2)):
                args = (float(a), float(b))
                assert args[p] == q(ufunc(*args), *args)
    assert SWEEP_PARTIALS[np.add] == (ONE, ONE) and SWEEP_PARTIALS[np.subtract] == (ONE, NEG)


def test_nested_tapes_on_scalars():
    x0 = 0.7
    with Tape() as outer:
        x = outer.watch(np.float64(x0))
        with Tape() as inner:
            xi = inner.watch(x)
            y = 2.0 * xi * xi * xi + 1 / xi
        g = inner.gradient(y, xi)  # 6 x^2 - 1 / x^2, recorded on the outer tape
    np.testing.assert_allclose(tape.value_of(g), 6 * x0**2 - 1 / x0**2, rtol=1e-15)
    np.testing.assert_allclose(outer.gradient(g, x), 12 * x0 + 2 / x0**3, rtol=1e-14)


def test_create_graph_through_division_uses_the_live_output():
    # d/db (a / b) = -out / b: the second derivative must see ``out`` as a node
    x0 = 1.3
    x = Variable(np.float64(x0))
    y = 2.0 / (x * x + 1.0)
    y.backward(create_graph=True)
    g = x.grad
    assert isinstance(g, Variable)
    np.testing.assert_allclose(g.value, -4 * x0 / (x0**2 + 1) ** 2, rtol=1e-15)
    x.zero_grad()
    g.backward()
    np.testing.assert_allclose(x.grad, (12 * x0**2 - 4) / (x0**2 + 1) ** 3, rtol=1e-14)


def test_persistent_tape_and_standalone_variables():
    with Tape(persistent=True) as t:
        x = t.watch(np.float64(0.5))
        y = x * x - 3 * x
    assert t.gradient(y, x) == t.gradient(y, x) == -2.0
    v = Variable(np.float64(2.0))
    (v / 4 + v * v).backward()
    assert v.grad == 4.25 and _zero_d(v.grad)


def test_closed_tape_and_constants_take_the_generic_path():
    with Tape() as t:
        x = t.watch(np.float64(0.5))
        y = x * 2.0
    with pytest.raises(RuntimeError, match="no longer recording"):
        y + 1.0
    c = Variable(np.float64(3.0), requires_grad=False)
    d = c * 2.0  # nothing to differentiate: a constant, no record
    assert d._record is None and not d.requires_grad and d.value == 6.0


def test_forward_over_reverse_on_scalar_arithmetic():
    def f(x):
        return x * x * x / 3.0 + 2.0 * x - x / (1.0 + x * x)

    x0 = 0.8
    h = dualad.hvp(f, np.float64(x0), np.float64(1.0))
    want = 2 * x0 - (2 * x0**3 - 6 * x0) / (1 + x0**2) ** 3
    np.testing.assert_allclose(h, want, rtol=1e-13)


def test_scalar_records_print_as_float64_and_free_their_graph():
    import weakref

    with Tape() as t:
        x = t.watch(np.float64(0.5))
        z = x * 3.0
        y = z + x
    assert "() float64" in str(t).splitlines()[-1]
    ref = weakref.ref(z)
    del z
    assert ref() is not None  # held by the record of y
    t.gradient(y, x)
    assert ref() is None  # released without the garbage collector


# -- the kernel fast path: -d, abs(d), powers, np.sin(d), np.maximum(d, e) ---------------------
# Each case is ``f(x, y)`` and whether it reads ``y``. The fast path must agree with the array
# path bit for bit wherever it records, and hand everything else over to the generic path
# (which warns as NumPy does) unchanged.
def _kernel_cases():
    unary = {"neg": operator.neg, "pos": operator.pos, "abs": abs}
    unary.update({f.__name__: f for f in KERNELS})
    for c in [2, 3, 0.5, 1.5, -1, -0.5, 2.5, 0, 1, -2, np.float64(1.5)]:
        unary[f"x**{c!r}"] = lambda x, c=c: x**c
    for c in [2.0, 0.5, -2.0, 0.0, 1, np.float64(3.0)]:
        unary[f"{c!r}**x"] = lambda x, c=c: c**x
    unary["power(x,3.0)"] = lambda x: np.power(x, 3.0)
    unary["power(2.5,x)"] = lambda x: np.power(2.5, x)
    cases = {k: (lambda x, y, f=f: f(x), False) for k, f in unary.items()}
    cases["x**y"] = (operator.pow, True)
    cases["power(x,y)"] = (np.power, True)
    for f in BINARY_KERNELS:
        name = f.__name__
        cases[f"{name}(x,y)"] = (f, True)
        cases[f"{name}(x,x)"] = (lambda x, y, f=f: f(x, x), False)
        cases[f"{name}(x,0.5)"] = (lambda x, y, f=f: f(x, 0.5), False)
        cases[f"{name}(-1,x)"] = (lambda x, y, f=f: f(-1, x), False)
    return cases


KERNEL_CASES = _kernel_cases()
_RNG = np.random.default_rng(7)
EDGES = [0.0, -0.0, 1.0, -1.0, 0.5, -2.0, 3.0, 1e-300, 5e-324, 1e200, -1e200, 710.0, 2.0**500]
EDGES += [np.nan, np.inf, -np.inf]
INTERIOR = [*_RNG.uniform(-3, 3, 24), *np.exp(_RNG.uniform(-20, 20, 8))]
# where pow(x, 2), pow(x, 0.5), pow(x, -1) differ from x * x, sqrt(x), 1 / x in the last bit
INTERIOR += [0.4786618688802179, 2.6968743307281793, 1.945495838790331]
Y_VALUES = [0.5, -1.5, 0.0, -0.0, 2.0, 1e200, np.nan, np.inf, *_RNG.uniform(-3, 3, 3)]


def _run(f, x0, y0, wrap):
    """Value, gradients, record type and the warnings of recording and of the sweep."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with Tape() as t:
            x, y = t.watch((wrap(x0), wrap(y0)))
            z = f(x, y)
        n = len(caught)
        seed = None if wrap is np.float64 else np.ones(1)
        gx, gy = t.gradient(z, (x, y), seed=seed)
    said = [(w.category, str(w.message).replace("scalar ", "")) for w in caught]
    return [np.ravel(v)[0] for v in (z.value, gx, gy)], type(z._record), said[:n], said[n:]


def _same(a, b) -> bool:
    """Equal bit for bit (zeros keep their sign), or both NaN."""
    return all((np.isnan(u) and np.isnan(v)) or np.float64(u).tobytes() == np.float64(v).tobytes()
               for u, v in zip(a, b))  # fmt: skip


def _numpy_zero_d(f, x0, y0):
    """``f`` on 0-d arrays, and whether NumPy gives the same bits on 1-element arrays. Where it
    does not (NumPy 2.4's power loop rounds an array exponent differently from a scalar one),
    the kernel gives the 0-d bits: those of the same program on NumPy scalars."""
    with np.errstate(all="ignore"):
        z = f(np.array(x0), np.array(y0))
        a = f(np.array([x0]), np.array([y0]))
    return np.ravel(z)[0], _same([np.ravel(z)[0]], [np.ravel(a)[0]])


@contextlib.contextmanager
def _generic_path():
    """The kernel fast path switched off: what these operations recorded before it."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(tape.variable, "_FAST_UFUNCS", {})
        for name in ("__neg__", "__pos__", "__abs__", "__pow__", "__rpow__"):
            mp.setattr(Variable, name, getattr(ArrayOps, name))
        yield


@pytest.mark.parametrize("name", sorted(KERNEL_CASES))
def test_kernels_agree_with_the_array_path_or_hand_over(name):
    f, reads_y = KERNEL_CASES[name]
    pairs = [(x, 0.5) for x in EDGES + INTERIOR]
    if reads_y:
        pairs += [(x, y) for x in EDGES + INTERIOR[:6] + INTERIOR[-3:] for y in Y_VALUES]
    handed = []
    for x0, y0 in pairs:
        vals, kind, fwd, rev = _run(f, x0, y0, np.float64)
        arr, _, afwd, arev = _run(f, x0, y0, lambda v: np.array([v]))
        if kind is ScalarRecord:
            zero_d, agree = _numpy_zero_d(f, x0, y0)
            if agree:
                assert _same(vals, arr), (x0, y0, vals, arr)
            else:  # the value as NumPy on 0-d arrays, the gradients to the last bits
                assert _same(vals[:1], [zero_d]), (x0, y0, vals, zero_d)
                np.testing.assert_array_max_ulp(np.array(vals), np.array(arr), maxulp=2)
            assert fwd == rev == afwd == arev == [], (x0, y0)  # NumPy would not warn either
        else:
            handed.append((x0, y0, vals, fwd, rev))
            # a hand-over the array path did not need: only for NaN or values beyond 2**500
            clean = np.all(np.isfinite(arr)) and not (afwd or arev)
            assert not clean or not abs(x0) < 2.0**500 > abs(y0), (x0, y0)
    with _generic_path():
        for x0, y0, vals, fwd, rev in handed:
            gvals, gkind, gfwd, grev = _run(f, x0, y0, np.float64)
            assert gkind is not ScalarRecord and _same(vals, gvals) and (fwd, rev) == (gfwd, grev)


def test_kernel_records_store_float_partials():
    with Tape() as t:
        x, y = t.watch((np.float64(0.7), np.float64(-1.2)))
        outs = [-x, abs(y), x**3, 2.0**x, x**y, np.sin(x), np.exp(y), np.maximum(x, y),
                np.hypot(x, y), np.arctan2(y, x), np.float64(2.0) ** y]  # fmt: skip
        total = sum(outs[1:], outs[0])
    for z in outs:
        rec = z._record
        assert type(rec) is ScalarRecord and type(z._value) is float
        for path, _, _ in rec.inputs:
            p = rec.partials[path[0]]
            assert type(p) is float or p is ONE or p is NEG
    assert outs[0]._record.partials == (NEG,) and outs[2]._record.args == (0.7, 3.0)
    g = t.gradient(total, (x, y))
    assert all(_zero_d(v) for v in g)


def test_squares_and_constants_record_as_on_arrays():
    with Tape(persistent=True) as t:
        x = t.watch(np.float64(1.5))
        c = Variable(np.float64(2.0), requires_grad=False)
        a, b, k = x**2, np.power(x, 2), c**0.5 + abs(c)
    assert a._record.name == "square" and b._record.name == "power"
    assert k._record is None and not k.requires_grad and k.value == 2.0**0.5 + 2.0
    assert t.gradient(a, x) == t.gradient(b, x) == 3.0


def _second_derivative_program(x):
    return (np.sin(x) * x**3 + abs(x) ** 1.5 - np.maximum(x, 0.3) * 2.0**x
            + np.arctan2(x, 1.5) + np.hypot(x, 2.0) - (-x) * np.exp(x) + x ** (0.5 + x * x)
            + np.minimum(0.2, x) + np.tanh(+x) + np.power(x, 3) / np.sqrt(x))  # fmt: skip


def test_second_derivatives_through_kernels_in_every_nesting():
    f, x0 = _second_derivative_program, 0.7
    ref = dualad.hvp(f, np.float64(x0), np.float64(1.0), method="forward-over-forward")
    x = Variable(np.float64(x0))  # create_graph: the sweep recorded on the same level
    f(x).backward(create_graph=True)
    g = x.grad
    x.zero_grad()
    g.backward()
    with Tape() as outer:  # nested tapes: the inner Variables hold outer ones
        xo = outer.watch(np.float64(x0))
        with Tape() as inner:
            xi = inner.watch(xo)
            yi = f(xi)
        gi = inner.gradient(yi, xi)
    found = [
        x.grad,
        outer.gradient(gi, xo),
        dualad.hvp(f, np.float64(x0), np.float64(1.0)),  # Duals inside Variables
        dualad.grad(lambda v: dualad.derivative(f, v), np.float64(x0), mode="reverse"),
    ]  # the last: Variables inside Duals
    np.testing.assert_allclose(found, [ref] * 4, rtol=1e-14)


# reverse mode on forward mode's random scalar programs: 0-d values (ScalarRecords throughout)
# against 1-element arrays (the rule table), bit for bit
@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(0, len(_STEPS) - 1), min_size=1, max_size=6),
    st.floats(-1.5, 1.5),
    st.floats(-1.5, 1.5),
)
def test_random_scalar_programs_agree_with_the_array_path_bit_for_bit(ix, p, q):
    f = _program(ix)
    res = []
    for wrap in (np.float64, lambda v: np.array([v])):
        with Tape() as t:
            x, y = t.watch((wrap(p), wrap(q)))
            z = f(x, y)
        if wrap is np.float64:
            assert all(type(r) is ScalarRecord for r in t.records)
        seed = None if wrap is np.float64 else np.ones(1)
        res.append([np.ravel(v)[0] for v in (z.value, *t.gradient(z, (x, y), seed=seed))])
    assert _same(*res), res

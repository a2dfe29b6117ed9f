"""The operator fast path: ``a (+ - * /) b`` on 0-d float64 Variables runs on Python floats.

A 0-d float64 Variable computes as a Python float and records a ``ScalarRecord``; a 1-element
array Variable goes through the rule table. Both must agree bit for bit, in the value and in
the gradient, for every operand kind on either side; where Python would raise or a result is
not finite (x / 0, overflow) the fast path hands over to NumPy, warnings included.
"""

from __future__ import annotations

import operator
import warnings

import numpy as np
import pytest

import dualad
import tape
from dualad.rules import RULES
from dualad.rules._define import NEG, ONE
from tape import Tape, Variable
from tape.record import SWEEP_PARTIALS, ArgIndex, ScalarRecord

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
        s = np.sin(y)
    assert type(y._value) is float  # internally a Python float
    assert type(y.value) is np.float64 and y.value == 2.5
    assert type(tape.value_of(y)) is np.float64
    assert y.dtype == np.float64 and y.shape == () and y.ndim == 0
    assert type(y > 1) is np.bool_ and bool(y)
    assert repr(y) == f"Variable({np.float64(2.5)!r}, requires_grad=True)"
    assert type(s.value) is np.float64 and not isinstance(s._record, ScalarRecord)
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

"""The item fast path: ``x[i]`` with an int index into a 1-D float64 vector Variable.

Such a read records an ``ItemRecord`` and gives a 0-d Variable holding a Python float, which
the scalar fast paths take from there; the sweep adds the cotangents of all reads of one
vector into one buffer. Everything must agree bit for bit with the generic getitem record
(``_generic_reads``: what ``x[i]`` recorded before), and keep NumPy's indexing semantics.
"""

from __future__ import annotations

import contextlib
import re
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dualad
import tape
from dualad.rules._define import getitem
from tape import Tape, Variable
from tape.record import ItemRecord, Record, ScalarRecord
from tape.sweep import sweep
from tape.variable import record
from tests.test_scalar import _STEPS


@contextlib.contextmanager
def _generic_reads():
    """``x[key]`` through the generic getitem record, as before the item fast path."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Variable, "__getitem__", lambda v, key: record(getitem, (v, key), {}, v._level))
        yield


def _bits(a) -> bytes:
    return np.ascontiguousarray(a, dtype=np.float64).tobytes()


def _tape_grad(f, x0):
    with Tape() as t:
        x = t.watch(np.array(x0, dtype=float))
        y = f(x)
    kinds = {type(r) for r in t.records}
    return y.value, t.gradient(y, x), kinds


def _both(f, x0):
    """``(value, gradient, record kinds)`` with the item fast path and with generic reads."""
    fast = _tape_grad(f, x0)
    with _generic_reads():
        generic = _tape_grad(f, x0)
    assert ItemRecord not in generic[2]
    return fast, generic


def _agree(f, x0):
    (v, g, kinds), (vg, gg, _) = _both(f, x0)
    assert type(v) is np.float64 and v.tobytes() == vg.tobytes()
    assert g.shape == gg.shape == np.shape(x0) and g.dtype == np.float64
    np.testing.assert_array_equal(g, gg)
    assert _bits(np.abs(g)) == _bits(np.abs(gg))  # bit for bit (a zero may differ in sign)
    return kinds


X = [0.5, -1.25, 2.0, 0.75]


def _reads_of(v):
    return v[0] * v[1] + v[-1]


PROGRAMS = {
    "f2": lambda x: np.sin(x[0]) * x[1] + np.exp(-x[0] * x[1]),
    "every_entry": lambda x: x[0] * x[1] - x[2] / (1.0 + x[3] * x[3]),
    "negative": lambda x: x[-1] * x[-4] + np.cos(x[-2]) - x[-3],
    "repeated": lambda x: x[1] * x[1] * x[1] + x[1] - 3.0 * x[1] * x[0] + x[0],
    "mixed_signs": lambda x: x[2] * x[-2] + x[-1] * x[3] - x[0] * x[-4],
    "one_read": lambda x: x[2],
    "some_entries_unread": lambda x: np.tanh(x[1]) * 2.0,
    "np_int64": lambda x: x[np.int64(0)] * x[np.int64(-1)] + x[np.int32(2)] * x[np.uint8(1)],
    "with_array_ops": lambda x: x[0] * np.sum(x * x) + np.dot(x, x) * x[-1] + x[1],
    "array_op_first": lambda x: np.sum(np.sin(x)) + x[0] * x[3],
    "of_an_intermediate": lambda x: _reads_of(np.sin(x) * x),
    "generic_ufunc": lambda x: np.logaddexp(x[0], x[1]) * x[2],
    "dead_code": lambda x: [x[0] * x[1], np.sin(x[2])][0] + 0 * x[3] + (x[2] * 2.0 and x[1]),
}


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_reads_agree_with_the_generic_getitem_record_bit_for_bit(name):
    kinds = _agree(PROGRAMS[name], X)
    assert ItemRecord in kinds


def test_a_read_is_an_item_record_and_a_float_variable():
    with Tape() as t:
        x = t.watch(np.array(X))
        a, b = x[1], x[-1]
        c = a * b  # the operator fast path takes it from here
    assert type(a._record) is ItemRecord and a._record.index == 1
    assert b._record.index == 3 and b._record.args[1] == -1  # the key as given, for printing
    assert type(a._value) is float and type(a.value) is np.float64 and a.value == X[1]
    assert a.shape == () and a.dtype == np.float64
    assert type(c._record) is ScalarRecord
    np.testing.assert_array_equal(t.gradient(c, x), [0.0, X[3], 0.0, X[1]])


@pytest.mark.parametrize("key", [0, 1, 2, 3, -1, -2, -3, -4, np.int64(2), np.int64(-1), np.intp(1)])
def test_every_index_reads_the_entry_numpy_reads(key):
    x0 = np.array(X)
    with Tape() as t:
        x = t.watch(x0)
        y = x[key] * 2.0
    assert y.value == x0[key] * 2.0
    expect = np.zeros(4)
    expect[key] = 2.0
    np.testing.assert_array_equal(t.gradient(y, x), expect)


@pytest.mark.parametrize("key", [4, -5, 100, np.int64(4), np.int64(-5)])
def test_an_index_out_of_range_raises_numpys_index_error(key):
    x0 = np.array(X)
    with pytest.raises(IndexError) as numpy_error:
        x0[key]
    with Tape() as t:
        x = t.watch(x0)
        with pytest.raises(IndexError, match=re.escape(str(numpy_error.value))):
            x[key]
    assert t.records == []


def test_other_keys_and_values_take_the_generic_record():
    with Tape() as t:
        x = t.watch(np.array(X))
        m = t.watch(np.ones((2, 2)))
        f32 = t.watch(np.array(X, dtype=np.float32))
        reads = [x[True], x[1:3], x[[0, 1]], x[(1,)], x[...], m[0], f32[1]]
    assert all(type(r._record) is Record for r in reads)
    k = Variable(np.array(X), requires_grad=False)[0]  # a constant: no record at all
    assert k._record is None and not k.requires_grad


def test_a_read_on_a_closed_tape_raises_as_before():
    with Tape() as t:
        x = t.watch(np.array(X))
    with pytest.raises(RuntimeError, match="no longer recording"):
        x[0]


def test_write_then_read_sees_the_new_value():
    def f(x):
        v = x * 1.0  # a copy: a watched input cannot be assigned into
        a = v[0]
        v[0] = v[1] * v[2]  # index_update; the next read indexes the new value
        v[-1] = np.sin(a)
        return v[0] * a + v[3] * v[-1] + v[0] + v[-4]

    kinds = _agree(f, X)
    assert ItemRecord in kinds
    a = X[0]
    value = X[1] * X[2] * a + np.sin(a) ** 2 + 2 * X[1] * X[2]
    with Tape() as t:
        x = t.watch(np.array(X))
        y = f(x)
    assert y.value == pytest.approx(value, rel=1e-15)
    g = t.gradient(y, x)
    np.testing.assert_allclose(g, dualad.grad(f, np.array(X), mode="forward"), rtol=1e-15)
    np.testing.assert_allclose(g, dualad.grad(f, np.array(X), mode="reverse"), rtol=1e-15)


def test_write_into_a_read_vector_from_a_pytree():
    def f(p):
        v = np.copy(p["w"])
        v[1] = v[0] * p["b"]
        return v[1] * v[2] + v[1]

    p = {"w": np.array([1.5, 2.0, -0.5]), "b": np.float64(3.0)}
    g = dualad.grad(f, p, mode="reverse")
    gf = dualad.grad(f, p, mode="forward")
    np.testing.assert_allclose(g["w"], gf["w"], rtol=1e-15)
    np.testing.assert_allclose(g["b"], gf["b"], rtol=1e-15)


def _printed():
    with Tape() as t:
        x = t.watch(np.array([0.5, 1.5]))
        y = np.sin(x[0]) * x[-1] + x[np.int64(1)]
    return t, str(t), x, y


def test_print_shows_the_read_as_the_generic_record_did():
    t, text, x, y = _printed()
    assert re.search(r"v1 = getitem \(x\[key\]\)\(v0, 0\)\s+# \(\) float64", text)
    assert re.search(r"v3 = getitem \(x\[key\]\)\(v0, -1\)\s+# \(\) float64", text)
    assert re.search(r"v5 = getitem \(x\[key\]\)\(v0, 1\)\s+# \(\) float64", text)
    assert text.count("getitem") == 3
    with _generic_reads():
        assert _printed()[1] == text
    t.gradient(y, x)
    assert t.records == []


def test_sweeps_that_reuse_a_cotangent_buffer_stay_separate():
    # several gradients from one persistent tape, a gradient with respect to a read and to
    # an intermediate vector, and cotangents that reach a vector before its reads do
    with Tape(persistent=True) as t:
        x = t.watch(np.array(X))
        v = np.exp(x)
        a = v[0]
        b = v[-1] * v[0]
        y = a * b + np.sum(v) * x[1]
    g1 = t.gradient(y, x)
    g2 = t.gradient(y, [x, v, a])
    g3 = t.gradient(y, x)
    np.testing.assert_array_equal(g1, g3)
    np.testing.assert_array_equal(g1, g2[0])
    with _generic_reads(), Tape(persistent=True) as t:
        x = t.watch(np.array(X))
        v = np.exp(x)
        a = v[0]
        b = v[-1] * v[0]
        y = a * b + np.sum(v) * x[1]
    ref = t.gradient(y, [x, v, a])
    for got, want in zip(g2, ref):
        np.testing.assert_array_equal(got, want)


def test_backward_on_standalone_variables():
    x = Variable(np.array(X))
    y = x[0] * x[1] + x[-1] * x[0]
    y.backward(retain_graph=True)
    np.testing.assert_array_equal(x.grad, [X[1] + X[3], X[0], 0.0, X[0]])
    y.backward()  # accumulates
    np.testing.assert_array_equal(x.grad, 2 * np.array([X[1] + X[3], X[0], 0.0, X[0]]))
    with pytest.raises(RuntimeError, match="already used"):
        y.backward()


def test_tape_grad_with_an_array_seed():
    x = Variable(np.array(X))
    (g,) = tape.grad(x[1] * x[2] + x[1], [x])
    np.testing.assert_array_equal(g, [0.0, X[2] + 1.0, X[1], 0.0])
    (g,) = tape.grad(x[3] * 2.0, [x], grad_output=np.float64(3.0))
    np.testing.assert_array_equal(g, [0.0, 0.0, 0.0, 6.0])


VECTOR_PROGRAMS = {
    "reads": lambda x: np.stack([x[0] * x[1], np.sin(x[2]) + x[0], x[-1] * x[-1], x[1]]),
    # array operations between the reads: the oldest read finds a cotangent it must copy
    "mixed": lambda x: np.stack([x[0] * np.sum(x), x[1] * x[-1] + np.dot(x, x), x[2]]),
}


@pytest.mark.parametrize("name", sorted(VECTOR_PROGRAMS))
def test_reverse_jacobians_sweep_several_rows_through_reads(name):
    f, x0 = VECTOR_PROGRAMS[name], np.array(X)
    J = dualad.jacobian(f, x0, mode="reverse")
    np.testing.assert_allclose(J, dualad.jacobian(f, x0, mode="forward"), rtol=1e-15)
    for chunk in (1, 2):
        np.testing.assert_array_equal(dualad.jacobian(f, x0, mode="reverse", chunk=chunk), J)
    with _generic_reads():
        np.testing.assert_array_equal(dualad.jacobian(f, x0, mode="reverse"), J)


def _f(x):
    return np.sin(x[0]) * x[1] ** 3 + np.exp(-x[0] * x[-1]) + x[2] * x[2] * x[1] - np.tanh(x[3])


def _hessian_reference(x0):
    """Forward over forward: no tape involved."""
    return dualad.jacobian(lambda x: dualad.grad(_f, x, mode="forward"), x0, mode="forward")


def test_nested_tapes_and_create_graph_through_reads():
    x0 = np.array(X)
    H = _hessian_reference(x0)
    v = np.array([1.0, -2.0, 0.5, 0.25])
    with Tape() as outer:  # tape over tape: the inner Variables hold outer ones
        xo = outer.watch(x0)
        with Tape() as inner:
            xi = inner.watch(xo)
            yi = _f(xi)
        gi = inner.gradient(yi, xi)
        gv = np.sum(gi * v)
    np.testing.assert_allclose(outer.gradient(gv, xo), H @ v, rtol=1e-13)
    x = Variable(x0)  # create_graph: the sweep recorded on the same graph
    (g,) = tape.grad(_f(x), [x], create_graph=True)
    (hv,) = tape.grad(np.sum(g * v), [x])
    np.testing.assert_allclose(hv, H @ v, rtol=1e-13)
    x = Variable(x0)
    _f(x).backward(create_graph=True)
    g = x.grad
    x.zero_grad()
    np.sum(g * v).backward()
    np.testing.assert_allclose(x.grad, H @ v, rtol=1e-13)


@pytest.mark.parametrize("method", ["auto", "hyperdual", "accumulate", "forward-over-reverse"])
def test_hessians_through_reads(method):
    x0 = np.array(X)
    H = dualad.hessian(_f, x0, method=method)
    np.testing.assert_allclose(H, _hessian_reference(x0), rtol=1e-13, atol=1e-14)


def test_accumulated_hessian_walks_item_records():
    x0 = np.array(X)
    H = dualad.hessian(_f, x0, method="accumulate")
    with _generic_reads():
        Hg = dualad.hessian(_f, x0, method="accumulate")
    np.testing.assert_allclose(H, Hg, rtol=1e-15, atol=1e-15)
    np.testing.assert_allclose(H, _hessian_reference(x0), rtol=1e-13, atol=1e-14)


def test_duals_inside_variables_and_variables_inside_duals():
    x0 = np.array(X)
    H = _hessian_reference(x0)
    # forward over reverse: the tape watches Duals, so reads take the generic record
    Jg = dualad.jacobian(lambda x: dualad.grad(_f, x, mode="reverse"), x0, mode="forward")
    np.testing.assert_allclose(Jg, H, rtol=1e-13, atol=1e-14)
    # reverse over forward: Duals hold Variables, whose reads take the item path
    Jg = dualad.jacobian(lambda x: dualad.grad(_f, x, mode="forward"), x0, mode="reverse")
    np.testing.assert_allclose(Jg, H, rtol=1e-13, atol=1e-14)
    # reverse over reverse through the API
    Jg = dualad.jacobian(lambda x: dualad.grad(_f, x, mode="reverse"), x0, mode="reverse")
    np.testing.assert_allclose(Jg, H, rtol=1e-13, atol=1e-14)
    # a Dual constant met by a read: the read's cotangent is a Dual there
    # a Dual constant met by a read: that read's cotangent is a Dual, swept the generic way,
    # before or after the reads with float cotangents
    c = dualad.Dual(np.float64(2.0), 1.0)
    for f in (lambda x: x[0] * c + x[1] * x[0], lambda x: x[1] * x[0] + x[0] * c):
        d = dualad.grad(f, x0, mode="reverse")
        np.testing.assert_array_equal(d.primal, [2.0 + X[1], X[0], 0.0, 0.0])
        np.testing.assert_array_equal(d.tangent, [1.0, 0.0, 0.0, 0.0])


def test_grad_reverse_of_constant_and_unread_outputs():
    x0 = np.array(X)
    np.testing.assert_array_equal(dualad.grad(lambda x: x[1] * 0.0 + 2.0, x0, mode="reverse"),
                                  [0.0, 0.0, 0.0, 0.0])  # fmt: skip
    assert dualad.grad(lambda x: np.float64(3.0), x0, mode="reverse").shape == (4,)
    g = dualad.grad(lambda p: p[0][1] * p[1], (x0, np.float64(2.0)), mode="reverse")
    np.testing.assert_array_equal(g[0], [0.0, 2.0, 0.0, 0.0])
    assert g[1] == X[1] and g[1].shape == ()


def _read_program(ix, k):
    """A random scalar program over reads ``x[j]`` of a vector of ``k`` entries."""

    def f(x):
        a, b = x[0], x[-1]
        for n, i in enumerate(ix):
            a, b = _STEPS[i](a, x[n % k]), a
            a = np.tanh(a) * 2.0 + x[-(n % k) - 1] * 0.25  # keep values in range
        return a * b

    return f


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(0, len(_STEPS) - 1), min_size=1, max_size=8),
    st.lists(st.floats(-1.5, 1.5), min_size=1, max_size=5),
)
def test_random_read_programs_reverse_against_forward_and_generic(ix, xs):
    f, x0 = _read_program(ix, len(xs)), np.array(xs)
    g = dualad.grad(f, x0, mode="reverse")
    np.testing.assert_allclose(g, dualad.grad(f, x0, mode="forward"), rtol=1e-12, atol=1e-14)
    (v, gt, _), (vg, gg, _) = _both(f, x0)
    assert v.tobytes() == vg.tobytes()
    np.testing.assert_array_equal(gt, gg)
    np.testing.assert_array_equal(g, gt)


def test_a_cotangent_the_sweep_does_not_own_is_never_written_into():
    # a vector that is itself a root: its seed is the user's array, which the reads must copy,
    # not add into; a seed of another shape (broadcast by the generic path) is left to it
    for extra in (np.full((1, 4), 0.5), np.full((1, 1), 0.5)):
        kept = extra.copy()
        with Tape(persistent=True) as t:
            x = t.watch(np.array(X))
            y = x[0] * x[1] + x[0]
        (g,) = sweep([y, x], [np.float64(1.0), extra], [x], records=t._records)
        np.testing.assert_array_equal(extra, kept)
        np.testing.assert_array_equal(g, 0.5 + np.array([[X[1] + 1.0, X[0], 0.0, 0.0]]))


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_grad_sweeps_scalar_programs_as_the_tape_does(name):
    # dualad.grad takes tape.sweep.sweep_scalar for a result holding a Python float, which
    # hands over to sweep at the first record of another kind: bit for bit the same
    f, x0 = PROGRAMS[name], np.array(X)
    g = dualad.grad(f, x0, mode="reverse")
    _, gt, _ = _tape_grad(f, x0)
    assert type(g) is np.ndarray and g.shape == (4,) and g.dtype == np.float64
    assert _bits(g) == _bits(gt)
    gp = dualad.grad(lambda p: f(p[0]), (x0,), mode="reverse")[0]  # the pytree path
    assert _bits(gp) == _bits(gt)


def test_grad_of_scalar_leaves_and_unreached_inputs():
    g = dualad.grad(lambda x: x, np.float64(2.0), mode="reverse")
    assert type(g) is np.ndarray and g.shape == () and g == 1.0
    g = dualad.grad(lambda p: p[0] * 3.0, (np.float64(2.0), np.array(X)), mode="reverse")
    assert g[0].shape == () and g[0] == 3.0
    np.testing.assert_array_equal(g[1], np.zeros(4))


@pytest.mark.parametrize("where", ["product", "sum"])
def test_cotangent_overflow_in_grad_warns_once_as_the_tape_does(where):
    def f(x):
        if where == "product":  # finite forward, the cotangent of x * 1e-300 overflows
            return x[0] * 1e-300 * 1e300 * 1e300 + x[1]
        t = x[0] * 1e-300
        return t * 1e300 * 1e300 + t * 1e300 * 1e300 + x[1] * np.sum(x)  # a handover too

    x0 = np.array([1.0, 2.0])
    caught = []
    for grad in (lambda: dualad.grad(f, x0, mode="reverse"), lambda: _tape_grad(f, x0)[1]):
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            caught.append((grad(), [str(m.message) for m in w]))
        with np.errstate(over="raise"), pytest.raises(FloatingPointError):
            grad()
    (g, wg), (gt, wt) = caught
    assert wg == wt and any("overflow" in m for m in wg)
    np.testing.assert_array_equal(g, gt)

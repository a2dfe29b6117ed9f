"""The objects and Python's protocols (a fuzzing pass over copies, formats, odd operands)."""

import copy
from fractions import Fraction

import numpy as np
import pytest

import dualad
import tape

X = np.array([1.0, 2.0, 3.0])


def test_copy_copy_of_a_dual_is_a_new_array():
    # the slots were copied: a write into the copy changed the original's primal only
    d = dualad.Dual(X.copy(), np.array([0.5, -1.0, 2.0]))
    c = copy.copy(d)
    c[0] = dualad.Dual(99.0, 7.0)
    np.testing.assert_array_equal(d.primal, X)
    np.testing.assert_array_equal(d.tangent, [0.5, -1.0, 2.0])
    np.testing.assert_array_equal(c.primal, [99.0, 2.0, 3.0])


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_copy_copy_inside_f(mode):
    def f(x):
        y = np.sin(x)
        z = copy.copy(y)
        z *= 3.0  # NumPy: y is unchanged
        w = copy.copy(x)  # a copy of the input may be written
        w[0] = 5.0
        return np.sum(y) + np.sum(w**2)

    value, g = dualad.value_and_grad(f, X, mode=mode)
    assert value == pytest.approx(np.sum(np.sin(X)) + 25 + 4 + 9)
    np.testing.assert_allclose(g, np.cos(X) + [0, 4, 6], rtol=1e-14)


def test_hyperdual_astype_keeps_every_part():
    # astype took the innermost primal: eps1 came back zero
    h = dualad.HyperDual(
        np.array([1.0, 2]), np.array([1.0, 0.5]), np.array([0.25, 1]), np.array([3.0, 4])
    )
    for dt in (np.float32, np.float64):
        a = h.astype(dt)
        np.testing.assert_array_equal(a.eps1, [1.0, 0.5])
        np.testing.assert_array_equal(a.eps2, [0.25, 1.0])
        np.testing.assert_array_equal(a.eps12, [3.0, 4.0])
        assert a.primal.dtype == dt


def test_copying_a_tape_or_a_recorded_variable_raises():
    # copy.copy(tape) made the original return zero gradients; deepcopy of a non-leaf cut
    # the graph (backward filled nothing)
    with tape.Tape() as t:
        x = t.watch(np.array([1.0, 2.0]))
        y = np.sum(np.sin(x))
    with pytest.raises(TypeError, match="cannot be copied"):
        copy.copy(t)
    np.testing.assert_allclose(t.gradient(y, x), np.cos([1.0, 2.0]))
    v = tape.Variable(np.array([1.0, 2.0]), requires_grad=True)
    with pytest.raises(TypeError, match="deepcopy"):
        copy.deepcopy(v * 3.0)
    leaf = copy.deepcopy(v)  # a leaf copies, as in PyTorch
    assert leaf is not v and leaf.requires_grad
    np.sum(leaf * 2.0).backward()
    np.testing.assert_array_equal(leaf.grad, [2.0, 2.0])
    assert v.grad is None


@pytest.mark.parametrize("mode", ["forward", "reverse"])
@pytest.mark.parametrize(
    "f, x",
    [
        (lambda x: np.sum(x * Fraction(1, 2)), X),
        (lambda x: x * Fraction(1, 2), 1.0),
        (lambda x: np.sum(Fraction(1, 2) * x), X),
        (lambda x: np.sum(x * np.array([0.5, 1.0, 2.0], dtype=object)), X),
    ],
)
def test_operands_that_make_object_arrays_raise(f, x, mode):
    # the result was a plain object array (a constant): gradient 0 instead of 0.5
    with pytest.raises(TypeError, match="object array"):
        dualad.grad(f, x, mode=mode)


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")
@pytest.mark.parametrize(
    "value",
    [
        None,
        np.matrix([[1.0, 2.0]]),
        np.ma.masked_array([1.0, 2.0], mask=[0, 1]),
        np.array([1.0, 2.0], dtype=object),
        np.array(["2020-01-01"], dtype="datetime64[D]"),
    ],
)
def test_values_without_ndarray_number_semantics_are_refused(value):
    # None became nan; matrix/masked semantics were not followed (elementwise * for a matrix
    # product, masked elements in the tangent's sum); object/datetime results dropped it
    tangent = None if value is None else np.ones(np.shape(value))
    with pytest.raises(TypeError):
        dualad.Dual(value, tangent)
    with pytest.raises(TypeError):
        tape.Variable(value)


def test_format_specs_of_0d_values():
    assert f"{dualad.Dual(1.5, 1.0):.2f}" == "1.50"
    assert f"{tape.Variable(1.5):.3f}" == "1.500"
    assert f"{dualad.Dual(np.array(2.25), np.array(1.0)):g}" == "2.25"
    with pytest.raises(TypeError):
        f"{dualad.Dual(X, X):.2f}"


def test_membership_as_numpy():
    # `v in a` iterated the rows and asked bool() of a row comparison: "ambiguous" for 2-D
    a = np.arange(6.0).reshape(2, 3)
    for w in (dualad.Dual(a, np.ones((2, 3))), tape.Variable(a)):
        assert (3.0 in w) is True and (7.0 in w) is False
        assert (np.array([0.0, 1.0, 2.0]) in w) == (np.array([0.0, 1.0, 2.0]) in a)

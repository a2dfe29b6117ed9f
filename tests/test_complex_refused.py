"""Complex values with a derivative raise NotImplementedError in every mode and door.

Until complex arithmetic is exact (issue 11), dualad refuses it: before this guard,
``grad`` of ``sum |z|^2 + Re(z w)`` returned 1.6-1.2j in reverse and 1.6+0.8j in forward mode
(neither is a usual convention's 1.6 -/+ 2.8j), and ``grad`` of ``sum |x (1+1j)|`` on real
``x`` returned 1.414j where the answer is 1.414.
"""

import itertools

import numpy as np
import pytest

import dualad
import tape
from dualad._pytree import flatten

W = np.array([1 - 2j, 0.5 + 0.25j])
Z = np.array([0.3 + 0.4j, -0.7 + 0.2j])
MODES = ("auto", "forward", "reverse")
REFUSED = pytest.raises(NotImplementedError, match="complex")


def _issue_f(z):
    return np.sum(np.abs(z) ** 2) + np.real(np.sum(z * W))


def _norm2(x):
    """sum |leaf|^2 over a pytree's leaves (real-valued)."""
    return np.real(sum(np.sum(np.abs(v) ** 2) for v in flatten(x)[0]))


INPUTS = {
    "array": Z,
    "python": 0.3 + 0.4j,
    "numpy scalar": np.complex128(0.3 + 0.4j),
    "0-d": np.array(0.3 + 0.4j),
    "tuple": (0.3 + 0.4j, 0.5),
    "dict": {"a": 0.3j, "b": 1.0},
    "list": [1j, 2.0],
    "complex64": Z.astype(np.complex64),
}


@pytest.mark.parametrize("mode", MODES)
def test_the_issue_example_raises_in_every_mode(mode):
    with REFUSED:
        dualad.grad(_issue_f, Z, mode=mode)


@pytest.mark.parametrize(("name", "mode"), list(itertools.product(INPUTS, MODES)))
def test_complex_inputs_raise_in_first_order_doors(name, mode):
    x = INPUTS[name]
    for door in (dualad.grad, dualad.jacobian, dualad.value_and_grad):
        with REFUSED:
            door(_norm2, x, mode=mode)


@pytest.mark.parametrize("name", INPUTS)
def test_complex_inputs_raise_in_the_other_doors(name):
    x = INPUTS[name]
    calls = (
        lambda: dualad.hessian(_norm2, x),
        lambda: dualad.jvp(_norm2, x, x),
        lambda: dualad.vjp(_norm2, x, 1.0),
        lambda: dualad.derivative(_norm2, x),
        lambda: dualad.hvp(_norm2, x, x),
    )
    for call in calls:
        with REFUSED:
            call()


def test_complex_tangents_for_real_inputs_raise():
    with REFUSED:
        dualad.jvp(np.sin, np.ones(2), np.array([1j, 0.0]))


@pytest.mark.parametrize("x", [Z, 1j, np.array(1j), np.complex128(1j)])
def test_complex_wrappers_raise_at_construction(x):
    with REFUSED:
        dualad.Dual(x, np.ones(np.shape(x)))
    with REFUSED:
        dualad.Dual(np.ones(np.shape(x)), x)
    with REFUSED:
        tape.Variable(x)
    with tape.Tape() as t, REFUSED:
        t.watch(x)
    with tape.Tape() as t, REFUSED:
        t.watch({"z": x})
    assert tape.Variable(x, requires_grad=False).requires_grad is False  # a constant is fine


# real inputs, complex intermediates: each of these gave a wrong number before the guard
INTERMEDIATES = {
    "times 1j": lambda x: np.real(np.sum(x * 1j)),
    "exp(1j x)": lambda x: np.real(np.sum(np.exp(x * 1j))),
    "abs": lambda x: np.sum(np.abs(x * (1 + 1j))),
    "astype": lambda x: np.real(np.sum(x.astype(complex))),
    "plus complex array": lambda x: np.real(np.sum(x + np.full(np.shape(x), 1j))),
    "numpy scalar": lambda x: np.real(np.sum(x * np.complex128(2j))),
    "one item": lambda x: np.real(x[0] * (1 + 1j)),
}


@pytest.mark.parametrize(("name", "mode"), list(itertools.product(INTERMEDIATES, MODES)))
@pytest.mark.parametrize("n", [1, 2, 5])
def test_complex_intermediates_of_real_inputs_raise(name, mode, n):
    with REFUSED:
        dualad.grad(INTERMEDIATES[name], np.linspace(0.3, 0.9, n), mode=mode)


@pytest.mark.parametrize("name", INTERMEDIATES)
def test_complex_intermediates_raise_in_second_order(name):
    with REFUSED:
        dualad.hessian(INTERMEDIATES[name], np.array([0.3, 0.7]))


@pytest.mark.parametrize("c", [1j, np.complex128(1j)])
def test_scalar_fast_paths_raise(c):
    with REFUSED:
        dualad.Dual(0.5, 1.0) * c
    with REFUSED:
        c * dualad.Dual(0.5, 1.0)
    with REFUSED:
        np.exp(dualad.Dual(0.5, 1.0) * c)
    with REFUSED:
        tape.Variable(0.5) * c
    with tape.Tape() as t, REFUSED:
        x = t.watch(np.array(0.5))
        x * c
    with REFUSED:
        dualad.grad(lambda x: np.real(x * c), 0.5, mode="reverse")


def test_complex_constants_without_a_derivative_stay_allowed():
    # complex arithmetic on constants only, its real result joining the traced value
    def f(x):
        k = np.real(np.exp(1j * np.array([0.4, 1.1])))
        return np.sum(k * np.sin(x))

    x = np.array([0.2, 0.5])
    want = np.cos(np.array([0.4, 1.1])) * np.cos(x)
    for mode in MODES:
        np.testing.assert_allclose(dualad.grad(f, x, mode=mode), want, rtol=1e-14)


def test_jets_take_astype_and_refuse_writes_into_the_input():
    # found while checking the complex guard: hessian's n <= 2 path lacked these
    h = dualad.hessian(lambda x: np.sum(x.astype(np.float64) ** 3), np.array([2.0, 1.0]))
    np.testing.assert_allclose(h, np.diag([12.0, 6.0]))
    assert dualad.hessian(lambda x: x.astype(np.float64) ** 3, 2.0) == pytest.approx(12.0)

    def write(x):
        x[0] = 1.0
        return np.sum(x**2)

    with pytest.raises(ValueError, match="input"):
        dualad.hessian(write, np.ones(2))

"""NumPy's aliasing, exactly: views share writes with their base in both modes.

Each derivative is compared with central differences of the same program run on plain
NumPy arrays (where the views are NumPy's own). The property test builds random programs that
mix views, reshapes, item writes, augmented assignment and reads.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dualad
import tape
from dualad import Dual

X = np.array([0.3, 0.7, 1.1, 1.9])


def central(f, x, h=1e-6):
    cols = []
    for i in range(x.size):
        e = np.zeros_like(x)
        e.flat[i] = h
        cols.append((np.asarray(f(x + e)) - np.asarray(f(x - e))) / (2 * h))
    return np.stack(cols, axis=-1).reshape(np.shape(f(x)) + x.shape)


def check_all_modes(f, x=X, hessian=True):
    want = central(f, x)
    for mode in ("forward", "reverse"):
        np.testing.assert_allclose(dualad.jacobian(f, x, mode=mode), want, atol=1e-6, err_msg=mode)
    np.testing.assert_allclose(dualad.jvp(f, x, np.ones_like(x))[0], f(x), rtol=1e-12)
    if hessian:

        def s(z):
            return np.sum(f(z) ** 2)

        ref = central(lambda z: dualad.grad(s, z, mode="forward"), x)
        for method in ("hyperdual", "accumulate"):
            np.testing.assert_allclose(
                dualad.hessian(s, x, method=method), ref, atol=1e-5, err_msg=method
            )


# -- the examples (each was silently wrong) ---------------------------------------------


def test_write_through_a_slice_reaches_the_base():
    def f(x):
        y = x * 1.0
        v = y[0:2]
        v[0] = 5.0
        return y

    J = dualad.jacobian(f, X)
    np.testing.assert_array_equal(J[0], np.zeros(4))  # y[0] is the constant 5
    check_all_modes(f)


def test_write_into_the_base_reaches_a_reshape_view():
    def f(x):
        a = x * 2.0
        b = a.reshape(2, 2)
        a[3] = 1.0
        return b.ravel() * x

    check_all_modes(f)


def test_augmented_assignment_through_a_view():
    def f(x):
        out = np.zeros_like(x)
        out[:] = x**2
        w = out[1:3]
        w *= 3.0
        return out

    check_all_modes(f)


def test_augmented_assignment_of_a_strided_view():
    def f(x):
        y = x * 1.0
        v = y[::2]
        v += x[1::2]
        return y

    check_all_modes(f)


def test_a_shared_tangent_is_copied_before_a_write():
    def f(x):
        a = x * 1.0
        a[0] = a[0]
        b = a + 0.0
        a[1] = 0.0
        return b

    np.testing.assert_array_equal(dualad.jacobian(f, X, mode="forward")[1], [0, 1, 0, 0])
    check_all_modes(f)


def test_masking_the_maximum_after_keepdims():
    def f(x):
        a = x * 1.0
        m = np.max(a, keepdims=True)
        a[a == m] = -np.inf
        return np.exp(a)

    check_all_modes(f, hessian=False)


def test_transpose_and_diagonal_views():
    def f(x):
        A = np.outer(x, x)
        A.T[0, 1] = x[3]  # writes A[1, 0]
        d = np.diagonal(A)
        B = A.reshape(8, 2)
        B[-1] = np.sin(x[:2])
        return np.concatenate([A.ravel(), d * 2.0])

    check_all_modes(f)


def test_split_gives_views():
    def f(x):
        y = np.cos(x)
        a, b = np.split(y, 2)
        a[1] = b[0] * x[0]
        b *= 2.0
        return y

    check_all_modes(f)


def test_read_only_views_raise_as_numpy_does():
    def f(x):
        y = x * 1.0
        b = np.broadcast_to(y, (2, 4))
        b[0, 0] = 1.0
        return y

    with pytest.raises(ValueError):
        f(X)
    for mode in ("forward", "reverse"):
        with pytest.raises(ValueError):
            dualad.jacobian(f, X, mode=mode)


def test_writing_into_the_input_raises_in_both_modes():
    def f(x):
        v = x[0:2]
        v[0] = 1.0
        return x

    with pytest.raises(ValueError, match="read-only"):
        dualad.jacobian(f, X, mode="forward")
    with pytest.raises(RuntimeError, match="copy"):
        dualad.jacobian(f, X, mode="reverse")
    assert X[0] == 0.3  # the caller's array is untouched


def test_hand_built_dual_views_alias():
    d = Dual(np.zeros(4), np.zeros(4))
    y = d * 1.0
    v = y.reshape(2, 2)[1]
    v[...] = Dual(np.array([1.0, 2.0]), np.array([3.0, 4.0]))
    np.testing.assert_array_equal(y.primal, [0, 0, 1, 2])
    np.testing.assert_array_equal(y.tangent, [0, 0, 3, 4])
    y[2] = 7.0
    np.testing.assert_array_equal(v.tangent, [0, 4])


def test_a_view_of_a_zero_tangent_value_gets_the_written_tangent():
    x = Dual(np.array([1.0, 2.0]), np.array([1.0, 0.0]))
    buf = Dual(np.zeros(3))  # a constant at this level: no tangent stored
    w = buf[1:]
    w[0] = x[0] * 3.0
    np.testing.assert_array_equal(buf.tangent, [0.0, 3.0, 0.0])


def test_variable_views_follow_backward():
    x = tape.Variable(np.array([1.0, 2.0, 3.0]))
    y = x * 1.0
    v = y[1:]
    v[0] = x[0] ** 2  # y[1] = x0^2
    (y * np.array([1.0, 10.0, 100.0])).sum().backward()
    np.testing.assert_allclose(x.grad, [1.0 + 2 * 1.0 * 10.0, 0.0, 100.0])


def test_ufunc_out_into_a_view():
    def f(x):
        y = x * 1.0
        np.multiply(y[1:3], x[:2], out=y[1:3])
        return y

    check_all_modes(f)


# -- random programs ----------------------------------------------------------------------------


def run(program, x, copy=True):
    """Interpret ``program`` on ``x`` (plain or differentiable): views, writes, reads.
    ``copy=False`` works on ``x`` itself (a buffer the program may write into)."""
    arrays = [x * 1.0 if copy else x]
    for op, i, j, p in program:
        a = arrays[i % len(arrays)]
        b = arrays[j % len(arrays)]
        if op == "fresh":
            arrays.append(np.sin(a) + 0.5 * a)
        elif op == "slice" and a.ndim == 1 and a.shape[0] > 1:
            n = a.shape[0]
            arrays.append(a[p % (n - 1) :: 1 + p % 2])
        elif op == "reshape" and a.ndim == 1 and a.shape[0] % 2 == 0:
            arrays.append(a.reshape(2, -1))
        elif op == "transpose" and a.ndim == 2:
            arrays.append(a.T)
        elif op == "ravel":
            arrays.append(a.ravel())  # a view when contiguous, else a copy: NumPy decides
        elif op == "row" and a.ndim == 2:
            arrays.append(a[p % a.shape[0]])
        elif op == "write":
            a[p % a.shape[0]] = np.sum(b) * 0.25
        elif op == "iadd":
            a += np.sum(b) * 0.125
        elif op == "imul":
            a *= np.cos(a)
        elif op == "read":
            arrays.append(np.exp(0.1 * a) * np.sum(b))
        elif op == "flip":
            arrays.append(np.flip(a))  # negative strides
        elif op == "swap" and a.ndim == 2:
            arrays.append(np.swapaxes(a, 0, 1))
        elif op == "fill" and a.ndim == 2:
            np.fill_diagonal(a, np.sum(b) * 0.5)
        elif op == "put":
            np.put(a, [p % a.size], np.mean(b))
        elif op == "tail":
            a[..., p % a.shape[-1] :] = np.tanh(np.sum(b))
    return np.concatenate([np.ravel(a) for a in arrays])


OPS = st.sampled_from(
    ["fresh", "slice", "reshape", "transpose", "ravel", "row", "write", "iadd", "imul", "read",
     "flip", "swap", "fill", "put", "tail"]
)  # fmt: skip
PROGRAMS = st.lists(
    st.tuples(OPS, st.integers(0, 20), st.integers(0, 20), st.integers(0, 20)),
    min_size=1,
    max_size=12,
)


@settings(max_examples=60, deadline=None)
@given(PROGRAMS)
def test_random_alias_programs_agree_in_every_mode(program):
    x = np.array([0.3, -0.4, 0.5, 0.2, -0.1, 0.6, 0.35, -0.25])

    def f(z):
        return run(program, z)

    want = central(f, x)
    for mode in ("forward", "reverse"):
        np.testing.assert_allclose(
            dualad.jacobian(f, x, mode=mode), want, atol=1e-5, rtol=1e-5, err_msg=mode
        )


@settings(max_examples=25, deadline=None)
@given(PROGRAMS)
def test_random_alias_programs_second_order(program):
    x = np.array([0.3, -0.4, 0.5, 0.2])

    def s(z):
        return np.sum(run(program, z) ** 2) * 0.1

    ref = central(lambda z: dualad.grad(s, z, mode="forward"), x)
    for method in ("hyperdual", "accumulate"):
        np.testing.assert_allclose(
            dualad.hessian(s, x, method=method), ref, atol=1e-4, rtol=1e-4, err_msg=method
        )


@settings(max_examples=20, deadline=None)
@given(PROGRAMS)
def test_random_alias_programs_hvp_and_nested_reverse(program):
    x = np.array([0.3, -0.4, 0.5, 0.2])
    v = np.array([1.0, -0.5, 0.25, 2.0])

    def s(z):
        return np.sum(run(program, z) ** 2) * 0.1

    H = central(lambda z: dualad.grad(s, z, mode="forward"), x)
    np.testing.assert_allclose(dualad.hvp(s, x, v), H @ v, atol=1e-4, rtol=1e-4)
    # reverse over reverse: the tape inside a tape, views and writes at both levels
    rr = dualad.jacobian(lambda z: dualad.grad(s, z, mode="reverse"), x, mode="reverse")
    np.testing.assert_allclose(rr, H, atol=1e-4, rtol=1e-4)
    fr = dualad.jacobian(lambda z: dualad.grad(s, z, mode="reverse"), x, mode="forward")
    np.testing.assert_allclose(fr, H, atol=1e-4, rtol=1e-4)


def test_a_view_that_cannot_be_followed_raises_on_write():
    # forward over reverse: the Dual's tangent is a tape value, which has no memory to mirror
    x = np.array([0.3, 0.7, 1.1])

    def inner(z):
        y = z * 1.0
        v = y[0:2]
        v[0] = 2.0
        return np.sum(y**2)

    def jv(u):
        return dualad.jvp(inner, x, u)[1]

    u = np.array([1.0, 0.0, 0.0])
    # forward over forward follows it (nested mirrored tangents)
    np.testing.assert_allclose(dualad.grad(jv, u, mode="forward"), central(jv, u), atol=1e-5)
    try:
        got = dualad.grad(jv, u, mode="reverse")
    except NotImplementedError as e:
        assert "copy" in str(e)
    else:  # followed: then it must be right (jv is linear in u: its gradient is H e-row)
        want = central(jv, u)
        np.testing.assert_allclose(got, want, atol=1e-5)

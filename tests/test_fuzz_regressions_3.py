"""Regressions found by the third round of fuzzing (random and hand-made programs against
central differences and against the other mode); each test fails on the code before its fix."""

import numpy as np
import pytest

import dualad
import tape

X0 = np.array([0.7, 1.3, 0.4])


def _central(f, x, h=1e-6):
    return np.array([(f(x + h * e) - f(x - h * e)) / (2 * h) for e in np.eye(x.size)])


def _all_doors(f, x, intercept=False):
    """(value, gradient) through forward, reverse, the tape and Variable.backward."""
    out = [dualad.value_and_grad(f, x, mode=m, intercept=intercept) for m in ("forward", "reverse")]
    with dualad.intercept() if intercept else _nothing():
        with tape.Tape() as t:
            w = t.watch(x)
            y = f(w)
        out.append((tape.value_of(y), t.gradient(y, w)))
        v = tape.Variable(x.copy())
        y = f(v)
        y.backward()
        out.append((tape.value_of(y), v.grad))
    return out


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _check_doors(f, x, intercept=False):
    want_v, want_g = f(x), _central(f, x)
    for v, g in _all_doors(f, x, intercept):
        np.testing.assert_allclose(v, want_v, rtol=1e-12)
        np.testing.assert_allclose(g, want_g, rtol=1e-6, atol=1e-8)


def test_astype_same_dtype_without_copy_is_the_array_itself():
    # NumPy's y.astype(y.dtype, copy=False) is y: a write into it is a write into y
    # (forward kept the value but not the tangent; reverse lost both)
    def f(x):
        y = x * 2.0
        z = y.astype(np.float64, copy=False)
        z[0] = 0.0
        return np.sum(y * x)

    def g(x):  # another dtype: a copy, as in NumPy
        y = x * 2.0
        z = y.astype(np.float32, copy=False)
        z[0] = 0.0
        return np.sum(y * x)

    _check_doors(f, X0)
    _check_doors(g, X0)


CONVERSIONS = {  # (y, Y): a vector and a matrix that the program reads after the write
    "ascontiguousarray of a strided view": lambda y, Y: np.ascontiguousarray(y[::2]),
    "ascontiguousarray of a transpose": lambda y, Y: np.ascontiguousarray(Y.T),
    "asfortranarray": lambda y, Y: np.asfortranarray(Y),
    "asarray order=F": lambda y, Y: np.asarray(Y, order="F"),
    "require F": lambda y, Y: np.require(Y, requirements="F"),
    "require C, W of a strided view": lambda y, Y: np.require(y[::2], requirements=["C", "W"]),
    "asarray of an element": lambda y, Y: np.asarray(y[1]),
    "asarray": lambda y, Y: np.asarray(y),
    "array copy=None": lambda y, Y: np.array(y, copy=None),
    "array copy=None ndmin=2": lambda y, Y: np.array(y, copy=None, ndmin=2),
    "ascontiguousarray of a contiguous array": lambda y, Y: np.ascontiguousarray(Y),
    "require": lambda y, Y: np.require(Y),
}


@pytest.mark.parametrize("conv", list(CONVERSIONS.values()), ids=list(CONVERSIONS))
def test_intercepted_conversions_copy_where_numpy_copies(conv):
    # under interception these returned the wrapper itself where NumPy copies (a write into
    # the result then changed y: silently wrong value and gradient), and np.asarray of an
    # element returned an immutable scalar (a write raised)
    def f(x):
        y = x * 2.0
        Y = np.outer(x, x[:2])
        z = conv(y, Y)
        z[(0,) * np.ndim(z) if np.ndim(z) else ...] = 0.0
        return np.sum(y * x) + np.sum(Y * Y) + np.sum(z * x[0])

    _check_doors(f, X0, intercept=True)

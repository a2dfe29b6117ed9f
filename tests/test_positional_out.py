"""``out`` passed by position (``np.outer(a, b, y)``, ``np.take(a, i, None, y)``,
``np.cumsum(x, 0, None, y)``): the write into ``y`` is followed in both modes as ``out=y``
is. (The result was dropped: zero gradients in reverse mode, and in forward mode for
np.concatenate.) Gradients against central differences in float64.
"""

from __future__ import annotations

import numpy as np
import pytest

import dualad

V = np.array([1.0, 2.0])

CALLS = {
    "outer": (lambda z, o: np.outer(z, V, o), (2, 2)),
    "dot": (lambda z, o: np.dot(np.outer(z, V), z, o), (2,)),
    "take": (lambda z, o: np.take(z, [1, 0], None, o), (2,)),
    "concatenate": (lambda z, o: np.concatenate([z[:1] ** 2, z[1:]], 0, o), (2,)),
    "stack": (lambda z, o: np.stack([z, z**2], 0, o), (2, 2)),
    "cumsum": (lambda z, o: np.cumsum(z**2, 0, None, o), (2,)),
    "cumprod": (lambda z, o: np.cumprod(z, 0, None, o), (2,)),
    "clip": (lambda z, o: np.clip(z, 0.0, 2.5, o), (2,)),
    "sum": (lambda z, o: np.sum(np.outer(z, z), 0, None, o), (2,)),
    "mean": (lambda z, o: np.mean(np.outer(z, V), 1, None, o), (2,)),
    "prod": (lambda z, o: np.prod(np.outer(z, z), 0, None, o), (2,)),
    "amax": (lambda z, o: np.max(np.outer(z, V), 1, o), (2,)),
    "around": (lambda z, o: np.around(z * 0.0 + 1.5, 0, o) + 0 * o, (2,)),
    "std": (lambda z, o: np.std(np.outer(z, V), 0, None, o), (2,)),
    "trace": (lambda z, o: np.trace(np.outer(z, z)[None], 0, 1, 2, None, o), (1,)),
    "compress": (
        lambda z, o: np.compress([True, False, True], np.concatenate([z, z[:1]]), 0, o),
        (2,),
    ),
}


def program(name):
    call, shape = CALLS[name]

    def f(z):
        o = np.ones(shape) * z[0]  # a traced buffer: the write must replace its value
        call(z, o)
        return np.sum(o * o * np.arange(1.0, 1.0 + o.size).reshape(shape))

    return f


def fd(f, x, h=1e-6):
    return np.array([(f(x + e) - f(x - e)) / (2 * h) for e in np.eye(x.size) * h])


@pytest.mark.parametrize("name", list(CALLS))
@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_positional_out_is_written(name, mode):
    f = program(name)
    x = np.array([1.0, 3.0])
    np.testing.assert_allclose(dualad.grad(f, x, mode=mode), fd(f, x), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(dualad.value_and_grad(f, x, mode=mode)[0], f(x), rtol=1e-15)


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_positional_out_into_a_plain_array_raises(mode):
    def f(z):
        o = np.zeros((2, 2))
        np.outer(z, V, o)
        return np.sum(o)

    with pytest.raises(TypeError, match="plain array"):
        dualad.grad(f, np.array([1.0, 3.0]), mode=mode)


def test_hessian_through_positional_out():
    f = program("outer")
    x = np.array([1.0, 3.0])
    ref = np.array(
        [(dualad.grad(f, x + e) - dualad.grad(f, x - e)) / 2e-5 for e in np.eye(2) * 1e-5]
    )
    np.testing.assert_allclose(dualad.hessian(f, x), ref, rtol=1e-6, atol=1e-5)


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_methods_with_positional_out(mode):
    def f(z):
        o = np.ones(2) * z[0]
        np.outer(z, z).sum(0, None, o)
        o2 = np.ones(2) * z[1]
        z.cumsum(0, None, o2)
        o3 = np.ones(2) * z[1]
        z.take([1, 0], None, o3)
        return np.sum(o * o * [1, 2]) + np.sum(o2**3) + np.sum(o3 * [3, 1] * z)

    x = np.array([1.0, 3.0])
    np.testing.assert_allclose(dualad.grad(f, x, mode=mode), fd(f, x), rtol=1e-6)


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_in_place_writers_take_lists_of_traced_values(mode):
    # np.put(B, idx, [x0 * x1, x2]): NumPy's ravel converted the list (TypeError)
    def f(x):
        b = x[0] * np.ones(6)
        np.put(b, [0, 5], [x[0] * x[1], x[2]])
        np.putmask(b, np.array([0, 1, 0, 0, 0, 0], bool), [x[2] ** 2])
        np.place(b, np.array([0, 0, 1, 1, 0, 0], bool), (x[1], 0.5))
        return np.sum(b**2 * np.arange(1.0, 7.0))

    x = np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(dualad.grad(f, x, mode=mode), fd(f, x), rtol=1e-6)

"""NumPy's in-place writers (copyto, put, putmask, place, fill_diagonal, put_along_axis).

Into a wrapper buffer they are item assignments, so forward and reverse mode both
differentiate them: each case writes a function of ``x`` into ``out = np.zeros_like(x)`` (or
into a buffer holding ``x`` itself) and is checked by ``check_rule`` against central
differences, forward and on the tape. Into a plain array a wrapper's value would lose its
derivative: TypeError, with what to do instead.
"""

import numpy as np
import pytest

import dualad
from dualad import Dual
from tests._check import check_rule

rng = np.random.default_rng(5)
X = rng.standard_normal((4, 3))
MASK = rng.standard_normal((4, 3)) > 0


def _buffer(x):
    out = np.zeros_like(x)
    out[...] = 0.5 * x  # the buffer already depends on x: the write must erase that part
    return out


def copyto_where(x):
    out = _buffer(x)
    np.copyto(out, np.sin(x) * 2, where=MASK)
    return out


def copyto_broadcast(x):
    out = _buffer(x)
    np.copyto(out, np.exp(x[0]))  # one row broadcast over all
    return out


def put_cycled(x):
    out = _buffer(x)
    np.put(out, [0, 5, -1, 7], np.cos(x[1, :2]))  # two values repeat over four indices
    return out


@pytest.mark.parametrize("mode", ["wrap", "clip"])
def test_put_modes(mode):
    def f(x):
        out = _buffer(x)
        np.put(out, [1, 14, -15], x[0] ** 2, mode=mode)
        return out

    check_rule(f, X)


def putmask_cycled(x):
    out = _buffer(x)
    np.putmask(out, MASK, np.tanh(x[2]))  # values index by flat position modulo their size
    return out


def place_cycled(x):
    out = _buffer(x)
    np.place(out, MASK, x[0, :2] * x[1, :2])  # in order, repeated
    return out


def fill_diagonal_tall(x):
    out = _buffer(np.concatenate([x, x[:3]]))  # 7 x 3: the diagonal wraps
    np.fill_diagonal(out, np.sin(x[0]), wrap=True)
    return out


def fill_diagonal_scalar(x):
    out = _buffer(x[:3])
    np.fill_diagonal(out, x[3, 0] * 4.0)
    return out


def fill_diagonal_cube(x):
    out = np.zeros_like(x, shape=(3, 3, 3))
    out[...] = x[:3, :, None] * x[0]
    np.fill_diagonal(out, x[3])
    return out


@pytest.mark.parametrize("axis", [0, 1, -1, None])
def test_put_along_axis(axis):
    idx = np.array([[0, 2], [1, 1], [2, 0], [0, 1]])
    if axis == 0:
        idx = np.array([[3, 0, 1], [1, 2, 0]])

    def f(x):
        out = _buffer(x)
        vals = np.sin(x[: idx.shape[0], : idx.shape[1]]) if axis is not None else x[0, 0] * 3
        np.put_along_axis(out, idx if axis is not None else idx.ravel(), vals, axis)
        return out

    check_rule(f, X)


@pytest.mark.parametrize(
    "f",
    [copyto_where, copyto_broadcast, put_cycled, putmask_cycled, place_cycled,
     fill_diagonal_tall, fill_diagonal_scalar, fill_diagonal_cube],
    ids=lambda f: f.__name__,
)  # fmt: skip
def test_writers_into_buffers_in_both_modes(f):
    check_rule(f, X)


def test_writers_give_numpys_values():
    # the primal of each write is exactly NumPy's own on plain arrays
    for f in (copyto_where, put_cycled, putmask_cycled, place_cycled, fill_diagonal_tall):
        got = f(Dual(X, np.ones_like(X)))
        np.testing.assert_array_equal(got.primal, f(X))


def test_constant_values_erase_the_tangent_where_written():
    x = Dual(X, np.ones_like(X))
    out = x * 1.0
    np.copyto(out, 0.0, where=MASK)
    np.testing.assert_array_equal(out.tangent, np.where(MASK, 0.0, 1.0))
    np.fill_diagonal(out, 2.0)
    assert out.tangent[1, 1] == 0.0 and out.primal[1, 1] == 2.0


def test_gradient_through_a_filled_buffer_on_the_tape():
    def f(x):
        out = np.zeros_like(x)
        np.put(out, [0, 2], x[:2] ** 2)
        np.fill_diagonal(out.reshape(2, 2), x[3])  # a view: out[0] and out[3] take x[3]
        return np.sum(out * np.arange(1.0, 5.0))

    x = np.array([0.3, -1.2, 0.7, 2.0])
    want = np.array([0.0, 2 * -1.2 * 3, 0.0, 1.0 + 4.0])
    np.testing.assert_allclose(dualad.grad(f, x, mode="reverse"), want)
    np.testing.assert_allclose(dualad.grad(f, x, mode="forward"), want)


@pytest.mark.parametrize(
    "write",
    [
        lambda a, d: np.copyto(a, d),
        lambda a, d: np.put(a, [0], d[0]),
        lambda a, d: np.putmask(a, a > 0, d),
        lambda a, d: np.place(a, a > -9, d),
        lambda a, d: np.fill_diagonal(a.reshape(2, 2), d[0]),
        lambda a, d: np.put_along_axis(a, np.array([0]), d[:1], 0),
    ],
    ids=["copyto", "put", "putmask", "place", "fill_diagonal", "put_along_axis"],
)
def test_writing_a_dual_into_a_plain_array_raises(write):
    d = Dual(np.arange(4.0), np.ones(4))
    # (np.fill_diagonal dispatches on its target only: NumPy's own write hits the Dual's
    # conversion guard, with the same TypeError)
    with pytest.raises(TypeError, match="derivative"):
        write(np.ones(4), d)


def test_full_like_with_a_dual_fill_value_says_what_to_do():
    d = Dual(np.float64(2.0), np.float64(1.0))
    with pytest.raises(TypeError, match=r"np\.ones_like"):
        np.full_like(np.zeros(3), d)
    # the suggested forms keep the derivative
    np.testing.assert_array_equal((d * np.ones_like(np.zeros(3))).tangent, np.ones(3))
    np.testing.assert_array_equal(np.broadcast_to(d, (3,)).tangent, np.ones(3))


def test_put_checks_bounds_like_numpy():
    out = np.zeros_like(Dual(X, np.ones_like(X)))
    with pytest.raises(IndexError, match="out of bounds"):
        np.put(out, [12], 1.0)

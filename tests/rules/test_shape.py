"""Every shape and indexing rule against central differences, forward and reverse."""

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from dualad import Dual
from dualad._tags import new_level
from dualad.rules import RULES
from dualad.rules._define import getitem
from dualad.rules.shape import (
    PRIMAL_ONLY_FUNCS,
    UNSUPPORTED_FUNCS,
    defindexmap,
    index_add,
)
from tests._check import _slots, check_rule

rng = np.random.default_rng(5)
A = rng.standard_normal((3, 4))
B = rng.standard_normal((2, 3, 4))
S = rng.standard_normal((4, 4))
V = rng.standard_normal(5)
C = rng.standard_normal(3)
R = rng.standard_normal(4)
Z = np.array(1.7)  # 0-d
INT_ROW = np.arange(4).reshape(1, 4)  # an integer constant joined with floats

KEYS = {
    "int": 1, "neg int": -1, "ints": (1, 2), "int arr 0-d": np.array(1),
    "neg step": slice(None, None, -2), "neg step axis1": (slice(None), slice(3, 0, -1)),
    "newaxis": None, "newaxis mid": (0, None, slice(1, 3)), "neg step newaxis": (slice(None, None, -1), None),
    "ellipsis": (Ellipsis, 1), "ellipsis newaxis": (0, Ellipsis, None),
    "int array repeats": np.array([1, 1, 0, 1]), "list repeats": [0, 1, 1],
    "2-d list": [[0, 1], [1, 1]], "mask": B > 0, "partial mask": np.array([True, False]),
    "mask axis1": (slice(None), np.array([True, False, True])),
    "adjacent arrays": (slice(None), [0, 2, 2], [1, 1, 3]),
    "int then array": (0, slice(None), [1, 3, 1]), "arrays apart": ([1, 0], slice(None), [3, 3]),
    "arrays apart newaxis": ([1, 0], None, [2, 2]), "arrays apart ellipsis": ([1, 0], Ellipsis, [0, 3]),
    "0-d array apart": (np.array(1), slice(None), [0, 2, 2]), "bool scalar": True,
    "bool scalar apart": (True, slice(None), [1, 2]), "2-d arrays apart": ([[0], [1]], slice(1, 3), [[2, 2, 0]]),
    "mask then int": (np.array([False, True]), 2),
}  # fmt: skip


@pytest.mark.parametrize("key", list(KEYS.values()), ids=list(KEYS))
def test_getitem(key):
    check_rule(getitem, B, key)


@pytest.mark.parametrize(
    "f",
    [lambda x: x[::-2, None], lambda x: x[..., ::-1][[1, 1, 0]], lambda x: x[x > 0],
     lambda x: x[None, ..., 2], lambda x: x[:, [2, 2, 0]][0, ::-1], lambda x: x[1][-1][0]],
)  # fmt: skip
def test_indexing_chains(f):
    check_rule(f, B)


@pytest.mark.parametrize(
    "x, key",
    [(Z, ()), (Z, Ellipsis), (Z, None), (V, 3), (V, slice(None, None, -1)), (V, [4, 4, 0])],
)
def test_getitem_small(x, key):
    check_rule(getitem, x, key)


@pytest.mark.parametrize(
    "values, key, shape",
    [((2, 4), ([0, 2, 0, 1],), (3,)), ((2, 3, 3), (slice(None), [0, 0, 2]), (3, 4)),
     ((2, 2, 3), (0, slice(None), [1, 1]), (2, 3, 4)), ((2, 3), (1, slice(None, None, -1)), (2, 3)),
     ((2, 2), (np.isin(np.arange(12).reshape(3, 4), [2, 8]),), (3, 4))],
)  # fmt: skip
def test_index_add(values, key, shape):
    check_rule(index_add, rng.standard_normal(values), key, shape)


def test_index_add_sums_repeats():
    np.testing.assert_array_equal(index_add(np.ones((1, 3)), ([0, 2, 0],), (3,)), [[2, 0, 1]])


def test_index_add_with_transposed_values_keeps_the_scatter():
    # a transposed cotangent (as a fancy-indexed write's vjp hands over) made zeros_like
    # lay its buffer out in Fortran order, and the flat scatter then went into a copy
    vals = np.arange(8.0).reshape(4, 2).T  # (2, 4), not C-contiguous
    got = index_add(vals, ([0, 1, 0, 1],), (2,))
    np.testing.assert_array_equal(got, [[0 + 4, 2 + 6], [1 + 5, 3 + 7]])
    got = index_add(np.ones((2, 2, 3)), (0, slice(None), [1, 1]), (2, 3, 4))
    assert got.shape == (2, 2, 3, 4)
    np.testing.assert_array_equal(got[:, 0, :, 1], 2.0)
    assert got.sum() == 12


# -- the function table -------------------------------------------------------------------

CASES = [
    # reshaping and axis moves
    (np.reshape, (B, (4, 6)), {}), (np.reshape, (B, (4, -1)), {"order": "F"}),
    (np.reshape, (B, -1), {}), (np.reshape, (Z, (1, 1)), {}), (np.ravel, (B,), {}),
    (np.ravel, (B,), {"order": "F"}), (np.transpose, (B,), {}), (np.transpose, (B, (2, 0, 1)), {}),
    (np.transpose, (B,), {"axes": (-1, 0, 1)}), (np.permute_dims, (B, (1, 0, 2)), {}),
    (np.swapaxes, (B, 0, -1), {}), (np.moveaxis, (B, 0, -1), {}),
    (np.moveaxis, (B, (0, 1), (-1, 0)), {}), (np.matrix_transpose, (B,), {}),
    (np.rollaxis, (B, 2), {}), (np.rollaxis, (B, 0, 3), {}),
    (np.expand_dims, (B, 1), {}), (np.expand_dims, (B, -1), {}), (np.expand_dims, (B, (0, 2)), {}),
    (np.squeeze, (B[:, :1],), {}), (np.squeeze, (B[:1, :, :1], -1), {}),
    (np.broadcast_to, (C[:, None], (2, 3, 4)), {}), (np.broadcast_to, (R, (3, 4)), {}),
    (np.broadcast_arrays, (A[:, :1], R), {}), (np.broadcast_arrays, (B, Z, A), {}),
    (np.atleast_1d, (Z,), {}), (np.atleast_1d, (Z, A), {}), (np.atleast_2d, (V,), {}),
    (np.atleast_3d, (V,), {}), (np.atleast_3d, (A, Z), {}),
    # joining and splitting
    (np.concatenate, ([A, A[:2]],), {}), (np.concatenate, ([A, A[:, :1]],), {"axis": 1}),
    (np.concatenate, ([A, B[0], INT_ROW[:, :3].T],), {"axis": -1}),
    (np.concatenate, ([V, A],), {"axis": None}), (np.concatenate, ([A, INT_ROW], 0), {}),
    (np.stack, ([A, A],), {}), (np.stack, ([A, B[1]],), {"axis": -1}), (np.stack, ([V, V], 1), {}),
    (np.vstack, ([V, V],), {}), (np.vstack, ([A, INT_ROW, R],), {}), (np.hstack, ([V, C, Z],), {}),
    (np.hstack, ([A, A[:, :1]],), {}), (np.dstack, ([A, A],), {}), (np.dstack, ([V, V],), {}),
    (np.column_stack, ([V, V],), {}), (np.column_stack, ([A, C],), {}),
    (np.append, (A, A[:1]), {"axis": 0}), (np.append, (A, C), {}), (np.append, (V, 1.5), {}),
    (np.block, ([V, C],), {}), (np.block, ([A, A[:, :2]],), {}),
    (np.split, (B, 2), {"axis": 2}), (np.split, (B, [1]), {"axis": 1}), (np.split, (B, [1, 1, 3], -1), {}),
    (np.array_split, (V, 3), {}), (np.hsplit, (A, 2), {}), (np.hsplit, (V, [2]), {}),
    (np.vsplit, (B, 2), {}), (np.dsplit, (B, [3]), {}), (np.unstack, (B,), {}),
    (np.unstack, (B,), {"axis": -1}),
    # repeating, flipping, rolling, padding
    (np.tile, (A, 2), {}), (np.tile, (A, (2, 1, 2)), {}), (np.tile, (V, (2, 3)), {}),
    (np.tile, (B, (2,)), {}), (np.repeat, (A, 2), {}), (np.repeat, (A, 3), {"axis": 1}),
    (np.repeat, (A, [1, 0, 2]), {"axis": 0}), (np.repeat, (A, 2, -1), {}), (np.repeat, (Z, 3), {}),
    (np.flip, (B,), {}), (np.flip, (B, 1), {}), (np.flip, (B,), {"axis": (0, -1)}),
    (np.fliplr, (A,), {}), (np.flipud, (A,), {}), (np.roll, (B, 2), {}),
    (np.roll, (B, -1), {"axis": 1}), (np.roll, (B, (1, 2)), {"axis": (0, 2)}),
    (np.roll, (B, (1, 2), 0), {}), (np.rot90, (A,), {}), (np.rot90, (A, 2), {}),
    (np.rot90, (B, -1, (1, 2)), {}), (np.rot90, (B, 3), {"axes": (2, 0)}),
    (np.pad, (A, 1), {}), (np.pad, (A, ((1, 2), (0, 3))), {}),
    (np.pad, (A, 2), {"constant_values": 3.0}), (np.pad, (A, {1: (2, 1)}), {}),
    (np.pad, (A, ((1, 0), (2, 1)), "edge"), {}), (np.pad, (A, ((2, 1), (3, 1))), {"mode": "reflect"}),
    (np.pad, (A, ((2, 1), (4, 1))), {"mode": "symmetric"}), (np.pad, (V, 7, "wrap"), {}),
    (np.pad, (B, ((0, 0), (1, 1), (2, 0))), {"mode": "reflect", "reflect_type": "even"}),
    # picking entries
    (np.take, (B, [0, 5, 5, 23]), {}), (np.take, (B, [2, 0, 2]), {"axis": 1}),
    (np.take, (B, np.array([[0, 1], [1, 1]]), -1), {}), (np.take, (B, 7), {}),
    (np.take, (B, [5, -1, 9]), {"axis": 2, "mode": "wrap"}),
    (np.take, (B, [5, -1, 2]), {"axis": 2, "mode": "clip"}), (np.take, (V, -2), {"axis": 0}),
    (np.take_along_axis, (A, np.argsort(A, axis=1)), {"axis": 1}),
    (np.take_along_axis, (A, np.array([[0, 0], [3, 1], [2, 2]])), {"axis": -1}),
    (np.take_along_axis, (A, np.array([[2, 0, 0, 1]])), {"axis": 0}),
    (np.take_along_axis, (A[:1], np.array([[0, 3], [1, 1], [3, 3]])), {"axis": 1}),
    (np.take_along_axis, (A, np.array([11, 0, 0, -1])), {"axis": None}),
    (np.sort, (A,), {}), (np.sort, (A, 0), {}), (np.sort, (B,), {"axis": None}),
    (np.sort, (B, -2), {"kind": "stable"}), (np.sort, (V,), {"stable": True}),
    (np.compress, ([True, False, True], A), {"axis": 0}), (np.compress, ([False, True], A), {}),
    (np.compress, (np.array([1, 0, 1, 1], bool), B, -1), {}), (np.extract, (A > 0, A), {}),
    (np.insert, (V, 2, 9.0), {}), (np.insert, (V, [1, 3], C[:2]), {}),
    (np.insert, (A, 1, C), {"axis": 1}), (np.insert, (A, [1, 1], R), {"axis": 0}),
    (np.delete, (V, [0, 2]), {}), (np.delete, (A, 1), {"axis": 1}), (np.delete, (B, [0], 0), {}),
    (np.resize, (V, (2, 4)), {}), (np.resize, (A, 5), {}),
    (sliding_window_view, (V, 3), {}), (sliding_window_view, (A, (2, 2)), {}),
    # triangles and diagonals
    (np.triu, (A,), {}), (np.triu, (A, 1), {}), (np.triu, (B, -1), {}), (np.triu, (V,), {}),
    (np.tril, (A,), {}), (np.tril, (S, -2), {}), (np.tril, (B,), {"k": 1}), (np.tril, (R, 1), {}),
    (np.diag, (S,), {}), (np.diag, (S, 1), {}), (np.diag, (A, -1), {}), (np.diag, (V,), {}),
    (np.diag, (V, 2), {}), (np.diag, (V,), {"k": -1}), (np.diagflat, (A,), {}),
    (np.diagflat, (C, -1), {}), (np.diagonal, (S,), {}), (np.diagonal, (B, 1, 1, 2), {}),
    (np.diagonal, (B, -1, 2, 0), {}), (np.diagonal, (B,), {"offset": 0, "axis1": -1, "axis2": -2}),
    # copies and new arrays
    (np.copy, (A,), {}), (np.copy, (A.T,), {"order": "C"}), (np.real, (A,), {}), (np.imag, (A,), {}),
    (np.zeros_like, (A,), {}), (np.ones_like, (A,), {"shape": (2,)}), (np.full_like, (A, 2.0), {}),
    (np.full_like, (A, Z), {}), (np.full_like, (A, R), {}), (np.full_like, (B, A), {}),
]  # fmt: skip


def _id(case):
    return case[0].__name__


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_rule(case):
    f, args, kwargs = case
    check_rule(f, *args, **kwargs)


@pytest.mark.parametrize(
    "f",
    [lambda x: np.reshape(x, (4, 6), order="F"), lambda x: np.transpose(x, (1, 2, 0)),
     lambda x: np.concatenate([x, x[:1] * 2]), lambda x: x[[1, 1, 0], ::-1],
     lambda x: np.sort(x, axis=1), lambda x: np.take(x, [3, 3, 0], axis=-1),
     lambda x: np.pad(x, 1, mode="reflect"), lambda x: np.diag(x[0]),
     lambda x: np.tile(x, 2), lambda x: np.roll(x, 2, axis=None),
     lambda x: np.stack(np.split(x, 2, axis=-1), axis=0)],
)  # fmt: skip
def test_composed_with_nonlinear(f):
    check_rule(lambda x: f(np.sin(x) * x), B)


def test_permute_dims_and_concat_are_aliases():
    assert np.permute_dims in RULES and np.concat in RULES


# -- rules fed Duals (what higher derivatives and tapes do) ------------------------------


def _flatten(x):
    if x is None:
        return []
    if type(x) in (list, tuple):
        return [y for v in x for y in _flatten(v)]
    return [x]


def _dot_slot(args):
    """Last float array argument: its (position[, index]) path and the array itself."""
    p = _slots(list(args))[-1]
    return p, args[p[0]] if len(p) == 1 else args[p[0]][p[1]]


NESTED = [c for c in CASES if c[0] not in (np.zeros_like, np.ones_like, np.imag)]  # no tangent


@pytest.mark.parametrize("case", NESTED, ids=[_id(c) for c in NESTED])
def test_rule_on_duals(case):
    """The rule's jvp and vjp, called on Duals, are the linear maps they compute."""
    f, args, kwargs = case
    rule = RULES[f]
    out = f(*args, **kwargs)
    (p, x) = _dot_slot(args)

    def jvp_of(t):
        dots = [None] * len(args)
        if len(p) == 1:
            dots[p[0]] = t
        else:
            dots[p[0]] = tuple(t if j == p[1] else None for j in range(len(args[p[0]])))
        return _flatten(rule.jvp(tuple(dots), out, *args, **kwargs))

    check_rule(jvp_of, rng.standard_normal((2,) + x.shape))
    outs = out if type(out) in (list, tuple) else [out]
    us = [rng.standard_normal((2,) + np.shape(o)) for o in outs]

    def vjp_of(*u):
        bar = u if type(out) in (list, tuple) else u[0]
        return _flatten(rule.vjp(bar, out, *args, **kwargs))

    check_rule(vjp_of, *us)


def _inner_tangent(f, x, v):
    """Directional derivative of f(x * x) along v, taken with a Dual at a newer level."""
    y = Dual(x, v, tag=new_level())
    return _flatten(f(y * y))[0].tangent


@pytest.mark.parametrize(
    "f",
    [lambda y: y[[1, 1, 0], ::-1], lambda y: y[0, :, [1, 3, 1]], lambda y: np.sort(y, axis=-1),
     lambda y: np.concatenate([y, y[:1]], axis=0), lambda y: np.pad(y, 1, mode="wrap"),
     lambda y: np.diagonal(y, 1, 1, 2), lambda y: np.insert(y, 1, 2.0, axis=2),
     lambda y: np.take_along_axis(y, np.argsort(B, axis=1), axis=1)],
)  # fmt: skip
def test_second_order_through_nested_duals(f):
    v = rng.standard_normal(B.shape)
    check_rule(lambda x: _inner_tangent(f, x, v), B)


def test_grad_of_grad_through_the_tape():
    tape = pytest.importorskip("tape")
    import dualad

    def f(x):
        picked = np.sin(x[[0, 0, 1]]) ** 2 * x[::-1][:3] + np.take(x, [2, 2, 0]) ** 3
        padded = np.pad(np.sort(x), (0, 1), mode="edge") * np.concatenate([x, x[:1]]) ** 2
        return np.sum(picked) + np.sum(padded) + np.sum(np.diag(x)[:, ::-1] * np.tile(x, 3)[:3])

    x0 = np.array([0.3, 0.7, 1.1])
    x = tape.Variable(x0)
    (g,) = tape.grad(f(x), [x], create_graph=True)
    H = np.stack([tape.value_of(tape.grad(g[i], [x])[0]) for i in range(3)])
    np.testing.assert_allclose(H, dualad.hessian(f, x0, method="hyperdual"), rtol=1e-12)


# -- layout-dependent orders (central differences would see C-ordered copies) -------------


@pytest.mark.parametrize(
    "func, a, kw",
    [(np.ravel, A.T, {"order": "K"}), (np.ravel, A.T, {"order": "A"}),
     (np.ravel, B[:, ::-1, ::2].transpose(2, 0, 1), {"order": "K"}),
     (np.ravel, B[:, ::-1, ::2].transpose(2, 0, 1), {"order": "A"}),
     (np.reshape, A.T, {"shape": (2, 6), "order": "A"})],
)  # fmt: skip
def test_layout_orders(func, a, kw):
    v = np.empty_like(a)
    v[...] = rng.standard_normal(a.shape)
    d = func(Dual(a, v), **kw)
    np.testing.assert_array_equal(d.primal, func(a, **kw))
    np.testing.assert_array_equal(d.tangent, func(v, **kw))
    u = rng.standard_normal((2,) + d.shape)
    (bar,) = RULES[func].vjp(u, d.primal, a, **kw)[:1]
    np.testing.assert_allclose(np.sum(bar[1] * v), np.sum(u[1] * d.tangent))


# -- buffers filled by assignment ------------------------------------------------------------


def test_assignment_into_zeros_like_buffer():
    def f(x):
        out = np.zeros_like(x)
        out[0] = x[1] * x[0]
        out[1:3] = np.sin(x[2:4])
        out[[3, 4]] = x[4]
        out[4] = out[0] * x[3] + out[2]  # reads what was written before
        return out

    check_rule(f, V)


def test_assignment_with_repeated_index():  # the last write wins, in both modes
    def f(x):
        out = np.zeros_like(x)
        out[[3, 3]] = x[4]
        return out

    check_rule(f, V)


def test_assignment_loop_and_2d_keys():
    def f(x):
        out = np.ones_like(x)
        for i in range(1, x.shape[0]):
            out[i] = out[i - 1] * np.cos(x[i])
        out[:, ::-2] = x[:, 1::2] ** 2
        out[x > 0.5] = 3.0  # constants written into a Dual buffer carry no derivative
        out[..., None, 0] = np.exp(x[:, :1])
        return out

    check_rule(f, A)


def test_assignment_with_separated_advanced_indices():
    def f(x):
        out = np.zeros_like(x)
        out[0, :, [1, 2]] = np.sin(x[1, :, [0, 3]])
        return out

    check_rule(f, B)


def test_dual_into_plain_array_is_refused():
    a = np.zeros(3)
    with pytest.raises(TypeError, match=r"\.primal"):
        a[:2] = Dual(np.ones(2), np.ones(2))
    # a scalar element: NumPy reports a ValueError caused by the Dual's TypeError
    with pytest.raises((TypeError, ValueError)) as e:
        a[0] = Dual(1.0, 1.0)
    err = e.value if isinstance(e.value, TypeError) else e.value.__cause__
    assert isinstance(err, TypeError) and ".primal" in str(err)


@pytest.mark.parametrize("f", [np.zeros_like, np.ones_like, np.empty_like])
def test_new_arrays_are_duals_with_zero_tangent(f):
    d = f(Dual(A, np.ones((3,) + A.shape)))
    assert isinstance(d, Dual) and d.n_directions == 3
    np.testing.assert_array_equal(d.tangent, 0.0)
    assert not isinstance(f(Dual(A, A), dtype=int), Dual)


def test_full_like_with_a_dual_fill_value():
    # NumPy dispatches full_like on its first argument only, so that one is a Dual too
    d = np.full_like(Dual(A, np.ones_like(A)), Dual(np.array(2.0), np.array(1.0)))
    np.testing.assert_array_equal(d.primal, 2.0)
    np.testing.assert_array_equal(d.tangent, 1.0)


def test_imag_of_real_input_is_zero_and_real_is_identity():
    d = Dual(A, np.ones_like(A))
    np.testing.assert_array_equal(np.imag(d).tangent, 0.0)
    np.testing.assert_array_equal(np.real(d).tangent, 1.0)
    np.testing.assert_array_equal(d.real.primal, A)


# -- the generic index map ---------------------------------------------------------------


def test_defindexmap_matches_a_direct_rule():
    def spread(x, n):
        return np.concatenate([x[::-1], np.repeat(x, n)])

    defindexmap(spread)
    try:
        check_rule(spread, V, 2)
        check_rule(lambda x: spread(np.exp(x), 3), V)
    finally:
        del RULES[spread]


def test_defindexmap_with_several_arrays():
    def interleave(a, b):
        return np.stack([a, b], axis=-1).reshape(-1)

    defindexmap(interleave, argnums=(0, 1))
    try:
        check_rule(interleave, V, V[::-1].copy())
        check_rule(interleave, V, np.arange(5))  # an integer argument carries no tangent
    finally:
        del RULES[interleave]


# -- errors and tables ---------------------------------------------------------------------

PRIMAL_ONLY_CALLS = {
    np.shape: (), np.ndim: (), np.size: (), np.argsort: (), np.argpartition: (1,),
    np.nonzero: (), np.argwhere: (), np.flatnonzero: (), np.tril_indices_from: (),
    np.triu_indices_from: (1,), np.diag_indices_from: (), np.isposinf: (), np.isneginf: (),
    np.isin: ([0.5, S[1, 2]],), np.iscomplexobj: (), np.isrealobj: (), np.can_cast: (np.float32,),
    np.common_type: (), np.min_scalar_type: (), np.array2string: (), np.array_repr: (),
    np.array_str: (),
}  # fmt: skip
#: primal-only functions that take no float arrays (indices, bits, dates)
NO_FLOAT_INPUTS = {np.ravel_multi_index, np.unravel_index, np.packbits, np.unpackbits,
                   np.is_busday, np.busday_count, np.busday_offset, np.datetime_as_string, np.ix_}  # fmt: skip


@pytest.mark.parametrize("f", list(PRIMAL_ONLY_CALLS), ids=lambda f: f.__name__)
def test_primal_only_returns_plain_values(f):
    d = Dual(S, np.ones_like(S))
    res = f(d, *PRIMAL_ONLY_CALLS[f])
    for r in _flatten(res):
        assert not isinstance(r, Dual)
    ref = f(S, *PRIMAL_ONLY_CALLS[f])
    for r, want in zip(_flatten(res), _flatten(ref)):
        np.testing.assert_array_equal(r, want)


def test_index_functions_without_float_inputs_are_primal_only():
    assert set(PRIMAL_ONLY_FUNCS) == set(PRIMAL_ONLY_CALLS) | NO_FLOAT_INPUTS


UNSUPPORTED_CALLS = {
    np.partition: (1,), np.trim_zeros: (), np.roots: (), np.sort_complex: (), np.i0: (),
    **{f: (V,) for f in (np.intersect1d, np.union1d, np.setdiff1d, np.setxor1d)},
    **{getattr(np.fft, n): () for n in ("fft", "ifft", "fft2", "ifft2", "fftn", "ifftn", "rfft",
       "irfft", "rfft2", "irfft2", "rfftn", "irfftn", "hfft", "ihfft")},
}  # fmt: skip
SAVERS = (np.save, np.savez, np.savez_compressed, np.savetxt)


@pytest.mark.parametrize("f", list(UNSUPPORTED_FUNCS), ids=lambda f: f.__name__)
def test_unsupported_raise_naming_the_function(f, tmp_path):
    one_d = f in (np.trim_zeros, np.roots, np.sort_complex, np.intersect1d, np.union1d,
                  np.setdiff1d, np.setxor1d)  # fmt: skip
    d = Dual(V if one_d else S, np.ones_like(V if one_d else S))
    if f in SAVERS:  # the file name comes first
        with pytest.raises(NotImplementedError, match=rf"numpy\.{f.__name__}\b"):
            f(tmp_path / "x.npy", d)
        return
    with pytest.raises(NotImplementedError, match=rf"\.{f.__name__}\b"):
        f(d, *UNSUPPORTED_CALLS[f])


@pytest.mark.parametrize("mode", ["maximum", "mean", "linear_ramp"])
def test_pad_modes_without_rule_raise(mode):
    with pytest.raises(NotImplementedError, match="numpy.pad"):
        np.pad(Dual(A, np.ones_like(A)), 1, mode=mode)
    with pytest.raises(NotImplementedError, match="reflect_type='odd'"):
        np.pad(Dual(A, np.ones_like(A)), 1, mode="reflect", reflect_type="odd")


def test_tables_are_disjoint():
    mine = {
        f
        for f, r in RULES.items()
        if r.vjp.__module__ in ("dualad.rules.shape", "dualad.rules.indexing")
    }
    assert not mine & set(PRIMAL_ONLY_FUNCS)
    assert not mine & set(UNSUPPORTED_FUNCS)
    assert not set(PRIMAL_ONLY_FUNCS) & set(UNSUPPORTED_FUNCS)


@pytest.mark.parametrize(
    "f",
    [
        lambda a, s: np.block([[a, a[:, :1]], [s[:1, :1] * a[:1], s[:1, :1]]]),
        lambda a, s: np.block([[[a]], [[a * 2.0]]]),
        lambda a, s: np.block([[s[0], s[1]], [s[2], s[3]]]),  # 1-d leaves promoted to rows
        lambda a, s: np.block([[a, np.ones((3, 2))], [np.zeros((4, 4)), s]]),
    ],
    ids=["2x2", "depth 3", "1-d leaves", "constants"],
)
def test_block_of_nested_lists(f):
    # nested lists reach the wrapper and become concatenates, in both modes
    check_rule(f, A, S[:, :2])


def test_block_rejects_what_numpy_rejects():
    a = Dual(A, np.ones_like(A))
    with pytest.raises(ValueError, match="depths"):
        np.block([[a, a], a])
    with pytest.raises(TypeError, match="tuple"):
        np.block([(a, a), [a, a]])

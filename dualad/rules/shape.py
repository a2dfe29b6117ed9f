"""Shape rules: reshape, transpose, concatenate, stack, split, tile, repeat, flip, roll, pad, ...

Every function here only moves entries, so its tangent goes through the same function with
the axes shifted past the direction axis, and its cotangent goes back through the inverse
move. Indexing and the generic ``defindexmap`` are in indexing.py. Imports numpy only.
"""

from __future__ import annotations

import math
from itertools import accumulate

from numpy.lib.array_utils import normalize_axis_index, normalize_axis_tuple
from numpy.lib.stride_tricks import sliding_window_view

from dualad._numpy import np

from ._define import align, ndim_of, shape_of, unbroadcast
from .indexing import (
    _ax,
    _first,
    _indexmap_jvp,
    _indexmap_vjp,
    _keywords_in_place,
    _lead,
    _rule,
    defindexmap,
    index_add,
)


def _axes(axes, ndim: int) -> tuple:
    return tuple(a + 1 for a in normalize_axis_tuple(axes, ndim))


# -- reshaping and axis moves ----------------------------------------------------------------


def _order(x, order):
    """'C' or 'F': the index order ``order`` reads ``x`` in; None for 'K' on strided data."""
    o = "C" if order is None else order.upper()
    if o in ("C", "F"):
        return o
    flags = getattr(x, "flags", None)
    if flags is None or flags.c_contiguous:
        return "C"
    if flags.f_contiguous:
        return "F"
    return "C" if o == "A" else None


def _reshape(x, shape: tuple, order="C", copy=None):
    """``np.reshape`` passing ``order`` and ``copy`` only when they are not the defaults, so
    backends whose reshape lacks them (Dask) take the common case."""
    kw = {} if order == "C" else {"order": order}
    if copy:
        kw["copy"] = True
    return np.reshape(x, shape, **kw)


def reshape_jvp(dots, out, a, shape=None, order="C", *, copy=None):
    d = dots[0]
    return _reshape(d, shape_of(d)[:1] + shape_of(out), _order(a, order), copy)


def reshape_vjp(out_bar, out, a, shape=None, order="C", *, copy=None):
    return (_reshape(out_bar, shape_of(out_bar)[:1] + shape_of(a), _order(a, order)),)


def ravel_jvp(dots, out, a, order="C"):
    o = _order(a, order)
    if o is None:
        return _indexmap_jvp(np.ravel, (0,), dots, (a,), {"order": order})
    return _reshape(dots[0], (_lead(dots[0]), -1), o)


def ravel_vjp(out_bar, out, a, order="C"):
    o = _order(a, order)
    if o is None:
        return _indexmap_vjp(np.ravel, (0,), out_bar, (a,), {"order": order})
    return (_reshape(out_bar, shape_of(out_bar)[:1] + shape_of(a), o),)


def _perm(axes, n: int) -> tuple:
    ax = range(n - 1, -1, -1) if axes is None else normalize_axis_tuple(axes, n)
    return (0,) + tuple(a + 1 for a in ax)


def transpose_jvp(dots, out, a, axes=None):
    return np.transpose(dots[0], _perm(axes, ndim_of(a)))


def transpose_vjp(out_bar, out, a, axes=None):
    p = _perm(axes, ndim_of(a))
    inv = [0] * len(p)
    for i, j in enumerate(p):
        inv[j] = i
    return (np.transpose(out_bar, tuple(inv)),)


def swapaxes_jvp(dots, out, a, axis1, axis2):
    n = ndim_of(a)
    return np.swapaxes(dots[0], _ax(axis1, n), _ax(axis2, n))


def swapaxes_vjp(out_bar, out, a, axis1, axis2):
    n = ndim_of(a)
    return (np.swapaxes(out_bar, _ax(axis1, n), _ax(axis2, n)),)


def moveaxis_jvp(dots, out, a, source, destination):
    n = ndim_of(a)
    return np.moveaxis(dots[0], _axes(source, n), _axes(destination, n))


def moveaxis_vjp(out_bar, out, a, source, destination):
    n = ndim_of(a)
    return (np.moveaxis(out_bar, _axes(destination, n), _axes(source, n)),)


def matrix_transpose_jvp(dots, out, x):
    return np.swapaxes(dots[0], -1, -2)


def matrix_transpose_vjp(out_bar, out, x):
    return (np.swapaxes(out_bar, -1, -2),)


def _reshaped_jvp(dots, out, *args, **kwargs):
    """Functions that only add or drop unit axes: the tangent takes the output's shape."""
    if type(out) in (tuple, list):
        return type(out)(
            None if d is None else np.reshape(d, shape_of(d)[:1] + shape_of(o))
            for d, o in zip(dots, out)
        )
    d = dots[0]
    return np.reshape(d, shape_of(d)[:1] + shape_of(out))


def _reshaped_vjp(out_bar, out, *args, **kwargs):
    if type(out) in (tuple, list):
        return tuple(
            None if g is None else np.reshape(g, shape_of(g)[:1] + shape_of(a))
            for g, a in zip(out_bar, args)
        )
    return (np.reshape(out_bar, shape_of(out_bar)[:1] + shape_of(args[0])),)


def broadcast_to_jvp(dots, out, array, shape, subok=False):
    d, s = dots[0], shape_of(out)
    return np.broadcast_to(align(d, len(s)), shape_of(d)[:1] + s)


def broadcast_to_vjp(out_bar, out, array, shape, subok=False):
    return (unbroadcast(out_bar, shape_of(array)),)


def broadcast_arrays_jvp(dots, out, *args, subok=False):
    return tuple(
        None if d is None else np.broadcast_to(align(d, ndim_of(o)), shape_of(d)[:1] + shape_of(o))
        for d, o in zip(dots, out)
    )


def broadcast_arrays_vjp(out_bar, out, *args, subok=False):
    return tuple(None if g is None else unbroadcast(g, shape_of(a)) for g, a in zip(out_bar, args))


_rule(np.reshape, reshape_jvp, reshape_vjp)
_rule(np.ravel, ravel_jvp, ravel_vjp)
_rule(np.transpose, transpose_jvp, transpose_vjp)  # also np.permute_dims
_rule(np.swapaxes, swapaxes_jvp, swapaxes_vjp)
_rule(np.moveaxis, moveaxis_jvp, moveaxis_vjp)
_rule(np.matrix_transpose, matrix_transpose_jvp, matrix_transpose_vjp)
for _f in (np.expand_dims, np.squeeze, np.atleast_1d, np.atleast_2d, np.atleast_3d):
    _rule(_f, _reshaped_jvp, _reshaped_vjp)
_rule(np.broadcast_to, broadcast_to_jvp, broadcast_to_vjp)
_rule(np.broadcast_arrays, broadcast_arrays_jvp, broadcast_arrays_vjp)
defindexmap(np.rollaxis)
defindexmap(np.resize)
defindexmap(sliding_window_view)


# -- joining and splitting -------------------------------------------------------------------
# A joiner's layout names its pieces (paths into the arguments), the shape each piece takes
# in the join (e.g. atleast_2d for vstack) and the output axis they are joined along.


def _at(seq, path):
    v = seq[path[0]] if path[0] < len(seq) else None
    return v if len(path) == 1 or v is None else v[path[1]]


def _one_piece(func, s) -> tuple:
    """Shape ``func([x])`` gives a single piece of shape ``s`` (vstack's atleast_2d, ...)."""
    return shape_of(func([np.broadcast_to(0.0, s)]))


def _join(func, layout):
    def jvp(dots, out, *args, **kwargs):
        args, kwargs = _keywords_in_place(func, list(args), kwargs, 9)  # (see vjp)
        paths, pieces, ax = layout(out, *args, **kwargs)
        ds = [_at(dots, p) if p[0] < len(dots) else None for p in paths]
        proto = _first(ds)
        k = _lead(proto)
        parts = []
        for d, s in zip(ds, pieces):
            if d is None:
                d = np.zeros_like(proto, shape=(k,) + s)
            elif shape_of(d)[1:] != s:
                d = np.reshape(d, (k,) + s)
            parts.append(d)
        return np.concatenate(parts, axis=ax + 1)

    def vjp(out_bar, out, *args, **kwargs):
        n_args = len(args)  # a constant given by keyword (np.append(x, values=c)) in its
        args, kwargs = _keywords_in_place(func, list(args), kwargs, 9)  # place, no bar
        paths, pieces, ax = layout(out, *args, **kwargs)
        m = _lead(out_bar)
        ends = list(accumulate(s[ax] for s in pieces))
        lead = (slice(None),) * (ax + 1)  # slices, not np.split: every backend has those
        split = [out_bar[lead + (slice(a, b),)] for a, b in zip([0, *ends[:-1]], ends)]
        bars = [None] * len(args)
        for p, part in zip(paths, split):
            b = np.reshape(part, (m,) + tuple(shape_of(_at(args, p))))
            a = args[p[0]]
            if len(p) == 1 and type(a) in (list, tuple):  # a list taken whole (np.append's arr)
                b = tuple(np.reshape(b[:, j], (m,) + tuple(shape_of(e))) for j, e in enumerate(a))
            bars[p[0]] = b if len(p) == 1 else (bars[p[0]] or ()) + (b,)
        return tuple(bars[:n_args])

    return _rule(func, jvp, vjp)


def _concatenate_layout(out, arrays, axis=0, *args, **kwargs):
    shapes = [tuple(shape_of(a)) for a in arrays]
    paths = [(0, j) for j in range(len(arrays))]
    if axis is None:
        return paths, [(math.prod(s),) for s in shapes], 0
    return paths, shapes, normalize_axis_index(axis, ndim_of(out))


def _stack_layout(out, arrays, axis=0, *args, **kwargs):
    ax = normalize_axis_index(axis, ndim_of(out))
    pieces = [s[:ax] + (1,) + s[ax:] for s in (tuple(shape_of(a)) for a in arrays)]
    return [(0, j) for j in range(len(arrays))], pieces, ax


def _stacker(func, axis):
    def layout(out, tup, *args, **kwargs):
        pieces = [_one_piece(func, shape_of(a)) for a in tup]
        ax = axis if axis is not None else (0 if len(pieces[0]) == 1 else 1)  # hstack
        return [(0, j) for j in range(len(tup))], pieces, ax

    return layout


def _append_layout(out, arr, values, axis=None):
    shapes = [tuple(shape_of(arr)), tuple(shape_of(values))]
    if axis is None:
        return [(0,), (1,)], [(math.prod(s),) for s in shapes], 0
    return [(0,), (1,)], shapes, normalize_axis_index(axis, ndim_of(out))


def _split_rule(func, axis_of):
    def jvp(dots, out, ary, *args, **kwargs):
        ax = axis_of(ndim_of(ary), *args, **kwargs)
        cuts = list(accumulate(shape_of(o)[ax] for o in out))[:-1]
        return np.split(dots[0], cuts, axis=ax + 1)

    def vjp(out_bar, out, ary, *args, **kwargs):
        ax = axis_of(ndim_of(ary), *args, **kwargs)
        proto = _first(out_bar)
        m = _lead(proto)
        parts = [
            np.zeros_like(proto, shape=(m,) + tuple(shape_of(o))) if g is None else g
            for g, o in zip(out_bar, out)
        ]
        return (np.concatenate(parts, axis=ax + 1),)

    return _rule(func, jvp, vjp)


def unstack_jvp(dots, out, x, *, axis=0):
    return np.unstack(dots[0], axis=_ax(axis, ndim_of(x)))


def unstack_vjp(out_bar, out, x, *, axis=0):
    proto = _first(out_bar)
    parts = [
        np.zeros_like(proto, shape=shape_of(proto)[:1] + shape_of(o)) if g is None else g
        for g, o in zip(out_bar, out)
    ]
    return (np.stack(parts, axis=_ax(axis, ndim_of(x))),)


_join(np.concatenate, _concatenate_layout)  # also np.concat
_join(np.stack, _stack_layout)
_join(np.vstack, _stacker(np.vstack, 0))
_join(np.hstack, _stacker(np.hstack, None))
_join(np.dstack, _stacker(np.dstack, 2))
_join(np.column_stack, _stacker(np.column_stack, 1))
_join(np.append, _append_layout)
_split_rule(np.split, lambda n, ios, axis=0: normalize_axis_index(axis, n))
_split_rule(np.array_split, lambda n, ios, axis=0: normalize_axis_index(axis, n))
_split_rule(np.hsplit, lambda n, ios: 1 if n > 1 else 0)
_split_rule(np.vsplit, lambda n, ios: 0)
_split_rule(np.dsplit, lambda n, ios: 2)
_rule(np.unstack, unstack_jvp, unstack_vjp)
defindexmap(np.block)  # a flat list; nested lists become concatenates (dualad._ops.block)
defindexmap(np.insert, argnums=(0, 2))
defindexmap(np.delete)


# -- repeating, flipping, rolling, padding ---------------------------------------------------


def _reps(reps) -> tuple:
    return tuple(reps) if np.ndim(reps) else (int(reps),)


def tile_jvp(dots, out, A, reps):
    r, nd = _reps(reps), ndim_of(out)
    return np.tile(align(dots[0], nd), (1,) * (nd + 1 - len(r)) + r)


def tile_vjp(out_bar, out, A, reps):
    nd, m = ndim_of(out), _lead(out_bar)
    r = (1,) * (nd - len(_reps(reps))) + _reps(reps)
    s = (1,) * (nd - ndim_of(A)) + tuple(shape_of(A))
    # output axis i is (copy, entry) = (r[i], s[i]) in C order: split it and sum the copies
    g = np.reshape(out_bar, (m,) + tuple(x for pair in zip(r, s) for x in pair))
    g = np.sum(g, axis=tuple(range(1, 2 * nd + 1, 2)))
    return (np.reshape(g, (m,) + tuple(shape_of(A))),)


def repeat_jvp(dots, out, a, repeats, axis=None):
    d = dots[0]
    if axis is None:
        return np.repeat(np.reshape(d, (_lead(d), -1)), repeats, axis=1)
    return np.repeat(d, repeats, axis=_ax(axis, ndim_of(a)))


def repeat_vjp(out_bar, out, a, repeats, axis=None):
    m, shape = _lead(out_bar), tuple(shape_of(a))
    if axis is None:
        ax, base = 0, (math.prod(shape),)
    else:
        ax, base = normalize_axis_index(axis, len(shape)), shape
    r = np.asarray(repeats)  # a constant count, not a value
    if r.size == 1:
        n = int(r.reshape(()))
        gs = shape_of(out_bar)
        g = np.reshape(out_bar, gs[: ax + 1] + (base[ax], n) + gs[ax + 2 :])
        g = np.sum(g, axis=ax + 2)
    else:
        src = np.repeat(np.arange(base[ax], dtype=np.intp), r)
        g = index_add(out_bar, (slice(None),) * ax + (src,), base)
    return (np.reshape(g, (m,) + shape),)


def _flip_axes(m, axis):
    n = ndim_of(m)
    return tuple(range(1, n + 1)) if axis is None else _axes(axis, n)


def flip_jvp(dots, out, m, axis=None):
    return np.flip(dots[0], _flip_axes(m, axis))


def flip_vjp(out_bar, out, m, axis=None):
    return (np.flip(out_bar, _flip_axes(m, axis)),)


def roll_jvp(dots, out, a, shift, axis=None):
    return _roll(dots[0], a, shift, axis)


def roll_vjp(out_bar, out, a, shift, axis=None):
    return (_roll(out_bar, a, -np.asarray(shift), axis),)


def _roll(d, a, shift, axis):
    if axis is None:  # roll the flattened array
        s = shape_of(d)
        return np.reshape(np.roll(np.reshape(d, (s[0], -1)), shift, axis=1), s)
    if isinstance(axis, (tuple, list)):  # each axis shifted on its own (a repeated one adds up)
        from numpy.lib.array_utils import normalize_axis_index

        n = ndim_of(a)
        return np.roll(d, shift, axis=tuple(normalize_axis_index(x, n) + 1 for x in axis))
    return np.roll(d, shift, axis=_axes(axis, ndim_of(a)))


def rot90_jvp(dots, out, m, k=1, axes=(0, 1)):
    return np.rot90(dots[0], k, _axes(axes, ndim_of(m)))


def rot90_vjp(out_bar, out, m, k=1, axes=(0, 1)):
    return (np.rot90(out_bar, -k, _axes(axes, ndim_of(m))),)


_PAD_COPY = ("edge", "reflect", "symmetric", "wrap")  # pads copy entries of the array


def _pad_widths(pad_width, n: int) -> np.ndarray:
    """pad_width as an (n, 2) array of ints (it is a constant, never a value)."""
    if isinstance(pad_width, dict):
        pw = np.zeros((n, 2), dtype=np.intp)
        for ax, w in pad_width.items():
            pw[normalize_axis_index(ax, n)] = np.broadcast_to(np.asarray(w), (2,))
        return pw
    return np.broadcast_to(np.asarray(pad_width, dtype=np.intp), (n, 2))


def _pad_mode(mode, kwargs):
    if mode in ("constant", "empty") or (
        mode in _PAD_COPY and kwargs.get("reflect_type", "even") == "even"
    ):
        return
    what = f"mode={mode!r}" if mode in _PAD_COPY or not callable(mode) else "a callable mode"
    if kwargs.get("reflect_type", "even") != "even":
        what += ", reflect_type='odd'"
    raise NotImplementedError(
        f"dualad does not differentiate numpy.pad with {what}: use mode 'constant', 'edge', "
        "'reflect', 'symmetric' or 'wrap', or build the padding with np.concatenate"
    )


def pad_jvp(dots, out, array, pad_width, mode="constant", **kwargs):
    _pad_mode(mode, kwargs)
    pw = ((0, 0),) + tuple(map(tuple, _pad_widths(pad_width, ndim_of(array))))
    if mode in _PAD_COPY:
        return np.pad(dots[0], pw, mode=mode)
    return np.pad(dots[0], pw)  # the constant carries no derivative: pad the tangent with 0


def pad_vjp(out_bar, out, array, pad_width, mode="constant", **kwargs):
    _pad_mode(mode, kwargs)
    if mode in _PAD_COPY:
        return _indexmap_vjp(np.pad, (0,), out_bar, (array, pad_width, mode), kwargs)
    pw = _pad_widths(pad_width, ndim_of(array))
    key = tuple(slice(b, b + n) for (b, _), n in zip(pw.tolist(), shape_of(array)))
    return (out_bar[(slice(None),) + key],)


_rule(np.tile, tile_jvp, tile_vjp)
_rule(np.repeat, repeat_jvp, repeat_vjp)
_rule(np.flip, flip_jvp, flip_vjp)
_rule(np.fliplr, lambda dots, out, m: np.flip(dots[0], 2), lambda g, out, m: (np.flip(g, 2),))
_rule(np.flipud, lambda dots, out, m: np.flip(dots[0], 1), lambda g, out, m: (np.flip(g, 1),))
_rule(np.roll, roll_jvp, roll_vjp)
_rule(np.rot90, rot90_jvp, rot90_vjp)
_rule(np.pad, pad_jvp, pad_vjp)

# -- copies, real and imaginary parts, new arrays ----------------------------------------------


def _complex(x) -> bool:
    dt = getattr(x, "dtype", None)
    return dt is not None and dt.kind == "c"


# complex inputs: the cotangent is d/dRe + 1j d/dIm of the real-valued output
_rule(np.copy, lambda dots, out, a, *r, **kw: _copy(dots[0]), lambda g, out, a, *r, **kw: (g,))
_rule(np.real, lambda dots, out, val: np.real(dots[0]), lambda g, out, val: (g,))
_rule(
    np.imag,
    lambda dots, out, val: np.imag(dots[0]) if _complex(val) else None,
    lambda g, out, val: (1j * g if _complex(val) else None,),
)


def _no_tangent(dots, out, *args, **kwargs):
    return None  # the values are new: a zero tangent, and still a Dual to assign into


def _no_cotangent(out_bar, out, *args, **kwargs):
    return ()


def full_like_jvp(dots, out, a, fill_value, *args, **kwargs):
    d = dots[1] if len(dots) > 1 else None
    if d is None:
        return None
    s = shape_of(out)
    return np.broadcast_to(align(d, len(s)), shape_of(d)[:1] + s)


def full_like_vjp(out_bar, out, a, fill_value, *args, **kwargs):
    return (None, unbroadcast(out_bar, shape_of(fill_value)))


for _f in (np.zeros_like, np.ones_like, np.empty_like):
    _rule(_f, _no_tangent, _no_cotangent)
_rule(np.full_like, full_like_jvp, full_like_vjp)


#: Functions whose results are indices or shapes: they run on the primal, no tangent.
PRIMAL_ONLY_FUNCS = (
    np.shape, np.ndim, np.size, np.argsort, np.argpartition, np.nonzero, np.argwhere,
    np.flatnonzero, np.tril_indices_from, np.triu_indices_from, np.diag_indices_from,
    np.ravel_multi_index, np.unravel_index,
    # boolean tests, type queries, text and bit packing: nothing to differentiate
    np.isposinf, np.isneginf, np.isin, np.iscomplexobj, np.isrealobj, np.can_cast,
    np.common_type, np.min_scalar_type, np.array2string, np.array_repr, np.array_str,
    np.packbits, np.unpackbits, np.is_busday, np.busday_count, np.busday_offset,
    np.datetime_as_string, np.ix_,
)  # fmt: skip

_SET = (
    "its result keeps one copy of equal values, which has no derivative where duplicates "
    "meet. Use np.isin(d.primal, other) or np.unique(d.primal, return_index=True) and "
    "index the Dual with the result"
)
_SAVE = "it writes to a file: save d.primal and d.tangent (v.value for a Variable) explicitly"

#: Functions deliberately without a rule, each with the reason the error message gives.
#: (NumPy's in-place writers, np.copyto, np.put, ..., run as item assignments: dualad._ops.)
UNSUPPORTED_FUNCS = {
    **{f: _SET for f in (np.intersect1d, np.union1d, np.setdiff1d, np.setxor1d)},
    **{f: _SAVE for f in (np.save, np.savez, np.savez_compressed, np.savetxt)},
    np.i0: "its derivative is the Bessel function I1, which NumPy lacks; with SciPy "
    "installed use scipy.special.i0, which dualad differentiates",
    np.partition: "which entries land off the kth positions is unspecified; use np.sort",
    np.trim_zeros: "the result's shape depends on the values; slice with indices computed "
    "from d.primal instead",
}


def _copy(t):
    """A copy of tangent ``t`` on its own backend (Dask implements ``.copy``, not ``np.copy``)."""
    return np.copy(t) if isinstance(t, np.ndarray) or not hasattr(t, "copy") else t.copy()

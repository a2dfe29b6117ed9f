"""Indexing rules: x[key] and its transpose index_add, the generic index-map rule
(defindexmap), take, take_along_axis, sort, compress, extract, triangles and diagonals.

Tangents are gathered with the same key past the direction axis; cotangents are scattered back
with ``index_add``, which sums entries read more than once. Imports numpy only.
"""

from __future__ import annotations

import inspect
import math

from numpy.lib.array_utils import normalize_axis_index

from dualad._numpy import np

from ._define import defrule, getitem, ndim_of, on_host, shape_of


def _rule(func, jvp, vjp, name: str | None = None):
    """``defrule``, with the vjp's tuple padded to one cotangent per positional argument."""

    def vjp_all(out_bar, out, *args, **kwargs):
        bars = vjp(out_bar, out, *args, **kwargs)
        n = len(args)
        return tuple(bars[:n]) + (None,) * (n - len(bars))

    return defrule(func, jvp, vjp_all, name)


def _ax(axis, ndim: int) -> int:
    """A user axis of a rank-``ndim`` array as an axis of its tangent (direction axis first)."""
    return normalize_axis_index(axis, ndim) + 1


def _lead(x) -> int:
    """Length of the leading direction/batch axis."""
    return shape_of(x)[0]


def _first(ds):
    return next(d for d in ds if d is not None)


# -- indexing: x[key] and its transpose index_add ------------------------------------------

_BASIC = (slice, type(None), type(Ellipsis))
BASIC, LEAD, LAST = 0, 1, 2  # how NumPy places the result of [:, key]; see _key


def _fancy(item) -> bool:
    """True for an advanced index (array, list, boolean); ints alone stay basic."""
    if isinstance(item, _BASIC):
        return False
    if isinstance(item, (bool, np.bool_)):
        return True
    if isinstance(item, (int, np.integer)):
        return False
    if isinstance(item, (list, tuple)):
        return True
    return ndim_of(item) > 0 or getattr(item, "dtype", None) == np.bool_


def _key(key):
    """``key`` as a tuple and where ``a[(slice(None),) + key]`` keeps ``a``'s leading axis.

    BASIC: no advanced index. LEAD: advanced indices side by side, the leading axis stays
    first. LAST: advanced indices (ints count once one is present) separated by a slice,
    None or Ellipsis: NumPy moves their broadcast axes in front of the leading axis.
    """
    items = key if isinstance(key, tuple) else (key,)
    if not any(_fancy(i) for i in items):
        return items, BASIC
    pos = [j for j, i in enumerate(items) if not isinstance(i, _BASIC)]
    return items, (LEAD if pos[-1] - pos[0] == len(pos) - 1 else LAST)


def _linear(items, shape, like=None):
    """Flat (C order) positions that ``zeros(shape)[items]`` reads, in its result's shape."""
    n = math.prod(shape)
    i = np.arange(n, dtype=np.intp) if like is None else np.arange(n, dtype=np.intp, like=like)
    return i.reshape(shape)[items]


def _gather(a, items, kind):
    """``a[:, items]`` with ``a``'s leading axis kept first, shape ``(L,) + x[items].shape``."""
    if kind != LAST:
        return a[(slice(None),) + items]
    s = shape_of(a)
    return np.reshape(a, (s[0], -1))[:, _linear(items, s[1:])]


def _masks_only(items) -> bool:
    """True when every advanced index is boolean: no entry can be picked twice."""
    for i in items:
        if isinstance(i, (*_BASIC, bool, np.bool_, int, np.integer)):
            continue
        dt = getattr(i, "dtype", None)
        if dt is None:
            dt = np.asarray(i).dtype  # a list: a constant, never a value
        if dt != np.bool_ and ndim_of(i) > 0:
            return False
    return True


def _dispatch(values, key, shape):
    """NEP 18 by hand: a Dual or tape Variable routes ``index_add`` to its rule. Other
    backends (CuPy, Dask) run the body, on their own arrays."""
    t = type(values)
    if t is np.ndarray or not hasattr(values, "_level"):  # only the wrappers set _level
        return NotImplemented
    hook = getattr(t, "__array_function__", None)
    if hook is None or hook is np.ndarray.__array_function__:
        return NotImplemented
    return hook(values, index_add, (t,), (values, key, shape), {})


def _drop_new_axes(values, items, ndim: int):
    """``values`` without the length-1 axes that ``None`` in the basic key ``items`` made,
    and ``items`` without its ``None``: the same write, in a form every backend takes (Dask
    refuses ``None`` in a key it writes through)."""
    if not any(i is None for i in items):
        return values, items
    used = sum(1 for i in items if i is not None and i is not Ellipsis)
    axis, drop = 1, set()  # axis of values (its leading batch axis first)
    for i in items:
        if i is None:
            drop.add(axis)
            axis += 1
        elif i is Ellipsis:
            axis += ndim - used
        elif isinstance(i, slice):
            axis += 1  # an integer index leaves no axis
    s = shape_of(values)
    values = np.reshape(values, tuple(n for j, n in enumerate(s) if j not in drop))
    return values, tuple(i for i in items if i is not None)


def index_add(values, key, shape):
    """Zeros of shape ``(m,) + shape`` with ``values`` added at ``[:, key]``.

    The transpose of ``x[key]`` with a leading batch axis: ``values`` has shape
    ``(m,) + zeros(shape)[key].shape``, and entries that ``key`` names more than once receive
    the sum. It has a rule itself, so reverse rules built on it differentiate again.

    >>> index_add(np.ones((1, 3)), ([0, 2, 0],), (3,))
    array([[2., 0., 1.]])
    """
    res = _dispatch(values, key, shape)
    if res is not NotImplemented:
        return res
    items, kind = _key(key)
    m, shape = _lead(values), tuple(shape)
    if kind == BASIC or (kind == LEAD and _masks_only(items)):
        if kind == BASIC:
            values, items = _drop_new_axes(values, items, len(shape))
        z = np.zeros_like(values, shape=(m,) + shape)
        z[(slice(None),) + items] = values  # every entry named at most once
        return z
    # ufunc.at is fast on 1-D targets only: scatter into a flat buffer, one block per row.
    # The buffer is made flat, not flattened: zeros_like keeps a transposed ``values``'s
    # layout, and reshaping that would copy, so the scatter would be lost.
    n = math.prod(shape)
    z = np.zeros_like(values, shape=(m * n,))
    lin = _linear(items, shape, like=z).reshape(-1)
    if m > 1:
        lin = (lin + n * np.arange(m, dtype=np.intp, like=z)[:, None]).reshape(-1)
    flat = np.reshape(values, (-1,))
    try:
        np.add.at(z, lin, flat)
    except TypeError:  # a backend without scatter-add (Dask): a weighted count, chunked like
        # ``values`` (the indices are put on its backend by broadcasting against its zeros)
        z = np.bincount(np.zeros_like(flat, dtype=np.intp) + lin, weights=flat, minlength=m * n)
    return z.reshape((m,) + shape)


def getitem_jvp(dots, out, x, key):
    items, kind = _key(key)
    return _gather(dots[0], items, kind)


def getitem_vjp(out_bar, out, x, key):
    return (index_add(out_bar, key, shape_of(x)), None)


def index_add_jvp(dots, out, values, key, shape):
    # merge the direction and batch axes: index_add works with one leading axis
    s = shape_of(dots[0])
    flat = np.reshape(dots[0], (s[0] * s[1],) + s[2:])
    return np.reshape(index_add(flat, key, shape), s[:2] + tuple(shape))


def index_add_vjp(out_bar, out, values, key, shape):
    s = shape_of(out_bar)
    items, kind = _key(key)
    flat = _gather(np.reshape(out_bar, (s[0] * s[1],) + s[2:]), items, kind)
    return (np.reshape(flat, s[:2] + shape_of(values)[1:]), None, None)


_rule(getitem, getitem_jvp, getitem_vjp, name="getitem (x[key])")
_rule(index_add, index_add_jvp, index_add_vjp, name="dualad.rules.indexing.index_add")


# -- the generic index-map rule ------------------------------------------------------------


def _iota(p, start: int):
    """Indices ``start, start+1, ...`` in ``p``'s shape (and memory layout, for order='K')."""
    s = tuple(shape_of(p))
    idx = np.arange(start, start + math.prod(s), dtype=np.intp).reshape(s)
    flags = getattr(p, "flags", None)
    if flags is not None and not flags.c_contiguous:
        laid = np.empty_like(p, dtype=np.intp)
        laid[...] = idx
        idx = laid
    return idx, s


def _index_map(func, argnums, args, kwargs):
    """Run ``func`` on blocks of consecutive indices in place of the arrays at ``argnums``.

    Returns the output's index map, the slots ``(i, j, shape, start)`` (``j`` indexes into a
    list argument, else None) and the total number of input entries.
    """
    args, slots, total = list(args), [], 0
    if kwargs:  # an array of argnums given by keyword (np.insert(x, 1, values=3)) takes its
        args, kwargs = _keywords_in_place(func, args, kwargs, max(argnums))  # place: else its
        # numbers would be read as positions in the index map
    for i in argnums:
        if i >= len(args):
            continue
        a = args[i]
        seq = type(a) in (list, tuple)
        parts = []
        for j, p in enumerate(a if seq else (a,)):
            idx, s = _iota(p, total)
            parts.append(idx)
            slots.append((i, j if seq else None, s, total))
            total += idx.size
        args[i] = type(a)(parts) if seq else parts[0]
    return func(*args, **kwargs), slots, total


_PARAMS: dict = {}  # func -> its signature's parameters (None: it has none to read)


def _keywords_in_place(func, args: list, kwargs: dict, last: int):
    """``args`` extended with the keyword arguments of ``func``'s positions up to ``last``
    (defaults fill the gaps), and the keywords left. (``dualad._ops.bind_kwargs`` moves
    the traced keywords of a call; this moves the constants a rule's index map or layout
    reads by position.)"""
    if not kwargs:
        return args, kwargs
    params = _PARAMS.get(func, ())
    if params == ():
        try:
            params = list(inspect.signature(func).parameters.values())
        except (TypeError, ValueError):  # no signature to read: as given
            params = None
        _PARAMS[func] = params
    if params is None:
        return args, kwargs
    kwargs = dict(kwargs)
    given = [p.name in kwargs for p in params[len(args) : last + 1]]
    if not any(given):
        return args, kwargs
    n = len(args) + max(i for i, g in enumerate(given) if g) + 1
    for p in params[len(args) : n]:
        if p.kind not in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            break
        if p.name in kwargs:
            args.append(kwargs.pop(p.name))
        elif p.default is not p.empty:
            args.append(p.default)
        else:
            break
    return args, kwargs


def _indexmap_jvp(func, argnums, dots, args, kwargs):
    idx, slots, _ = _index_map(func, argnums, args, kwargs)
    ds = []
    for i, j, s, _ in slots:
        d = dots[i] if i < len(dots) else None
        ds.append(d[j] if d is not None and j is not None else d)
    proto = _first(ds)
    k = _lead(proto)
    flat = [
        np.zeros_like(proto, shape=(k, math.prod(s)))
        if d is None
        else np.reshape(d, (k, math.prod(s)))
        for d, (_, _, s, _) in zip(ds, slots)
    ]
    flat = flat[0] if len(flat) == 1 else np.concatenate(flat, axis=1)
    return flat[:, idx]


def _indexmap_vjp(func, argnums, out_bar, args, kwargs):
    idx, slots, total = _index_map(func, argnums, args, kwargs)
    m = _lead(out_bar)
    g = np.reshape(out_bar, (m, -1))
    flat = index_add(g, (np.reshape(idx, (-1,)),), (total,))
    bars = [None] * len(args)
    for i, j, s, start in slots:
        if i >= len(bars):  # a constant given by keyword (its place taken in _index_map)
            continue
        b = np.reshape(flat[:, start : start + math.prod(s)], (m,) + s)
        bars[i] = b if j is None else (bars[i] or ()) + (b,)
    return tuple(bars)


def defindexmap(func, argnums=(0,), name: str | None = None):
    """Register ``func``, which copies entries: each output entry is one input entry.

    The rule runs ``func`` once on ``np.arange`` blocks standing in for the arrays at
    positions ``argnums`` (or inside list arguments there) to learn which input entry each
    output entry is; the tangent is gathered through that map and the cotangent scattered
    back with ``index_add`` (entries read twice receive the sum). One extra call of ``func``
    on integers per rule call: write a direct rule where speed matters.

    >>> def first_two(x):  # a function of its own: registering it changes no NumPy rule
    ...     return x[:2]
    >>> defindexmap(first_two).name.endswith("first_two")
    True
    """

    def jvp(dots, out, *args, **kwargs):
        return _indexmap_jvp(func, argnums, dots, args, kwargs)

    def vjp(out_bar, out, *args, **kwargs):
        return _indexmap_vjp(func, argnums, out_bar, args, kwargs)

    return _rule(func, jvp, vjp, name)


# -- picking entries: take, take_along_axis, sort, compress ----------------------------------


def _take_vjp(out_bar, indices, axis, shape, mode="raise"):
    """Cotangent of ``np.take(x, indices, axis, mode=mode)`` for ``x`` of ``shape``."""
    n = math.prod(shape) if axis is None else shape[normalize_axis_index(axis, len(shape))]
    if not hasattr(indices, "shape"):
        indices = np.asarray(indices)  # a list of constant indices
    if mode == "wrap":
        indices = np.mod(indices, n)
    elif mode == "clip":
        indices = np.clip(indices, 0, n - 1)
    m = _lead(out_bar)
    if axis is None:
        return np.reshape(index_add(out_bar, (indices,), (n,)), (m,) + tuple(shape))
    key = (slice(None),) * normalize_axis_index(axis, len(shape)) + (indices,)
    return index_add(out_bar, key, shape)


def take_jvp(dots, out, a, indices, axis=None, mode="raise"):
    d = dots[0]
    kw = {} if mode == "raise" else {"mode": mode}  # NumPy's default: Dask takes no mode=
    if axis is None:
        return np.take(np.reshape(d, (_lead(d), -1)), indices, axis=1, **kw)
    return np.take(d, indices, axis=_ax(axis, ndim_of(a)), **kw)


def take_vjp(out_bar, out, a, indices, axis=None, mode="raise"):
    return (_take_vjp(out_bar, indices, axis, tuple(shape_of(a)), mode),)


def _along_jvp(d, indices, axis):
    if axis is None:
        return np.take_along_axis(np.reshape(d, (_lead(d), -1)), indices[None], axis=1)
    return np.take_along_axis(d, indices[None], axis=_ax(axis, ndim_of(indices)))


def _along_vjp(out_bar, indices, axis, shape, out_shape):
    """Cotangent of ``np.take_along_axis(x, indices, axis)`` for ``x`` of ``shape``."""
    if axis is None:
        return _take_vjp(out_bar, indices, None, shape)
    nd = len(shape)
    ax = normalize_axis_index(axis, nd)
    key = []
    for j, n in enumerate(shape):
        if j == ax:
            key.append(indices)
            continue
        grid = np.arange(n, dtype=np.intp) if n == out_shape[j] else np.zeros(1, np.intp)
        key.append(grid.reshape((1,) * j + (-1,) + (1,) * (nd - j - 1)))
    return index_add(out_bar, tuple(key), shape)


def take_along_axis_jvp(dots, out, arr, indices, axis=-1):
    return _along_jvp(dots[0], indices, axis)


def take_along_axis_vjp(out_bar, out, arr, indices, axis=-1):
    return (_along_vjp(out_bar, indices, axis, tuple(shape_of(arr)), shape_of(out)),)


def sort_jvp(dots, out, a, axis=-1, kind=None, order=None, *, stable=None):
    # the primal's own sorting permutation; at ties any order gives the same values
    return _along_jvp(dots[0], np.argsort(a, axis=axis, kind=kind, stable=stable), axis)


def sort_vjp(out_bar, out, a, axis=-1, kind=None, order=None, *, stable=None):
    idx = np.argsort(a, axis=axis, kind=kind, stable=stable)
    return (_along_vjp(out_bar, idx, axis, tuple(shape_of(a)), shape_of(out)),)


def compress_jvp(dots, out, condition, a, axis=None):
    return take_jvp((dots[1],), out, a, np.flatnonzero(condition), axis)


def compress_vjp(out_bar, out, condition, a, axis=None):
    return (None, _take_vjp(out_bar, np.flatnonzero(condition), axis, tuple(shape_of(a))))


def extract_jvp(dots, out, condition, arr):
    return take_jvp((dots[1],), out, arr, np.flatnonzero(condition))


def extract_vjp(out_bar, out, condition, arr):
    return (None, _take_vjp(out_bar, np.flatnonzero(condition), None, tuple(shape_of(arr))))


_rule(np.take, take_jvp, take_vjp)
_rule(np.take_along_axis, take_along_axis_jvp, take_along_axis_vjp)
_rule(np.sort, sort_jvp, sort_vjp)
_rule(np.compress, compress_jvp, compress_vjp)
_rule(np.extract, extract_jvp, extract_vjp)


# -- triangles and diagonals -----------------------------------------------------------------


def _tri(f):
    def jvp(dots, out, m, k=0):
        d = dots[0]
        if ndim_of(m) == 1:  # NumPy treats a vector as a row repeated down the rows
            s = shape_of(d)
            d = np.broadcast_to(np.reshape(d, (s[0], 1, s[1])), (s[0], s[1], s[1]))
        return f(d, k)

    def vjp(out_bar, out, m, k=0):
        g = f(out_bar, k)
        return (np.sum(g, axis=1) if ndim_of(m) == 1 else g,)

    return _rule(f, jvp, vjp)


def _diag_at(n: int, k: int):
    """Rows and columns of the ``n`` entries on diagonal ``k``."""
    i = np.arange(n, dtype=np.intp)
    return i + max(-k, 0), i + max(k, 0)


def _diag_embed(g, n: int, m: int, k: int):
    """Zeros ``g.shape[:-1] + (n, m)`` with ``g``'s last axis on diagonal ``k``: padded to
    the rows, times the diagonal's mask. Only operations every backend has (Dask has no
    scatter, nor a gather with two index arrays): for arrays other than NumPy's."""
    s = tuple(shape_of(g))
    r0, d = max(-k, 0), s[-1]
    if d == 0:
        return np.zeros_like(g, shape=s[:-1] + (n, m))
    rows = np.pad(g, [(0, 0)] * (len(s) - 1) + [(r0, n - r0 - d)])
    base = g
    while hasattr(base, "_level"):
        base = base._unwrap()
    on = np.arange(m, like=base)[None, :] - np.arange(n, like=base)[:, None] == k
    return rows[..., :, None] * on.astype(base.dtype)


def diag_jvp(dots, out, v, k=0):
    d = dots[0]
    if ndim_of(v) == 2:
        return np.diagonal(d, k, 1, 2)
    if not on_host(d):
        n = shape_of(out)[0]
        return _diag_embed(d, n, n, k)
    return index_add(d, _diag_at(shape_of(v)[0], k), shape_of(out))


def diag_vjp(out_bar, out, v, k=0):
    host = on_host(out_bar)
    if ndim_of(v) == 2:
        if not host:
            return (_diag_embed(out_bar, *shape_of(v), k),)
        return (index_add(out_bar, _diag_at(shape_of(out)[0], k), shape_of(v)),)
    if not host:
        return (np.diagonal(out_bar, k, 1, 2),)
    return (out_bar[(slice(None),) + _diag_at(shape_of(v)[0], k)],)


def diagflat_jvp(dots, out, v, k=0):
    d = dots[0]
    flat = np.reshape(d, (_lead(d), -1))
    if not on_host(d):
        return _diag_embed(flat, *shape_of(out), k)
    return index_add(flat, _diag_at(shape_of(flat)[1], k), shape_of(out))


def diagflat_vjp(out_bar, out, v, k=0):
    if not on_host(out_bar):
        g = np.diagonal(out_bar, k, 1, 2)
    else:
        g = out_bar[(slice(None),) + _diag_at(math.prod(shape_of(v)), k)]
    return (np.reshape(g, shape_of(out_bar)[:1] + tuple(shape_of(v))),)


def diagonal_jvp(dots, out, a, offset=0, axis1=0, axis2=1):
    n = ndim_of(a)
    return np.diagonal(dots[0], offset, _ax(axis1, n), _ax(axis2, n))


def diagonal_vjp(out_bar, out, a, offset=0, axis1=0, axis2=1):
    s, n = tuple(shape_of(a)), ndim_of(a)
    a1, a2 = normalize_axis_index(axis1, n), normalize_axis_index(axis2, n)
    rest = tuple(x for j, x in enumerate(s) if j not in (a1, a2))
    # scatter with the two diagonal axes last (where np.diagonal puts the diagonal), then
    # move them back to axis1 and axis2
    if on_host(out_bar):
        key = (slice(None),) * len(rest) + _diag_at(shape_of(out)[-1], offset)
        z = index_add(out_bar, key, rest + (s[a1], s[a2]))
    else:
        z = _diag_embed(out_bar, s[a1], s[a2], offset)
    return (np.moveaxis(z, (-2, -1), (a1 + 1, a2 + 1)),)


_tri(np.triu)
_tri(np.tril)
_rule(np.diag, diag_jvp, diag_vjp)
_rule(np.diagflat, diagflat_jvp, diagflat_vjp)
_rule(np.diagonal, diagonal_jvp, diagonal_vjp)

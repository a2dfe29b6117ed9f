"""How each NumPy function moves dependencies: the statements ``dualad.sparsity`` follows.

``KIND`` maps a function to its statement, one per kind (see ``dualad._pattern`` for the
kinds and the tracer they run on); ``_apply`` finds a call's statement, or raises
``NotImplementedError`` naming the function. A call with ``out=`` (any function) runs
without it, then writes the result's dependencies into ``out`` (``_into_out``). Imports numpy, ``rules`` and the tracer.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from dualad._numpy import np

from ._ops import split_out
from ._pattern import (
    Pattern,
    _bdeps,
    _dedupe,
    _float,
    _from_csr,
    _grouped,
    _n_of,
    _none,
    _plain_key,
    _to_csr,
    _union,
    _val,
    _views,
    _widen,
    _wrap,
)
from ._writers import IN_PLACE
from .rules import COMPOSITES, PRIMAL_ONLY, RULES
from .rules._define import func_name, getitem
from .rules.indexing import index_add

# -- kinds ------------------------------------------------------------------------------------


def _elementwise(func, args, kwargs):
    n = _n_of(args)
    out = func(*[_val(a) for a in args], **{k: _val(v) for k, v in kwargs.items()})
    outs = out if isinstance(out, tuple) else (out,)
    shape = np.shape(outs[0])
    blocks = []
    for i, a in enumerate(args):
        d = _bdeps(a, shape, n)
        if d.shape[1] and func is np.multiply and len(args) == 2:
            other = args[1 - i]
            if not isinstance(other, Pattern):  # a constant zero factor: no dependency
                c = np.asarray(other)
                zero = (c == 0) if c.ndim == 0 else np.broadcast_to(c == 0, shape).ravel()
                if zero.any():
                    d = d.copy()
                    d[zero] = n
        blocks.append(d)
    deps = _union(blocks, math.prod(shape), n)
    terms = _terms(func, args) if shape == () else None
    res = []
    for j, o in enumerate(outs):
        step = (func is np.modf and j == 1) or (func is np.divmod and j == 0)
        res.append(o if step or not _float(o) else _wrap(o, deps, n))
    if terms is not None and isinstance(res[0], Pattern):
        res[0].terms = terms
    return tuple(res) if isinstance(out, tuple) else res[0]


def _terms(func, args):
    """The terms of a scalar sum through + and - of sums, and scaling by constants."""
    if func not in (np.add, np.subtract, np.negative, np.positive, np.multiply, np.divide):
        return None  # (np.true_divide is np.divide)
    traced = [a for a in args if isinstance(a, Pattern)]
    if not traced or any(a.size != 1 for a in traced):
        return None
    if func in (np.multiply, np.divide) and not (
        len(traced) == 1 and (func is np.multiply or traced[0] is args[0])
    ):  # only c * sum(y) and sum(y) / c stay sums
        return None
    # a scalar that is no sum is one term of its own
    parts = [a.deps.reshape(1, -1) if a.terms is None else a.terms for a in traced]
    w = max(p.shape[1] for p in parts)
    return np.concatenate([_widen(p, w, traced[0].n) for p in parts], axis=0)


def _rebuild(like, items: list):
    """A tuple, list or named tuple (SVDResult, ...) like ``like`` holding ``items``."""
    return type(like)(*items) if hasattr(like, "_fields") else type(like)(items)


def _zero(func, args, kwargs):
    """Piecewise constant (floor, sign, round): no dependency, but a float result of a traced
    argument stays traced (a buffer written later, ``y = np.sign(x); y[0] = x[1]``)."""
    out = func(*[_val(a) for a in args], **{k: _val(v) for k, v in kwargs.items()})
    n = _n_of(args)
    if isinstance(out, tuple):
        return tuple(_wrap(o, _none(int(np.size(o))), n) for o in out)
    return _wrap(out, _none(int(np.size(out))), n)


def _axes(axis, ndim: int) -> tuple:
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, int | np.integer):
        axis = (axis,)
    return tuple(sorted(int(a) % ndim for a in axis))


_QUANTILES = (np.percentile, np.quantile, np.nanpercentile, np.nanquantile)
#: where ``axis`` sits positionally when it is not the second argument
_AXIS_POS = {**dict.fromkeys(_QUANTILES, 2), np.linalg.norm: 2}


def _reduce(func, args, kwargs):
    a = args[0]
    if kwargs.get("overwrite_input") and isinstance(a, Pattern):
        return _overwriting(func, args, kwargs)
    out = func(*[_val(b) for b in args], **{k: _val(v) for k, v in kwargs.items()})
    q = kwargs.get("q", args[1] if len(args) > 1 else None) if func in _QUANTILES else None
    if isinstance(q, Pattern):  # quantile's q: result [i, ...] moves with q[i]
        qshape = q.shape
        rows = np.arange(q.size).reshape(qshape + (1,) * (np.ndim(out) - len(qshape)))
        qdeps = q.deps[np.broadcast_to(rows, np.shape(out)).ravel()]
        if not isinstance(a, Pattern):
            return _wrap(out, qdeps, q.n)
        own = _reduce(func, (a, q.value, *args[2:]), kwargs)
        deps = _union([_bdeps(own, np.shape(out), a.n), qdeps], int(np.size(out)), a.n)
        return _wrap(out, deps, a.n)
    if not isinstance(a, Pattern) or not _float(out):
        return out
    if a.size == 0:
        return out
    pos = _AXIS_POS.get(func, 1)
    axis = kwargs.get("axis", args[pos] if len(args) > pos else None)
    axes = _axes(axis, a.ndim)
    keep = [d for i, d in enumerate(a.shape) if i not in axes]
    length = math.prod(a.shape[i] for i in axes)
    if len(axes) == a.ndim and a.deps.shape[1] * length > 64:
        # every axis into one wide row: _dedupe marks it without writing, no gather or copy
        deps = _dedupe(a.deps.reshape(1, -1), a.n)
    else:
        idx = np.arange(a.size).reshape(a.shape)
        idx = np.moveaxis(idx, axes, tuple(range(a.ndim - len(axes), a.ndim)))
        idx = idx.reshape(math.prod(keep), length)
        d = a.deps[idx].reshape(idx.shape[0], -1)
        deps = _dedupe(d.copy(), a.n) if length > 1 else d
    shape = np.shape(out)
    if shape == () and func in (np.sum, np.mean, np.nansum, np.nanmean):
        res = _wrap(out, deps, a.n)
        if isinstance(res, Pattern):
            res.terms = a.deps if a.terms is None else a.terms
        return res
    kshape = tuple(1 if i in axes else d for i, d in enumerate(a.shape))
    if shape != tuple(keep):  # keepdims, or quantile's q axes in front
        rows = np.arange(deps.shape[0]).reshape(keep)
        if len(shape) >= len(kshape) and shape[len(shape) - len(kshape) :] == kshape:
            rows = rows.reshape(kshape)
        rows = np.broadcast_to(rows, shape)
        deps = deps[rows.ravel()]
    return _wrap(out, deps, a.n)


def _overwriting(func, args, kwargs):
    """``np.median(a, overwrite_input=True)`` and co.: NumPy partitions ``a`` in place along
    the reduced axes, in an order it does not state; each element of ``a`` then depends on
    the union of its lane (every order NumPy may leave)."""
    a = args[0]
    res = _reduce(func, args, {**kwargs, "overwrite_input": False})  # (before the write)
    pos = _AXIS_POS.get(func, 1)
    axis = kwargs.get("axis", args[pos] if len(args) > pos else None)
    lanes = _reduce(np.sum, (a,), {"axis": axis, "keepdims": True})
    func(*[_val(b) for b in args], **{k: _val(v) for k, v in kwargs.items()})
    if isinstance(lanes, Pattern) and type(a.value) is np.ndarray:
        a._write(np.arange(a.size), _bdeps(lanes, a.shape, a.n))
    return res


def _cumulate(func, args, kwargs):
    a = args[0]
    if kwargs.get("include_initial"):  # a leading constant (0 or 1) along the axis
        res = _cumulate(func, args, {k: v for k, v in kwargs.items() if k != "include_initial"})
        out = func(*[_val(b) for b in args], **{k: _val(v) for k, v in kwargs.items()})
        if not isinstance(res, Pattern):
            return out
        axis = kwargs.get("axis") or 0
        joined = _move(np.concatenate, ([np.take(out, [0], axis=axis), res],), {"axis": axis})
        return _wrap(out, joined.deps, res.n)
    out = func(*[_val(b) for b in args], **{k: _val(v) for k, v in kwargs.items()})
    if not isinstance(a, Pattern):
        return out
    axis = kwargs.get("axis", args[1] if len(args) > 1 else None)
    if a.size == 0:
        return out
    idx = np.arange(a.size).reshape(a.shape)
    if axis is None:
        idx = idx.ravel()
        axis = 0
    axis = int(axis) % idx.ndim
    idx = np.moveaxis(idx, axis, -1)
    lead, length = idx.shape[:-1], idx.shape[-1]
    rows = idx.reshape(-1, length)
    blocks = [_dedupe(a.deps[rows[:, : j + 1]].reshape(rows.shape[0], -1).copy(), a.n)
              for j in range(length)]  # fmt: skip
    w = max(b.shape[1] for b in blocks)
    deps = np.stack([_widen(b, w, a.n) for b in blocks], axis=1)  # (m, length, w)
    deps = np.moveaxis(deps.reshape(lead + (length, w)), len(lead), axis)
    return _wrap(out, deps.reshape(-1, w), a.n)


#: Data-movement functions whose non-array-list arguments at these places are data (values
#: to place), not indices: a constant there has no dependency, whatever its dtype.
_DATA_ARGS = {np.append: (0, 1), np.insert: (0, 2)}


def _constant_index(a, func=None):
    """A constant operand of a data-movement function as element numbers: all 0, the row of
    no dependency (``np.asarray`` says its shape: [3, 2], 1.5, np.arange(4)). In np.block's
    argument lists are its structure, kept: only their leaves are data."""
    if func is np.block and type(a) in (list, tuple):
        return type(a)(_constant_index(b, func) for b in a)
    return np.zeros(np.shape(a), dtype=np.int64)


def _move(func, args, kwargs):
    """Apply ``func`` to element indices (0: none) to learn where each element goes. A result
    whose value NumPy made as a view of a traced argument's value is that argument's view
    (``Pattern._view_of``): writes through either reach the other."""
    n = _n_of(args)
    tables, offset, traced = [np.full((1, 0), n, dtype=np.int64)], 1, []

    def index(a):
        nonlocal offset
        if isinstance(a, Pattern):
            idx = np.arange(offset, offset + a.size, dtype=np.int64).reshape(a.shape)
            tables.append(a.deps)
            traced.append((a, offset))
            offset += a.size
            return idx
        if type(a) in (list, tuple) and _holds(a):  # (nested: np.block)
            # the arrays of concatenate/stack/choose/block: whatever is not traced there is
            # data (an int list such as [3, 2] too), never element numbers
            return type(a)(index(b) if _holds(b) else _constant_index(b, func) for b in a)
        if (
            isinstance(a, np.ndarray | float | int)
            and not isinstance(a, bool)
            and np.asarray(a).dtype.kind in "fc"
        ):  # a constant operand: no dependency
            return np.zeros(np.shape(a), dtype=np.int64)
        return a

    data = _DATA_ARGS.get(func, ())  # positions that are data whatever their dtype
    iargs = [_constant_index(a) if i in data and not _holds(a) else index(a)
             for i, a in enumerate(args)]  # fmt: skip
    traced_kw = [k for k, v in kwargs.items() if _holds(v) and k != "constant_values"]
    if traced_kw:
        raise NotImplementedError(
            f"dualad.sparsity: {func_name(func)} with a traced keyword argument "
            f"({traced_kw[0]}=...): pass it positionally"
        )
    ikw = dict(kwargs)
    if "values" in ikw and func in _DATA_ARGS:
        ikw["values"] = _constant_index(ikw["values"])
    if func is np.pad:
        mode = kwargs.get("mode", args[2] if len(args) > 2 else "constant")
        if mode == "constant":
            fill = kwargs.get("constant_values", 0)
            ikw["constant_values"] = index(_constant_fill(fill, n)) if _holds(fill) else 0
        elif not isinstance(mode, str) or mode not in ("edge", "reflect", "symmetric", "wrap",
                                                        "empty"):  # fmt: skip
            return _dense(func, args, kwargs)  # linear_ramp, mean, ...: arithmetic
        elif kwargs.get("reflect_type", "even") != "even":
            raise NotImplementedError(
                f"dualad.sparsity does not follow numpy.pad with mode={mode!r}, "
                "reflect_type='odd' (2 * edge - x): use the default reflect_type='even'"
            )
    out = func(*[_val(a) for a in args], **{k: _val(v) for k, v in kwargs.items()})
    where = func(*iargs, **ikw)
    w = max(t.shape[1] for t in tables)
    table = np.concatenate([_widen(t, w, n) for t in tables], axis=0)
    table[0] = n

    def wrap(o, r):
        if not _float(o):
            return o
        if any(_views(o, a.value) for a, _ in traced):
            return _view_from(func, o, traced, np.ravel(r))
        return _wrap(o, table[np.ravel(r)], n)

    if isinstance(out, list | tuple):
        return _rebuild(out, [wrap(o, r) for o, r in zip(out, where)])
    return wrap(out, where)


def _view_from(func, o, traced: list, where: np.ndarray) -> Pattern:
    """``o``, a view NumPy made of a traced argument's value, as a view of that argument:
    element k is its element ``where[k] - offset`` (``func`` run on indices says so)."""
    for a, off in traced:
        local = where - off
        if (
            _views(o, a.value)
            and (not local.size or (local.min() >= 0 and local.max() < a.size))
            and o.dtype.itemsize <= np.asarray(a.value).dtype.itemsize
        ):
            if o is a.value:  # the array itself (np.atleast_1d, np.real of reals, ...)
                return a
            partial = np.iscomplexobj(a.value) and not np.iscomplexobj(o)
            return Pattern._view_of(a, o, local, partial)
    raise NotImplementedError(
        f"dualad.sparsity cannot follow the view {func_name(func)} makes of a traced "
        "array; take a copy first (np.copy(...))"
    )


def _holds(v) -> bool:
    if isinstance(v, Pattern):
        return True
    return type(v) in (list, tuple) and any(_holds(b) for b in v)


def _constant_fill(fill, n: int) -> Pattern:
    """np.pad's traced ``constant_values`` as one traced element (the union of all of them):
    each padded element depends on it, conservatively."""
    return Pattern(np.zeros(()), _union_row((fill,), n), n)


def _union_row(values, n: int) -> np.ndarray:
    """One row: the union of the dependencies of every traced element among ``values``
    (lists and tuples searched), or an empty row."""
    parts = []

    def collect(v):
        if isinstance(v, Pattern):
            parts.append(v.deps.reshape(1, -1))
        elif type(v) in (list, tuple):
            for b in v:
                collect(b)

    for v in values:
        collect(v)
    return _dedupe(np.concatenate(parts, axis=1), n) if parts else _none(1)


def _trim_zeros(func, args, kwargs):
    """``np.trim_zeros``: a slice whose bounds the values decide, taken as that slice."""
    a = args[0]
    trim = kwargs.get("trim", args[1] if len(args) > 1 else "fb")
    axis = kwargs.get("axis", args[2] if len(args) > 2 else None)
    out = func(*[_val(b) for b in args], **{k: _val(v) for k, v in kwargs.items()})
    if not isinstance(a, Pattern):
        return out
    v = a.value
    nz = np.asarray(v) != 0
    key = [slice(None)] * v.ndim
    for ax in range(v.ndim) if axis is None else _axes(axis, v.ndim):
        hit = np.flatnonzero(np.any(nz, axis=tuple(i for i in range(v.ndim) if i != ax)))
        lo = int(hit[0]) if hit.size and "f" in trim.lower() else 0
        hi = int(hit[-1]) + 1 if hit.size and "b" in trim.lower() else v.shape[ax]
        key[ax] = slice(lo, max(lo, hi) if hit.size else lo)
    res = a[tuple(key)] if v.ndim > 1 else a[key[0]]
    if np.shape(res) != np.shape(out):
        raise NotImplementedError(
            "dualad.sparsity: numpy.trim_zeros trimmed differently than expected; slice with "
            "indices computed from x.value instead"
        )
    return res


def _sort(func, args, kwargs):
    a = args[0]
    axis = kwargs.get("axis", args[1] if len(args) > 1 else -1)
    order = np.argsort(a.value, axis=axis, kind="stable")
    return _move(np.take_along_axis, (a, order), {"axis": axis})


def _dense(func, args, kwargs):
    """Every result element depends on every input element (solves, factorisations, FFTs)."""
    n = _n_of(args)
    out = func(*[_val(a) for a in args], **{k: _val(v) for k, v in kwargs.items()})
    row = _union_row((*args, *kwargs.values()), n)

    def wrap(o):
        if not _float(o):
            return o
        return _wrap(o, np.broadcast_to(row, (int(np.size(o)), row.shape[1])), n)

    if isinstance(out, list | tuple):
        return _rebuild(out, [wrap(o) for o in out])
    return wrap(out)


def _where(func, args, kwargs):
    if func is np.where and len(args) == 1:
        return np.where(_val(args[0]))
    return _elementwise(func, args, kwargs)


def _branches(func, args, kwargs, parts):
    """A result that takes each element from one of ``parts``: their union (every branch)."""
    out = func(*[_val(a) for a in args], **{k: _val(v) for k, v in kwargs.items()})
    n = _n_of(list(args) + list(kwargs.values()) + list(parts))
    shape = np.shape(out)
    deps = _union([_bdeps(p, shape, n) for p in parts], int(np.size(out)), n)
    return _wrap(out, deps, n)


def _clip(func, args, kwargs):
    return _branches(func, args, kwargs, [*args, *kwargs.values()])


def _select(func, args, kwargs):
    choices = list(args[1]) if len(args) > 1 else list(kwargs.get("choicelist", ()))
    default = args[2] if len(args) > 2 else kwargs.get("default", 0)
    return _branches(func, args, kwargs, [*choices, default])


def _structure(a, shape):
    """The zero structure of a bilinear operand: a constant's own zeros; a traced one dense."""
    if isinstance(a, Pattern):
        return np.ones(shape, dtype=bool)
    return np.asarray(a) != 0


def _bilinear(func, args, kwargs):
    """``a @ b`` (and dot/inner/vdot/outer of vectors and matrices): result (i, j) depends
    on a[i, k] where b[k, j] is not a constant zero, and on b[k, j] where a[i, k] is not."""
    import scipy.sparse as sp

    a, b = args[0], args[1]
    n = _n_of(args)
    out = func(_val(a), _val(b), *[_val(c) for c in args[2:]], **kwargs)
    if func is np.outer:
        return _elementwise(np.multiply, (np.reshape(a, (-1, 1)), np.reshape(b, (1, -1))), {})
    if func is np.vdot:
        return np.dot(np.ravel(a), np.ravel(b))
    av, bv = np.asarray(_val(a)), np.asarray(_val(b))
    if func is np.inner and bv.ndim == 2:  # inner contracts the last axes: a @ b.T
        return _bilinear(np.matmul, (a, np.swapaxes(b, -1, -2)), kwargs)
    if av.ndim > 2 or bv.ndim > 2 or av.ndim == 0 or bv.ndim == 0 or kwargs:
        if av.ndim == 0 or bv.ndim == 0:
            return _elementwise(np.multiply, (a, b), {})
        return _dense(func, args, kwargs)
    a2 = a if av.ndim == 2 else np.reshape(a, (1, -1))
    b2 = b if bv.ndim == 2 else np.reshape(b, (-1, 1))
    m, k = np.shape(_val(a2))
    p = np.shape(_val(b2))[1]
    total = None
    if isinstance(a2, Pattern):  # (i, j) <- a[i, k] where b[k, j]: kron(I_m, S_b^T) @ D_a
        sel = sp.kron(sp.identity(m, format="csr"), sp.csr_array(_structure(b2, (k, p)).T))
        total = sel @ _to_csr(a2.deps, n)
    if isinstance(b2, Pattern):  # (i, j) <- b[k, j] where a[i, k]: kron(S_a, I_p) @ D_b
        sel = sp.kron(sp.csr_array(_structure(a2, (m, k))), sp.identity(p, format="csr"))
        term = sel @ _to_csr(b2.deps, n)
        total = term if total is None else total + term
    return _wrap(out, _from_csr(total, n), n)


def _diff(func, args, kwargs):
    """``np.diff``: each result element joins its two neighbours, n times."""
    a = args[0]
    nd = kwargs.get("n", args[1] if len(args) > 1 else 1)
    axis = kwargs.get("axis", args[2] if len(args) > 2 else -1)
    prepend = kwargs.get("prepend", args[3] if len(args) > 3 else np._NoValue)
    append = kwargs.get("append", args[4] if len(args) > 4 else np._NoValue)
    axis = int(axis) % np.ndim(_val(a))
    parts = []
    for extra in (prepend, None, append):
        if extra is None:
            parts.append(a)
        elif extra is not np._NoValue:
            if np.ndim(_val(extra)) == 0:  # a scalar: one slice of a's shape
                shape = list(np.shape(_val(a)))
                shape[axis] = 1
                extra = np.broadcast_to(extra, tuple(shape))
            parts.append(extra)
    if len(parts) > 1:
        a = np.concatenate(parts, axis=axis)
    for _ in range(nd):
        length = np.shape(_val(a))[axis]
        hi = np.take(a, np.arange(1, length), axis=axis)
        lo = np.take(a, np.arange(0, length - 1), axis=axis)
        a = hi - lo
    return a


def _convolve(func, args, kwargs):
    """``np.convolve``: full[k] = sum_m a[m] v[k - m], through a constant operand's zeros;
    NumPy's "same" and "valid" are slices of the full result."""
    a, v = args[0], args[1]
    mode = kwargs.get("mode", args[2] if len(args) > 2 else "full")
    out = func(_val(a), _val(v), mode)
    if not (isinstance(a, Pattern) or isinstance(v, Pattern)):
        return out
    n = _n_of(args)
    la, lv = np.size(_val(a)), np.size(_val(v))
    start = {"full": 0, "same": (min(la, lv) - 1) // 2, "valid": min(la, lv) - 1}[mode]
    size = int(np.size(out))
    k = np.arange(start, start + size)  # positions in the full result
    blocks = []
    for m in range(la):
        p = k - m  # full[k] gets a[m] v[k - m]
        ok = (p >= 0) & (p < lv)
        if not ok.any():
            continue
        if isinstance(a, Pattern):
            use = ok if isinstance(v, Pattern) else ok & (np.asarray(v)[np.clip(p, 0, lv - 1)]
                                                          != 0)  # fmt: skip
            d = np.full((size, a.deps.shape[1]), n, dtype=np.int64)
            d[use] = a.deps[m]
            blocks.append(d)
        if isinstance(v, Pattern):
            use = ok if isinstance(a, Pattern) else ok & (np.asarray(a)[m] != 0)
            d = np.full((size, v.deps.shape[1]), n, dtype=np.int64)
            d[use] = v.deps[p[use]]
            blocks.append(d)
    return _wrap(out, _union(blocks, size, n) if blocks else _none(size), n)


def _average(func, args, kwargs):
    a = args[0]
    axis = kwargs.get("axis", args[1] if len(args) > 1 else None)
    weights = kwargs.get("weights", args[2] if len(args) > 2 else None)
    out = func(*[_val(b) for b in args], **{k: _val(v) for k, v in kwargs.items()})
    returned = kwargs.get("returned", args[3] if len(args) > 3 else False)
    if returned:  # (average, sum of weights): the sum is traced where the weights are
        kw = {k: v for k, v in kwargs.items() if k != "returned"}
        avg = _average(func, args[:3], kw)
        w = kwargs.get("weights", args[2] if len(args) > 2 else None)
        scl = out[1]
        if isinstance(w, Pattern):
            total = _reduce(np.sum, (w,), {"axis": None})
            scl = _wrap(scl, _bdeps(total, np.shape(scl), w.n), w.n)
        return avg, scl
    if weights is None:
        return _reduce(np.mean, (a,), {"axis": axis, "keepdims": kwargs.get("keepdims", False)})
    w = weights
    if np.ndim(_val(w)) != np.ndim(_val(a)):  # weights along the reduced axes, in their order
        nd = np.ndim(_val(a))
        given = [int(x) % nd for x in ((axis,) if np.ndim(axis) == 0 else axis)]
        w = np.transpose(w, np.argsort(given))
        shape = [1] * nd
        for ax, d in zip(sorted(given), np.shape(_val(w))):
            shape[ax] = d
        w = np.reshape(w, shape)
    both = _elementwise(np.add, (a, w), {})  # every element of a and its weight
    both = both if isinstance(both, Pattern) else Pattern(np.asarray(both), _none(np.size(
        both)), _n_of(args))  # fmt: skip
    total = _reduce(np.sum, (both,), {"axis": axis, "keepdims": kwargs.get("keepdims", False)})
    wsum = _reduce(np.sum, (w,), {"axis": None}) if isinstance(w, Pattern) else None
    deps = _union([_bdeps(total, np.shape(out), _n_of(args)),
                   None if wsum is None else _bdeps(wsum, np.shape(out), _n_of(args))],
                  int(np.size(out)), _n_of(args))  # fmt: skip
    return _wrap(out, deps, _n_of(args))


def _bincount(func, args, kwargs):
    x = _val(args[0])
    weights = kwargs.get("weights", args[1] if len(args) > 1 else None)
    out = func(x, *[_val(b) for b in args[1:]], **{k: _val(v) for k, v in kwargs.items()})
    if not isinstance(weights, Pattern):
        return out
    bins = np.asarray(x).ravel()
    blocks = np.full((out.size, weights.deps.shape[1] * max(1, int(np.bincount(bins).max(
        initial=0)))), weights.n, dtype=np.int64)  # fmt: skip
    fill = np.zeros(out.size, dtype=np.int64)
    w = weights.deps.shape[1]
    for i, b in enumerate(bins.tolist()):
        blocks[b, fill[b] : fill[b] + w] = weights.deps[i]
        fill[b] += w
    return _wrap(out, _dedupe(blocks, weights.n), weights.n)


def _in_place(func, args, kwargs):

    return IN_PLACE[func](*args, **kwargs)


def _index_add(func, args, kwargs):
    """``index_add(values, key, shape)``: zeros with ``values`` added at ``[:, key]``."""
    values, key, shape = args
    if not isinstance(values, Pattern):
        return func(*[_val(a) for a in args])
    out = func(values.value, key, shape)
    m, size = np.shape(out)[0], math.prod(shape)
    lin = np.arange(size).reshape(shape)[key]  # where each value lands, per row
    pos = (np.arange(m).reshape((m,) + (1,) * np.ndim(lin)) * size + lin).ravel()
    z = Pattern(np.zeros(m * size), _none(m * size), values.n)
    np.add.at(z, pos, np.reshape(values, (-1,)))
    return _wrap(out, z.deps, values.n)


def _constant(func, args, kwargs):
    """Constructors (np.arange, np.eye, ...): plain values, no dependency."""
    return func(*[_val(a) for a in args], **{k: _val(v) for k, v in kwargs.items()})


def _like(func, args, kwargs):
    """zeros_like & co.: a fresh array with no dependencies, writable (a buffer to fill);
    full_like's fill value spreads its own."""
    out = func(*[_val(a) for a in args], **{k: _val(v) for k, v in kwargs.items()})
    fill = kwargs.get("fill_value", args[1] if len(args) > 1 else None)
    if func is np.full_like and isinstance(fill, Pattern) and _float(out):
        return Pattern(out, _bdeps(fill, np.shape(out), fill.n).copy(), fill.n)
    if isinstance(args[0], Pattern) and _float(out):
        return Pattern(out, _none(out.size), args[0].n)
    return out


def _imag(func, args, kwargs):
    """``np.imag``: of a complex array a view of its imaginary parts (a write into it keeps
    the real parts' dependencies); of a real one NumPy's zeros, no dependency."""
    a = args[0]
    if isinstance(a, Pattern) and np.iscomplexobj(a.value):
        out = np.imag(a.value)
        if type(out) is not np.ndarray:  # a scalar
            return _wrap(out, a.deps, a.n)
        return Pattern._view_of(a, out, np.arange(a.size), partial=True)
    return np.imag(_val(a))


def _scatter(ufunc, a, idx, b=None):
    """``ufunc.at(a, idx, b)`` into a traced buffer (or a view of one): each named element
    joins ``b``'s dependencies (repeated indices join them all)."""
    if not isinstance(a, Pattern):
        raise TypeError(f"np.{ufunc.__name__}.at would write a traced value into a plain array")
    idx = _plain_key(idx)
    pos = np.arange(a.size).reshape(a.shape)[idx]
    new = _bdeps(b, np.shape(pos), a.n) if isinstance(b, Pattern) else None
    if b is None:
        ufunc.at(a.value, idx)  # (NumPy's own checks: a read-only value raises)
    else:
        ufunc.at(a.value, idx, _val(b))
    if new is None:
        return
    pos = pos.ravel()
    uniq, inv = np.unique(pos, return_inverse=True)
    old = a._rows(uniq)
    grouped = _grouped(new, inv.ravel(), uniq.size, a.n)
    w = max(old.shape[1], grouped.shape[1])
    joined = _dedupe(np.concatenate([_widen(old, w, a.n), _widen(grouped, w, a.n)], axis=1), a.n)
    a._write(uniq, joined)
    return


def _ufunc_method(ufunc, method, inputs, kwargs):
    from .rules import ufunc_method_target

    target, inputs, kwargs = ufunc_method_target(ufunc, method, inputs, kwargs)
    return target(*inputs, **kwargs)


# -- the statement per function ---------------------------------------------------------------

_MOVE = (
    getitem, np.reshape, np.ravel, np.transpose, np.swapaxes, np.moveaxis, np.expand_dims,
    np.squeeze, np.broadcast_to, np.concatenate, np.stack, np.hstack, np.vstack, np.dstack,
    np.column_stack, np.flip, np.fliplr, np.flipud, np.roll, np.rot90, np.copy, np.take,
    np.take_along_axis, np.repeat, np.tile, np.diagonal, np.diag, np.triu, np.tril, np.pad,
    np.atleast_1d, np.atleast_2d, np.atleast_3d, np.split, np.array_split, np.hsplit,
    np.vsplit, np.dsplit, np.delete, np.real, np.broadcast_arrays, np.matrix_transpose,
    np.permute_dims, np.concat, np.unstack, np.resize, np.extract, np.compress,
    np.linalg.diagonal, np.linalg.matrix_transpose, np.block, np.append, np.insert,
    np.choose, np.rollaxis, np.array,
)  # fmt: skip
_REDUCE = (
    np.sum, np.mean, np.prod, np.max, np.min, np.amax, np.amin, np.nansum, np.nanmean,
    np.nanprod, np.nanmax, np.nanmin, np.std, np.var, np.nanstd, np.nanvar, np.median,
    np.nanmedian, np.ptp, np.percentile, np.quantile, np.nanpercentile, np.nanquantile,
    np.linalg.norm, np.linalg.vector_norm,
)  # fmt: skip
_CUMULATE = (np.cumsum, np.cumprod, np.nancumsum, np.nancumprod, np.cumulative_sum,
             np.cumulative_prod)  # fmt: skip
_BILINEAR = (np.matmul, np.dot, np.inner, np.outer, np.vdot, np.linalg.matmul)
_DENSE_MODULES = ("numpy.linalg", "numpy.fft")
_DENSE = (np.einsum, np.tensordot, np.kron, np.cross, np.linalg.cross, np.linalg.outer,
          np.vecdot, np.linalg.vecdot, np.matvec, np.vecmat, np.trace, np.interp,
          np.polyval, np.linalg.tensordot, np.cov, np.corrcoef)  # fmt: skip
_LIKE = (np.zeros_like, np.ones_like, np.empty_like, np.full_like)

#: {function: how it moves dependencies}: the statement ``sparsity`` follows.
KIND: dict[Any, Callable] = {}
for _fs, _k in ((_MOVE, _move), (_REDUCE, _reduce), (_CUMULATE, _cumulate),
                (_BILINEAR, _bilinear), (_DENSE, _dense), (_LIKE, _like)):  # fmt: skip
    KIND.update(dict.fromkeys(_fs, _k))
KIND.update({index_add: _index_add, np.trim_zeros: _trim_zeros, np.imag: _imag, np.sort: _sort, np.where: _where, np.clip: _clip, np.diff: _diff,
             np.convolve: _convolve, np.correlate: _dense, np.average: _average,
             np.bincount: _bincount, np.round: _zero, np.around: _zero,
             np.diagflat: _move, np.lib.stride_tricks.sliding_window_view: _move})  # fmt: skip
for _f in (np.arange, np.eye, np.identity, np.zeros, np.ones, np.empty, np.full, np.tri,
           np.indices):  # fmt: skip
    KIND[_f] = _constant
for _f in IN_PLACE:
    KIND[_f] = _in_place
KIND[np.select] = _select
for _f, _r in RULES.items():
    if _f in KIND:
        continue
    if isinstance(_f, np.ufunc):
        KIND[_f] = _zero if _r.partials is not None and all(p is None for p in _r.partials) \
            else _elementwise  # fmt: skip
    elif func_name(_f).startswith(_DENSE_MODULES):
        KIND[_f] = _dense


def _apply(func, args, kwargs):
    args, kwargs, out = _split_out(func, args, kwargs)
    if out is not None:
        return _into_out(func, args, kwargs, out)
    k = KIND.get(func)
    if k is not None:
        return k(func, args, kwargs)
    if func in PRIMAL_ONLY:
        return func(*[_val(a) for a in args], **{k: _val(v) for k, v in kwargs.items()})
    restated = COMPOSITES.get(func)
    if restated is not None:
        return restated(*args, **kwargs)
    raise NotImplementedError(
        f"dualad.sparsity has no dependency statement for {func_name(func)}: add one to "
        "dualad._pattern_kinds.KIND (or compute this step on .value if it carries no derivative)"
    )


def _split_out(func, args, kwargs):
    """``split_out``, with the one ``out`` array of a ufunc method's tuple."""
    args, kwargs, out = split_out(func, args, kwargs)
    if isinstance(out, tuple):  # a ufunc method's out (np.add.reduce(x, out=(y,)))
        if len(out) != 1:
            raise NotImplementedError(
                f"dualad.sparsity: {func_name(func)}(..., out=) with several outputs; use "
                "the results instead"
            )
        out = out[0]
    return args, kwargs, out


def _into_out(func, args, kwargs, out):
    """``func(..., out=y)``: NumPy writes the values into ``y`` (its own shape, casting and
    overlap rules); ``y``'s elements (through its root: its views see it) then depend on
    what the result's do, read before the write (an argument may be ``y`` or a view of it)."""
    res = _apply(func, args, kwargs)
    if isinstance(res, tuple):
        raise NotImplementedError(
            f"dualad.sparsity: {func_name(func)}(..., out=) of several results; use the "
            "results instead"
        )
    func(*[_val(a) for a in args], **{k: _val(v) for k, v in kwargs.items()}, out=_val(out))
    if isinstance(out, Pattern):
        out._write(np.arange(out.size), _bdeps(res, out.shape, out.n))
    elif isinstance(res, Pattern) and (res.deps != res.n).any():
        raise TypeError(
            f"{func_name(func)}(..., out=) would write a traced value into a plain NumPy "
            "array, which cannot hold its dependencies: allocate the buffer with "
            "np.zeros_like(x) or use the result instead"
        )
    return out

"""Exact Jacobian sparsity patterns: dependency sets carried through the user's NumPy code.

``sparsity(f, x)`` runs ``f`` on a *pattern tracer*: an array that carries its value and, for
each element, the set of inputs it depends on. Sets are stored as an int array of shape
``(size, width)`` padded with ``n`` (the number of inputs), so every step is a few vectorised
NumPy calls. How each function moves dependencies is stated once per kind, in ``KIND``
(``dualad._pattern_kinds``):

- ``elementwise`` (every ufunc with a rule): each result element depends on the elements it
  was computed from, after broadcasting; a factor that is a constant zero contributes nothing
  (``c * x`` with ``c[i] == 0``), because that holds at every point, not just this one;
- ``zero`` (floor, sign, ...): piecewise constant, no dependency; ``constant``: integer and
  boolean results (comparisons, argsort) are plain values;
- ``reduce``: the union along the reduced axes; ``cumulate``: the union of the prefix;
- ``move``: data movement (reshape, transpose, indexing, concatenate, pad, roll, ...): the
  function itself, applied to an array of element indices, says where each element goes;
- ``bilinear`` (matmul, dot, inner, outer): a contraction, through the zero structure of a
  constant operand; ``dense``: every result element depends on every input element
  (linalg, FFTs);
- ``where``/``select``/``clip``: both branches, so the pattern holds whichever is taken.

A result NumPy makes as a view of a traced array is traced as that view (writes through
either reach both; see ``Pattern``). Functions NumPy writes in Python (``COMPOSITES``) run
on the tracer. A function with no
statement raises ``NotImplementedError`` naming it: a pattern never misses an entry because a
function was skipped. Imports numpy and ``rules``; scipy only to return the result.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from dualad._numpy import np
from dualad._tags import DEFER, Deferring, Leveled, call_level


def _dedupe(d: np.ndarray, n: int) -> np.ndarray:
    """Rows of ``d`` with repeated entries and padding squeezed out (width = largest set).
    ``d`` is the caller's own (a fresh concatenation): it may be written (one wide row, a
    full reduction, is only read)."""
    w = d.shape[1]
    if w <= 1:
        return d
    if d.shape[0] == 1 and w > 64:  # one wide row (a full reduction): mark, no sort
        seen = np.zeros(n + 1, dtype=bool)
        seen[d[0]] = True
        return np.flatnonzero(seen[:n]).reshape(1, -1)
    if w <= 8:  # narrow (stencils): compare columns pairwise, sort only if a row shrinks
        dup = None
        for j in range(1, w):
            col = d[:, j]
            hit = col == d[:, 0]
            for i in range(1, j):
                hit |= col == d[:, i]
            if hit.any():
                dup = True
                d[hit, j] = n
        if dup is None:
            return d
        # sentinels may sit anywhere in a row: drop only columns that are empty everywhere
        # (column by column: a reduction along axis 0 of a narrow array is ~6x slower)
        keep = [j for j in range(w) if not (d[:, j] == n).all()]
        if len(keep) == w:
            return d
        return d[:, keep]  # (a fancy index: a fresh contiguous array)
    d = np.sort(d, axis=1)
    dup = d[:, 1:] == d[:, :-1]
    if dup.any():
        tail = d[:, 1:]
        tail[dup] = n
        d.sort(axis=1)
    w = int(_row_counts(d != n).max()) if d.shape[0] else 0
    return np.ascontiguousarray(d[:, :w])


def _union(blocks: list, size: int, n: int) -> np.ndarray:
    """The row-wise union of dependency blocks (each ``(size, w_i)``)."""
    seen, keep = set(), []
    for b in blocks:
        if b is None or b.shape[1] == 0 or id(b) in seen:  # x * x: the same sets once
            continue
        if any(k.shape == b.shape and np.array_equal(k[:8], b[:8]) and np.array_equal(k, b)
               for k in keep):  # fmt: skip
            continue  # x[1:-1] read twice: equal sets, joined once
        seen.add(id(b))
        keep.append(b)
    if not keep:
        return np.empty((size, 0), dtype=np.int64)
    if len(keep) == 1:
        return keep[0]
    return _dedupe(np.concatenate(keep, axis=1), n)


class Pattern(Leveled):
    """A traced array: its value, and per element the set of inputs it depends on.

    A ``Leveled`` (of level -1, below every derivative) so that interception's wrappers
    (``np.asarray``, ``np.array([...])``, ``math.*``) take it as they take Duals.

    Views follow NumPy's memory exactly: a result whose value is a view of a traced
    argument's value (``y[1:]``, ``np.flip(y)``, ``y.T``, ``np.split(y, 2)[0]``, ...; NumPy's
    own ``.base`` says so) keeps no dependencies of its own but reads its *root*'s (the array
    owning the memory) through ``_at``, the root elements it shows. A write into the root or
    any view of it (``y[i] = ...``, ``y += ...``, ``y.sort()``, ``y.fill(v)``, ``np.add.at``,
    ``out=y`` of any function) changes the root's rows, so every view sees it, as every view
    sees the new values.

    >>> import numpy as np
    >>> from dualad._pattern import sparsity
    >>> sparsity(lambda x: x[1:] * x[:-1], np.ones(3)).toarray()
    array([[ True,  True, False],
           [False,  True,  True]])
    """

    __slots__ = ("_at", "_cache", "_deps", "_partial", "_root", "_shared", "_ver", "n",
                 "terms", "value")  # fmt: skip
    __array_priority__ = 200
    _level = -1  # composites (dualad.rules.composite) run on anything that has a level

    def __init__(self, value, deps: np.ndarray, n: int):
        self.value = value
        self._deps = deps
        self.n = n
        self._root = None  # a view: the Pattern owning the memory (a root, never a view)
        self._at = None  # a view: its elements' rows in the root (range or int array)
        self._partial = False  # a view of real or imaginary parts: a write joins, not replaces
        self._shared = True  # _deps may be held elsewhere: copy before writing into it
        self._ver = 0  # a root: counts writes (a view's cached rows are of one version)
        self._cache = None
        #: for a scalar that is a sum of terms: each term's dependencies (one row per term);
        #: the Hessian's pattern is then the union of each term's pairs
        self.terms = None

    @classmethod
    def _view_of(cls, src: Pattern, value, local, partial: bool = False) -> Pattern:
        """A view of ``src`` whose element ``k`` (C order) is ``src``'s element ``local[k]``
        (``local``: an int array, or a range for a 1-d slice)."""
        root = src if src._root is None else src._root
        if src._root is None:
            idx = local
        elif isinstance(src._at, range) and isinstance(local, range):
            a, t = src._at.start, src._at.step  # element k of src is root row a + k t
            first, step = a + local.start * t, local.step * t
            idx = range(first, first + len(local) * step, step) if len(local) else range(0)
        else:
            idx = src._flat()[np.asarray(local, dtype=np.intp)]
        if isinstance(idx, np.ndarray):
            idx = idx.ravel()
        v = cls.__new__(cls)
        v.value, v._deps, v.n, v.terms = value, None, src.n, None
        v._root, v._at, v._partial = root, idx, partial or src._partial
        v._shared, v._ver, v._cache = True, 0, None
        return v

    def _flat(self) -> np.ndarray:
        """This array's elements as rows of its root (of itself, for a root)."""
        if self._root is None:
            return np.arange(self.size)
        if isinstance(self._at, range):
            return np.arange(self._at.start, self._at.stop, self._at.step)
        return self._at

    @property
    def deps(self) -> np.ndarray:
        """One row of input indices per element (padded with ``n``): read only, never write
        into it (a root's rows may be shared with views and other arrays)."""
        root = self._root
        if root is None:
            self._shared = True  # handed out: the next write copies first
            return self._deps
        if self._cache is not None and self._cache[0] == root._ver:
            return self._cache[1]
        idx = self._at
        if isinstance(idx, range):
            d = root._deps[idx.start : (None if idx.stop < 0 else idx.stop) : idx.step]
            root._shared = True  # a view of the root's rows
        else:
            d = root._deps[idx]
        self._cache = (root._ver, d)
        return d

    def _rows(self, local: np.ndarray) -> np.ndarray:
        """The rows of this array's elements ``local`` (flat), as a fresh array."""
        if self._root is None:
            return self._deps[local]
        return self._root._deps[self._flat()[local]]

    def _write(self, local: np.ndarray, new: np.ndarray) -> None:
        """Elements ``local`` (flat, C order) now depend on ``new`` (one row each): the root's
        rows change, so the root and all its views see the write."""
        root = self if self._root is None else self._root
        pos = local if self._root is None else self._flat()[local]
        n = self.n
        pos = np.asarray(pos, dtype=np.intp).ravel()
        if new.shape[0] != pos.size:
            new = new[np.zeros(pos.size, dtype=np.intp)] if new.shape[0] == 1 else new
        if pos.size > 1:
            uniq, inv = np.unique(pos, return_inverse=True)
            if uniq.size < pos.size:  # one element written twice: NumPy keeps one, we join
                new = _grouped(new, inv.ravel(), uniq.size, n)
                pos = uniq
        if self._partial:  # the real or imaginary part: the other part keeps its sets
            new = _dedupe(np.concatenate(_padded([root._deps[pos], new], n), axis=1), n)
        w = max(root._deps.shape[1], new.shape[1])
        if root._shared or root._deps.shape[1] != w:
            root._deps = _widen(root._deps, w, n)  # (a copy)
            root._shared = False
        root._deps[pos] = new if new.shape[1] == w else _widen(new, w, n)
        root._ver += 1
        root.terms = None

    # -- array facts --------------------------------------------------------------------------
    shape = property(lambda self: np.shape(self.value))
    ndim = property(lambda self: np.ndim(self.value))
    size = property(lambda self: int(np.size(self.value)))
    dtype = property(lambda self: np.asarray(self.value).dtype)
    itemsize = property(lambda self: np.asarray(self.value).itemsize)
    nbytes = property(lambda self: np.asarray(self.value).nbytes)
    T = property(lambda self: np.transpose(self))
    mT = property(lambda self: np.swapaxes(self, -1, -2))

    @property
    def real(self):
        """The real part: for complex values a view (a write into it keeps the imaginary
        part's dependencies); for real ones the array itself, as NumPy's is a view of all."""
        if np.iscomplexobj(self.value):
            return np.real(self)
        return self

    @real.setter
    def real(self, val):
        self.real[...] = val

    @property
    def imag(self):
        return np.imag(self)

    @imag.setter
    def imag(self, val):
        part = self.imag
        if not isinstance(part, Pattern):
            raise TypeError("array does not have imaginary part to set")
        part[...] = val

    def __repr__(self) -> str:
        return f"Pattern(shape={self.shape}, width={self.deps.shape[1]})"

    def _unwrap(self):
        return self.value

    def __len__(self) -> int:
        return len(self.value)

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def __array__(self, dtype=None, copy=None):
        raise TypeError(
            "converting a traced array to a NumPy array would lose its dependencies "
            "(dualad.sparsity traces f); keep the computation in NumPy calls"
        )

    def __float__(self):
        raise TypeError("float() of a traced array would lose its dependencies")

    __int__ = __index__ = __complex__ = __float__

    def __bool__(self) -> bool:
        return bool(self.value)  # control flow follows this point, as a Dual's does

    # -- comparisons: plain values ------------------------------------------------------------
    def __lt__(self, o):
        return self.value < _val(o)

    def __le__(self, o):
        return self.value <= _val(o)

    def __gt__(self, o):
        return self.value > _val(o)

    def __ge__(self, o):
        return self.value >= _val(o)

    def __eq__(self, o):
        return self.value == _val(o)

    def __ne__(self, o):
        return self.value != _val(o)

    __hash__ = None

    # -- indexing -----------------------------------------------------------------------------
    def __getitem__(self, key):
        key = _plain_key(key)
        value = self.value[key]
        if not _views(value, self.value):  # a copy (an integer or fancy index)
            return _wrap(value, self._rows(np.ravel(_local(self.shape, key))), self.n)
        if type(key) is slice and self.ndim == 1 and not isinstance(self._at, np.ndarray):
            return Pattern._view_of(self, value, range(self.size)[key])  # no index array
        return Pattern._view_of(self, value, np.ravel(_local(self.shape, key)))

    def __setitem__(self, key, val):
        key = _plain_key(key)
        val = _resolved(val)
        local = _local(self.shape, key)
        new = _bdeps(val, np.shape(local), self.n)  # before the write: val may view self
        self.value[key] = _val(val)  # NumPy's own checks (read-only, shapes, casting)
        self._write(np.ravel(local), new)  # overwritten, not joined: the old value is gone

    # -- methods ------------------------------------------------------------------------------
    def copy(self, order="C"):
        return Pattern(np.copy(self.value, order=order), self.deps, self.n)

    def view(self, dtype=None, type=None):
        """``x.view()``: a view of the whole array; a view as another dtype raises (its
        elements would mix the bytes of several)."""
        if (dtype is not None and np.dtype(dtype) != self.dtype) or type is not None:
            raise NotImplementedError(
                "dualad.sparsity: x.view(dtype) reinterprets the array's bytes, which the "
                "tracer cannot follow; use x.astype(dtype) for a converted copy"
            )
        return self[...]

    def astype(self, dtype, order="K", casting="unsafe", subok=True, copy=True):
        if not copy and np.dtype(dtype) == self.dtype:
            return self  # NumPy returns the array itself: writes reach it
        if np.dtype(dtype).kind not in "fc":
            return self.value.astype(dtype)
        return Pattern(self.value.astype(dtype), self.deps, self.n)

    def reshape(self, *shape, order="C", copy=None):
        shape = shape[0] if len(shape) == 1 else shape
        if copy is not None:
            return np.reshape(self, shape, order=order, copy=copy)
        return np.reshape(self, shape, order=order)

    def transpose(self, *axes):
        return np.transpose(self, axes[0] if len(axes) == 1 else (axes or None))

    def ravel(self, order="C"):
        return np.ravel(self, order=order)

    def flatten(self, order="C"):
        return np.ravel(self, order=order).copy()

    def compress(self, condition, axis=None):
        return np.compress(condition, self, axis=axis)  # (the condition comes first there)

    def sort(self, axis=-1, kind=None, order=None):
        """In place, as ``ndarray.sort`` (into a view: its root sees it)."""
        res = np.sort(self, axis=axis)
        self._assign(res)

    def fill(self, value):
        """In place, as ``ndarray.fill``: every element now depends on ``value`` alone."""
        value = _resolved(value)
        self.value.fill(_val(value))  # NumPy's own checks (a sequence, read-only) first
        if type(self.value) is np.ndarray:
            self._write(np.arange(self.size), _bdeps(value, (1,), self.n))

    def put(self, indices, values, mode="raise"):
        """In place, as ``ndarray.put`` (``np.put``)."""
        np.put(self, indices, _resolved(values), mode=mode)

    def _assign(self, res) -> None:
        """Every element replaced by ``res``'s (same shape): value and dependencies."""
        new = _bdeps(res, self.shape, self.n)
        if type(self.value) is not np.ndarray:
            raise TypeError(f"a NumPy scalar ({type(self.value).__name__}) cannot be written")
        self.value[...] = _val(res)
        self._write(np.arange(self.size), new)

    def __getattr__(self, name):  # x.sum(), x.mean(axis=0), x.max(), x.dot(y), ...
        if name in _IN_PLACE_METHODS:
            raise NotImplementedError(
                f"dualad.sparsity: the in-place method .{name}() on a traced array; compute "
                "a new array instead"
            )
        func = getattr(np, name, None)
        if func is None or not callable(func) or name.startswith("_"):
            raise AttributeError(name)
        return lambda *args, **kwargs: func(self, *args, **kwargs)

    # -- operators ----------------------------------------------------------------------------
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if call_level(inputs, kwargs)[0] == DEFER:
            return NotImplemented  # a buffer of interception's: it resolves itself first
        if method == "at":
            return _scatter(ufunc, *inputs)
        if method != "__call__":
            return _ufunc_method(ufunc, method, inputs, kwargs)
        if kwargs.get("where", True) is not True:
            raise NotImplementedError(
                f"dualad.sparsity: numpy.{ufunc.__name__}(..., where=) leaves the unselected "
                f"elements as they were; use np.where(mask, numpy.{ufunc.__name__}(...), other)"
            )
        out = kwargs.pop("out", None)
        if out is None:
            return _apply(ufunc, inputs, kwargs)
        return _into(ufunc, inputs, kwargs, out)

    def __array_function__(self, func, types, args, kwargs):
        if call_level(args, kwargs)[0] == DEFER:
            return NotImplemented
        return _apply(func, args, kwargs)


#: ndarray methods that change the array in place: a traced array refuses them
_IN_PLACE_METHODS = frozenset({"resize", "partition", "itemset", "byteswap",
                               "setfield", "setflags"})  # fmt: skip


def _binary(ufunc, swap=False):
    if swap:
        return lambda self, o: ufunc(o, self)
    return lambda self, o: ufunc(self, o)


for _name, _uf in (("add", np.add), ("sub", np.subtract), ("mul", np.multiply),
                   ("truediv", np.true_divide), ("pow", np.power), ("matmul", np.matmul),
                   ("mod", np.remainder), ("floordiv", np.floor_divide)):  # fmt: skip
    setattr(Pattern, f"__{_name}__", _binary(_uf))
    setattr(Pattern, f"__r{_name}__", _binary(_uf, swap=True))


def _inplace(ufunc):
    """``x += y`` and co.: in place, as NumPy does, so every holder of ``x`` and every view
    of it sees it. A NumPy scalar (``s = np.sum(x)``) is immutable: ``s += t`` binds ``s``
    to a new value, as in NumPy, which keeps a sum of terms a sum (see ``terms``)."""

    def method(self, o):
        o = _resolved(o)
        res = ufunc(self, o)  # from the values before the write (o may view self)
        if type(self.value) is not np.ndarray:
            return res
        ufunc(self.value, _val(o), out=self.value)  # NumPy's own casting and overlap rules
        self._write(np.arange(self.size), _bdeps(res, self.shape, self.n))
        if self._root is None and isinstance(res, Pattern):
            self.terms = res.terms  # (0-d: still a sum where it was one)
        return self

    return method


for _name, _uf in (("add", np.add), ("sub", np.subtract), ("mul", np.multiply),
                   ("truediv", np.true_divide), ("pow", np.power), ("mod", np.remainder),
                   ("floordiv", np.floor_divide), ("matmul", np.matmul)):  # fmt: skip
    setattr(Pattern, f"__i{_name}__", _inplace(_uf))
Pattern.__neg__ = lambda self: np.negative(self)
Pattern.__pos__ = lambda self: np.positive(self)  # a copy, as in NumPy
Pattern.__abs__ = lambda self: np.absolute(self)


# -- helpers ----------------------------------------------------------------------------------


def _val(a):
    if isinstance(a, Pattern):
        return a.value
    if type(a) in (list, tuple):
        return type(a)(_val(b) for b in a)
    return a


def _resolved(a):
    """A buffer of interception's (``np.zeros`` under ``intercept=True``) as the tracer it
    stands for once written into, else its plain memory; anything else as it is."""
    if isinstance(a, Deferring):
        from ._buffer import resolve

        return resolve(a)
    return a


def _plain_key(key):
    if isinstance(key, Pattern):
        raise NotImplementedError("dualad.sparsity: indexing with a traced array")
    if type(key) is tuple and any(isinstance(k, Pattern) for k in key):
        raise NotImplementedError("dualad.sparsity: indexing with a traced array")
    return key


def _local(shape: tuple, key) -> np.ndarray:
    """The flat (C order) positions of the elements ``a[key]`` selects, for ``a`` of
    ``shape``, shaped as the selection: ``np.arange(size).reshape(shape)[key]``, without
    the whole range where ``key`` is integers or a 1-d slice (element loops stay linear)."""
    ints = (key,) if type(key) is int or isinstance(key, np.integer) else key
    if (
        type(ints) is tuple
        and len(ints) <= len(shape)
        and all(type(k) is int or isinstance(k, np.integer) for k in ints)
    ):
        start = 0
        for ax, (k, d) in enumerate(zip(ints, shape)):
            k = int(k)
            if not -d <= k < d:
                raise IndexError(f"index {k} is out of bounds for axis {ax} with size {d}")
            start = start * d + (k % d)
        rest = shape[len(ints) :]
        count = math.prod(rest)
        return np.arange(start * count, (start + 1) * count).reshape(rest)
    if type(key) is slice and len(shape) == 1:
        return np.arange(*key.indices(shape[0]))
    return np.arange(math.prod(shape)).reshape(shape)[key]


def _widen(d: np.ndarray, w: int, n: int) -> np.ndarray:
    if d.shape[1] == w:
        return d.copy()
    out = np.full((d.shape[0], w), n, dtype=np.int64)
    out[:, : d.shape[1]] = d
    return out


def _bdeps(a, shape, n: int) -> np.ndarray:
    """``a``'s dependency rows broadcast to ``shape`` (no columns for a constant)."""
    size = math.prod(shape)
    if not isinstance(a, Pattern):
        return np.empty((size, 0), dtype=np.int64)
    if a.shape == tuple(shape):
        return a.deps
    ashape = a.shape
    while len(ashape) > len(shape) and ashape[0] == 1:  # y[:2] = v[None]: as NumPy drops them
        ashape = ashape[1:]
    idx = np.broadcast_to(np.arange(a.size).reshape(ashape), shape)
    return a.deps[idx.ravel()]


def _none(size: int) -> np.ndarray:
    return np.empty((size, 0), dtype=np.int64)


def _n_of(args) -> int:
    for a in args:
        if isinstance(a, Pattern):
            return a.n
        if type(a) in (list, tuple):
            n = _n_of(a)
            if n >= 0:
                return n
    return -1


def _wrap(value, deps, n):
    """A traced result; a float or complex one stays traced even with no dependencies (as a
    Dual with a zero tangent), so that later writes into it (``y = np.sign(x); y[0] = ...``)
    are followed."""
    if n < 0 or (not deps.shape[1] and not _float(value)):
        return value
    return Pattern(value, deps, n)


def _float(o) -> bool:
    return np.asarray(o).dtype.kind in "fc"


def _views(out, value) -> bool:
    """True when the array ``out`` shares memory with ``value`` (NumPy made a view). By
    bounds, not ``.base``: ``as_strided`` views (sliding_window_view) have a base that is
    no array; a fresh result never overlaps an argument."""
    return (
        type(out) is np.ndarray
        and type(value) is np.ndarray
        and (out is value or np.may_share_memory(out, value))
    )


def _padded(blocks: list, n: int) -> list:
    w = max(b.shape[1] for b in blocks)
    return [b if b.shape[1] == w else _widen(b, w, n) for b in blocks]


def _grouped(new: np.ndarray, inv: np.ndarray, m: int, n: int) -> np.ndarray:
    """Rows of ``new`` joined per group ``inv`` (``m`` groups): one row per group."""
    order = np.argsort(inv, kind="stable")
    counts = np.bincount(inv, minlength=m)
    start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    w = new.shape[1]
    out = np.full((m, max(int(counts.max()), 1) * w), n, dtype=np.int64)
    slot = np.arange(inv.size) - np.repeat(start, counts)
    rows = inv[order]
    for j in range(w):  # occurrence s of a group fills columns s*w .. s*w + w
        out[rows, slot * w + j] = new[order, j]
    return _dedupe(out, n)


def _into(ufunc, inputs, kwargs, out):
    """``ufunc(..., out=y)``: the result written into ``y``, as ``y[...] = ufunc(...)``."""
    outs = out if isinstance(out, tuple) else (out,)
    if len(outs) != 1 or kwargs.get("where", True) is not True:
        raise NotImplementedError(
            f"dualad.sparsity: {ufunc.__name__}(..., out=) with several outputs or where="
        )
    dst = outs[0]
    res = _apply(ufunc, inputs, kwargs)
    if not isinstance(dst, Pattern):
        if isinstance(res, Pattern):
            raise TypeError(
                f"np.{ufunc.__name__}(..., out=) would write a traced value into a plain NumPy "
                "array, which cannot hold its dependencies: allocate the buffer with "
                "np.zeros_like(x) or use the result instead"
            )
        dst[...] = res
        return dst
    dst._assign(res)
    return dst


def _to_csr(deps: np.ndarray, n: int, dtype=np.float64):
    """The index rows ``deps`` (padded with ``n``) as a CSR matrix of ones of ``dtype``
    (bool: products of such matrices are then patterns themselves, no ``!= 0`` pass)."""
    import scipy.sparse as sp

    mask = deps != n
    indptr = np.zeros(deps.shape[0] + 1, dtype=np.int64)
    np.cumsum(_row_counts(mask), out=indptr[1:])
    data = np.ones(int(indptr[-1]), dtype=dtype)
    return sp.csr_array((data, deps[mask], indptr), shape=(deps.shape[0], n))


def _row_counts(mask: np.ndarray) -> np.ndarray:
    """``mask.sum(axis=1)``; column by column for a narrow mask (stencils: ~6x faster)."""
    w = mask.shape[1]
    if w > 8 or w == 0:
        return mask.sum(axis=1)
    counts = mask[:, 0].astype(np.int64)
    for j in range(1, w):
        counts += mask[:, j]
    return counts


def _from_csr(c, n: int) -> np.ndarray:
    """A CSR matrix's rows as fixed-width index rows padded with ``n``."""
    c = c.tocsr()
    c.sum_duplicates()
    counts = np.diff(c.indptr)
    w = int(counts.max()) if counts.size else 0
    if counts.size and int(counts.min()) == w:  # every row as full: a reshape
        return c.indices.astype(np.int64).reshape(c.shape[0], w)
    out = np.full((c.shape[0], w), n, dtype=np.int64)
    if w:
        cols = np.arange(c.indices.size) - np.repeat(c.indptr[:-1], counts)
        out[np.repeat(np.arange(c.shape[0]), counts), cols] = c.indices
    return out


# the statements per kind, which use the tracer above (imported last: they import it)
from ._pattern_kinds import KIND, _apply, _scatter, _ufunc_method  # noqa: F401

# -- the public function ----------------------------------------------------------------------


#: What keeps another backend's array there, where a sparse door cannot (by the door).
_DENSE = (
    "jacobian(f, x) with mode='forward' or 'reverse'",
    "hessian(f, x) (dense)",
)


def one_array(x, what: str, real: bool = False) -> np.ndarray:
    """The input of a sparsity or sparse derivative: one array (numbers become float64;
    ``real``: complex raises)."""
    if isinstance(x, dict | list | tuple):
        raise TypeError(
            f"{what} takes one array x, not a {type(x).__name__}: concatenate the inputs "
            "(np.concatenate([a.ravel(), b.ravel()])) and split them inside f"
        )
    if type(x) is not np.ndarray:
        from ._backend import host_only

        host_only((x,), what, _DENSE[what.startswith("hessian")])
    x = np.asarray(x)
    if real and x.dtype.kind == "c":
        raise NotImplementedError(
            f"{what} at complex x: pass the real and imaginary parts as one real array"
        )
    return x if x.dtype.kind in "fc" else x.astype(np.float64)


def trace(f: Callable, x) -> tuple[Any, int]:
    """``f`` run on a tracer of ``x``: its result and the number of inputs."""
    x = one_array(x, "dualad.sparsity")
    n = x.size
    deps = np.arange(n, dtype=np.int64).reshape(n, 1)
    return f(Pattern(x.copy(), deps, n)), n


def rows_of(y, n: int) -> np.ndarray:
    """The dependency rows of ``f``'s result (one per element, C order; tuples stacked)."""
    if type(y) in (list, tuple):
        parts = [rows_of(v, n) for v in y]
        w = max((p.shape[1] for p in parts), default=0)
        return np.concatenate([_widen(p, w, n) for p in parts], axis=0)
    if isinstance(y, Pattern):
        return y.deps
    return _none(int(np.size(y)))


def sparsity(f: Callable, x, *, intercept: bool = False) -> Any:
    """The Jacobian sparsity pattern of ``f`` at ``x``, exact and conservative.

    Returns a ``scipy.sparse.csr_array`` of booleans, shape ``(f(x).size, x.size)``: entry
    ``(i, j)`` is True when output ``i`` may depend on input ``j``. Found by carrying
    dependency sets through ``f`` with the statements in ``dualad._pattern_kinds.KIND`` (never by
    probing values): an entry is False only when the derivative is zero for every value of
    ``x`` that takes the same branches (``np.where`` and ``np.clip`` count both branches).

    >>> import numpy as np, dualad
    >>> def f(x):
    ...     return x[:-2] - 2 * x[1:-1] + x[2:] + x[1:-1] ** 3
    >>> dualad.sparsity(f, np.ones(5)).toarray().astype(int)
    array([[1, 1, 1, 0, 0],
           [0, 1, 1, 1, 0],
           [0, 0, 1, 1, 1]])

    ``intercept=True`` runs ``f`` under :func:`dualad.intercept` (``np.asarray``,
    ``np.array([...])`` and ``math.*`` then take the traced values), as in ``jacobian``.
    """
    if intercept:
        from ._intercept import intercepting

        f = intercepting(f)
    y, n = trace(f, x)
    rows = rows_of(y, n)
    return _to_csr(rows, n, bool)

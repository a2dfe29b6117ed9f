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

Functions NumPy writes in Python (``COMPOSITES``) run on the tracer. A function with no
statement raises ``NotImplementedError`` naming it: a pattern never misses an entry because a
function was skipped. Imports numpy and ``rules``; scipy only to return the result.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from dualad._numpy import np
from dualad._tags import Leveled


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

    >>> import numpy as np
    >>> from dualad._pattern import sparsity
    >>> sparsity(lambda x: x[1:] * x[:-1], np.ones(3)).toarray()
    array([[ True,  True, False],
           [False,  True,  True]])
    """

    __slots__ = ("deps", "n", "terms", "value", "view")
    __array_priority__ = 200
    _level = -1  # composites (dualad.rules.composite) run on anything that has a level

    def __init__(self, value, deps: np.ndarray, n: int, view: bool = False):
        self.value = value
        self.deps = deps
        self.n = n
        self.view = view
        #: for a scalar that is a sum of terms: each term's dependencies (one row per term);
        #: the Hessian's pattern is then the union of each term's pairs
        self.terms = None

    # -- array facts --------------------------------------------------------------------------
    shape = property(lambda self: np.shape(self.value))
    ndim = property(lambda self: np.ndim(self.value))
    size = property(lambda self: int(np.size(self.value)))
    dtype = property(lambda self: np.asarray(self.value).dtype)
    T = property(lambda self: np.transpose(self))
    mT = property(lambda self: np.swapaxes(self, -1, -2))
    real = property(lambda self: self)

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
        if type(key) is slice and len(self.shape) == 1:  # x[1:], x[:-1]: the rows' own view
            return Pattern(self.value[key], self.deps[key], self.n, view=True)  # (deps are
            # never written in place: every writer makes its own array)
        rows = np.arange(self.size).reshape(self.shape)[key]
        return Pattern(self.value[key], self.deps[np.ravel(rows)], self.n, view=True)

    def __setitem__(self, key, val):
        if self.view:
            raise NotImplementedError(
                "dualad.sparsity: writing into a slice or reshape of a traced array is not "
                "followed back to its base; write into the array itself (x[i] = ...)"
            )
        key = _plain_key(key)
        rows = np.ravel(np.arange(self.size).reshape(self.shape)[key])
        value = self.value.copy() if not self.value.flags.writeable else self.value
        value[key] = _val(val)
        shape = np.shape(np.arange(self.size).reshape(self.shape)[key])
        new = _bdeps(val, shape, self.n)
        w = max(self.deps.shape[1], new.shape[1])
        deps = _widen(self.deps, w, self.n)
        deps[rows] = _widen(new, w, self.n)  # overwritten, not joined: the old value is gone
        self.value, self.deps = value, deps

    # -- methods ------------------------------------------------------------------------------
    def copy(self):
        return Pattern(np.copy(self.value), self.deps, self.n)

    def astype(self, dtype, copy=True):
        if np.dtype(dtype).kind not in "fc":
            return self.value.astype(dtype)
        return Pattern(self.value.astype(dtype), self.deps, self.n)

    def reshape(self, *shape, order="C"):
        shape = shape[0] if len(shape) == 1 else shape
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
        """In place, as ``ndarray.sort``."""
        if self.view:
            raise NotImplementedError("dualad.sparsity: sorting a slice of a traced array")
        res = np.sort(self, axis=axis)
        self.value, self.deps = res.value, res.deps

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
        if method == "at":
            return _scatter(ufunc, *inputs)
        if method != "__call__":
            return _ufunc_method(ufunc, method, inputs, kwargs)
        if kwargs.get("out") is not None:
            raise NotImplementedError(f"dualad.sparsity: {ufunc.__name__}(..., out=)")
        return _apply(ufunc, inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        return _apply(func, args, kwargs)


#: ndarray methods that change the array in place: a traced array refuses them
_IN_PLACE_METHODS = frozenset({"fill", "put", "resize", "partition", "itemset", "byteswap",
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
    """``x += y`` and co.: in place, as NumPy does, so every holder of ``x`` sees it; a view
    is refused (its base would have to change too)."""

    def method(self, o):
        if self.view:
            raise NotImplementedError(
                "dualad.sparsity: an in-place operation on a slice or reshape of a traced "
                "array is not followed back to its base; write y[i] = y[i] + ... instead"
            )
        res = ufunc(self, o)
        if isinstance(res, Pattern):
            self.value, self.deps = res.value, res.deps
        else:
            self.value = res
            self.deps = _none(int(np.size(res)))
        return self

    return method


for _name, _uf in (("add", np.add), ("sub", np.subtract), ("mul", np.multiply),
                   ("truediv", np.true_divide), ("pow", np.power)):  # fmt: skip
    setattr(Pattern, f"__i{_name}__", _inplace(_uf))
Pattern.__neg__ = lambda self: np.negative(self)
Pattern.__pos__ = lambda self: self
Pattern.__abs__ = lambda self: np.absolute(self)


# -- helpers ----------------------------------------------------------------------------------


def _val(a):
    if isinstance(a, Pattern):
        return a.value
    if type(a) in (list, tuple):
        return type(a)(_val(b) for b in a)
    return a


def _plain_key(key):
    if isinstance(key, Pattern):
        raise NotImplementedError("dualad.sparsity: indexing with a traced array")
    if type(key) is tuple and any(isinstance(k, Pattern) for k in key):
        raise NotImplementedError("dualad.sparsity: indexing with a traced array")
    return key


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
    idx = np.broadcast_to(np.arange(a.size).reshape(a.shape), shape)
    return a.deps[idx.ravel()]


def _none(size: int) -> np.ndarray:
    return np.empty((size, 0), dtype=np.int64)


def _n_of(args) -> int:
    for a in args:
        if isinstance(a, Pattern):
            return a.n
        if type(a) in (list, tuple):
            for b in a:
                if isinstance(b, Pattern):
                    return b.n
    return -1


def _wrap(value, deps, n):
    return Pattern(value, deps, n) if deps.shape[1] else value


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


def one_array(x, what: str, real: bool = False) -> np.ndarray:
    """The input of a sparsity or sparse derivative: one array (numbers become float64;
    ``real``: complex raises)."""
    if isinstance(x, dict | list | tuple):
        raise TypeError(
            f"{what} takes one array x, not a {type(x).__name__}: concatenate the inputs "
            "(np.concatenate([a.ravel(), b.ravel()])) and split them inside f"
        )
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

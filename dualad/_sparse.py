"""Sparse Jacobians and Hessians: coloring, compressed passes, decompression.

``jacobian(f, x, mode="sparse")``: the pattern (``dualad.sparsity``, or given), a column
coloring (columns of one color share no row), one vectorised forward pass carrying one
direction per color, and the entries read back from the compressed result; or the same with
rows and reverse passes when that takes fewer colors. ``hessian(f, x, method="sparse")``:
the pattern of the Hessian, a coloring of its columns, and one forward-over-reverse
Hessian-vector product per color, all colors in one pass.

Colorings: first the *modular* colorings of ``x``'s own index space, ``color = (a . index)
mod c`` for the smallest ``c`` from the lower bound (the most nonzeros in one row) that
works, which are optimal for banded matrices and stencils on grids (a 5-point Laplacian on
an N x N grid takes 5 colors); otherwise greedy coloring with the largest-first order.
Every coloring is checked exactly before use. Colorings are kept per pattern, compared by
its entries (``_canonical``), so repeated calls with one ``sparsity=`` (an ODE solver's
Jacobian) or that detect the same pattern color once. Imports numpy
and scipy.sparse.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from dualad._numpy import np

from . import _tags
from ._pattern import _from_csr, one_array
from ._pytree import LEAF
from ._seeding import _read, _seed


@dataclass(frozen=True)
class Coloring:
    """A coloring of a pattern's columns (forward), rows (reverse) or symmetric columns
    (a Hessian read by H = H^T), and what it cost: a sparse result's ``.coloring``.

    >>> import numpy as np, dualad
    >>> j = dualad.jacobian(lambda x: x[1:] * x[:-1], np.ones(5), mode="sparse")
    >>> j.coloring.count, j.coloring.lower_bound, j.coloring.mode
    (2, 2, 'forward')
    """

    colors: np.ndarray  # one color per column (forward) or row (reverse)
    count: int
    lower_bound: int  # the most nonzeros in one row (forward) or column (reverse)
    mode: str  # "forward", "reverse", or "symmetric" (a Hessian read by H = H^T)
    method: str  # "modular (a=..., c=...)" or "greedy (largest-first)"

    def __repr__(self) -> str:
        return (
            f"Coloring({self.mode}: {self.count} colors, lower bound {self.lower_bound}, "
            f"{self.method})"
        )


#: [(pattern, its index rows)]: the latest private patterns the colorings read as rows
ROWS: list = []


def _ell(p) -> np.ndarray:
    """Each row's column indices, padded with ``n`` = the number of columns (the pattern as
    rows of a fixed width)."""
    for q, rows in ROWS:
        if q is p:  # made before for this (private, never written) pattern
            return rows
    rows = _from_csr(p, p.shape[1])
    ROWS.append((p, rows))  # (a modular coloring checks several trials on one pattern)
    del ROWS[:-4]
    return rows


def valid(p, colors: np.ndarray) -> bool:
    """True when no two columns of one color share a row of ``p``."""
    d = _ell(p)
    m, w = d.shape
    if w <= 1:
        return True
    n = p.shape[1]
    ext = np.append(colors, -1)  # the padding's color: made distinct per slot below
    if w <= 16:  # slot by slot, each a contiguous row of colors
        c = np.empty((w, m), dtype=np.int64)
        for j in range(w):
            dj = d[:, j]
            c[j] = ext[dj]
            c[j][dj == n] = -1 - j  # padding never matches another slot
        for j in range(1, w):
            for i in range(j):
                if np.any(c[j] == c[i]):
                    return False
        return True
    c = np.sort(np.where(d == n, -1, ext[d]), axis=1)
    return not np.any((c[:, 1:] == c[:, :-1]) & (c[:, 1:] >= 0))


def _modular(p, shape: tuple, lower: int):
    """The first valid ``(a . index) mod c`` coloring, for c from ``lower`` up, or None."""
    n = p.shape[1]
    if lower <= 0:
        return np.zeros(n, dtype=np.int64), "empty"
    coords = np.unravel_index(np.arange(n), shape) if len(shape) > 1 else (np.arange(n),)
    for c in range(lower, min(2 * lower + 2, n) + 1):
        if len(coords) == 1:
            trials = [(1,)]
        else:  # one coordinate with weight 1, the others in 0..c-1 (few dimensions only)
            trials = [(1,) + (a,) for a in range(c)] if len(coords) == 2 else [
                (1,) + tuple(int(v) for v in np.unravel_index(t, (c,) * (len(coords) - 1)))
                for t in range(min(c ** (len(coords) - 1), 64))
            ]  # fmt: skip
        for a in trials:
            colors = sum(ai * ci for ai, ci in zip(a, coords)) % c
            if valid(p, colors):
                return colors.astype(np.int64), f"modular (a={a}, c={c})"
    return None


def _greedy(p) -> np.ndarray:
    """Greedy coloring of the column intersection graph in largest-first order (valid by
    construction: each column takes a color none of its neighbours has)."""
    g = (p.T.astype(np.float64) @ p.astype(np.float64)).tocsr()
    n = g.shape[0]
    ip, ix = g.indptr.tolist(), g.indices.tolist()
    degree = np.diff(g.indptr)
    colors = [-1] * n
    for j in np.argsort(-degree, kind="stable").tolist():
        used = {colors[k] for k in ix[ip[j] : ip[j + 1]]}
        c = 0
        while c in used:
            c += 1
        colors[j] = c
    return np.asarray(colors, dtype=np.int64)


def color_columns(p, shape: tuple | None = None, mode: str = "forward") -> Coloring:
    """A coloring of ``p``'s columns: columns of one color share no row.

    >>> import numpy as np, scipy.sparse as sp
    >>> from dualad._sparse import color_columns
    >>> color_columns(sp.csr_array(np.eye(4, k=1) + np.eye(4) + np.eye(4, k=-1)))
    Coloring(forward: 3 colors, lower bound 3, modular (a=(1,), c=3))
    """
    p = p.tocsr()
    shape = shape or (p.shape[1],)
    lower = int(np.diff(p.indptr).max()) if p.shape[0] else 0
    found = _modular(p, shape, lower) if p.shape[1] else (np.zeros(0, dtype=np.int64), "empty")
    if found is None:
        colors, method = _greedy(p), "greedy (largest-first)"
    else:
        colors, method = found
    count = int(colors.max()) + 1 if colors.size else 0
    return Coloring(colors, count, lower, mode, method)


# -- the cache: one coloring per pattern (see _canonical) ----------------------------------

_CACHE: list = []  # [(pattern, shape, mode, Coloring)], newest last
_KEEP = 8
_NONZERO: list = []  # [(pattern, (rows, cols))]: the entries to read back, per pattern


def _entries(p):
    """Per stored entry of the CSR pattern ``p``: its row (its column is ``p.indices``)."""
    for q, rc in _NONZERO:
        if q is p:
            return rc
    rows = np.repeat(np.arange(p.shape[0]), np.diff(p.indptr))
    _NONZERO.append((p, rows))
    del _NONZERO[:-_KEEP]
    return rows


_SEEN: list = []  # private canonical copies of the latest patterns, newest last


def _canonical(p):
    """The private copy of pattern ``p`` (canonical CSR: sorted, no duplicates) that the
    caches here are keyed on: the one made when a pattern with these entries was first seen.

    ``dualad.sparsity`` and ``hessian_sparsity`` make a new object per call, so caches keyed
    on the caller's object would color a detected pattern again at every call. Compared by
    content (a few array compares), never by identity, and kept private, a cached coloring
    always belongs to exactly these entries, even where the caller writes into a pattern it
    passed before. ``p`` itself is not changed.
    """
    import scipy.sparse as sp

    if not p.has_canonical_format:
        p = p.copy()
        p.sum_duplicates()
    for q in reversed(_SEEN):
        if (
            q.shape == p.shape
            and q.nnz == p.nnz
            and np.array_equal(q.indptr, p.indptr)
            and np.array_equal(q.indices, p.indices)
        ):
            return q
    q = sp.csr_array((np.ones(p.nnz, dtype=bool), p.indices.copy(), p.indptr.copy()),
                     shape=p.shape)  # fmt: skip
    # (q's index rows are made from q itself, once: rows kept for the caller's object could
    # belong to entries it held before a write)
    _SEEN.append(q)
    del _SEEN[:-_KEEP]
    return q


_SYMMETRIC: list = []  # [(canonical pattern, its canonical symmetric closure)], newest last


def _symmetric(p):
    """The canonical pattern of ``p + p^T`` for the canonical Hessian pattern ``p`` (a
    triangular or one-sided pattern means both sides), made once per pattern: adding a
    transpose costs a sparse sum and two format changes, a fifth of a sparse Hessian of
    Rosenbrock at n = 10^5. ``p`` itself when it is symmetric already."""
    for q, s in _SYMMETRIC:
        if q is p:
            return s
    s = _canonical((p + p.T).astype(bool).tocsr())
    _SYMMETRIC.append((p, s))
    del _SYMMETRIC[:-_KEEP]
    return s


def _cached(p, shape, mode: str) -> Coloring:
    for q, s, m, c in _CACHE:
        if q is p and s == shape and m == mode:
            return c
    if mode == "star":
        c = star_coloring(p)
    else:
        target = p if mode == "forward" else p.T.tocsr()
        c = color_columns(target, shape, mode)
    _CACHE.append((p, shape, mode, c))
    del _CACHE[:-_KEEP]
    return c


def coloring(p, shape: tuple | None = None) -> Coloring:
    """The cheaper of column (forward) and row (reverse) coloring of the pattern ``p``."""
    m, n = p.shape
    fwd = _cached(p, shape or (n,), "forward")
    # the most nonzeros in one column: rows cannot take fewer colors
    rev_lower = int(np.bincount(p.indices, minlength=n).max()) if p.nnz else 0
    if fwd.count <= rev_lower:  # rows cannot do better
        return fwd
    rev = _cached(p, (m,), "reverse")
    return rev if rev.count < fwd.count else fwd


# -- the compressed passes ------------------------------------------------------------------


def _check_pattern(p, m: int | None, n: int, hessian: bool = False):
    import scipy.sparse as sp

    if not sp.issparse(p):
        p = sp.csr_array(np.asarray(p, dtype=bool))
    p = p.tocsr()
    if hessian and p.shape != (n, n):
        raise ValueError(
            f"sparsity has shape {p.shape}, but x has {n} elements: give the pattern of the "
            f"Hessian ({n} x {n}), e.g. from dualad.hessian_sparsity(f, x)"
        )
    if p.shape[1] != n or (m is not None and p.shape[0] != m):
        raise ValueError(
            f"sparsity has shape {p.shape}, but f maps {n} inputs to {m} outputs: give the "
            "pattern of the Jacobian (outputs x inputs), e.g. from dualad.sparsity(f, x)"
        )
    return p


def _rows_match(p, prim) -> None:
    if prim.size != p.shape[0]:
        raise ValueError(
            f"sparsity has {p.shape[0]} rows but f(x) has {prim.size} elements: give the "
            "pattern of the Jacobian (outputs x inputs), e.g. from dualad.sparsity(f, x)"
        )


def _stacked(f: Callable) -> Callable:
    """``f`` with a tuple or list result stacked into one vector (each part raveled, in
    order), as ``dualad.sparsity`` stacks its rows."""

    def g(z):
        y = f(z)
        if type(y) in (list, tuple):
            return np.concatenate([np.ravel(v) for v in y]) if y else np.zeros(0)
        return y

    return g


def _sparse_data(data: np.ndarray) -> np.ndarray:
    """The entries in a dtype scipy.sparse stores: float16 (which it refuses) as float32,
    the nearest it takes, as every other door keeps a float16 input's precision or more."""
    return data.astype(np.float32) if data.dtype == np.float16 else data


def _plain(v, what: str):
    """``v``, raising when it is traced by an enclosing transform: a scipy.sparse array
    cannot carry that transform's derivative in its entries."""
    if isinstance(v, _tags.Leveled):
        raise NotImplementedError(
            f"{what} returns a scipy.sparse array, whose entries cannot carry the derivative "
            "of an enclosing grad/jacobian/hessian (x, or a value f closes over, is traced by "
            "it). Inside another transform use the dense form: "
            + (
                "hessian(f, x) or method='forward-over-reverse'"
                if what.startswith("hessian")
                else "jacobian(f, x) with mode='forward' or 'reverse'"
            )
        )
    return v


def _host(v, what: str):
    """``v`` (an untraced result of ``f`` at a NumPy ``x``), raising where it is another
    backend's array: ``f`` computes with Dask or device arrays it closes over, and a
    scipy.sparse result would need them copied to the host behind the caller's back."""
    if type(v) is np.ndarray or not hasattr(v, "__array_function__") or isinstance(v, np.generic):
        return v
    t = type(v)
    raise TypeError(
        f"{what} gives a scipy.sparse array on the host, but f returned a "
        f"{t.__module__.split('.')[0]} {t.__name__} (it computes with arrays of that backend): "
        "make the arrays f uses NumPy arrays (.get() for CuPy, .compute() for Dask), or use "
        + (
            "hessian(f, x)"
            if what.startswith("hessian")
            else "jacobian(f, x) with mode='forward' or 'reverse'"
        )
        + ", which keep the backend"
    )


def _forward(f: Callable, x: np.ndarray, c: Coloring):
    """f(x) and the compressed Jacobian (J @ S)^T (colors x m), one pass."""
    k = max(c.count, 1)
    seeds = np.zeros((k, x.size), dtype=x.dtype)
    seeds[c.colors, np.arange(x.size)] = 1.0
    level = _tags.open_level()
    try:
        (d,) = _seed([x], level, [seeds.reshape((k,) + x.shape)], False)
        y = f(d)
        prim, dot = _read(y, level, k)
    finally:
        _tags.close_level(level)
    _host(_plain(dot, "jacobian(mode='sparse')"), "jacobian(mode='sparse')")
    return np.asarray(prim), np.ascontiguousarray(np.reshape(dot, (k, -1)))  # (k, m)


def _reverse(f: Callable, x: np.ndarray, c: Coloring, p):
    """f(x) and the compressed Jacobian S^T @ J (colors x n), one sweep."""
    import tape

    k = max(c.count, 1)
    with tape.Tape() as t:
        w = t._watch(x)
        y = f(w)
    prim = np.asarray(
        _host(_plain(tape.value_of(y), "jacobian(mode='sparse')"), "jacobian(mode='sparse')")
    )
    _rows_match(p, prim)  # (before seeding: the rows' colors index the outputs)
    seeds = np.zeros((k, prim.size), dtype=prim.dtype)
    seeds[c.colors, np.arange(prim.size)] = 1.0
    (bar,) = t.cotangents([y], [seeds.reshape((k,) + prim.shape)], [w], release=True)
    t.close()
    return prim, np.reshape(bar, (k, -1))  # (k, n)


_PLANS: list = []  # [(pattern, Coloring, which, (flat, uncovered))], newest last


def _read_back(
    p, c: Coloring, which: str, comp: np.ndarray, what: str, given: bool = True
) -> np.ndarray:
    """The pattern's values from the compressed result ``comp`` (colors x m), checked as
    ``_missed`` checks them (``given``: the caller's pattern, else a detected one). ``which``: "rows" when ``comp[color of the entry's column,
    entry's row]`` holds an entry (forward passes), "cols" for ``comp[color of its row,
    its column]`` (reverse). The flat positions, and the positions no entry covers, are
    computed once per pattern and coloring (an ODE solver or a Newton loop reuses them)."""
    plan = None
    for q, cq, w, pl in _PLANS:
        if q is p and cq is c and w == which:
            plan = pl
            break
    k, m = comp.shape
    if plan is None or plan[0].size != p.nnz or plan[2] != (k, m):
        rows, cols = _entries(p), p.indices
        colors, other = (c.colors[cols], rows) if which == "rows" else (c.colors[rows], cols)
        flat = colors.astype(np.intp) * m + other
        covered = np.zeros(k * m, dtype=bool)
        covered[flat] = True
        plan = (flat, np.flatnonzero(~covered), (k, m))
        _PLANS.append((p, c, which, plan))
        del _PLANS[:-_KEEP]
    flat, uncovered, _ = plan
    values = np.ravel(comp)
    if uncovered.size and values[uncovered].any():
        _missed(comp, flat // m, flat % m, what, given)  # (raises, naming the first entry)
    return values.take(flat)


def _missed(comp: np.ndarray, colors, rows, what: str, given: bool = True) -> None:
    """Raise when the compressed result has a nonzero where the pattern puts no entry.

    Entry (i, c) of ``J @ S`` sums row i's entries of color c; where the pattern has none
    there it must be 0. A given pattern that misses an entry is caught this way unless the
    missed entry shares its color with a pattern entry of its row (then the two add up
    unseen): a pattern from ``dualad.sparsity`` never misses one.

    A detected pattern (``given`` False) leaves out only entries that are zero for every x:
    a NaN or infinity there is IEEE arithmetic on a structural zero (``0 * inf`` in
    ``c * exp(x)`` with ``c == 0``), and the entry is the exact 0 it is. A finite nonzero
    there is a fault in dualad's dependency statements: a RuntimeError says so.
    """
    k, m = comp.shape  # (colors, rows): row i of color c is comp[c, i]
    covered = np.zeros(k * m, dtype=bool)
    covered[colors * m + rows] = True
    flat = np.ravel(comp)
    bad = (flat != 0) & ~covered
    if not given:
        bad &= np.isfinite(flat)
    if bad.any():
        c, i = divmod(int(np.argmax(bad)), m)
        if not given:
            raise RuntimeError(
                f"dualad.sparsity's pattern misses a nonzero {what}: {what.split()[0]} {i} "
                f"has a nonzero derivative in color {c} where the detected pattern has no "
                "entry. This is a fault in dualad's dependency statements "
                "(dualad._pattern_kinds): please report it with f. jacobian(f, x, "
                "mode='forward') (or hessian(f, x)) gives the dense result meanwhile"
            )
        detect = "hessian_sparsity" if "Hessian" in what else "sparsity"
        raise ValueError(
            f"the given sparsity misses a nonzero {what}: {what.split()[0]} {i} has a nonzero "
            f"derivative in color {c} where the pattern has no entry. Use dualad.{detect}(f, x) "
            "for a pattern that holds every entry"
        )


def sparse_jacobian(f: Callable, x, sparsity=None):
    """The Jacobian of ``f`` at ``x`` as a ``scipy.sparse.csr_array``: pattern, coloring,
    one compressed pass (see :func:`dualad.jacobian` with ``mode="sparse"``)."""
    import scipy.sparse as sp

    from ._pattern import sparsity as detect

    x = one_array(_plain(x, "jacobian(mode='sparse')"), "jacobian(mode='sparse')", real=True)
    f = _stacked(f)  # a tuple result: its parts' rows in order, as dualad.sparsity has them
    given = sparsity is not None
    sparsity = _check_pattern(sparsity, None, x.size) if given else detect(f, x)
    sparsity = _canonical(sparsity)  # sorted, one entry per (row, column); colored once
    c = coloring(sparsity, x.shape)
    if c.mode == "forward":
        prim, comp = _forward(f, x, c)
        _rows_match(sparsity, prim)
        data = _read_back(sparsity, c, "rows", comp, "row of the Jacobian", given)
    else:
        prim, comp = _reverse(f, x, c, sparsity)
        data = _read_back(sparsity, c, "cols", comp, "column of the Jacobian", given)
    jac = sp.csr_array(  # its own index arrays: the cached pattern's stay private
        (_sparse_data(data), sparsity.indices.copy(), sparsity.indptr.copy()), shape=sparsity.shape
    )
    jac.coloring = c  # how it was computed: colors, lower bound, forward or reverse
    return jac


# -- Hessians ---------------------------------------------------------------------------------


#: Largest pattern the (Python) star coloring runs on; 3 colors (a path) it cannot improve.
_STAR_MAX_NNZ = 10**6


def star_coloring(p) -> Coloring:
    """A coloring of a symmetric pattern's columns from which ``H @ S`` gives every entry
    directly, using H = H^T: entry (i, j) is read in row i when j's color is unique there,
    else in row j (i's color must then be unique in row j). Greedy, largest-first; on an
    arrowhead pattern 2 colors where a plain column coloring needs n.

    >>> import numpy as np, scipy.sparse as sp
    >>> from dualad._sparse import star_coloring
    >>> arrow = np.eye(5, dtype=bool); arrow[0] = arrow[:, 0] = True
    >>> star_coloring(sp.csr_array(arrow)).count
    2
    """
    p = p.tocsr()
    n = p.shape[0]
    ip, ix = p.indptr.tolist(), p.indices.tolist()
    nbrs = [[j for j in ix[ip[i] : ip[i + 1]] if j != i] for i in range(n)]
    colors = [-1] * n
    # count[i][c]: how many neighbours of i have color c (i's row, diagonal apart)
    count: list[dict] = [{} for _ in range(n)]

    def unique_in(i, c) -> bool:
        return count[i].get(c, 0) <= 1

    degree = np.array([len(a) for a in nbrs])
    for v in np.argsort(-degree, kind="stable").tolist():
        used = {colors[w] for w in nbrs[v] if colors[w] >= 0}
        c = 0
        while True:
            while c in used:
                c += 1
            ok = True
            for w in nbrs[v]:
                cw = colors[w]
                if cw < 0:
                    continue
                # edge (v, w): c(w) unique in v's row, or c unique in w's row after adding v
                if not (unique_in(v, cw) or count[w].get(c, 0) == 0):
                    ok = False
                    break
            if ok:
                for w in nbrs[v]:  # edges (w, x) read in row w by x's color c: still unique?
                    if colors[w] < 0:
                        continue
                    for x in nbrs[w]:
                        if x != v and colors[x] == c and not unique_in(x, colors[w]):
                            ok = False
                            break
                    if not ok:
                        break
            if ok:
                break
            c += 1
        colors[v] = c
        for w in nbrs[v]:
            count[w][c] = count[w].get(c, 0) + 1
    arr = np.asarray(colors, dtype=np.int64)
    lower = int(np.diff(p.indptr).max()) if n else 0
    return Coloring(arr, int(arr.max()) + 1 if n else 0, lower, "symmetric",
                    "star (largest-first)")  # fmt: skip


def _symmetric_entries(p, colors: np.ndarray, comp: np.ndarray) -> np.ndarray:
    """The pattern's values from ``comp = (H @ S)^T`` (colors x n): entry (i, j) from row i
    when j's color is unique there, else from row j by i's color."""
    rows = np.repeat(np.arange(p.shape[0]), np.diff(p.indptr))
    cols = p.indices
    k = comp.shape[0]
    key = rows * k + colors[cols]
    mult = np.bincount(key, minlength=p.shape[0] * k)
    here = mult[key] == 1
    return np.where(here, comp[colors[cols], rows], comp[colors[rows], cols])


def hessian_sparsity(f: Callable, x, *, intercept: bool = False):
    """A conservative pattern of f's Hessian, as a ``scipy.sparse.csr_array`` of booleans.

    For ``f = sum(y)`` (and sums and scalings of such sums), entry (i, j) is True where some
    y_k depends on both x_i and x_j; for any other f, every pair of inputs f depends on.
    Pass it as ``hessian(f, x, method="sparse", sparsity=...)`` to find it once.

    >>> import numpy as np, dualad
    >>> f = lambda x: np.sum((x[1:] - x[:-1] ** 2) ** 2)
    >>> dualad.hessian_sparsity(f, np.ones(4)).toarray().astype(int)
    array([[1, 1, 0, 0],
           [1, 1, 1, 0],
           [0, 1, 1, 1],
           [0, 0, 1, 1]])

    ``intercept=True`` runs ``f`` under :func:`dualad.intercept`, as in ``hessian``.
    """
    import scipy.sparse as sp

    from ._pattern import Pattern, _to_csr, trace

    if intercept:
        from ._intercept import intercepting

        f = intercepting(f)

    y, n = trace(f, x)
    if not isinstance(y, Pattern):
        return sp.csr_array((n, n), dtype=bool)
    terms = getattr(y, "terms", None)
    rows = terms if terms is not None else y.deps
    p = _to_csr(rows, n, bool)
    return (p.T @ p).tocsr()  # bool: a product is True where two rows meet (2x faster)


def sparse_hessian(f: Callable, x, sparsity=None):
    """The Hessian of scalar ``f`` at ``x`` as a ``scipy.sparse.csr_array``."""
    import scipy.sparse as sp

    from ._second import _grad_of_duals

    x = one_array(_plain(x, "hessian(method='sparse')"), "hessian(method='sparse')", real=True)
    n = x.size
    given = sparsity is not None
    if given:  # H = H^T: a triangular or one-sided pattern means both sides
        sparsity = _symmetric(_canonical(_check_pattern(sparsity, n, n, hessian=True)))
    else:
        sparsity = _canonical(hessian_sparsity(f, x))
    c = _cached(sparsity, x.shape, "forward")
    symmetric = False
    if c.count > 3 and sparsity.nnz <= _STAR_MAX_NNZ:  # H = H^T may take fewer colors
        star = _cached(sparsity, x.shape, "star")
        symmetric = star.count < c.count
        c = star if symmetric else c
    k = max(c.count, 1)
    seeds = np.zeros((k, n), dtype=x.dtype)
    seeds[c.colors, np.arange(n)] = 1.0
    (hv,) = _grad_of_duals(f, [x], LEAF, [seeds.reshape((k,) + x.shape)], False)
    hv = _host(_plain(hv, "hessian(method='sparse')"), "hessian(method='sparse')")
    comp = np.ascontiguousarray(np.reshape(hv, (k, n)))
    cols = sparsity.indices
    # column j of H @ S: each row's entries of one color summed; where a row has none of a
    # color that slot must be 0 (checked on both paths, as for Jacobians)
    data = _read_back(sparsity, c, "rows", comp, "row of the Hessian", given)
    if symmetric:
        data = _symmetric_entries(sparsity, c.colors, comp)
    h = sp.csr_array((_sparse_data(data), cols.copy(), sparsity.indptr.copy()), shape=(n, n))
    h.coloring = c
    return h

"""Views of Duals: tangents that alias exactly as NumPy's primals do.

Basic indexing, ``reshape``, ``ravel``, ``.T``, ``swapaxes``, ``diagonal``, ... return views: a
write through one reaches every other. A Dual made by such a call gets a tangent that is a view
of its source's tangent, laid out as the primal view lies in the source's primal. The source's
tangent is first *mirrored* (each direction's block has the primal's strides, one allocation
the first time a view is taken); then any view's tangent is the same element offset and strides
in every block, as PyTorch's forward AD builds view tangents with ``as_strided``. Nested
tangents (HyperDual) are mirrored leaf by leaf. Where memory cannot be followed (a backend
without NumPy memory, a dtype view) source and view are *frozen*: a write through either
raises. Imports numpy and _tags only.
"""

from __future__ import annotations

import math

from dualad._numpy import np

from ._tags import Leveled

#: ``Dual._owns``: False (shared, copy before a write), True (owned), or one of these three.
#: Positive values write their tangent in place; the others never write it.
MIRRORED = 2  # owned, laid out like the primal: views of it may exist, writes go in place
FROZEN = -1  # an alias dualad cannot follow: every write raises
INPUT = -2  # a derivative call's input or a view of one: read-only inside f

READ_ONLY_INPUT = (
    "cannot write into the input of a derivative call (or a view of it): it is the point the "
    "derivative is taken at, and the array is read-only inside f. Write into a copy instead: "
    "y = np.copy(x); y[key] = value"
)


def innermost(a):
    """The value under every wrapper level."""
    while isinstance(a, Leveled):
        a = a._unwrap()
    return a


def memory_root(a):
    """The ndarray owning the memory of ``a`` (through wrappers and views), or None."""
    a = innermost(a)
    if not isinstance(a, np.ndarray):
        return None
    while True:
        b = a.base
        # as_strided (sliding_window_view, broadcast_arrays) makes its view from a NumPy
        # helper object holding the array's interface: its own .base is the array
        while b is not None and not isinstance(b, np.ndarray) and hasattr(b, "__array_interface__"):
            b = getattr(b, "base", None)
        if not isinstance(b, np.ndarray):
            return a
        a = b


def maybe_view(out, vals) -> bool:
    """Cheap test: could ``out`` (a result, possibly wrapped) share memory with ``vals``?

    A view has a base; NumPy functions that return an input itself (``np.atleast_1d``,
    ``np.real`` of a real array) return their first argument.
    """
    t = type(out)
    if t is np.ndarray:
        return out.base is not None or (len(vals) > 0 and out is vals[0])
    if t in (list, tuple):
        return True
    out = innermost(out)
    if type(out) is not np.ndarray:
        return False
    return out.base is not None or (len(vals) > 0 and out is innermost(vals[0]))


def _start(a: np.ndarray) -> int:
    return a.__array_interface__["data"][0]


def _elements(strides, itemsize: int):
    """Strides in elements, or None if a stride is not a whole number of elements."""
    es = tuple(s // itemsize for s in strides)
    return es if all(e * itemsize == s for e, s in zip(es, strides)) else None


def view_offset(out, src):
    """Element offset of the ndarray ``out`` (a view of ``src``'s memory) from ``src``'s
    first element, or None where the view does not lie on ``src``'s elements (a dtype view).

    NumPy's view functions select elements of their input, so ``out`` lies inside ``src``.
    """
    isz = src.itemsize
    if out.itemsize != isz or _elements(out.strides, isz) is None:
        return None
    if _elements(src.strides, isz) is None:
        return None
    shift = _start(out) - _start(src)
    return shift // isz if shift % isz == 0 else None


def half_offset(out, src):
    """``(shift, half)`` where the real ndarray ``out`` views one half of the complex ``src``'s
    elements (``src.real``, ``src.imag``, or a view of them): ``shift`` in ``src``'s elements
    as in ``view_offset``, ``half`` 0 for real parts and 1 for imaginary parts; else None."""
    isz = src.itemsize
    if src.dtype.kind != "c" or out.dtype.kind != "f" or 2 * out.itemsize != isz:
        return None
    if _elements(out.strides, isz) is None or _elements(src.strides, isz) is None:
        return None
    shift = _start(out) - _start(src)
    half = shift % isz
    if half % out.itemsize:
        return None
    return (shift - half) // isz, half // out.itemsize


# -- mirrored tangents ------------------------------------------------------------------------


def _mirror_leaf(leaf, p: np.ndarray, lead: tuple):
    """A fresh array of shape ``lead + p.shape`` whose blocks have ``p``'s layout, holding
    ``leaf`` (an array, or None for zeros)."""
    es = _elements(p.strides, p.itemsize)
    dtype = leaf.dtype if leaf is not None else p.dtype
    isz = dtype.itemsize
    if p.size == 0:
        out = np.zeros(lead + p.shape, dtype)
        return out if leaf is None else leaf.copy()
    # the element span p covers, and p's first element within it (strides may be negative)
    low = sum((n - 1) * e for n, e in zip(p.shape, es) if e < 0)
    high = sum((n - 1) * e for n, e in zip(p.shape, es) if e > 0)
    span, first = high - low + 1, -low
    n = math.prod(lead)
    raw = np.zeros(max(n * span, 1), dtype)
    block = tuple(int(span * isz * math.prod(lead[i + 1 :])) for i in range(len(lead)))
    out = np.ndarray(
        lead + p.shape, dtype, buffer=raw, offset=first * isz,
        strides=block + tuple(e * isz for e in es),
    )  # fmt: skip
    if leaf is not None:
        out[...] = leaf
    return out


def _leaf_view(leaf: np.ndarray, shift: int, out: np.ndarray, nlead: int, half=None):
    """The view of the mirrored ``leaf`` that ``out`` is of the primal, ``shift`` elements on
    (with ``half``, see ``half_offset``: that half of each complex element of ``leaf``)."""
    isz = leaf.itemsize
    root = leaf
    while isinstance(root.base, np.ndarray):
        root = root.base
    offset = _start(leaf) - _start(root) + shift * isz
    dtype, es = leaf.dtype, _elements(out.strides, out.itemsize)
    if half is not None:  # strides in whole (complex) elements; the part's own dtype
        dtype, es = leaf.real.dtype, _elements(out.strides, 2 * out.itemsize)
        offset += half * dtype.itemsize
    return np.ndarray(
        leaf.shape[:nlead] + out.shape, dtype, buffer=root, offset=offset,
        strides=leaf.strides[:nlead] + tuple(e * isz for e in es),
    )  # fmt: skip


def mirror(d, p: np.ndarray, new):
    """``d``'s tangent, copied into mirrored storage (``p``: the innermost primal).

    ``new(primal, dot, like)`` builds a Dual of ``like``'s level and directions.
    A zero tangent of a Dual whose primal is a lower-level Dual (a hyper-dual buffer,
    ``np.zeros_like(x)``) is mirrored with that primal's nesting: a value written later
    carries a nested tangent, which a plain mirror could not hold while views share it.
    """
    if d._dot is None and isinstance(d._p, Leveled) and hasattr(d._p, "_dot"):
        return _zero_tree(d._p, p, (d._k,), new)
    return _mirror_tree(d._dot, p, (d._k,), d, new)


def _zero_tree(q, p, lead, new):
    """Mirrored zeros of shape ``lead + p.shape``, nested as the primal ``q`` is."""
    if isinstance(q, Leveled) and hasattr(q, "_dot"):
        res = new(_zero_tree(q._p, p, lead, new), _zero_tree(q._p, p, (q._k,) + lead, new), q)
        res._owns = MIRRORED
        return res
    return _mirror_leaf(None, p, lead)


def aligned(t, p: np.ndarray) -> bool:
    """True if the fresh array ``t`` (``(k,) + p.shape``) already has ``p``'s layout in each
    block, so it can serve as the mirror as it is."""
    if type(t) is not np.ndarray or t.base is not None or t.ndim != p.ndim + 1:
        return False
    if not (t.flags.c_contiguous or t.flags.f_contiguous):
        return False
    es = _elements(p.strides, p.itemsize)
    return es is not None and t.strides[1:] == tuple(e * t.itemsize for e in es)


def _mirror_tree(t, p, lead, owner, new):
    if t is None or isinstance(t, np.ndarray):
        return _mirror_leaf(t, p, lead)
    if isinstance(t, Leveled) and hasattr(t, "_dot"):  # a nested tangent: a lower-level Dual
        k = t._k
        tprimal = _mirror_tree(t._p, p, lead, t, new)
        td = _mirror_tree(t._dot_array(), p, (k,) + lead, t, new)
        res = new(tprimal, td, t)
        res._owns = MIRRORED
        return res
    return None  # another backend or a tape value: cannot mirror


def view_tangent(t, shift: int, out: np.ndarray, nlead: int, new, half=None):
    """The tangent of the view ``out`` (``shift`` elements into the primal; ``half``: one half
    of complex elements, see ``half_offset``), from the primal's mirrored tangent ``t``."""
    if isinstance(t, np.ndarray):
        return _leaf_view(t, shift, out, nlead, half)
    tprimal = view_tangent(t._p, shift, out, nlead, new, half)
    td = view_tangent(t._dot, shift, out, nlead + 1, new, half)
    res = new(tprimal, td, t)
    res._owns = MIRRORED
    return res


def is_mirrorable(t) -> bool:
    """True if every leaf of tangent ``t`` is a NumPy array (or a zero), so it can mirror."""
    if t is None or isinstance(t, np.ndarray):
        return True
    if isinstance(t, Leveled) and hasattr(t, "_dot"):
        return is_mirrorable(t._p) and is_mirrorable(t._dot_array())
    return False


def copy_tree(t, new):
    """A copy of tangent ``t`` sharing no memory with it (nested tangents leaf by leaf)."""
    if t is None:
        return None
    if isinstance(t, np.ndarray):
        return t.copy()
    if isinstance(t, Leveled) and hasattr(t, "_dot"):
        res = new(copy_tree(t._p, new), copy_tree(t._dot_array(), new), t)
        res._owns = True
        return res
    return t.copy() if hasattr(t, "copy") else np.copy(t)  # (Dask has no np.copy: its own)

"""Views and ownership of Duals: a result that is a view of an argument gets a tangent that
is the same view of the argument's tangent; tangents some Dual writes in place are copied
before they are shared (copy-on-write). The memory bookkeeping itself is in dualad._alias.

The Dual class comes in through ``bind`` (dualad.dual calls it once), so this module
imports no wrapper type and dualad.dual imports it without a circle.
"""

from __future__ import annotations

from dualad._numpy import np

from ._alias import (
    FROZEN,
    INPUT,
    MIRRORED,
    aligned,
    copy_tree,
    half_offset,
    innermost,
    is_mirrorable,
    memory_root,
    mirror,
    view_offset,
    view_tangent,
)
from ._ops import differentiable
from .rules._define import getitem

#: Functions whose result is a view of an argument in NumPy (the sparsity tracer finds its
#: views by NumPy's own ``.base``, so it needs no list).
VIEW_FUNCS = frozenset({getitem, np.reshape, np.ravel, np.transpose, np.swapaxes, np.moveaxis,
                        np.expand_dims, np.squeeze, np.broadcast_to, np.diagonal, np.real,
                        np.matrix_transpose, np.permute_dims, np.atleast_1d, np.atleast_2d,
                        np.atleast_3d, np.split, np.array_split, np.flip, np.flipud, np.fliplr,
                        np.rot90, np.hsplit, np.vsplit, np.dsplit, np.unstack, np.rollaxis,
                        np.linalg.matrix_transpose, np.linalg.diagonal, np.diag, np.trim_zeros,
                        np.broadcast_arrays, np.lib.stride_tricks.sliding_window_view})  # fmt: skip
#: Functions whose result may be a view of an argument on any backend. NumPy results say so
#: by ``.base``; other backends' arrays are not followed (see ``foreign_view``).
MAY_VIEW = VIEW_FUNCS | {np.imag, np.rollaxis, np.asarray, np.ascontiguousarray}


def foreign_view(func, out, args, level):
    """The Dual among ``args`` whose memory ``out`` may share when ``out`` is another
    backend's array (CuPy, a device array) made by a function that can return a view; None
    otherwise. Its layout cannot be followed, so the caller freezes both (a write raises)."""
    if func not in MAY_VIEW or not foreign(innermost(out)):
        return None
    for a in args:
        if isinstance(a, Dual) and a._level == level and foreign(innermost(a._p)):
            return a
    return None


def foreign(v) -> bool:
    """An array of another backend (not NumPy's arrays or scalars, not a number)."""
    return hasattr(v, "shape") and not isinstance(v, (np.ndarray, np.generic, float, complex))


#: The Dual class (set by ``bind``): what the argument scans below look for.
Dual = None


def bind(cls) -> None:
    """Name the Dual class the scans of arguments look for."""
    global Dual
    Dual = cls


def same_kind(primal, dot, like):
    """A Dual of ``like``'s type, level and directions (for nested tangents)."""
    return type(like)._new(primal, dot, like._level, like._k, like._single)


def _owned_dots(args, level, found):
    """Append to ``found`` the tangents of ``args`` at ``level`` that their Duals write in
    place; return ``found``."""
    for a in args:
        if isinstance(a, Dual):
            if a._level == level and getattr(a, "_owns", 0) > 0 and a._dot is not None:
                found.append(a._dot)
        elif type(a) in (list, tuple):
            _owned_dots(a, level, found)
    return found


def unshared(out_dot, args, level):
    """``out_dot``, copied if it shares memory with a tangent some Dual writes in place
    (copy-on-write: ``b = a + 0.0`` must not see a later ``a[1] = 0``)."""
    if out_dot is None or type(out_dot) in (float, complex):
        return out_dot
    owned = _owned_dots(args, level, [])
    if not owned:  # the common case: nothing among the arguments is written in place
        return out_dot
    if type(out_dot) in (list, tuple):
        return type(out_dot)(unshared(d, args, level) for d in out_dot)
    root = memory_root(out_dot)
    for d in owned:
        if d is out_dot or (root is not None and memory_root(d) is root):
            return copy_tree(out_dot, same_kind)
    return out_dot


def view_source(out, args, level):
    """The Dual among ``args`` (at ``level``) whose memory ``out`` shares, or None."""
    root = memory_root(out)
    if root is None:
        return None
    for a in args:
        if isinstance(a, Dual) and a._level == level:
            if memory_root(a._p) is root:
                return a
        elif type(a) in (list, tuple):
            src = view_source(out, a, level)
            if src is not None:
                return src
    return None


def any_view(out, args, level) -> bool:
    if isinstance(out, Dual):
        return view_source(out, args, level) is not None
    return any(
        view_source(o, args, level) is not None for o in out if isinstance(o, (np.ndarray, Dual))
    )


def view_dual(src, out, rule_dot, level, k, single, cls):
    """The Dual for ``out``, a view of ``src``'s primal: its tangent views ``src``'s.

    ``rule_dot(t)`` is the rule's tangent, with ``src``'s tangent replaced by ``t`` when
    given. It serves where no write can happen (a view of an input), where the alias cannot be
    followed (then source and view are frozen), and as the fast path: on a mirrored tangent a
    structural rule's own result is the aliasing view when it lands on the same memory with the
    view's strides; otherwise the view is built from byte offsets (dualad._alias).
    """
    owns = src._owns
    if owns == INPUT:
        res = cls._new(out, rule_dot(), level, k, single)
        res._owns = INPUT
        return res
    p_src, p_out = innermost(src._p), innermost(out)
    if owns == FROZEN or foreign(p_src) or not is_mirrorable(src._dot_array()):
        return _frozen(src, out, rule_dot(), level, k, single, cls)
    if owns != MIRRORED:
        if not (owns is True and aligned(src._dot, p_src)):  # a fresh tangent serves as it is
            src._dot = mirror(src, p_src, same_kind)
        src._owns, src._pk = MIRRORED, None
    t = src._dot
    dot = rule_dot(t) if type(t) is np.ndarray and type(p_out) is np.ndarray else None
    if not _lands(dot, t, p_out):
        shift, half = view_offset(p_out, p_src), None
        if shift is None:  # perhaps src.real or src.imag (or a view of one)
            shift, half = half_offset(p_out, p_src) or (None, None)
        if shift is None:
            return _frozen(src, out, rule_dot(), level, k, single, cls)
        dot = view_tangent(t, shift, p_out, 1, same_kind, half)
    res = cls._new(out, dot, level, k, single)
    res._owns = MIRRORED
    return res


def _lands(dot, t, p_out) -> bool:
    """True if ``dot`` is a view of the mirrored tangent ``t`` laid out as ``p_out``."""
    if type(dot) is not np.ndarray or dot.shape[1:] != p_out.shape or dot.base is None:
        return False
    isz, psz = dot.itemsize, p_out.itemsize
    if any(s % psz for s in p_out.strides):
        return False
    return dot.strides[1:] == tuple(s // psz * isz for s in p_out.strides) and (
        memory_root(dot) is memory_root(t)
    )


def _frozen(src, out, dot, level, k, single, cls):
    src._owns = FROZEN  # neither this view nor its source may be written from now on
    res = cls._new(out, dot, level, k, single)
    res._owns = FROZEN
    return res


def view(src, out, rule, dots, primals, args, kwargs, level, k, single, cls):
    """``out`` is a view of ``src``: a Dual whose tangent is the same view of src's tangent."""
    if out.dtype.kind not in "fc":
        return out

    def rule_dot(t=None):
        ds = dots
        if t is not None:
            ds = [t if a is src else d for a, d in zip(args, dots)]
        if all(d is None for d in ds):
            return None
        return rule.jvp(tuple(ds), out, *primals, **kwargs)

    return view_dual(src, out, rule_dot, level, k, single, cls)


def views(out, rule, dots, primals, args, kwargs, level, k, single, cls):
    """Results holding views (np.split, nested levels): each view element aliases its source."""
    out_dot = None
    if any(d is not None for d in dots):
        out_dot = rule.jvp(tuple(dots), out, *primals, **kwargs)
    if isinstance(out, Dual) or type(out) is np.ndarray:
        src = view_source(out, args, level)
        return view_dual(src, out, lambda t=None: out_dot, level, k, single, cls)
    items = []
    for i, o in enumerate(out):
        d = None if out_dot is None else out_dot[i]
        src = view_source(o, args, level) if isinstance(o, (np.ndarray, Dual)) else None
        if src is not None and differentiable(o):
            items.append(view_dual(src, o, lambda t=None, d=d: d, level, k, single, cls))
        else:
            items.append(wrap(o, unshared(d, args, level), level, k, single, cls))
    return type(out)(items)


def wrap(out, out_dot, level, k, single, cls):
    if type(out) in (tuple, list) or (isinstance(out, tuple) and hasattr(out, "_fields")):
        dots = out_dot if out_dot is not None else (None,) * len(out)
        items = [wrap(o, d, level, k, single, cls) for o, d in zip(out, dots)]
        return type(out)(*items) if hasattr(out, "_fields") else type(out)(items)
    if not differentiable(out):
        return out
    return cls._new(out, out_dot, level, k, single)

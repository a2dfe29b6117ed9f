"""Alias groups: Variables that share memory, as NumPy views do.

Tape values are never written in place (records keep them), so a write through any member
of a group is a functional update of its root, and every live view is made again from the
new root (``AliasGroup``). ``track_views`` puts the results of a recorded call that are
views of an argument into that argument's group; a watched input's views join a group that
refuses writes. PyTorch's view tracking is the model. Imports numpy and dualad only; the
Variable class and the recorder come in as arguments (tape.variable calls in here).
"""

from __future__ import annotations

import contextvars
import warnings
import weakref

from dualad import _tags
from dualad._alias import memory_root
from dualad._numpy import np
from dualad._ops import strip
from dualad._tags import Leveled
from dualad.rules._define import getitem

from . import record as _record_module


def rebind(v, new) -> None:
    """Make ``v`` stand for the node ``new`` (a Variable) or the constant ``new``.

    Records made before hold ``v`` itself and the id of its node then. A tape keeps those
    nodes' records in its list; with no tape (``Variable`` and ``backward``), ``v`` keeps
    them (``_past``) so that ``backward``'s graph walk still finds them.
    """
    if v._tape is None and (v._record is not None or v.requires_grad):
        past = getattr(v, "_past", None)
        old = snapshot(v)
        if old is v:  # a user's own leaf (written in place: Variable.__setitem__ refuses)
            pass
        elif past is None:
            v._past = [old]
            _record_module.PAST_KEPT = True
        else:
            past.append(old)
    if isinstance(new, type(v)):
        v._value, v._record, v._id, v._tape = new._value, new._record, new._id, new._tape
        rec = v._record
        if rec is None:  # a constant written into a constant: a constant
            return
        v.requires_grad = True  # (a constant that takes a recorded value, as in PyTorch)
        ids = rec.out_ids
        if len(ids) == 1:
            rec.bind_one(v)
        else:  # one output of several (np.split): name v for that one only
            refs = list(rec.out_refs)
            refs[ids.index(v._id)] = weakref.ref(v)
            rec.out_refs = tuple(refs)
    else:
        v.value = new


class AliasGroup:
    """Variables that share memory, as NumPy views do: a root and its views.

    Tape values are never written in place (records keep them), so a write through any member
    becomes a functional update of the root at the member's element positions (``idx``: flat
    indices into the root, computed by running the view function on an index array), and
    every live view is then made again from the new root. PyTorch's view tracking (a view
    knows its base; an in-place write rebases the graph) is the model.

    NumPy decides view-or-copy from memory layout (``v.ravel()`` copies a strided view), so
    the root's new value is laid out as the old one and each view is made again the way it was
    made (``_view``): by replaying its view function on its (already remade) source, or, for a
    view of a promoted buffer, at its byte offset and strides. Values and layouts are then
    NumPy's own, at every nesting level.

    ``z.real`` and ``z.imag`` of a complex root are views onto half of each element: such a
    member (and every view of it) has the root positions of its elements in ``idx`` and its
    half in ``parts`` (np.real or np.imag); a write through it replaces that half only.
    """

    __slots__ = ("index", "members", "parts", "root")

    def __init__(self, root):
        self.root = root
        shape = np.shape(strip(root))
        self.index = np.arange(int(np.prod(shape, dtype=np.int64))).reshape(shape)
        self.members: dict[int, weakref.ref] = {}  # Variables are unhashable: by id
        self.parts: dict[int, object] = {}  # members that are one half of complex elements
        root._alias, root._idx, root._view = self, None, None

    def write(self, member, key, value, record) -> None:
        """Write ``value`` at ``key`` of ``member``: a functional update of the root, recorded
        with ``record`` (tape.variable's), then every live view made again."""
        from dualad.rules.update import Distinct, index_update

        root = self.root
        views = [v for v in (r() for r in list(self.members.values())) if v is not None]
        if any(v._idx is None for v in views):
            raise NotImplementedError(
                "this write would reach a view that dualad cannot follow; write into a copy "
                "instead: y = np.copy(x); y[key] = value"
            )
        level = root._level
        if member is not root:
            if not member._idx.flags.writeable:
                raise ValueError("assignment destination is read-only")
            pos = member._idx[key]
            key = np.unravel_index(pos, self.index.shape)
            # a view's positions are distinct, but an advanced key may name one twice
            # (v[[0, 0]] = ...): then the last write wins and index_update's rule must mask
            if np.size(pos) < 2 or np.unique(pos).size == np.size(pos):
                key = Distinct(key)
            part = self.parts.get(id(member))
            if part is not None:
                value = _with_part(snapshot(root), tuple(key), value, part, level, record)
        rebind(root, record(index_update, (snapshot(root), key, value), {}, level))
        token = _REPLAYING.set(True)
        try:
            for v in views:  # in creation order: a view's source is remade before it
                rebind(v, self._remake(v, level, record))
        finally:
            _REPLAYING.reset(token)

    def _remake(self, v, level: int, record):
        how = v._view
        if how[0] == "replay":
            _, source, func, j, vals, kwargs, i = how
            args = list(vals)
            args[j] = snapshot(source)
            new = record(func, tuple(args), kwargs, level)
            return new if i is None else new[i]
        flat = np.reshape(snapshot(self.root), -1)  # a view of a promoted buffer
        new = record(getitem, (flat, v._idx), {}, level)
        part = self.parts.get(id(v))
        if part is not None:
            new = record(part, (new,), {}, level)
        if how[0] == "strided":
            _, start, strides = how
            new._value = at(self.root._value, v._idx.shape, start, strides, part)  # same values
        return new

    def join(self, view, idx, how, part=None) -> None:
        view._alias, view._idx, view._view = self, idx, how
        key, members, parts = id(view), self.members, self.parts

        def gone(_):
            members.pop(key, None)
            parts.pop(key, None)

        members[key] = weakref.ref(view, gone)
        if part is not None:
            parts[key] = part
        else:
            parts.pop(key, None)

    def part(self, member):
        """np.real or np.imag if ``member`` is one half of the root's complex elements."""
        return None if member is self.root else self.parts.get(id(member))


def _with_part(old, key, value, part, level, record):
    """The elements ``old[key]`` (complex) with their ``part`` (np.real or np.imag) set to
    ``value`` and the other half kept, recorded: what NumPy's write through ``z.real[...]``
    or ``z.imag[...]`` leaves in ``z``."""
    token = _REPLAYING.set(True)  # intermediate values: no alias groups for them
    try:
        if getattr(value, "dtype", np.dtype(float)).kind == "c":  # NumPy keeps the real part
            warnings.warn(
                "Casting complex values to real discards the imaginary part",
                np.exceptions.ComplexWarning,
                stacklevel=4,
            )
            leveled = isinstance(value, Leveled)
            value = record(np.real, (value,), {}, level) if leveled else np.real(value)
        cur = record(getitem, (old, key), {}, level)
        if part is np.real:
            keep = record(np.imag, (cur,), {}, level)
            return record(np.add, (value, record(np.multiply, (1j, keep), {}, level)), {}, level)
        keep = record(np.real, (cur,), {}, level)
        return record(np.add, (keep, record(np.multiply, (1j, value), {}, level)), {}, level)
    finally:
        _REPLAYING.reset(token)


#: Set while an alias group remakes its views: those records make no new members.
_REPLAYING: contextvars.ContextVar[bool] = contextvars.ContextVar("replaying", default=False)


def at(base: np.ndarray, shape, start: int, strides, part=None):
    """The view of ``base`` at byte offset ``start`` with ``strides`` (read-only); with
    ``part`` (np.real or np.imag of a complex ``base``), the view of that half of the elements
    there."""
    root = base
    while isinstance(root.base, np.ndarray):
        root = root.base
    offset = base.__array_interface__["data"][0] - root.__array_interface__["data"][0] + start
    dtype = base.dtype if part is None else part(base[:0]).dtype
    if part is np.imag:  # (``start``: the byte offset of the whole complex element)
        offset += dtype.itemsize
    out = np.ndarray(shape, dtype, buffer=root, offset=offset, strides=strides)
    out.flags.writeable = False  # tape values are never written in place
    return out


class _InputViews:
    """The alias group of a watched input or leaf that requires grad: never written.

    Its views need no element positions: a write through any of them raises, as a write into
    the input itself does (gradients are taken at the input's original value).
    """

    __slots__ = ()

    def write(self, member, key, value, record=None) -> None:
        raise RuntimeError(
            "cannot assign into a view of a watched input or of a leaf Variable that requires "
            "grad: gradients are taken with respect to its original value. Assign into a copy "
            "instead: y = np.copy(x); y[key] = value"
        )

    def join(self, view, idx, how=None) -> None:
        view._alias, view._idx = self, None


_INPUT_VIEWS = _InputViews()


def freeze_foreign(func, args, outs, level, cls) -> None:
    """Another backend's result of a function that may return a view (see
    dualad._views.MAY_VIEW) joins its source's alias group as a member that cannot be
    followed: a write into either then raises instead of reaching one and not the other."""
    from dualad._views import MAY_VIEW, foreign

    if func not in MAY_VIEW or _REPLAYING.get():
        return
    ws = (
        [outs]
        if isinstance(outs, cls)
        else [w for w in outs if isinstance(w, cls)]
        if type(outs) in (list, tuple)
        else []
    )
    for a in args:
        if not (isinstance(a, cls) and a._level == level):
            continue
        v = a._value
        if isinstance(v, Leveled) or not foreign(v):
            continue  # (NumPy's views are followed; a wrapper's, at its own level)
        group = getattr(a, "_alias", None)
        if group is None and a._record is None and a.requires_grad:
            group = a._alias = _INPUT_VIEWS
        group = group or AliasGroup(a)
        for w in ws:
            group.join(w, None, ("foreign",))


def track_views(func, args, vals, kwargs, out, outs, level, cls) -> None:
    """Put the Variables of ``outs`` that are views of an argument into its alias group."""
    if isinstance(outs, cls):
        pairs = [(out, outs, 0)]
    elif type(outs) in (list, tuple):
        pairs = [(o, w, i) for i, (o, w) in enumerate(zip(out, outs)) if isinstance(w, cls)]
    else:
        return
    if _REPLAYING.get():
        return  # a group remaking its views (they are members already)
    for j, a in enumerate(args):
        if not (isinstance(a, cls) and a._level == level):
            continue
        root = memory_root(vals[j])
        hits = [p for p in pairs if root is not None and memory_root(p[0]) is root]
        if not hits:
            continue
        group = getattr(a, "_alias", None)
        if group is None and a._record is None and a.requires_grad:
            group = a._alias = _INPUT_VIEWS
        if group is _INPUT_VIEWS:
            for _, w, _ in hits:
                group.join(w, None)
            continue
        group = group or AliasGroup(a)
        idx = group.index if a is group.root else a._idx
        if a is not group.root and a._view[0] == "gathered":
            idx = None  # NumPy's view-or-copy choice on a gathered copy is unknown: frozen
        part, rep = group.part(a), None
        if func in (np.real, np.imag) and getattr(vals[j], "dtype", np.dtype(float)).kind == "c":
            part, rep = func, idx  # half of each element, at the same positions (see write)
        elif idx is not None:
            try:  # the same view of the root's element positions
                rep = func(*[idx if i == j else v for i, v in enumerate(vals)], **kwargs)
            except Exception:  # noqa: BLE001 - any failure: the alias cannot be followed
                rep = None
        single = isinstance(outs, cls)
        vals = tuple(vals)
        for o, w, i in hits:
            r = rep if single else (rep[i] if rep is not None else None)
            ok = isinstance(r, np.ndarray) and r.shape == np.shape(strip(w))
            how = ("replay", a, func, j, vals, kwargs, None if single else i)
            group.join(w, r if ok and r.dtype.kind in "iu" else None, how, part)


def snapshot(v):
    """A Variable standing for ``v``'s current node (``v`` itself is about to be rebound)."""
    if v._record is None and v._tape is None and v._level == _tags.GRAPH_LEVEL:
        return v
    s = type(v)._new(v._value, v._level, v._record, v._tape)
    s._id = v._id
    s.requires_grad = v.requires_grad
    return s


def strided_view(w, rp: np.ndarray, bp: np.ndarray, record):
    """The Variable for ``bp``, a plain view into the memory ``rp`` whose values ``w`` holds
    (a view of a promoted buffer, see dualad._buffer): a recorded gather of ``w``'s element
    positions, laid out as NumPy lays out ``bp``, and a member of ``w``'s alias group."""
    group = getattr(w, "_alias", None) or AliasGroup(w)
    isz = rp.itemsize
    start = bp.__array_interface__["data"][0] - rp.__array_interface__["data"][0]
    part = None
    if bp.dtype != rp.dtype:  # bp.real or bp.imag of a complex buffer (or a view of one)
        half = bp.dtype.kind == "f" and rp.dtype.kind == "c" and 2 * bp.itemsize == isz
        if not half or any(s % isz for s in bp.strides):
            raise NotImplementedError(
                "a view of this buffer with another dtype cannot be followed; write into a "
                "copy instead: y = np.copy(x); y[key] = value"
            )
        part = np.imag if start % isz else np.real
    shift = start // isz
    flat = group.index.reshape(-1)
    step = flat.itemsize
    idx = np.lib.stride_tricks.as_strided(
        flat[shift:], shape=bp.shape, strides=tuple(s // isz * step for s in bp.strides)
    ).copy()
    if not bp.flags.writeable:
        idx.flags.writeable = False
    vw = record(getitem, (np.reshape(w, -1), idx), {}, w._level)
    if part is not None:
        vw = record(part, (vw,), {}, w._level)
    if type(w._value) is np.ndarray:  # NumPy's layout for the view
        vw._value = at(w._value, bp.shape, start - start % isz, bp.strides, part)
        group.join(vw, idx, ("strided", start - start % isz, bp.strides), part)
    else:
        group.join(vw, idx, ("gathered",), part)
    return vw

"""``Variable``: an array that records every NumPy operation on it.

Both NumPy hooks look the function up in ``dualad.rules`` (the same table forward mode
uses), run it on the values and append a ``Record``. Standalone Variables (PyTorch style)
share one graph level; Variables made by ``Tape.watch`` belong to that tape's level, so
tapes nest like Dual tags. Imports dualad.rules, dualad._tags, dualad._ops and forward mode's
scalar kernels (dualad._scalar) only.
"""

from __future__ import annotations

import contextvars
import operator
import weakref

from dualad import _tags
from dualad._alias import maybe_view, memory_root
from dualad._backend import as_float_leaf
from dualad._numpy import np
from dualad._ops import (
    IN_PLACE,
    ArrayOps,
    _binary,
    _nested,
    bind_kwargs,
    block,
    complex_refused,
    differentiable,
    is_complex,
    rows_of_one,
    strip,
    write_out,
)
from dualad._scalar import BINARY_KERNELS, KERNELS, np_log, np_pow, numpy_power
from dualad._scalar import OUT as _OUT
from dualad._tags import Leveled, call_level, top_level
from dualad.rules import COMPOSITES, PRIMAL_ONLY, RULES, lookup, ufunc_method_target
from dualad.rules._define import NEG, ONE, getitem
from dualad.rules.elementwise import astype

from .record import SWEEP_PARTIALS, ItemRecord, Record, ScalarRecord, _ids
from .sweep import graph, sweep

_F64 = np.float64


class Variable(ArrayOps):
    """An array whose operations are recorded for reverse-mode differentiation.

    Parameters
    ----------
    value : array_like
        The value; integers are differentiated as float64.
    requires_grad : bool
        Whether ``backward()`` should fill ``.grad`` for this Variable.

    Examples
    --------
    >>> import numpy as np, tape
    >>> x = tape.Variable(np.array([1.0, 2.0]), requires_grad=True)
    >>> (x * x).sum().backward()
    >>> x.grad
    array([2., 4.])
    """

    __slots__ = (
        "__weakref__",
        "_alias",
        "_id",
        "_idx",
        "_level",
        "_record",
        "_tape",
        "_value",
        "_view",
        "grad",
        "requires_grad",
    )  # fmt: skip
    __array_priority__ = 2000
    __hash__ = None

    def __init__(self, value, requires_grad: bool = True):
        if isinstance(value, Variable):
            value = value.value
        if type(value) is float:  # Variable(0.5): the scalar records' form, as np.float64
            value = _F64(value)
        if not isinstance(value, (Leveled, np.ndarray, np.generic)) and not hasattr(
            value, "__array_function__"
        ):
            value = as_float_leaf(value) if requires_grad else np.asarray(value)
        kind = getattr(value, "dtype", np.dtype(float)).kind
        if kind in "biu":
            value = value.astype(np.float64)
        elif kind == "c" and requires_grad:
            raise complex_refused("a Variable's value")
        self._value = float(value) if type(value) is _F64 else value
        self._level = _tags.GRAPH_LEVEL
        self._record = None
        self._tape = None
        self.requires_grad = bool(requires_grad)
        self.grad = None
        self._id = next(_ids)

    @classmethod
    def _new(cls, value, level, record, tp) -> Variable:
        v = object.__new__(cls)
        v._value, v._level, v._record, v._tape = value, level, record, tp
        v.requires_grad, v.grad, v._id = True, None, next(_ids)
        return v

    # The operator fast path keeps 0-d float64 values as Python floats (``_value``); readers
    # get them back as np.float64, so ``.value`` reads as it always did.
    @property
    def value(self):
        """The value: an array, a NumPy scalar, or a lower-level wrapper (nested tapes)."""
        v = self._value
        return _F64(v) if type(v) is float else v

    @value.setter
    def value(self, v) -> None:
        self._value = v

    def _unwrap(self):
        v = self._value
        return _F64(v) if type(v) is float else v

    def _apply(self, func, args, kwargs, level):
        return record(func, args, kwargs, level)

    def __repr__(self) -> str:
        return f"Variable({self.value!r}, requires_grad={self.requires_grad})"

    # -- PyTorch-style API ----------------------------------------------------------------
    @property
    def is_leaf(self) -> bool:
        """True for Variables the user made (not results of operations)."""
        return self._record is None

    @property
    def id(self) -> int:
        """This value's node id in the graph (a record's ``out_ids`` name its outputs by it;
        item assignment makes a new node, so the id changes).

        >>> import tape
        >>> x = tape.Variable(2.0); y = x * x
        >>> y.id > x.id
        True
        """
        return self._id

    @property
    def level(self) -> int:
        """The nesting level of this Variable (its tape's; higher levels unwrap first)."""
        return self._level

    def backward(self, gradient=None, create_graph: bool = False, retain_graph=None) -> None:
        """Accumulate d(self)/d(leaf) into ``.grad`` of every leaf that requires grad.

        ``gradient`` is the cotangent (needed unless ``self`` is a scalar). With
        ``create_graph=True`` the sweep itself is recorded, so ``.grad`` can be
        differentiated again; the graph is freed unless ``retain_graph`` or ``create_graph``.

        >>> import numpy as np, tape
        >>> x = tape.Variable(np.array([1.0, 2.0]))
        >>> np.sum(x ** 3).backward(); x.grad
        array([ 3., 12.])
        """
        value = self.value
        shape = np.shape(value)
        if gradient is None:
            if shape != ():
                raise ValueError(
                    f"backward() on a value of shape {shape} needs a cotangent: pass "
                    "gradient=array of that shape, or reduce to a scalar first (e.g. y.sum())"
                )
            seed = _F64(1.0) if type(value) is _F64 else np.ones_like(value, shape=(1,))
        else:
            g = gradient.value if isinstance(gradient, Variable) and not create_graph else gradient
            if np.shape(g) != shape:
                raise ValueError(f"gradient shape {np.shape(g)} differs from output shape {shape}")
            seed = np.reshape(g, (1,) + tuple(shape))
        if self._record is None:
            leaves = [self] if self.requires_grad else []
            bars = [seed]
        else:
            recs, leaves = graph(self)
            release = not (create_graph or retain_graph)
            bars = sweep(
                [self], [seed], leaves, create_graph=create_graph, release=release, records=recs
            )
        for leaf, b in zip(leaves, bars):
            if b is None:
                continue
            g = b[0, ...]  # a 0-d input gets a 0-d array, as in forward mode
            leaf.grad = g if leaf.grad is None else leaf.grad + g

    def zero_grad(self) -> None:
        """Forget the accumulated ``.grad``.

        >>> import numpy as np, tape
        >>> x = tape.Variable(np.array(2.0)); (x * x).backward(); x.zero_grad(); x.grad is None
        True
        """
        self.grad = None

    def detach(self) -> Variable:
        """A new leaf Variable with the same value and no history.

        >>> import numpy as np, tape
        >>> x = tape.Variable(np.array(2.0)); (x * x).detach().requires_grad
        False
        """
        return Variable(self.value, requires_grad=False)

    def numpy(self):
        """The plain value (as ``.value``); the derivative is not tracked from here.

        >>> import numpy as np, tape
        >>> tape.Variable(np.array([1.0])).numpy()
        array([1.])
        """
        return strip(self)

    def astype(self, dtype, copy=True):
        """Cast to another float dtype (an int dtype would drop the derivative: TypeError).

        >>> import numpy as np, tape
        >>> tape.Variable(np.array([1.0])).astype(np.float32).value.dtype
        dtype('float32')
        """
        dt = np.dtype(dtype)
        if dt.kind not in "fc":
            raise TypeError(f"astype({dt}) would drop the derivative of a Variable; use .value")
        return record(astype, (self, dt), {}, self._level)

    # + - * / and their reflections are set below the class by _operator and _reflected

    # -- NumPy hooks ----------------------------------------------------------------------
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if method == "__call__" and not kwargs:
            fast = _FAST_UFUNCS.get(ufunc)  # np.sin(d), np.maximum(d, 0.0) on Python floats
            if fast is not None:
                res = fast(*inputs)
                if res is not None:
                    return res
        out = kwargs.pop("out", None)
        level, owner = top_level(inputs if out is None else inputs + tuple(out))
        if not isinstance(owner, Variable):
            return NotImplemented
        if method == "__call__":
            if kwargs.pop("where", True) is not True:
                raise NotImplementedError(
                    f"numpy.{ufunc.__name__}(..., where=...) is not differentiable here: "
                    "use np.where(mask, ..., other)"
                )
            res = record(ufunc, inputs, kwargs, level)
        else:
            func, args, kw = ufunc_method_target(ufunc, method, inputs, kwargs)
            res = record(func, args, kw, level)
        return res if out is None else write_out(ufunc, out, res)  # a functional write

    def __array_function__(self, func, types, args, kwargs):
        level, owner = call_level(args, kwargs)
        if not isinstance(owner, Variable):
            return NotImplemented
        if func is np.block and args and _nested(args[0]):
            return block(*args, **kwargs)
        rows = rows_of_one(func, args)
        if rows is not None:  # np.vstack(x) of one array: NumPy iterates it
            return func(*rows, **kwargs)
        writer = IN_PLACE.get(func)
        if writer is not None:  # copyto, put, ...: item assignments into a buffer
            return writer(*args, **kwargs)
        restated = COMPOSITES.get(func)
        if restated is not None:  # np.linspace, np.polyval, ...: run on the wrappers
            return restated(*args, **kwargs)
        if "out" in kwargs:
            kwargs = dict(kwargs)
            out = kwargs.pop("out")
            res = record(func, args, kwargs, level)
            return res if out is None else write_out(func, (out,), res)
        return record(func, args, kwargs, level)

    def __getitem__(self, key):
        v = self._value
        if (
            type(v) is np.ndarray
            and (type(key) is int or type(key) in _INT_SCALARS)
            and v.ndim == 1
            and v.dtype is _F64_DTYPE
            and (self.requires_grad or self._record is not None)
        ):  # x[i] of a vector, the scalar-program idiom: see "the item fast path" below
            tp = self._tape
            if tp is None or not tp._closed:  # a closed tape: the generic path explains
                out = v[key]  # NumPy's IndexError for an index out of range
                i = int(key)
                rec = _NEW(ItemRecord)
                rec.id = vid = next(_ids)
                rec.rule = _GETITEM
                rec.args = (v, key)
                rec.inputs = [(_P0, self, self._id)]
                rec.arg_vars = (self, key)
                rec.out = out
                rec.out_ids = (vid,)
                rec.index = i if i >= 0 else i + v.shape[0]
                return _scalar_output(rec, vid, float(out), self._level, tp)
        return record(getitem, (self, key), {}, self._level)

    def __setitem__(self, key, value):
        """Functional update: ``self`` becomes a new node ``index_update(old, key, value)``.

        A Variable sharing memory with others (a view, or the base of views) writes through
        its alias group instead, so every alias sees the write as in NumPy (see ``_Alias``).
        """
        from dualad.rules.update import index_update

        group = getattr(self, "_alias", None)
        if group is not None:
            group.write(self, key, value)
            return
        if self._record is None and self.requires_grad:
            # Rebinding a leaf would make later gradients refer to the new node instead of
            # the input (silently wrong); PyTorch refuses this too.
            raise RuntimeError(
                "cannot assign into a watched input or a leaf Variable that requires grad: "
                "gradients are taken with respect to its original value. Assign into a copy "
                "instead: y = np.copy(x); y[key] = value"
            )
        new = record(index_update, (_snapshot(self), key, value), {}, self._level)
        if isinstance(new, Variable):
            self._value, self._record, self._id = new._value, new._record, new._id
            self._record.bind_outputs((self,))
        else:
            self.value = new


def _rebind(v: Variable, new) -> None:
    """Make ``v`` stand for the node ``new`` (a Variable) or the constant ``new``."""
    if isinstance(new, Variable):
        v._value, v._record, v._id, v._tape = new._value, new._record, new._id, new._tape
        rec = v._record
        ids = rec.out_ids
        if len(ids) == 1:
            rec.bind_one(v)
        else:  # one output of several (np.split): name v for that one only
            refs = list(rec.out_refs)
            refs[ids.index(v._id)] = weakref.ref(v)
            rec.out_refs = tuple(refs)
    else:
        v.value = new


class _Alias:
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
    """

    __slots__ = ("index", "members", "root")

    def __init__(self, root: Variable):
        self.root = root
        shape = np.shape(strip(root))
        self.index = np.arange(int(np.prod(shape, dtype=np.int64))).reshape(shape)
        self.members: dict[int, weakref.ref] = {}  # Variables are unhashable: by id
        root._alias, root._idx, root._view = self, None, None

    def write(self, member: Variable, key, value) -> None:
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
            key = Distinct(np.unravel_index(member._idx[key], self.index.shape))
        _rebind(root, record(index_update, (_snapshot(root), key, value), {}, level))
        token = _REPLAYING.set(True)
        try:
            for v in views:  # in creation order: a view's source is remade before it
                _rebind(v, self._remake(v, level))
        finally:
            _REPLAYING.reset(token)

    def _remake(self, v: Variable, level: int):
        how = v._view
        if how[0] == "replay":
            _, source, func, j, vals, kwargs, i = how
            args = list(vals)
            args[j] = _snapshot(source)
            new = record(func, tuple(args), kwargs, level)
            return new if i is None else new[i]
        flat = np.reshape(_snapshot(self.root), -1)  # a view of a promoted buffer
        new = record(getitem, (flat, v._idx), {}, level)
        if how[0] == "strided":
            _, start, strides = how
            new._value = _at(self.root._value, v._idx.shape, start, strides)  # same values
        return new

    def join(self, view: Variable, idx, how) -> None:
        view._alias, view._idx, view._view = self, idx, how
        key, members = id(view), self.members
        members[key] = weakref.ref(view, lambda _: members.pop(key, None))


#: Set while an alias group remakes its views: those records make no new members.
_REPLAYING: contextvars.ContextVar[bool] = contextvars.ContextVar("replaying", default=False)


def _at(base: np.ndarray, shape, start: int, strides):
    """The view of ``base`` at byte offset ``start`` with ``strides`` (read-only)."""
    root = base
    while isinstance(root.base, np.ndarray):
        root = root.base
    offset = base.__array_interface__["data"][0] - root.__array_interface__["data"][0] + start
    out = np.ndarray(shape, base.dtype, buffer=root, offset=offset, strides=strides)
    out.flags.writeable = False  # tape values are never written in place
    return out


class _InputViews:
    """The alias group of a watched input or leaf that requires grad: never written.

    Its views need no element positions: a write through any of them raises, as a write into
    the input itself does (gradients are taken at the input's original value).
    """

    __slots__ = ()

    def write(self, member, key, value) -> None:
        raise RuntimeError(
            "cannot assign into a view of a watched input or of a leaf Variable that requires "
            "grad: gradients are taken with respect to its original value. Assign into a copy "
            "instead: y = np.copy(x); y[key] = value"
        )

    def join(self, view, idx, how=None) -> None:
        view._alias, view._idx = self, None


_INPUT_VIEWS = _InputViews()


def _track_views(func, args, vals, kwargs, out, outs, level) -> None:
    """Put the Variables of ``outs`` that are views of an argument into its alias group."""
    if isinstance(outs, Variable):
        pairs = [(out, outs, 0)]
    elif type(outs) in (list, tuple):
        pairs = [(o, w, i) for i, (o, w) in enumerate(zip(out, outs)) if isinstance(w, Variable)]
    else:
        return
    if _REPLAYING.get():
        return  # a group remaking its views (they are members already)
    for j, a in enumerate(args):
        if not (isinstance(a, Variable) and a._level == level):
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
        group = group or _Alias(a)
        idx = group.index if a is group.root else a._idx
        if a is not group.root and a._view[0] == "gathered":
            idx = None  # NumPy's view-or-copy choice on a gathered copy is unknown: frozen
        rep = None
        if idx is not None:
            try:  # the same view of the root's element positions
                rep = func(*[idx if i == j else v for i, v in enumerate(vals)], **kwargs)
            except Exception:  # noqa: BLE001 - any failure: the alias cannot be followed
                rep = None
        single = isinstance(outs, Variable)
        vals = tuple(vals)
        for o, w, i in hits:
            r = rep if single else (rep[i] if rep is not None else None)
            ok = isinstance(r, np.ndarray) and r.shape == np.shape(strip(w))
            how = ("replay", a, func, j, vals, kwargs, None if single else i)
            group.join(w, r if ok and r.dtype.kind in "iu" else None, how)


def _snapshot(v: Variable) -> Variable:
    """A Variable standing for ``v``'s current node (``v`` itself is about to be rebound)."""
    if v._record is None and v._tape is None and v._level == _tags.GRAPH_LEVEL:
        return v
    s = Variable._new(v._value, v._level, v._record, v._tape)
    s._id = v._id
    s.requires_grad = v.requires_grad
    return s


# -- recording ------------------------------------------------------------------------------


def _split(args, level):
    """Raw values, cotangent targets and the owning tape of ``args`` at ``level``."""
    vals, inputs, needs, tp = [], [], [], None
    for i, a in enumerate(args):
        if isinstance(a, Variable) and a._level == level:
            v = a._value
            vals.append(_F64(v) if type(v) is float else v)
            tp = tp or a._tape
            want = a.requires_grad or a._record is not None
            needs.append(want)
            if want:
                inputs.append(((i,), a, a._id))
        elif type(a) in (list, tuple) and any(
            isinstance(b, Variable) and b._level == level for b in a
        ):
            vs, ns = [], []
            for j, b in enumerate(a):
                if isinstance(b, Variable) and b._level == level:
                    vs.append(b.value)
                    tp = tp or b._tape
                    want = b.requires_grad or b._record is not None
                    ns.append(want)
                    if want:
                        inputs.append(((i, j), b, b._id))
                else:
                    vs.append(b)
                    ns.append(False)
            vals.append(type(a)(vs))
            needs.append(tuple(ns))
        else:
            vals.append(a)
            needs.append(False)
    return vals, inputs, tuple(needs), tp


_SCALAR = frozenset({np.float64, float, int})
_SCALAR_OPS = {
    np.add: operator.add, np.subtract: operator.sub, np.multiply: operator.mul,
    np.divide: operator.truediv, np.power: operator.pow, np.negative: operator.neg,
}  # fmt: skip


_PATHS = ((0,), (1,), (2,))  # shared argument paths: one less allocation per record


def _scalar_record(rule, func, args, level):
    """Fast path: an elementwise rule on float64 scalars (scalar loops). None if n/a.

    Allocates as few objects as it can: long scalar loops are dominated by per-record
    overhead and the garbage collector's passes over what stays alive.
    """
    vals, inputs, tp = [], [], None
    for i, a in enumerate(args):
        if type(a) in _SCALAR:
            vals.append(a)
            continue
        if type(a) is not Variable or a._level != level:
            return None
        v = a._value
        if type(v) is float:
            v = _F64(v)  # NumPy functions see the 0-d float64 they always saw
        elif type(v) is not _F64:
            return None
        vals.append(v)
        tp = tp or a._tape
        if a.requires_grad or a._record is not None:
            inputs.append((_PATHS[i], a, a._id))
    if not inputs:
        return None
    if tp is not None and tp._closed:
        return None  # the generic path raises the explanation
    op = _SCALAR_OPS.get(func)
    if func is np.power and type(args[1]) is not Variable:
        op = None  # a constant exponent: np.power rounds it as on arrays (numpy_power)
    out = op(*vals) if op is not None else func(*vals)
    if type(out) is not np.float64:
        return None
    return _push_scalar(rule, func, tuple(vals), inputs, args, out, level, tp)


def _push_scalar(rule, func, vals, inputs, args, out, level, tp):
    """Append a scalar record and return the Variable for its output."""
    # needs=None: a vjp then computes every cotangent, harmless for scalars
    rec = Record(rule, func, vals, _NO_KWARGS, inputs, args, out, None)
    if tp is not None:
        tp._records.append(rec)
    v = Variable._new(out, level, rec, tp)
    rec.bind_one(v)
    return v


_NO_KWARGS: dict = {}  # shared, never mutated


# -- the operator fast path: a (+ - * /) b on Python floats -------------------------------------
# A 0-d float64 operand computes as a Python float (~10x cheaper than a NumPy scalar) and its
# result Variable keeps the float (``_value``; ``.value`` still reads np.float64). Python's
# float operators are the IEEE operations NumPy's scalar loops perform, so values agree bit for
# bit; where Python would raise (x / 0) or a result is not finite (where NumPy may warn), the
# operation goes to NumPy instead. The sweep takes the partials from SWEEP_PARTIALS (the rule
# table's, multiply's as argument indices; see tape.record).

_NEW = object.__new__
_FALLBACK = (ArithmeticError, ValueError)
_ARITH = {np.add: operator.add, np.subtract: operator.sub, np.multiply: operator.mul,
          np.divide: operator.truediv}  # fmt: skip
_P0, _P1 = _PATHS[0], _PATHS[1]


def _none(ufunc, a, b):
    return None


def _operator(ufunc, fallback=_binary):
    """``self (op) o`` as a method: one ``ScalarRecord`` on Python floats, else ``fallback``.

    Takes a Variable with a 0-d float64 value and a Python/NumPy scalar or another such
    Variable of its level. Everything is inline: in scalar loops this is the whole per-operator
    cost of recording. ``fallback(ufunc, self, o)`` handles the rest (arrays, other levels,
    closed tapes, constants, x / 0 and results that are not finite).
    """
    pyop, rule, partials = _ARITH[ufunc], RULES[ufunc], SWEEP_PARTIALS[ufunc]

    def method(self, o):
        va, to = self._value, type(o)
        if type(va) is _F64:
            va = float(va)
        if type(va) is float:
            tp = self._tape
            if to is Variable:
                vb = o._value
                if type(vb) is _F64:
                    vb = float(vb)
                ok = type(vb) is float and o._level == self._level
                tp = tp or o._tape
            else:
                vb = float(o) if to is _F64 else o
                ok = to is float or to is int or to is _F64
            if ok and (tp is None or not tp._closed):
                if self.requires_grad or self._record is not None:
                    if to is Variable and (o.requires_grad or o._record is not None):
                        inputs = [(_P0, self, self._id), (_P1, o, o._id)]
                    else:
                        inputs = [(_P0, self, self._id)]
                elif to is Variable and (o.requires_grad or o._record is not None):
                    inputs = [(_P1, o, o._id)]
                else:
                    inputs = None
                try:
                    out = pyop(va, vb)
                except _FALLBACK:
                    inputs = None
                if inputs and not out - out:  # out - out: nan (true) for inf and nan
                    return _scalar_result(
                        rule, partials, (va, vb), inputs, (self, o), out, self, tp
                    )
        return fallback(ufunc, self, o)

    return method


def _scalar_result(rule, partials, args, inputs, arg_vars, out, src, tp) -> Variable:
    """The Variable for a scalar operator result ``out``, and its ScalarRecord on ``tp``."""
    # one store a line: tuple assignments of this length build and unpack a tuple
    rec = _NEW(ScalarRecord)
    rec.id = vid = next(_ids)
    rec.partials = partials
    rec.rule = rule
    rec.args = args
    rec.inputs = inputs
    rec.arg_vars = arg_vars
    rec.out = out
    rec.out_ids = (vid,)
    return _scalar_output(rec, vid, out, src._level, tp)


def _scalar_output(rec, vid: int, out: float, level: int, tp) -> Variable:
    """The Variable a scalar or item record ``rec`` produces, its record appended to ``tp``."""
    v = _NEW(Variable)
    v._value = out
    v._level = level
    v._record = rec
    v._tape = tp
    v.requires_grad = True
    v.grad = None
    v._id = vid
    if tp is not None:
        tp._records.append(rec)
    return v


# -- the item fast path: x[i] on a 1-D float64 vector ------------------------------------------
# Scalar programs read their inputs entry by entry. ``Variable.__getitem__`` records an int
# index into a plain float64 vector (a Variable that needs a derivative, on an open tape) as an
# ItemRecord (see tape.record) and gives a 0-d Variable holding a Python float, which the
# operator and kernel fast paths take from there. The value is read with NumPy's own
# indexing, so negative indices and the IndexError for one out of range are NumPy's. Nothing
# is cached per vector: item assignment rebinds the Variable to a new value, which the next
# read indexes.

_F64_DTYPE = np.dtype(np.float64)
_INT_SCALARS = frozenset(
    {np.int64, np.int32, np.int16, np.int8, np.uint64, np.uint32, np.uint16, np.uint8, np.intp}
)
_GETITEM = RULES[getitem]


def _reflected(ufunc, fallback=_binary):
    """``o (op) self`` for a scalar ``o`` on the left: ``Variable.__radd__`` and friends."""
    pyop, rule, partials = _ARITH[ufunc], RULES[ufunc], SWEEP_PARTIALS[ufunc]

    def method(self, o):
        va, to = self._value, type(o)
        if type(va) is _F64:
            va = float(va)
        if (
            type(va) is float
            and (to is float or to is int or to is _F64)
            and (self.requires_grad or self._record is not None)
        ):
            tp = self._tape
            if tp is None or not tp._closed:
                vb = float(o) if to is _F64 else o
                try:
                    out = pyop(vb, va)
                except _FALLBACK:
                    return fallback(ufunc, o, self)
                if not out - out:
                    inputs = [(_P1, self, self._id)]
                    return _scalar_result(
                        rule, partials, (vb, va), inputs, (o, self), out, self, tp
                    )
        return fallback(ufunc, o, self)

    return method


Variable.__add__, Variable.__radd__ = _operator(np.add), _reflected(np.add)
Variable.__sub__, Variable.__rsub__ = _operator(np.subtract), _reflected(np.subtract)
Variable.__mul__, Variable.__rmul__ = _operator(np.multiply), _reflected(np.multiply)
Variable.__truediv__, Variable.__rtruediv__ = _operator(np.divide), _reflected(np.divide)


# -- the kernel fast path: -d, abs(d), d ** c, np.sin(d), np.maximum(d, e) on Python floats ----
# Forward mode's scalar kernels (dualad._scalar) compute the value and its partials on floats,
# rounded as NumPy rounds them; a ScalarRecord keeps the partials themselves (floats, or the
# rule table's ONE/NEG), so the sweep only multiplies. Where a kernel raises (a domain error,
# an overflow, NaN for maximum) or a value or partial is not finite, the operation goes to
# NumPy instead, which warns as it always did, then or in the sweep.


#: Operands beyond this go to NumPy: a kernel's partial may square them (1 / (1 + x * x) for
#: arctan), and on Python floats that overflows silently where NumPy warns.
_BIG = 2.0**500


def _unary(ufunc, fallback=_binary):
    """``ufunc(self)`` for a ufunc of ``KERNELS`` (np.sin, np.negative, ...) as a method: one
    ``ScalarRecord`` on a Python float, else ``fallback(ufunc, self, None)``."""
    prim, part = KERNELS[ufunc]  # part(out, x): the rule table's own partial
    rule = RULES[ufunc]
    fixed = part is ONE or part is NEG  # -d and +d: the sweep negates or passes on

    def method(self):
        va = self._value
        if type(va) is _F64:
            va = float(va)
        if (
            type(va) is float
            and -_BIG < va < _BIG
            and (self.requires_grad or self._record is not None)
        ):
            tp = self._tape
            if tp is None or not tp._closed:
                try:
                    out = prim(va)
                    p = out if part is _OUT else part if fixed else part(out, va)
                except _FALLBACK:
                    return fallback(ufunc, self, None)
                if not out - out and (fixed or not p - p):  # x - x: nan (true) for inf, nan
                    inputs = [(_P0, self, self._id)]
                    return _scalar_result(rule, (p,), (va,), inputs, (self,), out, self, tp)
        return fallback(ufunc, self, None)

    return method


def _as_float(v):
    """A real scalar (np.float64, int) as a Python float, or None (NumPy's own path)."""
    if type(v) is _F64 or type(v) is int:
        try:
            return float(v)
        except OverflowError:  # an int too large: NumPy raises its own error
            return None
    return None


def _operands(a, b):
    """``(va, vb, inputs, src, tp)`` for a binary kernel: the float values of ``a`` and ``b``,
    the inputs that receive cotangents, the Variable whose level the result takes and the tape.
    None unless each operand is a real scalar or a float-valued Variable of one level (on an
    open tape), and one of them needs a derivative."""
    ta, tb = type(a), type(b)
    va = a._value if ta is Variable else a
    vb = b._value if tb is Variable else b
    if type(va) is not float and (va := _as_float(va)) is None:
        return None
    if type(vb) is not float and (vb := _as_float(vb)) is None:
        return None
    if not (-_BIG < va < _BIG and -_BIG < vb < _BIG):
        return None
    if ta is Variable:
        src, tp = a, a._tape
        inputs = [(_P0, a, a._id)] if a.requires_grad or a._record is not None else []
        if tb is Variable:
            if b._level != a._level:
                return None
            tp = tp or b._tape
            if b.requires_grad or b._record is not None:
                inputs.append((_P1, b, b._id))
    elif tb is Variable:
        src, tp = b, b._tape
        inputs = [(_P1, b, b._id)] if b.requires_grad or b._record is not None else None
    else:
        return None
    if not inputs or (tp is not None and tp._closed):
        return None
    return va, vb, inputs, src, tp


def _kernel2(ufunc, kernel):
    """``ufunc(a, b)`` with ``kernel(va, vb) -> (value, d/da, d/db)`` on floats: one
    ``ScalarRecord``, or None (the generic path)."""
    rule = RULES[ufunc]

    def method(a, b):
        ops = _operands(a, b)
        if ops is not None:
            va, vb, inputs, src, tp = ops
            try:
                out, pa, pb = kernel(va, vb)
            except _FALLBACK:
                return None
            if not (out - out or pa - pa or pb - pb):
                return _scalar_result(rule, (pa, pb), (va, vb), inputs, (a, b), out, src, tp)
        return None

    return method


# Powers, rounded as the array path rounds them: NumPy's power loop computes a constant (scalar)
# exponent of 2, 0.5 or -1 as a square, a square root or a reciprocal, in the value and in the
# rule's partial ``b * a ** (b - 1)`` alike; a Variable exponent is an array there, and an
# array of exponents goes to pow(), as ``**`` on floats does.
def _power_constant_exponent(a: float, b: float):
    if b == 0.0:  # a ** 0 is 1 everywhere, 0 ** 0 included: slope 0 (as the table's rule)
        return 1.0, 0.0, 0.0
    return numpy_power(a, b), b * numpy_power(a, b - 1.0), 0.0  # d/db: unused, b is constant


def _power_constant_base(a: float, b: float):
    out = a**b  # Python's pow: raises on overflow, complex for a negative base
    if type(out) is not float:
        raise ValueError
    out = np_pow(a, b)  # the bits of NumPy's power loop
    # d/db a ** b = a ** b log a, with log 1 where a <= 0, as the rule; d/da: unused
    return out, 0.0, out * np_log(a if a > 0 else 1.0)


def _power_variables(a: float, b: float):
    out, _, db = _power_constant_base(a, b)
    return out, (b * numpy_power(a, b - 1.0) if b != 0.0 else 0.0), db


_POWER_CONSTANT_EXPONENT = _kernel2(np.power, _power_constant_exponent)
_POWER_CONSTANT_BASE = _kernel2(np.power, _power_constant_base)
_POWER_VARIABLES = _kernel2(np.power, _power_variables)


def _pow(a, b):
    """``np.power(a, b)`` on the kernel fast path, or None."""
    if type(b) is not Variable:
        return _POWER_CONSTANT_EXPONENT(a, b)
    return (_POWER_VARIABLES if type(a) is Variable else _POWER_CONSTANT_BASE)(a, b)


_SQUARE = _unary(np.square, _none)


def _pow_method(self, o):
    """``self ** o``: ``self ** 2`` records a square, as ``ArrayOps.__pow__`` does."""
    to = type(o)
    if to is int or to is float or to is _F64:
        res = _SQUARE(self) if o == 2 else _POWER_CONSTANT_EXPONENT(self, o)
    else:
        res = _pow(self, o)
    return ArrayOps.__pow__(self, o) if res is None else res


def _rpow_method(self, o):
    """``o ** self`` for a scalar ``o`` on the left."""
    res = _pow(o, self)
    return _binary(np.power, o, self) if res is None else res


Variable.__neg__ = _unary(np.negative)
Variable.__pos__ = _unary(np.positive)
Variable.__abs__ = _unary(np.absolute)
Variable.__pow__, Variable.__rpow__ = _pow_method, _rpow_method


def _arithmetic(ufunc):
    """``np.add(a, b)`` and friends through the operator fast path, or None."""
    forward, reflected = _operator(ufunc, _none), _reflected(ufunc, _none)

    def method(a, b):
        if type(a) is Variable:
            return forward(a, b)
        return reflected(b, a) if type(b) is Variable else None

    return method


#: ``Variable.__array_ufunc__``'s fast path: ``ufunc(*inputs)`` on Python floats, or None.
_FAST_UFUNCS = {f: _unary(f, _none) for f in KERNELS}
_FAST_UFUNCS.update({f: _kernel2(f, k) for f, k in BINARY_KERNELS.items()})
_FAST_UFUNCS.update({f: _arithmetic(f) for f in _ARITH})
_FAST_UFUNCS[np.power] = _pow


def record(func, args, kwargs, level):
    """Run ``func`` on the values of ``args`` and append its record to the graph."""
    rule = RULES.get(func)
    if rule is None:
        if func in PRIMAL_ONLY:
            return func(*strip(list(args)), **{k: strip(v) for k, v in kwargs.items()})
        rule = lookup(func)  # raises the NotImplementedError naming func
    a0 = args[0] if args else None
    if type(a0) is Variable and type(a0._value) is np.ndarray:
        pass  # an array operand: no scalar fast path applies
    elif not kwargs and rule.partials is not None:
        res = _scalar_record(rule, func, args, level)
        if res is not None:
            return res
    if kwargs:
        kwargs.pop("overwrite_input", None)
        args, kwargs = bind_kwargs(func, args, kwargs, level)
    vals, inputs, needs, tp = _split(args, level)
    if tp is not None and tp._closed:
        raise RuntimeError(
            f"{rule.name} on a Variable of a tape that is no longer recording: its result "
            "would have no derivative. Do the computation inside `with Tape()`, or use .value."
        )
    out = func(*vals, **kwargs)
    if not inputs:
        return _wrap_const(out, level)
    if is_complex(out):
        raise complex_refused(f"the result of {rule.name}")
    rec = Record(rule, func, tuple(vals), kwargs, inputs, args, out, needs)
    if tp is not None:
        tp._records.append(rec)
    outs = _wrap(out, level, rec, tp)
    if maybe_view(out, vals):
        _track_views(func, args, vals, kwargs, out, outs, level)
    return outs


def _wrap(out, level, rec, tp):
    if not rec.multi and (
        isinstance(out, Leveled) or (type(out) is np.ndarray and out.dtype.kind in "fc")
    ):  # the common single output
        v = Variable._new(out, level, rec, tp)
        rec.bind_one(v)
        return v
    if rec.multi:
        vs = [Variable._new(o, level, rec, tp) if differentiable(o) else None for o in out]
        rec.bind_outputs(vs)
        items = [o if v is None else v for o, v in zip(out, vs)]
        return type(out)(*items) if hasattr(out, "_fields") else type(out)(items)
    if not differentiable(out):
        rec.bind_outputs((None,))
        return out
    v = Variable._new(out, level, rec, tp)
    rec.bind_outputs((v,))
    return v


def _wrap_const(out, level):
    if type(out) in (tuple, list):
        return type(out)(_wrap_const(o, level) for o in out)
    if not differentiable(out):
        return out
    v = Variable._new(out, level, None, None)
    v.requires_grad = False
    return v


def value_of(x):
    """The value of a Variable (one level down), or ``x`` itself.

    >>> import numpy as np, tape
    >>> tape.value_of(tape.Variable(np.array([2.0])))
    array([2.])
    """
    return x.value if isinstance(x, Variable) else x

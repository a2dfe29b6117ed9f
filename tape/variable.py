"""``Variable``: an array that records every NumPy operation on it.

Both NumPy hooks look the function up in ``dualad.rules`` (the same table forward mode
uses), run it on the values and append a ``Record``. Standalone Variables (PyTorch style)
share one graph level; Variables made by ``Tape.watch`` belong to that tape's level, so
tapes nest like Dual tags. Imports dualad.rules, dualad._tags, dualad._ops and forward mode's
scalar kernels (dualad._scalar) only.
"""

from __future__ import annotations

import threading

from dualad import _tags, _tracing
from dualad._alias import maybe_view
from dualad._backend import as_float_leaf
from dualad._numpy import np
from dualad._ops import (
    ArrayOps,
    _nested,
    _out_position,
    bind_kwargs,
    block,
    differentiable,
    is_complex,
    refuse_object,
    rows_of_one,
    split_out,
    stacked_items,
    strip,
    ufunc_at,
    write_out,
)
from dualad._tags import Leveled, call_level, top_level
from dualad._writers import IN_PLACE
from dualad.rules import COMPOSITES, PRIMAL_ONLY, RULES, lookup, ufunc_method_target
from dualad.rules._define import getitem
from dualad.rules.complex import complex_rule
from dualad.rules.elementwise import astype

from ._fast import install, item, scalar_record, stack
from .alias import freeze_foreign, snapshot, strided_view, track_views
from .record import Record, _ids, as_batch, copy_constant
from .sweep import graph, sweep

_F64 = np.float64
#: ``.grad`` accumulation: one backward() at a time adds into a leaf (as PyTorch's is)
_GRAD_LOCK = threading.Lock()


def frozen(value):
    """``value`` as a Variable holds it: a NumPy array whose memory the caller can still
    write (it, or the array it views, is writeable) is copied and the copy made read-only.

    Records read the values of Variables when the sweep runs, so a write into the array
    between the forward pass and ``backward`` (``a[0] = 10`` after ``Variable(a)`` or
    ``t.watch(a)``, ``w.value[0] = 10``) changed the gradient without an error; now the
    caller's array is not the Variable's, and a write into ``.value`` raises NumPy's
    read-only error (bind a new array instead: ``w.value = w.value - lr * w.grad``).
    """
    if type(value) is np.ndarray and _changeable(value):
        value = value.copy()
        value.flags.writeable = False
    return value


def float_seed(g, y):
    """The cotangent ``g`` given for an output of value ``y``, in y's floating dtype where
    ``g`` holds integers or booleans (``backward(gradient=np.array([1, 2]))``): an integer
    seed would make integer gradients for float inputs (PyTorch refuses such a seed)."""
    if isinstance(g, Leveled):
        return g
    g = np.asarray(g) if not hasattr(g, "__array_function__") else g
    if g.dtype.kind in "biu":
        yd = getattr(y, "dtype", None)
        return g.astype(yd if yd is not None and yd.kind in "fc" else np.float64)
    return g


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
        "_past",
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
            if value.requires_grad or value._record is not None:
                raise TypeError(
                    "tape.Variable(v) of a Variable that carries a derivative would cut it from "
                    "its graph (the derivative through it would be zero, silently): use v "
                    "itself, t.watch(v) to differentiate it again in a nested tape, or "
                    "v.detach() to drop the derivative deliberately"
                )
            value = value.value
        if value is None or isinstance(value, (np.matrix, np.ma.MaskedArray)):
            raise TypeError(
                f"a Variable of {type(value).__name__}: give an array of numbers "
                "(np.asarray(x); x.filled(...) for a masked array, whose masked elements "
                "dualad would not skip)"
            )
        if type(value) is float:  # Variable(0.5): the scalar records' form, as np.float64
            value = _F64(value)
        if not isinstance(value, (Leveled, np.ndarray, np.generic)) and not hasattr(
            value, "__array_function__"
        ):
            value = as_float_leaf(value) if requires_grad else np.asarray(value)
        kind = getattr(value, "dtype", np.dtype(float)).kind
        if kind in "biu":
            value = value.astype(np.float64)
        elif kind not in "fc":
            raise TypeError(
                f"a Variable of dtype {value.dtype}: only real and complex numbers carry "
                "gradients (convert with x.astype(float))"
            )
        value = frozen(value)

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
        self._value = frozen(v)

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
        """The nesting level of this Variable (its tape's; higher levels unwrap first).

        >>> import numpy as np, tape
        >>> with tape.Tape() as t:
        ...     x = t.watch(np.ones(2))
        >>> x.level == t.level
        True
        """
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
            seed = np.reshape(float_seed(g, value), (1,) + tuple(shape))
        if self._record is None and not self.requires_grad:
            raise RuntimeError(
                "backward() on a Variable that does not require grad: nothing it was computed "
                "from requires grad (a constant, or every input made with requires_grad=False), "
                "so there is no gradient to accumulate"
            )
        if self._record is None:  # a leaf: its cotangent is the seed itself, as an array
            leaves = [self]
            b = as_batch(seed, value)
            bars = [b.copy() if gradient is not None and type(b) is np.ndarray else b]
        else:
            recs, leaves = graph(self)
            tp = self._tape  # a persistent tape keeps its records for gradient() and backward()
            release = not (create_graph or retain_graph or (tp is not None and tp.persistent))
            bars = sweep(
                [self], [seed], leaves, create_graph=create_graph, release=release, records=recs
            )
        with _GRAD_LOCK:  # backward() from several threads into one leaf: no lost update
            for leaf, b in zip(leaves, bars):
                if b is None:  # in the graph, but every path has a zero derivative (np.round):
                    if leaf.grad is None:  # zeros, as PyTorch gives, not None
                        leaf.grad = np.zeros_like(leaf.value, shape=np.shape(leaf.value))
                    continue
                g = b[0, ...]  # a 0-d input gets a 0-d array, as in forward mode
                leaf.grad = g if leaf.grad is None else leaf.grad + g

    def __deepcopy__(self, memo):
        """A new leaf with a copy of the value (and of ``.grad``), as PyTorch copies a leaf.
        A Variable recorded on a tape raises: a copy outside its graph would take no
        gradient, silently."""
        if self._record is not None or self._tape is not None:
            raise TypeError(
                "copy.deepcopy of a Variable recorded on a tape would cut it from the graph "
                "(its copy would get no gradient). Use y.copy() or np.copy(y) inside the "
                "computation (recorded), or copy.deepcopy(y.value) for the numbers"
            )
        import copy

        new = Variable(copy.deepcopy(self.value, memo), requires_grad=self.requires_grad)
        new.grad = copy.deepcopy(self.grad, memo)
        return new

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
        if not copy and dt == self.dtype:
            return self  # NumPy returns the array itself: a later write shows through both
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
        elif method == "at":  # in place, entry by entry: a traced a, or b
            return ufunc_at(ufunc, *inputs)
        else:
            func, args, kw = ufunc_method_target(ufunc, method, inputs, kwargs)
            res = record(func, args, kw, level)
        if out is None:
            return res
        return write_out(ufunc, out, res, kwargs.get("casting", "same_kind"))  # functional

    def __array_function__(self, func, types, args, kwargs):
        if func is np.stack and len(args) == 1 and not kwargs and type(args[0]) in (list, tuple):
            res = stack(args[0])  # np.stack([f1, f2]) at the end of scalar code (tape._fast)
            if res is not None:
                return res
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
        if "out" in kwargs or (len(args) > 1 and _out_position(func)):
            args, kwargs, out = split_out(func, args, kwargs)  # out= by name or position
            res = record(func, args, kwargs, level)
            return res if out is None else write_out(func, (out,), res)
        return record(func, args, kwargs, level)

    def __getitem__(self, key):
        if type(self._value) is np.ndarray:  # x[i] of a vector: see tape._fast.item
            res = item(self, key)
            if res is not None:
                return res
        return record(getitem, (self, key), {}, self._level)

    def __setitem__(self, key, value):
        """Functional update: ``self`` becomes a new node ``index_update(old, key, value)``.

        A Variable sharing memory with others (a view, or the base of views) writes through
        its alias group instead, so every alias sees the write as in NumPy (see ``tape.alias``).
        """
        from dualad.rules.update import index_update

        group = getattr(self, "_alias", None)
        if group is not None:
            group.write(self, key, value, record)
            return
        if self._record is None and self.requires_grad:
            # Rebinding a leaf would make later gradients refer to the new node instead of
            # the input (silently wrong); PyTorch refuses this too.
            raise RuntimeError(
                "cannot assign into a watched input or a leaf Variable that requires grad: "
                "gradients are taken with respect to its original value. Assign into a copy "
                "instead: y = np.copy(x); y[key] = value"
            )
        if (
            self._record is None
            and isinstance(value, Variable)
            and value._level != self._level
            and isinstance(self._value, (np.ndarray, np.generic, float))
        ):  # a plain constant (Variable(..., requires_grad=False) made inside a Tape) takes
            # a traced value: it becomes a constant of the value's graph, then records there
            self._level = value._level
        new = record(index_update, (snapshot(self), key, value), {}, self._level)
        if isinstance(new, Variable) and new._record is not None:
            self._value, self._record, self._id = new._value, new._record, new._id
            # a constant that takes a recorded value joins its tape (what follows from it is
            # recorded there: nested tapes sweep their own lists) and needs a derivative
            self._tape, self.requires_grad = new._tape, True
            self._record.bind_outputs((self,))
        else:  # a constant written into a constant
            self.value = new.value if isinstance(new, Variable) else new


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
            if type(a) is Variable and a._record is None and not a.requires_grad:
                a = a.value  # a constant of another graph (Variable(..., requires_grad=False))
            vals.append(a)
            needs.append(False)
    return vals, inputs, tuple(needs), tp


def _changeable(a: np.ndarray) -> bool:
    """Whether the memory of plain array ``a`` can still be written by the caller: it, or the
    array (or buffer) it views, is writeable."""
    while True:
        if a.flags.writeable:
            return True
        b = a.base
        if b is None or type(b) is bytes:
            return False
        if not isinstance(b, np.ndarray):
            return True  # a foreign buffer (mmap, ...): it may change under us
        a = b


def _owned(c, made: list):
    """A constant argument as the record keeps it: a plain array the caller could still
    write into is copied (lists and tuples of them, index keys included; large copies are
    appended to ``made``, see tape.record.copy_constant); anything else is kept as it is."""
    tc = type(c)
    if tc is np.ndarray:
        return copy_constant(c, made) if _changeable(c) else c
    if (tc is tuple or tc is list) and any(type(b) is np.ndarray or type(b) in (tuple, list)
                                           for b in c):  # fmt: skip
        return tc(_owned(b, made) for b in c)
    return c


def _own_constants(vals, args, kwargs, made):
    """``vals``, ``args`` and ``kwargs`` with their plain-array constants copied (see
    ``_owned``): the reverse sweep reads the values the operation saw, not what the caller
    wrote into its arrays since (``c * x`` then ``c[1] = 5``; ``x[idx]`` then ``idx[0] =
    2``; a mask, a matrix, an exponent). NumPy temporaries of the caller's code are
    ordinary writeable arrays, so every one that a rule's reverse step reads is copied."""
    nv = na = None
    for i, a in enumerate(args):
        ta = type(a)
        if ta is np.ndarray:
            o = _owned(a, made)
            if o is not a:
                nv, na = nv or list(vals), na or list(args)
                nv[i] = na[i] = o
        elif (ta is tuple or ta is list) and any(type(b) is np.ndarray or type(b) in (tuple, list)
                                                 for b in a):  # fmt: skip
            items_v, items_a, own = list(vals[i]), list(a), False
            for j, b in enumerate(a):
                if type(b) is np.ndarray or type(b) in (tuple, list):
                    ob = _owned(b, made)
                    if ob is not b:
                        items_v[j] = items_a[j] = ob
                        own = True
            if own:
                nv, na = nv or list(vals), na or list(args)
                nv[i], na[i] = ta(items_v), ta(items_a)
    if kwargs and any(type(v) is np.ndarray or type(v) in (tuple, list) for v in kwargs.values()):
        kwargs = {k: _owned(v, made) for k, v in kwargs.items()}
    if nv is None:
        return vals, args, kwargs
    return nv, tuple(na), kwargs


def record(func, args, kwargs, level):
    """Run ``func`` on the values of ``args`` and append its record to the graph."""
    rule = RULES.get(func)
    if rule is None:
        if func in PRIMAL_ONLY:
            if _tracing.ACTIVE is not None:  # dualad.compile follows the result
                return _tracing.ACTIVE.plain(func, args, kwargs)
            return func(*strip(list(args)), **{k: strip(v) for k, v in kwargs.items()})
        rule = lookup(func)  # raises the NotImplementedError naming func
    a0 = args[0] if args else None
    if type(a0) is Variable and type(a0._value) is np.ndarray:
        pass  # an array operand: no scalar fast path applies
    elif not kwargs and rule.partials is not None:
        res = scalar_record(rule, func, args, level)
        if res is not None:
            return res
    if kwargs:
        kwargs.pop("overwrite_input", None)
        args, kwargs = bind_kwargs(func, args, kwargs, level)
    args = stacked_items(func, args)
    vals, inputs, needs, tp = _split(args, level)
    if tp is not None and tp._closed:
        raise RuntimeError(
            f"{rule.name} on a Variable of a tape that is no longer recording: its result "
            "would have no derivative. Do the computation inside `with Tape()`, or use .value."
        )
    if _tracing.ACTIVE is None:
        out = func(*vals, **kwargs)
    else:  # dualad.compile's trace: followed values (Flags) run as their raw values
        out = _tracing.ACTIVE.call(func, vals, kwargs)
    if not inputs:
        return _wrap_const(out, level)
    if type(out) is np.ndarray and out.base is None and not any(out is v for v in vals):
        out.flags.writeable = False  # a new array: its records read it at the sweep
    if is_complex(out) or any(is_complex(v._value) for _, v, _ in inputs):
        rule = complex_rule(func, rule)  # see dualad.rules.complex
    seen, made = vals, []  # (what out may be a view of; large copies made)
    if rule.reads_args:
        vals, args, kwargs = _own_constants(vals, args, kwargs, made)
    rec = Record(rule, func, tuple(vals), kwargs, inputs, args, out, needs)
    if made:
        rec.copies = tuple(made)
        if tp is not None:
            tp._copies = True
    if tp is not None:
        tp._records.append(rec)
    outs = _wrap(out, level, rec, tp)
    if maybe_view(out, seen):
        track_views(func, args, seen, kwargs, out, outs, level, Variable)
    elif type(out) is not np.ndarray and not isinstance(out, (np.generic, Leveled)):
        freeze_foreign(func, args, outs, level, Variable)  # CuPy, a device: not followed
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
        if _tracing.ACTIVE is not None:  # outputs without a derivative, followed
            items = [
                _tracing.ACTIVE.output(rec, k, o) if v is None else o
                for k, (o, v) in enumerate(zip(items, vs))
            ]
        return type(out)(*items) if hasattr(out, "_fields") else type(out)(items)
    if not differentiable(out):
        refuse_object(rec.rule.name, out)  # (an object array would be a constant)
        rec.bind_outputs((None,))
        return out if _tracing.ACTIVE is None else _tracing.ACTIVE.output(rec, 0, out)
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


#: ``Variable.__array_ufunc__``'s fast paths on Python floats (and the operator methods).
_FAST_UFUNCS = install(Variable, record)


def constant_like(v: Variable, value) -> Variable:
    """A constant Variable (no derivative) holding ``value`` at ``v``'s level, on its tape.

    >>> import numpy as np, tape
    >>> c = tape.variable.constant_like(tape.Variable(1.0), np.zeros(2))
    >>> c.requires_grad, c.is_leaf
    (False, True)
    """
    out = Variable._new(value, v._level, None, v._tape)
    out.requires_grad = False
    return out


def view_into(v: Variable, root: np.ndarray, view: np.ndarray) -> Variable:
    """The Variable for ``view``, a plain view into the memory ``root`` whose values ``v``
    holds (how dualad's promoted buffers hand out views): recorded, laid out as NumPy lays
    out ``view``, and in ``v``'s alias group, so writes through either reach the other.

    >>> import numpy as np, tape
    >>> buf = np.arange(4.0)
    >>> v = tape.Variable(buf.copy())
    >>> w = tape.variable.view_into(v, buf, buf[1:3])
    >>> w.value
    array([1., 2.])
    """
    return strided_view(v, root, view, record)

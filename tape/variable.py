"""``Variable``: an array that records every NumPy operation on it.

Both NumPy hooks look the function up in ``dualad.rules`` (the same table forward mode
uses), run it on the values and append a ``Record``. Standalone Variables (PyTorch style)
share one graph level; Variables made by ``Tape.watch`` belong to that tape's level, so
tapes nest like Dual tags. Imports dualad.rules, dualad._tags and dualad._ops only.
"""

from __future__ import annotations

import itertools
import operator

import numpy as np

from dualad import _tags
from dualad._ops import ArrayOps, _binary, bind_kwargs, differentiable, strip
from dualad._tags import Leveled, call_level, top_level
from dualad.rules import PRIMAL_ONLY, RULES, lookup, ufunc_method_target
from dualad.rules._define import getitem
from dualad.rules.elementwise import astype

from .record import Record

_ids = itertools.count()


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
        "_id",
        "_level",
        "_record",
        "_tape",
        "grad",
        "requires_grad",
        "value",
    )  # fmt: skip
    __array_priority__ = 2000
    __hash__ = None

    def __init__(self, value, requires_grad: bool = True):
        if isinstance(value, Variable):
            value = value.value
        if not isinstance(value, (Leveled, np.ndarray, np.generic)) and not hasattr(
            value, "__array_function__"
        ):
            value = np.asarray(value, dtype=float)
        if getattr(value, "dtype", np.dtype(float)).kind in "biu":
            value = value.astype(np.float64)
        self.value = value
        self._level = _tags.GRAPH_LEVEL
        self._record = None
        self._tape = None
        self.requires_grad = bool(requires_grad)
        self.grad = None
        self._id = next(_ids)

    @classmethod
    def _new(cls, value, level, record, tp) -> Variable:
        v = object.__new__(cls)
        v.value, v._level, v._record, v._tape = value, level, record, tp
        v.requires_grad, v.grad, v._id = True, None, next(_ids)
        return v

    def _unwrap(self):
        return self.value

    def _apply(self, func, args, kwargs, level):
        return record(func, args, kwargs, level)

    def __repr__(self) -> str:
        return f"Variable({self.value!r}, requires_grad={self.requires_grad})"

    # -- PyTorch-style API ----------------------------------------------------------------
    @property
    def is_leaf(self) -> bool:
        """True for Variables the user made (not results of operations)."""
        return self._record is None

    def backward(self, gradient=None, create_graph: bool = False, retain_graph=None) -> None:
        """Accumulate d(self)/d(leaf) into ``.grad`` of every leaf that requires grad.

        ``gradient`` is the cotangent (needed unless ``self`` is a scalar). With
        ``create_graph=True`` the sweep itself is recorded, so ``.grad`` can be
        differentiated again.
        """
        from .sweep import backward

        backward(self, gradient, create_graph, retain_graph)

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

    # -- arithmetic: scalar records straight away, else the generic operator ---------------
    def __add__(self, o):
        r = _arith(np.add, self, o)
        return _binary(np.add, self, o) if r is None else r

    def __radd__(self, o):
        r = _arith(np.add, o, self)
        return _binary(np.add, o, self) if r is None else r

    def __sub__(self, o):
        r = _arith(np.subtract, self, o)
        return _binary(np.subtract, self, o) if r is None else r

    def __rsub__(self, o):
        r = _arith(np.subtract, o, self)
        return _binary(np.subtract, o, self) if r is None else r

    def __mul__(self, o):
        r = _arith(np.multiply, self, o)
        return _binary(np.multiply, self, o) if r is None else r

    def __rmul__(self, o):
        r = _arith(np.multiply, o, self)
        return _binary(np.multiply, o, self) if r is None else r

    def __truediv__(self, o):
        r = _arith(np.divide, self, o)
        return _binary(np.divide, self, o) if r is None else r

    def __rtruediv__(self, o):
        r = _arith(np.divide, o, self)
        return _binary(np.divide, o, self) if r is None else r

    # -- NumPy hooks ----------------------------------------------------------------------
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        out = kwargs.pop("out", None)
        level, owner = top_level(inputs if out is None else inputs + tuple(out))
        if not isinstance(owner, Variable):
            return NotImplemented
        if out is not None:
            raise TypeError(
                f"numpy.{ufunc.__name__}(..., out=...) on a Variable would overwrite a value "
                "the tape may still need; leave out= off"
            )
        if method == "__call__":
            if kwargs.pop("where", True) is not True:
                raise NotImplementedError(
                    f"numpy.{ufunc.__name__}(..., where=...) is not differentiable here: "
                    "use np.where(mask, ..., other)"
                )
            return record(ufunc, inputs, kwargs, level)
        func, args, kw = ufunc_method_target(ufunc, method, inputs, kwargs)
        return record(func, args, kw, level)

    def __array_function__(self, func, types, args, kwargs):
        level, owner = call_level(args, kwargs)
        if not isinstance(owner, Variable):
            return NotImplemented
        if kwargs.get("out") is not None:
            raise TypeError(
                f"{func.__name__}(..., out=...) on a Variable is not supported; leave out= off"
            )
        return record(func, args, kwargs, level)

    def __getitem__(self, key):
        return record(getitem, (self, key), {}, self._level)

    def __setitem__(self, key, value):
        """Functional update: ``self`` becomes a new node ``index_update(old, key, value)``."""
        from dualad.rules.update import index_update

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
            self.value, self._record, self._id = new.value, new._record, new._id
            self._record.bind_outputs((self,))
        else:
            self.value = new


def _snapshot(v: Variable) -> Variable:
    """A Variable standing for ``v``'s current node (``v`` itself is about to be rebound)."""
    if v._record is None and v._tape is None and v._level == _tags.GRAPH_LEVEL:
        return v
    s = Variable._new(v.value, v._level, v._record, v._tape)
    s._id = v._id
    s.requires_grad = v.requires_grad
    return s


# -- recording ------------------------------------------------------------------------------


def _split(args, level):
    """Raw values, cotangent targets and the owning tape of ``args`` at ``level``."""
    vals, inputs, needs, tp = [], [], [], None
    for i, a in enumerate(args):
        if isinstance(a, Variable) and a._level == level:
            vals.append(a.value)
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
        if type(a) is not Variable or a._level != level or type(a.value) is not np.float64:
            return None
        vals.append(a.value)
        tp = tp or a._tape
        if a.requires_grad or a._record is not None:
            inputs.append((_PATHS[i], a, a._id))
    if not inputs:
        return None
    if tp is not None and tp._closed:
        return None  # the generic path raises the explanation
    op = _SCALAR_OPS.get(func)
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


def _arith(func, a, b):
    """Operator fast path: one scalar record for ``a (+ - * /) b`` on float64 scalars.

    Everything inline (this runs once per operator in scalar loops); returns None whenever
    the generic path is needed: arrays, other levels, closed tapes, nothing to differentiate.
    """
    ta, tb = type(a), type(b)
    if ta is Variable:
        va, level, tp = a.value, a._level, a._tape
        if type(va) is not np.float64:
            return None
        if tb is Variable:
            vb = b.value
            if b._level != level or type(vb) is not np.float64:
                return None
            tp = tp or b._tape
        elif tb in _SCALAR:
            vb = b
        else:
            return None
    elif tb is Variable and ta in _SCALAR:
        va, vb, level, tp = a, b.value, b._level, b._tape
        if type(vb) is not np.float64:
            return None
    else:
        return None
    inputs = []
    if ta is Variable and (a.requires_grad or a._record is not None):
        inputs.append((_PATHS[0], a, a._id))
    if tb is Variable and (b.requires_grad or b._record is not None):
        inputs.append((_PATHS[1], b, b._id))
    if not inputs or (tp is not None and tp._closed):
        return None
    out = _SCALAR_OPS[func](va, vb)
    if type(out) is not np.float64:
        return None
    return _push_scalar(RULES[func], func, (va, vb), inputs, (a, b), out, level, tp)


def record(func, args, kwargs, level):
    """Run ``func`` on the values of ``args`` and append its record to the graph."""
    rule = RULES.get(func)
    if rule is None:
        if func in PRIMAL_ONLY:
            return func(*strip(list(args)), **{k: strip(v) for k, v in kwargs.items()})
        rule = lookup(func)  # raises the NotImplementedError naming func
    if not kwargs and rule.partials is not None:
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
    rec = Record(rule, func, tuple(vals), kwargs, inputs, args, out, needs)
    if tp is not None:
        tp._records.append(rec)
    outs = _wrap(out, level, rec, tp)
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

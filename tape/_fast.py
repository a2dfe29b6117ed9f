"""The scalar fast paths of the tape: operators, kernels and ``x[i]`` on Python floats.

Scalar programs (loops over numbers, ``x[i]`` reads of an input vector) pay for every
Python call, so these paths record a ``ScalarRecord`` or ``ItemRecord`` (see tape.record)
with as few objects as they can. Every partial comes from the rule table: the operators'
from ``SWEEP_PARTIALS``, the kernels' from forward mode's kernels (dualad._scalar), which
evaluate the table's own partial lines on floats. ``install(Variable, record)`` binds the
class and the generic recorder and sets the operator methods; tape.variable calls it once.
Imports tape.record, dualad._scalar and the rule table only.
"""

from __future__ import annotations

import operator

from dualad._numpy import np
from dualad._ops import ArrayOps, _binary
from dualad._scalar import BINARY_KERNELS, KERNELS, np_log, np_pow, numpy_power
from dualad._scalar import OUT as _OUT
from dualad.rules import RULES
from dualad.rules._define import NEG, ONE

from .record import _PATHS, SWEEP_PARTIALS, ItemRecord, Record, ScalarRecord, StackRecord, _ids

_F64 = np.float64
#: Bound by ``install``: the Variable class and the generic recorder (tape.variable's).
Variable = None
record = None


def install(cls, recorder) -> dict:
    """Set the operator methods on ``cls`` (the Variable class) and return the ufunc fast
    paths ``{ufunc: fast(*inputs) -> Variable or None}`` its ``__array_ufunc__`` tries."""
    global Variable, record
    Variable, record = cls, recorder
    cls.__add__, cls.__radd__ = _operator(np.add), _reflected(np.add)
    cls.__sub__, cls.__rsub__ = _operator(np.subtract), _reflected(np.subtract)
    cls.__mul__, cls.__rmul__ = _operator(np.multiply), _reflected(np.multiply)
    cls.__truediv__, cls.__rtruediv__ = _operator(np.divide), _reflected(np.divide)
    cls.__neg__ = _unary(np.negative)
    cls.__pos__ = _unary(np.positive)
    cls.__abs__ = _unary(np.absolute)
    cls.__pow__, cls.__rpow__ = _pow_method, _rpow_method
    fast = {f: _unary(f, _none) for f in KERNELS}
    fast.update({f: _kernel2(f, k) for f, k in BINARY_KERNELS.items()})
    fast.update({f: _arithmetic(f) for f in _ARITH})
    fast[np.power] = _pow
    return fast


_SCALAR = frozenset({np.float64, float, int})
_SCALAR_OPS = {
    np.add: operator.add, np.subtract: operator.sub, np.multiply: operator.mul,
    np.divide: operator.truediv, np.power: operator.pow, np.negative: operator.neg,
}  # fmt: skip


def scalar_record(rule, func, args, level):
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
                        ids = (self._id, o._id)
                    else:
                        ids = (self._id, None)
                elif to is Variable and (o.requires_grad or o._record is not None):
                    ids = (None, o._id)
                else:
                    ids = None
                try:
                    out = pyop(va, vb)
                except _FALLBACK:
                    ids = None
                if ids and not out - out:  # out - out: nan (true) for inf and nan
                    return _scalar_result(rule, partials, (va, vb), ids, (self, o), out, self, tp)
        return fallback(ufunc, self, o)

    return method


def _scalar_result(rule, partials, args, ids, arg_vars, out, src, tp) -> Variable:
    """The Variable for a scalar operator result ``out``, and its ScalarRecord on ``tp``
    (``ids``: per argument, the id that receives a cotangent, or None)."""
    # one store a line: tuple assignments of this length build and unpack a tuple; the
    # Variable is made here too (not by _scalar_output): one call less per operation
    rec = _NEW(ScalarRecord)
    rec.id = vid = next(_ids)
    rec.partials = partials
    rec.rule = rule
    rec.args = args
    rec.ids = ids
    rec.arg_vars = arg_vars
    rec.out = out
    v = _NEW(Variable)
    v._value = out
    v._level = src._level
    v._record = rec
    v._tape = tp
    v.requires_grad = True
    v.grad = None
    v._id = vid
    if tp is not None:
        tp._records.append(rec)
    return v


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
                    return _scalar_result(
                        rule, partials, (vb, va), (None, self._id), (o, self), out, self, tp
                    )
        return fallback(ufunc, o, self)

    return method


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
                    return _scalar_result(rule, (p,), (va,), (self._id,), (self,), out, self, tp)
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
    """``(va, vb, ids, src, tp)`` for a binary kernel: the float values of ``a`` and ``b``,
    the ids that receive cotangents (None for a constant), the Variable whose level the
    result takes and the tape.
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
        ia = a._id if a.requires_grad or a._record is not None else None
        ib = None
        if tb is Variable:
            if b._level != a._level:
                return None
            tp = tp or b._tape
            if b.requires_grad or b._record is not None:
                ib = b._id
    elif tb is Variable:
        src, tp = b, b._tape
        ia, ib = None, (b._id if b.requires_grad or b._record is not None else None)
    else:
        return None
    if (ia is None and ib is None) or (tp is not None and tp._closed):
        return None
    return va, vb, (ia, ib), src, tp


def _kernel2(ufunc, kernel):
    """``ufunc(a, b)`` with ``kernel(va, vb) -> (value, d/da, d/db)`` on floats: one
    ``ScalarRecord``, or None (the generic path)."""
    rule = RULES[ufunc]

    def method(a, b):
        ops = _operands(a, b)
        if ops is not None:
            va, vb, ids, src, tp = ops
            try:
                out, pa, pb = kernel(va, vb)
            except _FALLBACK:
                return None
            if not (out - out or pa - pa or pb - pb):
                return _scalar_result(rule, (pa, pb), (va, vb), ids, (a, b), out, src, tp)
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


def _arithmetic(ufunc):
    """``np.add(a, b)`` and friends through the operator fast path, or None."""
    forward, reflected = _operator(ufunc, _none), _reflected(ufunc, _none)

    def method(a, b):
        if type(a) is Variable:
            return forward(a, b)
        return reflected(b, a) if type(b) is Variable else None

    return method


def item(v, key):
    """``v[key]`` as an ItemRecord for an int ``key`` into a 1-D float64 vector ``v`` that
    needs a derivative, on an open tape; None otherwise (the generic record then)."""
    x = v._value
    if (
        (type(key) is int or type(key) in _INT_SCALARS)
        and x.ndim == 1
        and x.dtype is _F64_DTYPE
        and (v.requires_grad or v._record is not None)
    ):
        tp = v._tape
        if tp is None or not tp._closed:  # a closed tape: the generic path explains
            out = x[key]  # NumPy's IndexError for an index out of range
            i = int(key)
            rec = _NEW(ItemRecord)
            rec.id = vid = next(_ids)
            rec.args = (x, key)
            rec.var = v
            rec.vid = v._id
            rec.out = out
            rec.index = i if i >= 0 else i + x.shape[0]
            return _scalar_output(rec, vid, float(out), v._level, tp)
    return None


_STACK = RULES[np.stack]


def stack(items):
    """``np.stack(items)`` of 0-d float Variables (of one level, on an open tape) and numbers,
    as a StackRecord (see tape.record); None for anything else (the generic record then)."""
    vals, inputs, needs, src = [], [], [], None
    for j, a in enumerate(items):
        ta = type(a)
        if ta is Variable:
            v = a._value
            if type(v) is not float:
                if type(v) is not _F64:
                    return None
                v = float(v)
            if src is None:
                src = a
            elif a._level != src._level:
                return None
            if a.requires_grad or a._record is not None:
                inputs.append(((0, j), a, a._id))
                needs.append(True)
            else:
                needs.append(False)
            vals.append(v)
        elif ta is float or ta is int or ta is _F64:
            vals.append(float(a))
            needs.append(False)
        else:
            return None
    if src is None or not inputs:
        return None
    tp = src._tape
    if tp is not None and tp._closed:
        return None  # the generic path explains
    out = np.array(vals)
    rec = _NEW(StackRecord)
    rec.id = vid = next(_ids)
    rec.rule = _STACK
    rec.args = (vals,)  # the items as Python floats, as a ScalarRecord keeps its args
    rec.inputs = inputs
    rec.arg_vars = (items,)
    rec.out = out
    rec.needs = (tuple(needs),)
    return _scalar_output(rec, vid, out, src._level, tp)

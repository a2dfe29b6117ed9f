"""Packed scalars: the fast path for 0-d float64 Duals with at most two directions.

Such a Dual keeps its primal as a Python float and its tangent as a Python float (k = 1) or
a complex ``t0 + i t1`` (k = 2). Elementwise jvps only form real linear combinations of
tangents, which complex arithmetic carries exactly, so scalar code runs on Python numbers:
about ten times cheaper than NumPy scalars. Whatever this path cannot do exactly as NumPy
would (a domain error, another level, an array) returns None and takes the generic path.
Packed results set only the five slots scalar code reads: ``_owns`` and ``_pk`` (array
buffers' bookkeeping) stay unset, and ``Dual`` reads them with a default. Imports numpy,
math and the rule table only; never imports ``dualad.dual``.
"""

from __future__ import annotations

import math
import operator

import numpy as np

from .rules import RULES
from .rules._define import NEG, ONE

#: Python-number types a packed Dual combines with directly.
SCALAR = frozenset({float, int, np.float64})
_NEW = object.__new__
#: What Python raises where NumPy would return inf/nan with a warning: fall back to NumPy.
_FALLBACK = (ArithmeticError, ValueError)

ADD, SUB, MUL, DIV = range(4)
#: ufuncs whose scalar form is one of the four operators below.
ARITH = {np.add: ADD, np.subtract: SUB, np.multiply: MUL, np.divide: DIV}


def pack(dot, k: int):
    """The ``(k,)`` tangent of a 0-d value as one Python float (k = 1) or complex (k = 2)."""
    if k == 1:
        return float(dot[0])
    t0, t1 = dot.tolist()
    return complex(t0, t1)


def unpack(dot, k: int):
    """The ``(k,)`` array back from a packed tangent (anything else is returned as is)."""
    t = type(dot)
    if t is complex:
        out = np.empty(2)  # item stores: a third of np.array([re, im])'s cost
        out[0] = dot.real
        out[1] = dot.imag
        return out
    if t is float:
        out = np.empty(1)
        out[0] = dot
        return out
    return dot


# -- scalar kernels: the same function on a Python float --------------------------------------
_OUT = object()  # marks a derivative equal to the output (exp)


# Only the primal is restated here (math's functions round exactly as NumPy's scalar loops on
# the platforms we test; test_dual checks it). Partials come from the rule table, except where
# the rule's line calls a NumPy function that costs ~0.4 us on a scalar: those few are given
# in math form below, and a test compares each with the rule's own partial. Each kernel is
# (primal, partial, how): how 0 calls partial(x), 1 means the derivative is the output,
# 2 calls the rule-style partial(out, x) (or applies the ONE/NEG sentinels).
def _kernels():
    m = math
    table = {
        np.sin: (m.sin, m.cos),
        np.cos: (m.cos, lambda out, x: -m.sin(x)),
        np.tan: (m.tan, None),
        np.arcsin: (m.asin, lambda out, x: 1 / m.sqrt(1 - x * x)),
        np.arccos: (m.acos, lambda out, x: -1 / m.sqrt(1 - x * x)),
        np.arctan: (m.atan, None),
        np.sinh: (m.sinh, m.cosh),
        np.cosh: (m.cosh, m.sinh),
        np.tanh: (lambda x: float(np.tanh(x)), None),  # libm's tanh differs in the last bit
        np.arcsinh: (m.asinh, lambda out, x: 1 / m.sqrt(x * x + 1)),
        np.arccosh: (m.acosh, lambda out, x: 1 / m.sqrt(x * x - 1)),
        np.arctanh: (m.atanh, None),
        np.exp: (m.exp, _OUT),
        np.expm1: (m.expm1, None),
        np.log: (m.log, None),
        np.log2: (m.log2, None),
        np.log10: (m.log10, None),
        np.log1p: (m.log1p, None),
        np.sqrt: (m.sqrt, None),
        np.square: (lambda x: x * x, None),
        np.reciprocal: (lambda x: 1 / x, None),
        np.negative: (operator.neg, None),
        np.positive: (operator.pos, None),
        np.absolute: (abs, lambda out, x: (x > 0) - (x < 0) + 0.0),
        np.fabs: (abs, lambda out, x: (x > 0) - (x < 0) + 0.0),
    }
    if hasattr(m, "cbrt"):  # Python 3.11+
        table[np.cbrt] = (m.cbrt, None)
        table[np.exp2] = (m.exp2, None)
    kernels = {}
    for f, (prim, part) in table.items():
        if part is None:
            part = RULES[f].partials[0]
        how = 1 if part is _OUT else 0 if type(part) is type(m.cos) else 2
        kernels[f] = (prim, part, how)
    return kernels


KERNELS = _kernels()


def _result(cls, p: float, dot, src):
    d = _NEW(cls)
    d._p, d._dot, d._level, d._k, d._single = p, dot, src._level, src._k, src._single
    return d


def _none(ufunc, a, b):
    return None


def operator_method(op: int, ufunc, fallback=_none):
    """``a (+ - * /) b`` as a method: the packed-scalar rule inline, else ``fallback``.

    The fast path takes a packed Dual ``a`` and a real scalar or a packed Dual ``b`` of the
    same type, level and direction count. The four rules are stated inline (this runs once
    per operator in scalar code, so it is ``Dual.__add__`` itself); test_dual compares them
    with the table's rules. Anything else goes to ``fallback(ufunc, a, b)``.
    """

    def method(a, b):
        pa = a._p
        tb = type(b)
        if type(pa) is float:
            if tb is type(a):
                pb, db = b._p, b._dot
                ok = type(pb) is float and b._level == a._level and b._k == a._k
            else:
                pb, db = b, None
                ok = tb is float or tb is int or tb is np.float64
            if ok:
                da = a._dot
                try:
                    if op == ADD:
                        out = pa + pb
                        dot = db if da is None else da if db is None else da + db
                    elif op == SUB:
                        out = pa - pb
                        dot = da if db is None else -db if da is None else da - db
                    elif op == MUL:
                        out = pa * pb
                        if da is None:
                            dot = None if db is None else db * pa
                        else:
                            dot = da * pb if db is None else da * pb + db * pa
                    else:
                        out = pa / pb
                        if da is None:
                            dot = None if db is None else -(out * db) / pb
                        else:
                            dot = da / pb if db is None else (da - out * db) / pb
                    if type(out) is not float:  # an int or np.float64 operand
                        out = float(out)
                        if type(dot) is np.float64:
                            dot = float(dot)
                except _FALLBACK:
                    return fallback(ufunc, a, b)
                r = _NEW(type(a))
                r._p, r._dot, r._level, r._k, r._single = out, dot, a._level, a._k, a._single
                return r
        if op == MUL and b is a:  # x*x on arrays: one square, not a two-term product rule
            return fallback(np.square, a, None)
        return fallback(ufunc, a, b)

    return method


def reflected_method(op: int, ufunc, fallback=_none):
    """``b (+ - * /) a`` for a real scalar ``b`` on the left: ``Dual.__radd__`` and friends."""

    def method(a, b):
        pa, tb = a._p, type(b)
        if type(pa) is float and (tb is float or tb is int or tb is np.float64):
            da = a._dot
            try:
                pb = float(b)
                if op == ADD:
                    out, dot = pb + pa, da
                elif op == SUB:
                    out, dot = pb - pa, None if da is None else -da
                elif op == MUL:
                    out, dot = pb * pa, None if da is None else da * pb
                else:
                    out = pb / pa
                    dot = None if da is None else -(out * da) / pa
            except _FALLBACK:
                return fallback(ufunc, b, a)
            r = _NEW(type(a))
            r._p, r._dot, r._level, r._k, r._single = out, dot, a._level, a._k, a._single
            return r
        return fallback(ufunc, b, a)

    return method


_OPS = {
    ufunc: (operator_method(op, ufunc), reflected_method(op, ufunc)) for ufunc, op in ARITH.items()
}


def ufunc_hook(generic):
    """``Dual.__array_ufunc__``: packed scalars first (``np.sin(d)`` runs a math kernel inline,
    binary ufuncs the operator rules), everything else through ``generic``.

    The unary kernel is written out here, not called, because scalar code pays for every
    Python call; test_scalar compares each kernel with the table.
    """
    kernels, new, fallback, one, neg = KERNELS, _NEW, _FALLBACK, ONE, NEG

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        x = self._p
        if type(x) is float and method == "__call__" and not kwargs:
            kern = kernels.get(ufunc) if len(inputs) == 1 else None
            if kern is not None:
                prim, part, how = kern
                d = self._dot
                try:
                    out = prim(x)
                    if d is None:
                        pass
                    elif how == 0:
                        d = part(x) * d
                    elif how == 1:
                        d = out * d
                    else:
                        d = d if part is one else -d if part is neg else part(out, x) * d
                except fallback:
                    out = None
                if type(out) is float:
                    r = new(type(self))
                    r._p, r._dot, r._level, r._k, r._single = (
                        out, d, self._level, self._k, self._single,
                    )  # fmt: skip
                    return r
            else:
                res = call(ufunc, inputs)
                if res is not None:
                    return res
        return generic(self, ufunc, method, *inputs, **kwargs)

    return __array_ufunc__


def call(func, inputs):
    """``func(*inputs)`` for a binary or table ufunc on packed Duals and real scalars, or None."""
    ops = _OPS.get(func)
    if ops is not None and len(inputs) == 2:
        a, b = inputs
        if type(a) in SCALAR:
            return ops[1](b, a)
        return ops[0](a, b) if type(a) is type(b) or type(b) in SCALAR else None
    return generic(func, inputs)


def generic(func, args, level: int | None = None):
    """An elementwise rule from the table on packed Duals (NumPy scalars inside), or None.

    Every Dual among ``args`` must be packed, of one type and direction count, and of
    ``level`` (by default the first one's).
    """
    rule = RULES.get(func)
    if rule is None or rule.partials is None:
        return None
    src = None
    primals, dots = [], []
    for a in args:
        if type(a) in SCALAR:
            primals.append(a)
            dots.append(None)
            continue
        p = getattr(a, "_p", None)
        if type(p) is not float:
            return None
        if src is None:
            src = a
            if level is not None and a._level != level:
                return None
        elif a._level != src._level or a._k != src._k or type(a) is not type(src):
            return None
        primals.append(np.float64(p))
        dots.append(a._dot)
    if src is None:
        return None
    out = func(*primals)
    if type(out) is not np.float64:
        return None
    acc = None
    for part, d in zip(rule.partials, dots):
        if d is None or part is None:
            continue
        if part is ONE:
            term = d
        elif part is NEG:
            term = -d
        else:
            term = float(part(out, *primals)) * d
        acc = term if acc is None else acc + term
    return _result(type(src), float(out), acc, src)

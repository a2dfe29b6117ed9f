"""Packed scalars: the fast path for 0-d float64 Duals with at most two directions.

Such a Dual keeps its primal as a Python float and its tangent as a Python float (k = 1) or
a complex ``t0 + i t1`` (k = 2). Elementwise jvps only form real linear combinations of
tangents, which complex arithmetic carries exactly, so scalar code runs on Python numbers:
about ten times cheaper than NumPy scalars. Whatever this path cannot do exactly as NumPy
would (a domain error, another level, an array) returns None and takes the generic path.
Packed results set only the three slots scalar code reads: ``_p``, ``_dot`` and ``_m``, the
``(level, k, single)`` tuple shared by every value derived from one seed (``meta``);
``_owns`` and ``_pk`` (array buffers' bookkeeping) stay unset, and ``Dual`` reads them with
a default. Imports numpy, math and the rule table only; never imports ``dualad.dual``.
"""

from __future__ import annotations

import math

from dualad._numpy import np

from ._kernels import BINARY_KERNELS, KERNELS, OUT, np_log, np_pow, numpy_power
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
    if k > 2:  # a few directions: the (k,) array itself (see Dual.__getitem__)
        return dot
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


def meta(level: int, k: int, single: bool) -> tuple:
    """A Dual's ``_m``: ``(level, k, single)``, shared by every value derived from one seed.

    Packed results copy their operand's tuple, and the fast path compares operands with ``is``
    (then ``==``): one check and one store instead of three. Tuples are interned in a bounded
    table, so hand-built seeds of one level share one; identity is only a shortcut.
    """
    key = (level, k, single)
    m = _METAS.get(key)
    if m is None:
        if len(_METAS) >= 1024:  # levels only grow: forget old ones
            _METAS.clear()
        m = _METAS[key] = key
    return m


_METAS: dict = {}


def _result(cls, p: float, dot, m):
    d = _NEW(cls)
    d._p, d._dot, d._m = p, dot, m
    return d


def _none(ufunc, a, b):
    return None


# -- the four operators, generated from one template ------------------------------------------
# Each rule is two expressions over the left and right primals (pa, pb), their tangents (da,
# db; None is a zero tangent) and the result ``out``. One template turns them into a Dual
# method with the rule inline for packed operands: scalar code runs one of these per
# operator, and a call or a branch per operation shows in its time (as ForwardDiff.jl
# generates its scalar methods from DiffRules). test_dual compares them with the table.
OPERATOR_RULES = {
    ADD: ("pa + pb", "db if da is None else da if db is None else da + db"),
    SUB: (
        "pa - pb",
        "(None if db is None else -db) if da is None else da if db is None else da - db",
    ),
    MUL: (
        "pa * pb",
        (
            "(None if db is None else db * pa) if da is None else da * pb if db is None "
            "else da * pb + db * pa"
        ),
    ),
    DIV: (
        "pa / pb",
        (
            "(None if db is None else -(out * db) / pb) if da is None else da / pb "
            "if db is None else (da - out * db) / pb"
        ),
    ),
}

# ``a OP b`` with the Dual ``a`` on the left: packed Dual or real scalar ``b``
_LEFT = """
def method(a, b):
    pa = a._p
    if type(pa) is float:
        tb = type(b)
        if tb is type(a):
            pb, m = b._p, a._m
            if type(pb) is float and (b._m is m or b._m == m):
                da, db = a._dot, b._dot
                try:
                    out = {primal}
                    dot = {tangent}
                except FALLBACK:
                    return fallback(ufunc, a, b)
                r = new(tb)
                r._p, r._dot, r._m = out, dot, m
                return r
        elif tb is float or tb is int or tb is float64:
            da, db = a._dot, None
            try:
                pb = float(b)
                out = {primal}
                dot = {tangent}
            except FALLBACK:
                return fallback(ufunc, a, b)
            r = new(type(a))
            r._p, r._dot, r._m = out, dot, a._m
            return r
    {square}return fallback(ufunc, a, b)
"""
# ``b OP a`` for a real scalar ``b`` on the left (``__radd__`` and friends): pa, da are b's
_RIGHT = """
def method(b, a):
    pb = b._p
    ta = type(a)
    if type(pb) is float and (ta is float or ta is int or ta is float64):
        da, db = None, b._dot
        try:
            pa = float(a)
            out = {primal}
            dot = {tangent}
        except FALLBACK:
            return fallback(ufunc, a, b)
        r = new(type(b))
        r._p, r._dot, r._m = out, dot, b._m
        return r
    return fallback(ufunc, a, b)
"""
# x*x on arrays: one square, not a two-term product rule
_SQUARE = "if b is a:\n        return fallback(square, a, None)\n    "


def _generate(template: str, op: int, ufunc, fallback):
    primal, tangent = OPERATOR_RULES[op]
    square = _SQUARE if template is _LEFT and op == MUL else ""
    code = template.format(primal=primal, tangent=tangent, square=square)
    scope = {
        "FALLBACK": _FALLBACK, "float64": np.float64, "new": _NEW, "square": np.square,
        "ufunc": ufunc, "fallback": fallback,
    }  # fmt: skip
    exec(code, scope)  # noqa: S102 - our own template and rule table, no user input
    return scope["method"]


def operator_method(op: int, ufunc, fallback=_none):
    """``a (+ - * /) b`` as a method (``Dual.__add__`` itself): the packed-scalar rule inline
    for a packed ``a`` and a real scalar or packed ``b`` of the same type, level and direction
    count; anything else goes to ``fallback(ufunc, a, b)``."""
    return _generate(_LEFT, op, ufunc, fallback)


def reflected_method(op: int, ufunc, fallback=_none):
    """``b (+ - * /) a`` for a real scalar ``b`` on the left: ``Dual.__radd__`` and friends."""
    return _generate(_RIGHT, op, ufunc, fallback)


# -- unary operators: -d, +d, abs(d) ----------------------------------------------------------
def _sign(x: float) -> float:
    """np.sign of a float: the sub-gradient 0 at 0, and NaN stays NaN."""
    return x if math.isnan(x) else (x > 0) - (x < 0)


UNARY_RULES = {
    np.negative: ("-pa", "None if da is None else -da"),
    np.positive: ("pa", "da"),
    np.absolute: ("abs(pa)", "None if da is None else sign(pa) * da"),
}
_UNARY = """
def method(a):
    pa = a._p
    if type(pa) is float:
        da = a._dot
        r = new(type(a))
        r._p, r._dot, r._m = {primal}, {tangent}, a._m
        return r
    return fallback(ufunc, a, None)
"""


def unary_method(ufunc, fallback):
    """``-d``, ``+d`` or ``abs(d)``: inline for a packed ``d``, else ``fallback(ufunc, d, None)``."""
    primal, tangent = UNARY_RULES[ufunc]
    scope = {"new": _NEW, "sign": _sign, "ufunc": ufunc, "fallback": fallback}
    exec(_UNARY.format(primal=primal, tangent=tangent), scope)  # noqa: S102 - our own template
    return scope["method"]


# -- powers --------------------------------------------------------------------------------
def _power(pa: float, pb: float):
    """(a ** b, d/da) for a constant exponent, as the table's rule rounds them on arrays."""
    if pb == 2.0:
        return pa * pa, 2 * pa
    if pb == 1.0:
        return pa, 1.0
    if pb == 0.0:  # a ** 0 is 1 everywhere, 0 ** 0 included: slope 0 (as the table's rule)
        return 1.0, 0.0
    return numpy_power(pa, pb), pb * numpy_power(pa, pb - 1)


def power_method(fallback=_none):
    """``d ** b`` (``Dual.__pow__``) for a packed base and a real or packed exponent."""
    new, fb = _NEW, _FALLBACK

    def method(a, b):
        pa, tb = a._p, type(b)
        if type(pa) is float:
            try:
                if tb is float or tb is int or tb is np.float64:
                    out, part = _power(pa, float(b))
                    da = a._dot
                    r = new(type(a))
                    r._p, r._dot, r._m = out, None if da is None else part * da, a._m
                    return r
                if tb is type(a) and type(b._p) is float and b._m == a._m and pa > 0:
                    # a Dual exponent: the two partials of the table's rule, summed as there
                    pb, da, db = b._p, a._dot, b._dot
                    out = numpy_power(pa, pb)
                    ta = None if da is None else (pb * numpy_power(pa, pb - 1)) * da
                    tb_ = None if db is None else (out * np_log(pa)) * db
                    r = new(type(a))
                    r._p, r._dot, r._m = (
                        out,
                        tb_ if ta is None else ta if tb_ is None else ta + tb_,
                        a._m,
                    )
                    return r
            except fb:
                pass
        return fallback(np.power, a, b)

    return method


def rpower_method(fallback=_none):
    """``c ** d`` (``Dual.__rpow__``) for a real scalar base ``c`` and a packed exponent."""
    new, fb = _NEW, _FALLBACK

    def method(b, a):
        pb, ta = b._p, type(a)
        if type(pb) is float and (ta is float or ta is int or ta is np.float64):
            try:
                base = float(a)
                out = base**pb  # Python's pow: only to find overflow and complex results
                if type(out) is float:
                    out = np_pow(base, pb)
                    db = (
                        b._dot
                    )  # d/db a**b = a**b log a, with log 1 where a <= 0 (the rule's limit)
                    dot = None if db is None else (out * np_log(base if base > 0 else 1.0)) * db
                    r = new(type(b))
                    r._p, r._dot, r._m = out, dot, b._m
                    return r
            except fb:
                pass
        return fallback(np.power, a, b)

    return method


_OPS = {
    ufunc: (operator_method(op, ufunc), reflected_method(op, ufunc)) for ufunc, op in ARITH.items()
}
_OPS[np.power] = (power_method(), rpower_method())


def _binary_kernel(kernel, a, b):
    src, ps, ds = None, [], []
    for x in (a, b):
        if type(x) in SCALAR:
            ps.append(float(x))
            ds.append(None)
            continue
        p = getattr(x, "_p", None)
        if type(p) is not float or (
            src is not None and (type(x) is not type(src) or x._m != src._m)
        ):
            return None
        src = x
        ps.append(p)
        ds.append(x._dot)
    try:
        out, wa, wb = kernel(ps[0], ps[1])
    except _FALLBACK:
        return None
    da, db = ds
    ta = None if da is None else wa * da
    tb = None if db is None else wb * db
    return _result(type(src), out, tb if ta is None else ta if tb is None else ta + tb, src._m)


def ufunc_hook(generic):
    """``Dual.__array_ufunc__``: packed scalars first (``np.sin(d)`` runs a math kernel inline,
    binary ufuncs the operator rules), everything else through ``generic``.

    The unary kernel is written out here, not called, because scalar code pays for every
    Python call; test_scalar compares each kernel with the table.
    """
    kernels, new, fallback, one, neg, out_ = KERNELS, _NEW, _FALLBACK, ONE, NEG, OUT

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        x = self._p
        if type(x) is float and not kwargs and method == "__call__":
            kern = kernels.get(ufunc)
            if kern is not None and len(inputs) == 1:
                prim, part = kern
                d = self._dot
                try:
                    out = prim(x)  # every kernel returns a Python float
                    if d is not None:
                        d = (
                            out * d
                            if part is out_
                            else d
                            if part is one
                            else -d
                            if part is neg
                            else part(out, x) * d
                        )
                except fallback:
                    return generic(self, ufunc, method, *inputs, **kwargs)
                r = new(type(self))
                r._p, r._dot, r._m = out, d, self._m
                return r
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
    kernel = BINARY_KERNELS.get(func)
    if kernel is not None and len(inputs) == 2:
        return _binary_kernel(kernel, *inputs)
    return generic(func, inputs)


def generic(func, args, level: int | None = None):
    """An elementwise rule from the table on packed Duals (NumPy scalars inside), or None.

    Every Dual among ``args`` must be packed, of one type and direction count, and of
    ``level`` (by default the first one's).
    """
    rule = RULES.get(func)
    if rule is None or rule.partials is None:
        return None
    ops = _operands(args, level)
    if ops is None:
        return None
    src, primals, dots = ops
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
            pv = float(part(out, *primals))
            term = pv * d if pv - pv == 0 else _masked(pv, d)
        acc = term if acc is None else acc + term
    return _result(type(src), float(out), acc, src._m)


def _operands(items, level: int | None, raw: bool = False):
    """``(src, values, tangents)`` of packed Duals and real numbers, or None: each Dual's
    primal as an np.float64 (``raw``: the Python float it holds) and its packed tangent,
    each number as it is with a None tangent.
    Every Dual must be packed, of one type and direction count, and of ``level`` (by default
    the first one's); ``src`` is the first Dual (None: no Dual among them)."""
    src = None
    values, dots = [], []
    for a in items:
        if type(a) in SCALAR:
            values.append(a)
            dots.append(None)
            continue
        p = getattr(a, "_p", None)
        if type(p) is not float:
            return None
        if src is None:
            m = getattr(a, "_m", None)  # packed Duals only (a Jet has a float _p too)
            if m is None or (level is not None and m[0] != level):
                return None
            src = a
        elif type(a) is not type(src) or a._m != src._m:
            return None
        values.append(p if raw else np.float64(p))
        dots.append(a._dot)
    return None if src is None else (src, values, dots)


def _masked(pv: float, d):
    """``pv * d`` for a non-finite partial: a zero tangent direction stays zero, as on arrays
    (see dualad.rules._define); per component, since complex products mix them."""
    if type(d) is complex:
        return complex(pv * d.real if d.real else 0.0, pv * d.imag if d.imag else 0.0)
    if type(d) is np.ndarray:  # a (k,) tangent of a few directions
        with np.errstate(invalid="ignore"):
            return np.where(d == 0, 0.0, pv * d)
    return pv * d if d else 0.0


def stack(items, level: int):
    """``np.stack(items)`` of packed Duals and real numbers at ``level``: a vector Dual whose
    tangent ``(k, n)`` is read off the packed tangents, or None (NumPy's path then). The
    idiom ``np.stack([f1, f2])`` (``np.array([...])`` under interception) that ends scalar
    code; the table's stack rule gives the same values at several times the cost."""
    ops = _operands(items, level, raw=True)  # the values go into one float64 array
    if ops is None:
        return None
    src, values, dots = ops
    k, n = src._m[1], len(values)
    if k == 2:  # complex pairs: the values and two rows of Python floats, one array
        for d in dots:
            values.append(0.0 if d is None else d.real)
        for d in dots:
            values.append(0.0 if d is None else d.imag)
        buf = np.array(values, dtype=np.float64)
        p, dot = buf[:n], buf[n:].reshape(2, n)
    else:  # floats (k = 1) or (k,) arrays
        p = np.array(values, dtype=np.float64)
        dot = np.zeros((k, n))
        for j, d in enumerate(dots):
            if d is not None:
                dot[:, j] = d
    r = _NEW(type(src))
    r._p, r._dot, r._m, r._owns, r._pk = p, dot, src._m, False, None
    return r

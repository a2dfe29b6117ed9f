"""Second-order packed scalars: the Hessian of scalar code in n <= 2 inputs on Python numbers.

``hessian(f, x)`` for one or two input numbers (a vector of two, a 0-d array, a float, a
tuple or dict of two) seeds each number as a ``Jet``: its value, its gradient along the n
input directions (a float for n = 1, a complex ``g0 + i g1`` for n = 2, as packed Duals
carry tangents) and its Hessian entries. An elementwise rule of the table updates them by the
chain rule from the rule's own partial lines, evaluated once on floats (first order) and once
on packed Duals (their derivatives, second order):

    g_out = sum_i p_i g_i,    H_out = sum_i p_i H_i + sum_ij p_ij g_i g_j^T.

No derivative is stated here. Anything else (a reduction, ``np.stack``, a function without
partials, another level's wrapper) turns every Jet among the arguments into the hyper-dual
form (``Dual(l2, Dual(l1, p, g), Dual(l1, g, H))``) that ``hessian(method="hyperdual")``
seeds, and NumPy's dispatch goes on there: the answer is the same, at the generic cost.
Imports numpy, the rule table and dualad.dual.
"""

from __future__ import annotations

import math
import operator

from dualad._numpy import np

from . import _tags
from ._alias import INPUT
from ._kernels import _FALLBACK, KERNELS, OUT
from ._ops import ArrayOps
from ._scalar import meta
from .dual import Dual
from .rules import RULES
from .rules._define import NEG, ONE

#: The level of the packed Duals the partial lines are evaluated on (internal, short-lived).
_LV = _tags.new_level()
_REAL = frozenset({float, int, np.float64})
_PYOPS = {np.add: operator.add, np.subtract: operator.sub, np.multiply: operator.mul,
          np.divide: operator.truediv}  # fmt: skip
_OPEN = _tags._OPEN
_SEEDS = ((1.0,), (1 + 0j, 1j))
_METAS = (meta(_LV, 1, False), meta(_LV, 2, False))
_NEW = object.__new__


class Jet(ArrayOps):
    """A 0-d value with its gradient and Hessian along ``n <= 2`` directions.

    ``_g``: float (n = 1) or complex (n = 2); ``_h``: ``(h00,)`` or ``(h00, h01, h11)``.
    ``_l1``, ``_l2``: the hessian call's levels (gradient, Hessian), for the hyper-dual form.
    """

    __slots__ = ("_g", "_h", "_l1", "_l2", "_n", "_p")
    #: above every wrapper's level: a Dual or Variable meeting a Jet defers to it, and the
    #: Jet answers in the hyper-dual form (see ``_generic``)
    _level = _tags.DEFER

    def __init__(self, p: float, g, h: tuple, n: int, l1: int, l2: int):
        self._p, self._g, self._h, self._n, self._l1, self._l2 = p, g, h, n, l1, l2

    # -- the hyper-dual form ------------------------------------------------------------------
    def _grad_vec(self):
        g = self._g
        out = np.empty(self._n)
        if self._n == 1:
            out[0] = g
        else:
            out[0], out[1] = g.real, g.imag
        return out

    def _hess(self):
        h = self._h
        if self._n == 1:
            return np.array([[h[0]]])
        return np.array([[h[0], h[1]], [h[1], h[2]]])

    def hyperdual(self) -> Dual:
        n, l1 = self._n, self._l1
        g = self._grad_vec()  # (n,): the tangent of the value and the value of the tangent
        inner = Dual._new(np.float64(self._p), g, l1, n, False)
        dot = Dual._new(g, self._hess(), l1, n, False)
        return Dual._new(inner, dot, self._l2, n, False)

    def _unwrap(self):
        return self.hyperdual()._p

    def astype(self, dtype, copy=True):
        return self.hyperdual().astype(dtype, copy)

    def __setitem__(self, key, value):
        raise NotImplementedError(
            "item assignment into a 0-d value inside hessian(): dualad cannot follow it on "
            "this path; build a new value instead (y = np.where(mask, value, y))"
        )

    def __repr__(self) -> str:
        return f"Jet(value={self._p!r}, gradient={self._grad_vec()!r})"

    # -- NumPy hooks ------------------------------------------------------------------------
    def _apply(self, func, args, kwargs, level):
        if self._l2 not in _OPEN:  # the hessian call that made it has returned
            raise _tags.escaped(self._l2)
        if not kwargs:
            res = _rule(func, args, self)
            if res is not None:
                return res
        return _generic(func, args, kwargs)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if method == "__call__":
            return self._apply(ufunc, inputs, kwargs, None)
        return _generic(getattr(ufunc, method), inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        return _generic(func, args, kwargs)

    def __getitem__(self, key):
        return _generic(lambda a, k: a[k], (self, key), {})


def hyperdual_seed(v, e, n: int, l1: int, l2: int) -> Dual:
    """The input ``v`` as ``hessian(method="hyperdual")`` seeds it: ``Dual(l2, Dual(l1, v, e),
    Dual(l1, e, 0))`` with ``e`` its ``(n,) + v.shape`` slice of the identity; marked as the
    point the Hessian is taken at (writes into it raise)."""
    hd = Dual._new(Dual._new(v, e, l1, n, False), Dual._new(e, None, l1, n, False), l2, n, False)
    hd._owns = INPUT
    return hd


def _hyper(a):
    """``a`` with every Jet and JetVector in it (lists, tuples and dicts included) in the
    hyper-dual form."""
    t = type(a)
    if t is Jet or t is JetVector:
        return a.hyperdual()
    if t in (list, tuple):
        return t(_hyper(b) for b in a)
    if t is dict:
        return {k: _hyper(v) for k, v in a.items()}
    return a


def _generic(func, args, kwargs):
    return func(*_hyper(args), **_hyper(kwargs))


def _rule(func, args, src: Jet):
    """``func(*args)`` by the chain rule from the table's partial lines, or None."""
    rule = RULES.get(func)
    if rule is None:
        return None
    parts = rule.partials
    if parts is None:
        return None
    nargs = len(args)
    if nargs == 1:
        if args[0] is not src:
            return None
        return _unary(func, parts[0], src)
    if nargs != 2:
        return None
    l2 = src._l2
    opa, opb = _operand(args[0], parts[0], l2), _operand(args[1], parts[1], l2)
    if opa is None or opb is None:
        return None
    va, a = opa
    vb, b = opb
    pyop = _PYOPS.get(func)
    if pyop is not None:  # + - * / on floats: IEEE, NumPy's bits
        try:
            out = float(pyop(va, vb))
        except ZeroDivisionError:  # NumPy's inf or nan, and its warning: the generic path
            return None
    else:
        out = func(va, vb)
        if type(out) is not np.float64:
            return None
        out = float(out)
    if out - out:  # inf or nan: the generic path (its guards and warnings)
        return None
    if a is None:
        return _one_jet(parts[1], 1, out, va, vb, b)
    if b is None:
        return _one_jet(parts[0], 0, out, va, vb, a)
    return _two_jets(parts, out, va, vb, a, b)


def _operand(v, part, l2: int):
    """``(float value, the Jet or None for a constant)`` of one argument, or None where the
    rule cannot take it (another hessian call's Jet, no partial line, not a real number)."""
    if type(v) is Jet:
        return (v._p, v) if v._l2 == l2 and part is not None else None
    return (float(v), None) if type(v) in _REAL else None


def _first(p, out, vals):
    """A first partial as a float: the table's line on the arguments' floats (NaN where the
    line raises on them, ZeroDivisionError of a Python float: the callers then leave for the
    generic path, with NumPy's inf/nan and warnings)."""
    if p is ONE:
        return 1.0
    if p is NEG:
        return -1.0
    try:
        return float(p(out, *vals))
    except _FALLBACK:
        return math.nan


def _second(p, out, first_dot, dvals):
    """The table's partial line ``p`` on packed Duals (``dvals``; the output's tangent
    ``first_dot``): its packed tangent, the second partials (0.0: none); None where the line
    leaves the packed path."""
    mt = _METAS[0] if type(first_dot) is float else _METAS[1]
    out_d = _NEW(Dual)
    out_d._p, out_d._dot, out_d._m = out, first_dot, mt
    try:
        r = p(out_d, *dvals)
    except _FALLBACK:
        return None
    if type(r) is Dual and r._m[0] == _LV:
        if type(r._p) is not float:  # left the packed path: the generic one answers
            return None
        d = r._dot
        return 0.0 if d is None else d
    return 0.0


def _packed(v: float, seed, mt):
    d = _NEW(Dual)  # a packed scalar: the three slots scalar code reads
    d._p, d._dot, d._m = v, seed, mt
    return d


def _unary(func, p, a: Jet):
    """``func(a)`` for a one-argument rule with partial line ``p``."""
    if p is None:
        return None
    x = a._p
    kern = KERNELS.get(func)
    if kern is not None:  # NumPy's bits and the table's partial, on floats
        prim, part = kern
        try:
            out = prim(x)
            p1 = (
                out
                if part is OUT
                else 1.0
                if part is ONE
                else -1.0
                if part is NEG
                else part(out, x)
            )
        except _FALLBACK:
            return None
    else:
        out = func(x)
        if type(out) is not np.float64:
            return None
        out = float(out)
        p1 = _first(p, out, (x,))
    if out - out or p1 - p1:  # inf or nan: the generic path (its guards and warnings)
        return None
    s = 0.0
    if p is not ONE and p is not NEG:
        s = _second(p, out, p1, (_packed(x, 1.0, _METAS[0]),))
        if s is None:
            return None
        s = float(s)
    return _chain1(out, p1, s, a)


def _one_jet(p, i: int, out: float, va: float, vb: float, a: Jet):
    """A binary rule with one Jet argument ``a`` (at ``i``; the other a constant)."""
    vals = (va, vb)
    p1 = _first(p, out, vals)
    if p1 - p1:  # an infinite or NaN partial: the generic path's guards
        return None
    s = 0.0
    if p is not ONE and p is not NEG:
        d = _packed(vals[i], 1.0, _METAS[0])
        s = _second(p, out, p1, (d, vb) if i == 0 else (va, d))
        if s is None:
            return None
        s = float(s)
    return _chain1(out, p1, s, a)


def _chain1(out: float, p1: float, s: float, a: Jet):
    """The Jet of ``out = f(a)``: f' = ``p1``, f'' = ``s``."""
    g, h = a._g, a._h
    gout = p1 * g
    if a._n == 1:
        h0 = p1 * h[0]
        if s != 0.0:
            h0 += s * g * g
        hout = (h0,)
        if gout - gout or h0 - h0:
            return None
    else:
        h0, h1, h2 = p1 * h[0], p1 * h[1], p1 * h[2]
        if s != 0.0:
            gr, gi = g.real, g.imag
            h0 += s * gr * gr
            h1 += s * gr * gi
            h2 += s * gi * gi
        hout = (h0, h1, h2)
        if gout - gout or h0 - h0 or h1 - h1 or h2 - h2:
            return None
    j = _NEW(Jet)
    j._p, j._g, j._h, j._n, j._l1, j._l2 = out, gout, hout, a._n, a._l1, a._l2
    return j


def _two_jets(parts, out: float, va: float, vb: float, a: Jet, b: Jet):
    """A binary rule on two Jets: the second partials from the partial lines on Duals packed
    along two directions (one per argument)."""
    pa, pb = parts
    vals = (va, vb)
    fa, fb = _first(pa, out, vals), _first(pb, out, vals)
    if fa - fa or fb - fb:
        return None
    saa = sab = sba = sbb = 0.0
    la = pa is not ONE and pa is not NEG
    lb = pb is not ONE and pb is not NEG
    if la or lb:
        mt = _METAS[1]
        dvals = (_packed(va, 1 + 0j, mt), _packed(vb, 1j, mt))
        first_dot = fa * (1 + 0j) + fb * 1j
        if la:
            r = _second(pa, out, first_dot, dvals)
            if r is None:
                return None
            saa, sab = (float(r), 0.0) if type(r) is not complex else (r.real, r.imag)
        if lb:
            r = _second(pb, out, first_dot, dvals)
            if r is None:
                return None
            sba, sbb = (float(r), 0.0) if type(r) is not complex else (r.real, r.imag)
    ga, gb, ha, hb, n = a._g, b._g, a._h, b._h, a._n
    gout = fa * ga + fb * gb
    if gout - gout:
        return None
    # H = fa Ha + fb Hb + sum over argument pairs (j, k) of s_jk g_j g_k^T, in that order
    gar, gai, gbr, gbi = ga.real, ga.imag, gb.real, gb.imag  # (a float's imag is 0)
    h0 = fa * ha[0] + fb * hb[0]
    if n == 1:
        if saa != 0.0:
            h0 += saa * gar * gar
        if sab != 0.0:
            h0 += sab * gar * gbr
        if sba != 0.0:
            h0 += sba * gbr * gar
        if sbb != 0.0:
            h0 += sbb * gbr * gbr
        if h0 - h0:
            return None
        hout = (h0,)
    else:
        h1 = fa * ha[1] + fb * hb[1]
        h2 = fa * ha[2] + fb * hb[2]
        if saa != 0.0:
            h0 += saa * gar * gar
            h1 += saa * gar * gai
            h2 += saa * gai * gai
        if sab != 0.0:
            h0 += sab * gar * gbr
            h1 += sab * gar * gbi
            h2 += sab * gai * gbi
        if sba != 0.0:
            h0 += sba * gbr * gar
            h1 += sba * gbr * gai
            h2 += sba * gbi * gai
        if sbb != 0.0:
            h0 += sbb * gbr * gbr
            h1 += sbb * gbr * gbi
            h2 += sbb * gbi * gbi
        if h0 - h0 or h1 - h1 or h2 - h2:
            return None
        hout = (h0, h1, h2)
    j = _NEW(Jet)
    j._p, j._g, j._h, j._n, j._l1, j._l2 = out, gout, hout, n, a._l1, a._l2
    return j


def seeds(values, l1: int, l2: int) -> list:
    """One Jet per input number (``values``: n <= 2 floats), direction i for input i."""
    n = len(values)
    zero = (0.0,) if n == 1 else (0.0, 0.0, 0.0)
    return [Jet(float(v), s, zero, n, l1, l2) for v, s in zip(values, _SEEDS[n - 1])]


class JetVector(ArrayOps):
    """The input vector of two numbers: ``x[0]`` and ``x[1]`` are its Jets; anything else
    sees the hyper-dual form of the whole vector."""

    __slots__ = ("_hd", "_jets", "_l1", "_l2", "_x")
    _level = _tags.DEFER  # as Jet's

    def __init__(self, x, l1: int, l2: int):
        self._x, self._l1, self._l2, self._hd = x, l1, l2, None
        self._jets = seeds(x.tolist(), l1, l2)

    def hyperdual(self) -> Dual:
        """The vector as ``hessian(method="hyperdual")`` seeds it (made once: one input)."""
        if self._hd is None:
            n = self._x.size
            self._hd = hyperdual_seed(self._x, np.eye(n), n, self._l1, self._l2)
        return self._hd

    def _unwrap(self):
        return self.hyperdual()._p

    def astype(self, dtype, copy=True):
        return self.hyperdual().astype(dtype, copy)

    def __setitem__(self, key, value):
        self.hyperdual()[key] = value  # the input: raises, as every derivative call's input

    def __getitem__(self, key):
        if type(key) is int and -len(self._jets) <= key < len(self._jets):
            return self._jets[key]
        return self.hyperdual()[key]

    def _apply(self, func, args, kwargs, level):
        return _generic(func, args, kwargs)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        f = ufunc if method == "__call__" else getattr(ufunc, method)
        return _generic(f, inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        return _generic(func, args, kwargs)

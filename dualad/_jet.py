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

import operator

from dualad._numpy import np

from . import _tags
from ._alias import INPUT
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
    if rule is None or rule.partials is None or not 1 <= len(args) <= 2:
        return None
    jets, vals = [], []
    for a in args:
        t = type(a)
        if t is Jet:
            if a._l2 != src._l2:
                return None
            jets.append(len(vals))
            vals.append(a._p)
        elif t in _REAL:
            vals.append(float(a))
        else:
            return None
    parts = rule.partials
    for i in jets:
        if parts[i] is None:
            return None
    pyop = _PYOPS.get(func)
    if pyop is not None and len(vals) == 2:  # + - * / on floats: IEEE, NumPy's bits
        try:
            out = float(pyop(vals[0], vals[1]))
        except ZeroDivisionError:  # NumPy's inf or nan, and its warning: the generic path
            return None
    else:
        out = func(*vals)
        if type(out) is not np.float64:
            return None
        out = float(out)
    if out - out:  # inf or nan: the generic path (its guards and warnings)
        return None
    # first partials on floats
    first = []
    for i in jets:
        p = parts[i]
        p = 1.0 if p is ONE else -1.0 if p is NEG else float(p(out, *vals))
        if p - p:  # an infinite or NaN partial: the generic path's guards
            return None
        first.append(p)
    # second partials: the partial lines on packed Duals, one direction per Jet argument
    m = len(jets)
    second = None  # second[j] = (d p_j / d arg_0, d p_j / d arg_1); None: all zero
    for j, i in enumerate(jets):
        p = parts[i]
        if p is ONE or p is NEG:  # linear in this argument (add, subtract): nothing to do
            continue
        if second is None:  # the packed Duals, made once and only when a line needs them
            seeds, mt = _SEEDS[m - 1], _METAS[m - 1]
            dvals = list(vals)
            for jj, ii in enumerate(jets):
                d = _NEW(Dual)  # a packed scalar: the three slots scalar code reads
                d._p, d._dot, d._m = vals[ii], seeds[jj], mt
                dvals[ii] = d
            out_d = _NEW(Dual)
            out_d._p, out_d._m = out, mt
            out_d._dot = first[0] * seeds[0] + (first[1] * seeds[1] if m == 2 else 0.0)
            second = [(0.0, 0.0)] * m
        r = p(out_d, *dvals)
        if type(r) is Dual and r._m[0] == _LV:
            if type(r._p) is not float:  # left the packed path: the generic one answers
                return None
            d = r._dot
            if d is not None:
                second[j] = (float(d), 0.0) if m == 1 else (d.real, d.imag)
    # the chain rule
    n = src._n
    g_out = 0.0
    h_out = [0.0] * len(src._h)
    for j, i in enumerate(jets):
        a = args[i]
        g_out = g_out + first[j] * a._g
        for e, he in enumerate(a._h):
            h_out[e] += first[j] * he
    for j, i in enumerate(jets if second is not None else ()):
        gj = args[i]._g
        for k, i2 in enumerate(jets):
            pjk = second[j][k]
            if pjk == 0.0:
                continue
            gk = args[i2]._g
            if n == 1:
                h_out[0] += pjk * gj * gk
            else:
                h_out[0] += pjk * gj.real * gk.real
                h_out[1] += pjk * gj.real * gk.imag
                h_out[2] += pjk * gj.imag * gk.imag
    if g_out - g_out:
        return None
    for v in h_out:
        if v - v:
            return None
    return Jet(out, g_out, tuple(h_out), n, src._l1, src._l2)


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

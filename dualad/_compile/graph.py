"""The element graph: ``X`` nodes over one element, and derivatives as graph transforms.

A value is either a scalar or an array defined elementwise over a flat domain of ``L``
elements (``X`` nodes, hash-consed so equal expressions are computed once). Applying a
NumPy ufunc to nodes makes a node (``Graph.apply``); the rule table's partials, applied to
nodes, are nodes too. Derivatives are transforms of the graph:

- reverse (``adjoints``): each node's adjoint is the sum over its uses of the use's adjoint
  times the rule's partial, the partial being the rule table's own ``partials`` entry applied
  to the nodes (so a partial such as ``lambda out, x: np.cos(x)`` becomes a ``cos`` node);
- forward (``tangents``): the same partials times the arguments' tangents;
- second order: the forward transform of the reverse graph (forward over reverse), with
  several directions ("lanes") at once for the colored Hessian.

No derivative is written here: the partials come from ``dualad.rules``. Nodes built while
a graph is current (``using(g)``, one at a time under ``LOCK``) belong to it.
Imports numpy and dualad.rules.
"""

from __future__ import annotations

import contextlib
import math
import threading

from dualad._numpy import np
from dualad.rules import RULES
from dualad.rules._define import NEG, ONE

from .trace import NotCompilable

LOCK = threading.RLock()
_G = None  # the current graph (see ``using``)


@contextlib.contextmanager
def using(g):
    """Make ``g`` the graph that operations on nodes build into (under ``LOCK``)."""
    global _G
    with LOCK:
        old, _G = _G, g
        try:
            yield g
        finally:
            _G = old


_OPS = {np.add: "+", np.subtract: "-", np.multiply: "*", np.divide: "/"}
_CMP = {np.less: "<", np.less_equal: "<=", np.greater: ">", np.greater_equal: ">=",
        np.equal: "==", np.not_equal: "!="}  # fmt: skip
_BOOL = {np.logical_and: "and", np.logical_or: "or"}


class X:
    """One node of the element graph: ``op`` applied to ``args`` over domain ``dom``.

    ``op``: a NumPy ufunc, or "load" (``args = (array name, offset)``: element ``offset + i``
    of a flat input, direction or constant array; a scalar load for ``dom`` None), "sum"
    (the reduction of an array node), "select" (``c ? a : b``), "not". ``dom``: None for a
    scalar, else the number of elements. Arguments are nodes or Python numbers.
    """

    __slots__ = ("args", "dom", "id", "op")
    __array_priority__ = 30

    def __init__(self, op, args, dom, id):
        self.op, self.args, self.dom, self.id = op, args, dom, id

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if method != "__call__" or kwargs:
            raise NotCompilable(f"numpy.{ufunc.__name__}.{method} inside a rule")
        return _G.apply(ufunc, inputs)

    def __array_function__(self, func, types, args, kwargs):
        if func in (np.ones_like, np.zeros_like) and not kwargs.get("shape"):
            return 1.0 if func is np.ones_like else 0.0
        if func is np.where and len(args) == 3 and not kwargs:
            return _G.select(*args)
        if func in (np.any, np.all) and len(args) == 1 and not kwargs and args[0].dom is None:
            return args[0]
        raise NotCompilable(f"{getattr(func, '__name__', func)} inside a rule has no scalar form")

    def __bool__(self):
        raise NotCompilable("a rule branches on a value that changes with the input")

    __float__ = __int__ = __index__ = __bool__


def _op(ufunc):
    return lambda self, o: ufunc(self, o)


def _rop(ufunc):
    return lambda self, o: ufunc(o, self)


for _n, _u in {"add": np.add, "sub": np.subtract, "mul": np.multiply, "truediv": np.divide,
               "pow": np.power}.items():  # fmt: skip
    setattr(X, f"__{_n}__", _op(_u))
    setattr(X, f"__r{_n}__", _rop(_u))
for _n, _u in {"lt": np.less, "le": np.less_equal, "gt": np.greater, "ge": np.greater_equal,
               "eq": np.equal, "ne": np.not_equal}.items():  # fmt: skip
    setattr(X, f"__{_n}__", _op(_u))
X.__neg__ = lambda self: np.negative(self)
X.__invert__ = lambda self: np.logical_not(self)  # only the graph's booleans (a rule's ~isnan)
X.__hash__ = object.__hash__


def _const_key(c):
    return ("c", type(c).__name__, repr(c))


class Graph:
    """Builds ``X`` nodes, each distinct expression once."""

    def __init__(self):
        self.table: dict = {}
        self.nodes: list[X] = []

    def make(self, op, args, dom):
        key = (op, tuple(a.id if type(a) is X else _const_key(a) for a in args), dom)
        x = self.table.get(key)
        if x is None:
            x = X(op, tuple(args), dom, len(self.nodes))
            self.table[key] = x
            self.nodes.append(x)
        return x

    @staticmethod
    def dom_of(args):
        dom = None
        for a in args:
            if type(a) is X and a.dom is not None:
                if dom is not None and a.dom != dom:
                    raise NotCompilable(f"arrays of {dom} and {a.dom} elements combined")
                dom = a.dom
        return dom

    def apply(self, ufunc, args):
        if not any(type(a) is X for a in args):  # constants: folded now, as NumPy computes
            r = ufunc(*args)
            return r.item() if isinstance(r, np.generic) else r
        for a in args:
            if type(a) is not X and not isinstance(a, (int, float, bool, np.number, np.bool_)):
                raise NotCompilable(f"numpy.{ufunc.__name__} of a non-scalar constant")
        args = tuple(a.item() if isinstance(a, np.generic) else a for a in args)
        a0 = args[0]
        if len(args) == 2:
            a1 = args[1]
            if ufunc is np.multiply:
                if a0 == 1.0 if type(a0) is not X else False:
                    return a1
                if a1 == 1.0 if type(a1) is not X else False:
                    return a0
            elif ufunc is np.add:
                if type(a0) is not X and a0 == 0 and _nonneg_zero(a0):
                    return a1
                if type(a1) is not X and a1 == 0 and _nonneg_zero(a1):
                    return a0
            elif (
                ufunc is np.subtract
                and type(a1) is not X
                and a1 == 0
                or ufunc is np.divide
                and type(a1) is not X
                and a1 == 1
            ):
                return a0
        elif ufunc is np.negative and type(a0) is X and a0.op is np.negative:
            return a0.args[0]
        if ufunc not in NUMBA_UFUNCS:
            raise NotCompilable(f"numpy.{getattr(ufunc, '__name__', ufunc)} has no Numba form")
        return self.make(ufunc, args, self.dom_of(args))

    def select(self, c, a, b):
        if type(c) is not X:
            return a if c else b
        if type(a) is not X and type(b) is not X and a == b and repr(a) == repr(b):
            return a
        return self.make("select", (c, a, b), self.dom_of((c, a, b)))

    def load(self, name, offset, dom):
        return self.make("load", (name, offset), dom)

    def total(self, a):
        if type(a) is not X or a.dom is None:
            raise NotCompilable("a sum of a scalar")
        return self.make("sum", (a,), None)

    # -- re-instantiation: an array expression at other indices ------------------------------
    def shift(self, x, start: int, dom, memo=None):
        """``x`` read at elements ``start + i`` for ``i < dom`` (a scalar for ``dom`` None)."""
        if type(x) is not X or x.dom is None:
            return x
        memo = {} if memo is None else memo
        k = x.id
        if k in memo:
            return memo[k]
        if x.op == "load":
            r = self.make("load", (x.args[0], x.args[1] + start), dom)
        elif x.op == "sum":
            r = x
        else:
            args = tuple(self.shift(a, start, dom, memo) for a in x.args)
            r = self.make(x.op, args, self.dom_of(args) if dom is not None else None)
        memo[k] = r
        return r


def _nonneg_zero(c) -> bool:
    return math.copysign(1.0, c) > 0


# Ufuncs Numba compiles on float64 scalars (checked by the tests against NumPy).
NUMBA_UFUNCS = frozenset({
    np.add, np.subtract, np.multiply, np.divide, np.power, np.negative, np.positive,
    np.absolute, np.fabs, np.sqrt, np.cbrt, np.square, np.reciprocal, np.exp, np.exp2,
    np.expm1, np.log, np.log2, np.log10, np.log1p, np.logaddexp, np.logaddexp2, np.sin,
    np.cos, np.tan, np.arcsin, np.arccos, np.arctan, np.arctan2, np.hypot, np.sinh, np.cosh,
    np.tanh, np.arcsinh, np.arccosh, np.arctanh, np.deg2rad, np.rad2deg, np.degrees,
    np.radians, np.sign, np.floor, np.ceil, np.trunc, np.rint, np.maximum, np.minimum,
    np.fmax, np.fmin, np.copysign, np.less, np.less_equal, np.greater, np.greater_equal,
    np.equal, np.not_equal, np.logical_and, np.logical_or, np.logical_not, np.isnan,
    np.isinf, np.isfinite, np.fmod, np.remainder,
})  # fmt: skip


# -- derivatives as graph transforms -------------------------------------------------------------


def _partial_terms(g: Graph, x: X, bar):
    """``[(argument, bar * d x / d argument)]`` for a node ``x`` (its rule's partials)."""
    if x.op == "select":
        c, a, b = x.args  # (a constant branch takes no adjoint)
        terms = [(a, g.select(c, bar, 0.0)), (b, g.select(c, 0.0, bar))]
        return [(v, t) for v, t in terms if type(v) is X]
    if x.op == "sum":
        return [(x.args[0], bar)]
    return _weighted_partials(g, x, lambda a: bar)


def _weighted_partials(g: Graph, x: X, weight):
    """``[(argument, weight(argument) * d x / d argument)]`` by ``x``'s rule's partials (the
    rule table's entries applied to nodes); an argument whose weight is None is skipped.
    Reverse weighs every argument by the adjoint, forward each by its tangent."""
    rule = RULES.get(x.op)
    if rule is None or rule.partials is None or x.op in _CMP or x.op in _BOOL:
        return []
    out = []
    for a, p in zip(x.args, rule.partials):
        if type(a) is not X or p is None:
            continue
        w = weight(a)
        if w is None:
            continue
        if p is ONE:
            t = w
        elif p is NEG:
            t = g.apply(np.negative, (w,))
        else:
            t = _times(g, w, p(x, *x.args), rule.finite)
        out.append((a, t))
    return out


def _times(g: Graph, w, d, finite: bool):
    """``w * d``, and 0 where ``w`` is 0 and the partial ``d`` is infinite (sqrt at 0): the
    table's own guard (``_masked``, taken where ``0 * inf`` raises), so it stays 0 as in the
    uncompiled modes; a nan partial stays nan, as there.
    Only there: where ``d`` is finite the product (and its own derivative, in second order)
    is kept even at ``w == 0``. Rules whose partials are finite need no guard."""
    if type(w) is not X and w == 0 and not finite:
        return 0.0  # a zero constant weight: zero whatever the partial (0 * inf included)
    t = g.apply(np.multiply, (w, d))
    if finite or type(w) is not X or type(t) is not X or type(d) is not X:
        return t
    bad = g.apply(np.logical_and, (g.apply(np.equal, (w, 0.0)), g.apply(np.isinf, (d,))))
    return g.select(bad, 0.0, t)


def _topo(roots, loop_only: bool = False) -> list:
    """The nodes ``roots`` need, each after its arguments (``loop_only``: the array nodes of
    one loop body, not descending into the scalars it reads)."""
    seen, order = set(), []
    stack = [(r, False) for r in roots if type(r) is X and not (loop_only and r.dom is None)]
    while stack:
        x, done = stack.pop()
        if done:
            order.append(x)
            continue
        if x.id in seen:
            continue
        seen.add(x.id)
        stack.append((x, True))
        stack.extend(
            (a, False) for a in x.args
            if type(a) is X and a.id not in seen and not (loop_only and a.dom is None)
        )  # fmt: skip
    return order


def adjoints(g: Graph, seeds: list) -> dict:
    """Reverse sweep over the graph: ``{(array name, offset, dom): adjoint}`` per load.

    ``seeds``: ``[(node, bar)]``. A scalar used inside an array expression receives the sum
    of its adjoints over the domain.
    """
    bars: dict = {}
    for x, b in seeds:
        if type(x) is X:
            bars[x.id] = g.apply(np.add, (bars[x.id], b)) if x.id in bars else b
    out: dict = {}
    for x in reversed(_topo([x for x, _ in seeds])):
        bar = bars.pop(x.id, None)
        if bar is None:
            continue
        if x.op == "load":
            key = (x.args[0], x.args[1], x.dom)
            out[key] = g.apply(np.add, (out[key], bar)) if key in out else bar
            continue
        for a, t in _partial_terms(g, x, bar):
            if a.dom is None and x.dom is not None:
                # a scalar broadcast over an array: its adjoint sums over the domain, also
                # where the adjoint is one value for every element (a constant, a scalar)
                if type(t) is X and t.dom is not None:
                    t = g.total(t)
                else:
                    t = g.apply(np.multiply, (t, float(x.dom)))
            bars[a.id] = g.apply(np.add, (bars[a.id], t)) if a.id in bars else t
    return out


def tangents(g: Graph, roots: list, direction) -> list:
    """Forward sweep: the tangent of each root, loads of input ``x<k>`` having the tangent
    ``direction(name, offset, dom)`` (a node, or None for a constant)."""
    memo: dict = {}
    for x in _topo(roots):
        if x.op == "load":
            t = direction(x.args[0], x.args[1], x.dom)
        elif x.op == "sum":
            a = memo.get(x.args[0].id)
            t = (
                None
                if a is None
                else g.total(a)
                if type(a) is X and a.dom is not None
                else (g.apply(np.multiply, (a, float(x.args[0].dom))))
            )
        elif x.op == "select":
            c, a, b = x.args
            ta = memo.get(a.id) if type(a) is X else None
            tb = memo.get(b.id) if type(b) is X else None
            t = (
                None
                if ta is None and tb is None
                else g.select(c, 0.0 if ta is None else ta, 0.0 if tb is None else tb)
            )
        else:
            t = None
            for _, term in _weighted_partials(g, x, lambda a: memo.get(a.id)):
                t = term if t is None else g.apply(np.add, (t, term))
        memo[x.id] = t
    return [memo.get(r.id) if type(r) is X else None for r in roots]


def _dir_load(g, name, off, dom, prefix, lane):
    if not name.startswith("x"):
        return None  # constants: no tangent
    k = name[1:]
    if lane is None:
        return g.load(f"{prefix}{k}", off, dom)
    return g.make("load2", (f"{prefix}{k}", lane, off), dom)


def _bcast(bar, dom):
    """A scalar (or constant) adjoint stored at every element of an array load."""
    return _G.make("bcast", (bar,), dom)

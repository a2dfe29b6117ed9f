"""The "numba" backend: a traced program lowered to scalar code and compiled by Numba.

Lowering turns each step of the program into an expression graph over *one element*: a
value is either a scalar or an array defined elementwise over a flat domain of ``L``
elements (``X`` nodes, hash-consed so equal expressions are computed once). Elementwise
table rules apply their function to the nodes; slicing an array re-instantiates its
expression at shifted indices (``x[1:] - x[:-1]`` reads ``x[i + 1] - x[i]``); ``np.sum``,
``np.mean`` and ``np.dot`` of arrays are reductions. Derivatives are graph transforms:

- reverse (``adjoints``): each node's adjoint is the sum over its uses of the use's adjoint
  times the rule's partial, the partial being the rule table's own ``partials`` entry applied
  to the nodes (so a partial such as ``lambda out, x: np.cos(x)`` becomes a ``cos`` node);
- forward (``tangents``): the same partials times the arguments' tangents;
- second order: the forward transform of the reverse graph (forward over reverse), with
  several directions at once for the colored Hessian.

No derivative is written here: the partials come from ``dualad.rules``. The scheduler then
emits straight-line Python for Numba: scalars as local variables, and for the array
expressions one fused loop per group of reductions/stores over the same domain (recomputing
an array expression where a later loop needs it, instead of storing it). A program with a
step that has no such form (a matrix product, a broadcast, a SciPy function Numba cannot
call) raises ``NotCompilable``, and the caller replays it in NumPy.

The generated module is written once per program to the cache directory and compiled with
``numba.njit(cache=True)``, so a new process loads the machine code instead of compiling.
Imports numpy, numba (lazily) and dualad internals.
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
import os
import sys
import threading

from dualad._numpy import np
from dualad.rules import RULES
from dualad.rules._define import NEG, ONE, getitem

from .trace import NotCompilable, Program, Ref

_LOCK = threading.RLock()
_G = None  # the graph being built (one lowering at a time, under _LOCK)

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
        if ufunc not in _NUMBA_UFUNCS:
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
_NUMBA_UFUNCS = frozenset({
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


# -- from the recorded program to the element graph ---------------------------------------------


class Lowered:
    """The element graph of one program: outputs, guards and the input/constant arrays."""

    def __init__(self, program: Program, g: Graph):
        self.p = program
        self.g = g
        self.val: dict = {}  # value id -> X, number, or a list of scalars (np.stack)
        self.shapes: dict = {}  # value id -> shape (array values)
        self.consts: list = []  # constant arrays, loaded by name c<k>
        self.inputs = []  # (name, flat size, shape) per input leaf
        for k, vid in enumerate(program.inputs):
            v = program.values[vid]
            if np.result_type(v) != np.float64:
                raise NotCompilable(f"input {k} is {np.result_type(v)}: only float64 compiles")
            shape = np.shape(v)
            size = int(np.prod(shape))
            self.inputs.append((f"x{k}", size, shape))
            # a 0-d input is a float parameter of the kernels (offset None), an array a vector
            self.val[vid] = self.g.load(
                f"x{k}", None if shape == () else 0, None if shape == () else size
            )
            self.shapes[vid] = shape
        guard_of = {g.node: g for g in program.guards}
        self.guards = []  # (X, recorded bool)
        from .replay import live_nodes

        live = live_nodes(program, [o.id for o in program.out_leaves if type(o) is Ref])
        for node in live:
            self._lower(node)
            g = guard_of.get(node.id)
            if g is not None:
                x = self.val.get(node.outs[0])
                if node.func is not bool or type(x) is not X or x.dom is not None:
                    raise NotCompilable(f"a guard on {g.what}() of an array or a number")
                self.guards.append((x, bool(g.value)))
        self.outs = []
        for o in program.out_leaves:
            if type(o) is Ref:
                v = self.val.get(o.id)
                if v is None:
                    raise NotCompilable("an output the lowering did not reach")
                self.outs.append((v, self.shapes.get(o.id, ())))
            else:
                self.outs.append((None, o))

    def arg(self, a):
        if type(a) is Ref:
            if a.id not in self.val:
                raise NotCompilable("a value without a compiled form reached a later step")
            return self.val[a.id]
        return a

    def _const_array(self, c, shape):
        if type(c) is np.ndarray and c.shape == shape and c.dtype.kind in "fib":
            name = f"c{len(self.consts)}"
            self.consts.append(np.ascontiguousarray(c, dtype=np.float64).reshape(-1))
            return self.g.load(name, 0, int(np.prod(shape)))
        return None

    def _lower(self, node):
        f, g = node.func, self.g
        name = node.name or getattr(f, "__name__", "?")
        out_shape = np.shape(self.p.values.get(node.outs[0])) if node.outs[0] is not None else ()
        for o in node.outs:
            kind = np.result_type(self.p.values.get(o, 0.0)).kind if o is not None else "f"
            if kind not in "fb":
                raise NotCompilable(f"{name}: a {np.result_type(self.p.values.get(o))} value "
                                    "(only float64 and bool compile)")  # fmt: skip
        args = [self.arg(a) for a in node.args]
        res = None
        if node.multi:
            raise NotCompilable(f"{name}: a step with several outputs")
        if isinstance(f, np.ufunc) and (
            (node.rule is not None and node.rule.partials is not None)
            or f in _CMP
            or f in _BOOL
            or f is np.logical_not
        ):
            if node.kwargs:
                raise NotCompilable(f"{name} with keyword arguments")
            xs = []
            for a, raw in zip(args, node.args):
                if type(a) is X or isinstance(a, (int, float, np.number, np.bool_)):
                    if type(a) is X and a.dom is not None and self._shape(raw) != out_shape:
                        raise NotCompilable(f"{name}: a broadcast between shapes")
                    xs.append(a.item() if isinstance(a, np.generic) else a)
                elif type(a) is np.ndarray and a.shape == ():
                    xs.append(a.item())
                else:
                    c = self._const_array(a, out_shape)
                    if c is None:
                        raise NotCompilable(f"{name}: a constant array broadcast against the input")
                    xs.append(c)
            res = g.apply(f, xs)
        elif f is np.where and len(args) == 3 and not node.kwargs:
            xs = []
            for a, raw in zip(args, node.args):
                if type(a) is X:
                    if a.dom is not None and self._shape(raw) != out_shape:
                        raise NotCompilable("where: a broadcast between shapes")
                    xs.append(a)
                elif np.ndim(a) == 0:
                    xs.append(np.asarray(a).item())
                else:
                    c = self._const_array(np.asarray(a), out_shape)
                    if c is None:
                        raise NotCompilable("where: a constant array broadcast against the input")
                    xs.append(c)
            res = g.select(*xs)
        elif f is getitem:
            res = self._getitem(args[0], node.args[0], args[1])
        elif f is np.sum or f is np.mean:
            kw = {k: v for k, v in node.kwargs.items() if v not in (None, False)}
            x = args[0]
            if kw or len(args) != 1 or type(x) is not X:
                raise NotCompilable(f"{name} along an axis")
            res = x if x.dom is None else g.total(x)
            if f is np.mean and x.dom is not None:
                res = g.apply(np.divide, (res, float(x.dom)))
        elif f in (np.dot, np.matmul, np.inner, np.vdot) and len(args) == 2 and not node.kwargs:
            a, b = args
            if not all(type(v) is X and v.dom is not None for v in (a, b)) or any(
                len(self._shape(r)) != 1 for r in node.args
            ):
                raise NotCompilable(f"{name} of matrices (only vector . vector compiles)")
            res = g.total(g.apply(np.multiply, (a, b)))
        elif f is np.stack and len(args) == 1 and not node.kwargs:
            items = [self.arg(a) for a in node.args[0]]
            if any(type(v) is X and v.dom is not None for v in items):
                raise NotCompilable("stack of arrays")
            res = [float(v) if type(v) is not X else v for v in items]
        elif (
            node.func.__name__ == "astype"
            and np.dtype(node.args[1]) == np.float64
            or f is bool
            and len(args) == 1
        ):
            res = args[0]
        else:
            raise NotCompilable(f"{name}: no compiled form (only elementwise steps, "
                                "slices, sums and dots compile)")  # fmt: skip
        for o in node.outs:
            if o is not None:
                self.val[o] = res
                self.shapes[o] = out_shape

    def _shape(self, raw):
        return self.shapes.get(raw.id, ()) if type(raw) is Ref else np.shape(raw)

    def _getitem(self, x, raw, key):
        if type(x) is list:  # an entry of np.stack([...])
            if type(key) is int:
                return x[key]
            raise NotCompilable("a slice of a stack of scalars")
        if type(x) is not X or x.dom is None:
            raise NotCompilable("indexing into a scalar")
        shape = self._shape(raw)
        if len(shape) != 1:
            raise NotCompilable("indexing into an array of more than one dimension")
        n = shape[0]
        if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
            k = int(key) + (n if key < 0 else 0)
            return self.g.shift(x, k, None)
        if type(key) is slice:
            start, stop, step = key.indices(n)
            if step != 1:
                raise NotCompilable("a slice with a step")
            return self.g.shift(x, start, max(stop - start, 0))
        raise NotCompilable(f"indexing with {type(key).__name__}")


# -- derivatives as graph transforms -------------------------------------------------------------


def _partial_terms(g: Graph, x: X, bar):
    """``[(argument, bar * d x / d argument)]`` for a node ``x`` (its rule's partials)."""
    if x.op == "select":
        c, a, b = x.args
        return [(a, g.select(c, bar, 0.0)), (b, g.select(c, 0.0, bar))]
    if x.op == "sum":
        return [(x.args[0], bar)]
    rule = RULES.get(x.op)
    if rule is None or rule.partials is None or x.op in _CMP or x.op in _BOOL:
        return []
    out = []
    for a, p in zip(x.args, rule.partials):
        if type(a) is not X or p is None:
            continue
        if p is ONE:
            t = bar
        elif p is NEG:
            t = g.apply(np.negative, (bar,))
        else:
            d = p(x, *x.args)
            t = g.apply(np.multiply, (bar, d))
        out.append((a, t))
    return out


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
            if a.dom is None and type(t) is X and t.dom is not None:
                t = g.total(t)  # a scalar broadcast over an array: its adjoint sums
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
            for a, term in _partial_terms_fwd(g, x, memo):
                t = term if t is None else g.apply(np.add, (t, term))
        memo[x.id] = t
    return [memo.get(r.id) if type(r) is X else None for r in roots]


def _partial_terms_fwd(g, x, memo):
    rule = RULES.get(x.op)
    if rule is None or rule.partials is None or x.op in _CMP or x.op in _BOOL:
        return []
    out = []
    for a, p in zip(x.args, rule.partials):
        if type(a) is not X or p is None:
            continue
        ta = memo.get(a.id)
        if ta is None:
            continue
        if p is ONE:
            out.append((a, ta))
        elif p is NEG:
            out.append((a, g.apply(np.negative, (ta,))))
        else:
            out.append((a, g.apply(np.multiply, (p(x, *x.args), ta))))
    return out


# -- code generation -----------------------------------------------------------------------------


class Emitter:
    """Straight-line Numba source for a list of stores (see ``schedule``)."""

    def __init__(self):
        self.lines: list[str] = []
        self.done: set = set()

    @staticmethod
    def lit(c) -> str:
        if type(c) is bool:
            return repr(c)
        if type(c) is int:
            return repr(c)
        c = float(c)
        if math.isnan(c):
            return "np.nan"
        if c in (math.inf, -math.inf):
            return "np.inf" if c > 0 else "(-np.inf)"
        return repr(c)

    def ref(self, a, loop: bool) -> str:
        if type(a) is not X:
            return self.lit(a)
        if a.dom is None:
            return f"s{a.id}"
        return f"e{a.id}" if loop else f"s{a.id}"

    def expr(self, x: X, loop: bool) -> str:
        r = [self.ref(a, loop) for a in x.args] if x.op not in ("load", "load2") else None
        op = x.op
        if op == "load":
            name, off = x.args
            if off is None:  # a float parameter
                return name
            if x.dom is None:
                return f"{name}[{off}]"
            return f"{name}[i + {off}]" if off else f"{name}[i]"
        if op == "load2":
            name, lane, off = x.args
            if off is None:  # one float per lane
                return f"{name}[{lane}]"
            return f"{name}[{lane}, i + {off}]" if x.dom is not None else f"{name}[{lane}, {off}]"
        if op == "bcast":
            return r[0]
        if op == "select":
            return f"({r[1]} if {r[0]} else {r[2]})"
        if op in _OPS:
            return f"({r[0]} {_OPS[op]} {r[1]})"
        if op in _CMP:
            return f"({r[0]} {_CMP[op]} {r[1]})"
        if op in _BOOL:
            return f"({r[0]} {_BOOL[op]} {r[1]})"
        if op is np.negative:
            return f"(-{r[0]})"
        return f"np.{op.__name__}({', '.join(r)})"


def schedule(stores: list, extra_scalars: list = ()) -> list[str]:
    """Source lines computing ``stores``: ``(kind, target, offset, dom, node)`` with kind
    "set" (``target[offset + i] = node``) or "add" (``+=``); a ``dom`` of None stores one
    element (a scalar node, broadcast when the node is an array... never: see adjoints)."""
    em = Emitter()
    lines = em.lines
    roots = [s[4] for s in stores] + list(extra_scalars)
    order = _topo(roots)
    # the scalar nodes (incl. sums) the stores need, and the loops
    scalars = [x for x in order if x.dom is None]
    emitted: set = set()
    pending_loops = {k: s for k, s in enumerate(stores) if s[3] is not None}
    pending_scalar_stores = [s for s in stores if s[3] is None]
    sums = [x for x in scalars if x.op == "sum"]
    waiting = {x.id: x for x in scalars}

    def scalar_deps(x, acc, seen):
        """The scalar nodes an array expression ``x`` reads (not descending into them)."""
        if type(x) is not X or x.id in seen:
            return acc
        seen.add(x.id)
        if x.dom is None:
            acc.add(x.id)
            return acc
        for a in x.args:
            scalar_deps(a, acc, seen)
        return acc

    while True:
        progressed = False
        # scalars whose arguments are ready (sums wait for their loops)
        for x in list(waiting.values()):
            if x.op == "sum":
                continue
            if all(type(a) is not X or a.id in emitted or (a.dom is not None) for a in x.args):
                if any(type(a) is X and a.dom is not None for a in x.args):
                    continue  # never: scalar nodes only take scalars (sums excepted)
                lines.append(f"s{x.id} = {em.expr(x, False)}")
                emitted.add(x.id)
                del waiting[x.id]
                progressed = True
        # loops: sums and array stores whose scalar inputs are ready, grouped by domain
        ready: dict = {}
        for x in [s for s in sums if s.id not in emitted]:
            deps = scalar_deps(x.args[0], set(), set())
            if deps <= emitted:
                ready.setdefault(x.args[0].dom, ([], []))[0].append(x)
        for k, s in pending_loops.items():
            deps = scalar_deps(s[4], set(), set()) if type(s[4]) is X else set()
            if deps <= emitted:
                ready.setdefault(s[3], ([], []))[1].append((k, s))
        for dom, (rs, ss) in ready.items():
            body = _topo([r.args[0] for r in rs] + [s[4] for _, s in ss], loop_only=True)
            for r in rs:
                lines.append(f"s{r.id} = 0.0")
            lines.append(f"for i in range({dom}):")
            for x in body:
                if x.dom is not None:
                    lines.append(f"    e{x.id} = {em.expr(x, True)}")
            for r in rs:
                lines.append(f"    s{r.id} += {em.ref(r.args[0], True)}")
                emitted.add(r.id)
                del waiting[r.id]
            for k, (kind, target, off, _, node) in ss:
                idx = f"i + {off}" if off else "i"
                op = "=" if kind == "set" else "+="
                lines.append(f"    {target}[{idx}] {op} {em.ref(node, True)}")
                del pending_loops[k]
            progressed = True
        if not waiting and not pending_loops:
            break
        if not progressed:
            raise NotCompilable("the element graph could not be scheduled")
    for kind, target, off, _, node in pending_scalar_stores:
        op = "=" if kind == "set" else "+="
        where = target if off is None else f"{target}[{off}]"  # None: a float local
        lines.append(f"{where} {op} {em.ref(node, False)}")
    return lines


# -- the kernels ---------------------------------------------------------------------------------


def _cache_dir(cache_dir):
    if cache_dir is not None:
        return os.fspath(cache_dir)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "dualad", "compiled")


def _load_module(src: str, cache_dir):
    """Write ``src`` once (named by its hash) and import it: Numba caches beside it."""
    digest = hashlib.sha256(src.encode()).hexdigest()[:20]
    name = f"dualad_cf_{digest}"
    mod = sys.modules.get(name)
    if mod is not None:
        return mod
    d = _cache_dir(cache_dir)
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, name + ".py")
    if not os.path.exists(path):
        tmp = f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"
        with open(tmp, "w") as fh:
            fh.write(src)
        os.replace(tmp, path)  # atomic: another process never reads half a file
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    sys.modules[name] = mod
    return mod


_HEADER = (
    "# generated by dualad.compile: one traced program, lowered to scalar code\n"
    "import numpy as np\nfrom numba import njit\n"
)
_DECOR = '@njit(cache=True, error_model="numpy", fastmath=False)\n'


class Kernels:
    """The Numba kernels of one lowered program, built lazily per kind of call."""

    #: directions per Hessian kernel call (lanes of the forward-over-reverse sweep)
    LANES = 8

    def __init__(self, lowered: Lowered, cache_dir):
        self.low = lowered
        self.cache_dir = cache_dir
        self.fns: dict = {}
        self.pattern = None
        self.lock = threading.Lock()
        outs = lowered.outs
        #: one scalar output: grad, hvp and hessian compile
        self.scalar_out = len(outs) == 1 and type(outs[0][0]) is X and outs[0][0].dom is None
        self.shapes = [s for _, _, s in lowered.inputs]
        self.n_in = len(self.shapes)
        self.hess_plan = None
        self.jac_plan = None
        self.failed: dict = {}  # kind -> why its kernel did not compile
        self.value_fn = self._kernel("value")  # compile now: errors show at compile()

    def summary(self) -> str:
        low = self.low
        n = len(low.g.nodes)
        kinds = ", ".join(sorted(k if m == 1 else f"{k} ({m} directions)" for k, m in self.fns))
        out = f"{n} element-graph nodes; kernels built: {kinds}"
        for kind, why in self.failed.items():
            out += f"\n    {kind} runs on the NumPy replay: {why}"
        return out

    # -- building --------------------------------------------------------------------------
    def _kernel(self, kind: str, lanes: int = 1):
        key = (kind, lanes)
        fn = self.fns.get(key)
        if fn is not None:
            return fn
        with self.lock:  # one build per kind, whichever thread asks first
            fn = self.fns.get(key)
            if fn is None:
                fn = self._build(kind, lanes)
            return fn

    def _build(self, kind: str, lanes: int):
        key = (kind, lanes)
        with _LOCK:
            global _G
            _G = self.low.g
            try:
                src, _params = self._source(kind, lanes)
            finally:
                _G = None
        try:
            import numba

            mod = _load_module(src, self.cache_dir)
            fn = mod.kernel
            f64, vec, mat = numba.float64, numba.float64[::1], numba.float64[:, ::1]
            ins = [f64 if s == () else vec for _, _, s in self.low.inputs]
            consts = [vec] * len(self.low.consts)
            extra = len(_params) - len(ins) - len(consts)
            dirs = [(f64 if lanes == 1 else vec) if s == () else (vec if lanes == 1 else mat)
                    for _, _, s in self.low.inputs][:extra]  # fmt: skip
            if not fn.overloads:  # (a module loaded before is compiled already)
                fn.compile(tuple(ins + consts + dirs))
                fn.disable_compile()  # every call passes these types (see _args)
        except Exception as e:
            msg = str(e).strip().splitlines()
            raise NotCompilable(
                f"Numba could not compile the {kind} kernel: {msg[-1] if msg else type(e).__name__}"
            ) from e
        self.fns[key] = fn
        return fn

    def ready(self, kind: str, lanes: int = 1) -> bool:
        """True when the ``kind`` kernel compiles (built now if need be); else the reason
        is kept for ``report()`` and the caller replays in NumPy."""
        if (kind, lanes) in self.fns:
            return True
        if kind in self.failed:
            return False
        try:
            self._kernel(kind, lanes)
        except NotCompilable as e:
            self.failed[kind] = str(e)
            return False
        return True

    def _params(self, extra=()) -> list[str]:
        low = self.low
        return (
            [n for n, _, _ in low.inputs] + [f"c{k}" for k in range(len(low.consts))] + list(extra)
        )

    def _source(self, kind: str, lanes: int):
        low, g = self.low, self.low.g
        stores, results, pre = [], [], []
        extra = []
        guard_nodes = [x for x, _ in low.guards]

        def out_store(prefix, k, v, shape):
            name = f"{prefix}{k}"
            if type(v) is list:  # np.stack of scalars
                pre.append(f"{name} = np.empty({len(v)})")
                for j, item in enumerate(v):
                    stores.append(("set", name, j, None, item))
                results.append(name)
            elif type(v) is X and v.dom is not None:
                pre.append(f"{name} = np.empty({v.dom})")
                stores.append(("set", name, 0, v.dom, v))
                results.append(name)
            else:
                pre.append(f"{name} = np.empty(1)")
                stores.append(("set", name, 0, None, v))
                results.append(f"{name}[0]")

        outs = [(v, s) for v, s in low.outs]
        for k, (v, shape) in enumerate(outs):
            if v is not None:
                out_store("y", k, v, shape)
            else:
                results.append("0.0")
        if kind == "grad":
            ((y, _),) = outs
            adj = adjoints(g, [(y, 1.0)])
            self._grad_stores(adj, "g", pre, stores, results)
        elif kind == "jvp":  # ``lanes`` directions at once (one: plain arrays)
            extra = [f"v{k}" for k in range(len(low.inputs))]
            for lane in range(lanes):
                li = lane if lanes > 1 else None

                def direction(name, off, dom, li=li):
                    return _dir_load(g, name, off, dom, "v", li)

                pre_t = "t" if lanes == 1 else f"t{lane}_"
                for k, (v, shape) in enumerate(outs):
                    if type(v) is list:  # np.stack of scalars
                        ts = tangents(g, v, direction)
                        out_store(pre_t, k, [0.0 if u is None else u for u in ts], shape)
                    else:
                        (t,) = tangents(g, [v if type(v) is X else None], direction)
                        out_store(pre_t, k, 0.0 if t is None else t, shape)
        elif kind == "hvp":
            extra = [f"v{k}" for k in range(len(low.inputs))]
            ((y, _),) = outs
            adj = adjoints(g, [(y, 1.0)])
            keys = list(adj)
            for lane in range(lanes):
                lane_ix = lane if lanes > 1 else None
                tans = tangents(
                    g,
                    [adj[k] for k in keys],
                    lambda name, off, dom, li=lane_ix: _dir_load(g, name, off, dom, "v", li),
                )
                hv = {k: t for k, t in zip(keys, tans) if t is not None}
                self._grad_stores(hv, f"h{lane}_", pre, stores, results)
        for x in guard_nodes:
            results.append(f"bool({Emitter().ref(x, False)})")
        body = schedule(stores, guard_nodes)
        params = self._params(extra)
        src = _HEADER + "\n\n" + _DECOR + f"def kernel({', '.join(params)}):\n"
        src += "".join(f"    {ln}\n" for ln in pre + body)
        src += f"    return ({', '.join(results)},)\n"
        return src, params

    def _grad_stores(self, adj, prefix, pre, stores, results):
        low = self.low
        for k, (name, size, shape) in enumerate(low.inputs):
            gname = f"{prefix}{k}"
            pre.append(f"{gname} = 0.0" if shape == () else f"{gname} = np.zeros({size})")
            for (arr, off, dom), bar in adj.items():
                if arr != name:
                    continue
                if dom is not None and (type(bar) is not X or bar.dom is None):
                    bar = _bcast(bar, dom)  # a scalar adjoint over an array load
                stores.append(("add", gname, off, dom, bar))
            results.append(gname)

    # -- calling ----------------------------------------------------------------------------
    def _args(self, leaves):
        out = []
        for v, s in zip(leaves, self.shapes):
            if s == ():
                v = float(v)
            elif type(v) is not np.ndarray or v.ndim != 1 or not v.flags.c_contiguous:
                v = np.ascontiguousarray(v, dtype=np.float64).reshape(-1)
            out.append(v)
        return out + self.low.consts if self.low.consts else out

    def _check(self, res, n_before: int):
        from .replay import Stale

        low = self.low
        if low.guards:
            got = res[n_before:]
            for (_, want), ok in zip(low.guards, got):
                if bool(ok) != want:
                    raise Stale()

    def _outs(self, res):
        out = []
        for (v, shape), r in zip(self.low.outs, res):
            if v is None:
                out.append(shape)  # a constant output: ``shape`` holds the value
            elif type(r) is float:
                out.append(np.float64(r))
            else:
                out.append(r.reshape(shape) if type(v) is not list else r)
        return out

    def value(self, leaves):
        res = self.value_fn(*self._args(leaves))
        self._check(res, len(self.low.outs))
        return self._outs(res)

    def direct_value_and_grad(self, example):
        """``vg(x) -> (value, grad)`` for one C-contiguous vector, calling the compiled
        code's entry point without Numba's type dispatch; None where the general path
        is needed (several inputs, constants, guards)."""
        if self.n_in != 1 or len(self.shapes[0]) != 1 or self.low.consts or self.low.guards:
            return None
        fn = self._kernel("grad")
        fn(np.ascontiguousarray(example, dtype=np.float64))  # compiled for this type
        if len(fn.overloads) != 1:
            return None
        ep = next(iter(fn.overloads.values())).entry_point
        f64, contiguous = np.float64, np.ascontiguousarray
        strides = (8,)

        def vg(x):
            if x.strides != strides:
                x = contiguous(x)
            r = ep(x)
            return f64(r[0]), r[1]

        return vg

    def direct_value_and_grad_numbers(self):
        """``vg(items) -> (value, grads)`` for a tuple or list of numbers (every input 0-d),
        the kernel's float parameters filled directly; None where that does not apply."""
        if not self.shapes or any(s != () for s in self.shapes) or self.low.consts:
            return None
        if self.low.guards:
            return None
        fn = self._kernel("grad")
        ep = next(iter(fn.overloads.values())).entry_point
        f64, arr = np.float64, np.array

        def vg(items):
            r = ep(*items)
            return f64(r[0]), [arr(g) for g in r[1:]]

        return vg

    def value_and_grad(self, leaves):
        fn = self.fns.get(("grad", 1)) or self._kernel("grad")
        res = fn(*self._args(leaves))
        n = self.n_in
        if self.low.guards:
            self._check(res, 1 + n)
        return np.float64(res[0]), [_shaped(r, s) for r, s in zip(res[1 : 1 + n], self.shapes)]

    def _dirs(self, vs):
        return [float(v) if s == () else np.ascontiguousarray(v, dtype=np.float64).reshape(-1)
                for v, s in zip(vs, self.shapes)]  # fmt: skip

    def jvp(self, leaves, vs):
        fn = self._kernel("jvp")
        res = fn(*self._args(leaves), *self._dirs(vs))
        n = len(self.low.outs)
        self._check(res, 2 * n)
        outs = self._outs(res[:n])
        tans = self._outs(res[n : 2 * n])
        tans = [np.zeros(np.shape(o)) if v is None else t
                for (v, _), o, t in zip(self.low.outs, outs, tans)]  # fmt: skip
        return outs, tans

    def jacobian_leaf(self, leaves):
        """``out.shape + in.shape`` for one input and one output leaf with at most ``LANES``
        input elements: one kernel call carrying every unit direction; None otherwise."""
        plan = self.jac_plan
        if plan is None:
            (v, oshape), shape = self.low.outs[0], self.shapes[0]
            n = max(1, int(np.prod(shape)))
            if v is None or n > self.LANES:
                self.jac_plan = plan = (None,)
            else:
                eye = np.eye(n)
                d = 1.0 if shape == () else (eye[0] if n == 1 else eye)
                self.jac_plan = plan = (self._kernel("jvp", n), d, n, tuple(oshape) + shape)
        if plan[0] is None:
            return None
        fn, d, n, jshape = plan
        res = fn(*self._args(leaves), d)
        if self.low.guards:
            self._check(res, 1 + n)
        cols = res[1 : 1 + n]
        J = np.stack(cols, axis=-1) if type(cols[0]) is not float else np.array(cols)
        return J.reshape(jshape)

    def jvp_many(self, leaves, dots):
        """Tangents ``(k,) + shape`` per output for ``k`` directions ``dots`` (``(k,) + shape``
        per input), ``LANES`` directions per kernel call."""
        k = dots[0].shape[0]
        lanes = max(1, min(self.LANES, k))
        fn = self._kernel("jvp", lanes)
        args = self._args(leaves)
        n_out = len(self.low.outs)
        cols: list = []
        for start in range(0, k, lanes):
            dirs = []
            for d, s in zip(dots, self.shapes):
                blk = np.zeros((lanes, max(1, int(np.prod(s)))))
                part = np.reshape(d[start : start + lanes], (-1, blk.shape[1]))
                blk[: part.shape[0]] = part
                if s == ():
                    dirs.append(float(blk[0, 0]) if lanes == 1 else np.ascontiguousarray(blk[:, 0]))
                else:
                    dirs.append(blk[0] if lanes == 1 else blk)
            res = fn(*args, *dirs)
            self._check(res, n_out * (1 + lanes))
            for j in range(min(lanes, k - start)):
                tans = self._outs(res[n_out * (1 + j) : n_out * (2 + j)])
                cols.append([np.zeros(np.shape(c)) if v is None else t  # a constant output
                             for (v, c), t in zip(self.low.outs, tans)])  # fmt: skip
        outs = [np.stack([np.asarray(c[i]) for c in cols]) for i in range(n_out)]
        return None, outs

    def hvp(self, leaves, vs):
        fn = self._kernel("hvp", 1)
        res = fn(*self._args(leaves), *self._dirs(vs))
        n = len(self.low.inputs)
        self._check(res, 1 + n)
        return [_shaped(r, s) for r, s in zip(res[1 : 1 + n], self.shapes)]

    def hessian(self, leaves, pattern=None):
        """The dense Hessian ``(n, n)``: one forward-over-reverse sweep per color of the
        pattern's columns (``pattern``, a scipy.sparse matrix; None: every column its own
        color), ``LANES`` colors per kernel call."""
        plan = self.hess_plan
        if plan is None or plan[0] is not pattern:
            plan = self.hess_plan = self._hessian_plan(pattern)
        _, fn, chunks, ncol, n, read = plan
        args = self._args(leaves)
        m = self.n_in
        comp = np.empty((ncol, n))
        for start, count, lanes, dirs in chunks:
            res = fn(*args, *dirs)
            if self.low.guards:
                self._check(res, 1 + m * lanes)
            for j in range(count):
                if m == 1:
                    comp[start + j] = res[1 + j]
                else:
                    comp[start + j] = np.concatenate(
                        [np.atleast_1d(r) for r in res[1 + j * m : 1 + (j + 1) * m]]
                    )
        if read is None:
            H = comp.T.copy()
        else:
            rows, cols, colors_of_cols = read
            H = np.zeros((n, n))
            H[rows, cols] = comp[colors_of_cols, rows]
        H += H.T
        H *= 0.5
        return H

    def _hessian_plan(self, pattern):
        sizes = [s for _, s, _ in self.low.inputs]
        n = sum(sizes)
        if pattern is None:
            colors, ncol, read = np.arange(n), n, None
        else:
            from dualad._sparse import color_columns

            c = color_columns(pattern)
            colors, ncol = c.colors, c.count
            p = pattern.tocsr()
            rows = np.repeat(np.arange(n), np.diff(p.indptr))
            read = (rows, p.indices, colors[p.indices])
        lanes = max(1, min(self.LANES, ncol))
        fn = self._kernel("hvp", lanes)
        offs = np.cumsum([0] + sizes)
        chunks = []
        for start in range(0, ncol, lanes):
            V = np.zeros((lanes, n))
            sel = (colors >= start) & (colors < start + lanes)
            V[colors[sel] - start, np.arange(n)[sel]] = 1.0
            dirs = []
            for k, shape in enumerate(self.shapes):
                d = np.ascontiguousarray(V[:, offs[k] : offs[k + 1]])
                if shape == ():  # a float parameter: one float, or one per lane
                    d = float(d[0, 0]) if lanes == 1 else np.ascontiguousarray(d[:, 0])
                elif lanes == 1:
                    d = d[0]
                dirs.append(d)
            chunks.append((start, min(lanes, ncol - start), lanes, dirs))
        return (pattern, fn, chunks, ncol, n, read)


def _shaped(r, shape):
    """A kernel's result as the input leaf's shape: a float as a 0-d array."""
    if shape == ():
        return np.array(r)
    return r if r.ndim == len(shape) == 1 else r.reshape(shape)


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


def kernels_for(program: Program, cache_dir) -> Kernels:
    """Lower ``program`` and compile its value kernel; ``NotCompilable`` says why not."""
    global _G
    with _LOCK:
        _G = Graph()
        try:
            low = Lowered(program, _G)
        finally:
            _G = None
    return Kernels(low, cache_dir)

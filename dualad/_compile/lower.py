"""The "numba" backend's first step: a traced program lowered to the element graph.

``Lowered(program, g)`` turns each step into nodes of ``g`` (dualad._compile.graph):
elementwise table rules apply their function to the nodes; slicing an array re-instantiates
its expression at shifted indices (``x[1:] - x[:-1]`` reads ``x[i + 1] - x[i]``); ``np.sum``,
``np.mean`` and ``np.dot`` of vectors are reductions; ``np.where`` a select; a comparison read
by an ``if`` a guard node. A step with no such form (a matrix product, a broadcast between
shapes, a SciPy function Numba cannot call) raises ``NotCompilable``, and the caller replays
the program in NumPy. ``kernels_for`` lowers and hands the graph to dualad._compile.kernels.
Imports numpy and dualad internals.
"""

from __future__ import annotations

from dualad._numpy import np
from dualad.rules._define import getitem

from .graph import _BOOL, _CMP, Graph, X, using
from .trace import Method, NotCompilable, Program, Ref, refs

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
        self.params: dict = {}  # kernel parameter (x<k> input, m<id> step result) -> shape
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
            self.params[f"x{k}"] = shape
        guard_of = {g.node: g for g in program.guards}
        self.guards = []  # (X, recorded bool)
        from .replay import live_nodes

        live = live_nodes(program, [o.id for o in program.out_leaves if type(o) is Ref])
        self.opaque: list[Opaque] = []  # steps that run in NumPy between the kernels
        for node in live:
            try:
                self._lower(node)
            except NotCompilable as e:
                self._opaque(node, str(e))  # or NotCompilable where even that cannot be
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

    def _opaque(self, node, why: str) -> None:
        """Run ``node`` in NumPy between kernels: its array arguments are computed by a
        kernel (or are inputs as they are), its output is a parameter ``m<id>`` of the
        kernels after it."""
        o = node.outs[0]
        out = self.p.values.get(o) if o is not None else None
        if (
            node.rule is None
            or node.multi
            or o is None
            or getattr(out, "dtype", None) != np.float64
        ):
            raise NotCompilable(why)  # only steps with one float64 result and a rule
        mats, direct = [], {}
        for ref in refs(node.args) + refs(node.kwargs):
            v = self.val.get(ref.id)
            if type(v) is not X:
                raise NotCompilable(why)
            if self._whole(v, ref.id):  # an input or another step's result as it is
                direct[ref.id] = v.args[0]
            elif all(r != ref.id for r, _ in mats):
                mats.append((ref.id, v))
        shape = np.shape(out)
        name = f"m{o}"
        self.val[o] = self.g.load(name, None if shape == () else 0,
                                  None if shape == () else int(np.prod(shape)))  # fmt: skip
        self.shapes[o] = shape
        self.params[name] = shape
        self.opaque.append(Opaque(node, mats, direct, name, shape, why))

    def _whole(self, v: X, vid: int) -> bool:
        """``v`` (the value ``vid``) loads a whole kernel parameter, with its shape: a step
        in NumPy may read the parameter as it is. A slice or an element of it (a load at
        offset 0 too: ``x[:2]``, ``x[0]``) must be computed by the stage kernel instead."""
        if v.op != "load" or v.args[0] not in self.params:
            return False
        shape = self.params[v.args[0]]
        if self.shapes.get(vid) != shape:
            return False
        if shape == ():
            return v.args[1] is None and v.dom is None
        return v.args[1] == 0 and v.dom == int(np.prod(shape))

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
            v = self.p.values.get(o, 0.0) if o is not None else 0.0
            kind = v.dtype.kind if hasattr(v, "dtype") else type(v).__name__
            if kind not in ("f", "b", "float", "bool", "int"):
                what = v.dtype if hasattr(v, "dtype") else type(v).__name__
                raise NotCompilable(f"{name}: a {what} value (only float64 and bool compile)")
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
            # ``is``, not ``in (None, False)``: axis=0 equals False and is no total
            kw = {k: v for k, v in node.kwargs.items() if v is not None and v is not False}
            if len(self._shape(node.args[0])) == 1 and kw.get("axis") in (0, -1):
                del kw["axis"]  # the one axis of a vector: the total
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
        elif _to_float(node) or f is bool and len(args) == 1:
            res = args[0]  # (a bool node reads as 0.0 or 1.0 in float arithmetic)
        elif _all_any(node) and type(args[0]) is X:
            x = args[0]
            if x.dom is None:
                res = g.apply(np.not_equal, (x, 0.0))  # (x itself would be a float's value)
            elif _all_any(node) == "all":  # no element false
                res = g.apply(np.equal, (g.total(g.apply(np.logical_not, (x,))), 0.0))
            else:
                res = g.apply(np.greater, (g.total(g.apply(np.not_equal, (x, 0.0))), 0.0))
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


def _to_float(node) -> bool:
    """``node`` casts its one argument to float64 (``astype`` rule or ``.astype`` method)."""
    f = node.func
    if type(f) is Method:
        dts = f.args if f.__name__ == "astype" and not f.kwargs else ()
    else:
        dts = node.args[1:] if getattr(f, "__name__", None) == "astype" else ()
    try:
        return len(dts) == 1 and np.dtype(dts[0]) == np.float64
    except TypeError:
        return False


def _all_any(node):
    """The name, all or any, of ``np.all(a)`` or ``a.all()`` (likewise any) over every
    element of one argument; else None."""
    f = node.func
    name = f.__name__ if type(f) is Method and not f.args else None
    name = "all" if f is np.all else "any" if f is np.any else name
    kw = f.kwargs if type(f) is Method else node.kwargs
    if name not in ("all", "any") or len(node.args) != 1:
        return None
    if any(v is not None and v is not False for v in kw.values()):
        return None  # along an axis, keepdims, out=
    return name


class Opaque:
    """A step that runs in NumPy between kernels (see ``Lowered._opaque``)."""

    __slots__ = ("direct", "mats", "name", "node", "shape", "why")

    def __init__(self, node, mats, direct, name, shape, why):
        self.node, self.mats, self.direct = node, mats, direct  # mats: [(value id, X)]
        self.name, self.shape, self.why = name, shape, why  # direct: {value id: param}


def kernels_for(program: Program, cache_dir):
    """Lower ``program`` and compile its value kernel; ``NotCompilable`` says why not."""
    from .kernels import Kernels
    from .staged import Staged

    with using(Graph()) as g:
        low = Lowered(program, g)
    return Staged(low, cache_dir) if low.opaque else Kernels(low, cache_dir)

"""The "numba" backend's first step: a traced program lowered to the element graph.

``Lowered(program, g)`` turns each step into nodes of ``g`` (dualad._compile.graph):
elementwise table rules apply their function to the nodes; slicing an array re-instantiates
its expression at shifted indices (``x[1:] - x[:-1]`` reads ``x[i + 1] - x[i]``); ``np.sum``,
``np.mean`` and ``np.dot`` of vectors are reductions; ``np.where`` a select; a comparison read
by an ``if`` a guard node. A small array built from pieces (``np.stack``/``np.array`` of
traced scalars, nested or mixed with constants, ``np.concatenate``, a buffer written into under
interception) is a list of scalar nodes, one per element, and the steps reading it (elementwise,
indexing, reshapes, sums, products with matrices) are computed element by element
(``Lowered._unrolled``). A step with no such form (a matrix product, a broadcast between
shapes, a SciPy function Numba cannot call) raises ``NotCompilable``, and the caller replays
the program in NumPy. ``kernels_for`` lowers and hands the graph to dualad._compile.kernels.
Imports numpy and dualad internals.
"""

from __future__ import annotations

from dualad._numpy import np
from dualad.rules._define import getitem
from dualad.rules.update import index_update

from .graph import _BOOL, _CMP, Graph, X, using
from .trace import Method, NotCompilable, Program, Ref, refs, shapes_of

# -- from the recorded program to the element graph ---------------------------------------------

#: The most elements of an array computed element by element: a list of scalar nodes, one per
#: element in C order (``np.stack`` of scalars, a small buffer written into, and what such an
#: array flows into; see ``Lowered._unrolled``). Larger ones run in NumPy between kernels.
UNROLL = 64
#: ... of which at most this many taken apart from an array node (a vector expression).
UNROLL_ARRAY = 32

#: What NumPy raises for an index or arguments it refuses (RuntimeError: a traced value among
#: them, read after its trace ended).
_REFUSED = (IndexError, TypeError, ValueError, RuntimeError)
#: Steps that build one array from several (the first argument a list of them).
_JOIN = frozenset({np.stack, np.concatenate, np.hstack, np.vstack, np.dstack, np.column_stack})
#: Steps that only rearrange the elements of their first argument: the same call on an array of
#: element positions says which element goes where.
_ARRANGE = frozenset({
    np.reshape, np.ravel, np.transpose, np.squeeze, np.expand_dims, np.moveaxis, np.swapaxes,
    np.flip, np.fliplr, np.flipud, np.roll, np.broadcast_to, np.atleast_1d, np.atleast_2d,
    np.atleast_3d, np.copy, np.diagonal, np.tile, np.repeat, np.rot90,
})  # fmt: skip


class Lowered:
    """The element graph of one program: outputs, guards and the input/constant arrays."""

    def __init__(self, program: Program, g: Graph):
        self.p = program
        self.g = g
        self.val: dict = {}  # value id -> X, number, or a list of scalars (see _unrolled)
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
            if node.func is shapes_of:  # a guard on a shape: every lowered value has the
                if any(r.id not in self.val for r in refs(node.args)):  # recorded one (a
                    raise NotCompilable("a result of data-dependent shape")  # step in
                continue  # NumPy between kernels checks its own and records again)
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
            if type(v) is list:  # an array computed element by element: a stage stores it
                if all(r != ref.id for r, _ in mats):
                    mats.append((ref.id, v))
                continue
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
        out_dtype = getattr(self.p.values.get(node.outs[0]), "dtype", np.dtype(float))
        unrolled = self._unrolled(node, args, out_shape, out_dtype)
        if unrolled is not None:
            res = unrolled
        elif isinstance(f, np.ufunc) and (
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

    # -- arrays computed element by element (lists of scalar nodes) ------------------------------
    def _items(self, a, raw, shape=None) -> list:
        """The lowered value ``a`` (the argument ``raw``: a ``Ref`` or a constant) as a list of
        scalar nodes and numbers, one per element in C order, broadcast to ``shape`` (default:
        its own). ``NotCompilable`` where it has no such form or more than ``UNROLL``
        elements."""
        if type(a) is list:
            src, flat = self._shape(raw), a
        elif type(a) is X:
            src = self._shape(raw) if type(raw) is Ref else ()
            size = int(np.prod(src))
            if a.dom is None:
                if size != 1:
                    raise NotCompilable("a scalar node standing for an array")
                flat = [a]
            else:
                if a.dom != size:
                    raise NotCompilable("an array node of another size than its value")
                if size > UNROLL_ARRAY:
                    raise NotCompilable(
                        f"an array of more than {UNROLL_ARRAY} elements taken apart"
                    )
                flat = [self.g.shift(a, j, None) for j in range(size)]
        else:
            if refs(a):
                raise NotCompilable("a value without a compiled form inside a list")
            try:
                c = np.asarray(a)
            except (TypeError, ValueError) as e:
                raise NotCompilable(f"a constant of no array form: {e}") from None
            if c.dtype.kind not in "fib":
                raise NotCompilable(f"a {c.dtype} constant")
            if c.size > UNROLL:
                raise NotCompilable(f"a constant of more than {UNROLL} elements taken apart")
            src, flat = c.shape, [v.item() for v in c.reshape(-1)]
        if shape is None or tuple(shape) == tuple(src):
            return list(flat)
        try:
            sel = np.broadcast_to(_positions(len(flat), src), shape)
        except ValueError:
            raise NotCompilable(f"a broadcast of shape {src} to {shape}") from None
        return self._gather(flat, sel)

    @staticmethod
    def _gather(flat: list, sel):
        """The elements ``flat[sel]``: a scalar for a 0-d ``sel``, else a list in C order."""
        sel = np.asarray(sel)
        if sel.dtype.kind not in "iu":
            raise NotCompilable("a rearrangement that is no gather of elements")
        if sel.ndim == 0:
            return flat[int(sel)]
        if sel.size > UNROLL:
            raise NotCompilable(f"an array of more than {UNROLL} elements computed element-wise")
        return [flat[i] for i in sel.reshape(-1).tolist()]

    def _unrolled(self, node, args, out_shape, out_dtype):
        """The step computed element by element, as a list of scalar nodes (or one scalar):
        where it builds an array from pieces (``np.stack``, ``np.concatenate``, a write
        into a buffer) or reads one built so (a list among its arguments). None where
        this does not apply; ``NotCompilable`` where it applies but cannot be done."""
        f, kw, raws = node.func, node.kwargs, node.args
        listed = any(type(a) is list for a in args)
        join = any(f is j for j in _JOIN)  # (identity: a step's function may be unhashable)
        if not (listed or join or f is index_update):
            return None
        out_kind = out_dtype.kind
        if out_kind == "f" and out_dtype != np.float64:  # (the scalar code is float64)
            raise NotCompilable(f"{node.name}: a {out_dtype} array built from pieces")
        if join:
            if len(raws) != 1 or type(raws[0]) not in (list, tuple) or set(kw) - {"axis"}:
                raise NotCompilable(f"{node.name} with these arguments")
            flat, pos = [], []
            for r in raws[0]:
                items = self._items(self.arg(r), r)
                shape = self._shape(r) if type(r) is Ref else np.shape(r)
                pos.append(_positions(len(items), shape) + len(flat))
                flat += items
            sel = f(pos, **kw)
            if np.shape(sel) != out_shape:
                raise NotCompilable(f"{node.name}: an unexpected shape")
            out = self._gather(flat, sel)
            return _float_items(out) if out_kind == "f" else out
        if f is index_update and len(raws) == 3 and not kw:
            base, key, value = args
            if out_kind != "f":
                raise NotCompilable(f"a write into a {out_kind!r} array")
            if refs(raws[1]):
                raise NotCompilable("a write at a position computed from the input")
            if type(raws[2]) is Ref and getattr(self.p.values.get(raws[2].id), "dtype",
                                                np.dtype(float)).kind != "f":  # fmt: skip
                raise NotCompilable("a write of a value other than float64")
            shape = self._shape(raws[0])
            flat = _float_items(self._items(base, raws[0]))
            try:
                sel = _positions(len(flat), shape)[key]
            except _REFUSED:  # (an index NumPy refuses, or one holding a traced value)
                raise NotCompilable("a write at this index") from None
            vals = _float_items(self._items(value, raws[2], np.shape(sel)))
            for p, v in zip(np.reshape(sel, (-1,)).tolist(), vals):
                flat[p] = v  # (a position named twice: the last write stays, as in NumPy)
            return flat if out_shape != () else flat[0]
        g = self.g
        if isinstance(f, np.ufunc) and (
            (node.rule is not None and node.rule.partials is not None)
            or f in _CMP
            or f in _BOOL
            or f is np.logical_not
        ):
            if kw:
                raise NotCompilable(f"{node.name} with keyword arguments")
            cols = [self._items(a, r, out_shape) for a, r in zip(args, raws)]
            return [g.apply(f, tuple(c)) for c in zip(*cols)]
        if f is np.where and len(args) == 3 and not kw:
            cols = [self._items(a, r, out_shape) for a, r in zip(args, raws)]
            return [g.select(*c) for c in zip(*cols)]
        if f is getitem and len(args) == 2 and type(args[0]) is list:
            x, key = args
            if refs(raws[1]):
                raise NotCompilable("an index computed from the input")
            try:
                sel = _positions(len(x), self._shape(raws[0]))[key]
            except _REFUSED:
                raise NotCompilable("indexing of this kind") from None
            return self._gather(x, sel)
        if type(args[0]) is list and any(f is a for a in _ARRANGE):
            if refs(raws[1:]) or refs(kw):
                raise NotCompilable(f"{node.name} with arguments computed from the input")
            x = args[0]
            try:
                sel = f(_positions(len(x), self._shape(raws[0])), *raws[1:], **kw)
            except _REFUSED:
                raise NotCompilable(f"{node.name} with these arguments") from None
            if type(sel) is not np.ndarray or sel.shape != out_shape:
                raise NotCompilable(f"{node.name} with these arguments")
            return self._gather(x, sel)
        if f in (np.sum, np.mean, np.prod) and type(args[0]) is list and len(args) <= 2:
            kw = {k: v for k, v in kw.items() if v is not None and v is not False}
            if set(kw) - {"axis", "keepdims"} or refs(raws[1:]) or refs(kw):
                raise NotCompilable(f"{node.name} with these arguments")
            x, shape = args[0], self._shape(raws[0])
            axes = _axes(args[1] if len(args) > 1 else kw.get("axis"), len(shape))
            pos = _positions(len(x), shape)
            rest = [a for a in range(len(shape)) if a not in axes]
            groups = np.transpose(pos, rest + list(axes)).reshape(
                int(np.prod([shape[a] for a in rest])), -1
            )
            op = np.multiply if f is np.prod else np.add
            out = []
            for grp in groups.tolist():
                v = _chain(g, op, [x[i] for i in grp], 1.0 if f is np.prod else 0.0)
                if f is np.mean:
                    v = g.apply(np.divide, (v, float(len(grp))))
                out.append(v)
            if len(out) != int(np.prod(out_shape)):
                raise NotCompilable(f"{node.name}: an unexpected shape")
            return out[0] if out_shape == () else out
        if f in (np.dot, np.matmul, np.inner, np.vdot) and len(args) == 2 and not kw:
            sa, sb = (self._shape(r) if type(r) is Ref else np.shape(r) for r in raws)
            if not (1 <= len(sa) <= 2 and 1 <= len(sb) <= 2):
                raise NotCompilable(f"{node.name} of arrays of more than two dimensions")
            if f in (np.inner, np.vdot) and not len(sa) == len(sb) == 1:
                raise NotCompilable(f"{node.name} of matrices")
            A, B = self._items(args[0], raws[0]), self._items(args[1], raws[1])
            pa, pb = _positions(len(A), sa), _positions(len(B), sb)
            pa = pa if pa.ndim == 2 else pa[None, :]
            pb = pb if pb.ndim == 2 else pb[:, None]
            m, k, n = pa.shape[0], pa.shape[1], pb.shape[1]
            if k != pb.shape[0] or m * n > UNROLL or m * n * k > 4 * UNROLL:
                raise NotCompilable(f"{node.name}: shapes {sa} and {sb}")
            out = []
            for i in range(m):
                for j in range(n):
                    terms = [g.apply(np.multiply, (A[pa[i, h]], B[pb[h, j]])) for h in range(k)]
                    out.append(_chain(g, np.add, terms, 0.0))
            if len(out) != int(np.prod(out_shape)):
                raise NotCompilable(f"{node.name}: an unexpected shape")
            return out[0] if out_shape == () else out
        if _all_any(node) and type(args[0]) is list:
            x = [g.apply(np.not_equal, (v, 0.0)) for v in args[0]]
            op = np.logical_and if _all_any(node) == "all" else np.logical_or
            return _chain(g, op, x, _all_any(node) == "all")
        if f is bool and len(args) == 1 and type(args[0]) is list and len(args[0]) == 1:
            return args[0][0]  # (a one-element array's truth: its element's)
        if _to_float(node) and len(args) == 1:
            return None  # the value itself
        raise NotCompilable(f"{node.name}: no compiled form for an array built from pieces")

    def _shape(self, raw):
        return self.shapes.get(raw.id, ()) if type(raw) is Ref else np.shape(raw)

    def _getitem(self, x, raw, key):
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


def _positions(n: int, shape):
    """The element positions ``0 .. n - 1`` laid out as ``shape`` (C order)."""
    return np.arange(n).reshape(shape)


def _float_items(items: list) -> list:
    """Constant elements as Python floats (an element of a float64 array)."""
    return [v if type(v) is X else float(v) for v in items]


def _chain(g, ufunc, items: list, empty):
    """``items[0] ufunc items[1] ufunc ...`` (``empty`` for no items)."""
    if not items:
        return empty
    acc = items[0]
    for v in items[1:]:
        acc = g.apply(ufunc, (acc, v))
    return acc


def _axes(axis, ndim: int) -> tuple:
    """``axis`` (None, an int or a tuple of them) as sorted non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    axes = axis if isinstance(axis, tuple) else (axis,)
    out = []
    for a in axes:
        if not isinstance(a, (int, np.integer)) or isinstance(a, bool) or not -ndim <= a < ndim:
            raise NotCompilable(f"a reduction along axis {axis!r}")
        out.append(int(a) % ndim)
    if len(set(out)) != len(out):
        raise NotCompilable(f"a reduction along axis {axis!r}")
    return tuple(sorted(out))


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

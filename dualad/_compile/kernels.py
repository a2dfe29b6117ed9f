"""The Numba kernels of one lowered program, and the calls that run them.

``Kernels`` builds, per kind of call, the stores a kernel makes (values; gradients from
``adjoints``; tangents from ``tangents``, several directions as lanes; Hessian-vector
products from both), has dualad._compile.emit write and schedule them, and compiles them for
fixed argument types (float parameters for 0-d inputs, contiguous vectors for arrays).
The calls take input leaves and give results shaped as the uncompiled API's.
Imports numpy, numba (lazily) and dualad internals.
"""

from __future__ import annotations

import threading

from dualad._numpy import np

from .emit import DECOR, HEADER, Emitter, load_module, schedule
from .graph import X, _bcast, _dir_load, adjoints, tangents, using
from .trace import NotCompilable

#: Array results of at least this many elements are allocated by the caller (NumPy's
#: allocator) and passed in; smaller ones inside the kernel (one argument less to unbox).


#: builds of generated modules, process-wide (see Kernels._build)
_BUILD_LOCK = threading.Lock()


class Kernels:
    """The Numba kernels of one lowered program, built lazily per kind of call."""

    #: directions per Hessian kernel call (lanes of the forward-over-reverse sweep)
    LANES = 8

    def __init__(self, lowered, cache_dir):  # a dualad._compile.lower.Lowered
        self.low = lowered
        self.cache_dir = cache_dir
        self.fns: dict = {}
        self.lock = threading.Lock()
        outs = lowered.outs
        #: one scalar output: grad, hvp and hessian compile
        self.scalar_out = len(outs) == 1 and type(outs[0][0]) is X and outs[0][0].dom is None
        self.shapes = [s for _, _, s in lowered.inputs]
        self.n_in = len(self.shapes)
        self.hess_plan = None
        self.jac_plan = None
        self.failed: dict = {}  # kind -> why its kernel did not compile
        self.outspec: dict = {}  # (kind, lanes) -> sizes of the array outputs it is passed
        self.outpos: dict = {}  # (kind, lanes) -> their places in the kernel's result
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
        with using(self.low.g):
            src, _params = self._source(kind, lanes)
        try:
            import numba

            f64, vec, mat = numba.float64, numba.float64[::1], numba.float64[:, ::1]
            ins = [f64 if s == () else vec for _, _, s in self.low.inputs]
            consts = [vec] * len(self.low.consts)
            outs = [vec] * len(self.outspec[key])
            extra = len(_params) - len(ins) - len(consts) - len(outs)
            dirs = [(f64 if lanes == 1 else vec) if s == () else (vec if lanes == 1 else mat)
                    for _, _, s in self.low.inputs][:extra]  # fmt: skip
            # one lock for every Kernels: equal sources share one module (and its kernel),
            # which another thread may be compiling (and then closing to new types) now
            with _BUILD_LOCK:
                mod = load_module(src, self.cache_dir)
                fn = mod.kernel
                if not fn.overloads:  # (a module loaded before is compiled already)
                    fn.compile(tuple(ins + consts + dirs + outs))
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
        outparams: list = []  # array outputs, allocated by the caller (see _outs_for)
        guard_nodes = [x for x, _ in low.guards]

        def out_store(prefix, k, v, shape):
            name = f"{prefix}{k}"
            if type(v) is list:  # an array computed element by element (lower.UNROLL)
                pre.append(f"{name} = _empty({len(v)})")
                for j, item in enumerate(v):
                    stores.append(("set", name, j, None, item))
                results.append(name)
            elif type(v) is X and v.dom is not None:
                # passed in by the caller: NumPy's allocator reuses large blocks (a fresh one
                # inside the kernel would fault in its pages on every call, a fifth of a
                # 10^6-element JVP), and a small one costs Numba an allocation and a boxing
                # (0.4 us of a 1 us gradient)
                outparams.append((name, v.dom))
                stores.append(("set", name, 0, v.dom, v))
                results.append(name)
            else:  # a scalar: a float local
                pre.append(f"{name} = 0.0")
                stores.append(("set", name, None, None, v))
                results.append(name)

        outs = [(v, s) for v, s in low.outs]
        for k, (v, shape) in enumerate(outs):
            if v is not None:
                out_store("y", k, v, shape)
            else:
                results.append("0.0")
        if kind == "grad":
            ((y, _),) = outs
            adj = adjoints(g, [(y, 1.0)])
            self._grad_stores(adj, "g", pre, stores, results, outparams)
        elif kind == "jvp":  # ``lanes`` directions at once (one: plain arrays)
            extra = [f"v{k}" for k in range(len(low.inputs))]
            for lane in range(lanes):
                li = lane if lanes > 1 else None

                def direction(name, off, dom, li=li):
                    return _dir_load(g, name, off, dom, "v", li)

                pre_t = "t" if lanes == 1 else f"t{lane}_"
                for k, (v, shape) in enumerate(outs):
                    if type(v) is list:  # an array computed element by element (lower.UNROLL)
                        ts = tangents(g, v, direction)
                        out_store(pre_t, k, [0.0 if u is None else u for u in ts], shape)
                    else:
                        (t,) = tangents(g, [v if type(v) is X else None], direction)
                        out_store(pre_t, k, _spread(t, v), shape)
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
        params = self._params(extra) + [n for n, _ in outparams]
        self.outspec[(kind, lanes)] = tuple(d for _, d in outparams)
        # the arrays passed in are not returned (boxing one costs Numba as much as making
        # it): a 0.0 stands in their place, and _call puts the caller's array there
        pos = tuple(results.index(n) for n, _ in outparams)
        for i in pos:
            results[i] = "0.0"
        self.outpos[(kind, lanes)] = pos
        src = HEADER + "\n\n" + DECOR + f"def kernel({', '.join(params)}):\n"
        src += "".join(f"    {ln}\n" for ln in pre + body)
        src += f"    return ({', '.join(results)},)\n"
        return src, params

    def _grad_stores(self, adj, prefix, pre, stores, results, outparams=None):
        """Adjoint stores into ``<prefix><k>`` per input. With ``outparams``, an array input's
        adjoint goes into an array the caller passes: written where the input is read once,
        whole, else zeroed and added into."""
        low = self.low
        for k, (name, size, shape) in enumerate(low.inputs):
            gname = f"{prefix}{k}"
            mine = [(key, bar) for key, bar in adj.items() if key[0] == name]
            whole = len(mine) == 1 and mine[0][0][1:] == (0, size)
            if outparams is not None and shape != () and whole:
                bar = mine[0][1]
                if type(bar) is not X or bar.dom is None:
                    bar = _bcast(bar, size)
                outparams.append((gname, size))
                stores.append(("set", gname, 0, size, bar))
                results.append(gname)
                continue
            if outparams is not None and shape != ():  # passed in (see out_store), zeroed here
                outparams.append((gname, size))
                pre.append(f"{gname}[:] = 0.0")
            else:
                pre.append(f"{gname} = 0.0" if shape == () else f"{gname} = _zeros({size})")
            for (arr, off, dom), bar in adj.items():
                if arr != name:
                    continue
                if dom is not None and (type(bar) is not X or bar.dom is None):
                    bar = _bcast(bar, dom)  # a scalar adjoint over an array load
                stores.append(("add", gname, off, dom, bar))
            results.append(gname)

    # -- calling ----------------------------------------------------------------------------
    def _args(self, leaves):
        out = [float(v) if s == () else _vec(v) for v, s in zip(leaves, self.shapes)]
        return out + self.low.consts if self.low.consts else out

    def _call(self, fn, key, *args):
        """``fn(*args)`` with the kernel's output arrays passed in (see ``_source``): its
        result tuple, those arrays in their places."""
        outs = [np.empty(d) for d in self.outspec[key]]
        res = fn(*args, *outs)
        if not outs:
            return res
        res = list(res)
        for i, a in zip(self.outpos[key], outs):
            res[i] = a
        return res

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
                out.append(r.reshape(shape))  # (a list of elements: laid out in C order)
        return out

    def value(self, leaves):
        res = self._call(self.value_fn, ("value", 1), *self._args(leaves))
        self._check(res, len(self.low.outs))
        return self._outs(res)

    def direct_value_and_grad(self, example):
        """``vg(x) -> (value, grad)`` for one C-contiguous vector, calling the compiled
        code's entry point without Numba's type dispatch; None where the general path
        is needed (several inputs, constants, guards)."""
        if self.n_in != 1 or len(self.shapes[0]) != 1 or self.low.consts or self.low.guards:
            return None
        fn = self._kernel("grad")
        outs = self.outspec[("grad", 1)]
        if len(fn.overloads) != 1:
            return None
        ep = next(iter(fn.overloads.values())).entry_point
        f64 = np.float64
        strides = (8,)

        if outs:  # the gradient array, passed in (see _source)
            (n,) = outs
            empty = np.empty

            def vg(x):
                if x.strides != strides or not x.flags.writeable:
                    x = _vec(x)
                g = empty(n)
                return f64(ep(x, g)[0]), g

            return vg

        def vg(x):
            if x.strides != strides or not x.flags.writeable:
                x = _vec(x)
            r = ep(x)
            return f64(r[0]), r[1]

        return vg

    def _numbers_entry(self):
        """The gradient kernel's machine-code entry point where every input is a number (its
        float parameters filled directly), the program has no constant arrays and no guards;
        else None."""
        if not self.shapes or any(s != () for s in self.shapes) or self.low.consts:
            return None
        if self.low.guards:
            return None
        return next(iter(self._kernel("grad").overloads.values())).entry_point

    def direct_value_and_grad_numbers(self, kind=tuple):
        """``vg(items) -> (value, grads)`` for a ``kind`` (tuple or list) of numbers (every
        input 0-d): the kernel's float parameters filled directly, the gradients as a
        ``kind`` of 0-d arrays; ``vg`` gives None for items other than Python or NumPy
        floats (the general path then). None where the direct call does not apply."""
        ep = self._numbers_entry()
        if ep is None:
            return None
        f64, arr = np.float64, np.asarray  # (a float to a 0-d array: asarray is the cheapest)
        if self.n_in == 2:  # the common pair, unrolled

            def vg2(items):
                a, b = items
                ta, tb = type(a), type(b)
                if (ta is float or ta is f64) and (tb is float or tb is f64):
                    r = ep(a, b)
                    g = arr(r[1]), arr(r[2])
                    return f64(r[0]), (g if kind is tuple else list(g))
                return None

            return vg2

        def vg(items):
            for v in items:
                t = type(v)
                if t is not float and t is not f64:
                    return None
            r = ep(*items)
            return f64(r[0]), kind(arr(g) for g in r[1:])

        return vg

    def direct_value_and_grad_dict(self, keys):
        """``door(x) -> (value, {key: grad})`` for a dict of numbers with exactly ``keys`` in
        this order, or None from ``door`` for any other dict (the general path then); None
        where the direct call does not apply. The function is generated for ``keys``:
        values read by key, one type test each, the result dict built as a literal."""
        ep = self._numbers_entry()
        if ep is None or len(keys) != self.n_in:
            return None
        n = len(keys)
        names = [f"k{i}" for i in range(n)]
        vals = [f"v{i}" for i in range(n)]
        order = f"next(iter(x)) == {names[0]}" if n == 2 else "tuple(x) == keys"
        types = " and ".join(f"(type({v}) is float or type({v}) is f64)" for v in vals)
        grads = ", ".join(f"{k}: arr(r[{i + 1}])" for i, k in enumerate(names))
        src = (
            "def door(x):\n"
            f"    if len(x) == {n} and {order}:\n"
            "        try:\n"
            + "".join(f"            {v} = x[{k}]\n" for v, k in zip(vals, names))
            + "        except KeyError:\n"
            "            return None\n"
            f"        if {types}:\n"
            f"            r = ep({', '.join(vals)})\n"
            f"            return f64(r[0]), {{{grads}}}\n"
            "    return None\n"
        )
        ns = {"ep": ep, "f64": np.float64, "arr": np.asarray, "keys": tuple(keys)}
        ns.update(zip(names, keys))
        exec(compile(src, "<dualad.compile dict door>", "exec"), ns)  # noqa: S102 (our text)
        return ns["door"]

    def value_and_grad(self, leaves):
        fn = self.fns.get(("grad", 1)) or self._kernel("grad")
        res = self._call(fn, ("grad", 1), *self._args(leaves))
        n = self.n_in
        if self.low.guards:
            self._check(res, 1 + n)
        return np.float64(res[0]), [_shaped(r, s) for r, s in zip(res[1 : 1 + n], self.shapes)]

    def _dirs(self, vs):
        return [float(v) if s == () else _vec(v) for v, s in zip(vs, self.shapes)]

    def jvp(self, leaves, vs):
        fn = self._kernel("jvp")
        res = self._call(fn, ("jvp", 1), *self._args(leaves), *self._dirs(vs))
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
        res = self._call(fn, ("jvp", n), *self._args(leaves), d)
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
            res = self._call(fn, ("jvp", lanes), *args, *dirs)
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

    def hessian(self, leaves, pattern=None, sparse=False):
        """The Hessian ``(n, n)``: one forward-over-reverse sweep per color of the pattern's
        columns (``pattern``, a scipy.sparse matrix; None: every column its own color),
        ``LANES`` colors per kernel call. Dense, or with ``sparse`` a ``scipy.sparse.csr_array``
        holding the pattern's entries (each read exactly from its column's color)."""
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
        if sparse and read is not None:
            import scipy.sparse as sp

            rows, cols, colors_of_cols, indptr = read
            return sp.csr_array((comp[colors_of_cols, rows], cols, indptr), shape=(n, n))
        if read is None:
            H = comp.T.copy()
        else:
            rows, cols, colors_of_cols, _ = read
            H = np.zeros((n, n))
            H[rows, cols] = comp[colors_of_cols, rows]
        H += H.T
        H *= 0.5
        if sparse:
            import scipy.sparse as sp

            return sp.csr_array(H)
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
            read = (rows, p.indices, colors[p.indices], p.indptr)
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


def _spread(t, v):
    """The tangent ``t`` of the node ``v``, as stored: over ``v``'s whole domain where ``v``
    is an array (no tangent, or a scalar one as in ``x[0] + c``, is one value for all)."""
    if type(v) is X and v.dom is not None and (type(t) is not X or t.dom is None):
        return _bcast(0.0 if t is None else t, v.dom)
    return 0.0 if t is None else t


_F64 = np.dtype(np.float64)


def _vec(v):
    """``v`` as a kernel's vector argument (``float64[::1]``, which Numba types as writeable
    and native-endian): ``v`` itself where it is one, else a copy (read-only, big-endian,
    strided or other dtypes); the kernels never write into it either way."""
    if (
        type(v) is np.ndarray
        and v.ndim == 1
        and v.dtype is _F64
        and v.flags.c_contiguous
        and v.flags.writeable
    ):
        return v
    return np.array(v, dtype=np.float64, order="C").reshape(-1)


def _shaped(r, shape):
    """A kernel's result as the input leaf's shape: a float as a 0-d array."""
    if shape == ():
        return np.array(r)
    return r if r.ndim == len(shape) == 1 else r.reshape(shape)

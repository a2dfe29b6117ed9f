"""Kernels for a program with steps that run in NumPy: compiled stages between them.

A step with no compiled form (a matrix product, a SciPy function) does not send the whole
program to the NumPy replay. ``Lowered`` keeps it as an ``Opaque`` step: a kernel before it
computes its array arguments, it runs as the NumPy call it recorded, and its result is a
parameter (``m<id>``) of the kernels after it. With ``J`` such steps there are ``J + 1``
stages; stage ``j``'s kernels take the inputs, the constants and every step result.

- value: stage kernels compute the steps' arguments, the last one the outputs;
- gradient: the last stage's reverse kernel gives the adjoints of the inputs and of every
  step's result; then, newest step first, the step's rule vjp (the table's, in NumPy) turns
  its result's adjoint into its arguments', which the stage's reverse kernel (seeded there)
  carries on to the inputs and the earlier results;
- JVP: each stage's kernel gives its step's arguments with their tangents, the rule's jvp
  the result's tangent, the last stage the outputs' tangents.

Second order runs on the NumPy replay. Imports numpy, numba (lazily) and dualad internals.
"""

from __future__ import annotations

import threading

from dualad._numpy import np

from .emit import DECOR, HEADER, load_module, schedule
from .graph import X, _bcast, adjoints, tangents, using
from .kernels import Kernels, _shaped, _spread, _vec
from .replay import Stale, _needs, _ref_at
from .trace import NotCompilable, Ref

#: The most compiled stages a program is split into (more: the NumPy replay runs it). A
#: 15-step Kalman filter's inv/solve/det between kernels made 60 stages, minutes of Numba.
MAX_STAGES = 12


class Staged(Kernels):
    """``Kernels``' calls for a program with ``Opaque`` steps (see the module docstring)."""

    def __init__(self, lowered, cache_dir):
        self.low = lowered
        self.cache_dir = cache_dir
        self.fns: dict = {}
        self.lock = threading.Lock()
        self.failed: dict = {"hvp": "second order runs on the NumPy replay (steps in NumPy)"}
        outs = lowered.outs
        self.scalar_out = len(outs) == 1 and type(outs[0][0]) is X and outs[0][0].dom is None
        self.shapes = [s for _, _, s in lowered.inputs]
        self.n_in = len(self.shapes)
        self.steps = lowered.opaque
        self.J = len(self.steps)
        if self.J + 1 > MAX_STAGES:
            raise NotCompilable(
                f"{self.J} steps run in NumPy between {self.J + 1} compiled stages: Numba would "
                f"compile {self.J + 1} kernels per derivative kind (minutes for a loop of matrix "
                "steps), for little gain over the NumPy replay, which runs this variant"
            )
        self.m_dummy = [0.0 if st.shape == () else np.zeros(max(1, _size(st.shape)))
                        for st in self.steps]  # fmt: skip
        self.m_index = {st.name: j for j, st in enumerate(self.steps)}
        for j in range(self.J + 1):
            self._kernel(("value", j))  # compile now: errors show at compile()

    def summary(self) -> str:
        n = len(self.low.g.nodes)
        kinds = sorted({k[0] for k, _ in self.fns})
        out = (f"{n} element-graph nodes in {self.J + 1} stages; kernels built: "
               f"{', '.join(kinds)}")  # fmt: skip
        for st in self.steps:
            out += f"\n    step {st.node.name} runs in NumPy between stages: {st.why}"
        for kind, why in self.failed.items():
            out += f"\n    {kind} runs on the NumPy replay: {why}"
        return out

    def ready(self, kind: str, lanes: int = 1) -> bool:
        if kind == "hvp" or lanes != 1:
            return False
        if kind in self.failed:
            return False
        try:
            for j in range(self.J + 1):
                self._kernel((kind, j))
        except NotCompilable as e:
            self.failed[kind] = str(e)
            return False
        return True

    # -- building ------------------------------------------------------------------------------
    def _build(self, key, lanes: int):
        kind, j = key
        with using(self.low.g):
            src, types = self._stage_source(kind, j)
        try:
            import numba

            mod = load_module(src, self.cache_dir)
            fn = mod.kernel
            if not fn.overloads:
                f64, vec = numba.float64, numba.float64[::1]
                fn.compile(tuple(f64 if t == "f" else vec for t in types))
                fn.disable_compile()
        except Exception as e:
            msg = str(e).strip().splitlines()
            raise NotCompilable(
                f"Numba could not compile the {kind} kernel: {msg[-1] if msg else type(e).__name__}"
            ) from e
        self.fns[(key, lanes)] = fn
        return fn

    def _kernel(self, key, lanes: int = 1):
        fn = self.fns.get((key, lanes))
        if fn is not None:
            return fn
        with self.lock:
            fn = self.fns.get((key, lanes))
            return fn if fn is not None else self._build(key, lanes)

    def _stage_source(self, kind: str, j: int):
        low, g = self.low, self.low.g
        params = [n for n, _, _ in low.inputs] + [f"c{k}" for k in range(len(low.consts))]
        types = ["f" if s == () else "v" for s in self.shapes] + ["v"] * len(low.consts)
        params += [st.name for st in self.steps]
        types += ["f" if st.shape == () else "v" for st in self.steps]
        stores, results, pre = [], [], []
        last = j == self.J
        mats = [] if last else self.steps[j].mats

        def store(name, v):
            if type(v) is list:  # an array computed element by element
                pre.append(f"{name} = _empty({max(1, len(v))})")
                for i, item in enumerate(v):
                    stores.append(("set", name, i, None, 0.0 if item is None else item))
                results.append(name if v else f"{name}[:0]")
            elif type(v) is X and v.dom is not None:
                pre.append(f"{name} = _empty({v.dom})")
                stores.append(("set", name, 0, v.dom, v))
                results.append(name)
            else:
                pre.append(f"{name} = _empty(1)")
                stores.append(("set", name, 0, None, 0.0 if v is None else v))
                results.append(f"{name}[0]")

        if kind == "value":
            if last:
                for k, (v, _) in enumerate(low.outs):
                    if v is None:
                        results.append("0.0")
                    else:
                        store(f"y{k}", v)
            else:
                for r, v in mats:
                    store(f"a{r}", v)
        elif kind == "grad":
            if last:
                ((y, _),) = low.outs
                store("y0", y)
                seeds = [(y, 1.0)]
            else:
                seeds = []
                for r, v in mats:
                    name = f"b{r}"  # (not s<id>: the emitter's name for scalar node <id>)
                    params.append(name)
                    if type(v) is list:  # one seed per element
                        types.append("v")
                        seeds += [(item, g.load(name, i, None)) for i, item in enumerate(v)]
                        continue
                    types.append("f" if v.dom is None else "v")
                    seeds.append((v, g.load(name, None if v.dom is None else 0, v.dom)))
            adj = adjoints(g, seeds)
            self._grad_stores(adj, "g", pre, stores, results)
            self._m_stores(adj, pre, stores, results)
        elif kind == "jvp":
            for k, s in enumerate(self.shapes):
                params.append(f"v{k}")
                types.append("f" if s == () else "v")
            for st in self.steps:
                params.append(f"d{st.name}")
                types.append("f" if st.shape == () else "v")

            def direction(name, off, dom):
                if name[0] not in "xm":
                    return None
                pname = f"v{name[1:]}" if name[0] == "x" else f"d{name}"
                return g.load(pname, off, dom)

            roots = [v for v, _ in low.outs] if last else [v for _, v in mats]
            tans = []
            for v in roots:
                if type(v) is list:  # an array computed element by element
                    ts = tangents(g, [u if type(u) is X else None for u in v], direction)
                    tans.append([0.0 if t is None else t for t in ts])
                else:
                    (t,) = tangents(g, [v if type(v) is X else None], direction)
                    tans.append(t)
            for k, (v, t) in enumerate(zip(roots, tans)):
                if v is None:
                    results.append("0.0")
                else:
                    store(f"y{k}", v)
            for k, (v, t) in enumerate(zip(roots, tans)):
                if v is None:
                    results.append("0.0")
                elif type(v) is list:
                    store(f"t{k}", t)
                else:
                    store(f"t{k}", _spread(t, v))
        guard_nodes = [x for x, _ in low.guards] if last and kind == "value" else []
        for x in guard_nodes:
            from .emit import Emitter

            results.append(f"bool({Emitter().ref(x, False)})")
        body = schedule(stores, guard_nodes)
        src = HEADER + "\n\n" + DECOR + f"def kernel({', '.join(params)}):\n"
        src += "".join(f"    {ln}\n" for ln in pre + body)
        src += f"    return ({', '.join(results or ['0.0'])},)\n"  # (a stage may compute nothing)
        return src, types

    def _m_stores(self, adj, pre, stores, results):
        """Adjoint arrays ``gm<id>`` for every step result the sweep reached."""
        for st in self.steps:
            gname = f"g{st.name}"
            size = _size(st.shape)
            pre.append(f"{gname} = 0.0" if st.shape == () else f"{gname} = _zeros({size})")
            for (arr, off, dom), bar in adj.items():
                if arr != st.name:
                    continue
                if dom is not None and (type(bar) is not X or bar.dom is None):
                    bar = _bcast(bar, dom)
                stores.append(("add", gname, off, dom, bar))
            results.append(gname)

    # -- calling ------------------------------------------------------------------------------
    def _forward(self, leaves, vs=None):
        """Run the stages and the steps: kernel arguments, step results (and with ``vs``,
        directions, their tangents)."""
        base = self._args(leaves)
        ms = list(self.m_dummy)
        dms = list(self.m_dummy) if vs is not None else None
        dirs = self._dirs(vs) if vs is not None else None
        done = []
        for j, st in enumerate(self.steps):
            if vs is None:
                res = self._kernel(("value", j))(*base, *ms)
                tres = None
            else:
                res = self._kernel(("jvp", j))(*base, *ms, *dirs, *dms)
                n = len(st.mats)
                res, tres = res[:n], res[n:]
            vals, tvals = {}, {}
            for i, (r, _) in enumerate(st.mats):
                ref_val = self.low.p.values[r]
                vals[r] = _as(res[i], ref_val)
                if tres is not None:
                    tvals[r] = _as(tres[i], ref_val, np.float64)
            for r, pname in st.direct.items():
                vals[r], t = self._param(pname, leaves, done, vs, dms)
                if tres is not None:
                    tvals[r] = t
            node = st.node
            args = _fill(node.args, vals)
            kwargs = {k: _fill(v, vals) for k, v in node.kwargs.items()}
            out = node.func(*args, **kwargs)
            if np.shape(out) != st.shape:  # a data-dependent shape: the kernels after it
                raise Stale()  # were made for the recorded one, so record again
            ms[j] = _flat(out, st.shape)
            dout = None
            if vs is not None:
                dots = _dots(node, tvals)
                dout = node.rule.jvp(dots, out, *args, **kwargs)
                dout = np.zeros(st.shape) if dout is None else dout[0]
                dms[j] = _flat(dout, st.shape)
            done.append((args, kwargs, out, dout))
        return base, ms, dirs, dms, done

    def _param(self, pname, leaves, done, vs, dms):
        """The value (and tangent) a step reads from a kernel parameter as it is."""
        if pname[0] == "x":
            k = int(pname[1:])
            t = None if vs is None else np.asarray(vs[k], dtype=np.float64)
            return leaves[k], t
        j = self.m_index[pname]
        return done[j][2], (None if dms is None else done[j][3])

    def value(self, leaves):
        base, ms, _, _, _ = self._forward(leaves)
        res = self._kernel(("value", self.J))(*base, *ms)
        self._check(res, len(self.low.outs))
        return self._outs(res)

    def direct_value_and_grad(self, example):
        return None

    def _numbers_entry(self):  # no direct calls on numbers or dicts: the stages run in turn
        return None

    def jacobian_leaf(self, leaves):
        return None

    def value_and_grad(self, leaves):
        base, ms, _, _, done = self._forward(leaves)
        if self.low.guards:  # the last stage's guards: only its value kernel computes them
            self._check(self._kernel(("value", self.J))(*base, *ms), 1)
        res = self._kernel(("grad", self.J))(*base, *ms)
        n, J = self.n_in, self.J
        y = np.float64(res[0])
        gx = [_copy(r) for r in res[1 : 1 + n]]
        gm = [_copy(r) for r in res[1 + n : 1 + n + J]]
        for j in reversed(range(J)):
            st = self.steps[j]
            node = st.node
            args, kwargs, out, _ = done[j]
            ob = np.reshape(np.asarray(gm[j], dtype=np.float64), (1,) + st.shape)
            rule = node.rule
            if rule.vjp_needs:
                r = rule.vjp(ob, out, *args, needs=_needs(node), **kwargs)
            else:
                r = rule.vjp(ob, out, *args, **kwargs)
            seeds = {}
            for path in node.diff:
                ref = _ref_at(node, path)
                gpart = (
                    r[path[0]]
                    if len(path) == 1
                    else (None if r[path[0]] is None else r[path[0]][path[1]])
                )
                if gpart is None:
                    continue
                gpart = gpart[0]
                pname = st.direct.get(ref.id)
                if pname is None:
                    seeds[ref.id] = gpart if ref.id not in seeds else seeds[ref.id] + gpart
                elif pname[0] == "x":
                    k = int(pname[1:])
                    gx[k] = gx[k] + _flat(gpart, self.shapes[k])
                else:
                    i = self.m_index[pname]
                    gm[i] = gm[i] + _flat(gpart, self.steps[i].shape)
            if seeds:
                sv = [_flat(seeds[r], np.shape(self.low.p.values[r])) if r in seeds else
                      _zero_like(v) for r, v in st.mats]  # fmt: skip
                res = self._kernel(("grad", j))(*base, *ms, *sv)
                for k in range(n):
                    gx[k] = gx[k] + res[k]
                for i in range(J):
                    gm[i] = gm[i] + res[n + i]
        return y, [_shaped(np.asarray(v, dtype=np.float64) if s != () else float(v), s)
                   for v, s in zip(gx, self.shapes)]  # fmt: skip

    def jvp(self, leaves, vs):
        base, ms, dirs, dms, _ = self._forward(leaves, vs)
        res = self._kernel(("jvp", self.J))(*base, *ms, *dirs, *dms)
        n = len(self.low.outs)
        outs = self._outs(res[:n])
        tans = self._outs(res[n : 2 * n])
        tans = [np.zeros(np.shape(o)) if v is None else t
                for (v, _), o, t in zip(self.low.outs, outs, tans)]  # fmt: skip
        if self.low.guards:
            self._check(self._kernel(("value", self.J))(*base, *ms), n)
        return outs, tans

    def jvp_many(self, leaves, dots):
        k = dots[0].shape[0]
        cols = [self.jvp(leaves, [d[j] for d in dots])[1] for j in range(k)]
        return None, [np.stack([np.asarray(c[i]) for c in cols]) for i in range(len(self.low.outs))]


def _size(shape) -> int:
    return int(np.prod(shape)) if shape != () else 1


def _flat(v, shape):
    """A value as a kernel parameter: a float for 0-d, else a contiguous float64 vector."""
    if shape == ():
        return float(np.asarray(v))
    return _vec(np.reshape(v, (-1,)))  # (a rule's broadcast view is read-only: copied)


def _copy(r):
    return r if type(r) is float else r.copy()


def _zero_like(v):
    if type(v) is list:
        return np.zeros(max(1, len(v)))
    return 0.0 if v.dom is None else np.zeros(v.dom)


def _as(r, like, dtype=None):
    """A kernel's result as the value the step reads (``like``'s shape and dtype)."""
    dt = dtype or np.result_type(like)
    return np.asarray(r, dtype=dt).reshape(np.shape(like))


def _fill(a, vals):
    if type(a) is Ref:
        return vals[a.id]
    if type(a) in (list, tuple):  # the positional arguments, and a list among them
        return type(a)(_fill(b, vals) for b in a)
    if type(a) is dict:
        return {k: _fill(b, vals) for k, b in a.items()}
    return a


def _dots(node, tvals):
    """The rule's ``dots``: one entry per positional argument (None where no tangent)."""
    out = []
    for i, a in enumerate(node.args):
        paths = [q for q in node.diff if q[0] == i]
        if not paths:
            out.append(None)
        elif len(paths[0]) == 1:
            t = tvals.get(a.id)
            out.append(None if t is None else np.asarray(t)[None])
        else:
            out.append(tuple(
                None if type(b) is not Ref or (i, j) not in paths or tvals.get(b.id) is None
                else np.asarray(tvals[b.id])[None] for j, b in enumerate(a)
            ))  # fmt: skip
    return tuple(out)

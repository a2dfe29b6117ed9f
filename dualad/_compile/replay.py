"""The "numpy" backend: a traced program as generated straight-line NumPy code.

``Replay(program)`` writes Python source for the program's value, its reverse sweep (the
rules' vjps, newest step first) and its forward sweep (the rules' jvps), one line per step,
and ``exec``s it once. At call time there is no tape, no Variable and no dispatch: each line
calls the NumPy function or the table rule directly on arrays. Guards are checked inline; a
guard that fails raises ``Stale`` and the caller re-records.

Derivatives come from the rule table only (``Rule.jvp``/``Rule.vjp``). Because the rules call
NumPy functions on whatever arrives, the generated reverse sweep also runs on Duals: that is
how second derivatives are taken (forward over the generated reverse sweep).
Imports numpy and dualad internals.
"""

from __future__ import annotations

import math

from dualad._numpy import np
from dualad._ops import strip
from dualad._tags import Leveled
from dualad.rules.update import index_update

from .trace import Program, Ref, refs


def _on_values(func):
    """``func`` called on the values under any wrappers (its result has no derivative)."""

    def call(*args, **kwargs):
        return func(*strip(list(args)), **{k: strip(v) for k, v in kwargs.items()})

    return call


class Stale(Exception):
    """A guard of a compiled variant does not hold at this point: record again."""


def same(a, b) -> bool:
    """The guard test: ``a`` (this call's answer) is exactly ``b`` (the recorded one)."""
    if type(a) is type(b) and type(a) in (bool, int, str, tuple):  # (tuple: a shape)
        return a == b
    if isinstance(a, float) or isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    return bool(np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))


def acc(old, g):
    """``old + g`` where either may be absent (None)."""
    if g is None:
        return old
    return g if old is None else old + g


def zeros_for(v, m):
    return np.zeros((m,) + tuple(np.shape(v)), dtype=np.result_type(v, np.float64))


def part(t, k):
    return None if t is None else t[k]


def _update(x, key, value):
    """``index_update`` as a replay calls it: a write into a buffer the program holds as a
    constant (``out = np.zeros(n)`` under interception) takes a wrapper too, as the buffer
    did when recorded. Second order runs the reverse sweep on Duals: the constant then
    becomes a Dual without derivative first (what dualad._buffer's promotion makes)."""
    if isinstance(value, Leveled) and not isinstance(x, Leveled) and isinstance(x, np.ndarray):
        from dualad._buffer import _zero_like

        x = _zero_like(value, np.array(x, dtype=np.result_type(x, strip(value)), order="K"))
    return index_update(x, key, value)


class _Writer:
    def __init__(self, program: Program):
        self.p = program
        self.ns: dict = {"np": np, "Stale": Stale, "same": same, "acc": acc,
                         "zeros_for": zeros_for, "part": part}  # fmt: skip
        self.consts: dict = {}

    def const(self, c) -> str:
        key = id(c)
        name = self.consts.get(key)
        if name is None:
            name = f"k{len(self.consts)}"
            self.consts[key] = name
            self.ns[name] = c
        return name

    def arg(self, a) -> str:
        if type(a) is Ref:
            return f"v{a.id}"
        if type(a) in (list, tuple) and any(type(b) is Ref for b in a):
            inner = ", ".join(self.arg(b) for b in a)
            return f"({inner},)" if type(a) is tuple else f"[{inner}]"
        return self.const(a)

    def call(self, node, prefix: str, head: str = "") -> str:
        parts = [head] if head else []
        parts += [self.arg(a) for a in node.args]
        parts += [f"{k}={self.arg(v)}" for k, v in node.kwargs.items()]
        return f"{prefix}{node.id}({', '.join(parts)})"


def live_nodes(p: Program, roots) -> list:
    """The nodes the values ``roots`` (ids) and every guard need, in program order."""
    need = set(roots) | {g.node for g in p.guards}
    keep = []
    for node in reversed(p.nodes):
        if any(o in need for o in node.outs if o is not None):
            keep.append(node)
            need.update(r.id for r in refs(node.args) + refs(node.kwargs))
    keep.reverse()
    return keep


class Replay:
    """The generated functions of one variant (see the module docstring)."""

    def __init__(self, program: Program):
        self.p = p = program
        self.out_ids = [o.id for o in p.out_leaves if type(o) is Ref]
        self.nodes = live_nodes(p, self.out_ids)
        self.source: dict[str, str] = {}
        self.primal = self._build_primal()
        self._vjp = self._jvp = None

    # -- the value ----------------------------------------------------------------------------
    def _lines_primal(self, w: _Writer, nodes) -> list[str]:
        guards = {g.node: (i, g) for i, g in enumerate(self.p.guards)}
        lines = []
        for node in nodes:
            fn = _update if node.func is index_update else node.func
            if node.rule is None:  # a step without a derivative (a mask, a decision): on the
                fn = _on_values(fn)  # values, also when the replay runs on Duals (a Hessian)
            w.ns[f"f{node.id}"] = fn
            rhs = w.call(node, "f")
            if node.multi:
                lines.append(f"t{node.id} = {rhs}")
                lines += [
                    f"v{o} = t{node.id}[{k}]" for k, o in enumerate(node.outs) if o is not None
                ]
            else:
                lines.append(f"v{node.outs[0]} = {rhs}" if node.outs[0] is not None else rhs)
            g = guards.get(node.id)
            if g is not None:
                i, guard = g
                lines.append(
                    f"if not same(v{node.outs[0]}, {w.const(guard.value)}): raise Stale({i})"
                )
        return lines

    def _outs(self, w: _Writer) -> str:
        return (
            "("
            + "".join(
                f"v{o.id}, " if type(o) is Ref else f"{w.const(o)}, " for o in self.p.out_leaves
            )
            + ")"
        )

    def _params(self) -> str:
        return ", ".join(f"v{i}" for i in self.p.inputs)

    def _compile(self, name, lines, w: _Writer):
        src = f"def {name}(" + lines[0] + "):\n" + "".join(f"    {ln}\n" for ln in lines[1:])
        exec(compile(src, f"<dualad.compile {name}>", "exec"), w.ns)  # noqa: S102
        self.source[name] = src
        return w.ns[name]

    def _build_primal(self):
        w = _Writer(self.p)
        lines = [self._params()] + self._lines_primal(w, self.nodes) + [f"return {self._outs(w)}"]
        return self._compile("primal", lines, w)

    # -- reverse: u^T J --------------------------------------------------------------------
    def vjp_fn(self):
        """``vjp(*inputs, *seeds) -> (outputs, cotangents)``: seeds ``(m,) + shape`` per output
        leaf (None for none), cotangents ``(m,) + shape`` per input (None where zero)."""
        if self._vjp is None:
            self._vjp = self._build_vjp()
        return self._vjp

    def _build_vjp(self):
        p, w = self.p, _Writer(self.p)
        seeds = [f"s{k}" for k in range(len(p.out_leaves))]
        lines = [", ".join([self._params()] + seeds)] + self._lines_primal(w, self.nodes)
        has = set()
        for k, o in enumerate(p.out_leaves):
            if type(o) is Ref:
                lines.append(f"c{o.id} = acc({f'c{o.id}' if o.id in has else 'None'}, s{k})")
                has.add(o.id)
        for node in reversed(self.nodes):
            if node.rule is None or not node.diff:
                continue
            reached = [o for o in node.outs if o is not None and o in has]
            if not reached:
                continue
            w.ns[f"b{node.id}"] = node.rule.vjp
            if node.multi:
                ob = ", ".join(
                    "None"
                    if o is None
                    else f"(c{o} if c{o} is not None else zeros_for(v{o}, m))"
                    if o in has
                    else f"zeros_for(v{o}, m)"
                    if o is not None
                    else "None"
                    for o in node.outs
                )
                first = next(o for o in node.outs if o in has)
                lines.append(f"m = c{first}.shape[0] if c{first} is not None else None")
                test = " or ".join(f"c{o} is not None" for o in reached)
                outv = f"t{node.id}"
                obv = f"({ob},)"
            else:
                o = node.outs[0]
                test, outv, obv = f"c{o} is not None", f"v{o}", f"c{o}"
            lines.append(f"if {test}:")
            needs = _needs(node)
            head = f"{obv}, {outv}"
            call = w.call(node, "b", head)
            if node.rule.vjp_needs:
                call = call[:-1] + f", needs={w.const(needs)})"
            lines.append(f"    r = {call}")
            for path in node.diff:
                ref = node.args[path[0]] if len(path) == 1 else node.args[path[0]][path[1]]
                g = f"r[{path[0]}]" if len(path) == 1 else f"part(r[{path[0]}], {path[1]})"
                cid = ref.id
                lines.append(f"    c{cid} = acc({f'c{cid}' if cid in has else 'None'}, {g})")
                if cid not in has:  # defined on every path below: None where not reached
                    lines.insert(1, f"c{cid} = None")
                has.add(cid)
        grads = ", ".join(f"c{i}" if i in has else "None" for i in p.inputs)
        lines.append(f"return {self._outs(w)}, ({grads},)")
        return self._compile("vjp", lines, w)

    # -- forward: J v ----------------------------------------------------------------------
    def jvp_fn(self):
        """``jvp(*inputs, *dots) -> (outputs, tangents)``: dots ``(k,) + shape`` per input,
        tangents ``(k,) + shape`` per output leaf (None where zero)."""
        if self._jvp is None:
            self._jvp = self._build_jvp()
        return self._jvp

    def _build_jvp(self):
        p, w = self.p, _Writer(self.p)
        lines = [", ".join([self._params()] + [f"d{i}" for i in p.inputs])]
        has = set(p.inputs)
        for node in self.nodes:
            lines += self._lines_primal(w, [node])
            if (
                node.rule is None
                or not node.diff
                or not any(_ref_at(node, path).id in has for path in node.diff)
            ):
                continue
            w.ns[f"j{node.id}"] = node.rule.jvp
            dots = []
            for i, a in enumerate(node.args):
                paths = [q for q in node.diff if q[0] == i]
                if not paths:
                    dots.append("None")
                elif len(paths[0]) == 1:
                    dots.append(f"d{a.id}" if a.id in has else "None")
                else:
                    inner = [
                        f"d{b.id}" if type(b) is Ref and (i, j) in paths and b.id in has else "None"
                        for j, b in enumerate(a)
                    ]
                    dots.append("(" + ", ".join(inner) + ",)")
            o = node.outs
            head = "(" + ", ".join(dots) + ",), " + (f"t{node.id}" if node.multi else f"v{o[0]}")
            used = sorted(
                {f"d{_ref_at(node, q).id}" for q in node.diff if _ref_at(node, q).id in has}
            )
            # a tangent that is zero at run time (None, from a piecewise-constant step): no call
            call = f"({w.call(node, 'j', head)} if {' or '.join(f'{u} is not None' for u in used)} else None)"
            if node.multi:
                lines.append(f"e{node.id} = {call}")
                for k, oid in enumerate(o):
                    if oid is not None:
                        lines.append(f"d{oid} = part(e{node.id}, {k})")
                        has.add(oid)
            elif o[0] is not None:
                lines.append(f"d{o[0]} = {call}")
                has.add(o[0])
        tans = ", ".join(
            f"d{o.id}" if type(o) is Ref and o.id in has else "None" for o in p.out_leaves
        )
        lines.append(f"return {self._outs(w)}, ({tans},)")
        return self._compile("jvp", lines, w)


def _ref_at(node, path):
    return node.args[path[0]] if len(path) == 1 else node.args[path[0]][path[1]]


def _needs(node) -> tuple:
    out = []
    for i, a in enumerate(node.args):
        if type(a) in (list, tuple) and any(len(q) == 2 and q[0] == i for q in node.diff):
            out.append(tuple((i, j) in node.diff for j in range(len(a))))
        else:
            out.append((i,) in node.diff)
    return tuple(out)

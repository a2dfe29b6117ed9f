"""Straight-line Numba source from the element graph, and the modules it goes into.

``schedule(stores)`` emits Python for Numba: scalars as local variables, and for the array
expressions one fused loop per group of reductions/stores over the same domain (recomputing
an array expression where a later loop needs it, instead of storing it). ``load_module``
writes a generated module once per source (named by its hash) to the cache directory and
imports it; its kernels use ``numba.njit(cache=True)``, so a new process loads the machine
code instead of compiling. Imports numpy and dualad internals.
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
import os
import sys
import threading

from dualad._numpy import np

from .graph import _BOOL, _CMP, _OPS, X, _topo
from .trace import NotCompilable

# -- code generation -----------------------------------------------------------------------------


class Emitter:
    """Straight-line Numba source for a list of stores (see ``schedule``)."""

    def __init__(self):
        self.lines: list[str] = []

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


def load_module(src: str, cache_dir):
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


_ALLOCATORS: tuple | None = None


def allocators() -> tuple:
    """``(zeros, empty)`` as the generated kernels call them: the function objects Numba has
    typing for. Interception (dualad._intercept) replaces ``numpy.zeros``/``numpy.empty`` with
    Python wrappers for good; Numba registers whichever objects the module held when its array
    library was first loaded (before interception: NumPy's own, after it: the wrappers), and
    any other object fails to compile. Found once per process, after loading that library."""
    global _ALLOCATORS
    if _ALLOCATORS is None:
        import numpy
        from numba.core.errors import TypingError
        from numba.core.registry import cpu_target

        cpu_target.target_context.refresh()  # (loads Numba's array library: it registers)
        ctx = cpu_target.typing_context
        ctx.refresh()
        found = []
        for name in ("zeros", "empty"):
            for fn in (getattr(np, name), getattr(numpy, name)):  # NumPy's own first
                try:
                    ctx.resolve_value_type(fn)
                except (ValueError, TypingError):
                    continue
                found.append(fn)
                break
            else:
                found.append(getattr(np, name))  # (Numba's own error then says why)
        _ALLOCATORS = tuple(found)
    return _ALLOCATORS


HEADER = (
    "# generated by dualad.compile: one traced program, lowered to scalar code\n"
    "import numpy as np\nfrom numba import njit\n"
    "from dualad._compile.emit import allocators\n\n"
    "_zeros, _empty = allocators()  # (not np.zeros: interception may have wrapped it)\n"
)
DECOR = '@njit(cache=True, error_model="numpy", fastmath=False)\n'

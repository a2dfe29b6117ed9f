"""Custom derivative rules: ``defrule``, ``custom_jvp``, ``custom_vjp``.

For a function whose derivative dualad cannot follow (compiled code: a C extension,
``scipy.integrate.quad``, a simulator) or should not (a better-conditioned formula), the
user states the derivative once; the function then works in forward mode, reverse mode,
nested derivatives and Hessians like a built-in rule. Each traced call becomes one
primitive under a dispatcher (``dualad._foreign``) that calls the user's function on plain
values; the tables see its result flattened to its array leaves (a dict or nested tuple of
results is several outputs), the user's rules see the result's own structure.

Given only a forward rule, reverse mode transposes it by tracing it on a tape at generic
nonzero tangents (checked: the traced map must be linear), or, for a rule that refuses
traced tangents, through the Jacobian (one forward rule call per input element); given only
a reverse rule, forward mode the same way. For second order the rule itself must be
differentiable: written in NumPy calls, or calling other functions with rules.

Imports numpy, ``_foreign``, ``_intercept``, ``_pytree`` and ``rules``.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable

from dualad._numpy import np

from ._foreign import dispatcher
from ._intercept import active, intercept
from ._ops import strip
from ._pytree import LEAF, flatten, unflatten
from ._tags import Leveled
from .rules import RULES, Rule
from .rules._define import func_name

__all__ = ["custom_jvp", "custom_vjp", "defrule"]


# -- shapes and zeros -------------------------------------------------------------------------


def _floating(a) -> bool:
    if isinstance(a, Leveled):
        return True
    dt = getattr(a, "dtype", None)
    if dt is not None:
        return dt.kind in "fc"
    return type(a) in (float, complex)


def _zero(a):
    """The zero tangent of argument ``a`` as the user's rule sees it (None: not a float)."""
    if not _floating(a):
        return None
    p = strip(a)
    return np.zeros(np.shape(p), dtype=np.result_type(p, 0.0))


def _check(what: str, name: str, got, want_shape) -> None:
    shape = np.shape(strip(got)) if not isinstance(got, Leveled) else tuple(got.shape)
    if tuple(shape) != tuple(want_shape):
        raise ValueError(
            f"{name}: the custom {what} returned shape {tuple(shape)}, expected "
            f"{tuple(want_shape)} (the shape of the value it belongs to)"
        )


def _out_shapes(out):
    if isinstance(out, tuple):
        return [np.shape(strip(o)) for o in out]
    return np.shape(strip(out))


def _readonly(a):
    """A read-only view of a tangent or cotangent handed to the user's rule: one that writes
    into it in place would change the caller's seed (``dualad.jvp``'s ``v``) or another
    direction's tangent."""
    if type(a) is not np.ndarray or not a.flags.writeable:
        return a
    v = a.view()
    v.flags.writeable = False
    return v


# -- what a custom function takes and returns -------------------------------------------------

_SEQUENCE_ARG = (
    "custom rules take arrays, not lists/tuples/dicts of arrays, as differentiable "
    "arguments; pass them as separate arguments"
)


def _traced(x) -> bool:
    """True when ``x`` is, or holds (in nested lists, tuples and dicts), a wrapper or a
    sparsity tracer (both have a ``_level``)."""
    if hasattr(x, "_level"):
        return True
    if isinstance(x, (list, tuple)):
        return any(_traced(b) for b in x)
    if isinstance(x, dict):
        return any(_traced(b) for b in x.values())
    return False


def _any_traced(args, kwargs) -> bool:
    for a in args:
        if hasattr(a, "_level") or (isinstance(a, (list, tuple, dict)) and _traced(a)):
            return True
    for a in kwargs.values():
        if _traced(a):
            return True
    return False


def _refuse_structured(name: str, args, kwargs) -> None:
    """Differentiable values only as positional array arguments: the rules' tangents and
    cotangents come one per positional argument, so a derivative inside a container or a
    keyword argument would have no place (and a rule that knows only ``tangents[0]``
    would silently drop it)."""
    for a in args:
        if isinstance(a, (list, tuple, dict)) and _traced(a):
            raise NotImplementedError(f"{name}: {_SEQUENCE_ARG}")
    for k, v in kwargs.items():
        if _traced(v):
            raise NotImplementedError(
                f"{name}: the keyword argument {k!r} carries a derivative, and custom rules "
                "take differentiable arguments positionally only (their tangents and "
                "cotangents come one per positional argument): pass it positionally, "
                f"{name.rsplit('.', 1)[-1]}(..., {k}_value), and give its tangent/cotangent "
                "in that place in the rule"
            )


def _refuse_sequences(name: str, args) -> None:
    """The same check inside the table rules (a NumPy function given a rule by
    ``defrule`` is reached with whatever NumPy passed)."""
    for a in args:
        if type(a) in (list, tuple) and _traced(a):
            raise NotImplementedError(f"{name}: {_SEQUENCE_ARG}")


class _Call:
    """One traced call of a custom function: the structure of its result (None: the tables'
    own, an array or a tuple, as for a NumPy function registered in ``RULES``) and whether
    interception was on when it was made (its rules run later, in a reverse sweep, under
    the same state)."""

    __slots__ = ("intercept", "tree")

    def __init__(self, intercepting: bool = False):
        self.tree = None
        self.intercept = intercepting

    def flat(self, out):
        """The user's result as the tables see it: an array, or a tuple of its leaves."""
        if not isinstance(out, (list, tuple, dict)):
            self.tree = LEAF
            return out
        leaves, self.tree = flatten(out)
        return out if self.tree.is_leaf else tuple(leaves)

    def user(self, flat):
        """A value in the tables' form (the result, a cotangent) in the result's structure."""
        if self.tree is None or self.tree.is_leaf or flat is None:
            return flat
        return unflatten(self.tree, flat)

    def leaves(self, got, what: str, name: str):
        """The user's tangent or cotangent of the result, in the tables' form."""
        td = self.tree
        if td is None:
            return tuple(got) if isinstance(got, list) else got
        if td.is_leaf:
            return got
        leaves = _leaves_like(got, td)
        if leaves is None:
            kinds = f"a {td.kind}" if td.kind != "leaf" else "an array"
            raise ValueError(
                f"{name}: the custom {what} returned a {type(got).__name__} where the "
                f"function returns {kinds} ({td.n_leaves} arrays); give it the structure of "
                "the function's result"
            )
        return tuple(leaves)


def _leaves_like(tree, td) -> list | None:
    """The leaves of ``tree`` in the order of the structure ``td``, None where the structures
    differ: dict keys in any order, a tuple for a list and a list for a tuple (as the tables
    always have), None for a leaf (no tangent: an integer result)."""
    kind = td.kind
    if kind == "leaf":
        return None if isinstance(tree, (tuple, list, dict)) else [tree]
    if kind == "none":  # a None in the result: no leaves
        return [] if tree is None else None
    if kind == "dict":
        if not isinstance(tree, dict) or set(tree) != set(td.meta):
            return None
        items = [tree[k] for k in td.meta]
    elif kind == "namedtuple":
        if not isinstance(tree, tuple):
            return None
        items = list(tree)
    elif type(tree) in (tuple, list):
        items = tree
    else:
        return None
    if len(items) != len(td.children):
        return None
    leaves: list = []
    for t, c in zip(items, td.children):
        got = _leaves_like(t, c)
        if got is None:
            return None
        leaves += got
    return leaves


def _under(call: _Call, f: Callable | None) -> Callable | None:
    """``f`` run under the interception state its call was made in."""
    if f is None or not call.intercept:
        return f

    @functools.wraps(f)
    def run(*args, **kwargs):
        if active():
            return f(*args, **kwargs)
        with intercept():
            return f(*args, **kwargs)

    return run


def _custom(fun: Callable, name: str, make: Callable) -> Callable:
    """The function users call: ``fun`` itself on plain values; on traced ones, one
    primitive per call, ``make(call) -> (primal, Rule)`` giving the function the
    dispatcher calls on plain values and the rule for that call's flattened result."""

    fname, qualname = getattr(fun, "__name__", name), getattr(fun, "__qualname__", name)

    @functools.wraps(fun)
    def custom(*args, **kwargs):
        if not _any_traced(args, kwargs):
            return fun(*args, **kwargs)
        _refuse_structured(name, args, kwargs)
        call = _Call(active())
        primal, rule = make(call)
        if call.intercept:
            rule = Rule(rule.name, _under(call, rule.jvp), _under(call, rule.vjp), rule.vjp_needs)
        primal.__name__, primal.__qualname__ = fname, qualname
        return call.user(dispatcher(primal, rule=rule)(*args, **kwargs))

    return custom


# -- batching: the tables carry k directions on a leading axis; user rules take one -------


def _stack(parts: list, multi: bool):
    if multi:
        return tuple(
            None if all(p[i] is None for p in parts) else np.stack([p[i] for p in parts])
            for i in range(len(parts[0]))
        )
    return parts[0][None] if len(parts) == 1 else np.stack(parts)


def _directions(dots) -> int:
    for d in dots:
        if d is None:
            continue
        if isinstance(d, tuple):
            raise NotImplementedError(_SEQUENCE_ARG)
        return d.shape[0]
    return 0


def _one_direction(user_jvp: Callable, name: str, call: _Call) -> Callable:
    """A table jvp (``(k,) + shape`` tangents) from the user's one-direction jvp
    ``jvp(tangents, out, *args, **kwargs) -> out_tangent``."""

    def jvp(dots, out, *args, **kwargs):
        k = _directions(dots)
        if k == 0:
            return None
        multi = isinstance(out, tuple)
        want = _out_shapes(out)
        user_out = call.user(out)
        parts = []
        for j in range(k):
            ts = tuple(_zero(a) if d is None else _readonly(d[j]) for d, a in zip(dots, args))
            t = call.leaves(user_jvp(ts, user_out, *args, **kwargs), "jvp", name)
            if multi:
                t = tuple(t)
                if len(t) != len(out):
                    raise ValueError(
                        f"{name}: the custom jvp returned {len(t)} tangents for {len(out)} results"
                    )
                t = tuple(ti if _floating(o) else None for ti, o in zip(t, out))
                for ti, w in zip(t, want):
                    if ti is not None:
                        _check("jvp", name, ti, w)
            else:
                _check("jvp", name, t, want)
            parts.append(t)
        return _stack(parts, multi)

    return jvp


def _as_tuple(ct, n: int, name: str) -> tuple:
    if n == 1 and not isinstance(ct, (tuple, list)):
        ct = (ct,)
    ct = tuple(ct)
    if len(ct) != n:
        raise ValueError(
            f"{name}: the custom vjp returned {len(ct)} cotangents for {n} positional "
            "arguments (give None for an argument without one)"
        )
    return ct


def _one_cotangent(user_vjp: Callable, name: str, call: _Call) -> Callable:
    """A table vjp (``(m,) + shape`` cotangents) from the user's one-cotangent vjp
    ``vjp(cotangent, out, *args, **kwargs) -> tuple of argument cotangents``."""

    def vjp(out_bar, out, *args, **kwargs):
        _refuse_sequences(name, args)
        multi = isinstance(out, tuple)
        m = next(b for b in out_bar if b is not None).shape[0] if multi else out_bar.shape[0]
        user_out = call.user(out)
        parts = []
        for j in range(m):
            if multi:
                g = tuple(
                    np.zeros(np.shape(strip(o))) if b is None else _readonly(b[j])
                    for b, o in zip(out_bar, out)
                )
            else:
                g = _readonly(out_bar[j])
            ct = user_vjp(call.user(g), user_out, *args, **kwargs)
            ct = _as_tuple(ct, len(args), name)
            for c, a in zip(ct, args):
                if c is not None:
                    _check("vjp", name, c, np.shape(strip(a)))
            parts.append(ct)
        res = []
        for i, a in enumerate(args):
            col = [p[i] for p in parts]
            if all(c is None for c in col):
                res.append(None)
                continue
            zero = np.zeros(np.shape(strip(a)))
            res.append(np.stack([zero if c is None else c for c in col]))
        return tuple(res)

    return vjp


def _batched(user_jvp, user_vjp, name: str, call: _Call):
    """The user's batched rules in the tables' form: the result's structure and read-only
    tangents and cotangents."""
    jvp = vjp = None
    if user_jvp is not None:

        def jvp(dots, out, *args, **kwargs):
            dots = tuple(_readonly(d) for d in dots)
            return call.leaves(user_jvp(dots, call.user(out), *args, **kwargs), "jvp", name)

    if user_vjp is not None:

        def vjp(out_bar, out, *args, **kwargs):
            _refuse_sequences(name, args)
            if isinstance(out_bar, tuple):
                out_bar = tuple(_readonly(b) for b in out_bar)
            else:
                out_bar = _readonly(out_bar)
            return user_vjp(call.user(out_bar), call.user(out), *args, **kwargs)

    return jvp, vjp


# -- one mode from the other, through the Jacobian ---------------------------------------------

#: The most Jacobian entries the fallback below forms (for a rule that calls compiled code on
#: its tangents or cotangents, so it cannot be transposed by tracing).
DENSE_LIMIT = 10**7


class NotLinearError(ValueError):
    """A rule traced for transposition is not linear in its tangents or cotangent."""


def _seed(shape) -> np.ndarray:
    """Generic tangents to trace a linear rule at: fixed pseudo-random values of both signs
    with magnitudes in [1.25, 1.75] (never 0 or 1). At zero tangents a rule that tests for
    them (``np.where(t == 0, 0, t / s)``, an early ``return 0``) would record its zero
    branch, and its transpose would be zero; at these no entry takes such a branch."""
    rng = np.random.default_rng(0x5EED)
    mag = rng.uniform(1.25, 1.75, size=shape)
    return np.where(rng.random(size=shape) < 0.5, -mag, mag)


def _transpose(linear: Callable, shapes: list, bar, name: str, given: str) -> list | None:
    """``L^T bar`` for the linear map ``linear(*ts)`` (one array, or a tuple of them, with
    ``bar`` alike), by recording it on a tape at generic tangents and sweeping back from
    ``<bar, L(ts)>`` (JAX's linear transposition). None when the map does not depend on
    the tangents at all.

    The recorded map is checked at the seed: ``<bar, L(s)> == <L^T bar, s>`` holds for a
    linear map, and fails for one with a constant term or one whose branches on the
    tangents' values made the recorded map something else. The check is partial: a rule
    that is homogeneous but not linear (``abs(t)``, ``max(t, 0)``) passes it."""
    import tape

    seeds = [_seed(s) for s in shapes]
    with tape.Tape() as t:
        ws = [t._watch(s) for s in seeds]
        y = linear(*ws)
        ys, bs = (y, bar) if isinstance(y, tuple) else ((y,), (bar,))
        traced, plain, scale = None, 0.0, 0.0
        for yi, bi in zip(ys, bs):
            if yi is None or bi is None:
                continue
            term = np.sum(yi * bi)
            scale += float(np.sum(np.abs(strip(yi) * strip(bi))))
            if isinstance(term, tape.Variable):
                traced = term if traced is None else traced + term
            else:
                plain += complex(strip(term))
    grads = None if traced is None else list(t.gradient(traced, ws))
    t.close()
    lhs = plain + (0.0 if traced is None else complex(strip(traced)))
    rhs = 0.0
    for g, s in zip(grads or (), seeds):
        if g is not None:
            gs = strip(g) * s
            rhs += complex(np.sum(gs))
            scale += float(np.sum(np.abs(gs)))
    # (loose: a linear rule that cancels large terms, or solves an ill-conditioned system,
    # rounds at ~1e-6 of its result; a constant term or a branch taken on the seed's
    # values moves it by O(1))
    if abs(lhs - rhs) > 1e-5 * scale + 1e-300:
        what = "tangents" if given == "jvp" else "cotangent"
        raise NotLinearError(
            f"{name}: its {given} rule is not linear in its {what}: traced at generic "
            f"nonzero {what} s, <u, L(s)> = {_num(lhs)} but <L^T u, s> = {_num(rhs)}, so "
            f"transposing it would be wrong. A {given} rule must be linear in its {what} "
            "(no constant terms, no branches on their values other than zero tests); or "
            f"give {'vjp' if given == 'jvp' else 'jvp'}= too"
        )
    return grads


def _num(z: complex) -> str:
    return f"{z.real:.17g}" if z.imag == 0 else f"{z:.17g}"


def _too_big(name: str, given: str, entries: int) -> NotImplementedError:
    other = "vjp" if given == "jvp" else "jvp"
    return NotImplementedError(
        f"{name}: its {given} rule could not be transposed by tracing (it converts the "
        f"{'tangents' if given == 'jvp' else 'cotangent'} to plain arrays), and the Jacobian "
        f"it would take instead has {entries} entries; give {other}= too"
    )


def _vjp_from_jvp(jvp: Callable, name: str) -> Callable:
    """Reverse mode from a forward rule: the jvp transposed by tracing it on a tape (one
    call); if it refuses traced tangents (converts them, or writes them into a plain
    buffer), through the Jacobian (one direction per element of each input) and
    ``out_bar . J_i``."""

    def vjp(out_bar, out, *args, needs=None, **kwargs):
        _refuse_sequences(name, args)
        multi = isinstance(out, tuple)
        m = next(b for b in out_bar if b is not None).shape[0] if multi else out_bar.shape[0]
        want = [_floating(a) and (needs is None or bool(needs[i])) for i, a in enumerate(args)]
        idx = [i for i, w in enumerate(want) if w]
        shapes = [(m,) + np.shape(strip(args[i])) for i in idx]

        def linear(*ts):
            dots = [None] * len(args)
            for i, t in zip(idx, ts):
                dots[i] = t
            return jvp(tuple(dots), out, *args, **kwargs)

        try:
            bars = _transpose(linear, shapes, out_bar, name, "jvp")
        except NotLinearError:
            raise
        except (TypeError, ValueError):
            # refused traced tangents: the Jacobian from plain ones (a genuine error in
            # the rule raises again there)
            bars = _vjp_dense(jvp, name, out_bar, out, args, idx, kwargs)
        res = [None] * len(args)
        if bars is not None:
            for i, b in zip(idx, bars):
                res[i] = b
        return tuple(res)

    return vjp


def _vjp_dense(jvp, name, out_bar, out, args, idx, kwargs) -> list:
    multi = isinstance(out, tuple)
    outs, obars = (out, out_bar) if multi else ((out,), (out_bar,))
    m = next(b for b in obars if b is not None).shape[0]
    n_out = sum(int(np.prod(np.shape(strip(o)))) for o in outs)
    bars = []
    for i in idx:
        shape = np.shape(strip(args[i]))
        n = int(np.prod(shape))
        if n * n_out > DENSE_LIMIT:
            raise _too_big(name, "jvp", n * n_out)
        eye = np.eye(n).reshape((n,) + shape)
        dots = tuple(eye if j == i else None for j in range(len(args)))
        jac = jvp(dots, out, *args, **kwargs)  # (n,) + out shape, per result
        total = np.zeros((m, n))
        for jo, bo in zip(jac if multi else (jac,), obars):
            if jo is None or bo is None:
                continue
            jo = np.reshape(jo, (n, -1))
            total = total + np.reshape(bo, (m, -1)) @ jo.T
        bars.append(np.reshape(total, (m,) + shape))
    return bars


def _jvp_from_vjp(vjp: Callable, needs_kw: bool, name: str) -> Callable:
    """Forward mode from a reverse rule: the vjp transposed by tracing it on a tape (one
    call); if it refuses a traced cotangent, through the Jacobian's rows (one cotangent per
    output element) and ``J_i . dot_i`` summed over the inputs."""

    def jvp(dots, out, *args, **kwargs):
        k = _directions(dots)
        if k == 0:
            return None
        multi = isinstance(out, tuple)
        outs = out if multi else (out,)
        live = [i for i, o in enumerate(outs) if _floating(o)]
        shapes = [(k,) + np.shape(strip(outs[i])) for i in live]
        extra = {"needs": tuple(d is not None for d in dots)} if needs_kw else {}

        def cotangent(us):  # the live results' cotangents, zeros for the others
            got = dict(zip(live, us))
            bar = tuple(
                got[i] if i in got else np.zeros((k,) + np.shape(strip(o)))
                for i, o in enumerate(outs)
            )
            return bar if multi else bar[0]

        def linear(*us):  # <dots, vjp(u)>: its gradient in u is the jvp of each direction
            rows = vjp(cotangent(us), out, *args, **kwargs, **extra)
            total = None
            for d, r in zip(dots, rows):
                if d is None or r is None:
                    continue
                term = np.sum(np.reshape(d * r, (k, -1)), axis=1)  # <d_j, r_j> per direction
                total = term if total is None else total + term
            return total

        try:
            res = _transpose(linear, shapes, 1.0, name, "vjp")
        except NotLinearError:
            raise
        except (TypeError, ValueError):
            res = _jvp_dense(vjp, name, dots, out, args, kwargs, extra, k, live, cotangent)
        if res is None:
            return None
        if not multi:
            return res[0]
        got = dict(zip(live, res))
        return tuple(got.get(i) for i in range(len(outs)))

    return jvp


def _jvp_dense(vjp, name, dots, out, args, kwargs, extra, k, live, cotangent):
    outs = out if isinstance(out, tuple) else (out,)
    n = sum(int(np.prod(np.shape(strip(a)))) for a, d in zip(args, dots) if d is not None)
    res = []
    for i in live:
        oshape = np.shape(strip(outs[i]))
        m = int(np.prod(oshape))
        if n * m > DENSE_LIMIT:
            raise _too_big(name, "vjp", n * m)
        eye = np.eye(m).reshape((m,) + oshape)
        us = [eye if j == i else np.zeros((m,) + np.shape(strip(outs[j]))) for j in live]
        rows = vjp(cotangent(us), out, *args, **kwargs, **extra)
        total = np.zeros((k, m))
        for d, r in zip(dots, rows):
            if d is None or r is None:
                continue
            total = total + np.reshape(d, (k, -1)) @ np.reshape(r, (m, -1)).T  # (k, m)
        res.append(np.reshape(total, (k,) + oshape))
    return res


def _needs_kw(f: Callable) -> bool:
    try:
        return "needs" in inspect.signature(f).parameters
    except (TypeError, ValueError):
        return False


def _table_rule(name: str, jvp, vjp, batched: bool, call: _Call, needs_kw: bool) -> Rule:
    """The table's Rule from the user's rules (either may be None, not both), for a result
    of the structure ``call`` records."""
    if jvp is None and vjp is None:
        raise TypeError(f"{name}: give jvp=, vjp= or both")
    if batched:
        tj, tv = _batched(jvp, vjp, name, call)
    else:
        tj = None if jvp is None else _one_direction(jvp, name, call)
        tv = None if vjp is None else _one_cotangent(vjp, name, call)
    needs = batched and vjp is not None and needs_kw
    if tj is None:
        tj = _jvp_from_vjp(tv, needs, name)
    if tv is None:
        tv, needs = _vjp_from_jvp(tj, name), True
    return Rule(name, tj, tv, needs)


# -- the public verbs -------------------------------------------------------------------------


def _is_numpy_dispatched(func) -> bool:
    return isinstance(func, np.ufunc) or hasattr(func, "_implementation")


def _name(func) -> str:
    """How errors name the user's function: ``module.qualname`` (``mylib.Model.energy``),
    the bare qualified name for one defined in a script or a REPL (``__main__``)."""
    if _is_numpy_dispatched(func):
        return func_name(func)  # numpy.sin, not numpy._core.umath.sin
    qual = getattr(func, "__qualname__", None) or getattr(func, "__name__", None) or repr(func)
    mod = getattr(func, "__module__", None)
    return qual if not mod or mod == "__main__" else f"{mod}.{qual}"


def defrule(
    func: Callable,
    jvp: Callable | None = None,
    vjp: Callable | None = None,
    *,
    name: str | None = None,
    batched: bool = False,
) -> Callable:
    """State the derivative of ``func`` once; returns the differentiable function.

    Parameters
    ----------
    func : callable
        Any function of arrays: one that calls compiled code (a C extension, ``ctypes``,
        ``scipy.integrate.quad``), or a NumPy function whose built-in rule you replace.
        It may return one array or a tuple, list or dict (nested) of arrays.
    jvp : callable, optional
        ``jvp(tangents, out, *args, **kwargs) -> out_tangent``: ``tangents`` has one entry
        per positional argument (zeros for an argument not differentiated, None for a
        non-float one), ``out`` is ``func(*args, **kwargs)`` and ``out_tangent`` has its
        structure. Must be linear in ``tangents``; a read-only view of them is passed.
    vjp : callable, optional
        ``vjp(cotangent, out, *args, **kwargs) -> tuple``: ``cotangent`` has the structure
        of ``out``; one cotangent per positional argument, shaped like it (None where there
        is none).
    name : str, optional
        Shown in errors and in the tape's Wengert list (default: the function's name).
    batched : bool
        The rules take many directions at once on a leading axis (``tangents`` entries
        ``(k,) + shape`` or None; the cotangent ``(m,) + shape(out)``), as dualad's own
        tables do; faster for Jacobians.

    Returns
    -------
    callable
        The function to call: ``func`` itself for a NumPy function (its table entry is
        replaced), else a wrapper that calls ``func`` on plain values.

    Differentiable arguments are positional arrays: one inside a list, tuple or dict, or
    passed by keyword, raises (its tangent would have no place in ``tangents``; pass it
    positionally). Other keyword arguments reach the rules as keywords. Either rule alone
    is enough: dualad builds the other mode by transposing it. For second order
    (``hessian``, ``hvp``, nested ``grad``) the rules must be differentiable (NumPy calls,
    or functions that have rules themselves).

    >>> import math, numpy as np, dualad
    >>> def c_sin(x):  # stands for compiled code: plain floats only
    ...     return np.array([math.sin(float(v)) for v in np.ravel(x)]).reshape(np.shape(x))
    >>> my_sin = dualad.defrule(c_sin, jvp=lambda t, out, x: np.cos(x) * t[0])
    >>> dualad.grad(lambda x: my_sin(x).sum(), np.array([0.0, 1.0]), mode="reverse")
    array([1.        , 0.54030231])
    """
    label = name or _name(func)
    if jvp is None and vjp is None:
        raise TypeError(f"{label}: give jvp=, vjp= or both")
    needs_kw = batched and vjp is not None and _needs_kw(vjp)
    if _is_numpy_dispatched(func):
        from .rules import COMPOSITES, PRIMAL_ONLY

        if func in RULES or func in COMPOSITES or func in PRIMAL_ONLY:
            raise ValueError(
                f"{label} already has a derivative in dualad; to use another, give your own "
                "function a rule: defrule(lambda x: ..., jvp=...)"
            )
        # NumPy passes its arguments as its signature binds them: a keyword argument that
        # carries a derivative comes positionally, in its place in that signature
        RULES[func] = _table_rule(label, jvp, vjp, batched, _Call(), needs_kw)
        return func

    def make(call: _Call):
        def primal(*args, **kwargs):  # called on plain values only
            return call.flat(func(*args, **kwargs))

        return primal, _table_rule(label, jvp, vjp, batched, call, needs_kw)

    return _custom(func, label, make)


class custom_jvp:
    """A function with a forward rule of its own, JAX style.

    >>> import numpy as np, dualad
    >>> @dualad.custom_jvp
    ... def softplus(x):
    ...     return np.log1p(np.exp(x))
    >>> @softplus.defjvp
    ... def _(primals, tangents):
    ...     (x,), (t,) = primals, tangents
    ...     return softplus(x), t / (1 + np.exp(-x))
    >>> float(dualad.grad(softplus, 0.0))
    0.5

    ``defjvp(rule)``: ``rule(primals, tangents) -> (primal_out, tangent_out)``, one
    direction, zeros for arguments not differentiated, ``tangent_out`` with the structure of
    the result (an array, or a tuple, list or dict of them); keyword arguments (which carry
    no derivative: pass a differentiable one positionally) reach ``rule`` as keywords.
    Reverse mode transposes it; for second order the rule must itself be differentiable.
    """

    def __init__(self, fun: Callable):
        functools.update_wrapper(self, fun)
        self.fun = fun
        self._call = None

    def defjvp(self, rule: Callable) -> Callable:
        fun, label = self.fun, _name(self.fun)

        def jvp(tangents, out, *args, **kwargs):
            res = rule(args, tangents, **kwargs) if kwargs else rule(args, tangents)
            return res[1]

        def make(call: _Call):
            def primal(*args, **kwargs):  # called on plain values only
                return call.flat(fun(*args, **kwargs))

            return primal, _table_rule(label, jvp, None, False, call, False)

        self._call = _custom(fun, label, make)
        return rule

    def __call__(self, *args, **kwargs):
        if self._call is None:
            return self.fun(*args, **kwargs)
        return self._call(*args, **kwargs)


def _same(a, b) -> bool:
    """Whether ``b`` (the result a rule is given, in the user's structure) holds the very
    arrays ``a`` (the one ``fwd`` returned) holds."""
    if a is b:
        return True
    la, lb = flatten(a)[0], flatten(b)[0]
    return len(la) == len(lb) and all(x is y for x, y in zip(la, lb))


class custom_vjp:
    """A function with a reverse rule of its own, JAX style.

    >>> import numpy as np, dualad
    >>> @dualad.custom_vjp
    ... def clip_grad(x):
    ...     return x
    >>> def fwd(x):
    ...     return x, None
    >>> def bwd(res, g):
    ...     return (np.clip(g, -1.0, 1.0),)
    >>> clip_grad.defvjp(fwd, bwd)
    >>> dualad.grad(lambda x: 5.0 * clip_grad(x).sum(), np.array([1.0]), mode="reverse")
    array([1.])

    ``defvjp(fwd, bwd)``: ``fwd(*args) -> (out, residuals)``, ``bwd(residuals, g) -> tuple``
    of one cotangent per positional argument (None where there is none), ``g`` with the
    structure of the result. Forward mode transposes ``bwd``; ``fwd`` runs again in the
    backward pass for its residuals unless the value it returned is still the one being
    differentiated. For second order ``fwd`` and ``bwd`` must be differentiable.
    """

    def __init__(self, fun: Callable):
        functools.update_wrapper(self, fun)
        self.fun = fun
        self._rules = None
        self._call = None

    def defvjp(self, fwd: Callable, bwd: Callable) -> None:
        self._rules = (fwd, bwd)
        self._call = _custom(self.fun, _name(self.fun), self._one_call)

    def _one_call(self, call: _Call):
        """The primal and rule for one call, holding that call's residuals: a record of it
        keeps them for its backward pass, and no other call can reach them (a table keyed by
        the output's ``id`` mixed calls whose ``fwd`` returned the same object, an input
        passed through, and outputs freed and replaced at a reused id)."""
        fwd, bwd = self._rules
        kept: list = []  # (the output fwd returned, its residuals)

        def primal(*args, **kwargs):  # called on plain values only
            out, res = fwd(*args, **kwargs)
            out = call.flat(out)
            kept[:] = [(out, res)]
            return out

        def vjp(g, out, *args, **kwargs):
            # a traced out (second order) needs residuals that carry the outer derivative:
            # fwd runs again on the traced arguments
            res = kept[0][1] if kept and _same(kept[0][0], out) else fwd(*args, **kwargs)[1]
            return bwd(res, g)

        return primal, _table_rule(_name(self.fun), None, vjp, False, call, False)

    def __call__(self, *args, **kwargs):
        if self._call is None:
            return self.fun(*args, **kwargs)
        return self._call(*args, **kwargs)

"""Custom derivative rules: ``defrule``, ``custom_jvp``, ``custom_vjp``.

For a function whose derivative dualad cannot follow (compiled code: a C extension,
``scipy.integrate.quad``, a simulator) or should not (a better-conditioned formula), the
user states the derivative once; the function then works in forward mode, reverse mode,
nested derivatives and Hessians like a built-in rule. The rule goes into the same table
(``dualad.rules.RULES``) under a dispatcher (``dualad._foreign``) that calls the user's
function on plain values.

Given only a forward rule, reverse mode builds the Jacobian from it (one forward rule call
per input element) and transposes; given only a reverse rule, forward mode builds the
Jacobian from it (one call per output element). For second order the rule itself must be
differentiable: written in NumPy calls, or calling other functions with rules.

Imports numpy, ``_foreign`` and ``rules``.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable

from dualad._numpy import np

from ._foreign import dispatcher
from ._ops import strip
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
            raise NotImplementedError(
                "custom rules take arrays, not lists/tuples of arrays, as differentiable "
                "arguments; pass them as separate arguments"
            )
        return d.shape[0]
    return 0


def _one_direction(user_jvp: Callable, name: str) -> Callable:
    """A table jvp (``(k,) + shape`` tangents) from the user's one-direction jvp
    ``jvp(tangents, out, *args, **kwargs) -> out_tangent``."""

    def jvp(dots, out, *args, **kwargs):
        k = _directions(dots)
        if k == 0:
            return None
        multi = isinstance(out, tuple)
        want = _out_shapes(out)
        parts = []
        for j in range(k):
            ts = tuple(_zero(a) if d is None else d[j] for d, a in zip(dots, args))
            t = user_jvp(ts, out, *args, **kwargs)
            if multi:
                t = tuple(t)
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


def _one_cotangent(user_vjp: Callable, name: str) -> Callable:
    """A table vjp (``(m,) + shape`` cotangents) from the user's one-cotangent vjp
    ``vjp(cotangent, out, *args, **kwargs) -> tuple of argument cotangents``."""

    def vjp(out_bar, out, *args, **kwargs):
        multi = isinstance(out, tuple)
        m = next(b for b in out_bar if b is not None).shape[0] if multi else out_bar.shape[0]
        parts = []
        for j in range(m):
            if multi:
                g = tuple(
                    np.zeros(np.shape(strip(o))) if b is None else b[j]
                    for b, o in zip(out_bar, out)
                )
            else:
                g = out_bar[j]
            ct = _as_tuple(user_vjp(g, out, *args, **kwargs), len(args), name)
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


# -- one mode from the other, through the Jacobian ---------------------------------------------


def _single(out, name: str, given: str) -> None:
    if isinstance(out, tuple):
        raise NotImplementedError(
            f"{name}: with only a {given} rule dualad builds the other mode from the Jacobian, "
            "which it does for one array result; give both jvp= and vjp= for several results"
        )


#: The most Jacobian entries the fallback below forms (for a rule that calls compiled code on
#: its tangents or cotangents, so it cannot be transposed by tracing).
DENSE_LIMIT = 10**7


def _transpose(linear: Callable, shapes: list, bar) -> list | None:
    """``L^T bar`` for the linear map ``linear(*ts)``, by recording it on a tape at zero
    tangents and sweeping back from ``<bar, L(ts)>`` (JAX's linear transposition). None
    when the map does not depend on the tangents at all."""
    import tape

    with tape.Tape() as t:
        ws = [t.watch(np.zeros(s)) for s in shapes]
        y = linear(*ws)
        if y is None or not isinstance(y, tape.Variable):
            return None
        s = np.sum(y * bar)
    out = t.gradient(s, ws)
    t.close()
    return list(out)


def _too_big(name: str, given: str, entries: int) -> NotImplementedError:
    other = "vjp" if given == "jvp" else "jvp"
    return NotImplementedError(
        f"{name}: its {given} rule could not be transposed by tracing (it converts the "
        f"{'tangents' if given == 'jvp' else 'cotangent'} to plain arrays), and the Jacobian "
        f"it would take instead has {entries} entries; give {other}= too"
    )


def _vjp_from_jvp(jvp: Callable, name: str) -> Callable:
    """Reverse mode from a forward rule: the jvp transposed by tracing it on a tape (one
    call); if it refuses traced tangents, through the Jacobian (one direction per element of
    each input) and ``out_bar . J_i``."""

    def vjp(out_bar, out, *args, needs=None, **kwargs):
        _single(out, name, "jvp")
        m = out_bar.shape[0]
        want = [_floating(a) and (needs is None or bool(needs[i])) for i, a in enumerate(args)]
        idx = [i for i, w in enumerate(want) if w]
        shapes = [(m,) + np.shape(strip(args[i])) for i in idx]

        def linear(*ts):
            dots = [None] * len(args)
            for i, t in zip(idx, ts):
                dots[i] = t
            return jvp(tuple(dots), out, *args, **kwargs)

        try:
            bars = _transpose(linear, shapes, out_bar)
        except TypeError:
            bars = _vjp_dense(jvp, name, out_bar, out, args, idx, kwargs)
        res = [None] * len(args)
        if bars is not None:
            for i, b in zip(idx, bars):
                res[i] = b
        return tuple(res)

    return vjp


def _vjp_dense(jvp, name, out_bar, out, args, idx, kwargs) -> list:
    oshape = np.shape(strip(out))
    bars = []
    for i in idx:
        shape = np.shape(strip(args[i]))
        n = int(np.prod(shape))
        if n * int(np.prod(oshape)) > DENSE_LIMIT:
            raise _too_big(name, "jvp", n * int(np.prod(oshape)))
        eye = np.eye(n).reshape((n,) + shape)
        dots = tuple(eye if j == i else None for j in range(len(args)))
        jac = jvp(dots, out, *args, **kwargs)  # (n,) + out shape
        if jac is None:
            bars.append(np.zeros((out_bar.shape[0],) + shape))
            continue
        jac = np.reshape(jac, (n, int(np.prod(oshape))))
        bar = np.reshape(out_bar, (out_bar.shape[0], -1))
        bars.append(np.reshape(bar @ jac.T, (out_bar.shape[0],) + shape))
    return bars


def _jvp_from_vjp(vjp: Callable, needs_kw: bool, name: str) -> Callable:
    """Forward mode from a reverse rule: the vjp transposed by tracing it on a tape (one
    call); if it refuses a traced cotangent, through the Jacobian's rows (one cotangent per
    output element) and ``J_i . dot_i`` summed over the inputs."""

    def jvp(dots, out, *args, **kwargs):
        _single(out, name, "vjp")
        k = _directions(dots)
        if k == 0:
            return None
        oshape = np.shape(strip(out))
        extra = {"needs": tuple(d is not None for d in dots)} if needs_kw else {}

        def linear(u):  # <dots, vjp(u)>: its gradient in u is the jvp of each direction
            rows = vjp(u, out, *args, **kwargs, **extra)
            total = None
            for d, r in zip(dots, rows):
                if d is None or r is None:
                    continue
                term = np.sum(np.reshape(d * r, (k, -1)), axis=1)  # <d_j, r_j> per direction
                total = term if total is None else total + term
            return total

        try:
            res = _transpose(linear, [(k,) + oshape], 1.0)
        except TypeError:
            return _jvp_dense(vjp, name, dots, out, args, kwargs, extra, k)
        return None if res is None else res[0]

    return jvp


def _jvp_dense(vjp, name, dots, out, args, kwargs, extra, k):
    oshape = np.shape(strip(out))
    m = int(np.prod(oshape))
    n = sum(int(np.prod(np.shape(strip(a)))) for a, d in zip(args, dots) if d is not None)
    if n * m > DENSE_LIMIT:
        raise _too_big(name, "vjp", n * m)
    eye = np.eye(m).reshape((m,) + oshape)
    rows = vjp(eye, out, *args, **kwargs, **extra)
    total = None
    for d, r in zip(dots, rows):
        if d is None or r is None:
            continue
        term = np.reshape(d, (k, -1)) @ np.reshape(r, (m, -1)).T  # (k, m)
        total = term if total is None else total + term
    if total is None:
        return None
    return np.reshape(total, (k,) + oshape)


def _needs_kw(f: Callable) -> bool:
    try:
        return "needs" in inspect.signature(f).parameters
    except (TypeError, ValueError):
        return False


def _table_rule(name: str, jvp, vjp, batched: bool) -> Rule:
    """The table's Rule from the user's rules (either may be None, not both)."""
    if jvp is None and vjp is None:
        raise TypeError(f"{name}: give jvp=, vjp= or both")
    tj = None if jvp is None else (jvp if batched else _one_direction(jvp, name))
    tv = None if vjp is None else (vjp if batched else _one_cotangent(vjp, name))
    needs = batched and vjp is not None and _needs_kw(vjp)
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
    jvp : callable, optional
        ``jvp(tangents, out, *args, **kwargs) -> out_tangent``: ``tangents`` has one entry
        per positional argument (zeros for an argument not differentiated, None for a
        non-float one), ``out`` is ``func(*args, **kwargs)``. Must be linear in
        ``tangents``.
    vjp : callable, optional
        ``vjp(cotangent, out, *args, **kwargs) -> tuple``: one cotangent per positional
        argument, shaped like it (None where there is none).
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

    Either rule alone is enough: dualad builds the other mode from the Jacobian. For
    second order (``hessian``, ``hvp``, nested ``grad``) the rules must be differentiable
    (NumPy calls, or functions that have rules themselves).

    >>> import math, numpy as np, dualad
    >>> def c_sin(x):  # stands for compiled code: plain floats only
    ...     return np.array([math.sin(float(v)) for v in np.ravel(x)]).reshape(np.shape(x))
    >>> my_sin = dualad.defrule(c_sin, jvp=lambda t, out, x: np.cos(x) * t[0])
    >>> dualad.grad(lambda x: my_sin(x).sum(), np.array([0.0, 1.0]), mode="reverse")
    array([1.        , 0.54030231])
    """
    label = name or _name(func)
    rule = _table_rule(label, jvp, vjp, batched)
    if _is_numpy_dispatched(func):
        from .rules import COMPOSITES, PRIMAL_ONLY

        if func in RULES or func in COMPOSITES or func in PRIMAL_ONLY:
            raise ValueError(
                f"{label} already has a derivative in dualad; to use another, give your own "
                "function a rule: defrule(lambda x: ..., jvp=...)"
            )
        RULES[func] = rule
        return func
    return dispatcher(func, rule=rule)


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
    direction, zeros for arguments not differentiated. Reverse mode transposes it through
    the Jacobian; for second order the rule must itself be differentiable.
    """

    def __init__(self, fun: Callable):
        functools.update_wrapper(self, fun)
        self.fun = fun
        self._call = None

    def defjvp(self, rule: Callable) -> Callable:
        def jvp(tangents, out, *args, **kwargs):
            res = rule(args, tangents, **kwargs) if kwargs else rule(args, tangents)
            return res[1]

        self._call = dispatcher(self.fun, rule=_table_rule(_name(self.fun), jvp, None, False))
        return rule

    def __call__(self, *args, **kwargs):
        if self._call is None:
            return self.fun(*args, **kwargs)
        return self._call(*args, **kwargs)


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
    of one cotangent per positional argument (None where there is none). Forward mode
    builds the Jacobian from ``bwd`` (one call per output element); ``fwd`` runs again in
    the backward pass for its residuals unless the value it returned is still the one being
    differentiated. For second order ``fwd`` and ``bwd`` must be differentiable.
    """

    def __init__(self, fun: Callable):
        functools.update_wrapper(self, fun)
        self.fun = fun
        self._rules = None

    def defvjp(self, fwd: Callable, bwd: Callable) -> None:
        self._rules = (fwd, bwd)

    def _one_call(self) -> Callable:
        """A dispatcher for one call, holding that call's residuals: a record of it keeps
        them for its backward pass, and no other call can reach them (a table keyed by the
        output's ``id`` mixed calls whose ``fwd`` returned the same object, an input passed
        through, and outputs freed and replaced at a reused id)."""
        fwd, bwd = self._rules
        kept: list = []  # (the output fwd returned, its residuals)

        def primal(*args, **kwargs):  # called on plain values only
            out, res = fwd(*args, **kwargs)
            kept[:] = [(out, res)]
            return out

        def vjp(g, out, *args, **kwargs):
            # a traced out (second order) needs residuals that carry the outer derivative:
            # fwd runs again on the traced arguments
            res = kept[0][1] if kept and kept[0][0] is out else fwd(*args, **kwargs)[1]
            return bwd(res, g)

        functools.update_wrapper(primal, self.fun)
        return dispatcher(primal, rule=_table_rule(_name(self.fun), None, vjp, False))

    def __call__(self, *args, **kwargs):
        if self._rules is None:
            return self.fun(*args, **kwargs)
        return self._one_call()(*args, **kwargs)

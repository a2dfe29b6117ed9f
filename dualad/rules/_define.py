"""Rule dataclass and the verbs that fill the tables: defpartials, defzero, defrule.

Conventions every rule follows (forward and reverse side by side):

- ``jvp(dots, out, *args, **kwargs) -> out_dot``. ``dots`` has one entry per positional
  argument: ``None`` (a zero or non-differentiable argument) or an array of shape
  ``(k,) + shape(arg)``; for a list/tuple argument (``concatenate``) the entry is a tuple of
  such. The result has shape ``(k,) + shape(out)`` (or is ``None`` for a zero tangent); for
  functions returning several arrays, a tuple of those.
- ``vjp(out_bar, out, *args, **kwargs) -> tuple`` with one cotangent per positional argument
  (``None`` where there is none). ``out_bar`` has shape ``(m,) + shape(out)``. A vjp that
  declares a ``needs`` keyword receives a tuple of booleans saying which arguments want a
  cotangent, so it can skip expensive ones.
- Rules only call NumPy functions on what arrives (NumPy, CuPy, nested Duals, tape
  Variables), never ``np.asarray``/``float``; that is what makes higher orders work.

Imports numpy only.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dualad._numpy import np

RULES: dict[Any, Rule] = {}


@dataclass(frozen=True, slots=True)
class Rule:
    """One table entry: the forward and reverse rule of a primitive."""

    name: str
    jvp: Callable
    vjp: Callable
    vjp_needs: bool = False
    #: elementwise rules keep their partials, for the scalar fast paths
    partials: tuple | None = None
    #: the partials are finite wherever the value is (no 0 * inf guard needed; defpartials)
    finite: bool = False

    @property
    def reads_args(self) -> bool:
        """Whether the reverse step may read argument values: False only for partials that
        are all constants (add, subtract, negative: the tape need not keep a copy of a
        constant operand the caller may write into later)."""
        p = self.partials
        return p is None or any(q is not ONE and q is not NEG and q is not None for q in p)


def func_name(func) -> str:
    """``numpy.sin``, ``numpy.linalg.det``, ``scipy.special.erf`` ..."""
    if isinstance(func, np.ufunc):
        if getattr(np, func.__name__, None) is func:
            return f"numpy.{func.__name__}"
        if func.__name__.endswith(" (vectorized)"):  # np.frompyfunc's, named after the function
            return f"numpy.frompyfunc({func.__name__.removesuffix(' (vectorized)')})"
        mod = type(func).__module__
        return (
            f"{'scipy.special' if 'scipy' in str(func) or mod == 'numpy' else mod}.{func.__name__}"
        )
    mod = getattr(func, "__module__", None) or "numpy"
    # numpy._core.fromnumeric -> numpy, numpy.linalg._linalg -> numpy.linalg, numpy.fft stays
    mod = ".".join(p for p in mod.split(".") if not p.startswith("_"))
    return f"{mod}.{getattr(func, '__name__', repr(func))}"


def defrule(
    func,
    jvp: Callable,
    vjp: Callable,
    name: str | None = None,
    partials: tuple | None = None,
    finite: bool = False,
) -> Rule:
    """Register a hand-written ``jvp``/``vjp`` pair for ``func``."""
    needs = "needs" in inspect.signature(vjp).parameters
    rule = Rule(name or func_name(func), jvp, vjp, needs, partials, finite)
    RULES[func] = rule
    return rule


def getitem(x, key):
    """``x[key]`` as a function, so indexing has a rule like every other primitive."""
    return x[key]


# -- broadcasting helpers -----------------------------------------------------------------


def shape_of(x) -> tuple:
    s = getattr(x, "shape", None)
    return s if s is not None else np.shape(x)


def ndim_of(x) -> int:
    n = getattr(x, "ndim", None)
    return n if n is not None else np.ndim(x)


def align(dot, ndim: int):
    """Insert axes after the direction axis so ``dot`` broadcasts against rank-``ndim`` data."""
    extra = ndim - dot.ndim + 1
    if extra > 0:
        s = dot.shape
        dot = dot.reshape(s[:1] + (1,) * extra + s[1:])
    return dot


def unbroadcast(g, shape: tuple):
    """Sum ``g`` of shape ``(m,) + broadcast_shape`` back to ``(m,) + shape``."""
    gshape = g.shape
    if gshape[1:] == tuple(shape):
        return g
    lead = len(gshape) - 1 - len(shape)
    axes = tuple(range(1, 1 + lead))
    axes += tuple(1 + lead + i for i, n in enumerate(shape) if n == 1 and gshape[1 + lead + i] != 1)
    if axes:
        g = np.sum(g, axis=axes)
    return g.reshape(gshape[:1] + tuple(shape))


#: Up to this many elements a broadcast is materialised: np.broadcast_to costs more than
#: copying that much (about 5 us of Python-level checks per call).
_SMALL_BROADCAST = 1 << 14


def fit_dot(dot, k: int, shape: tuple):
    """Broadcast a tangent to exactly ``(k,) + shape`` (a view for large results)."""
    if dot.shape[1:] != tuple(shape):
        target = (k,) + tuple(shape)
        if type(dot) is np.ndarray and math.prod(target) <= _SMALL_BROADCAST:
            out = np.empty(target, dtype=dot.dtype)
            out[...] = dot
            return out
        dot = np.broadcast_to(dot, target)
    return dot


def _fresh(p, args, out) -> bool:
    """True when ``p`` is a NumPy temporary no one else holds, so it can be overwritten."""
    if p.base is not None or p is out or not p.flags.writeable:
        return False
    for a in args:
        if p is a:
            return False
    return True


# -- elementwise ----------------------------------------------------------------------------


ONE = 1.0  # partial that is identically 1: the tangent passes through without a copy
NEG = -1.0  # partial that is identically -1


# A zero tangent or cotangent contributes zero, even through an infinite partial (sqrt at 0):
# the result does not depend on that input there. 0 * inf is NaN in IEEE arithmetic, so the
# partials and products run with NumPy's "invalid" and "divide" flags raising, and only where
# one fires are they redone quietly with the zeros masked (np.where): no cost to the common
# case. An infinite derivative along a nonzero tangent stays inf, as in JAX.
_STRICT = {"invalid": "raise", "divide": "raise"}
_QUIET = {"invalid": "ignore", "divide": "ignore"}

try:  # NumPy >= 2: the error state is a ContextVar; cache the strict state per current state
    from numpy._core._ufunc_config import _extobj_contextvar as _ERRSTATE
    from numpy._core._ufunc_config import _make_extobj

    _STRICT_OF: dict = {}

    class _strict:
        """``np.errstate(invalid="raise", divide="raise")`` at a fraction of its cost (about
        4 us a call: it rebuilds the state object each time)."""

        __slots__ = ("token",)

        def __enter__(self):
            cur = _ERRSTATE.get()
            new = _STRICT_OF.get(cur)
            if new is None:  # _make_extobj starts from the current state, cur
                if len(_STRICT_OF) >= 64:  # each np.errstate block makes a new state: bounded
                    _STRICT_OF.clear()
                new = _STRICT_OF.setdefault(cur, _make_extobj(**_STRICT))
            self.token = _ERRSTATE.set(new)

        def __exit__(self, *exc):
            _ERRSTATE.reset(self.token)

except ImportError:  # NumPy 1.26

    def _strict():
        return np.errstate(**_STRICT)


def _masked(d, pv):
    """``pv * d`` with ``0`` wherever ``d`` is zero (whatever ``pv`` is there)."""
    with np.errstate(**_QUIET):
        return np.where(d == 0, 0.0, pv * d)


def _mul(d, pv):
    return d * pv


def guarded(compute: Callable):
    """``compute(mul)`` with NumPy's "invalid" and "divide" raising and ``mul(d, p) = d * p``;
    where one fires, ``compute`` again quietly with ``mul = _masked``: a zero ``d`` (tangent
    or adjoint) contributes nothing, even through an infinite or nan factor."""
    try:
        with _strict():
            return compute(_mul)
    except FloatingPointError:
        with np.errstate(**_QUIET):
            return compute(_masked)


def _partials_jvp(partials, finite=False):
    def jvp(dots, out, *args, **kwargs):
        if finite:  # finite partials wherever the value is finite: no guard needed
            return _jvp(dots, out, args, False)
        try:
            with _strict():
                return _jvp(dots, out, args, False)
        except FloatingPointError:
            return _jvp(dots, out, args, True)

    def _jvp(dots, out, args, safe):
        acc, owned = None, False
        oshape = shape_of(out)
        ndim = len(oshape)
        for i, d in enumerate(dots):
            if d is None:
                continue
            p = partials[i]
            if p is None:
                continue
            if d.ndim <= ndim:
                d = align(d, ndim)
            if p is ONE:
                term, fresh = d, False
            elif p is NEG:
                if acc is not None:  # a - b: one subtraction, no negated temporary
                    if (
                        owned
                        and type(acc) is np.ndarray
                        and type(d) is np.ndarray
                        and acc.shape == d.shape
                    ):
                        acc -= d
                    else:
                        acc, owned = acc - d, True
                    continue
                term, fresh = -d, True
            else:
                if safe:
                    with np.errstate(**_QUIET):
                        pv = p(out, *args)
                else:
                    pv = p(out, *args)
                if safe:
                    term = _masked(d, pv)
                elif (
                    type(pv) is np.ndarray
                    and type(d) is np.ndarray  # a nested tangent cannot land in pv
                    and d.shape[0] == 1
                    and pv.shape == d.shape[1:]
                    and pv.dtype == d.dtype
                    and _fresh(pv, args, out)
                ):  # one direction: multiply into the partial's own temporary, no new array
                    pv = pv.reshape(d.shape)
                    term = np.multiply(pv, d, out=pv)
                else:
                    term = pv * d
                fresh = True
            if acc is None:
                acc, owned = term, fresh
            elif (
                owned
                and type(acc) is np.ndarray
                and type(term) is np.ndarray  # a traced term (nested modes) cannot land in acc
                and acc.shape == term.shape
            ):
                acc += term
            else:
                acc, owned = acc + term, True
        if acc is None:
            return None
        if acc.shape[1:] != oshape:
            acc = fit_dot(acc, acc.shape[0], oshape)
        return acc

    return jvp


def _partials_vjp(partials, finite=False):
    def vjp(out_bar, out, *args, needs=None, **kwargs):
        res = []
        for i, a in enumerate(args):
            p = partials[i] if i < len(partials) else None
            if p is None or (needs is not None and not needs[i]):
                res.append(None)
                continue
            if p is ONE:
                g = out_bar
            elif p is NEG:
                g = -out_bar
            elif finite:
                g = out_bar * p(out, *args)
            else:
                try:
                    with _strict():
                        g = out_bar * p(out, *args)
                except FloatingPointError:  # 0 * inf: see _masked
                    with np.errstate(**_QUIET):
                        g = _masked(out_bar, p(out, *args))
            res.append(unbroadcast(g, shape_of(a)))
        return tuple(res)

    return vjp


def defpartials(func, *partials, name: str | None = None, finite: bool = False) -> Rule:
    """Register an elementwise function by its partial derivatives.

    Each partial is ``lambda out, *args: ...`` returning d out / d arg_i elementwise,
    ``ONE``/``NEG`` for the constants 1/-1 (no multiply, no copy), or ``None`` for an
    argument that is not differentiable. Forward multiplies partials by
    tangents; reverse multiplies them by cotangents and sums away broadcast axes.
    ``finite=True`` states that the partials are finite wherever the value is (sin, exp):
    the products then skip the guard that keeps ``0 * inf`` at zero (sqrt at 0, see _masked).
    """
    jvp, vjp = _partials_jvp(partials, finite), _partials_vjp(partials, finite)
    return defrule(func, jvp, vjp, name, partials, finite)


def defzero(func, nargs: int = 1, name: str | None = None) -> Rule:
    """Register a piecewise-constant function: its tangent is zero everywhere."""

    def jvp(dots, out, *args, **kwargs):
        return None

    def vjp(out_bar, out, *args, **kwargs):
        return (None,) * len(args)

    return defrule(func, jvp, vjp, name, partials=(None,) * nargs)


def on_host(a) -> bool:
    """``a``'s innermost value (under every wrapper) is NumPy's (an array, a NumPy or Python
    number): rules branch on values (``if np.any(...)``) and scatter with fancy indices only
    there; another backend (Dask, CuPy) takes their forms without either."""
    if type(a) is np.ndarray:
        return True
    while hasattr(a, "_level"):  # the wrappers (Dual, tape.Variable) set _level
        a = a._unwrap()
    return isinstance(a, (np.ndarray, np.generic, float, int, complex))

"""Mode selection for ``mode="auto"``: a rule from sizes, refined by measured costs.

Forward mode costs one vectorised pass carrying ``n_in`` directions, reverse mode a taped
evaluation and a sweep carrying ``n_out`` cotangent rows. The rule takes the side with fewer
directions (forward for up to two input numbers, which ride on packed Python scalars in one
pass). What a direction costs depends on the program (per-operation overhead in scalar
code, arithmetic in array code), which sizes alone cannot tell; so ``auto`` also measures.
For a function it has seen with inputs of the same structure, shapes and dtypes, each call
times itself; where the other mode is plausible (its directions at most
``max(_WIDE, 4 x)`` the rule's), ``auto`` runs each on ``_TRIES`` calls in a row, then takes
the mode with the lower measured cost (the least of its warm samples), measuring the other
again, two calls in a row, after exponentially many calls. Every call computes the derivative it was asked for:
trying a mode is not an extra evaluation, and a jacobian's output size is learned from its
first call (an extra plain evaluation only there, and only for more than ``_WIDE`` inputs:
up to ``_WIDE``, one forward pass carrying every direction is the first call's answer).
The costs live with the function (a weak reference: they go when it goes) and never change
an answer, only which mode computes it.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ._pytree import flatten, unflatten
from ._seeding import (
    _PACKED,
    _leaves,
    _size,
)

#: Calls in a row a mode gets before the measured costs decide (the first one runs cold).
_TRIES = 3
#: The other mode is tried where its directions are at most max(_WIDE, 4x) the rule's.
_WIDE = 64
#: id(f) -> (weak reference to f, {input signature: Costs}); an entry goes with its f
_COSTS: dict = {}
clock = time.perf_counter


@dataclass(frozen=True)
class ModeChoice:
    """What ``jacobian(mode="auto")`` does for ``f`` at ``x``, and why.

    >>> import numpy as np, dualad
    >>> c = dualad.choose_mode(np.sin, np.ones(3)); (c.mode, c.n_in, c.n_out)
    ('forward', 3, 3)
    """

    mode: str
    n_in: int
    n_out: int
    reason: str
    #: For one array input and at least ``_SPARSE_HINT`` inputs and outputs: the coloring
    #: ``jacobian(f, x, mode="sparse")`` would use (``.count`` passes), where that is at most
    #: a quarter of the dense passes; else None.
    sparse: Any = None


class Costs:
    """Measured seconds per call of each mode, for one function and input signature.

    Only warm samples count: a call that follows a call of the same mode (the first calls of
    a mode, and the first after the other mode ran, are several times slower: cold caches).
    """

    __slots__ = ("best", "calls", "choice", "last", "n_out", "recheck", "streak")

    def __init__(self, n_out: int):
        self.n_out = n_out
        self.best: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self.last = None
        self.streak = 0
        self.choice = None  # settled: this mode until its calls reach recheck
        self.recheck = 0

    def observe(self, mode: str, seconds: float) -> None:
        self.calls[mode] = self.calls.get(mode, 0) + 1
        if mode == self.last:
            self.streak += 1
            old = self.best.get(mode)
            self.best[mode] = seconds if old is None or seconds < old else old
        else:
            self.last, self.streak = mode, 1


def key_of(f):
    """The function whose costs ``f`` shares (a wrapper made by dualad names its target)."""
    return getattr(f, "_dualad_key", f)


def costs(f, xs, td, n_out: int | None = None) -> Costs | None:
    """The measured costs of ``f`` at inputs like ``xs`` (made with ``n_out`` if new; None
    when ``n_out`` is unknown, or ``f`` cannot be weakly referenced, e.g. a ufunc)."""
    key = key_of(f)
    method = getattr(key, "__func__", None)
    if method is not None and hasattr(key, "__self__"):
        key = key.__self__  # a bound method is a new object on each access: key its instance
    entry = _COSTS.get(id(key))
    if len(xs) == 1:
        v = xs[0]
        sig = (method, td, getattr(v, "shape", ()), getattr(v, "dtype", None))
    else:
        sig = (
            method,
            td,
            tuple((getattr(v, "shape", ()), getattr(v, "dtype", None)) for v in xs),
        )
    if entry is not None and entry[0]() is key:
        c = entry[1].get(sig)
        if c is not None or n_out is None:
            return c
        table = entry[1]
    elif n_out is None:
        return None
    else:
        k = id(key)
        try:
            ref = weakref.ref(key, lambda _, k=k: _COSTS.pop(k, None))
        except TypeError:
            return None
        table = {}
        _COSTS[k] = (ref, table)
    c = table[sig] = Costs(n_out)
    return c


def rule(n_in: int, n_out: int) -> str:
    """The mode with fewer directions (forward for up to two input numbers)."""
    return "forward" if n_in <= _PACKED or n_in <= n_out else "reverse"


def pick(n_in: int, c: Costs) -> str:
    """The mode the next call takes: the rule's, another plausible one until it has been
    tried ``_TRIES`` times, then the one measured cheaper."""
    ch = c.choice
    if ch is not None and c.calls[ch] < c.recheck:
        return ch
    c.choice = None
    first = rule(n_in, c.n_out)
    other = "reverse" if first == "forward" else "forward"
    k = {"forward": n_in, "reverse": c.n_out}
    tried = [first]
    if n_in > _PACKED and k[other] <= max(_WIDE, 4 * k[first]):
        tried.append(other)
    for m in tried:  # consecutive calls: all but the first are warm samples
        if c.calls.get(m, 0) < _TRIES or m not in c.best:
            return m
    if len(tried) == 1:
        c.choice, c.recheck = first, 1 << 62
        return first
    win = first if c.best[first] <= c.best[other] else other
    lose = other if win == first else first
    if c.last == lose and c.streak < 2:
        return lose  # a second call in a row, whose time is a warm sample
    # the loser is measured again after exponentially many calls of the winner, so an
    # unlucky sample cannot stick
    recheck = 2 ** (c.calls[lose] // 2 + 2)
    if c.calls[win] >= recheck:
        return lose
    c.choice, c.recheck = win, recheck
    return win


def _why(n_in: int, c: Costs, mode: str) -> str:
    parts = [f"{m} {c.best[m] * 1e6:.1f} us" for m in ("forward", "reverse") if m in c.best]
    by_sizes = f"{rule(n_in, c.n_out)} by sizes ({n_in} inputs, {c.n_out} outputs)"
    if len(parts) == 2:
        return "measured on earlier calls: " + ", ".join(parts) + f"; {mode} next."
    if c.calls.get(mode, 0) >= _TRIES:
        other = "reverse" if mode == "forward" else "forward"
        k = c.n_out if other == "reverse" else n_in
        return f"{by_sizes}; {other} not tried: {k} directions per pass."
    so_far = " (so far: " + ", ".join(parts) + ")" if parts else ""
    return f"{by_sizes}; measuring {mode}{so_far}."


def choose_mode(f: Callable, x: Any) -> ModeChoice:
    """The mode ``jacobian(f, x, mode="auto")`` takes next, and why.

    By sizes: forward mode costs one vectorised pass per input direction and reverse mode
    one sweep per output direction plus taping overhead, so forward wins when
    ``n_in <= n_out``, and always for up to two input numbers (packed Python scalars, one
    pass). ``jacobian``'s first call for ``f`` with up to 64 inputs (``_WIDE``) does not
    evaluate ``f`` to learn ``n_out``: one forward pass carrying every direction is its
    answer, and its costs, measured then, decide the next calls. For a function auto has
    already differentiated at inputs of this structure, the costs it measured decide
    (see ``dualad._mode``); ``reason`` states them.

    >>> import numpy as np, dualad
    >>> dualad.choose_mode(lambda x: np.sum(x**2), np.ones(100)).mode
    'reverse'
    >>> dualad.choose_mode(lambda x: np.sum(x**2), np.ones(5)).mode  # a first call
    'forward'
    """
    xs, td = _leaves(x)
    n_in = sum(_size(v) for v in xs)
    c = costs(f, xs, td)
    if c is not None:
        mode = pick(n_in, c)
        return _with_sparse(ModeChoice(mode, n_in, c.n_out, _why(n_in, c, mode)), f, x)
    ys, _ = flatten(f(unflatten(td, xs)))
    n_out = sum(_size(v) for v in ys)
    mode = rule(n_in, n_out)
    if n_in <= _PACKED:
        why = (
            f"{n_in} input number(s): one forward pass on packed scalars carries every "
            "direction, cheaper than taping whatever f returns"
        )
    elif n_in <= _WIDE and mode == "reverse":
        mode = "forward"
        why = (
            f"a first call with {n_in} inputs (<= {_WIDE}): one forward pass carrying every "
            f"direction, with no evaluation of f to learn its {n_out} output(s) first; the "
            "costs measured from then on decide the next calls"
        )
    elif mode == "forward":
        why = f"{n_in} inputs <= {n_out} outputs: forward mode needs one pass per input direction"
    else:
        why = f"{n_in} inputs > {n_out} outputs: reverse mode needs one sweep per output"
    return _with_sparse(ModeChoice(mode, n_in, n_out, why + ", the fewer passes wins."), f, x)


#: choose_mode looks for a sparse Jacobian from this many inputs and outputs on.
_SPARSE_HINT = 64


def _with_sparse(choice: ModeChoice, f, x) -> ModeChoice:
    """``choice`` with its ``sparse`` coloring and a sentence on it, where the Jacobian is
    sparse enough that ``mode="sparse"`` takes at most a quarter of the dense passes.

    ``mode="auto"`` itself stays dense: it returns the arrays ``forward`` and ``reverse``
    return, and a ``scipy.sparse`` result in their place would break the caller's code."""
    n_in, n_out = choice.n_in, choice.n_out
    if n_in < _SPARSE_HINT or n_out < _SPARSE_HINT:
        return choice
    try:
        from ._pattern import one_array, sparsity
        from ._sparse import coloring

        x1 = one_array(x, "choose_mode", real=True)
        p = sparsity(f, x1)
        col = coloring(p, x1.shape)
    except Exception:  # noqa: BLE001 (a hint: whatever the tracer cannot follow, no hint)
        return choice  # no pattern to state (a rule without one, a pytree, complex input)
    dense = min(n_in, n_out)
    if col.count * 4 > dense:
        return choice
    why = (
        f"{choice.reason} Its Jacobian is sparse ({p.nnz} of {n_in * n_out} entries): "
        f'jacobian(f, x, mode="sparse") takes {max(col.count, 1)} {col.mode} passes (colors) '
        f'instead of {dense} and returns a scipy.sparse array; mode="auto" stays dense.'
    )
    return ModeChoice(choice.mode, n_in, n_out, why, col)

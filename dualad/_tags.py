"""Nesting levels shared by forward-mode tags and reverse-mode tapes.

Every `jvp`/`jacobian`/`derivative` call and every `tape.Tape` takes a fresh level from one
counter. When values of different levels meet, the highest level is handled first and every
other value is an ordinary constant at that level; this is what prevents perturbation
confusion. Imports nothing from dualad.
"""

from __future__ import annotations

import itertools

_counter = itertools.count(2)

#: Level of the graph that standalone ``tape.Variable`` objects share (PyTorch style).
GRAPH_LEVEL = 0
#: Level of ``Dual`` objects built by hand without an explicit tag.
USER_LEVEL = 1


def new_level() -> int:
    """Return a level higher than every level handed out before."""
    return next(_counter)


class Leveled:
    """Base of every differentiable wrapper (``Dual``, ``tape.Variable``).

    Subclasses set ``_level``; dispatch compares levels to decide which wrapper handles an
    operation. The wrapper with the highest level unwraps first.
    """

    __slots__ = ()
    _level: int


class Deferring:
    """Marker for a type whose own NumPy hooks must run before a wrapper's: a promotable
    buffer (dualad._buffer) answers for itself, so wrappers return NotImplemented to it."""

    __slots__ = ()


#: The level ``top_level`` reports for a Deferring argument: above every wrapper.
DEFER = 1 << 62


def top_level(args) -> tuple[int, Leveled | None]:
    """Highest level among ``args`` (looking into lists and tuples, nested ones included:
    ``np.block([[a, b], [c, d]])``)."""
    best, owner = -1, None
    for a in args:
        if isinstance(a, Leveled):
            if a._level > best:
                best, owner = a._level, a
        elif type(a) in (list, tuple):
            for b in a:
                if isinstance(b, Leveled):
                    if b._level > best:
                        best, owner = b._level, b
                elif isinstance(b, Deferring):
                    return DEFER, b
                elif type(b) in (list, tuple):
                    level, inner = top_level(b)
                    if level > best:
                        best, owner = level, inner
        elif isinstance(a, Deferring):
            return DEFER, a
    return best, owner


def call_level(args, kwargs) -> tuple[int, Leveled | None]:
    """Highest level among a NumPy call's positional and keyword arguments."""
    level, owner = top_level(args)
    if kwargs:
        klevel, kowner = top_level(tuple(kwargs.values()))
        if klevel > level:
            return klevel, kowner
    return level, owner

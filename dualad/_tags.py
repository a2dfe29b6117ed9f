"""Nesting levels shared by forward-mode tags and reverse-mode tapes.

Every `jvp`/`jacobian`/`derivative` call and every `tape.Tape` takes a fresh level from one
counter. When values of different levels meet, the highest level is handled first and every
other value is an ordinary constant at that level; this is what prevents perturbation
confusion. Imports nothing from dualad.

Levels a transform opens with ``open_level`` (odd, above ``_BASE``) are marked open until the
transform closes them: a Dual of a closed level has escaped its transform (user code cached it)
and raises when used again (``check_live``), as JAX's leaked tracers. Tapes and internal
levels come from ``new_level`` (even) and never close this way: a tape tracks its own state.
"""

from __future__ import annotations

import itertools
import threading

_counter = itertools.count(1)
#: Counter levels start above every tag a user would pick by hand (``Dual(..., tag=3)``).
_BASE = 1 << 40
#: Levels of transforms now running (in any thread).
_OPEN: set[int] = set()

#: Level of the graph that standalone ``tape.Variable`` objects share (PyTorch style).
GRAPH_LEVEL = 0
#: Level of ``Dual`` objects built by hand without an explicit tag.
USER_LEVEL = 1


def new_level() -> int:
    """Return a level higher than every level handed out before."""
    return _BASE + 2 * next(_counter)


#: Levels of the transforms and recording tapes running now, with the thread running each,
#: and the level of the Duals built by hand while one is the innermost of its thread (see
#: ``user_level``).
_ACTIVE: dict[int, int] = {}
_USER_IN: dict[int, int] = {}


def activate(level: int) -> None:
    """Mark ``level`` running in this thread (a transform, or a ``tape.Tape`` recording)."""
    _ACTIVE[level] = threading.get_ident()


def deactivate(level: int) -> None:
    _ACTIVE.pop(level, None)
    if _USER_IN:
        for key in [k for k in _USER_IN if k[0] == level]:
            _USER_IN.pop(key, None)


def open_level() -> int:
    """A new level for a transform, marked open until ``close_level``."""
    level = _BASE + 2 * next(_counter) + 1
    _ACTIVE[level] = threading.get_ident()
    _OPEN.add(level)
    return level


def close_level(level: int) -> None:
    """Mark ``level`` finished: values still carrying it raise when used (``check_live``)."""
    _OPEN.discard(level)
    deactivate(level)


def user_level() -> int:
    """The level of a ``Dual`` built by hand without a tag.

    Outside transforms, ``USER_LEVEL``: every such Dual is one perturbation (``Dual(a, 1) *
    Dual(b, 0)``) and a transform called later treats them as constants of an outer one.
    Inside a transform or a recording tape of this thread (``f`` builds ``Dual(2.0, 1.0)``),
    a level above the innermost one, the same for every Dual built while it runs: the hand-made perturbation
    is the inner one, as a ``jvp`` called inside ``f`` is, so its ``.tangent`` is its own
    and not the transform's (perturbation confusion otherwise).
    """
    return user_levels(USER_LEVEL)[0]


def user_levels(*outside: int) -> tuple:
    """``outside`` (the levels hand-built values take outside transforms) where no transform
    or recording tape runs in this thread, else as many levels above the innermost one, in
    increasing order, the same for every value built while it runs (see ``user_level``)."""
    if not _ACTIVE:
        return outside
    me = threading.get_ident()
    mine = [lv for lv, t in list(_ACTIVE.items()) if t == me]
    if not mine:
        return outside
    key = (max(mine), outside)
    lvs = _USER_IN.get(key)
    if lvs is None:
        lvs = _USER_IN.setdefault(key, tuple(new_level() for _ in outside))
    return lvs


def is_closed(level: int) -> bool:
    """True for the level of a transform that has returned."""
    return bool(level & 1) and _BASE < level < DEFER and level not in _OPEN


def escaped(level: int) -> RuntimeError:
    """The error for a value of a finished transform used again."""
    return RuntimeError(
        f"a Dual of a finished transform (level {level}) was used: it escaped the grad/jvp/"
        "jacobian call that made it (kept in a global, a cache or a closure). Its derivative "
        "belongs to that call; return it from the function instead, or cache .primal"
    )


def check_live(x) -> None:
    """Raise if ``x`` (or a wrapper under it) belongs to a finished transform."""
    while isinstance(x, Leveled):
        if is_closed(x._level):
            raise escaped(x._level)
        x = x._unwrap()


def check_constant(x, *levels: int) -> None:
    """``check_live`` for an output of the transform at ``levels`` that is not its own wrapper
    (a constant for it), and raise where one of its wrappers lies under it: a
    ``tape.Variable`` made of a ``Dual`` (``tape.Variable(x)`` inside ``grad``) wraps the
    transform's value in a lower level, which its reading would take as a constant (a zero
    derivative, silently)."""
    while isinstance(x, Leveled):
        if is_closed(x._level):
            raise escaped(x._level)
        if x._level in levels:
            raise TypeError(
                f"the function returned a {type(x).__name__} of this transform's derivative "
                "inside a wrapper of a lower level (tape.Variable(x) of a traced x, say), which "
                "would read as a constant: return the value itself (y.value of a "
                "tape.Variable), or use t.watch(x) in a nested Tape"
            )
        x = x._unwrap()


class NewerLevelWrite(TypeError):
    """A write into a wrapper of a value that carries a newer derivative level (the buffer
    cannot hold its derivative); dualad's Hessian on jets catches it and takes hyper-duals."""


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

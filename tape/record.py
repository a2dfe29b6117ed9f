"""One line of the Wengert list: which rule ran, on what, producing what.

A ``Record`` keeps the raw argument values its reverse rule needs, the input Variables it
sends cotangents to, and weak references to its output Variables (so a record never keeps
its own outputs alive). Imports numpy and dualad.rules only.
"""

from __future__ import annotations

import itertools
import weakref

from dualad._numpy import np
from dualad.rules import RULES

_ids = itertools.count()  # record ids and Variable ids: one counter, creation order


class Record:
    """One recorded operation ``outs = func(*args, **kwargs)``."""

    __slots__ = (
        "arg_vars",
        "args",
        "id",
        "inputs",
        "kwargs",
        "multi",
        "needs",
        "out",
        "out_ids",
        "out_refs",
        "rule",
    )  # fmt: skip

    def __init__(self, rule, func, args, kwargs, inputs, arg_vars, out, needs):
        self.id = next(_ids)
        self.rule = rule
        self.args = args  # raw values (lower-level wrappers stay as they are)
        self.kwargs = kwargs
        self.inputs = inputs  # [(path, Variable)] that receive cotangents
        self.arg_vars = arg_vars  # args with this level's Variables kept, for create_graph
        self.out = out
        self.multi = isinstance(out, (tuple, list))  # namedtuples are tuples
        self.needs = needs
        self.out_ids: tuple = ()
        self.out_refs: tuple = ()

    def bind_one(self, v) -> None:
        """Name the single output Variable ``v`` (the common case, no generators)."""
        self.out_ids = (v._id,)
        self.out_refs = (weakref.ref(v),)

    def bind_outputs(self, outs) -> None:
        self.out_ids = tuple(-1 if o is None else o._id for o in outs)
        self.out_refs = tuple(None if o is None else weakref.ref(o) for o in outs)

    def _release_values(self) -> None:
        """Drop the values and inputs this record holds: the sweep can no longer pass."""
        self.args = self.arg_vars = self.out = None
        self.inputs = ()

    def release(self) -> None:
        """Drop every array this record holds; the sweep can no longer pass through it."""
        self._release_values()
        self.kwargs = {}

    @property
    def released(self) -> bool:
        """True once ``release()`` has dropped what the sweep needs."""
        return self.args is None

    @property
    def name(self) -> str:
        return self.rule.name.split(".")[-1] if self.rule is not None else "?"


class ScalarRecord(Record):
    """A record of the scalar fast paths on Python numbers: ``out = a (+ - * /) b``, or one
    of forward mode's kernels (``-a``, ``np.sin(a)``, ``a ** b``, ``np.maximum(a, b)``, ...).

    ``args`` and ``out`` hold Python floats (an operator's int constant stays an int) where a
    ``Record`` would hold 0-d float64 values; everything else reads as on a ``Record``.
    ``tape.variable`` sets the slots itself (no ``__init__``), ``id`` is its output Variable's
    id (one counter serves both), and the four fields every such record shares are class
    attributes: ``out_refs`` is empty because the sweep finds a live output among the
    Variables it has swept (see ``tape.sweep``), so there is no weak reference to make per
    operation. ``partials`` has one entry per argument: for an operator, the rule's entry of
    ``SWEEP_PARTIALS``; for a kernel, the partials themselves, computed with the value (floats,
    or the rule table's ONE and NEG).
    """

    __slots__ = ("partials",)
    kwargs = {}  # noqa: RUF012 (shared and never mutated)
    multi = False
    needs = None
    out_refs = ()

    release = Record._release_values  # kwargs is a shared class attribute here


class ItemRecord(Record):
    """``out = x[i]``: an int index into a 1-D float64 array, the scalar-program idiom.

    A getitem ``Record`` in every field it has (``rule``, ``args == (x's value, key)`` with
    the key as given, ``inputs``, ``arg_vars``, ``out`` the entry as np.float64), plus
    ``index``, the key made non-negative. Its output Variable keeps the entry as a Python
    float, so what reads it takes the scalar fast paths. ``tape.variable`` sets the slots
    itself; as on a ``ScalarRecord``, ``id`` is the output's id and ``out_refs`` is empty
    (the sweep finds the live output among the Variables it has swept). The sweep adds the
    cotangents of all reads of one vector into one buffer at ``index`` (see ``tape.sweep``)
    instead of scattering each through ``index_add``.
    """

    __slots__ = ("index",)
    kwargs = {}  # noqa: RUF012 (shared and never mutated)
    multi = False
    needs = (True, False)
    out_refs = ()

    release = Record._release_values  # kwargs is a shared class attribute here


class ArgIndex(int):
    """A partial that equals argument number ``self`` (an entry of ``SWEEP_PARTIALS``)."""

    __slots__ = ()


#: The partials of the four ScalarRecord rules as the sweep applies them: the rule table's
#: own entries (ONE, NEG, functions), except multiply's, d(a*b)/da = b and d(a*b)/db = a,
#: given as the index of the argument each equals, so the sweep needs no call for them.
#: tests/tape/test_scalar_path.py checks every entry against the table.
SWEEP_PARTIALS = {f: RULES[f].partials for f in (np.add, np.subtract, np.divide)}
SWEEP_PARTIALS[np.multiply] = (ArgIndex(1), ArgIndex(0))

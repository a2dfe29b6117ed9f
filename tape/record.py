"""One line of the Wengert list: which rule ran, on what, producing what.

A ``Record`` keeps the raw argument values its reverse rule needs, the input Variables it
sends cotangents to, and weak references to its output Variables (so a record never keeps
its own outputs alive). Imports dualad.rules only.
"""

from __future__ import annotations

import itertools
import weakref

_ids = itertools.count()


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

    def release(self) -> None:
        """Drop every array this record holds; the sweep can no longer pass through it."""
        self.args = self.arg_vars = self.out = None
        self.inputs = ()
        self.kwargs = {}

    @property
    def released(self) -> bool:
        return self.args is None

    @property
    def name(self) -> str:
        return self.rule.name.split(".")[-1] if self.rule is not None else "?"

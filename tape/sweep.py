"""The reverse sweep: the one loop that walks records from the outputs back to the inputs.

``sweep`` takes each record's output cotangents (newest first; a value used on several
paths has received the sum) and hands the records they reach to their own ``pull`` (see
``tape.record``). ``Tape.cotangents``/``gradient``, ``Variable.backward``, ``tape.grad``
and dualad's reverse modes all sweep here; dualad's Hessian accumulation sweeps with a
``visit`` of its own. Cotangents of intermediates
are dropped as soon as their record has been pulled. Imports tape.record (and NumPy) only.
"""

from __future__ import annotations

from dualad._numpy import np

from . import record as _record_module
from .record import RELEASED, SweepState, as_batch

_NEW = object.__new__


def sweep(roots, seeds, wanted, create_graph=False, release=False, records=None, visit=None):
    """Cotangents ``(m,) + shape`` of each Variable in ``wanted`` (None where unreached).

    ``roots``: Variables, each seeded with a cotangent ``(m,) + shape`` (a number for a 0-d
    root and m = 1: scalar records then pull on numbers). ``records`` (a tape's list, in tape
    order) saves the graph search. ``create_graph``: records are pulled by their rules' vjps
    on Variables, so the cotangents are themselves on the graph. ``release``: each record
    drops its arrays once pulled. ``visit(rec, ob, bars)``, if given, takes each reached
    record's place of ``rec.pull``: the walk of dualad's Hessian accumulation.

    Each record's output cotangent is taken out of ``bars`` (kept for ``wanted``): one array
    for a single output, a list (None where unreached) for several.

    >>> import numpy as np, tape
    >>> from tape.sweep import sweep
    >>> with tape.Tape() as t:
    ...     x = t.watch(np.array([1.0, 2.0]))
    ...     y = np.sum(x * x)
    >>> sweep([y], [np.ones(1)], [x], records=t.records)[0]
    array([[2., 4.]])
    """
    bars: dict[int, object] = {}
    for r, s in zip(roots, seeds):
        bars[r._id] = bars[r._id] + s if r._id in bars else s
    # create_graph: the Variable of each id that has a cotangent (roots, then the inputs of
    # each record pulled), the live output of a scalar record (it keeps no weak reference)
    state = _NEW(SweepState)  # (no __init__ call: tiny scalar programs pay for each)
    state.create_graph = create_graph
    state.live = {r._id: r for r in roots} if create_graph else None
    state.owned = {}
    keep = {w._id for w in wanted}
    get, pop = bars.get, bars.pop
    for rec in _reachable(roots) if records is None else reversed(records):
        if rec.multi:
            ob = [get(i) if i in keep else pop(i, None) for i in rec.out_ids]
            if all(o is None for o in ob):
                continue
        else:
            oid = rec.id  # a record of one output has its output's id
            ob = get(oid) if oid in keep else pop(oid, None)
            if ob is None:
                continue
        if visit is None:
            rec.pull(ob, bars, state)
        else:
            visit(rec, ob, bars)
        if release:
            rec.release()
    if len(wanted) == 1:  # the common call: no comprehension
        w = wanted[0]
        b = as_batch(bars.get(w._id), w._value)  # (a float reads as 0-d)
        if type(b) is np.ndarray:
            for s in seeds:  # y = x: x's cotangent is the caller's seed, not to be shared
                if type(s) is np.ndarray and _owner(s) is _owner(b):
                    b = b.copy()
                    break
        return [b]
    out, shared = [], False
    for w in wanted:
        b = bars.get(w._id)
        shared = shared or type(b) is np.ndarray  # a number's batch is a new array
        out.append(as_batch(b, w._value))
    return _own(out, seeds) if shared else out


def _owner(a):
    """The object whose memory the array ``a`` uses (NumPy keeps a view's base the owner)."""
    base = a.base
    return a if base is None else base


def _own(out: list, seeds) -> list:
    """``out`` with a copy in place of each array that shares its memory with an earlier
    one or with a seed (add's vjp hands both inputs one array; y = x hands x the seed): the
    gradients a caller gets (``.grad``, ``Tape.gradient``) are its own, as PyTorch's are."""
    seen = {id(_owner(s)) for s in seeds if type(s) is np.ndarray}
    for i, b in enumerate(out):
        if type(b) is np.ndarray:
            o = id(_owner(b))
            if o in seen:
                out[i] = b.copy()
            else:
                seen.add(o)
    return out


def _reachable(roots):
    """Records reachable from ``roots``, newest first (tape order is topological)."""
    seen, recs, stack = set(), [], [r._record for r in roots if r._record is not None]
    past_kept = _record_module.PAST_KEPT
    while stack:
        rec = stack.pop()
        if rec.id in seen:
            continue
        if rec.args is None:  # released (see Record.released)
            raise RuntimeError(RELEASED)
        seen.add(rec.id)
        recs.append(rec)
        for var in rec.input_vars():
            if var._record is not None and var._record.id not in seen:
                stack.append(var._record)
            past = getattr(var, "_past", None) if past_kept else None
            if past is not None:  # see graph
                stack.extend(p._record for p in past if p._record is not None)
    recs.sort(key=_record_id, reverse=True)
    return recs


def graph(root):
    """The records behind ``root`` in tape order (oldest first) and its leaf Variables that
    require grad, in one walk (``backward`` has no tape's list to read them from)."""
    found, seen, recs = {}, set(), []
    stack = [root]
    past_kept = _record_module.PAST_KEPT  # (rare: no lookup per Variable until it happens)
    while stack:
        v = stack.pop()
        rec = v._record
        past = getattr(v, "_past", None) if past_kept else None
        if past is not None:  # written in place with no tape: the nodes it stood for before
            stack.extend(past)
        if rec is None:
            if v.requires_grad:
                found[v._id] = v
            continue
        rid = rec.id
        if rid in seen:
            continue
        if rec.args is None:  # released (see Record.released)
            raise RuntimeError(RELEASED)
        seen.add(rid)
        recs.append(rec)
        stack.extend(rec.input_vars())
    recs.sort(key=_record_id)
    return recs, list(found.values())


def _record_id(rec):
    return rec.id

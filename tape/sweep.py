"""The reverse sweep: walk records from the outputs back to the inputs, summing cotangents.

Cotangents carry a leading batch axis ``m`` (reverse Jacobians sweep ``m`` rows at once). A
value used on several paths receives the sum. Cotangents of intermediates are dropped as soon
as their record has been processed. Reads ``x[i]`` of a vector (ItemRecords) add into one
buffer per vector; ``sweep_scalar`` runs tapes of scalar records in a loop of their own.
Imports dualad.rules (through the records) only.
"""

from __future__ import annotations

from dualad._numpy import np
from dualad.rules._define import NEG, ONE

from .record import ArgIndex, ItemRecord, ScalarRecord
from .variable import Variable

_F64 = np.float64
_F64_DTYPE = np.dtype(np.float64)
_SEED = _F64(1.0)
_SCALAR_BAR = frozenset({np.float64, float})
_RELEASED = (
    "the graph behind this value was already used by a backward sweep and freed; "
    "use Tape(persistent=True) or backward(retain_graph=True) to sweep it twice"
)


def _reachable(roots):
    """Records reachable from ``roots``, newest first (tape order is topological)."""
    seen, recs, stack = set(), [], [r._record for r in roots if r._record is not None]
    while stack:
        rec = stack.pop()
        if rec.id in seen:
            continue
        if rec.released:
            raise RuntimeError(_RELEASED)
        seen.add(rec.id)
        recs.append(rec)
        for _, var, _ in rec.inputs:
            if var._record is not None and var._record.id not in seen:
                stack.append(var._record)
    recs.sort(key=lambda r: r.id, reverse=True)
    return recs


def _zeros_for(out, m):
    return np.zeros_like(out, shape=(m,) + tuple(np.shape(out)))


def _add_partials(bars: dict, inputs, partials, ob, out, args) -> None:
    """Add ``ob`` times each input's partial into ``bars`` (a scalar record's cotangents).

    A kernel's partial is a float already, multiply's an ArgIndex (see ScalarRecord): inline
    with add's ONE, the rest in ``_term``; a non-finite float sum is redone in NumPy, which
    warns as the array path does.
    """
    for path, _, vid in inputs:
        p = partials[path[0]]
        if p is None:
            continue
        tp = type(p)
        if tp is float:
            g = ob * p
        elif tp is ArgIndex:
            g = ob * args[p]
        elif p is ONE:
            g = ob
        else:
            g = _term(ob, p, out, args)
        old = bars.get(vid)
        if type(g) is complex:
            if old is not None:
                g = old + g if type(old) is complex else old + _rows(g)
            if type(g) is complex and g - g:  # inf or nan: again in NumPy, which warns
                g = _in_numpy(_rows(ob), p, out, args, None if old is None else _rows(old))
        else:
            if old is not None:
                g = old + g
            if type(g) is float and g - g:  # nan (true) for inf and nan
                g = _in_numpy(ob, p, out, args, old)
        bars[vid] = g


def sweep(roots, seeds, wanted, create_graph=False, release=False, records=None, state=None):
    """Cotangents ``(m,) + shape`` of each Variable in ``wanted`` (None where unreached).

    ``records`` (a tape's list, already topological) saves the graph search. A seed of
    ``m = 1`` for a 0-d root may be a NumPy scalar: scalar records then run on scalars.
    ``state``: ``sweep_scalar``'s cotangents so far, to go on with the ``records`` it left.
    """
    if state is None:
        bars: dict[int, object] = {}
        owned: dict[int, object] = {}  # x[i] reads: the buffer of each vector (see _add_item)
        for r, s in zip(roots, seeds):
            if isinstance(r, Variable):
                bars[r._id] = bars[r._id] + s if r._id in bars else s
    else:
        bars, owned = state
    keep = {w._id for w in wanted}
    # create_graph: the Variable of each id that has a cotangent (roots, then the inputs of
    # each record swept), the live output of a ScalarRecord (it keeps no weak reference)
    live = {r._id: r for r in roots if isinstance(r, Variable)} if create_graph else None
    if records is None:
        recs = _reachable([r for r in roots if isinstance(r, Variable)])
    else:
        recs = reversed(records)
    for rec in recs:
        if not rec.multi:
            oid = rec.out_ids[0]
            ob = bars.get(oid) if oid in keep else bars.pop(oid, None)
            if ob is None:
                continue
            tb = type(ob)
            if (
                tb is np.ndarray
                and ob.shape == (2,)
                and ob.dtype is _F64_DTYPE
                and type(rec) is ScalarRecord
                and not create_graph
            ):  # two cotangent rows of a 0-d value (a two-output Jacobian): one complex
                ob, tb = complex(ob[0], ob[1]), complex  # number, as packed Duals carry them
            if tb is float or tb is _F64 or tb is complex:  # a 0-d value: the scalar branch
                args = rec.args
                if args is None:
                    raise RuntimeError(_RELEASED)
                if type(rec) is ScalarRecord:
                    partials = rec.partials  # see ScalarRecord: ArgIndex(i) is args[i]
                    if tb is _F64:
                        ob = float(ob)  # its args are Python numbers: stay on floats
                elif type(rec) is ItemRecord and not create_graph:
                    vid = rec.inputs[0][2]
                    buf = bars.get(vid)
                    if buf is not None and owned.get(vid) is buf and tb is not complex:
                        buf[0, rec.index] += ob  # x[i] again: in place in x's buffer
                        done = True
                    else:
                        done = _add_item(bars, owned, rec, ob)
                    if done:
                        if release:
                            rec.release()
                        continue
                    partials = None  # the generic path below
                else:
                    partials = rec.rule.partials
                if partials is not None and not create_graph:
                    _add_partials(bars, rec.inputs, partials, ob, rec.out, args)
                    if release:
                        rec.release()
                    continue
                ob = _as_batch(ob, rec.out)
            outs = [ob]
        else:
            outs = [bars.get(i) if i in keep else bars.pop(i, None) for i in rec.out_ids]
            if all(o is None for o in outs):
                continue
        if rec.released:
            raise RuntimeError(_RELEASED)
        if type(rec) is ItemRecord and not create_graph and _add_item(bars, owned, rec, outs[0]):
            if release:
                rec.release()
            continue
        outs = [_as_batch(o, v) for o, v in zip(outs, rec.out if rec.multi else (rec.out,))]
        if rec.multi:
            m = next(o for o in outs if o is not None).shape[0]
            ob = tuple(_zeros_for(v, m) if o is None else o for o, v in zip(outs, rec.out))
        else:
            ob = outs[0]
        if create_graph:
            args = rec.arg_vars
            if type(rec) is ScalarRecord or type(rec) is ItemRecord:
                out = live.get(rec.out_ids[0], rec.out)
            else:
                out = _live_out(rec)
            for _, var, vid in rec.inputs:
                live[vid] = var
        else:
            args, out = rec.args, rec.out
        if rec.rule.vjp_needs:
            res = rec.rule.vjp(ob, out, *args, needs=rec.needs, **rec.kwargs)
        else:
            res = rec.rule.vjp(ob, out, *args, **rec.kwargs)
        for path, _, vid in rec.inputs:
            g = res[path[0]]
            if len(path) == 2 and g is not None:
                g = g[path[1]]
            if g is None:
                continue
            bars[vid] = bars[vid] + g if vid in bars else g
        if release:
            rec.release()
    return [_as_batch(bars.get(w._id), w.value) for w in wanted]


def sweep_scalar(root, wanted, records):
    """``sweep([root], [np.float64(1.0)], wanted, records=records)`` for a scalar program.

    A tape of ScalarRecords and ItemRecords only (reads ``x[i]`` and scalar operations on
    them) sweeps in this loop: the scalar branch of ``sweep`` without what such a tape
    never needs (batched or multiple outputs, create_graph, release), the same operations in
    the same order. From the first record of another kind on, ``sweep`` goes on with its
    cotangents.
    """
    bars: dict[int, object] = {root._id: _SEED}
    owned: dict[int, object] = {}
    keep = {w._id for w in wanted}
    left = len(records)  # records[:left]: not swept yet
    for rec in reversed(records):
        left -= 1
        tr = type(rec)
        if tr is ScalarRecord:
            oid = rec.id  # its output's (see ScalarRecord)
            ob = bars.get(oid) if oid in keep else bars.pop(oid, None)
            if ob is None:
                continue
            args = rec.args
            if args is None:
                raise RuntimeError(_RELEASED)
            if type(ob) is not float:
                if type(ob) is not _F64:  # (never from these records) sweep's to handle
                    bars[oid] = ob
                    break
                ob = float(ob)  # after an overflow (see _in_numpy), as in sweep
            _add_partials(bars, rec.inputs, rec.partials, ob, rec.out, args)
        elif tr is ItemRecord:
            oid = rec.id
            ob = bars.get(oid) if oid in keep else bars.pop(oid, None)
            if ob is None:
                continue
            if rec.args is None:
                raise RuntimeError(_RELEASED)
            vid = rec.inputs[0][2]
            buf = bars.get(vid)
            if buf is not None and owned.get(vid) is buf:
                buf[0, rec.index] += ob  # x[i] again: in place in x's buffer
            elif not _add_item(bars, owned, rec, ob):  # (never here) sweep's to handle
                bars[oid] = ob  # as it was: sweep takes this record from the start
                break
        else:
            break
    else:
        return [_as_batch(bars.get(w._id), w.value) for w in wanted]
    # records[left] and older: sweep's
    return sweep([root], [_SEED], wanted, records=records[: left + 1], state=(bars, owned))


def _add_item(bars, owned, rec, ob) -> bool:
    """Sweep ``x[i]`` (an ItemRecord): add its cotangent ``ob`` into x's at ``[:, i]``.

    The first read of a vector in the sweep makes that vector's cotangent a buffer of its own
    (``owned``), zeros or a copy of what it had; later reads add in place. That is what the
    generic path computes, ``bar + index_add(ob, i, x.shape)``, entry for entry, without an
    array per read. False (the generic path then runs) for a cotangent other than a float or
    a float64 ``(m,)`` array, or a cotangent of x that is not a float array ``(m, n)``.
    """
    tb = type(ob)
    if tb is float or tb is _F64:
        m = 1
    elif tb is complex:  # two rows, packed (see sweep)
        m, ob = 2, (ob.real, ob.imag)
    elif tb is np.ndarray and ob.dtype is _F64_DTYPE and ob.ndim == 1:
        m = ob.shape[0]
        if m == 1:
            ob = ob[0]  # np.float64: the scalar stores below
    else:
        return False
    vid = rec.inputs[0][2]
    i = rec.index
    old = bars.get(vid)
    if old is not None and owned.get(vid) is old:
        if m == 1:
            old[0, i] += ob  # a scalar read and write: a tenth of a column's
        else:
            old[:, i] += ob
        return True
    n = rec.args[0].shape[0]
    if old is None:
        buf = np.zeros((m, n))
        # index_add stores the first read's cotangent as it is (-0.0 too)
        if m == 1:
            buf[0, i] = ob
        else:
            buf[:, i] = ob
    elif type(old) is np.ndarray and old.shape == (m, n) and old.dtype.kind in "fc":
        buf = old.astype(np.promote_types(old.dtype, _F64_DTYPE))  # a copy: it may be shared
        if m == 1:
            buf[0, i] += ob
        else:
            buf[:, i] += ob
    else:
        return False
    bars[vid] = owned[vid] = buf
    return True


def _rows(z):
    """A packed pair of cotangent rows (a complex number) as the ``(2,)`` array it stands for;
    an array is returned as it is."""
    if type(z) is not complex:
        return z
    a = np.empty(2)
    a[0] = z.real
    a[1] = z.imag
    return a


def _in_numpy(ob, p, out, args, old):
    """``old + ob * p`` again on np.float64, for a float result that is not finite.

    The scalar branch of ``sweep`` carries cotangents as Python floats, which overflow
    silently; redone here, NumPy warns (or raises, under ``np.errstate``) exactly where the
    NumPy scalars they replace would have.
    """
    g = _term(_F64(ob) if type(ob) is float else ob, p, out, args)
    return g if old is None else old + g


def _term(ob, p, out, args):
    """``ob * partial`` for one input of a scalar record (``p``: ONE, NEG, an ArgIndex, a
    kernel's partial as a float, or a rule's partial)."""
    if p is ONE:
        return ob
    if p is NEG:
        return -ob
    tp = type(p)
    if tp is ArgIndex:
        return ob * args[p]
    return ob * p if tp is float else ob * p(out, *args)


def _as_batch(b, value):
    """A scalar cotangent (m = 1) as an array ``(1,) + shape``; anything else unchanged."""
    if type(b) is complex:  # two rows of a 0-d value, packed (see sweep)
        return _rows(b) if np.shape(value) == () else np.reshape(_rows(b), (2,) + np.shape(value))
    if type(b) in _SCALAR_BAR:
        if type(value) is _F64:  # a scalar input: one item store, not np.reshape of a float
            a = np.empty(1)
            a[0] = b
            return a
        return np.reshape(b, (1,) + tuple(np.shape(value)))
    return b


def _live_out(rec):
    outs = []
    for ref, val in zip(rec.out_refs, rec.out if rec.multi else (rec.out,)):
        v = ref() if ref is not None else None
        outs.append(val if v is None else v)
    if rec.multi:
        return type(rec.out)(*outs) if hasattr(rec.out, "_fields") else type(rec.out)(outs)
    return outs[0]


def _graph(root):
    """The records behind ``root`` in tape order (oldest first) and its leaf Variables that
    require grad, in one walk (``backward`` has no tape's list to read them from)."""
    found, seen, recs = {}, set(), []
    stack = [root]
    while stack:
        v = stack.pop()
        rec = v._record
        if rec is None:
            if v.requires_grad:
                found[v._id] = v
            continue
        rid = rec.id
        if rid in seen:
            continue
        if rec.released:
            raise RuntimeError(_RELEASED)
        seen.add(rid)
        recs.append(rec)
        stack.extend([var for _, var, _ in rec.inputs])
    recs.sort(key=_record_id)
    return recs, list(found.values())


def _record_id(rec):
    return rec.id


def backward(root, gradient, create_graph, retain_graph):
    """PyTorch-style ``root.backward()``: accumulate into ``.grad`` of reachable leaves."""
    shape = np.shape(root.value)
    if gradient is None:
        if shape != ():
            raise ValueError(
                f"backward() on a value of shape {shape} needs a cotangent: pass "
                "gradient=array of that shape, or reduce to a scalar first (e.g. y.sum())"
            )
        seed = (
            np.float64(1.0)
            if type(root.value) is np.float64
            else np.ones_like(root.value, shape=(1,))
        )
    else:
        g = gradient.value if isinstance(gradient, Variable) and not create_graph else gradient
        if np.shape(g) != shape:
            raise ValueError(f"gradient shape {np.shape(g)} differs from output shape {shape}")
        seed = np.reshape(g, (1,) + tuple(shape))
    if root._record is None:
        leaves = [root] if root.requires_grad else []
        bars = [seed]
    else:
        recs, leaves = _graph(root)
        release = not (create_graph or retain_graph)
        bars = sweep(
            [root], [seed], leaves, create_graph=create_graph, release=release, records=recs
        )
    for leaf, b in zip(leaves, bars):
        if b is None:
            continue
        g = b[0, ...]  # a 0-d input gets a 0-d array, as in forward mode
        leaf.grad = g if leaf.grad is None else leaf.grad + g

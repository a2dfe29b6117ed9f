"""One line of the Wengert list: which rule ran, on what, producing what, and how its
cotangents flow back.

A ``Record`` keeps the raw argument values its reverse rule needs, the input Variables it
sends cotangents to, and weak references to its output Variables (so a record never keeps
its own outputs alive). Every record kind answers one call, ``rec.pull(ob, bars, state)``:
given the cotangent ``ob`` of its output(s), add its inputs' cotangents into ``bars`` (a
dict by Variable id). ``tape.sweep`` walks the records newest first and calls it; that loop
is the only reverse loop. Imports numpy and dualad.rules only.

Cotangents carry a leading batch axis ``m`` (reverse Jacobians pull ``m`` rows at once). A
0-d value's cotangent may also be a Python float or NumPy scalar (m = 1) or a complex number
(two rows, packed as packed Duals carry two tangents): scalar records then work on numbers.
"""

from __future__ import annotations

import itertools
import sys
import weakref

from dualad._numpy import np
from dualad.rules import RULES
from dualad.rules._define import NEG, ONE, getitem

_ids = itertools.count()  # record ids and Variable ids: one counter, creation order


def next_id() -> int:
    """A fresh id from the counter records and Variables share (creation order), for
    steps that run beside the tape (``dualad.compile``'s tracer numbers its own by it).

    >>> from tape.record import next_id
    >>> next_id() < next_id()
    True
    """
    return next(_ids)


_F64 = np.float64
_F64_DTYPE = np.dtype(np.float64)
#: Set once any Variable is rebound with no tape to keep its earlier node (tape.alias.rebind
#: then keeps it on the Variable, ``_past``): only then do the graph walks look for those.
PAST_KEPT = False
RELEASED = (
    "the graph behind this value was already used by a backward sweep and freed; "
    "use Tape(persistent=True) or backward(retain_graph=True) to sweep it twice"
)


class SweepState:
    """What one sweep shares among the records it pulls through.

    ``owned``: the cotangent buffers of vectors read entry by entry (see ``ItemRecord``),
    which the sweep made itself and may add into in place. ``live`` (``create_graph`` only):
    the Variable of each id that has a cotangent, so a recorded pull names live values.
    """

    __slots__ = ("create_graph", "live", "owned")

    def __init__(self, create_graph: bool = False, live: dict | None = None):
        self.create_graph = create_graph
        self.live = live
        self.owned: dict[int, object] = {}


# -- copies of constants ------------------------------------------------------------------------
# A record copies each plain array it reads that the caller could still write into (see
# tape.variable._owned). Copies of large arrays come from, and go back to, a small pool: a
# fresh large array costs its first-touch page faults (a 1.6 MB batch of data, copied at each
# training step, cost more than the matmul reading it), a reused one only the memcpy. A copy
# goes back only when nothing else refers to it (its reference count: a view of it, a
# cotangent made from it, anything, keeps it out).

_POOL: dict[tuple, list] = {}  # (shape, dtype) -> free copies
_POOL_MIN = 1 << 16  # bytes: smaller copies come from NumPy's allocator as they are
_POOL_MAX = 1 << 28  # bytes held by free copies at most
_pooled = [0]  # bytes held now


def copy_constant(c: np.ndarray, made: list) -> np.ndarray:
    """A C-ordered copy of ``c``, reusing a free pooled array for a large one; a large copy is
    appended to ``made`` (the record gives it back when released)."""
    if c.nbytes < _POOL_MIN:
        return c.copy()
    key = (c.shape, c.dtype)
    free = _POOL.get(key)
    buf = None
    if free:
        try:
            buf = free.pop()
            _pooled[0] -= buf.nbytes
        except IndexError:  # another thread took it
            buf = None
    if buf is None:
        buf = c.copy()
    else:
        np.copyto(buf, c)
    made.append(buf)
    return buf


def _give_back(made: tuple) -> None:
    """Return the copies ``made`` of a released record to the pool where nothing else holds
    them (the tuple, the loop and getrefcount's argument are the only references then)."""
    for buf in made:
        if sys.getrefcount(buf) <= 3 and _pooled[0] + buf.nbytes <= _POOL_MAX:
            free = _POOL.setdefault((buf.shape, buf.dtype), [])
            if len(free) < 4:
                free.append(buf)
                _pooled[0] += buf.nbytes


class Record:
    """One recorded operation ``outs = func(*args, **kwargs)``."""

    __slots__ = (
        "arg_vars",
        "args",
        "copies",
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
        self.inputs = inputs  # [(path, Variable, id)] that receive cotangents
        self.arg_vars = arg_vars  # args with this level's Variables kept, for create_graph
        self.out = out
        self.multi = isinstance(out, (tuple, list))  # namedtuples are tuples
        self.needs = needs
        self.out_ids: tuple = ()
        self.out_refs: tuple = ()
        self.copies: tuple = ()  # large constants copied for it (see copy_constant)

    def bind_one(self, v) -> None:
        """Name the single output Variable ``v`` (the common case, no generators). A record
        of one output takes its output's id as its own (made just after it, so tape order
        is kept): the sweep then reads a record's cotangent by ``id``."""
        self.id = v._id
        self.out_ids = (v._id,)
        self.out_refs = (weakref.ref(v),)

    def bind_outputs(self, outs) -> None:
        self.out_ids = tuple(-1 if o is None else o._id for o in outs)
        self.out_refs = tuple(None if o is None else weakref.ref(o) for o in outs)
        if not self.multi and outs[0] is not None:
            self.id = outs[0]._id

    def _release_values(self) -> None:
        """Drop the values and inputs this record holds: the sweep can no longer pass."""
        self.args = self.arg_vars = self.out = None
        self.inputs = ()

    def release(self) -> None:
        """Drop every array this record holds; the sweep can no longer pass through it."""
        self._release_values()
        self.kwargs = {}
        copies = self.copies
        if copies:
            self.copies = ()
            _give_back(copies)

    def input_vars(self) -> list:
        """The Variables that receive cotangents from this record (the graph's edges)."""
        return [var for _, var, _ in self.inputs]

    @property
    def released(self) -> bool:
        """True once ``release()`` has dropped what the sweep needs."""
        return self.args is None

    @property
    def name(self) -> str:
        return self.rule.name.split(".")[-1] if self.rule is not None else "?"

    # -- the reverse step --------------------------------------------------------------------
    def pull(self, ob, bars: dict, state: SweepState) -> None:
        """Add the input cotangents for the output cotangent ``ob`` into ``bars``.

        ``ob``: ``(m,) + shape`` (a list with None for unreached outputs when ``multi``), or
        for a 0-d output a number (see the module docstring). A 0-d output of an elementwise
        rule takes the rule's partials on numbers; everything else the rule's vjp.
        """
        if self.args is None:
            raise RuntimeError(RELEASED)
        if not self.multi and not state.create_graph:
            tb = type(ob)
            if tb is float or tb is _F64 or tb is complex:
                partials = self.rule.partials
                if partials is not None:
                    add_partials(bars, self.inputs, partials, ob, self.out, self.args)
                    return
        self.vjp(ob, bars, state)

    def vjp(self, ob, bars: dict, state: SweepState) -> None:
        """``pull`` by the rule's vjp on batched cotangents (every record kind can)."""
        if self.multi:
            outs = [as_batch(o, v) for o, v in zip(ob, self.out)]
            m = next(o for o in outs if o is not None).shape[0]
            ob = tuple(_zeros_for(v, m) if o is None else o for o, v in zip(outs, self.out))
        else:
            ob = as_batch(ob, self.out)
        if state.create_graph:
            args, out = self.arg_vars, self.live_out(state)
            live = state.live
            for _, var, vid in self.inputs:
                live[vid] = var
        else:
            args, out = self.args, self.out
        rule = self.rule
        if rule.vjp_needs:
            res = rule.vjp(ob, out, *args, needs=self.needs, **self.kwargs)
        else:
            res = rule.vjp(ob, out, *args, **self.kwargs)
        for path, _, vid in self.inputs:
            g = res[path[0]]
            if len(path) == 2 and g is not None:
                g = g[path[1]]
            if g is None:
                continue
            old = bars.get(vid)
            if old is None:
                bars[vid] = g
            elif type(old) is complex:  # two rows of a 0-d value packed by a scalar record
                bars[vid] = _rows(old) + _rows(g)
            else:
                bars[vid] = old + _rows(g)

    def live_out(self, state: SweepState):
        """The output(s) as live Variables where they still exist, else the values."""
        outs = []
        for ref, val in zip(self.out_refs, self.out if self.multi else (self.out,)):
            v = ref() if ref is not None else None
            outs.append(val if v is None else v)
        if self.multi:
            out = self.out
            return type(out)(*outs) if hasattr(out, "_fields") else type(out)(outs)
        return outs[0]


class ScalarRecord(Record):
    """A record of the scalar fast paths on Python numbers: ``out = a (+ - * /) b``, or one
    of forward mode's kernels (``-a``, ``np.sin(a)``, ``a ** b``, ``np.maximum(a, b)``, ...).

    ``args`` and ``out`` hold Python floats (an operator's int constant stays an int) where a
    ``Record`` would hold 0-d float64 values; everything else reads as on a ``Record``.
    ``tape._fast`` sets the slots itself (no ``__init__``) and makes as few objects per
    operation as it can, since in scalar loops they are the whole cost of recording:
    ``id`` is its output Variable's id (one counter serves both), so ``out_ids`` is read off
    it; ``ids`` holds, per argument, the id of the Variable that receives a cotangent (None
    for a constant), so ``inputs`` is read off ``ids`` and ``arg_vars``; ``out_refs`` is empty
    because the sweep keeps the live output in its state (see ``SweepState``); ``kwargs``,
    ``multi`` and ``needs`` are class attributes. ``partials`` has one entry per argument: for
    an operator, the rule's entry of ``SWEEP_PARTIALS``; for a kernel, the partials
    themselves, computed with the value (floats, or the rule table's ONE and NEG).
    """

    __slots__ = ("ids", "partials")
    kwargs = {}  # noqa: RUF012 (shared and never mutated)
    multi = False
    needs = None
    out_refs = ()

    @property
    def out_ids(self) -> tuple:
        return (self.id,)

    def bind_one(self, v) -> None:
        """Name ``v`` the output (an alias group rebinding it): its id is the record's, and
        the sweep keeps the live output itself (no weak reference)."""
        self.id = v._id

    @property
    def inputs(self) -> list:
        """``[(path, Variable, id)]`` of the arguments that receive cotangents."""
        if self.args is None:
            return []
        av = self.arg_vars
        return [(_PATHS[i], av[i], vid) for i, vid in enumerate(self.ids) if vid is not None]

    def input_vars(self) -> list:
        if self.args is None:
            return []
        return [v for v, i in zip(self.arg_vars, self.ids) if i is not None]

    def release(self) -> None:
        self.args = self.arg_vars = self.out = None
        self.ids = ()

    def pull(self, ob, bars: dict, state: SweepState) -> None:
        args = self.args
        if args is None:
            raise RuntimeError(RELEASED)
        if not state.create_graph:
            tb = type(ob)
            if tb is _F64:
                ob = float(ob)  # its args are Python numbers: stay on floats
            elif tb is np.ndarray and ob.shape == (2,) and ob.dtype is _F64_DTYPE:
                ob = complex(ob[0], ob[1])  # two rows of a 0-d value: one complex number
            elif tb is not float and tb is not complex:
                self.vjp(ob, bars, state)
                return
            partials = self.partials
            i = -1
            for vid in self.ids:  # add_partials, inline: one call less a record
                i += 1
                if vid is None:
                    continue
                p = partials[i]
                kind = type(p)
                if kind is float:
                    g = ob * p
                elif kind is ArgIndex:
                    g = ob * args[p]
                elif p is ONE:
                    g = ob
                elif p is NEG:
                    g = -ob
                elif p is None:
                    continue
                else:  # a rule's partial line, on the record's numbers
                    g = ob * p(self.out, *args)
                old = bars.get(vid)
                if old is not None and g is not None:
                    g = old + g if type(g) is type(old) else None
                if g is None or g - g:  # anything else, or inf/nan: add_partials' own way
                    add_partials(bars, ((_PATHS[i], None, vid),), partials, ob, self.out, args)
                else:
                    bars[vid] = g
            return
        self.vjp(ob, bars, state)

    def live_out(self, state: SweepState):
        return state.live.get(self.id, self.out)


#: Argument paths shared by the records (one less allocation per record).
_PATHS = ((0,), (1,), (2,))


class ItemRecord(Record):
    """``out = x[i]``: an int index into a 1-D float64 array, the scalar-program idiom.

    A getitem ``Record`` in every field it reads as (``rule``, a class attribute; ``args ==
    (x's value, key)`` with the key as given; ``inputs``, ``arg_vars`` and ``out_ids`` read
    off ``var``, the vector's Variable, and ``vid``, its id; ``out`` the entry as
    np.float64), plus ``index``, the key made non-negative. Its output Variable keeps the
    entry as a Python float, so what reads it takes the scalar fast paths. ``tape._fast``
    sets the slots itself; as on a ``ScalarRecord``, ``id`` is the output's id and
    ``out_refs`` is empty. Its pull adds the cotangents of all reads of one vector into one
    buffer at ``index`` (see ``add_item``) instead of scattering each through ``index_add``.
    """

    __slots__ = ("index", "var", "vid")
    kwargs = {}  # noqa: RUF012 (shared and never mutated)
    multi = False
    needs = (True, False)
    out_refs = ()
    rule = RULES[getitem]

    out_ids = ScalarRecord.out_ids
    live_out = ScalarRecord.live_out
    bind_one = ScalarRecord.bind_one

    @property
    def inputs(self) -> list:
        return [] if self.args is None else [(_PATHS[0], self.var, self.vid)]

    @property
    def arg_vars(self) -> tuple | None:
        return None if self.args is None else (self.var, self.args[1])

    def input_vars(self) -> list:
        return [] if self.args is None else [self.var]

    def release(self) -> None:
        self.args = self.out = self.var = None

    def pull(self, ob, bars: dict, state: SweepState) -> None:
        if self.args is None:
            raise RuntimeError(RELEASED)
        if not state.create_graph:
            tb = type(ob)
            if tb is float or tb is _F64:
                vid = self.vid
                buf = bars.get(vid)
                if buf is not None and state.owned.get(vid) is buf:
                    buf[0, self.index] += ob  # x[i] again: in place in x's buffer
                    return
            if add_item(bars, state.owned, self, ob):
                return
        self.vjp(ob, bars, state)


class StackRecord(Record):
    """``out = np.stack(items)`` of 0-d float values (the idiom that ends scalar code): a
    stack ``Record`` in every field (``args`` holds the items as Python floats), whose pull
    hands each item its column of the cotangent as a number (a float for one row, a complex
    number for two, as ScalarRecords take them) instead of the rule's split into arrays.
    ``tape._fast.stack`` makes it; as on a ``ScalarRecord``, ``id`` is the output's id (and
    ``out_ids`` read off it) and ``out_refs`` is empty."""

    __slots__ = ()
    kwargs = {}  # noqa: RUF012 (shared and never mutated)
    multi = False
    out_refs = ()

    release = Record._release_values  # kwargs is a shared class attribute here
    out_ids = ScalarRecord.out_ids
    live_out = ScalarRecord.live_out
    bind_one = ScalarRecord.bind_one

    def pull(self, ob, bars: dict, state: SweepState) -> None:
        if self.args is None:
            raise RuntimeError(RELEASED)
        if (
            state.create_graph
            or type(ob) is not np.ndarray
            or ob.ndim != 2
            or ob.shape[0] > 2
            or ob.dtype is not _F64_DTYPE
        ):
            self.vjp(ob, bars, state)
            return
        if ob.shape[0] == 1:
            cols = ob[0].tolist()
        else:  # two rows: one complex number per column
            r0, r1 = ob.tolist()
            cols = [complex(p, q) for p, q in zip(r0, r1)]
        for path, _, vid in self.inputs:
            g = cols[path[1]]
            old = bars.get(vid)
            if old is None:
                bars[vid] = g
            elif type(old) is type(g):
                bars[vid] = old + g
            else:
                bars[vid] = old + (_rows(g) if type(g) is complex else g)


class ArgIndex(int):
    """A partial that equals argument number ``self`` (an entry of ``SWEEP_PARTIALS``)."""

    __slots__ = ()


#: The partials of the four ScalarRecord rules as the sweep applies them: the rule table's
#: own entries (ONE, NEG, functions), except multiply's, d(a*b)/da = b and d(a*b)/db = a,
#: given as the index of the argument each equals, so the sweep needs no call for them.
#: tests/tape/test_scalar_path.py checks every entry against the table.
SWEEP_PARTIALS = {f: RULES[f].partials for f in (np.add, np.subtract, np.divide)}
SWEEP_PARTIALS[np.multiply] = (ArgIndex(1), ArgIndex(0))


# -- cotangents on numbers ----------------------------------------------------------------------


def add_partials(bars: dict, inputs, partials, ob, out, args) -> None:
    """Add ``ob`` times each input's partial into ``bars`` (a 0-d record's cotangents).

    A kernel's partial is a float already, multiply's an ArgIndex (see ScalarRecord): inline
    with add's ONE, the rest in ``_term``; a non-finite float sum is redone in NumPy, which
    warns as the array path does.
    """
    for path, _, vid in inputs:
        p = partials[path[0]]
        if p is None:
            continue
        kind = type(p)
        if kind is float:
            g = ob * p
        elif kind is ArgIndex:
            g = ob * args[p]
        elif p is ONE:
            g = ob
        else:
            g = _term(ob, p, out, args)
        old = bars.get(vid)
        if type(ob) is complex and type(g) is not complex:
            g = complex(g)  # a packed pair times a NumPy value: packed again, not np.complex128
        if type(g) is complex:
            if old is not None:
                g = old + g if type(old) is complex else old + _rows(g)
            if type(g) is complex and g - g:  # inf or nan: again in NumPy, which warns
                g = _in_numpy(_rows(ob), p, out, args, None if old is None else _rows(old))
        else:
            if type(g) is not float and type(g) is not _F64:
                g = _widened(ob, p, out, args)  # e.g. ob * np.float32(2): np.float32
            if old is not None:
                g = old + g
            if type(g) is float and g - g:  # nan (true) for inf and nan
                g = _in_numpy(ob, p, out, args, old)
        bars[vid] = g


def add_item(bars: dict, owned: dict, rec: ItemRecord, ob) -> bool:
    """Pull ``x[i]`` (an ItemRecord): add its cotangent ``ob`` into x's at ``[:, i]``.

    The first read of a vector in the sweep makes that vector's cotangent a buffer of its own
    (``owned``), zeros or a copy of what it had; later reads add in place. That is what the
    generic path computes, ``bar + index_add(ob, i, x.shape)``, entry for entry, without an
    array per read. False (the rule's vjp then runs) for a cotangent other than a number or
    a float64 ``(m,)`` array, or a cotangent of x that is not a float array ``(m, n)``.
    """
    tb = type(ob)
    if tb is float or tb is _F64:
        m = 1
    elif tb is complex:  # two rows, packed: two scalar stores (a tuple would make an array)
        m = 2
    elif tb is np.ndarray and ob.dtype is _F64_DTYPE and ob.ndim == 1:
        m = ob.shape[0]
        if m == 1:
            ob = ob[0]  # np.float64: the scalar stores below
    else:
        return False
    vid = rec.vid
    i = rec.index
    old = bars.get(vid)
    if old is not None and owned.get(vid) is old:
        _add_at(old, i, ob, m)
        return True
    n = rec.args[0].shape[0]
    if old is None:
        buf = np.zeros((m, n))
        # index_add stores the first read's cotangent as it is (-0.0 too): 0.0 + -0.0 is 0.0
        _set_at(buf, i, ob, m)
    elif type(old) is np.ndarray and old.shape == (m, n) and old.dtype.kind in "fc":
        buf = old.astype(np.promote_types(old.dtype, _F64_DTYPE))  # a copy: it may be shared
        _add_at(buf, i, ob, m)
    else:
        return False
    bars[vid] = owned[vid] = buf
    return True


def _add_at(buf, i, ob, m):
    """``buf[:, i] += ob``: scalar stores for one row or a packed pair (a tenth of a column's)."""
    if m == 1:
        buf[0, i] += ob
    elif type(ob) is complex:
        buf[0, i] += ob.real
        buf[1, i] += ob.imag
    else:
        buf[:, i] += ob


def _set_at(buf, i, ob, m):
    """``buf[:, i] = ob`` as ``_add_at`` stores it."""
    if m == 1:
        buf[0, i] = ob
    elif type(ob) is complex:
        buf[0, i] = ob.real
        buf[1, i] = ob.imag
    else:
        buf[:, i] = ob


def as_batch(b, value):
    """A number cotangent of a 0-d ``value`` as an array ``(m,) + shape``; arrays unchanged."""
    if type(b) is complex:  # two rows of a 0-d value, packed
        return _rows(b) if np.shape(value) == () else np.reshape(_rows(b), (2,) + np.shape(value))
    if type(b) is float or type(b) is _F64:
        if type(value) is _F64 or type(value) is float:  # one item store, not np.reshape
            a = np.empty(1)
            a[0] = b
            return a
        return np.reshape(b, (1,) + tuple(np.shape(value)))
    return b


def _zeros_for(out, m):
    return np.zeros_like(out, shape=(m,) + tuple(np.shape(out)))


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

    Cotangents on Python floats overflow silently; redone here, NumPy warns (or raises, under
    ``np.errstate``) exactly where the NumPy scalars they replace would have.
    """
    g = _term(_F64(ob) if type(ob) is float else ob, p, out, args)
    return g if old is None else old + g


def _up(a):
    """``a`` in double precision if it is a NumPy float (or complex) of less."""
    dt = getattr(a, "dtype", None)
    if dt is not None and dt.kind in "fc" and dt.itemsize < (8 if dt.kind == "f" else 16):
        return np.asarray(a, dtype=np.float64 if dt.kind == "f" else np.complex128)[()]
    return a


def _widened(ob, p, out, args):
    """``ob * partial`` for a number cotangent ``ob`` (float64) where the product came out as
    a NumPy scalar of less precision: a float16/float32 constant among ``args`` (a float64
    output of ``x * np.float32(2)``). Redone on the constants in float64, as a Python float:
    a number cotangent is a float64 (Record.pull, as_batch and add_item take no other)."""
    g = _term(ob, p, out, tuple(_up(a) for a in args))
    if isinstance(g, (np.floating, np.ndarray)) and np.ndim(g) == 0 and g.dtype.kind == "f":
        return float(g)
    return g


def _term(ob, p, out, args):
    """``ob * partial`` for one input of a scalar record (``p``: ONE, NEG, an ArgIndex, a
    kernel's partial as a float, or a rule's partial)."""
    if p is ONE:
        return ob
    if p is NEG:
        return -ob
    kind = type(p)
    if kind is ArgIndex:
        return ob * args[p]
    return ob * p if kind is float else ob * p(out, *args)

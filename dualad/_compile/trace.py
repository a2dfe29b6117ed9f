"""Record a function once on the tape, as a program ``dualad.compile`` can replay.

``trace(f, leaves, td)`` runs ``f`` on tape Variables with the tracer switched on (see
dualad._tracing). The tape records every operation with a derivative (its one record
protocol: rule, raw arguments, inputs); the tracer adds what the tape leaves to Python:
values without a derivative computed from the inputs (comparisons, ``argmax``, a result's
integer part) become ``Flag`` objects it follows through further NumPy calls, and every use
Python makes of one (``if``, ``while``, ``bool()``, ``int()``, an index, ``np.asarray``) is a
*guard*: the program holds only while that use gives the same answer. Both kinds of step
become ``Node`` objects in one list, in the order they ran (they share the tape's counter).

Imports numpy, tape and dualad internals.
"""

from __future__ import annotations

import operator
import threading
from dataclasses import dataclass, field

from dualad import _tracing
from dualad._numpy import np
from dualad._ops import strip
from dualad._pytree import flatten, unflatten
from dualad._tags import Leveled
from dualad.rules import RULES
from dualad.rules._define import getitem

#: Functions whose result depends on shapes and dtypes only: a compiled variant is made for
#: one signature, so these stay plain values (no guard needed).
STATIC = frozenset({
    np.shape, np.ndim, np.size, np.result_type, np.can_cast, np.min_scalar_type,
    np.common_type, np.iscomplexobj, np.isrealobj, np.may_share_memory, np.shares_memory,
})  # fmt: skip

_LOCK = threading.RLock()  # one trace at a time (the switch is process-wide)

#: Steps whose result's shape depends on the values of their traced arguments (how many
#: elements are nonzero, unique, ...). The shape of such a result is a guard (see
#: ``Tracer._shape_guard``): Python reads shapes freely (``len``, ``.shape``, ``np.size``,
#: a loop over the result), and each read is exact only while the shape stays the same.
_BY_VALUES = frozenset(
    getattr(np, n) for n in (
        "nonzero", "flatnonzero", "argwhere", "unique", "unique_values", "unique_counts",
        "unique_inverse", "unique_all", "trim_zeros", "setdiff1d", "intersect1d", "union1d",
        "setxor1d",
    ) if hasattr(np, n)
)  # fmt: skip


class NotCompilable(NotImplementedError):
    """A step the compiled program cannot replay; the message says which and why."""


@dataclass(frozen=True, slots=True)
class Ref:
    """An argument slot filled at replay time by the value named ``id``."""

    id: int


def refs(x) -> list:
    """The ``Ref`` placeholders in a node argument (lists, tuples and dicts walked)."""
    if type(x) is Ref:
        return [x]
    if type(x) in (list, tuple):
        return [r for b in x for r in refs(b)]
    if type(x) is dict:
        return [r for b in x.values() for r in refs(b)]
    return []


@dataclass(slots=True)
class Node:
    """One step of a compiled program: ``outs = func(*args, **kwargs)``.

    ``args``/``kwargs`` hold constants and ``Ref`` placeholders (one level of lists and
    tuples deep). ``outs``: the value id of each output (None where nothing reads it).
    ``rule``: the derivative rule for a taped step, None for a step without a derivative.
    ``diff``: the argument paths ``(i,)`` or ``(i, j)`` that carry a derivative.
    """

    id: int
    func: object
    args: tuple
    kwargs: dict
    outs: tuple
    multi: bool
    rule: object = None
    diff: tuple = ()
    name: str = ""


@dataclass(slots=True)
class Guard:
    """Python used node ``node``'s one output: the program holds while it equals ``value``."""

    node: int
    value: object
    what: str


@dataclass(slots=True)
class Program:
    """A traced function: inputs, steps, guards and outputs (as value ids or constants)."""

    inputs: list  # value ids, one per input leaf
    nodes: list
    guards: list
    out_leaves: list  # Ref or a constant, per output leaf
    out_td: object
    in_td: object
    values: dict = field(default_factory=dict)  # id -> the traced value (shapes, dtypes)


class Flag:
    """A value without a derivative computed from the traced inputs (``x > 0``,
    ``np.argmax(x)``): NumPy calls on it are further steps of the program; any use Python
    makes of its value is a guard (see the module docstring)."""

    __slots__ = ("id", "raw")
    __array_priority__ = 20

    def __init__(self, raw, id):
        self.raw = raw
        self.id = id

    # -- NumPy calls: more steps -------------------------------------------------------------
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if any(isinstance(a, Leveled) for a in inputs):
            return NotImplemented  # a Variable answers (and records); see tape.variable
        func = ufunc if method == "__call__" else getattr(ufunc, method)
        return _tracer().plain(func, inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        if any(issubclass(t, Leveled) for t in types):
            return NotImplemented
        return _tracer().plain(func, args, kwargs)

    def __getitem__(self, key):
        return _tracer().plain(operator.getitem, (self, key), {})

    def __setitem__(self, key, value):
        raise NotImplementedError(
            "dualad.compile: writing into a value computed from the traced inputs (a mask, "
            "an index) is not followed; build a new one instead (m = m & ..., np.where(...))"
        )

    def __getattr__(self, name):
        if name.startswith("__"):  # NumPy's protocols (__array_struct__, ...): not followed,
            raise AttributeError(name)  # so a conversion takes __array__, a guard
        attr = getattr(self.raw, name)
        if not callable(attr):  # shape, ndim, dtype, size: static
            if name in ("shape", "ndim", "dtype", "size", "itemsize", "nbytes"):
                return attr
            return _tracer().plain(operator.attrgetter(name), (self,), {})
        return lambda *a, **k: _tracer().plain(Method(name, a, k), (self,), {})

    def __len__(self):
        return len(self.raw)  # the shape: static

    def __iter__(self):
        for i in range(len(self.raw)):
            yield self[i]

    # -- uses Python makes of the value: guards -----------------------------------------------
    def __bool__(self):
        return _tracer().consume(bool, self)

    def __int__(self):
        return _tracer().consume(int, self)

    def __index__(self):
        return _tracer().consume(operator.index, self)

    def __float__(self):
        return _tracer().consume(float, self)

    def __complex__(self):
        return _tracer().consume(complex, self)

    def __hash__(self):
        return _tracer().consume(hash, self)

    def __array__(self, dtype=None, copy=None):
        raw = _tracer().consume(_as_array, self)
        return raw if dtype is None else raw.astype(dtype)

    def __repr__(self):
        return _tracer().consume(repr, self)

    __str__ = __repr__

    def __format__(self, spec):
        return format(
            _tracer().consume(_as_array, self)[()] if np.ndim(self.raw) == 0 else self.raw, spec
        )


class Method:
    """``obj.<name>(*args, **kwargs)``, a method called on a ``Flag`` (``(x > 0).all()``), as
    a step's function: named, and with its arguments readable by the lowering."""

    __slots__ = ("__name__", "args", "kwargs")

    def __init__(self, name: str, args: tuple, kwargs: dict):
        self.__name__, self.args, self.kwargs = name, args, kwargs

    def __call__(self, obj):
        return getattr(obj, self.__name__)(*self.args, **self.kwargs)

    def __repr__(self):
        return f"<method {self.__name__}>"


def _as_array(v):
    return np.array(v)


def _binary(ufunc):
    return lambda self, o: ufunc(self, o)


def _reflected(ufunc):
    return lambda self, o: ufunc(o, self)


for _name, _uf in {
    "add": np.add, "sub": np.subtract, "mul": np.multiply, "truediv": np.divide,
    "floordiv": np.floor_divide, "mod": np.remainder, "pow": np.power, "and": np.bitwise_and,
    "or": np.bitwise_or, "xor": np.bitwise_xor, "lt": np.less, "le": np.less_equal,
    "gt": np.greater, "ge": np.greater_equal, "eq": np.equal, "ne": np.not_equal,
}.items():  # fmt: skip
    setattr(Flag, f"__{_name}__", _binary(_uf))
    if _name not in ("lt", "le", "gt", "ge", "eq", "ne"):
        setattr(Flag, f"__r{_name}__", _reflected(_uf))
Flag.__invert__ = lambda self: np.invert(self)
Flag.__neg__ = lambda self: np.negative(self)
Flag.__abs__ = lambda self: np.absolute(self)


def _tracer():
    t = _tracing.ACTIVE
    if t is None:
        raise RuntimeError("a value of a dualad.compile trace was used after the trace ended")
    return t


# -- the tracer ---------------------------------------------------------------------------------


class Tracer:
    """Collects the steps without a derivative and the guards of one trace."""

    def __init__(self, level, ids):
        self.level = level
        self.ids = ids  # the tape's counter: one order for records and these steps
        self.thread = threading.get_ident()
        self.nodes: list[Node] = []
        self.guards: list[Guard] = []
        self.outputs: dict = {}  # (record id, k) -> Flag id, a taped step's plain output
        self.values: dict = {}
        self.shaped: list = []  # taped steps' outputs whose shape depends on values

    def _mine(self) -> bool:
        return threading.get_ident() == self.thread

    def _template(self, a):
        """``a`` as a node argument, and its raw value; None when it holds nothing traced."""
        if type(a) is slice and _in_slice(a):  # its bounds were read as guards (``_unslice``)
            a = slice(_raw(a.start), _raw(a.stop), _raw(a.step))
            return a, a, False
        if isinstance(a, Flag):
            return Ref(a.id), a.raw, True
        if isinstance(a, Leveled):
            if getattr(a, "level", None) == self.level and hasattr(a, "is_leaf"):
                self.values.setdefault(a.id, a.value)
                return Ref(a.id), a.value, True
            raise NotCompilable(
                f"a {type(a).__name__} of another transform reached a step without a "
                "derivative inside the compiled function (nested transforms are not compiled)"
            )
        if type(a) in (list, tuple):
            parts = [self._template(b) for b in a]
            if any(p[2] for p in parts):
                return type(a)(p[0] for p in parts), type(a)(p[1] for p in parts), True
            if any(p[0] is not b for p, b in zip(parts, a)):  # a slice's bounds taken
                a = type(a)(p[0] for p in parts)
        return a, a, False

    def plain(self, func, args, kwargs):
        """``func(*args, **kwargs)`` without a derivative: a step when anything is traced."""
        if not self._mine() or (func in STATIC):
            args = [_raw(a) for a in strip(list(args))]
            return func(*args, **{k: _raw(strip(v)) for k, v in kwargs.items()})
        args = [self._unslice(a) for a in args]
        targs, raws, traced = [], [], False
        for a in args:
            t, r, tr = self._template(a)
            targs.append(t)
            raws.append(r)
            traced |= tr
        tkw, rkw = {}, {}
        for k, v in kwargs.items():
            t, r, tr = self._template(v)
            tkw[k], rkw[k] = t, r
            traced |= tr
        out = func(*raws, **rkw)
        if not traced:
            return out
        i = self.ids()
        targs = [_frozen(t) for t in targs]
        tkw = {k: _frozen(t) for k, t in tkw.items()}
        self.nodes.append(Node(i, func, tuple(targs), tkw, (i,), False, name=_name(func)))
        self.values[i] = out
        if _data_shaped(func, args, kwargs):
            self._shape_guard(i, out)
        return Flag(out, i)

    def _shape_guard(self, i, out) -> None:
        """A guard on the shape of value ``i`` (a result whose shape depends on values)."""
        j = self.ids()
        self.nodes.append(Node(j, shapes_of, (Ref(i),), {}, (j,), False, name="shape"))
        self.values[j] = shape = shapes_of(out)
        self.guards.append(Guard(j, shape, "shape"))

    def _unslice(self, a):
        """``a`` with each slice bound computed from the inputs (``x[np.argmax(x):]``) read
        as an index: a guard, as ``int(np.argmax(x))`` is."""
        if type(a) is slice and _in_slice(a):
            return slice(*(self.consume(operator.index, b) if isinstance(b, Flag) else b
                           for b in (a.start, a.stop, a.step)))  # fmt: skip
        if type(a) in (list, tuple) and any(type(b) in (slice, list, tuple) for b in a):
            return type(a)(self._unslice(b) for b in a)
        return a

    def consume(self, conv, a, *extra):
        """Python reads the value of ``a`` through ``conv``: a guard on the answer."""
        if not self._mine():
            return conv(strip(a), *extra)
        flag = self.plain(conv if not extra else _with(conv, extra), (a,), {})
        if not isinstance(flag, Flag):
            return flag
        self.guards.append(Guard(flag.id, flag.raw, _name(conv)))
        return flag.raw

    def output(self, rec, k, out):
        """A taped step's output without a derivative (a comparison's mask, a sign)."""
        if not self._mine():
            return out
        i = self.ids()
        self.outputs[(rec.id, k)] = i
        self.values[i] = out
        return Flag(out, i)

    def call(self, func, vals, kwargs):
        """A taped step runs on the raw values of followed arguments."""
        shaped = self._mine() and _data_shaped(func, vals, kwargs)
        if self._mine():
            vals = [self._unslice(v) for v in vals]
        vals = [_raw(v) for v in vals]
        if kwargs:
            kwargs = {k: _raw(v) for k, v in kwargs.items()}
        out = func(*vals, **kwargs)
        if shaped:  # its record, made next, gets a guard on the shape (see ``trace``)
            self.shaped.append(out)
        return out


def _frozen(a):
    """A constant of the program as recorded: arrays are copied, so later changes to the
    caller's array (a global updated in place) do not reach the compiled program."""
    if type(a) is np.ndarray:
        return a.copy()
    if type(a) in (list, tuple) and any(type(b) is np.ndarray for b in a):
        return type(a)(_frozen(b) for b in a)
    return a


def shapes_of(v):
    """The shape of ``v``, or of each array in a tuple of them (``np.nonzero``'s)."""
    if type(v) in (tuple, list):
        return tuple(shapes_of(b) for b in v)
    return np.shape(v)


def _in_slice(s: slice) -> bool:
    return any(isinstance(b, Flag) for b in (s.start, s.stop, s.step))


def _flags(a):
    """The raw values of the traced values in ``a`` (lists and tuples walked)."""
    if isinstance(a, Flag):
        yield a.raw
    elif type(a) in (list, tuple):
        for b in a:
            yield from _flags(b)


#: Steps selecting elements by a traced argument (its position among the arguments): the
#: result's shape depends on its values (``x[x > 0]``, ``np.compress(x > 0, x)``).
_SELECTORS = {operator.getitem: 1, getitem: 1, np.compress: 0, np.extract: 0, np.delete: 1,
              np.repeat: 1, np.bincount: 0}  # fmt: skip


def _data_shaped(func, args, kwargs) -> bool:
    """Whether the shape of ``func(*args, **kwargs)`` depends on the values of traced
    arguments (``Flag`` objects), not only on the shapes of the arguments."""
    try:
        if func in _BY_VALUES:
            return True
        k = _SELECTORS.get(func)
    except TypeError:  # an unhashable step (a bound method)
        return False
    if type(func) is Method:
        return func.__name__ == "nonzero"
    if func is np.where:
        return len(args) + len(kwargs) == 1
    if k is None:
        return False
    if len(args) <= k:  # given by keyword
        return any(True for v in kwargs.values() for _ in _flags(v))
    if k == 1 and func in (operator.getitem, getitem):  # a boolean mask selects
        # (an index array's own shape is guarded where it was made: np.where, np.nonzero)
        return any(_bool_mask(r) for r in _flags(args[1]))
    return any(True for _ in _flags(args[k]))


def _bool_mask(r) -> bool:
    """Whether ``r`` (a followed index, or a tuple of them) holds a boolean mask."""
    if type(r) in (list, tuple):
        return any(_bool_mask(b) for b in r)
    dt = getattr(r, "dtype", None)
    return dt is not None and dt == np.bool_ and np.ndim(r) >= 1


def _raw(v):
    if type(v) is Flag:
        return v.raw
    if type(v) in (list, tuple) and any(type(b) is Flag for b in v):
        return type(v)(_raw(b) for b in v)
    return v


class _with:
    """``conv(v, *extra)`` as a one-argument step (``round(x, 2)``)."""

    def __init__(self, conv, extra):
        self.conv, self.extra = conv, extra
        self.__name__ = getattr(conv, "__name__", "call")

    def __call__(self, v):
        return self.conv(v, *self.extra)


def _name(func) -> str:
    return getattr(func, "__name__", None) or type(func).__name__


# -- from a trace to a program -------------------------------------------------------------------

#: id(rule) -> (rule, the function it is registered for); the rule is kept and compared, so
#: an id reused by a later rule object never maps to another function
_FUNC_OF: dict = {}


def _func_of(rule):
    hit = _FUNC_OF.get(id(rule))
    if hit is None or hit[0] is not rule:  # first use, or a rule registered since: read again
        from dualad.rules.complex import _READY  # (rules for complex values, made on first use)

        with _LOCK:
            for table in (RULES, _READY):
                for g, r in list(table.items()):
                    _FUNC_OF[id(r)] = (r, g)
        hit = _FUNC_OF.get(id(rule))
    return hit[1] if hit is not None and hit[0] is rule else None


def trace(f, leaves, td, intercept: bool = False) -> Program:
    """Run ``f`` once on taped copies of ``leaves`` (structure ``td``) and return its program.

    ``intercept``: run ``f`` under ``dualad.intercept`` as ``grad(f, x, intercept=True)``
    does, so that its ``np.zeros`` & co. are promotable buffers (dualad._buffer) whose writes
    the tape records. Raises ``NotCompilable`` for what a replay could not follow (see its
    messages).
    """
    import tape
    from tape.record import next_id

    if intercept:
        from dualad._intercept import intercepting

        f = intercepting(f)  # (its frame marks f's allocations as the user's: buffers)

    with _LOCK, tape.Tape(persistent=True) as t:
        xs = [t._watch(v) for v in leaves]
        tracer = Tracer(t.level, next_id)
        values = tracer.values
        for v in xs:
            values[v.id] = v.value
        outer, _tracing.ACTIVE = _tracing.ACTIVE, tracer
        try:
            y = f(unflatten(td, xs))
        finally:  # the recording this one runs inside (a compiled call recorded in f) goes on
            _tracing.ACTIVE = outer
        records = t.records
    nodes = list(tracer.nodes)
    shaped = {id(o) for o in tracer.shaped}
    guarded = set()
    for rec in records:
        nodes.append(_node_of(rec, tracer, t.level))
        if id(rec.out) in shaped:
            guarded.add(nodes[-1].id)
    nodes.sort(key=lambda n: n.id)
    if guarded:  # a guard on the shape right after each step that selects by values
        steps, nodes = nodes, []
        for node in steps:
            nodes.append(node)
            if node.id in guarded:
                if node.outs[0] is None:
                    raise NotCompilable(f"{node.name}: a result of data-dependent shape")
                tracer.nodes = nodes
                tracer._shape_guard(node.outs[0], tracer.values[node.outs[0]])
    ys, ytd = flatten(y)
    outs = []
    for v in ys:
        if isinstance(v, Flag):
            outs.append(Ref(v.id))
        elif isinstance(v, Leveled):
            if getattr(v, "level", None) != t.level:
                raise NotCompilable("f returned a value of another transform")
            values[v.id] = v.value
            outs.append(Ref(v.id))
        else:
            outs.append(v)
    return Program([v.id for v in xs], nodes, tracer.guards, outs, ytd, td, values)


def _node_of(rec, tracer, level) -> Node:
    rule = rec.rule
    func = _func_of(rule)
    if func is None:
        raise NotCompilable(
            f"{rec.name}: a step recorded without a rule of dualad's tables (a SciPy "
            "function with a rule of its own, such as scipy.linalg.solve_triangular or "
            "expm; complex values; a custom rule made inside the function) has no compiled "
            "form. Use dualad.grad/hessian for this function, or compile the parts around it"
        )
    args = [
        tracer._template(a)[0] if isinstance(a, Flag) or type(a) in (list, tuple, slice) else a
        for a in rec.args
    ]
    diff = []
    for path, var, vid in rec.inputs:
        if len(path) == 1:
            args[path[0]] = Ref(vid)
        else:
            inner = list(args[path[0]])
            inner[path[1]] = Ref(vid)
            args[path[0]] = type(rec.args[path[0]])(inner)
        diff.append(path)
        tracer.values.setdefault(vid, var.value)
    kwargs = {k: _frozen(tracer._template(v)[0]) for k, v in rec.kwargs.items()}
    args = [_frozen(a) for a in args]
    ids = rec.out_ids or (rec.id,)
    multi = rec.multi
    n = len(ids)
    outs = []
    for k in range(n):
        i = ids[k]
        if i == -1:
            i = tracer.outputs.get((rec.id, k))
        outs.append(i)
        if i is not None:
            o = rec.out[k] if multi else rec.out
            tracer.values.setdefault(i, np.float64(o) if type(o) is float else o)
    return Node(rec.id, func, tuple(args), kwargs, tuple(outs), multi, rule, tuple(diff), rec.name)

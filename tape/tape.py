"""``Tape``: a context manager that records a Wengert list and sweeps it backwards.

The current tape lives in a ``ContextVar`` (one per thread and task); tapes nest, inner ones
at higher levels, and an exception inside ``with Tape()`` leaves no state behind.
``print(tape)`` shows the list one record per line. Imports dualad internals only.
"""

from __future__ import annotations

import contextvars

from dualad import _tags
from dualad._backend import as_float_leaf
from dualad._numpy import np
from dualad._pytree import flatten, unflatten
from dualad._seeding import _floats

from .record import ScalarRecord
from .sweep import sweep
from .variable import Variable, float_seed, frozen

_current: contextvars.ContextVar = contextvars.ContextVar("dualad_tape", default=None)


def current():
    """The innermost tape recording in this context, or None.

    >>> import tape
    >>> with tape.Tape() as t:
    ...     tape.current() is t
    True
    >>> tape.current() is None
    True
    """
    return _current.get()


class Tape:
    """Record NumPy operations on watched values for reverse-mode gradients.

    Parameters
    ----------
    persistent : bool
        Allow several ``gradient`` calls; otherwise the first one frees the records.

    Examples
    --------
    >>> import numpy as np, tape
    >>> with tape.Tape() as t:
    ...     x = t.watch(np.array([1.5, 0.5]))
    ...     y = np.sum(np.sin(x) * x)
    >>> t.gradient(y, x)
    array([1.10360079, 0.91821682])
    """

    def __init__(self, persistent: bool = False):
        self.persistent = persistent
        self._records: list = []
        self._watched: list = []
        self._level = None
        self._token = None
        self._closed = False
        self._released = False
        self._copies = False  # some record holds pooled copies of constants (tape.record)

    # -- context ----------------------------------------------------------------------------
    def __copy__(self):
        raise TypeError(
            "a Tape cannot be copied: the copy and the original would share records that a "
            "sweep frees, and the original would then give zero gradients"
        )

    def __deepcopy__(self, memo):
        self.__copy__()

    def __enter__(self) -> Tape:  # noqa: PYI034 (typing.Self needs Python 3.11)
        if self._level is not None:
            raise RuntimeError("a Tape records once; make a new Tape for a new recording")
        self._level = _tags.new_level()
        self._token = _current.set(self)
        _tags.activate(self._level)  # (Duals built by hand while it records: see user_level)
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        _tags.deactivate(self._level)
        _current.reset(self._token)
        self._token = None
        self._closed = True
        if exc_type is not None:
            self.release()

    @property
    def records(self) -> list:
        """The recorded operations, oldest first."""
        return list(self._records)

    def watch(self, x):
        """Start tracking ``x`` (an array or a pytree of arrays); returns Variables.

        Each Variable holds a read-only copy of an array the caller can still write (see
        ``tape.variable.frozen``): a later write into ``x`` does not reach the gradient.

        >>> import numpy as np, tape
        >>> with tape.Tape() as t:
        ...     p = t.watch({"w": np.ones(2), "b": np.array(0.5)})
        >>> type(p["w"]).__name__
        'Variable'
        """
        if type(x) is np.ndarray:
            x = frozen(x)
        elif type(x) in (list, tuple, dict) or hasattr(x, "_fields"):
            leaves, td = flatten(x)
            if any(type(v) is np.ndarray for v in leaves):
                x = unflatten(td, [frozen(v) for v in leaves])
        return self._watch(x)

    def _watch(self, x):
        """``watch`` without the copy: dualad's own doors, whose caller cannot write ``x``
        while the tape is in use."""
        if self._level is None or self._closed:
            raise RuntimeError("watch() needs an open tape: call it inside `with Tape() as t:`")
        if type(x) is np.ndarray and x.dtype.kind in "fc":  # one float array: no pytree
            # a 0-d float64 input is held as a Python float, the scalar records' form (inputs
            # are never written, so no alias is lost); .value reads np.float64 again
            v = float(x) if x.shape == () and x.dtype == np.float64 else x
            var = Variable._new(v, self._level, None, self)
            self._watched.append(var)
            return var
        tx = type(x)
        if (tx is list or tx is tuple) and _floats(x):
            # numbers (grad at a tuple or dict of them): the scalar records' floats, no pytree
            out = [Variable._new(float(v), self._level, None, self) for v in x]
            self._watched.extend(out)
            return tx(out)
        leaves, td = flatten(x)
        out = []
        for v in leaves:
            if isinstance(v, Variable) and v._level == self._level:
                out.append(v)
                continue
            lv = getattr(v, "_level", None)
            if isinstance(v, Variable) and lv is not None and lv > self._level:
                raise ValueError(
                    "watch() of a Variable of a tape opened inside this one: an outer tape "
                    "cannot differentiate through an inner one's values. Watch the input "
                    "with the outer tape first, then with the inner: with Tape() as t1: x1 = "
                    "t1.watch(a); with Tape() as t2: x2 = t2.watch(x1)"
                )
            if type(v) is np.float64 or type(v) is float:
                v = float(v)  # the operator fast path's form; .value reads np.float64 again
            elif type(v) is np.ndarray and v.shape == () and v.dtype == np.float64:
                v = float(v)  # likewise (an input is never written: no alias is lost)
            else:
                v = as_float_leaf(v)  # ints and bools as float64
            var = Variable._new(v, self._level, None, self)
            self._watched.append(var)
            out.append(var)
        return unflatten(td, out)

    # -- gradients --------------------------------------------------------------------------
    def gradient(self, y, xs, seed=None):
        """d y / d xs, with the structure of ``xs``.

        ``y`` must be a scalar unless ``seed`` (a cotangent shaped like ``y``) is given.
        Raises ``ValueError`` for an ``xs`` leaf this tape does not watch or record.

        >>> import numpy as np, tape
        >>> with tape.Tape() as t:
        ...     x = t.watch(np.array([1.0, 2.0]))
        ...     y = x**2
        >>> t.gradient(y, x, seed=np.array([1.0, 10.0]))
        array([ 2., 40.])
        """
        ys, ytd = flatten(y)
        if not ytd.is_leaf:
            raise ValueError("gradient takes one output y; sum several outputs first")
        y0 = ys[0]
        yval = y0.value if isinstance(y0, Variable) else y0
        if seed is None:
            if np.shape(yval) != ():
                raise ValueError(
                    f"y has shape {np.shape(yval)}: pass seed= (a cotangent of that shape) or "
                    "reduce y to a scalar, e.g. np.sum(y)"
                )
            # a NumPy scalar seed lets scalar records sweep without tiny arrays
            s = np.float64(1.0) if type(yval) is np.float64 else np.ones_like(yval, shape=(1,))
        else:
            if np.shape(seed) != np.shape(yval):
                raise ValueError(f"seed shape {np.shape(seed)} differs from y's {np.shape(yval)}")
            s = np.reshape(float_seed(seed, yval), (1,) + tuple(np.shape(yval)))
        leaves, td = flatten(xs)
        bars = self.cotangents([y0], [s], leaves, release=not self.persistent)
        if not self.persistent:
            self.release()
        return unflatten(td, [b[0, ...] for b in bars])

    @property
    def level(self) -> int:
        """The nesting level of this tape's Variables (higher levels unwrap first)."""
        return self._level

    def cotangents(self, ys, seeds, xs, release: bool = False) -> list:
        """Batched cotangents ``(m,) + x.shape`` of the Variables ``xs`` for the outputs
        ``ys`` seeded with ``seeds`` (each ``(m,) + y.shape``; a NumPy scalar for a 0-d y
        and m = 1): the one reverse sweep behind ``gradient`` and dualad's grad, vjp,
        jacobian and hvp. Zeros where an x is not reached. ``release=True`` frees each
        record as soon as it is pulled (the arrays it holds go while the sweep goes on, so
        the peak memory is lower): for the last sweep of a tape.

        >>> import numpy as np, tape
        >>> with tape.Tape(persistent=True) as t:
        ...     x = t.watch(np.array([1.0, 2.0]))
        ...     y = x * x
        >>> t.cotangents([y], [np.eye(2)], [x])[0]
        array([[2., 0.],
               [0., 4.]])
        """
        if self._released:
            raise RuntimeError(
                "this tape was already used by gradient() and freed its records; "
                "use Tape(persistent=True) to call gradient() several times"
            )
        level = self._level
        for x in xs:
            if not isinstance(x, Variable) or x._level != level:
                raise ValueError(
                    f"cannot take a gradient with respect to {type(x).__name__}: it is "
                    "not watched by this tape. Call t.watch(x) inside the `with` block "
                    "and use the Variable it returns."
                )
        if len(ys) == 1 and type(ys[0]) is Variable and ys[0]._level == level:
            roots, rseeds = ys, seeds  # one output on this tape: the common call
        else:
            pairs = [(y, s) for y, s in zip(ys, seeds) if isinstance(y, Variable)]
            roots = [y for y, _ in pairs if y._level == level]
            rseeds = [s for y, s in pairs if y._level == level]
        bars = (
            sweep(roots, rseeds, xs, release=release, records=self._records)
            if roots
            else [None] * len(xs)
        )
        for b in bars:
            if b is None:
                break
        else:
            return bars
        s0 = seeds[0] if seeds else None
        m = 1 if s0 is None or type(s0) is np.float64 or not np.ndim(s0) else np.shape(s0)[0]
        return [
            np.zeros_like(x.value, shape=(m,) + tuple(np.shape(x.value))) if b is None else b
            for x, b in zip(xs, bars)
        ]

    def release(self) -> None:
        """Free every record (and the arrays they hold); ``gradient`` does this itself.

        >>> import numpy as np, tape
        >>> with tape.Tape(persistent=True) as t:
        ...     y = t.watch(np.ones(3)).sum()
        >>> t.release(); len(t.records)
        0
        """
        for rec in self._records:
            rec.release()
        self._records.clear()
        self._released = True

    def close(self) -> None:
        """Done with this tape: drop its list of records without walking it (each record
        goes with the last value that holds it; only records holding pooled copies of
        constants are released, to give those back); ``gradient`` then raises as after
        ``release``. dualad closes its own tapes this way after their one sweep.

        >>> import numpy as np, tape
        >>> with tape.Tape() as t:
        ...     y = t.watch(np.ones(3)).sum()
        >>> t.close(); len(t.records)
        0
        """
        records, self._records = self._records, []
        self._released = True
        if self._copies:  # records holding copies of constants: theirs go back to the pool
            for rec in records:
                if getattr(rec, "copies", None):
                    rec.release()

    # -- printing ---------------------------------------------------------------------------
    def __str__(self) -> str:
        names: dict[int, str] = {}

        def name(i):  # by node id: a Variable rebound by item assignment changes its id
            if i not in names:
                names[i] = f"v{len(names)}"
            return names[i]

        lines = [f"Tape ({len(self._records)} records)"]
        for w in self._watched:
            lines.append("  " + f"{name(w._id):>4} = input".ljust(34) + f" # {_describe(w.value)}")
        for rec in self._records:
            lines.append("  " + _record_line(rec, name))
        return "\n".join(lines)

    __repr__ = __str__


def _describe(x) -> str:
    return f"{tuple(np.shape(x))} {getattr(x, 'dtype', type(x).__name__)}"


def _arg_text(a, vars_by_pos, pos, name):
    if pos in vars_by_pos:
        return name(vars_by_pos[pos])
    if type(a) in (list, tuple):
        items = [_arg_text(b, vars_by_pos, pos + (j,), name) for j, b in enumerate(a)]
        if type(a) is list:
            return "[" + ", ".join(items) + "]"
        return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
    if isinstance(a, (str, bool, np.dtype, type)):  # einsum's subscripts, UPLO, a dtype
        return repr(a)
    if isinstance(a, _tags.Leveled):  # a Dual constant (an outer derivative level)
        return f"{type(a).__name__}(shape={tuple(a.shape)})"
    if isinstance(a, (int, float, np.generic)) or (hasattr(a, "shape") and np.size(a) == 1):
        return repr(a) if not hasattr(a, "shape") else f"{np.ravel(a)[0]:g}"
    if isinstance(a, slice) or a is None or a is Ellipsis:
        return repr(a)
    return f"const{tuple(np.shape(a))}"


def _record_line(rec, name) -> str:
    if rec.released:
        return "(released)"
    by_pos = {path: vid for path, _, vid in rec.inputs}
    args = ", ".join(_arg_text(a, by_pos, (i,), name) for i, a in enumerate(rec.args))
    if rec.kwargs:
        args += ", " + ", ".join(f"{k}={v!r}" for k, v in rec.kwargs.items())
    lhs = ", ".join("_" if i < 0 else name(i) for i in rec.out_ids) or "_"
    if type(rec) is ScalarRecord:  # a 0-d float64 output kept as a Python float
        shape = "() float64"
    elif rec.multi:  # one description per output: eigh's (n,) and (n, n)
        shape = ", ".join(_describe(o) for o in rec.out)
    else:
        shape = _describe(rec.out)
    return f"{lhs:>4} = {rec.name}({args})".ljust(34) + f" # {shape}"

"""Operators and ndarray-style methods shared by ``Dual`` and ``tape.Variable``.

Every operator becomes the matching NumPy ufunc/function, dispatched to whichever wrapper
has the highest level among the operands (``_apply``). Comparisons work on the plain values
so ``if``, ``while`` and ``np.where`` behave as in NumPy. Imports numpy and _tags only.
"""

from __future__ import annotations

import functools
import inspect
import math
import numbers
import sys

from dualad._numpy import np

from . import _tracing
from ._tags import Deferring, Leveled

LOST = (
    "converting a {cls} to {what} would silently drop its derivative. Use .{attr} for the "
    "value (the derivative is then not tracked), or keep the computation in NumPy calls."
)
#: Appended where interception helps: a conversion inside code that calls np.asarray/math.*.
INTERCEPT_HINT = (
    " If the conversion happens in code you call (np.asarray, np.array, math.sin, ...), pass "
    "intercept=True (dualad.grad(f, x, intercept=True)) or use `with dualad.intercept():`; "
    "float(), int() and .item() stay errors even then."
)


def is_complex(x) -> bool:
    """True if ``x`` (an array, a scalar, a wrapper, or a list/tuple of them) is complex."""
    if type(x) is complex:
        return True
    if type(x) in (list, tuple) or hasattr(x, "_fields"):
        return any(is_complex(v) for v in x)
    dt = getattr(x, "dtype", None)
    return dt is not None and getattr(dt, "kind", None) == "c"


#: Whether interception is on in this context; dualad._intercept replaces it when imported.
intercepting = bool


def _hint() -> str:
    """What to say about interception where a conversion fails."""
    if not intercepting():
        return INTERCEPT_HINT
    # on already: the caller most likely bound the function by name (`from math import sin`)
    frame = sys._getframe(2)
    while frame.f_back is not None and frame.f_globals.get("__name__", "").startswith(
        ("dualad.", "tape.")
    ):
        frame = frame.f_back
    mod = frame.f_globals.get("__name__", "?")
    return (
        f" Interception is on, so the call at {mod}, line {frame.f_lineno}, probably reached a "
        "function imported by name before it was switched on (`from math import sin`, "
        "`from numpy import asarray`). Rebind such names with "
        f"`with dualad.intercept(from_imports=sys.modules[{mod!r}]):` (changes that module's "
        "globals for good), or call them as math.sin / np.asarray."
    )


def strip(a):
    """The value under every wrapper (for results that carry no derivative). A promotable
    buffer (dualad._buffer) reads as the value of the wrapper it stands for: its own memory
    is stale once a wrapper was written into it."""
    while isinstance(a, Leveled):
        a = a._unwrap()
    if isinstance(a, Deferring):
        from ._buffer import resolve

        return strip(resolve(a))
    if type(a) in (list, tuple):
        return type(a)(strip(b) for b in a)
    return a


def differentiable(x) -> bool:
    """True for float or complex values: results that carry a derivative."""
    dt = getattr(x, "dtype", None)
    return dt is not None and dt.kind in "fc"


#: Functions taking a sequence of arrays first, whose items NumPy converts with np.asarray.
_SEQUENCE_FUNCS = frozenset({np.concatenate, np.stack, np.vstack, np.hstack, np.dstack,
                             np.column_stack, np.concat})  # fmt: skip


def _holds(seq) -> bool:
    return any(isinstance(b, Leveled) or (type(b) in (list, tuple) and _holds(b)) for b in seq)


def _as_array(seq):
    """A list or tuple holding wrappers as the array NumPy would make of it (np.stack, which
    keeps the derivative), inner lists first."""
    return np.stack([_as_array(b) if type(b) in (list, tuple) else b for b in seq])


#: Functions whose positional arguments (from the index given) are array operands, which
#: NumPy converts with np.asarray: a list among them becomes an array first.
_OPERAND_FUNCS = {np.dot: 0, np.inner: 0, np.outer: 0, np.vdot: 0, np.kron: 0, np.cross: 0,
                  np.tensordot: 0, np.where: 0, np.einsum: 1}  # fmt: skip


def _operands(func, args: tuple) -> tuple:
    """``args`` with each list or tuple operand made the array NumPy would make of it: with
    ``np.stack`` where it holds wrappers (NumPy's asarray would lose their derivative), with
    ``np.asarray`` where it holds plain numbers (so rules meet arrays, as NumPy's loops do)."""
    start = 0 if isinstance(func, np.ufunc) else _OPERAND_FUNCS.get(func)
    if start is None:
        return args
    for i in range(start, len(args)):
        if type(args[i]) in (list, tuple):
            break
    else:
        return args
    if func is np.tensordot:
        return tuple(_operand(a) if i < 2 else a for i, a in enumerate(args))
    return tuple(_operand(a) if i >= start else a for i, a in enumerate(args))


def _operand(a):
    if type(a) not in (list, tuple):
        return a
    return _as_array(a) if _holds(a) else np.asarray(a)


def stacked_items(func, args: tuple) -> tuple:
    """``args`` of ``np.concatenate([[x0], x[1:]])`` and friends with each inner list that
    holds a wrapper made an array as NumPy would make it (``np.stack``): NumPy itself would
    convert it with ``np.asarray`` and lose the derivative. Operands of ufuncs and products
    given as lists become arrays the same way (``x * [y, 1.0]``, ``np.dot([a, b], x)``)."""
    if func not in _SEQUENCE_FUNCS or not args or type(args[0]) not in (list, tuple):
        return _operands(func, args)
    seq = args[0]
    if not any(type(b) in (list, tuple) and _holds(b) for b in seq):
        return args
    items = type(seq)(_as_array(b) if type(b) in (list, tuple) and _holds(b) else b for b in seq)
    return (items, *args[1:])


def bind_kwargs(func, args, kwargs, level: int):
    """Move keyword arguments that carry a wrapper of ``level`` into positional slots.

    Rules see every differentiable argument positionally; parameters skipped on the way
    get their signature defaults (NumPy's ``_NoValue`` included, which rules accept).
    """
    hot = [n for n, v in kwargs.items() if isinstance(v, Leveled) and v._level == level]
    if not hot:
        return args, kwargs
    name = getattr(func, "__name__", repr(func))
    try:
        params = list(inspect.signature(func).parameters.values())
    except (TypeError, ValueError) as e:
        raise NotImplementedError(
            f"pass the differentiable arguments of {name} positionally"
        ) from e
    index = {p.name: i for i, p in enumerate(params)}
    for n in hot:
        if n not in index or params[index[n]].kind in (
            inspect.Parameter.KEYWORD_ONLY,
            inspect.Parameter.VAR_KEYWORD,
        ):
            raise NotImplementedError(
                f"{name}: the keyword-only argument {n!r} cannot carry a derivative here; "
                "compute with its .primal/.value, or restructure so it is positional"
            )
    last = max(index[n] for n in hot)
    args, kwargs = list(args), dict(kwargs)
    for i in range(len(args), last + 1):
        p = params[i]
        if p.name in kwargs:
            args.append(kwargs.pop(p.name))
        elif p.default is not inspect.Parameter.empty:
            args.append(p.default)
        else:
            raise NotImplementedError(
                f"{name}: pass '{p.name}' too, or pass arguments positionally"
            )
    return tuple(args), kwargs


def _foreign(x) -> bool:
    """True for operand types NumPy cannot use: let Python try the other side."""
    return not isinstance(x, (numbers.Number, np.ndarray, np.generic)) and not hasattr(
        x, "__array_function__"
    )


_PLAIN = frozenset({float, int, np.float64, np.ndarray})


def refuse_object(func, out) -> None:
    """Raise where a traced operation gave an object array (a ``Fraction`` operand, an
    object-dtype constant): its elements are Python objects that carry no derivative, so
    the result would be a constant."""
    if getattr(out, "dtype", None) is not None and out.dtype.kind == "O":
        name = func if type(func) is str else getattr(func, "__name__", func)
        raise TypeError(
            f"{name} of a traced value gave an object array (an operand such as a Fraction, "
            "or an array of dtype=object): its elements carry no derivative. Convert the "
            "operand to float first, e.g. float(Fraction(1, 3)) or a.astype(float)"
        )


def _exotic(b) -> bool:
    """A number NumPy turns into an object array (Fraction, Decimal, ...)."""
    return (
        isinstance(b, numbers.Number)
        and type(b) not in (bool, complex)
        and not isinstance(b, np.generic)
        and not isinstance(b, Leveled)
    )


def _binary(ufunc, a, b):
    """Operator fast path: ``ufunc(a, b)`` (or ``ufunc(a)`` when ``b is None``)."""
    if b is None:
        return a._apply(ufunc, (a,), {}, a._level)
    if type(b) in _PLAIN:  # the common case: a wrapper and a plain number or array
        return a._apply(ufunc, (a, b), {}, a._level)
    if isinstance(b, Leveled):
        if isinstance(a, Deferring):
            return NotImplemented
        if isinstance(a, Leveled) and a._level >= b._level:
            return a._apply(ufunc, (a, b), {}, a._level)
        return b._apply(ufunc, (a, b), {}, b._level)
    if isinstance(b, Deferring) or (type(b) not in (list, tuple) and _foreign(b)):
        return NotImplemented  # a promotable buffer answers for itself (dualad._buffer)
    if _exotic(b):
        refuse_object(ufunc, np.asarray(b))
    return a._apply(ufunc, (a, b), {}, a._level)


def _round(v, ndigits=None):
    if isinstance(v, np.ndarray) and v.ndim == 0:
        v = v[()]  # a NumPy scalar rounds; a 0-d array does not
    return round(v, ndigits)


_UNSET = object()  # an ndarray method's argument not given


def _given(**kwargs) -> dict:
    """The keyword arguments actually given (not ``_UNSET``)."""
    return {k: v for k, v in kwargs.items() if v is not _UNSET}


class ArrayOps(Leveled):
    """Mixin: Python operators, comparisons and ndarray methods for a leveled wrapper.

    Subclasses provide ``_unwrap()`` (the wrapped value) and
    ``_apply(func, args, kwargs, level)`` (run ``func`` at ``level``).
    """

    __slots__ = ()
    _value_attr = "value"

    # -- coercions that would lose the derivative -----------------------------------------
    def _lost(self, what, hint=""):
        cls, attr = type(self).__name__, self._value_attr
        return TypeError(LOST.format(cls=cls, what=what, attr=attr) + hint)

    def __array__(self, dtype=None, copy=None):
        raise self._lost(
            "a NumPy array (np.asarray / np.array; to build an array from several values use "
            "np.stack([...]) or np.concatenate, which keep the derivative; writing it into a "
            "plain array, out[...] = value, converts it too: make out with "
            "np.zeros_like(value) instead)",
            _hint(),
        )

    def __float__(self):
        raise self._lost("a Python float", _hint())

    def __int__(self):
        raise self._lost("a Python int")

    def __complex__(self):
        raise self._lost("a Python complex")

    def __index__(self):
        raise self._lost("an index")

    def item(self, *args):
        raise self._lost("a Python scalar (.item())")

    def tolist(self):
        raise self._lost("a Python list (.tolist())")

    # -- integer roundings: piecewise constant, so answered from the value (as NumPy's) ----
    def __floor__(self):
        if _tracing.ACTIVE is not None:
            return _tracing.ACTIVE.consume(math.floor, self)
        return math.floor(strip(self))

    def __ceil__(self):
        if _tracing.ACTIVE is not None:
            return _tracing.ACTIVE.consume(math.ceil, self)
        return math.ceil(strip(self))

    def __trunc__(self):
        if _tracing.ACTIVE is not None:
            return _tracing.ACTIVE.consume(math.trunc, self)
        return math.trunc(strip(self))

    def __round__(self, ndigits=None):
        if _tracing.ACTIVE is not None:
            return _tracing.ACTIVE.consume(_round, self, ndigits)
        return _round(strip(self), ndigits)

    def __bool__(self) -> bool:
        if _tracing.ACTIVE is not None:  # Python branches on it: a guard
            return _tracing.ACTIVE.consume(bool, self)
        return bool(strip(self))

    def __len__(self) -> int:
        return len(strip(self))

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    itemsize = property(lambda self: strip(self).dtype.itemsize)
    nbytes = property(lambda self: strip(self).nbytes)
    shape = property(lambda self: np.shape(strip(self)))
    ndim = property(lambda self: np.ndim(strip(self)))
    size = property(lambda self: int(np.size(strip(self))))
    dtype = property(lambda self: strip(self).dtype)
    T = property(lambda self: np.transpose(self))
    mT = property(lambda self: np.swapaxes(self, -1, -2))
    real = property(lambda self: np.real(self), lambda self, v: self._set_part(np.real, v))
    imag = property(lambda self: np.imag(self), lambda self, v: self._set_part(np.imag, v))

    def _set_part(self, part, value) -> None:
        """``a.real = value`` / ``a.imag = value``: as NumPy, a write into that half of each
        element (``a.real *= 2`` ends here too, after its in-place write through the view)."""
        if self.dtype.kind != "c":
            if part is np.imag:  # NumPy's own refusal (np.imag of a real array is a copy)
                raise TypeError("array does not have imaginary part to set")
            self[...] = value
            return
        part(self)[...] = value

    # the array API: SciPy (SCIPY_ARRAY_API=1) and array-API libraries find NumPy's
    # functions here, with constructors that keep the wrapper (dualad._namespace)
    device = property(lambda self: getattr(strip(self), "device", "cpu"))

    def __array_namespace__(self, *, api_version=None):
        from ._namespace import NAMESPACE

        return NAMESPACE

    def to_device(self, device, /, *, stream=None):
        if device != self.device:
            raise ValueError(f"{type(self).__name__}.to_device: only {self.device!r} here")
        return self

    # -- comparisons: plain boolean arrays of the primal, so if/while/np.where work --------
    # (under dualad.compile's tracer the result is followed: see dualad._tracing)
    def __lt__(self, o):
        if _tracing.ACTIVE is not None:
            return _tracing.ACTIVE.plain(np.less, (self, o), {})
        return strip(self) < strip(o)

    def __le__(self, o):
        if _tracing.ACTIVE is not None:
            return _tracing.ACTIVE.plain(np.less_equal, (self, o), {})
        return strip(self) <= strip(o)

    def __gt__(self, o):
        if _tracing.ACTIVE is not None:
            return _tracing.ACTIVE.plain(np.greater, (self, o), {})
        return strip(self) > strip(o)

    def __ge__(self, o):
        if _tracing.ACTIVE is not None:
            return _tracing.ACTIVE.plain(np.greater_equal, (self, o), {})
        return strip(self) >= strip(o)

    def __eq__(self, o):
        if _tracing.ACTIVE is not None:
            return _tracing.ACTIVE.plain(np.equal, (self, o), {})
        return strip(self) == strip(o)

    def __ne__(self, o):
        if _tracing.ACTIVE is not None:
            return _tracing.ACTIVE.plain(np.not_equal, (self, o), {})
        return strip(self) != strip(o)

    # -- arithmetic -----------------------------------------------------------------------
    def __add__(self, o):
        return _binary(np.add, self, o)

    def __radd__(self, o):
        return _binary(np.add, o, self)

    def __sub__(self, o):
        return _binary(np.subtract, self, o)

    def __rsub__(self, o):
        return _binary(np.subtract, o, self)

    def __mul__(self, o):
        if o is self:
            return _binary(np.square, self, None)
        return _binary(np.multiply, self, o)

    def __rmul__(self, o):
        return _binary(np.multiply, o, self)

    def __truediv__(self, o):
        return _binary(np.divide, self, o)

    def __rtruediv__(self, o):
        return _binary(np.divide, o, self)

    def __floordiv__(self, o):
        return _binary(np.floor_divide, self, o)

    def __rfloordiv__(self, o):
        return _binary(np.floor_divide, o, self)

    def __mod__(self, o):
        return _binary(np.remainder, self, o)

    def __rmod__(self, o):
        return _binary(np.remainder, o, self)

    def __divmod__(self, o):
        return np.divmod(self, o)

    def __rdivmod__(self, o):
        return np.divmod(o, self)

    def __pow__(self, o):
        if isinstance(o, numbers.Real) and o == 2:
            return _binary(np.square, self, None)
        return _binary(np.power, self, o)

    def __rpow__(self, o):
        return _binary(np.power, o, self)

    def __matmul__(self, o):
        return _binary(np.matmul, self, o)

    def __rmatmul__(self, o):
        return _binary(np.matmul, o, self)

    def __neg__(self):
        return _binary(np.negative, self, None)

    def __pos__(self):
        return _binary(np.positive, self, None)

    def __abs__(self):
        return _binary(np.absolute, self, None)

    # -- augmented assignment: in place on arrays, as NumPy's ---------------------------------
    # ``v += 1`` writes into ``v`` (and every view sharing its memory); a value held as a NumPy
    # scalar (0-d results, packed floats) is immutable, so Python rebinds it instead.
    def _inplace(self, func, o):
        if not isinstance(strip(self), np.ndarray):
            return NotImplemented
        res = func(self, o)
        _check_cast(func, res, self, "same_kind")  # as NumPy's in-place operators cast
        self[...] = res
        return self

    def __iadd__(self, o):
        return self._inplace(np.add, o)

    def __isub__(self, o):
        return self._inplace(np.subtract, o)

    def __imul__(self, o):
        return self._inplace(np.multiply, o)

    def __itruediv__(self, o):
        return self._inplace(np.divide, o)

    def __ifloordiv__(self, o):
        return self._inplace(np.floor_divide, o)

    def __imod__(self, o):
        return self._inplace(np.remainder, o)

    def __ipow__(self, o):
        return self._inplace(np.power, o)

    def __imatmul__(self, o):
        return self._inplace(np.matmul, o)

    # -- ndarray methods, delegated to the NumPy functions -----------------------------------
    # (NumPy's ndarray signatures; only the arguments given are passed on, so other backends'
    # functions, which may not take every keyword, see the calls they saw before)
    def sum(self, axis=None, dtype=_UNSET, out=_UNSET, keepdims=_UNSET, initial=_UNSET,
            where=_UNSET):  # fmt: skip
        kw = _given(dtype=dtype, out=out, keepdims=keepdims, initial=initial, where=where)
        return np.sum(self, axis=axis, **kw)

    def mean(self, axis=None, dtype=_UNSET, out=_UNSET, keepdims=_UNSET, *, where=_UNSET):
        return np.mean(
            self, axis=axis, **_given(dtype=dtype, out=out, keepdims=keepdims, where=where)
        )

    def prod(self, axis=None, dtype=_UNSET, out=_UNSET, keepdims=_UNSET, initial=_UNSET,
             where=_UNSET):  # fmt: skip
        kw = _given(dtype=dtype, out=out, keepdims=keepdims, initial=initial, where=where)
        return np.prod(self, axis=axis, **kw)

    def max(self, axis=None, out=_UNSET, keepdims=_UNSET, initial=_UNSET, where=_UNSET):
        kw = _given(out=out, keepdims=keepdims, initial=initial, where=where)
        return np.max(self, axis=axis, **kw)

    def min(self, axis=None, out=_UNSET, keepdims=_UNSET, initial=_UNSET, where=_UNSET):
        kw = _given(out=out, keepdims=keepdims, initial=initial, where=where)
        return np.min(self, axis=axis, **kw)

    def std(self, axis=None, dtype=_UNSET, out=_UNSET, ddof=_UNSET, keepdims=_UNSET, *,
            where=_UNSET, mean=_UNSET, correction=_UNSET):  # fmt: skip
        kw = _given(dtype=dtype, out=out, ddof=ddof, keepdims=keepdims, where=where, mean=mean,
                    correction=correction)  # fmt: skip
        return np.std(self, axis=axis, **kw)

    def var(self, axis=None, dtype=_UNSET, out=_UNSET, ddof=_UNSET, keepdims=_UNSET, *,
            where=_UNSET, mean=_UNSET, correction=_UNSET):  # fmt: skip
        kw = _given(dtype=dtype, out=out, ddof=ddof, keepdims=keepdims, where=where, mean=mean,
                    correction=correction)  # fmt: skip
        return np.var(self, axis=axis, **kw)

    def cumsum(self, axis=None, dtype=_UNSET, out=_UNSET):
        return np.cumsum(self, axis=axis, **_given(dtype=dtype, out=out))

    def cumprod(self, axis=None, dtype=_UNSET, out=_UNSET):
        return np.cumprod(self, axis=axis, **_given(dtype=dtype, out=out))

    def reshape(self, *shape, order="C"):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        # (order only when asked: other backends' reshape may take no order, as Dask's)
        return np.reshape(self, shape) if order == "C" else np.reshape(self, shape, order=order)

    def ravel(self, order="C"):
        return np.ravel(self) if order == "C" else np.ravel(self, order=order)

    def flatten(self, order="C"):
        return np.ravel(self, order=order).copy()

    def transpose(self, *axes):
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return np.transpose(self, axes or None)

    def swapaxes(self, a, b):
        return np.swapaxes(self, a, b)

    def squeeze(self, axis=None):
        return np.squeeze(self, axis=axis)

    def copy(self, order="K"):
        if order == "K" and not isinstance(strip(self), (np.ndarray, np.generic)):
            # Dask has no np.copy (NumPy's would compute the whole graph): the same new
            # array, lazily, as a ufunc of derivative 1
            return np.positive(self)
        return np.copy(self) if order == "K" else np.copy(self, order=order)

    def __copy__(self):  # copy.copy(a): a new array, as for an ndarray (the slots would share)
        return self.copy()

    def __contains__(self, value) -> bool:  # ``v in a``: NumPy's (a == v).any(), no derivative
        return bool(np.any(strip(self) == strip(value)))

    def __format__(self, spec: str) -> str:
        """``f"{loss:.3f}"``: a 0-d value formats its number, as a NumPy scalar does (the
        text carries no derivative; nothing is converted)."""
        if not spec:
            return str(self)
        v = strip(self)
        if np.ndim(v) == 0:
            return format(np.asarray(v)[()], spec)
        raise TypeError(f"unsupported format string passed to {type(self).__name__}.__format__")

    def conj(self):
        return np.conjugate(self)

    conjugate = conj

    def dot(self, b, out=_UNSET):
        return np.dot(self, b, **_given(out=out))

    def clip(self, min=None, max=None, out=_UNSET, **kwargs):
        return np.clip(self, min, max, **_given(out=out), **kwargs)

    def diagonal(self, offset=0, axis1=0, axis2=1):
        return np.diagonal(self, offset, axis1, axis2)

    def trace(self, offset=0, axis1=0, axis2=1):
        return np.trace(self, offset, axis1, axis2)

    def repeat(self, repeats, axis=None):
        return np.repeat(self, repeats, axis=axis)

    def take(self, indices, axis=None, out=_UNSET, mode=_UNSET):
        return np.take(self, indices, axis=axis, **_given(out=out, mode=mode))

    def argmax(self, axis=None, out=_UNSET, *, keepdims=_UNSET):
        # (through the dispatch: compile's trace guards it)
        return np.argmax(self, axis=axis, **_given(out=out, keepdims=keepdims))

    def argmin(self, axis=None, out=_UNSET, *, keepdims=_UNSET):
        # (through the dispatch: compile's trace guards it)
        return np.argmin(self, axis=axis, **_given(out=out, keepdims=keepdims))

    def argsort(self, axis=-1):
        return np.argsort(self, axis=axis)  # (through the dispatch: compile's trace guards it)

    def nonzero(self):
        return np.nonzero(self)

    def any(self, axis=None, out=_UNSET, keepdims=_UNSET, *, where=_UNSET):
        # (through the dispatch: compile's trace guards it)
        return np.any(self, axis=axis, **_given(out=out, keepdims=keepdims, where=where))

    def all(self, axis=None, out=_UNSET, keepdims=_UNSET, *, where=_UNSET):
        # (through the dispatch: compile's trace guards it)
        return np.all(self, axis=axis, **_given(out=out, keepdims=keepdims, where=where))

    # -- in-place methods: writes, as ``x[...] = ...`` (each subclass's __setitem__) --------
    def sort(self, axis=-1, kind=None, order=None):
        """In place, as ``ndarray.sort``: the sorted values written back (``self[...] =``)."""
        if order is not None:
            raise NotImplementedError("sort(order=...) (structured arrays) on a traced array")
        self[...] = np.sort(self, axis=axis, kind=kind)

    def fill(self, value):
        """In place, as ``ndarray.fill``."""
        self[...] = value

    def put(self, indices, values, mode="raise"):
        """In place, as ``ndarray.put`` (``np.put``)."""
        np.put(self, indices, values, mode=mode)

    def partition(self, kth, axis=-1, kind="introselect", order=None):
        """In place, as ``ndarray.partition``: a write of ``np.partition``'s result."""
        if order is not None:
            raise NotImplementedError("partition(order=...) (structured arrays) on a traced array")
        self[...] = np.partition(self, kth, axis=axis, kind=kind)

    def round(self, decimals=0, out=_UNSET):
        return np.round(self, decimals, **_given(out=out))

    def compress(self, condition, axis=None):
        return np.compress(condition, self, axis=axis)

    def searchsorted(self, v, side="left", sorter=None):
        return np.searchsorted(self, v, side=side, sorter=sorter)

    def argpartition(self, kth, axis=-1, kind="introselect", order=None):
        return np.argpartition(self, kth, axis=axis, kind=kind, order=order)

    def _unsupported(name, hint):
        def method(self, *args, **kwargs):
            raise NotImplementedError(
                f"{type(self).__name__}.{name} (numpy.ndarray.{name}) is not supported on a "
                f"traced array: {hint}"
            )

        method.__name__ = name
        return method

    _view_bytes = _unsupported(
        "view", "a reinterpretation of the bytes (another dtype or type) has no derivative"
    )

    def view(self, dtype=None, type=None):
        """``x.view()``: a view of the whole array (as ``x[...]``, so writes through it show
        in ``x``); another dtype or type raises NotImplementedError."""
        if dtype is None and type is None:
            return self[...]
        return self._view_bytes(dtype, type)

    byteswap = _unsupported("byteswap", "byte order has no derivative")
    resize = _unsupported("resize", "use np.resize(x, shape), which returns a new array")
    tobytes = _unsupported("tobytes", "bytes carry no derivative; use .value (or .primal)")
    tofile = _unsupported("tofile", "use .value (or .primal) to save the values")
    dump = _unsupported("dump", "use .value (or .primal) to save the values")
    dumps = _unsupported("dumps", "use .value (or .primal) to save the values")
    getfield = _unsupported("getfield", "a reinterpretation of the bytes has no derivative")
    setfield = _unsupported("setfield", "a reinterpretation of the bytes has no derivative")
    setflags = _unsupported("setflags", "traced arrays have no flags to set")
    del _unsupported

    @property
    def flat(self):
        raise NotImplementedError(
            f"{type(self).__name__}.flat (numpy.ndarray.flat) is not supported: use "
            "x.reshape(-1)[i] to read and np.put(x, i, v) to write"
        )


def _check_cast(func, res, target, casting: str) -> None:
    """Raise as NumPy does where ``res`` cannot be cast into ``target`` by ``casting``
    (complex into a float array by an in-place operator, say): dualad would otherwise write
    the real part, where the program run by NumPy stops."""
    rd, td = getattr(strip(res), "dtype", None), getattr(strip(target), "dtype", None)
    if rd is None or td is None or rd == td or np.can_cast(rd, td, casting):
        return
    raise TypeError(
        f"Cannot cast ufunc {getattr(func, '__name__', func)!r} output from {rd!r} to {td!r} "
        f"with casting rule {casting!r}"
    )


def write_out(func, out, res, casting=None):
    """``func(..., out=out)``: ``res`` written into ``out[0]`` in place (views see it).
    ``casting``: a ufunc's rule (``same_kind`` by default), checked as NumPy checks it."""
    target = out[0]
    if casting is not None and casting != "unsafe":
        _check_cast(func, res, target, casting)
    if isinstance(target, Leveled):
        target[...] = res
        return target
    if isinstance(res, Leveled):
        raise TypeError(
            f"{getattr(func, '__name__', func)}(..., out=array) would write a "
            f"{type(res).__name__} into a plain array and drop its derivative; leave out= off, "
            "or pass a buffer made from the value (np.zeros_like(x))"
        )
    target[...] = res
    return target


#: Functions of a sequence of arrays: given one array, NumPy iterates it along its first axis.
_SEQUENCE_TAKERS = frozenset(
    {np.stack, np.vstack, np.hstack, np.dstack, np.column_stack, np.concatenate}
)


def rows_of_one(func, args):
    """``args`` with a single wrapper in the sequence slot replaced by the list of its rows
    (``np.vstack(x)`` is ``np.vstack([x[0], x[1], ...])``), or None when that does not apply."""
    if func in _SEQUENCE_TAKERS and args and isinstance(args[0], Leveled):
        a = args[0]
        return ([a[i] for i in range(len(a))], *args[1:])
    return None


def _nested(x) -> bool:
    """True for a list holding another list (``np.block`` of a 2-d arrangement)."""
    return type(x) is list and any(type(e) is list for e in x)


def block(arrays):
    """``np.block`` of nested lists holding wrappers, as nested ``np.concatenate`` calls.

    NumPy's rule: with list depth ``d``, every leaf is promoted to ``max(d, ndim)``
    dimensions (axes prepended), and depth ``k`` joins along axis ``-(d - k)``. Each
    concatenate then dispatches to the wrapper like any other call.
    """

    def depths(x, k):
        if type(x) is list:
            if not x:
                raise ValueError("np.block: lists cannot be empty")
            return [dd for e in x for dd in depths(e, k + 1)]
        if type(x) is tuple:
            raise TypeError("np.block: arrays is a tuple; only lists can be used to arrange blocks")
        return [(k, np.ndim(x) if not isinstance(x, Leveled) else len(x.shape))]

    found = depths(arrays, 0)
    d = found[0][0]
    if any(k != d for k, _ in found):
        raise ValueError("np.block: list depths are mismatched")
    ndim = max([d] + [nd for _, nd in found])

    def join(x, k):
        if type(x) is list:
            return np.concatenate([join(e, k + 1) for e in x], axis=-(d - k))
        shape = tuple(np.shape(x)) if not isinstance(x, Leveled) else tuple(x.shape)
        return np.reshape(x, (1,) * (ndim - len(shape)) + shape) if len(shape) < ndim else x

    return join(arrays, 0)


def ufunc_at(ufunc, a, indices, b=None) -> None:
    """``ufunc.at(a, indices[, b])`` where ``a`` or ``b`` is traced: ``a`` updated in place
    (views of it see the update) as NumPy's unbuffered ``at`` does, entry by entry in order,
    so an index named several times is updated several times.

    ``np.add.at`` and ``np.subtract.at`` are one scatter-add (``index_add``, whose rule sums
    repeated entries); every other ufunc is applied in rounds, the r-th occurrence of each
    index in round r, which keeps NumPy's order for each entry. Returns None, as NumPy does.

    >>> import numpy as np, dualad
    >>> def f(x):
    ...     y = np.zeros_like(x)
    ...     np.add.at(y, [0, 2, 0], x)
    ...     return y
    >>> dualad.jacobian(f, np.array([1.0, 2.0, 3.0]))
    array([[1., 0., 1.],
           [0., 0., 0.],
           [0., 1., 0.]])
    """
    from .rules.indexing import index_add

    name = f"numpy.{ufunc.__name__}.at"
    if (ufunc.nin == 2) != (b is not None):
        raise TypeError(f"{name} takes {'a second operand b' if ufunc.nin == 2 else 'no b'}")
    if ufunc.nout != 1:
        raise NotImplementedError(f"{name}: a ufunc with {ufunc.nout} outputs has no at() here")
    if not isinstance(a, Leveled):
        raise TypeError(
            f"{name}(array, indices, b) would write a {type(b).__name__} into a plain array and "
            "drop its derivative; make the target from the value (y = np.zeros_like(x)) or "
            "build the result functionally"
        )
    shape = tuple(np.shape(a))
    # the flat position of every entry the key names, in NumPy's order (repeats kept)
    pos = np.arange(math.prod(shape), dtype=np.intp).reshape(shape)[indices]
    if b is not None:
        vals = np.broadcast_to(b, pos.shape)
        bdt = np.result_type(strip(vals))
        _check_cast(ufunc, ufunc(np.zeros(0, a.dtype), np.zeros(0, bdt)), a, "same_kind")
    if ufunc is np.add or ufunc is np.subtract:
        upd = index_add(np.reshape(vals, (1, -1)), (pos.reshape(-1),), (math.prod(shape),))
        upd = np.reshape(upd, shape)
        a[...] = a + upd if ufunc is np.add else a - upd
        return
    flat = pos.reshape(-1)
    order = np.argsort(flat, kind="stable")
    sorted_pos = flat[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_pos)) + 1] if flat.size else np.zeros(0, int)
    rank = np.empty(flat.size, dtype=np.intp)  # which occurrence of its index each entry is
    rank[order] = np.arange(flat.size) - np.repeat(starts, np.diff(np.r_[starts, flat.size]))
    v = None if b is None else np.reshape(vals, (-1,))
    for r in range(int(rank.max()) + 1 if flat.size else 0):
        sel = np.flatnonzero(rank == r)
        where = np.unravel_index(flat[sel], shape)
        a[where] = ufunc(a[where]) if v is None else ufunc(a[where], v[sel])


@functools.cache
def _out_position(func) -> tuple:
    """``(position of out, names of the parameters after it)`` for a function whose ``out``
    may be passed by position (``np.dot(a, b, out)``, ``np.outer(a, b, out)``,
    ``np.concatenate(xs, 0, out)``); ``()`` where it may not, or there is none."""
    try:
        params = list(inspect.signature(func).parameters.values())
    except (TypeError, ValueError):
        return ()
    for i, p in enumerate(params):
        if p.kind not in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            return ()
        if p.name == "out":
            return i, tuple(q.name for q in params[i + 1 :])
    return ()


def split_out(func, args: tuple, kwargs: dict):
    """``(args, kwargs, out)``: the call without its ``out`` and the ``out`` given (None
    where none), whether by keyword or by position; the arguments after a positional ``out``
    move into ``kwargs`` by name. (NumPy itself moves a ufunc's positional out.)

    >>> import numpy as np
    >>> y = np.zeros(2)
    >>> split_out(np.take, (np.ones(3), [0, 1], None, y), {})[2] is y
    True
    """
    if "out" in kwargs:
        return args, {k: v for k, v in kwargs.items() if k != "out"}, kwargs["out"]
    if len(args) > 1 and not isinstance(func, np.ufunc):
        place = _out_position(func)
        if place and len(args) > place[0]:
            pos, later = place
            return args[:pos], {**dict(zip(later, args[pos + 1 :])), **kwargs}, args[pos]
    return args, kwargs, None

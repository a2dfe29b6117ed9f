"""Opt-in interception: ``np.asarray``, ``np.array``, ... and ``math.*`` accept wrappers.

The wrappers replace attributes of the ``numpy`` and ``math`` modules once, under a lock, the
first time interception is switched on, and stay installed. They are dormant unless the
ContextVar ``_ON`` (or the process-wide ``config.intercept``) says the calling context
differentiates, and even then act only on an argument that is or holds a wrapper (any
``Leveled``): plain inputs reach the original function untouched. Attributes are never saved
and restored per call (overlapping threads would restore the wrong function). Imports numpy,
math, ``_ops`` and ``_tags``; never ``dual`` or ``tape``.
"""

from __future__ import annotations

import contextlib
import contextvars
import copyreg
import functools
import inspect
import itertools
import math
import os
import pydoc
import sys
import threading
from collections.abc import Callable, Iterator

import numpy as np

from . import _foreign, _tracing
from ._buffer import Buffer, make, resolve, wrapper_of
from ._ops import strip
from ._tags import Leveled

#: Interception in this context: True/False where set, else the process-wide switch.
_ON: contextvars.ContextVar[bool] = contextvars.ContextVar("dualad_intercept")
#: The process-wide switch (``config.intercept``): the ContextVar's fallback.
_GLOBAL = False
_LOCK = threading.Lock()
_installed = False

_ARRAY_NAMES = (
    "array", "asarray", "asanyarray", "ascontiguousarray", "asfortranarray",
    "asarray_chkfinite", "require", "fromiter",
)  # fmt: skip
#: The functions as they were when dualad was imported: ``ORIGINAL[numpy.asarray]`` etc.
#: (keys and values are the originals; the wrappers call these, never the module attribute).
ORIGINAL: dict[str, Callable] = {f"numpy.{n}": getattr(np, n) for n in _ARRAY_NAMES}
_asarray = ORIGINAL["numpy.asarray"]


_NONE = object()  # an argument not passed


def _holds(x) -> bool:
    """True when ``x`` is a wrapper, a promotable buffer, or a list/tuple (nested ones
    included) holding one."""
    if isinstance(x, (Leveled, Buffer)):
        return True
    if isinstance(x, (list, tuple)):
        for e in x:
            t = type(e)
            if t is float or t is int:
                continue
            if isinstance(e, (Leveled, Buffer)) or (isinstance(e, (list, tuple)) and _holds(e)):
                return True
    return False


# -- array constructors ----------------------------------------------------------------------


def _build(obj):
    """``obj`` as one wrapper: nested lists/tuples holding wrappers become ``np.stack`` of
    their rows, recursively; plain numbers stay Python numbers (NumPy's weak promotion)."""
    if isinstance(obj, (Leveled, Buffer)):
        return obj
    rows = []
    for e in obj:
        if isinstance(e, (Leveled, Buffer, int, float, complex)):
            rows.append(e)
        elif isinstance(e, (list, tuple)) and _holds(e):
            rows.append(_build(e))
        else:
            rows.append(_asarray(e))
    return np.stack(rows)


def _dtype_of(w) -> np.dtype:
    return np.result_type(strip(w))


def _lost_dtype(func: str, w, dt: np.dtype) -> TypeError:
    return TypeError(
        f"np.{func}(..., dtype={dt}) on a {type(w).__name__} would drop its derivative: "
        f"{dt} holds no derivative. Use a float or complex dtype, or .{w._value_attr} for the "
        "value alone."
    )


_CM = getattr(np, "_CopyMode", None)  # NumPy's spelling of copy=True/None/False, still accepted
_COPY_MODE = {} if _CM is None else {_CM.ALWAYS: True, _CM.IF_NEEDED: None, _CM.NEVER: False}


def _convert(func: str, obj, dtype=None, copy=None, ndmin: int = 0, call=None):
    """What ``np.<func>`` returns for an ``obj`` holding wrappers: a wrapper itself, copied
    where NumPy copies, cast to float/complex ``dtype`` (a narrower kind raises).

    ``call``: the ``(args, kwargs)`` of the user's call. Where ``obj`` is one wrapper of a
    NumPy value and no copy was asked for, NumPy's own function runs on that value and says
    whether it copies (``order=``, a strided view made contiguous, ``requirements=``, a
    NumPy scalar made a 0-d array): the answer then copies, or aliases, exactly as NumPy's."""
    copy = _COPY_MODE.get(copy, copy)
    out = _build(obj)
    new = out is not obj
    if dtype is not None:
        dt = np.dtype(dtype)
        if dt.kind not in "fc":
            raise _lost_dtype(func, out, dt)
        if dt != _dtype_of(out):
            out, new = out.astype(dt), True
    if not new and not copy and call is not None and isinstance(out, Leveled):
        p = strip(out)
        if isinstance(p, (np.ndarray, np.generic, float, complex)) and _numpy_copies(
            func, p, *call
        ):
            if copy is False:  # NumPy raises its own ValueError before this line
                raise ValueError(f"np.{func}(..., copy=False): a copy is needed")
            out, new = np.copy(out), True
    if copy is False and new:
        raise ValueError(
            f"np.{func}(..., copy=False): unable to avoid a copy while building an array "
            "from this object (as NumPy says for plain arrays)."
        )
    if copy and not new:
        out = np.copy(out)
    if ndmin and len(out.shape) < ndmin:
        shape = tuple(out.shape)
        out = np.reshape(out, (1,) * (ndmin - len(shape)) + shape)
    return out


def _numpy_copies(func: str, p, args, kwargs) -> bool:
    """Whether ``np.<func>`` called as the user called it, on the plain value ``p`` in place
    of the wrapper, returns new memory (a copy) rather than ``p`` or a view of it."""
    orig = ORIGINAL[f"numpy.{func}"]
    if args:
        res = orig(p, *args[1:], **kwargs)
    else:
        kw = dict(kwargs)
        kw["object" if func == "array" else "a"] = p
        res = orig(**kw)
    return res is not p and not np.may_share_memory(res, p)


def _arg(args, kwargs, i: int, name: str, default=None):
    return args[i] if len(args) > i else kwargs.get(name, default)


def _array(args, kwargs):
    return _convert(
        "array", _arg(args, kwargs, 0, "object"), _arg(args, kwargs, 1, "dtype"),
        kwargs.get("copy", True), kwargs.get("ndmin", 0), (args, kwargs),
    )  # fmt: skip


def _asarray_like(func: str, ndmin: int = 0):
    def convert(args, kwargs):
        copy = kwargs.get("copy") if func in ("asarray", "asanyarray") else None
        return _convert(
            func, _arg(args, kwargs, 0, "a"), _arg(args, kwargs, 1, "dtype"), copy, ndmin,
            (args, kwargs),
        )  # fmt: skip

    return convert


def _asarray_chkfinite(args, kwargs):
    a, dtype = _arg(args, kwargs, 0, "a"), _arg(args, kwargs, 1, "dtype")
    out = _convert("asarray_chkfinite", a, dtype, None, 0, (args, kwargs))
    if not np.all(np.isfinite(strip(out))):
        raise ValueError("array must not contain infs or NaNs")
    return out


def _require(args, kwargs):
    req = _arg(args, kwargs, 2, "requirements") or ()
    req = {req} if isinstance(req, str) else set(req)
    owns = bool(req & {"O", "OWNDATA"})  # NumPy copies to own the data
    a, dtype = _arg(args, kwargs, 0, "a"), _arg(args, kwargs, 1, "dtype")
    return _convert("require", a, dtype, owns or None, 0, (args, kwargs))


_CONVERT = {
    "array": _array,
    "asarray": _asarray_like("asarray"),
    "asanyarray": _asarray_like("asanyarray"),
    "ascontiguousarray": _asarray_like("ascontiguousarray", ndmin=1),
    "asfortranarray": _asarray_like("asfortranarray", ndmin=1),
    "asarray_chkfinite": _asarray_chkfinite,
    "require": _require,
}


def _call(orig, first, args, kwargs):
    """``orig`` called as the wrapper was (the one-argument call does not come here)."""
    return orig(*args, **kwargs) if first is _NONE else orig(first, *args, **kwargs)


def _array_wrapper(name: str) -> Callable:
    orig = ORIGINAL[f"numpy.{name}"]
    convert = _CONVERT[name]
    first = "object" if name == "array" else "a"
    same = name in ("asarray", "asanyarray")  # no copy, no cast: the wrapper itself

    @functools.wraps(orig)
    def wrapper(obj=_NONE, /, *args, **kwargs):
        if _ON.get(_GLOBAL):
            o = kwargs.get(first) if obj is _NONE else obj
            if type(o) is not np.ndarray and _holds(o):
                if same and not (args or kwargs) and isinstance(o, (Leveled, Buffer)):
                    # np.asarray(x): the common call. A promoted buffer answers with its
                    # wrapper, so code that hands it on to compiled routines fails loudly
                    if isinstance(o, Buffer):
                        return resolve(o) if wrapper_of(o) is not None else o
                    if type(strip(o)) is np.ndarray:
                        return o  # NumPy returns the array itself
                return convert(args if obj is _NONE else (obj, *args), kwargs)
        if kwargs or args or obj is _NONE:
            return _call(orig, obj, args, kwargs)
        return orig(obj)  # the common call, without repacking

    return wrapper


def _fromiter_wrapper() -> Callable:
    orig = ORIGINAL["numpy.fromiter"]

    @functools.wraps(orig)
    def fromiter(*args, **kwargs):
        if not _ON.get(_GLOBAL):
            return orig(*args, **kwargs)
        it = _arg(args, kwargs, 0, "iter")
        count = _arg(args, kwargs, 2, "count", -1)
        if not isinstance(it, (Leveled, list, tuple)):
            # an iterator can be read only once: read it here, hand the items on
            it = list(itertools.islice(it, count) if count >= 0 else it)
            if args:
                args = (it,) + args[1:]
            else:
                kwargs = {**kwargs, "iter": it}
        if not _holds(it):
            return orig(*args, **kwargs)
        if count >= 0:
            if count > len(it):
                raise ValueError(
                    f"iterator too short: Expected {count} but iterator had only {len(it)} items."
                )
            it = it[:count]
        return _convert("fromiter", it, _arg(args, kwargs, 1, "dtype"), copy=True)

    return fromiter


# -- math -------------------------------------------------------------------------------------
# Each function first runs math's own original on the primal values, so that domain and
# overflow errors are raised exactly as without dualad; then the matching NumPy function runs
# on the wrapper, which carries the derivative.


def _special(name: str, scipy_name: str) -> Callable:
    def call(x):
        try:
            import scipy.special as sc
        except ImportError as e:
            raise NotImplementedError(
                f"math.{name} on a wrapper needs SciPy: scipy.special.{scipy_name} holds its "
                "derivative rule (pip install scipy)"
            ) from e
        return getattr(sc, scipy_name)(x)

    return call


_UNARY = {
    "sin": np.sin, "cos": np.cos, "tan": np.tan, "asin": np.arcsin, "acos": np.arccos,
    "atan": np.arctan, "sinh": np.sinh, "cosh": np.cosh, "tanh": np.tanh, "asinh": np.arcsinh,
    "acosh": np.arccosh, "atanh": np.arctanh, "exp": np.exp, "expm1": np.expm1,
    "log1p": np.log1p, "log2": np.log2, "log10": np.log10, "sqrt": np.sqrt, "fabs": np.fabs,
    "degrees": np.degrees, "radians": np.radians, "cbrt": np.cbrt, "exp2": np.exp2,
    "erf": _special("erf", "erf"), "erfc": _special("erfc", "erfc"),
    "gamma": _special("gamma", "gamma"), "lgamma": _special("lgamma", "gammaln"),
}  # fmt: skip
_BINARY = {"pow": np.power, "atan2": np.arctan2, "copysign": np.copysign, "fmod": np.fmod}
#: Answered from the primal values: their results are flags or piecewise constant.
_PRIMAL = ("isnan", "isinf", "isfinite", "isclose")


def _log(x, *base):
    out = np.log(x)
    if not base:
        return out
    (b,) = base
    return out / (np.log(b) if isinstance(b, Leveled) else math.log(b))


def _hypot(*coords):
    if not coords:
        return 0.0
    out = np.absolute(coords[0])
    for c in coords[1:]:
        out = np.hypot(out, c)
    return out


def _modf(x):
    return tuple(np.modf(x))


def _frexp(x):
    """``(m, e)`` with ``x = m * 2**e``: the exponent is piecewise constant, a decision made
    from the value (under dualad.compile again at each call); ``m = x / 2**e``."""
    e = _tracing.decide(_exponent, x)
    return x / np.power(2.0, e), e


def _exponent(x) -> int:
    return math.frexp(x)[1]


def _remainder(x, y):
    """IEEE 754 remainder: ``x - n y``, ``n`` the integer nearest ``x / y`` (ties to even),
    moved onto math's exact value."""
    return _exactly(x - y * np.rint(x / y), _MATH_REMAINDER, x, y)


def _exactly(s, exact: Callable, *lists):
    """``s`` with its value moved onto ``exact(*lists)`` (math's correctly rounded sum), by
    adding the difference without a derivative: the derivative is the sum's own. (The
    difference is a decision made from values: dualad.compile makes it again each call.)"""
    return s + _tracing.decide(_rounding, s, exact, *lists)


_MATH_FSUM, _MATH_SUMPROD = math.fsum, getattr(math, "sumprod", None)  # (before wrapping)
_MATH_REMAINDER = math.remainder


def _rounding(s, exact: Callable, *lists) -> float:
    return exact(*lists) - float(s)


def _items(it) -> list:
    return [it[i] for i in range(len(it))] if isinstance(it, Leveled) else list(it)


def _math_wrapper(name: str, orig: Callable, compute: Callable) -> Callable:
    """``math.<name>`` for numbers: a wrapper argument makes it run ``compute`` after the
    original has checked the primal values."""

    @functools.wraps(orig)
    def wrapper(x=_NONE, /, *args, **kwargs):
        if _ON.get(_GLOBAL):
            if not (args or kwargs) and not isinstance(x, Leveled):
                return orig(x) if x is not _NONE else orig()
            args = args if x is _NONE else (x, *args)
            for a in args:
                if isinstance(a, Leveled):
                    orig(*[strip(b) for b in args], **kwargs)  # math's own errors first
                    return compute(*args, **kwargs)
            return orig(*args, **kwargs)
        if kwargs or args or x is _NONE:
            return _call(orig, x, args, kwargs)
        return orig(x)  # the common call, without repacking

    return wrapper


def _primal_wrapper(orig: Callable) -> Callable:
    @functools.wraps(orig)
    def wrapper(*args, **kwargs):
        if _ON.get(_GLOBAL):
            # under dualad.compile a followed step: the bool is a guard, read again each call
            out = _tracing.decide(orig, *args, **kwargs)
            return out if type(out) is bool else bool(out)
        return orig(*args, **kwargs)

    return wrapper


def _iterable_wrapper(orig: Callable, n: int, compute: Callable) -> Callable:
    """``math.fsum/prod/dist/sumprod``: their first ``n`` arguments are iterables, read once
    here; with a wrapper among the items, ``compute(primal_result, *item_lists)``."""

    @functools.wraps(orig)
    def wrapper(*args, **kwargs):
        if not _ON.get(_GLOBAL) or len(args) < n:
            return orig(*args, **kwargs)
        lists = [_items(a) if isinstance(a, Leveled) or not isinstance(a, (list, tuple)) else a
                 for a in args[:n]]  # fmt: skip
        rest = args[n:]
        held = any(_holds(v) for v in lists) or any(isinstance(v, Leveled) for v in kwargs.values())
        if not held:
            return orig(*lists, *rest, **kwargs)
        plain = orig(
            *[[strip(e) for e in v] for v in lists], *rest,
            **{k: strip(v) for k, v in kwargs.items()},
        )  # fmt: skip
        return compute(plain, *lists, **kwargs)

    return wrapper


def _fsum(exact, items):
    return _exactly(np.sum(np.stack(items)), _MATH_FSUM, items)


def _prod(exact, items, start=1):
    out = start
    for e in items:
        out = out * e
    return out


def _dist(exact, p, q):
    return _hypot(*[a - b for a, b in zip(p, q)])


def _sumprod(exact, p, q):
    return _exactly(np.sum(np.stack(p) * np.stack(q)), _MATH_SUMPROD, p, q)


def _math_wrappers() -> dict[str, Callable]:
    out = {}
    for name, np_func in {**_UNARY, **_BINARY, "log": _log, "hypot": _hypot, "modf": _modf,
                          "frexp": _frexp, "remainder": _remainder}.items():  # fmt: skip
        if hasattr(math, name):  # cbrt and exp2 are Python 3.11+
            out[name] = _math_wrapper(name, getattr(math, name), np_func)
    for name in _PRIMAL:
        out[name] = _primal_wrapper(getattr(math, name))
    for name, n, compute in (("fsum", 1, _fsum), ("prod", 1, _prod), ("dist", 2, _dist),
                             ("sumprod", 2, _sumprod)):  # fmt: skip
        if hasattr(math, name):  # sumprod is Python 3.12+
            out[name] = _iterable_wrapper(getattr(math, name), n, compute)
    return out


ORIGINAL.update({f"math.{n}": getattr(math, n) for n in _math_wrappers()})


# -- installing once; switching per context ---------------------------------------------------


# -- buffers: np.zeros & co. return promotable buffers (dualad._buffer) -----------------------
_BUFFERS = ("zeros", "ones", "empty", "full")
_LIKE = ("zeros_like", "ones_like", "empty_like", "full_like")
ORIGINAL.update({f"numpy.{n}": getattr(np, n) for n in _BUFFERS + _LIKE})
_OURS = ("dualad", "tape")


_USERS = ("dualad._intercept", "dualad._buffer")  # the user's code runs below these
#: ... and below the transforms that call the user's function (grad, jvp, hessian, ...): code
#: reached through them is the user's, while their own allocations are dualad's
_CALLERS = (*_USERS, "dualad._first", "dualad._forward", "dualad._reverse", "dualad._second",
            "dualad._checking", "dualad._mode", "dualad._accumulate", "dualad.api")  # fmt: skip


def _from_user() -> bool:
    """True when the call comes from the user's code, False from dualad's or the tape's own
    (a rule allocating a tangent, or NumPy code a rule calls, such as np.pad's). A caller in
    dualad or the tape is dualad's own (but for the interception wrappers); otherwise the
    nearest dualad frame above decides: a transform that called the user's function (under
    ``config.intercept`` or ``with intercept():``, ``grad(f, x)`` calls ``f`` from there),
    or a rule."""
    frame = sys._getframe(2)
    name = frame.f_globals.get("__name__", "")
    if name.startswith(_OURS):
        return name.startswith(_USERS)
    frame = frame.f_back
    while frame is not None:
        name = frame.f_globals.get("__name__", "")
        if name.startswith(_OURS):
            return name.startswith(_CALLERS)
        frame = frame.f_back
    return True


def _buffer_wrapper(name: str) -> Callable:
    orig = ORIGINAL[f"numpy.{name}"]
    like = name.endswith("_like")

    full = name.startswith("full")

    @functools.wraps(orig)
    def wrapper(*args, **kwargs):
        if full and _ON.get(_GLOBAL):
            fill = args[1] if len(args) > 1 else kwargs.get("fill_value")
            if isinstance(resolve(fill), Leveled) and _from_user():
                return _full_of(orig, args, kwargs, resolve(fill))
        out = orig(*args, **kwargs)
        if _ON.get(_GLOBAL) and type(out) is np.ndarray and _from_user():
            proto = args[0] if args else kwargs.get("a")
            if not like or type(proto) in (np.ndarray, Buffer, list, tuple):
                return make(out)
        return out

    return wrapper


def _full_of(orig, args, kwargs, fill):
    """``np.full(shape, fill)`` / ``np.full_like(a, fill)`` with a traced ``fill``: a buffer
    of the fill's dtype (unless one is given) with the fill written in, as ``jnp.full``
    takes a traced fill value."""
    args, kwargs = list(args), dict(kwargs)
    if len(args) > 1:
        args[1] = 0
    else:
        kwargs["fill_value"] = 0
    if len(args) < 3 and kwargs.get("dtype") is None:
        kwargs["dtype"] = np.result_type(strip(fill))
    b = make(orig(*args, **kwargs))
    b[...] = fill
    return b


# -- reductions of lists: np.sum([d0, d1]) -----------------------------------------------------
# NumPy dispatches on the list, not on what it holds, and converts it in C. These functions
# (the ones real code hands lists to) stack a list holding wrappers first, as np.array does.
_LIST_TAKERS = (
    "sum", "prod", "mean", "max", "min", "amax", "amin", "std", "var", "median", "average",
    "cumsum", "cumprod", "ptp", "dot", "sort", "diff", "clip", "round", "around", "trace",
    "inner", "outer", "vdot", "kron", "tensordot", "einsum", "cross", "where",
)  # fmt: skip
#: Of these, the ones with more array operands after the first (all positional ones)
_MORE_OPERANDS = frozenset({"dot", "clip", "inner", "outer", "vdot", "kron", "tensordot",
                            "einsum", "cross", "where"})  # fmt: skip
ORIGINAL.update({f"numpy.{n}": getattr(np, n) for n in _LIST_TAKERS if hasattr(np, n)})


def _list_wrapper(name: str) -> Callable:
    orig = ORIGINAL[f"numpy.{name}"]

    more = name in _MORE_OPERANDS

    @functools.wraps(orig)
    def wrapper(a, *args, **kwargs):
        t = type(a)
        if (t is list or t is tuple) and _ON.get(_GLOBAL) and _holds(a):
            a = _build(a)
        if more and args and _ON.get(_GLOBAL):
            args = tuple(_build(b) if type(b) in (list, tuple) and _holds(b) else b for b in args)
        return orig(a, *args, **kwargs)

    return wrapper


ORIGINAL["numpy.isscalar"] = np.isscalar


def _isscalar_wrapper() -> Callable:
    orig = ORIGINAL["numpy.isscalar"]

    @functools.wraps(orig)
    def isscalar(element):
        if isinstance(element, Leveled) and _ON.get(_GLOBAL):
            return orig(strip(element))  # as for the value it stands for: x[0] is a scalar
        return orig(element)

    return isscalar


def _wrappers() -> dict[str, Callable]:
    out = {f"numpy.{n}": _array_wrapper(n) for n in _CONVERT}
    out.update({f"numpy.{n}": _buffer_wrapper(n) for n in _BUFFERS + _LIKE})
    out.update({f"numpy.{n}": _list_wrapper(n) for n in _LIST_TAKERS if hasattr(np, n)})
    out["numpy.fromiter"] = _fromiter_wrapper()
    out["numpy.isscalar"] = _isscalar_wrapper()
    out.update({f"math.{n}": w for n, w in _math_wrappers().items()})
    return out


#: The wrappers, by the name of the attribute they replace (``"numpy.asarray"``, ...).
WRAPPER: dict[str, Callable] = _wrappers()
_MODULES = {"numpy": np, "math": math}


# -- np.vectorize: its scalar function called element by element on the wrappers -------------
_VECTORIZE_CALL = np.vectorize.__call__


def _vectorize_call(self, *args, **kwargs):
    """``np.vectorize(pyfunc)(x)``: NumPy converts ``x`` to an array of numbers first; under
    interception, with a wrapper among the arguments, ``pyfunc`` runs on 0-d wrappers (one
    call per element of the broadcast arguments, as NumPy's own loop calls it) and the
    results are stacked, as ``jnp.vectorize`` maps a traced function."""
    if not (_ON.get(_GLOBAL) and (any(map(_holds, args)) or any(map(_holds, kwargs.values())))):
        return _VECTORIZE_CALL(self, *args, **kwargs)
    if self.signature is not None:
        raise NotImplementedError(
            "np.vectorize(..., signature=...) on traced values: dualad runs np.vectorize "
            "element by element only; loop over the core dimensions yourself"
        )
    excluded = self.excluded
    pos = [i for i in range(len(args)) if i not in excluded]
    keys = [k for k in kwargs if k not in excluded]
    vals = [resolve(args[i]) for i in pos] + [resolve(kwargs[k]) for k in keys]
    shape = np.broadcast_shapes(*(np.shape(v) for v in vals))
    if 0 in shape:
        raise ValueError("np.vectorize of traced values needs at least one element")
    full = [np.broadcast_to(v if isinstance(v, Leveled) else np.asarray(v), shape) for v in vals]
    results = []
    for idx in np.ndindex(shape):
        a, kw = list(args), dict(kwargs)
        for j, i in enumerate(pos):
            a[i] = full[j][idx]
        for j, k in enumerate(keys):
            kw[k] = full[len(pos) + j][idx]
        results.append(self.pyfunc(*a, **kw))
    if type(results[0]) is tuple:  # several outputs: one array each
        return tuple(np.reshape(np.stack(list(r)), shape) for r in zip(*results))
    return np.reshape(np.stack(results), shape)


def install() -> None:
    """Replace the module attributes with the (dormant) wrappers, once per process."""
    global _installed
    _foreign.install(active)  # SciPy's dispatchers: again whenever more modules are imported
    if _installed:
        return
    with _LOCK:
        if _installed:
            return
        for key, wrapper in WRAPPER.items():
            mod, name = key.split(".")
            if getattr(_MODULES[mod], name) is ORIGINAL[key]:  # leave others' patches alone
                setattr(_MODULES[mod], name, wrapper)
                _pickle_where_defined(ORIGINAL[key])
                _signed(ORIGINAL[key])
        if np.vectorize.__call__ is _VECTORIZE_CALL:  # (dormant unless interception is on)
            np.vectorize.__call__ = _vectorize_call
        _installed = True


def _signed(func) -> None:
    """Give NumPy's dispatcher ``func`` the signature of the function it wraps.

    Code that inspects a NumPy function follows one ``__wrapped__`` (Dask's ``getargspec``,
    asking whether ``np.sum`` takes ``dtype``): from NumPy's dispatcher that reaches the
    Python function, from our wrapper the dispatcher, which ``inspect`` cannot read
    ("unsupported callable"). With its ``__signature__`` set it can.
    """
    inner = getattr(func, "__wrapped__", None)
    if inner is None or getattr(func, "__signature__", None) is not None:
        return
    try:
        inspect.getfullargspec(func)
        return  # readable as it is
    except TypeError:
        pass
    try:
        func.__signature__ = inspect.signature(inner)
    except (AttributeError, TypeError, ValueError):
        pass


def _pickle_where_defined(func) -> None:
    """Keep an original we replaced picklable by reference.

    Pickle saves a function by module and name and checks that the name still gives the
    same object: with ``numpy.sum`` now our wrapper, NumPy's own ``sum`` would no longer
    pickle, and Dask's distributed scheduler, which pickles task graphs holding it, would
    fail. The module that defines it (``numpy._core.fromnumeric``) still holds it: a
    reducer registered for its type (``copyreg``) saves it as that path; every other object
    of the type pickles as before.
    """
    impl = getattr(func, "_implementation", func)  # NumPy's dispatchers wrap a function
    home = getattr(impl, "__globals__", {}).get("__name__")
    owner = getattr(func, "__self__", None)  # a C function: the extension module
    if home is None and type(owner).__name__ == "module":
        home = owner.__name__
    name = getattr(func, "__name__", None)
    if home and name and getattr(sys.modules.get(home), name, None) is func:
        _RELOCATED[id(func)] = (func, f"{home}.{name}")
        if type(func) not in _REDUCERS:
            copyreg.pickle(type(func), _reduce_original)
            _REDUCERS.add(type(func))


_RELOCATED: dict = {}  # id(original) -> (original, "its.defining.module.name")
_REDUCERS: set = set()


def _reduce_original(obj):
    entry = _RELOCATED.get(id(obj))
    if entry is not None and entry[0] is obj:
        return (pydoc.locate, (entry[1],))
    return obj.__reduce__()


def _patch_globals(namespace: dict) -> None:
    """Point names bound to an original (``from math import sin``) at its wrapper."""
    pairs = [(ORIGINAL[k], w) for k, w in WRAPPER.items()]
    pairs += [(_foreign.ORIGINALS[k], w) for k, w in _foreign.INSTALLED.items()]
    by_original = {id(o): (o, w) for o, w in pairs}
    with _LOCK:
        for name, value in list(namespace.items()):
            pair = by_original.get(id(value))
            if pair is not None and pair[0] is value:
                namespace[name] = pair[1]


def _caller_globals() -> dict:
    """The globals of the code holding the ``with`` (or decorated by ``@intercept()``):
    the first frame outside this module and contextlib."""
    frame = sys._getframe(1)
    while frame.f_globals.get("__name__") in (__name__, "contextlib"):
        frame = frame.f_back
    return frame.f_globals


@contextlib.contextmanager
def intercept(on: bool = True, *, from_imports=False) -> Iterator[None]:
    """Let ``np.asarray``, ``np.array``, ... and ``math.*`` accept Duals and Variables here.

    Inside the block, in this context only (other threads keep NumPy's behaviour), the
    array constructors ``np.array``, ``np.asarray``, ``np.asanyarray``,
    ``np.ascontiguousarray``, ``np.asfortranarray``, ``np.asarray_chkfinite``,
    ``np.require`` and ``np.fromiter`` return the wrapper itself (a copy where NumPy copies;
    float/complex ``dtype=`` casts; lists holding wrappers are stacked), and ``math``'s
    functions (``sin``, ``exp``, ``log``, ``pow``, ``hypot``, ``fsum``, ...) run their NumPy
    counterparts on it after checking the primal values with ``math`` itself. Plain inputs
    reach the original functions untouched. ``float(d)``, ``int(d)``, ``d.item()`` and
    integer/bool/object dtypes stay errors.

    Parameters
    ----------
    on : bool
        ``False`` switches interception off inside the block (under ``config.intercept``).
    from_imports : bool, module or list of modules
        Also rebind names that were imported from ``math`` or ``numpy`` (``from math
        import sin``) to the wrappers: in the module whose code enters the block (True), or
        in the modules given (a library's, whose functions ``f`` calls). Invasive: those modules'
        globals are changed for good (the wrappers stay dormant outside interception),
        so later ``intercept=True`` calls reach them too.

    >>> import math, numpy as np, dualad
    >>> d = dualad.Dual(np.array(0.0), np.array(1.0))
    >>> with dualad.intercept():
    ...     y = math.sin(np.asarray(d)) + math.exp(d)
    >>> float(y.tangent)
    2.0
    """
    if on or from_imports:
        install()
    if from_imports is True:
        _patch_globals(_caller_globals())
    elif from_imports:
        mods = from_imports if isinstance(from_imports, (list, tuple)) else [from_imports]
        for m in mods:
            _patch_globals(vars(m))
    token = _ON.set(bool(on))
    try:
        yield
    finally:
        _ON.reset(token)


def intercepting(f: Callable) -> Callable:
    """``f`` run with interception on: what ``intercept=True`` in the API functions does.

    >>> import numpy as np, dualad
    >>> from dualad._intercept import intercepting
    >>> dualad.grad(intercepting(lambda x: np.asarray(x) @ x), np.array([1.0, 2.0]))
    array([2., 4.])
    """

    def run(*args, **kwargs):
        install()  # cheap once done; catches SciPy modules imported since the last call
        token = _ON.set(True)
        try:
            return resolve(f(*args, **kwargs))  # buffers: their wrappers, or plain arrays
        finally:
            _ON.reset(token)

    run._dualad_key = getattr(f, "_dualad_key", f)  # auto's measured costs (dualad._mode)
    return run


def _install_hint() -> None:
    from . import _ops

    _ops.intercepting = active  # conversion errors then say how to reach by-name imports


def active() -> bool:
    """True when interception is on in this context.

    >>> from dualad._intercept import active
    >>> active()
    False
    """
    return _ON.get(_GLOBAL)


class Config:
    """Process-wide switches. ``config.intercept = True`` turns interception on in every
    context that has not set it (``DUALAD_INTERCEPT=1`` in the environment does this at
    import); ``with dualad.intercept(False):`` still turns it off locally.

    >>> import dualad
    >>> dualad.config.intercept
    False
    """

    __slots__ = ()

    @property
    def intercept(self) -> bool:
        return _GLOBAL

    @intercept.setter
    def intercept(self, value: bool) -> None:
        global _GLOBAL
        if value:
            install()
        _GLOBAL = bool(value)

    def __repr__(self) -> str:
        return f"dualad.config(intercept={_GLOBAL})"


config = Config()
_foreign.watch(active)  # SciPy's dispatchers: dormant until interception is on
if os.environ.get("DUALAD_INTERCEPT", "").strip().lower() in ("1", "true", "yes", "on"):
    config.intercept = True
_install_hint()

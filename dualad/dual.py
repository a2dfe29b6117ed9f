"""Dual numbers over arrays: thin containers plus NumPy's two override hooks.

A ``Dual`` holds a primal array and a tangent with a leading direction axis of ``k >= 1``
(one code path for one or many directions). ``__array_ufunc__`` and ``__array_function__``
look the function up in ``dualad.rules.RULES`` and let the rule compute the tangent. Duals of
different levels (tags) nest: the highest level is unwrapped first, so nested derivatives do
not confuse perturbations. A zero tangent is stored as ``None`` and costs nothing.
"""

from __future__ import annotations

import inspect
import numbers

import numpy as np

from . import _tags
from ._ops import ArrayOps, strip
from ._tags import Leveled, top_level
from .rules import PRIMAL_ONLY, lookup, ufunc_method_target
from .rules._define import align, getitem, shape_of



def _as_array(x, what: str):
    if isinstance(x, (Leveled, np.ndarray, np.generic)) or hasattr(x, "__cuda_array_interface__"):
        return x
    if hasattr(x, "__array_namespace__") or hasattr(x, "__array_function__"):
        return x
    try:
        return np.asarray(x, dtype=float)
    except (TypeError, ValueError) as e:
        raise TypeError(f"Dual {what} must be array-like, got {type(x).__name__}") from e


def _float_dtype(x):
    dt = getattr(x, "dtype", None)
    if dt is not None and dt.kind in "biu":
        return x.astype(np.float64)
    return x


class Dual(ArrayOps):
    """An array with tangents: ``primal + sum_i tangent[i] * eps_i``.

    Parameters
    ----------
    primal : array_like
        The value. Integer and boolean values are differentiated as float64.
    tangent : array_like, optional
        Shape ``primal.shape`` for one direction, or ``(k,) + primal.shape`` for ``k``
        directions at once. Omitted: a zero tangent.
    tag : int, optional
        The nesting level; Duals built by hand share one level unless told otherwise.

    Examples
    --------
    >>> import numpy as np, dualad
    >>> d = dualad.Dual(np.array([0.0, 1.0]), np.array([1.0, 1.0]))
    >>> np.sin(d).tangent
    array([1.        , 0.54030231])
    """

    __slots__ = ("primal", "_dot", "_level", "_k", "_single", "_owns")
    _value_attr = "primal"
    __array_priority__ = 1000
    __hash__ = None

    def __init__(self, primal, tangent=None, tag: int | None = None):
        primal = _float_dtype(_as_array(primal, "primal"))
        pshape = shape_of(primal)
        self._level = _tags.USER_LEVEL if tag is None else int(tag)
        self._owns = False
        if tangent is None:
            self.primal, self._dot, self._k, self._single = primal, None, 1, True
            return
        tangent = _float_dtype(_as_array(tangent, "tangent"))
        tshape = shape_of(tangent)
        if tshape == pshape:
            dot, single = tangent.reshape((1,) + tuple(pshape)), True
        elif len(tshape) == len(pshape) + 1 and tshape[1:] == pshape:
            dot, single = tangent, False
        else:
            raise ValueError(
                f"tangent shape {tshape} does not match primal shape {pshape}: give one "
                f"direction with shape {pshape} or k directions with shape (k, *{pshape})"
            )
        self.primal, self._dot, self._k, self._single = primal, dot, dot.shape[0], single

    def _unwrap(self):
        return self.primal

    def _apply(self, func, args, kwargs, level):
        return forward(func, args, kwargs, level)

    @classmethod
    def _new(cls, primal, dot, level: int, k: int, single: bool) -> Dual:
        d = object.__new__(cls)
        d.primal, d._dot, d._level, d._k, d._single, d._owns = primal, dot, level, k, single, False
        return d

    # -- the tangent ------------------------------------------------------------------------
    @property
    def tangent(self):
        """Tangent: ``primal.shape`` for one direction, else ``(k,) + primal.shape``."""
        dot = self._dot
        if dot is None:
            dot = np.zeros_like(self.primal, shape=(self._k,) + tuple(self.shape))
        return dot[0] if self._single else dot

    @property
    def tag(self) -> int:
        """Nesting level of this Dual (higher levels are unwrapped first)."""
        return self._level

    @property
    def n_directions(self) -> int:
        """Number of tangent directions ``k`` carried at once."""
        return self._k

    # -- array-like attributes -------------------------------------------------------------
    shape = property(lambda self: shape_of(self.primal))
    ndim = property(lambda self: len(shape_of(self.primal)))
    size = property(lambda self: int(np.prod(shape_of(self.primal), dtype=np.int64)))
    dtype = property(lambda self: self.primal.dtype)
    T = property(lambda self: np.transpose(self))
    mT = property(lambda self: np.swapaxes(self, -1, -2))
    real = property(lambda self: np.real(self))

    def __repr__(self) -> str:
        t = repr(self.tangent)
        return f"Dual(primal={self.primal!r}, tangent={t})"

    def astype(self, dtype, copy=True):
        dt = np.dtype(dtype)
        if dt.kind not in "fc":
            raise TypeError(f"astype({dt}) would drop the derivative of a Dual; use .primal")
        dot = None if self._dot is None else self._dot.astype(dt, copy=copy)
        return Dual._new(self.primal.astype(dt, copy=copy), dot, self._level, self._k, self._single)

    # -- NumPy hooks ----------------------------------------------------------------------
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        out = kwargs.pop("out", None)
        level, owner = top_level(inputs if out is None else inputs + tuple(out))
        if not isinstance(owner, Dual):
            return NotImplemented
        if method == "__call__":
            where = kwargs.pop("where", True)
            if where is not True:
                raise NotImplementedError(
                    f"numpy.{ufunc.__name__}(..., where=...) on a Dual is not supported: "
                    "use np.where(mask, numpy.{ufunc.__name__}(...), other) instead"
                )
            res = forward(ufunc, inputs, kwargs, level)
        else:
            func, args, kw = ufunc_method_target(ufunc, method, inputs, kwargs)
            res = forward(func, args, kw, level)
        if out is None:
            return res
        return _write_out(ufunc, out, res)

    def __array_function__(self, func, types, args, kwargs):
        level, owner = top_level(args)
        if kwargs:
            klevel, kowner = top_level(tuple(kwargs.values()))
            if klevel > level:
                level, owner = klevel, kowner
        if not isinstance(owner, Dual):
            return NotImplemented
        if "out" in kwargs:
            kwargs = dict(kwargs)
            out = kwargs.pop("out")
            res = forward(func, args, kwargs, level)
            return res if out is None else _write_out(func, (out,), res)
        return forward(func, args, kwargs, level)

    # -- indexing -------------------------------------------------------------------------
    def __getitem__(self, key):
        return forward(getitem, (self, key), {}, self._level)

    def __setitem__(self, key, value):
        if isinstance(value, Leveled) and value._level > self._level:
            raise TypeError(
                "cannot store a value that carries a newer derivative level into this Dual "
                "buffer; build the buffer from that value instead, e.g. np.zeros_like(value)"
            )
        same = isinstance(value, Dual) and value._level == self._level
        self.primal[key] = value.primal if same else value
        vdot = value._dot if same else None
        if vdot is None and self._dot is None:
            return
        if same and value._k != self._k:
            raise ValueError(f"direction counts differ: {value._k} vs {self._k}")
        dot = self._writable_dot()
        tkey = (slice(None),) + (key if isinstance(key, tuple) else (key,))
        if vdot is None:
            dot[tkey] = 0
        else:
            target = dot[tkey]
            dot[tkey] = align(vdot, target.ndim - 1)

    def _writable_dot(self):
        """The tangent as an array this Dual alone owns (copy on first write)."""
        if self._dot is None:
            self._dot = np.zeros_like(self.primal, shape=(self._k,) + tuple(self.shape))
            self._owns = True
        elif not self._owns:
            self._dot = self._dot.copy()
            self._owns = True
        return self._dot

def _split(args, level: int):
    """Primals, tangents and direction count of ``args`` at ``level``."""
    primals, dots, k, single = [], [], None, True
    for a in args:
        if isinstance(a, Dual) and a._level == level:
            primals.append(a.primal)
            dots.append(a._dot)
            if k is None:
                k, single = a._k, a._single
            elif a._k != k:
                raise ValueError(f"Duals with {k} and {a._k} directions cannot be combined")
        elif type(a) in (list, tuple) and any(
            isinstance(b, Dual) and b._level == level for b in a
        ):
            ps, ds = [], []
            for b in a:
                if isinstance(b, Dual) and b._level == level:
                    ps.append(b.primal)
                    ds.append(b._dot)
                    if k is None:
                        k, single = b._k, b._single
                    elif b._k != k:
                        raise ValueError(f"Duals with {k} and {b._k} directions cannot be combined")
                else:
                    ps.append(b)
                    ds.append(None)
            primals.append(type(a)(ps))
            dots.append(tuple(ds) if any(d is not None for d in ds) else None)
        else:
            primals.append(a)
            dots.append(None)
    return primals, dots, k, single


def _bind_kwargs(func, args, kwargs, level):
    """Move keyword arguments that carry Duals into positional slots."""
    if not any(isinstance(v, Leveled) and v._level == level for v in kwargs.values()):
        return args, kwargs
    try:
        params = list(inspect.signature(func).parameters)
    except (TypeError, ValueError) as e:
        raise NotImplementedError(
            f"pass differentiable arguments to {func.__name__} positionally"
        ) from e
    last = max(params.index(n) for n, v in kwargs.items() if isinstance(v, Leveled))
    args = list(args)
    kwargs = dict(kwargs)
    for i in range(len(args), last + 1):
        name = params[i]
        if name not in kwargs:
            raise NotImplementedError(
                f"pass the arguments of {func.__name__} up to '{params[last]}' positionally"
            )
        args.append(kwargs.pop(name))
    return tuple(args), kwargs


def forward(func, args, kwargs, level: int):
    """Apply ``func`` at ``level``: primal through ``func``, tangent through its rule."""
    if func in PRIMAL_ONLY:
        return func(*[strip(a) for a in args], **{k: strip(v) for k, v in kwargs.items()})
    rule = lookup(func)
    if kwargs:
        args, kwargs = _bind_kwargs(func, args, kwargs, level)
    primals, dots, k, single = _split(args, level)
    out = func(*primals, **kwargs)
    if all(d is None for d in dots):
        return _wrap(out, None, level, k, single)
    out_dot = rule.jvp(tuple(dots), out, *primals, **kwargs)
    return _wrap(out, out_dot, level, k, single)


def _differentiable(out) -> bool:
    dt = getattr(out, "dtype", None)
    return dt is not None and dt.kind in "fc"


def _wrap(out, out_dot, level, k, single):
    if type(out) in (tuple, list) or (isinstance(out, tuple) and hasattr(out, "_fields")):
        dots = out_dot if out_dot is not None else (None,) * len(out)
        items = [_wrap(o, d, level, k, single) for o, d in zip(out, dots)]
        return type(out)(*items) if hasattr(out, "_fields") else type(out)(items)
    if not _differentiable(out):
        return out
    return Dual._new(out, out_dot, level, k, single)


def _write_out(ufunc, out, res):
    target = out[0]
    if isinstance(target, Dual):
        target[...] = res
        return target
    if isinstance(res, Leveled):
        raise TypeError(
            f"{getattr(ufunc, '__name__', ufunc)}(..., out=array) would write a Dual into a plain array and "
            "drop its derivative; leave out= off, or pass a Dual buffer (np.zeros_like(x))"
        )
    target[...] = res
    return target

"""Dual numbers over arrays: thin containers plus NumPy's two override hooks.

A ``Dual`` holds a primal array and a tangent with a leading direction axis of ``k >= 1``
(one code path for one or many directions). ``__array_ufunc__`` and ``__array_function__``
look the function up in ``dualad.rules.RULES`` and let the rule compute the tangent. Duals of
different levels (tags) nest: the highest level is unwrapped first, so nested derivatives do
not confuse perturbations. A zero tangent is stored as ``None`` and costs nothing.
"""

from __future__ import annotations

from dualad._numpy import np

from . import _tags
from ._alias import (
    FROZEN,
    INPUT,
    MIRRORED,
    READ_ONLY_INPUT,
    aligned,
    copy_tree,
    innermost,
    is_mirrorable,
    maybe_view,
    memory_root,
    mirror,
    view_offset,
    view_tangent,
)
from ._ops import (
    IN_PLACE,
    ArrayOps,
    _binary,
    _nested,
    bind_kwargs,
    block,
    complex_refused,
    differentiable,
    is_complex,
    rows_of_one,
    strip,
    write_out,
)
from ._scalar import (
    ADD,
    DIV,
    MUL,
    SUB,
    meta,
    operator_method,
    pack,
    power_method,
    reflected_method,
    rpower_method,
    ufunc_hook,
    unary_method,
    unpack,
)
from ._scalar import generic as scalar_generic
from ._scalar import stack as stack_packed
from ._tags import Leveled, call_level, top_level
from .rules import COMPOSITES, PRIMAL_ONLY, RULES, lookup, ufunc_method_target
from .rules._define import getitem, shape_of
from .rules.update import index_update, trailing_key

_F64 = np.dtype(np.float64)
_USER = _tags.USER_LEVEL
_USER_1, _USER_K1, _USER_2 = meta(_USER, 1, True), meta(_USER, 1, False), meta(_USER, 2, False)
_NEW = object.__new__
#: Largest vector whose packed tangents x[i] caches (one list of Python numbers).
_PACK_MAX = 4096
_WIDE_MAX = 64


def _unpack_all(dots, k: int):
    return [tuple(unpack(e, k) for e in d) if type(d) is tuple else unpack(d, k) for d in dots]


def _as_array(x, what: str):
    if isinstance(x, (Leveled, np.ndarray, np.generic)) or hasattr(x, "__cuda_array_interface__"):
        return x
    if hasattr(x, "__array_namespace__") or hasattr(x, "__array_function__"):
        return x
    try:
        return np.asarray(x, dtype=float)
    except (TypeError, ValueError) as e:
        if is_complex(x):
            raise complex_refused(f"a Dual's {what}") from None
        raise TypeError(f"Dual {what} must be array-like, got {type(x).__name__}") from e


def _float_dtype(x, what: str):
    dt = getattr(x, "dtype", None)
    if dt is not None and dt.kind in "biu":
        return x.astype(np.float64)
    if dt is not None and dt.kind == "c":
        raise complex_refused(f"a Dual's {what}")
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

    __slots__ = ("_dot", "_m", "_owns", "_p", "_pk")
    _value_attr = "primal"
    __array_priority__ = 1000
    __hash__ = None

    def __init__(self, primal, tangent=None, tag: int | None = None):
        if type(tangent) is np.ndarray and (type(primal) is np.float64 or type(primal) is float):
            s = tangent.shape  # a scalar seed with k <= 2 directions: pack it right away
            if tangent.dtype is _F64 and (not s or (len(s) == 1 and 0 < s[0] <= 2)):
                if not s:
                    dot, m = float(tangent), _USER_1
                elif s[0] == 2:
                    t0, t1 = tangent.tolist()
                    dot, m = complex(t0, t1), _USER_2
                else:
                    dot, m = float(tangent[0]), _USER_K1
                self._p, self._dot = float(primal), dot
                self._m = m if tag is None else meta(int(tag), m[1], m[2])
                return
        primal = _float_dtype(_as_array(primal, "primal"), "primal")
        pshape = shape_of(primal)
        level = _tags.USER_LEVEL if tag is None else int(tag)
        self._owns = False
        self._pk = None
        if tangent is None:
            self._p, self._dot, self._m = primal, None, meta(level, 1, True)
            return
        tangent = _float_dtype(_as_array(tangent, "tangent"), "tangent")
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
        k = dot.shape[0]
        scalar = k <= 2 and pshape == () and getattr(primal, "dtype", None) == np.float64
        if scalar and type(dot) is np.ndarray and dot.dtype == np.float64:
            primal, dot = float(primal[()]), pack(dot, k)  # packed (see dualad._scalar)
        self._p, self._dot, self._m = primal, dot, meta(level, k, single)

    # (level, k, single) live in one shared tuple, ``_m`` (see dualad._scalar.meta)
    @property
    def _level(self) -> int:
        return self._m[0]

    @property
    def _k(self) -> int:
        return self._m[1]

    @property
    def _single(self) -> bool:
        return self._m[2]

    @property
    def primal(self):
        """The value (for nested Duals, itself a Dual of a lower level)."""
        p = self._p
        return np.float64(p) if type(p) is float else p

    def _unwrap(self):
        p = self._p
        return np.float64(p) if type(p) is float else p

    def _apply(self, func, args, kwargs, level):
        return forward(func, args, kwargs, level, type(self))

    @classmethod
    def _new(cls, primal, dot, level: int, k: int, single: bool) -> Dual:
        d = object.__new__(cls)
        d._p, d._dot, d._m, d._owns, d._pk = primal, dot, meta(level, k, single), False, None
        return d

    # -- the tangent ------------------------------------------------------------------------
    @property
    def tangent(self):
        """Tangent: ``primal.shape`` for one direction, else ``(k,) + primal.shape``."""
        dot = self._dot_array()
        if dot is None:
            dot = np.zeros_like(self._p, shape=(self._k,) + tuple(self.shape))
        return dot[0] if self._single else dot

    def _dot_array(self):
        """The tangent ``(k,) + shape`` (``None`` for zero), unpacked if it was a scalar."""
        d = self._dot
        return unpack(d, self._k) if type(self._p) is float else d

    @property
    def tag(self) -> int:
        """Nesting level of this Dual (higher levels are unwrapped first)."""
        return self._level

    @property
    def n_directions(self) -> int:
        """Number of tangent directions ``k`` carried at once."""
        return self._k

    # -- array-like attributes -------------------------------------------------------------
    shape = property(lambda self: shape_of(self._p))
    ndim = property(lambda self: len(shape_of(self._p)))
    size = property(lambda self: int(np.prod(shape_of(self._p), dtype=np.int64)))
    dtype = property(lambda self: _F64 if type(self._p) is float else self._p.dtype)
    T = property(lambda self: np.transpose(self))
    mT = property(lambda self: np.swapaxes(self, -1, -2))
    real = property(lambda self: np.real(self))

    def __repr__(self) -> str:
        t = repr(self.tangent)
        return f"Dual(primal={self.primal!r}, tangent={t})"

    def astype(self, dtype, copy=True):
        """Cast primal and tangent to another float dtype (int dtypes raise TypeError).

        >>> import numpy as np, dualad
        >>> dualad.Dual(np.ones(2), np.ones(2)).astype(np.float32).tangent.dtype
        dtype('float32')
        """
        dt = np.dtype(dtype)
        if dt.kind not in "fc":
            raise TypeError(f"astype({dt}) would drop the derivative of a Dual; use .primal")
        dot = self._dot_array()
        dot = None if dot is None else dot.astype(dt, copy=copy)
        p = self.primal.astype(dt, copy=copy)
        return type(self)._new(p, dot, self._level, self._k, self._single)

    # -- arithmetic: the packed-scalar rule inline, then the generic operator ----------------
    __add__ = operator_method(ADD, np.add, _binary)
    __radd__ = reflected_method(ADD, np.add, _binary)
    __sub__ = operator_method(SUB, np.subtract, _binary)
    __rsub__ = reflected_method(SUB, np.subtract, _binary)
    __mul__ = operator_method(MUL, np.multiply, _binary)
    __rmul__ = reflected_method(MUL, np.multiply, _binary)
    __truediv__ = operator_method(DIV, np.divide, _binary)
    __rtruediv__ = reflected_method(DIV, np.divide, _binary)
    __pow__ = power_method(lambda ufunc, a, b: ArrayOps.__pow__(a, b))  # x**2: a square
    __rpow__ = rpower_method(_binary)
    __neg__ = unary_method(np.negative, _binary)
    __pos__ = unary_method(np.positive, _binary)
    __abs__ = unary_method(np.absolute, _binary)

    # -- NumPy hooks ----------------------------------------------------------------------
    def _array_ufunc(self, ufunc, method, *inputs, **kwargs):
        if method == "__call__" and not kwargs and len(inputs) == 1:  # np.sin(d) and friends
            return forward(ufunc, inputs, kwargs, self._level, type(self))
        out = kwargs.pop("out", None)
        level, owner = top_level(inputs if out is None else inputs + tuple(out))
        if not isinstance(owner, Dual):
            return NotImplemented
        if method == "__call__":
            where = kwargs.pop("where", True)
            if where is not True:
                raise NotImplementedError(
                    f"numpy.{ufunc.__name__}(..., where=...) on a Dual is not supported: "
                    f"use np.where(mask, numpy.{ufunc.__name__}(...), other) instead"
                )
            res = forward(ufunc, inputs, kwargs, level, type(owner))
        else:
            func, args, kw = ufunc_method_target(ufunc, method, inputs, kwargs)
            res = forward(func, args, kw, level, type(owner))
        if out is None:
            return res
        return write_out(ufunc, out, res)

    # packed scalars take math kernels and the operator rules before the generic hook
    __array_ufunc__ = ufunc_hook(_array_ufunc)

    def __array_function__(self, func, types, args, kwargs):
        level, owner = call_level(args, kwargs)
        if not isinstance(owner, Dual):
            return NotImplemented
        if func is np.stack and len(args) == 1 and not kwargs and type(args[0]) in (list, tuple):
            res = stack_packed(args[0], level)  # np.stack([f1, f2]) at the end of scalar code
            if res is not None:
                return res
        if func is np.block and args and _nested(args[0]):
            return block(*args, **kwargs)
        rows = rows_of_one(func, args)
        if rows is not None:  # np.vstack(x) of one array: NumPy iterates it
            return func(*rows, **kwargs)
        writer = IN_PLACE.get(func)
        if writer is not None:  # copyto, put, ...: item assignments into a buffer
            return writer(*args, **kwargs)
        restated = COMPOSITES.get(func)
        if restated is not None:  # np.linspace, np.polyval, ...: run on the wrappers
            return restated(*args, **kwargs)
        if "out" in kwargs:
            kwargs = dict(kwargs)
            out = kwargs.pop("out")
            res = forward(func, args, kwargs, level, type(owner))
            return res if out is None else write_out(func, (out,), res)
        return forward(func, args, kwargs, level, type(owner))

    # -- indexing -------------------------------------------------------------------------
    def __getitem__(self, key):
        try:
            pk = self._pk
        except AttributeError:  # a packed scalar leaves it unset (see dualad._scalar)
            pk = None
        if pk is not None and type(key) is int:  # x[i] of a packed vector: one list lookup
            r = _NEW(type(self))
            # a packed scalar: _owns and _pk stay unset (see dualad._scalar)
            r._p, r._dot, r._m = float(self._p[key]), pk[key], self._m
            return r
        p, d = self._p, self._dot
        if type(key) is int and type(p) is np.ndarray and p.ndim == 1 and type(d) is np.ndarray:
            # x[i] of a vector (the scalar-program idiom): no dispatch, packed tangent
            out = p[key]
            if 2 < self._k <= _WIDE_MAX and type(out) is np.float64 and d.dtype is _F64:
                # a few directions: a float primal with a (k,) tangent array, which the
                # scalar fast paths combine as they do floats (array arithmetic)
                return type(self)._new(
                    float(out), d[:, key].copy(), self._level, self._k, self._single
                )
            if self._k > 2 or type(out) is not np.float64 or d.dtype is not _F64:
                # a copy: this Dual may write its tangent in place later (the entry is a scalar)
                return type(self)._new(out, d[:, key].copy(), self._level, self._k, self._single)
            if p.size > _PACK_MAX or self._owns == MIRRORED:  # views may write: no cache
                return type(self)._new(
                    float(out), pack(d[:, key], self._k), self._level, self._k, self._single
                )
            # pack every entry once, then each x[i] is one list lookup
            if self._k == 1:
                self._pk = d[0].tolist()
            else:
                z = np.empty(p.size, np.complex128)
                z.real, z.imag = d
                self._pk = z.tolist()
            return self[key]
        return forward(getitem, (self, key), {}, self._level, type(self))

    def __setitem__(self, key, value):
        owns = getattr(self, "_owns", None)
        if owns is None:  # a packed scalar (see dualad._scalar)
            raise TypeError(
                "this Dual holds a 0-d value as a NumPy scalar, which does not support item "
                "assignment (np.float64 does not either); rebind it instead (y = ...)"
            )
        if owns == INPUT:
            raise ValueError(READ_ONLY_INPUT)
        if owns == FROZEN:
            raise NotImplementedError(
                "writing into this Dual would have to reach a view (or the base) of it that "
                "dualad cannot follow on this backend; write into a copy instead: "
                "y = np.copy(x); y[key] = value"
            )
        self._pk = None
        if isinstance(value, Leveled) and value._level > self._level:
            raise TypeError(
                "cannot store a value that carries a newer derivative level into this Dual "
                "buffer; build the buffer from that value instead, e.g. np.zeros_like(value)"
            )
        same = isinstance(value, Dual) and value._level == self._level
        self._p[key] = value._p if same else value
        vdot = value._dot_array() if same else None
        if vdot is None and self._dot is None:
            return
        if same and value._k != self._k:
            raise ValueError(f"direction counts differ: {value._k} vs {self._k}")
        dot = self._writable_dot()
        # index with the direction axis last, so advanced indices in `key` (even separated
        # ones, which NumPy moves to the front) never move it
        upd = 0.0 if vdot is None else np.moveaxis(vdot, 0, -1)
        if not isinstance(dot, Leveled) or self._owns == MIRRORED:
            # a view: writes land in dot (for a nested tangent, the view is a mirrored Dual)
            np.moveaxis(dot, 0, -1)[trailing_key(key)] = upd
        else:
            # a nested tangent (higher derivatives): moveaxis gives a new wrapper whose own
            # tangent would not alias dot's, so update functionally and keep the result
            moved = index_update(np.moveaxis(dot, 0, -1), trailing_key(key), upd)
            self._dot = np.moveaxis(moved, -1, 0)

    def _writable_dot(self):
        """The tangent as an array this Dual alone owns (copy on first write)."""
        self._pk = None
        if self._dot is None:
            self._dot = np.zeros_like(self._p, shape=(self._k,) + tuple(self.shape))
            self._owns = True
        elif not getattr(self, "_owns", False):  # unset on packed scalars
            self._dot = copy_tree(unpack(self._dot, self._k), _like)
            self._owns = True
        return self._dot


def _split(args, level: int):
    """Primals, tangents and direction count of ``args`` at ``level``."""
    primals, dots, k, single, packed = [], [], None, True, False
    for a in args:
        if isinstance(a, Dual) and a._level == level:
            p = a._p
            if type(p) is float:
                p, packed = np.float64(p), True
            primals.append(p)
            dots.append(a._dot)
            if k is None:
                k, single = a._k, a._single
            elif a._k != k:
                raise ValueError(f"Duals with {k} and {a._k} directions cannot be combined")
        elif type(a) in (list, tuple) and any(isinstance(b, Dual) and b._level == level for b in a):
            ps, ds = [], []
            for b in a:
                if isinstance(b, Dual) and b._level == level:
                    p = b._p
                    if type(p) is float:
                        p, packed = np.float64(p), True
                    ps.append(p)
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
    return primals, dots, k, single, packed


def forward(func, args, kwargs, level: int, cls=None):
    """Apply ``func`` at ``level``: primal through ``func``, tangent through its rule."""
    cls = cls or Dual
    if level & 1 and _tags.is_closed(level):
        raise _tags.escaped(level)
    rule = RULES.get(func)
    if rule is None:
        if func in PRIMAL_ONLY:
            return func(*[strip(a) for a in args], **{k: strip(v) for k, v in kwargs.items()})
        rule = lookup(func)  # raises the NotImplementedError naming func
    if kwargs:
        kwargs.pop("overwrite_input", None)  # NumPy must not reorder the user's primal
        args, kwargs = bind_kwargs(func, args, kwargs, level)
    primals, dots, k, single, packed = _split(args, level)
    if packed:
        if not kwargs and rule.partials is not None:
            res = scalar_generic(func, args, level)
            if res is not None:
                return res
        dots = _unpack_all(dots, k)
    out = func(*primals, **kwargs)
    t = type(out)
    if t is np.ndarray:
        if out.base is not None or (primals and out is primals[0]):  # maybe a view of an argument
            src = _view_source(out, args, level)
            if src is not None:
                return _view(src, out, rule, dots, primals, args, kwargs, level, k, single, cls)
    elif (
        (t in (list, tuple) or isinstance(out, Dual))
        and maybe_view(out, primals)
        and _any_view(out, args, level)
    ):
        return _views(out, rule, dots, primals, args, kwargs, level, k, single, cls)
    for d in dots:
        if d is not None:
            break
    else:
        return _wrap(out, None, level, k, single, cls)
    if t is np.ndarray:
        kind = out.dtype.kind
        if kind != "f":
            if kind != "c":
                return out
            raise complex_refused(f"the result of {rule.name}")
    elif t is not np.float64 and is_complex(out):
        raise complex_refused(f"the result of {rule.name}")
    out_dot = rule.jvp(tuple(dots), out, *primals, **kwargs)
    if t is np.ndarray:  # the common case, without _wrap's checks
        res = cls._new(out, out_dot, level, k, single)
        if type(out_dot) is np.ndarray and out_dot.base is None:
            for a in args:  # a tangent passed through (x + c): shared, or copied from an owner
                if isinstance(a, Dual) and a._dot is out_dot:
                    if a._owns > 0:
                        res._dot, res._owns = out_dot.copy(), True
                    break
            else:
                res._owns = True  # fresh: this Dual alone holds it (a read-only one fails loudly)
        elif out_dot is not None:
            res._dot = _unshared(out_dot, args, level)
    elif k <= 2 and t is np.float64 and type(out_dot) is np.ndarray and out_dot.dtype == _F64:
        res = cls._new(float(out), pack(out_dot, k), level, k, single)
    else:
        res = _wrap(out, _unshared(out_dot, args, level), level, k, single, cls)
    return res


# -- views and ownership (see dualad._alias) ---------------------------------------------------


def _like(primal, dot, like):
    """A Dual of ``like``'s type, level and directions (for nested tangents)."""
    return type(like)._new(primal, dot, like._level, like._k, like._single)


def _owned_dots(args, level, found):
    """Append to ``found`` the tangents of ``args`` at ``level`` that their Duals write in
    place; return ``found``."""
    for a in args:
        if isinstance(a, Dual):
            if a._level == level and getattr(a, "_owns", 0) > 0 and a._dot is not None:
                found.append(a._dot)
        elif type(a) in (list, tuple):
            _owned_dots(a, level, found)
    return found


def _unshared(out_dot, args, level):
    """``out_dot``, copied if it shares memory with a tangent some Dual writes in place
    (copy-on-write: ``b = a + 0.0`` must not see a later ``a[1] = 0``)."""
    if out_dot is None or type(out_dot) in (float, complex):
        return out_dot
    owned = _owned_dots(args, level, [])
    if not owned:  # the common case: nothing among the arguments is written in place
        return out_dot
    if type(out_dot) in (list, tuple):
        return type(out_dot)(_unshared(d, args, level) for d in out_dot)
    root = memory_root(out_dot)
    for d in owned:
        if d is out_dot or (root is not None and memory_root(d) is root):
            return copy_tree(out_dot, _like)
    return out_dot


def _view_source(out, args, level):
    """The Dual among ``args`` (at ``level``) whose memory ``out`` shares, or None."""
    root = memory_root(out)
    if root is None:
        return None
    for a in args:
        if isinstance(a, Dual) and a._level == level:
            if memory_root(a._p) is root:
                return a
        elif type(a) in (list, tuple):
            src = _view_source(out, a, level)
            if src is not None:
                return src
    return None


def _any_view(out, args, level) -> bool:
    if isinstance(out, Dual):
        return _view_source(out, args, level) is not None
    return any(
        _view_source(o, args, level) is not None for o in out if isinstance(o, (np.ndarray, Dual))
    )


def _view_dual(src, out, rule_dot, level, k, single, cls):
    """The Dual for ``out``, a view of ``src``'s primal: its tangent views ``src``'s.

    ``rule_dot(t)`` is the rule's tangent, with ``src``'s tangent replaced by ``t`` when
    given. It serves where no write can happen (a view of an input), where the alias cannot be
    followed (then source and view are frozen), and as the fast path: on a mirrored tangent a
    structural rule's own result is the aliasing view when it lands on the same memory with the
    view's strides; otherwise the view is built from byte offsets (dualad._alias).
    """
    owns = src._owns
    if owns == INPUT:
        res = cls._new(out, rule_dot(), level, k, single)
        res._owns = INPUT
        return res
    p_src, p_out = innermost(src._p), innermost(out)
    if owns == FROZEN or not is_mirrorable(src._dot_array()):
        return _frozen(src, out, rule_dot(), level, k, single, cls)
    if owns != MIRRORED:
        if not (owns is True and aligned(src._dot, p_src)):  # a fresh tangent serves as it is
            src._dot = mirror(src, p_src, _like)
        src._owns, src._pk = MIRRORED, None
    t = src._dot
    dot = rule_dot(t) if type(t) is np.ndarray and type(p_out) is np.ndarray else None
    if not _lands(dot, t, p_out):
        shift = view_offset(p_out, p_src)
        if shift is None:
            return _frozen(src, out, rule_dot(), level, k, single, cls)
        dot = view_tangent(t, shift, p_out, 1, _like)
    res = cls._new(out, dot, level, k, single)
    res._owns = MIRRORED
    return res


def _lands(dot, t, p_out) -> bool:
    """True if ``dot`` is a view of the mirrored tangent ``t`` laid out as ``p_out``."""
    if type(dot) is not np.ndarray or dot.shape[1:] != p_out.shape or dot.base is None:
        return False
    isz, psz = dot.itemsize, p_out.itemsize
    if any(s % psz for s in p_out.strides):
        return False
    return dot.strides[1:] == tuple(s // psz * isz for s in p_out.strides) and (
        memory_root(dot) is memory_root(t)
    )


def _frozen(src, out, dot, level, k, single, cls):
    src._owns = FROZEN  # neither this view nor its source may be written from now on
    res = cls._new(out, dot, level, k, single)
    res._owns = FROZEN
    return res


def _view(src, out, rule, dots, primals, args, kwargs, level, k, single, cls):
    """``out`` is a view of ``src``: a Dual whose tangent is the same view of src's tangent."""
    if out.dtype.kind not in "fc":
        return out

    def rule_dot(t=None):
        ds = dots
        if t is not None:
            ds = [t if a is src else d for a, d in zip(args, dots)]
        if all(d is None for d in ds):
            return None
        return rule.jvp(tuple(ds), out, *primals, **kwargs)

    return _view_dual(src, out, rule_dot, level, k, single, cls)


def _views(out, rule, dots, primals, args, kwargs, level, k, single, cls):
    """Results holding views (np.split, nested levels): each view element aliases its source."""
    out_dot = None
    if any(d is not None for d in dots):
        out_dot = rule.jvp(tuple(dots), out, *primals, **kwargs)
    if isinstance(out, Dual) or type(out) is np.ndarray:
        src = _view_source(out, args, level)
        return _view_dual(src, out, lambda t=None: out_dot, level, k, single, cls)
    items = []
    for i, o in enumerate(out):
        d = None if out_dot is None else out_dot[i]
        src = _view_source(o, args, level) if isinstance(o, (np.ndarray, Dual)) else None
        if src is not None and differentiable(o):
            items.append(_view_dual(src, o, lambda t=None, d=d: d, level, k, single, cls))
        else:
            items.append(_wrap(o, _unshared(d, args, level), level, k, single, cls))
    return type(out)(items)


def _wrap(out, out_dot, level, k, single, cls):
    if type(out) in (tuple, list) or (isinstance(out, tuple) and hasattr(out, "_fields")):
        dots = out_dot if out_dot is not None else (None,) * len(out)
        items = [_wrap(o, d, level, k, single, cls) for o, d in zip(out, dots)]
        return type(out)(*items) if hasattr(out, "_fields") else type(out)(items)
    if not differentiable(out):
        return out
    return cls._new(out, out_dot, level, k, single)


# -- hyper-dual numbers ---------------------------------------------------------------------

#: Levels of hand-built HyperDuals: every HyperDual(...) shares them, so they interact.
_H1, _H2 = _tags.new_level(), _tags.new_level()


def _directions(e, shape, what):
    """``(k, *shape)`` tangent and whether it was given as one direction."""
    es = shape_of(e)
    if tuple(es) == tuple(shape):
        return e.reshape((1,) + tuple(shape)), True
    if len(es) == len(shape) + 1 and tuple(es[1:]) == tuple(shape):
        return e, False
    raise ValueError(f"{what} shape {tuple(es)} does not match primal shape {tuple(shape)}")


class HyperDual(Dual):
    """Hyper-dual number ``a + b eps1 + c eps2 + d eps1 eps2`` with eps1² = eps2² = 0.

    ``f(HyperDual(x, 1, 1, 0))`` carries ``f''(x)`` in ``eps12``, exactly. It is a Dual (level
    eps2) whose primal and tangent are Duals of a lower level (eps1), so every first-order
    rule serves it. ``eps1``/``eps2`` may carry ``k1``/``k2`` directions on a leading axis; then
    ``eps12`` has shape ``(k1, k2) + primal.shape``.

    >>> import numpy as np, dualad
    >>> h = dualad.HyperDual(np.array(0.5), 1.0, 1.0, 0.0)
    >>> bool(np.sin(h).eps12 == -np.sin(0.5))
    True
    """

    __slots__ = ()

    def __init__(self, primal, eps1=None, eps2=None, eps12=None):
        a = _float_dtype(_as_array(primal, "primal"), "primal")
        shape = tuple(shape_of(a))

        def part(e, what):
            if e is None:
                return np.zeros_like(a)
            e = _float_dtype(_as_array(e, what), what)
            return np.broadcast_to(e, shape) if np.ndim(e) == 0 and shape else e

        e1, s1 = _directions(part(eps1, "eps1"), shape, "eps1")
        e2, s2 = _directions(part(eps2, "eps2"), shape, "eps2")
        k1, k2 = e1.shape[0], e2.shape[0]
        e12 = part(eps12, "eps12")
        want = (k1, k2) + shape
        lead = (() if s1 else (k1,)) + (() if s2 else (k2,))
        if tuple(shape_of(e12)) != lead + shape:
            raise ValueError(f"eps12 shape {tuple(shape_of(e12))} should be {lead + shape}")
        e12 = e12.reshape(want)
        self._p = Dual._new(a, e1, _H1, k1, s1)
        self._dot = Dual._new(e2, e12, _H1, k1, s1)
        self._m, self._owns, self._pk = meta(_H2, k2, s2), False, None

    def _inner(self):
        p = self._p
        return p if isinstance(p, Dual) else None

    @property
    def primal(self):
        """The real part ``a``."""
        p = self._p
        return p._p if isinstance(p, Dual) else p

    @property
    def eps1(self):
        """Coefficient of eps1: the first derivative along the eps1 directions."""
        p = self._inner()
        return p.tangent if p is not None else np.zeros_like(self.primal)

    @property
    def eps2(self):
        """Coefficient of eps2."""
        d = self._dot
        if d is None:
            return np.zeros_like(
                self.primal, shape=(() if self._single else (self._k,)) + self.shape
            )
        d = d._p if isinstance(d, Dual) else d
        d = unpack(d, self._k)
        return d[0] if self._single else d

    @property
    def eps12(self):
        """Coefficient of eps1 eps2: the exact mixed second derivative."""
        p = self._inner()
        k1, s1 = (p._k, p._single) if p is not None else (1, True)
        d = self._dot
        t = d._dot_array() if isinstance(d, Dual) else None
        if t is None:
            t = np.zeros_like(self.primal, shape=(k1, self._k) + self.shape)
        if self._single:
            t = t[:, 0]
        return t[0] if s1 else t

    def __repr__(self) -> str:
        return (
            f"HyperDual(primal={self.primal!r}, eps1={self.eps1!r}, eps2={self.eps2!r}, "
            f"eps12={self.eps12!r})"
        )

"""Dual numbers over arrays: thin containers plus NumPy's two override hooks.

A ``Dual`` holds a primal array and a tangent with a leading direction axis of ``k >= 1``
(one code path for one or many directions). ``__array_ufunc__`` and ``__array_function__``
look the function up in ``dualad.rules.RULES`` and let the rule compute the tangent. Duals of
different levels (tags) nest: the highest level is unwrapped first, so nested derivatives do
not confuse perturbations. A zero tangent is stored as ``None`` and costs nothing.
"""

from __future__ import annotations

from dualad._numpy import np

from . import _tags, _views
from ._alias import (
    FROZEN,
    INPUT,
    MIRRORED,
    READ_ONLY_INPUT,
    copy_tree,
    maybe_view,
)
from ._ops import (
    ArrayOps,
    _binary,
    _nested,
    _out_position,
    bind_kwargs,
    block,
    differentiable,
    is_complex,
    refuse_object,
    rows_of_one,
    split_out,
    stacked_items,
    strip,
    ufunc_at,
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
from ._views import (
    any_view,
    foreign_view,
    same_kind,
    unshared,
    view,
    view_source,
    views,
    wrap,
)
from ._writers import IN_PLACE
from .rules import COMPOSITES, PRIMAL_ONLY, RULES, lookup, ufunc_method_target
from .rules._define import getitem, shape_of
from .rules.complex import complex_rule
from .rules.update import index_update, trailing_key

_F64_DTYPE = np.dtype(np.float64)
_USER = _tags.USER_LEVEL
_USER_1, _USER_K1, _USER_2 = meta(_USER, 1, True), meta(_USER, 1, False), meta(_USER, 2, False)
_NEW = object.__new__
#: Largest vector whose packed tangents x[i] caches (one list of Python numbers).
_PACK_MAX = 4096
_WIDE_MAX = 64


def _unpack_all(dots, k: int):
    return [tuple(unpack(e, k) for e in d) if type(d) is tuple else unpack(d, k) for d in dots]


def _as_array(x, what: str):
    if x is None:
        raise TypeError(f"Dual {what} must be array-like, got None")
    if isinstance(x, (np.matrix, np.ma.MaskedArray)):
        raise TypeError(
            f"a Dual {what} of type {type(x).__name__}: its operators and reductions differ "
            "from ndarray's (matrix products, masked elements), which dualad does not follow. "
            "Pass np.asarray(x) (or x.filled(...) for a masked array)"
        )
    if isinstance(x, (Leveled, np.ndarray, np.generic)) or hasattr(x, "__cuda_array_interface__"):
        return x
    if hasattr(x, "__array_namespace__") or hasattr(x, "__array_function__"):
        return x
    try:
        return np.asarray(x, dtype=float)
    except (TypeError, ValueError) as e:
        if is_complex(x):
            return np.asarray(x)
        raise TypeError(f"Dual {what} must be array-like, got {type(x).__name__}") from e


def _float_dtype(x, what: str):
    dt = getattr(x, "dtype", None)
    if dt is not None and dt.kind in "biu":
        return x.astype(np.float64)
    if dt is not None and dt.kind not in "fc":
        raise TypeError(
            f"a Dual {what} of dtype {dt}: only real and complex numbers carry derivatives "
            "(convert with x.astype(float))"
        )
    return x


def _same_field(primal, tangent):
    """A complex primal takes a complex tangent (a real one is cast); a real primal refuses a
    complex tangent: its value could not move that way."""
    pc = getattr(getattr(primal, "dtype", None), "kind", "f") == "c"
    tc = getattr(getattr(tangent, "dtype", None), "kind", "f") == "c"
    if pc and not tc:
        return tangent.astype(np.result_type(primal.dtype, tangent.dtype))
    if tc and not pc:
        raise TypeError(
            "a complex tangent for a real primal: a real value has real tangents. Make the "
            "primal complex (x.astype(complex)) to move it off the real axis."
        )
    return tangent


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
        if tag is None and _tags._ACTIVE:  # built inside a running transform: see user_level
            tag = _tags.user_level()
        if type(tangent) is np.ndarray and (type(primal) is np.float64 or type(primal) is float):
            s = tangent.shape  # a scalar seed with k <= 2 directions: pack it right away
            if tangent.dtype is _F64_DTYPE and (not s or (len(s) == 1 and 0 < s[0] <= 2)):
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
        tangent = _same_field(primal, tangent)
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
        scalar = (
            k <= 2 and pshape == () and type(primal) is np.ndarray and primal.dtype == np.float64
        )
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
    dtype = property(lambda self: _F64_DTYPE if type(self._p) is float else self._p.dtype)
    T = property(lambda self: np.transpose(self))
    mT = property(lambda self: np.swapaxes(self, -1, -2))

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
        if not copy and dt == self.dtype:
            return self  # NumPy returns the array itself: a later write shows through both
        dot = self._dot_array()
        dot = None if dot is None else dot.astype(dt, copy=copy)
        p = self._p if isinstance(self._p, Leveled) else self.primal  # a HyperDual's: eps1
        p = p.astype(dt, copy=copy)
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
        elif method == "at":  # in place, entry by entry: a traced a, or b
            return ufunc_at(ufunc, *inputs)
        else:
            func, args, kw = ufunc_method_target(ufunc, method, inputs, kwargs)
            res = forward(func, args, kw, level, type(owner))
        if out is None:
            return res
        return write_out(ufunc, out, res, kwargs.get("casting", "same_kind"))

    # packed scalars take math kernels and the operator rules before the generic hook
    __array_ufunc__ = ufunc_hook(_array_ufunc)

    def __array_function__(self, func, types, args, kwargs):
        if func is np.stack and len(args) == 1 and not kwargs and type(args[0]) in (list, tuple):
            # np.stack([f1, f2]) at the end of scalar code: packed Duals of one level (so the
            # top one) and numbers only, else None and the generic path
            res = stack_packed(args[0], None)
            if res is not None:
                return res
        level, owner = call_level(args, kwargs)
        if not isinstance(owner, Dual):
            return NotImplemented
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
        if "out" in kwargs or (len(args) > 1 and _out_position(func)):
            args, kwargs, out = split_out(func, args, kwargs)  # out= by name or position
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
            if 2 < self._k <= _WIDE_MAX and type(out) is np.float64 and d.dtype is _F64_DTYPE:
                # a few directions: a float primal with a (k,) tangent array, which the
                # scalar fast paths combine as they do floats (array arithmetic)
                return type(self)._new(
                    float(out), d[:, key].copy(), self._level, self._k, self._single
                )
            if self._k > 2 or type(out) is not np.float64 or d.dtype is not _F64_DTYPE:
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
                "dualad cannot follow on this backend or under this nesting (a tape Variable "
                "inside a Dual: reverse over forward); write into a copy instead: "
                "y = np.copy(x); y[key] = value"
            )
        self._pk = None
        if isinstance(value, Leveled) and value._level > self._level:
            raise _tags.NewerLevelWrite(
                "cannot store a value that carries a newer derivative level into this Dual "
                "buffer; build the buffer from that value instead, e.g. np.zeros_like(value)"
            )
        same = isinstance(value, Dual) and value._level == self._level
        pv = value._p if same else value
        if isinstance(pv, Leveled) and not isinstance(self._p, Leveled):
            # (still a TypeError, as NumPy's own refusal was, for code that catches it)
            raise TypeError(
                "writing a value that carries an outer transform's derivative into an element "
                "of a Dual whose values carry none (nested forward modes, such as a jacobian "
                "of a hyper-dual hessian, do not follow element writes): use "
                "hessian(method='accumulate') or an inner reverse mode there, or build the "
                "array from traced values (np.stack, np.concatenate) instead of writing"
            )
        self._p[key] = pv
        vdot = value._dot_array() if same else None
        if vdot is None and self._dot is None:
            return
        if same and vdot is not None and value._k != self._k:  # (no tangent: zeros, any k)
            raise ValueError(f"direction counts differ: {value._k} vs {self._k}")
        dot = self._writable_dot()
        # index with the direction axis last, so advanced indices in `key` (even separated
        # ones, which NumPy moves to the front) never move it
        upd = 0.0 if vdot is None else np.moveaxis(vdot, 0, -1)
        if isinstance(upd, Leveled) and not isinstance(dot, Leveled):
            # a tangent that carries an outer derivative (forward over forward) written into
            # a plain one: the tangent becomes that outer kind, functionally; views of it
            # would keep the plain array, so with views this raises
            if self._owns == MIRRORED:
                raise NotImplementedError(
                    "writing a value that carries an outer derivative into a view (or the base "
                    "of views) of this Dual: views would not see its tangent; write into a copy "
                    "instead: y = np.copy(x); y[key] = value"
                )
            args = (np.moveaxis(dot, 0, -1), trailing_key(key), upd)
            moved = upd._apply(index_update, args, {}, upd._level)  # at upd's level
            self._dot = np.moveaxis(moved, -1, 0)
            return
        if not isinstance(dot, Leveled) or self._owns == MIRRORED:
            # a view: writes land in dot (for a nested tangent, the view is a mirrored Dual)
            moved = np.moveaxis(dot, 0, -1)
            moved[trailing_key(key)] = upd
            if not isinstance(dot, (np.ndarray, Leveled)):  # another backend's moveaxis may
                self._dot = np.moveaxis(moved, -1, 0)  # copy (Dask): keep what was written
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
            self._dot = copy_tree(unpack(self._dot, self._k), same_kind)
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


def _complex_dots(dots) -> bool:
    """True if a tangent among ``dots`` is complex (a complex Dual's always is)."""
    for d in dots:
        if d is not None:
            if type(d) is tuple:
                if _complex_dots(d):
                    return True
            elif d.dtype.kind == "c":
                return True
    return False


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
    args = stacked_items(func, args)
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
            src = view_source(out, args, level)
            if src is not None:
                return view(src, out, rule, dots, primals, args, kwargs, level, k, single, cls)
    elif (
        (t in (list, tuple) or isinstance(out, Dual))
        and maybe_view(out, primals)
        and any_view(out, args, level)
    ):
        return views(out, rule, dots, primals, args, kwargs, level, k, single, cls)
    elif t is not np.float64 and (src := foreign_view(func, out, args, level)) is not None:
        # another backend's array that may view an argument's memory: frozen, never stale
        return view(src, out, rule, dots, primals, args, kwargs, level, k, single, cls)
    elif isinstance(out, Leveled) and differentiable(out):
        # a value of another transform (a tape Variable: reverse over forward) that may view
        # an argument's memory: its tangent cannot mirror, so view and source are frozen
        # (a write raises) instead of a write reaching the values but not the tangents
        src = view_source(out, args, level)
        if src is not None:
            return view(src, out, rule, dots, primals, args, kwargs, level, k, single, cls)
    for d in dots:
        if d is not None:
            break
    else:
        return wrap(out, None, level, k, single, cls)
    if t is np.ndarray:
        kind = out.dtype.kind
        if kind != "f":
            if kind != "c":
                refuse_object(func, out)  # (an object array would be a constant)
                return out
            rule = complex_rule(func, rule)  # see dualad.rules.complex
        elif _complex_dots(dots):  # a real result of complex values: |z|, z.real, irfft
            rule = complex_rule(func, rule)
    elif (t is not np.float64 and is_complex(out)) or _complex_dots(dots):
        rule = complex_rule(func, rule)
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
            res._dot = unshared(out_dot, args, level)
    elif k <= 2 and t is np.float64 and type(out_dot) is np.ndarray and out_dot.dtype == _F64_DTYPE:
        res = cls._new(float(out), pack(out_dot, k), level, k, single)
    else:
        res = wrap(out, unshared(out_dot, args, level), level, k, single, cls)
    return res


_views.bind(Dual)

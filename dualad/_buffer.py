"""Promotable buffers: ``np.zeros`` and friends under interception.

Code that fills a plain buffer (``out = np.zeros(n); out[i] = x[i] ** 2``) writes derivatives
into an array that cannot hold them. Under interception ``np.zeros/ones/empty/full`` (and the
``_like`` forms of plain arrays) return a ``Buffer``: an ndarray that behaves as one until a
Dual or Variable is written into it (or into a view of it, or through ``out=``). Then its
memory root is *promoted*: it stands for a wrapper of the written value's level, and every
Buffer on that memory (the root and its views, taken before or after) answers NumPy calls,
indexing, operators and methods through it. Forward mode keeps the buffer's memory as the
Dual's primal and gives views mirrored tangents (dualad._alias); reverse mode keeps a
Variable whose views join its alias group. Anything it cannot follow raises. Imports numpy,
_tags, _alias and dual; the tape only when a Variable is written.
"""

from __future__ import annotations

from dualad._numpy import np

from ._tags import Deferring, Leveled

_base = np.ndarray.base.__get__
_get = object.__getattribute__
_zeros = np.zeros  # NumPy's own, taken before interception can wrap it


def _root(b: np.ndarray) -> np.ndarray:
    """The Buffer deepest in ``b``'s chain of bases: the one whose memory its views share
    (a fancy-indexed copy has a plain temporary below it, which nothing else sees); ``b``
    itself if there is none."""
    root = b
    while True:
        b = _base(b)
        if not isinstance(b, np.ndarray):
            return root
        if type(b) is Buffer:
            root = b


def _state(b) -> dict | None:
    """The promotion record of ``b``'s memory root: ``{"wrapper": ...}`` or None."""
    root = _root(b)
    if type(root) is not Buffer:
        return None
    return _get(root, "__dict__").get("_promoted")


def wrapper_of(b):
    """The wrapper a promoted Buffer stands for (a Dual or Variable), or None."""
    state = _state(b)
    if state is None:
        return None
    rw = state["wrapper"]
    if b is state["root"]:
        return rw
    own = _get(b, "__dict__")
    w = own.get("_view")
    if w is None:
        w = own["_view"] = _view_wrapper(rw, state["root"], b)
    return w


def resolve(x):
    """``x`` with Buffers replaced: promoted ones by their wrappers, others by plain views
    (lists, tuples and dicts looked into)."""
    if isinstance(x, Buffer):
        w = wrapper_of(x)
        return w if w is not None else x.view(np.ndarray)
    t = type(x)
    if t is list or t is tuple:
        return t(resolve(e) for e in x)
    if t is dict:
        return {k: resolve(v) for k, v in x.items()}
    return x


def _holds_wrapper(x) -> bool:
    if isinstance(x, Leveled):
        return True
    if isinstance(x, Buffer):
        return wrapper_of(x) is not None
    if type(x) in (list, tuple):
        return any(_holds_wrapper(e) for e in x)
    return False


def _first_wrapper(x):
    if isinstance(x, Leveled):
        return x
    if type(x) in (list, tuple):
        for e in x:
            w = _first_wrapper(e)
            if w is not None:
                return w
    return None


def _as_buffer(res, inputs):
    """A plain result that shares a Buffer's memory (a reshape, a slice) becomes a Buffer
    too, so it follows a later promotion as NumPy's view would."""
    if type(res) is np.ndarray and _base(res) is not None and type(_root(res)) is Buffer:
        # (_root(res) is res itself unless a Buffer lies below it)
        return res.view(Buffer)
    if type(res) in (list, tuple):
        return type(res)(_as_buffer(r, inputs) for r in res)
    return res


# -- promotion --------------------------------------------------------------------------------


def promote(b, value) -> None:
    """Make ``b``'s memory stand for a wrapper of ``value``'s kind and level (once)."""
    w = _first_wrapper(value)
    if w is None:
        return
    root = _root(b)
    if type(root) is not Buffer:
        raise TypeError(
            f"this would write a {type(w).__name__} into a plain NumPy array, which cannot hold "
            "its derivative: build the buffer inside the differentiated call "
            "(with intercept=True), or from the value: out = np.zeros_like(x)"
        )
    own = _get(root, "__dict__")
    state = own.get("_promoted")
    if state is not None:
        rw = state["wrapper"]
        if type(rw) is not type(w) or rw._level != w._level:
            raise NotImplementedError(
                "this buffer already holds derivatives of another level or kind; build one "
                "buffer per derivative (out = np.zeros_like(x)) instead"
            )
        return
    if root.dtype.kind not in "fc":
        raise TypeError(
            f"a {root.dtype} buffer cannot hold a derivative; use a float or complex dtype"
        )
    plain = root.view(np.ndarray)
    own["_promoted"] = {"wrapper": _zero_like(w, plain.copy(order="K")), "root": root}
    # The wrapper holds the values from now on. Compiled code that reads the buffer's memory
    # directly (it is an ndarray) gets NaN there, never plausible numbers without derivative.
    plain.fill(np.nan)


def _zero_like(w, plain):
    """A constant wrapper of ``w``'s kind, levels and directions (nested ones too) holding
    ``plain`` (a copy of the buffer, laid out as it is) as its innermost value."""
    from ._pattern import Pattern
    from .dual import Dual

    if isinstance(w, Pattern):  # dualad.sparsity's tracer: no dependency yet
        return Pattern(plain, np.empty((plain.size, 0), dtype=np.int64), w.n)
    if isinstance(w, Dual):
        inner = w._p
        p = _zero_like(inner, plain) if isinstance(inner, Leveled) else plain
        out = type(w)._new(p, _zero_tangent(w._dot, (w._k,), plain), w._level, w._k, w._single)
        out._owns = True
        return out
    from tape.variable import constant_like

    value = w._unwrap()  # a Variable
    return constant_like(w, _zero_like(value, plain) if isinstance(value, Leveled) else plain)


def _zero_tangent(t, lead, plain):
    """Zeros shaped ``lead + plain.shape``, nested as the tangent ``t`` is."""
    from .dual import Dual

    if isinstance(t, Dual):  # a nested tangent (second order)
        out = Dual._new(
            _zero_tangent(t._p, lead, plain),
            _zero_tangent(t._dot, (t._k,) + lead, plain),
            t._level, t._k, t._single,
        )  # fmt: skip
        out._owns = True
        return out
    if isinstance(t, Leveled):
        raise NotImplementedError(
            "a buffer cannot take a derivative whose tangent is itself recorded on a tape; "
            "build the buffer from the value instead: out = np.zeros_like(x)"
        )
    return _zeros(lead + plain.shape, plain.dtype)


def _same_place(b, root, target: np.ndarray) -> np.ndarray:
    """The view of ``target`` (laid out as ``root``) that ``b`` is of ``root``."""
    bp, rp = b.view(np.ndarray), root.view(np.ndarray)
    start = bp.__array_interface__["data"][0] - rp.__array_interface__["data"][0]
    base = target
    while isinstance(base.base, np.ndarray):
        base = base.base
    offset = target.__array_interface__["data"][0] - base.__array_interface__["data"][0] + start
    dtype = target.dtype if bp.dtype == rp.dtype else bp.dtype  # (z.real of a complex buffer)
    return np.ndarray(bp.shape, dtype, buffer=base, offset=offset, strides=bp.strides)


def _view_wrapper(rw, root, b):
    """The wrapper for ``b``, a Buffer on the memory of the promoted ``root``."""
    from ._pattern import Pattern
    from ._views import view_dual
    from .dual import Dual

    if isinstance(rw, Pattern):
        return _view_pattern(rw, root, b)
    if isinstance(rw, Dual):
        inner = rw._p
        p = (
            _view_wrapper(inner, root, b)
            if isinstance(inner, Leveled)
            else _same_place(b, root, inner)
        )
        return view_dual(rw, p, lambda t=None: None, rw._level, rw._k, rw._single, type(rw))
    from tape.variable import view_into

    return view_into(rw, root.view(np.ndarray), b.view(np.ndarray))  # plain: no delegation


def _view_pattern(rw, root, b):
    """``b`` as a view of the tracer ``rw`` (``root``'s): its value at ``b``'s place in
    ``rw.value``, its rows the root elements it shows (read off an array of element numbers
    laid out as ``root``)."""
    from ._pattern import Pattern

    numbers = np.empty_like(rw.value, order="K")
    idx = np.arange(numbers.size).reshape(numbers.shape)  # (C order: the rows')
    numbers[...] = idx * (1 + 1j) if numbers.dtype.kind == "c" else idx  # (b.imag reads too)
    local = _same_place(b, root, numbers).real.ravel().astype(np.intp)
    partial = rw.value.dtype.kind == "c" and b.view(np.ndarray).dtype.kind != "c"  # (b.real)
    return Pattern._view_of(rw, _same_place(b, root, rw.value), local, partial)


# -- the Buffer type --------------------------------------------------------------------------

_INPLACE_FIRST = {"copyto", "put", "putmask", "place", "fill_diagonal", "put_along_axis"}
#: Attributes the Buffer answers itself, promoted or not.
_OWN = frozenset({"view", "flags", "base", "_plain_or"})


class Buffer(np.ndarray, Deferring):
    """A float or complex array made under interception; plain until a wrapper is written
    into it.

    >>> import numpy as np, dualad
    >>> def f(x):
    ...     out = np.zeros(2)
    ...     out[0] = x[0] * x[1]
    ...     return out
    >>> dualad.jacobian(f, np.array([2.0, 3.0]), intercept=True)
    array([[3., 2.],
           [0., 0.]])
    """

    def __getattribute__(self, name):
        if name.startswith("__") or name in _OWN:
            return _get(self, name)
        w = wrapper_of(self)
        return _get(self, name) if w is None else getattr(w, name)

    def __setattr__(self, name, value):
        # ``b.real = value`` / ``b.imag = value``: a write into that half of each element
        if name in ("real", "imag") and (wrapper_of(self) is not None or _holds_wrapper(value)):
            w = wrapper_of(self)
            if w is not None:
                setattr(w, name, resolve(value))
            elif name == "imag" and self.dtype.kind != "c":
                raise TypeError("array does not have imaginary part to set")
            else:  # a view of that half (self itself for .real of a real buffer): promotes
                getattr(self, name)[...] = value
            return
        np.ndarray.__setattr__(self, name, value)

    # -- indexing -------------------------------------------------------------------------
    def __getitem__(self, key):
        w = wrapper_of(self)
        if w is not None:
            return w[resolve(key)]
        return np.ndarray.__getitem__(self, resolve(key))

    def __setitem__(self, key, value):
        if wrapper_of(self) is None:
            if not _holds_wrapper(value):
                np.ndarray.__setitem__(self, resolve(key), resolve(value))
                return
            promote(self, resolve(value))
        wrapper_of(self)[resolve(key)] = resolve(value)

    def fill(self, value):  # b.fill(x[1]): a write of every element, as b[...] = value
        if wrapper_of(self) is None and not _holds_wrapper(value):
            np.ndarray.fill(self, resolve(value))
            return
        self[...] = value

    # -- NumPy's hooks: the wrapper (or the plain memory) answers -------------------------
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        ins = resolve(inputs)
        out = kwargs.get("out")
        if method == "at" and isinstance(inputs[0], Buffer) and _holds_wrapper(ins[1:]):
            promote(inputs[0], ins[1:])
            ins = resolve(inputs)
        if out is not None:
            if _holds_wrapper(ins):
                for o in out:
                    if isinstance(o, Buffer):
                        promote(o, ins)
                ins = resolve(inputs)  # a promoted buffer among them: now its wrapper
            kwargs["out"] = resolve(tuple(out))
        res = getattr(ufunc, method)(*ins, **kwargs)
        if out is not None:
            return out[0] if len(out) == 1 else tuple(out)
        return _as_buffer(res, inputs)

    def __array_function__(self, func, types, args, kwargs):
        rargs, rkw = resolve(args), resolve(kwargs)
        into = func.__name__ in _INPLACE_FIRST and args and isinstance(args[0], Buffer)
        if into and (_holds_wrapper(rargs[1:]) or _holds_wrapper(rkw)):
            promote(args[0], (rargs[1:], list(rkw.values())))
            rargs = resolve(args)
        out = kwargs.get("out")
        if isinstance(out, Buffer) and (_holds_wrapper(rargs) or _holds_wrapper(rkw)):
            promote(out, rargs)
            rargs, rkw = resolve(args), resolve(kwargs)
        res = func(*rargs, **rkw)
        if out is not None and isinstance(out, Buffer):
            return out
        return _as_buffer(res, args)

    # -- conversions and protocols that bypass the hooks ----------------------------------
    def _plain_or(self, name, *args):
        w = wrapper_of(self)
        if w is None:
            return getattr(np.ndarray, name)(self, *args)
        return getattr(w, name)(*args)

    def __float__(self):
        return self._plain_or("__float__")

    def __int__(self):
        return self._plain_or("__int__")

    def __complex__(self):
        return self._plain_or("__complex__")

    def __index__(self):
        return self._plain_or("__index__")

    def __bool__(self):
        return self._plain_or("__bool__")

    def __len__(self):
        return self._plain_or("__len__")

    def __iter__(self):
        w = wrapper_of(self)
        return np.ndarray.__iter__(self) if w is None else iter(w)

    def __repr__(self):
        w = wrapper_of(self)
        return repr(self.view(np.ndarray)) if w is None else repr(w)

    __str__ = __repr__

    def __array__(self, dtype=None, copy=None):
        w = wrapper_of(self)
        if w is not None:
            return w.__array__(dtype, copy)  # raises: the derivative would be lost
        plain = self.view(np.ndarray)
        return plain if dtype is None else plain.astype(dtype)

    def __copy__(self):
        return self._plain_or("__copy__") if wrapper_of(self) is None else np.copy(self)

    def __deepcopy__(self, memo):
        return self.__copy__()

    def __reduce__(self):
        w = wrapper_of(self)
        if w is not None:
            raise TypeError("a promoted buffer holds a derivative and cannot be pickled")
        return self.view(np.ndarray).__reduce__()


def make(out):
    """``out`` (a fresh np.zeros/ones/empty/full result) as a Buffer if its dtype is float or
    complex; other dtypes cannot hold a derivative and stay plain."""
    if type(out) is not np.ndarray or out.dtype.kind not in "fc":
        return out
    buf = Buffer(out.shape, out.dtype, order="F" if _f_order(out) else "C")
    np.ndarray.__setitem__(buf, ..., out)
    return buf


def _f_order(a) -> bool:
    return a.ndim > 1 and a.flags.f_contiguous and not a.flags.c_contiguous

"""Products: matmul, matvec, vecmat, vecdot, dot, vdot, inner, outer, tensordot, kron, cross,
convolve, correlate; also the helpers einsum, linalg and factorisations import from here.

Tangents carry a leading direction axis that must never be taken for a batch axis, so 1-D
operands are treated explicitly and directions fold into one BLAS call. Imports numpy only.
"""

from __future__ import annotations

import math

from dualad._numpy import np

from ._define import align, defrule, ndim_of, shape_of, unbroadcast

# -- helpers ------------------------------------------------------------------------------


def _plus(t, s):
    """``t + s`` for two fresh terms (either may be None), in place when ``t`` is ours."""
    if t is None:
        return s
    if s is None:
        return t
    if (
        type(t) is np.ndarray
        and type(s) is np.ndarray
        and t.shape == s.shape
        and (t.dtype == np.result_type(t, s) and t.flags.writeable)
    ):
        t += s
        return t
    return t + s


def _neg(t):
    if type(t) is np.ndarray and t.flags.writeable:
        return np.negative(t, out=t)
    return -t


def _rows(x):
    """``x`` as a matrix ``(rows, x.shape[-1])``; ``reshape(-1, 0)`` is ambiguous for an
    empty contracted axis (``A[i, :i] @ x[:i]`` at ``i = 0``), so the rows are counted."""
    s = x.shape
    return x.reshape(math.prod(s[:-1]), s[-1])


def _mm2(x, m):
    """``x @ m`` for ``x`` of shape ``(..., n)`` and 2-D or 1-D ``m``: one BLAS call."""
    s = x.shape
    if len(s) <= 2:
        return x @ m
    r = _rows(x) @ m
    return r.reshape(s[:-1] + r.shape[1:])


def _eye(like, n: int, m: int | None = None, offset: int = 0):
    """Identity-like constant on ``like``'s backend (``np.eye`` has no ``like`` for Duals)."""
    m = n if m is None else m
    e = np.zeros_like(like, shape=(n, m))
    if type(e) is not np.ndarray:
        base = e
        while hasattr(base, "_level"):  # under the wrappers (Dual, tape.Variable)
            base = base._unwrap()
        if type(base) is not np.ndarray:  # Dask writes one fancy index at a time: compare
            rows = np.arange(offset, n + offset, like=base)[:, None]
            return (rows == np.arange(m, like=base)[None, :]).astype(base.dtype)
    i = np.arange(max(0, -offset), min(n, m - offset))
    e[i, i + offset] = 1
    return e


def _no_axes(name: str, kwargs: dict, allow: tuple = ()):
    bad = [k for k in ("axes", "axis", "keepdims") if k in kwargs and k not in allow]
    if bad:
        raise NotImplementedError(
            f"numpy.{name}(..., {bad[0]}=...) on a Dual is not supported: move the core axes "
            "to the end with np.moveaxis and call it without them"
        )


def _const(x):
    # a literal operand such as [1, 2, 1] is a constant, not a value to differentiate
    return np.asarray(x) if type(x) in (list, tuple) else x


def _wants(needs, i: int) -> bool:
    return needs is None or needs[i]


# -- matmul and the other core-dimension ufuncs --------------------------------------------


def matmul_jvp(dots, out, a, b, **kwargs):
    a, b = _const(a), _const(b)
    _no_axes("matmul", kwargs)
    a_dot, b_dot = dots[:2]
    na, nb = a.ndim, b.ndim
    t = s = None
    if a_dot is not None:
        if na == 1:  # (k, n) is a matrix here: each row is one direction
            t = a_dot @ b
            if nb > 2:
                t = np.moveaxis(t, -2, 0)
        elif nb <= 2:  # b has no batch axes: all directions in one BLAS call
            t = _mm2(a_dot, b)
        else:
            t = np.matmul(align(a_dot, out.ndim), b)
    if b_dot is not None:
        if nb == 1:  # W @ x with x (k, n): x_dot @ W.T, one (k, n) @ (n, m) call
            a2 = a if na <= 2 else _rows(a)
            s = b_dot @ a2.T if na > 1 else b_dot @ a2
            if na > 2:
                s = s.reshape((s.shape[0],) + out.shape)
        elif na == 1:
            s = np.matmul(a, b_dot)
        else:
            s = np.matmul(a, align(b_dot, out.ndim))
    return _plus(t, s)


def matmul_vjp(out_bar, out, a, b, needs=None, **kwargs):
    a, b = _const(a), _const(b)
    _no_axes("matmul", kwargs)
    na, nb = a.ndim, b.ndim
    a_bar = b_bar = None
    if _wants(needs, 0):
        if nb == 1:
            a_bar = out_bar[..., None] * b
        elif na == 1:
            if nb == 2:
                a_bar = out_bar @ b.T
            else:  # sum over b's batch axes and columns in one tensordot
                a_bar = np.tensordot(
                    out_bar, b, axes=(list(range(1, nb)), list(range(nb - 2)) + [nb - 1])
                )
        else:
            if nb == 2:
                a_bar = _mm2(out_bar, b.T)
            else:
                a_bar = np.matmul(out_bar, np.swapaxes(b, -1, -2))
            a_bar = unbroadcast(a_bar, a.shape)
    if _wants(needs, 1):
        if na == 1:
            b_bar = out_bar[..., None] * a if nb == 1 else a[:, None] * out_bar[..., None, :]
        elif nb == 1:
            r = out_bar.shape[0]
            a2 = a if na == 2 else _rows(a)
            b_bar = out_bar.reshape(r, -1) @ a2
        else:
            b_bar = unbroadcast(np.matmul(np.swapaxes(a, -1, -2), out_bar), b.shape)
    return a_bar, b_bar


defrule(np.matmul, matmul_jvp, matmul_vjp)
defrule(np.linalg.matmul, matmul_jvp, matmul_vjp)


def matvec_jvp(dots, out, a, x, **kwargs):
    a, x = _const(a), _const(x)
    _no_axes("matvec", kwargs)
    a_dot, x_dot = dots[:2]
    t = s = None
    if a_dot is not None:
        t = np.matvec(align(a_dot, out.ndim + 1), x)
    if x_dot is not None:
        s = _mm2(x_dot, a.T) if a.ndim == 2 else np.matvec(a, align(x_dot, out.ndim))
    return _plus(t, s)


def matvec_vjp(out_bar, out, a, x, needs=None, **kwargs):
    a, x = _const(a), _const(x)
    _no_axes("matvec", kwargs)
    a_bar = x_bar = None
    if _wants(needs, 0):
        a_bar = unbroadcast(out_bar[..., :, None] * x[..., None, :], a.shape)
    if _wants(needs, 1):
        x_bar = _mm2(out_bar, a) if a.ndim == 2 else np.vecmat(out_bar, a)
        x_bar = unbroadcast(x_bar, x.shape)
    return a_bar, x_bar


defrule(np.matvec, matvec_jvp, matvec_vjp)


def vecmat_jvp(dots, out, x, a, **kwargs):
    x, a = _const(x), _const(a)
    _no_axes("vecmat", kwargs)
    x_dot, a_dot = dots[:2]
    t = s = None
    if x_dot is not None:
        t = _mm2(x_dot, a) if a.ndim == 2 else np.vecmat(align(x_dot, out.ndim), a)
    if a_dot is not None:
        s = np.vecmat(x, align(a_dot, out.ndim + 1))
    return _plus(t, s)


def vecmat_vjp(out_bar, out, x, a, needs=None, **kwargs):
    x, a = _const(x), _const(a)
    _no_axes("vecmat", kwargs)
    x_bar = a_bar = None
    if _wants(needs, 0):
        x_bar = _mm2(out_bar, a.T) if a.ndim == 2 else np.matvec(a, out_bar)
        x_bar = unbroadcast(x_bar, x.shape)
    if _wants(needs, 1):
        a_bar = unbroadcast(x[..., :, None] * out_bar[..., None, :], a.shape)
    return x_bar, a_bar


defrule(np.vecmat, vecmat_jvp, vecmat_vjp)


def _vec_axis(x, axis: int) -> int:
    """A core-axis index that stays valid when axes are prepended: negative."""
    n = ndim_of(x)
    return axis % n - n


def vecdot_jvp(dots, out, x, y, axis=-1, **kwargs):
    _no_axes("vecdot", kwargs)
    x_dot, y_dot = dots[:2]
    n = ndim_of(out) + 1
    t = s = None
    if x_dot is not None:
        t = np.vecdot(align(x_dot, n), y, axis=_vec_axis(x, axis))
    if y_dot is not None:
        s = np.vecdot(x, align(y_dot, n), axis=_vec_axis(y, axis))
    return _plus(t, s)


def vecdot_vjp(out_bar, out, x, y, axis=-1, needs=None, **kwargs):
    _no_axes("vecdot", kwargs)
    ax, ay = _vec_axis(x, axis), _vec_axis(y, axis)
    g = out_bar[..., None]
    res = []
    for i, (u, au, v, av) in enumerate(((x, ax, y, ay), (y, ay, x, ax))):
        if not _wants(needs, i):
            res.append(None)
            continue
        su = list(shape_of(u))
        su.append(su.pop(au))  # u's shape with its core axis moved last
        bar = unbroadcast(g * np.moveaxis(v, av, -1), tuple(su))
        res.append(np.moveaxis(bar, -1, au))
    return tuple(res)


defrule(np.vecdot, vecdot_jvp, vecdot_vjp)
defrule(np.linalg.vecdot, vecdot_jvp, vecdot_vjp)

# -- dot, vdot, inner, outer, tensordot, kron ----------------------------------------------


def _scalar_product_jvp(dots, out, a, b):
    """Tangent of ``a * b`` where one factor is 0-d (dot/inner of a scalar)."""
    a_dot, b_dot = dots[:2]
    n = ndim_of(out)
    t = None if a_dot is None else align(a_dot, n) * b
    s = None if b_dot is None else a * align(b_dot, n)
    return _plus(t, s)


def _scalar_product_vjp(out_bar, a, b, needs):
    na, nb = ndim_of(a), ndim_of(b)
    a_bar = b_bar = None
    if _wants(needs, 0):
        a_bar = out_bar * b if na else np.tensordot(out_bar, b, axes=nb)
    if _wants(needs, 1):
        b_bar = a * out_bar if nb else np.tensordot(out_bar, a, axes=na)
    return a_bar, b_bar


def dot_jvp(dots, out, a, b):
    a, b = _const(a), _const(b)
    na, nb = ndim_of(a), ndim_of(b)
    if na == 0 or nb == 0:
        return _scalar_product_jvp(dots, out, a, b)
    a_dot, b_dot = dots[:2]
    bc = max(nb - 2, 0)  # the axis of b that dot contracts
    t = s = None
    if a_dot is not None:
        t = np.tensordot(a_dot, b, axes=([na], [bc]))
    if b_dot is not None:
        if nb == 1:
            a2 = a if na <= 2 else _rows(a)
            s = b_dot @ a2.T if na > 1 else b_dot @ a2
            s = s.reshape((s.shape[0],) + shape_of(out))
        else:
            s = np.tensordot(a, b_dot, axes=([na - 1], [bc + 1]))
            if na > 1:
                s = np.moveaxis(s, na - 1, 0)
    return _plus(t, s)


def dot_vjp(out_bar, out, a, b, needs=None):
    a, b = _const(a), _const(b)
    na, nb = ndim_of(a), ndim_of(b)
    if na == 0 or nb == 0:
        return _scalar_product_vjp(out_bar, a, b, needs)
    bc = max(nb - 2, 0)
    a_bar = b_bar = None
    if _wants(needs, 0):
        rest = [i for i in range(nb) if i != bc]
        gax = list(range(out_bar.ndim - len(rest), out_bar.ndim))
        a_bar = np.tensordot(out_bar, b, axes=(gax, rest))
    if _wants(needs, 1):
        b_bar = np.tensordot(out_bar, a, axes=(list(range(1, na)), list(range(na - 1))))
        if nb > 1:
            b_bar = np.moveaxis(b_bar, -1, bc + 1)
    return a_bar, b_bar


defrule(np.dot, dot_jvp, dot_vjp)


def _flat(x):
    return np.reshape(x, (-1,))


def vdot_jvp(dots, out, a, b):
    a_dot, b_dot = dots[:2]
    t = None if a_dot is None else a_dot.reshape(a_dot.shape[0], -1) @ _flat(b)
    s = None if b_dot is None else b_dot.reshape(b_dot.shape[0], -1) @ _flat(a)
    return _plus(t, s)


def vdot_vjp(out_bar, out, a, b, needs=None):
    g = out_bar[:, None]
    r = out_bar.shape[0]
    a_bar = (g * _flat(b)).reshape((r,) + shape_of(a)) if _wants(needs, 0) else None
    b_bar = (g * _flat(a)).reshape((r,) + shape_of(b)) if _wants(needs, 1) else None
    return a_bar, b_bar


defrule(np.vdot, vdot_jvp, vdot_vjp)


def inner_jvp(dots, out, a, b):
    a, b = _const(a), _const(b)
    na, nb = ndim_of(a), ndim_of(b)
    if na == 0 or nb == 0:
        return _scalar_product_jvp(dots, out, a, b)
    a_dot, b_dot = dots[:2]
    t = s = None
    if a_dot is not None:
        t = np.tensordot(a_dot, b, axes=([na], [nb - 1]))
    if b_dot is not None:
        s = np.tensordot(a, b_dot, axes=([na - 1], [nb]))
        if na > 1:
            s = np.moveaxis(s, na - 1, 0)
    return _plus(t, s)


def inner_vjp(out_bar, out, a, b, needs=None):
    a, b = _const(a), _const(b)
    na, nb = ndim_of(a), ndim_of(b)
    if na == 0 or nb == 0:
        return _scalar_product_vjp(out_bar, a, b, needs)
    a_bar = b_bar = None
    if _wants(needs, 0):
        a_bar = np.tensordot(out_bar, b, axes=(list(range(na, na + nb - 1)), list(range(nb - 1))))
    if _wants(needs, 1):
        b_bar = np.tensordot(out_bar, a, axes=(list(range(1, na)), list(range(na - 1))))
    return a_bar, b_bar


defrule(np.inner, inner_jvp, inner_vjp)


def outer_jvp(dots, out, a, b):
    a_dot, b_dot = dots[:2]
    t = None if a_dot is None else a_dot.reshape(a_dot.shape[0], -1, 1) * _flat(b)
    s = None if b_dot is None else _flat(a)[:, None] * b_dot.reshape(b_dot.shape[0], 1, -1)
    return _plus(t, s)


def outer_vjp(out_bar, out, a, b, needs=None):
    r = out_bar.shape[0]
    a_bar = (out_bar @ _flat(b)).reshape((r,) + shape_of(a)) if _wants(needs, 0) else None
    b_bar = (_flat(a) @ out_bar).reshape((r,) + shape_of(b)) if _wants(needs, 1) else None
    return a_bar, b_bar


defrule(np.outer, outer_jvp, outer_vjp)
defrule(np.linalg.outer, outer_jvp, outer_vjp)


def _tensordot_axes(a, b, axes):
    na, nb = ndim_of(a), ndim_of(b)
    if isinstance(axes, (int, np.integer)):
        ia, ib = list(range(na - axes, na)), list(range(axes))
    else:
        ia, ib = ([x] if isinstance(x, (int, np.integer)) else list(x) for x in axes)
    return [i % na for i in ia], [i % nb for i in ib]


def tensordot_jvp(dots, out, a, b, axes=2):
    a_dot, b_dot = dots[:2]
    ia, ib = _tensordot_axes(a, b, axes)
    t = s = None
    if a_dot is not None:
        t = np.tensordot(a_dot, b, axes=([i + 1 for i in ia], ib))
    if b_dot is not None:
        s = np.tensordot(a, b_dot, axes=(ia, [i + 1 for i in ib]))
        s = np.moveaxis(s, ndim_of(a) - len(ia), 0)
    return _plus(t, s)


def tensordot_vjp(out_bar, out, a, b, axes=2, needs=None):
    ia, ib = _tensordot_axes(a, b, axes)
    na, nb = ndim_of(a), ndim_of(b)
    free_a = [i for i in range(na) if i not in ia]
    free_b = [i for i in range(nb) if i not in ib]
    fa = len(free_a)
    a_bar = b_bar = None
    if _wants(needs, 0):
        raw = np.tensordot(out_bar, b, axes=(list(range(1 + fa, out_bar.ndim)), free_b))
        # raw's trailing axes follow b's contracted axes in increasing order
        order = free_a + [ia[ib.index(j)] for j in sorted(ib)]
        a_bar = np.transpose(raw, [0] + [1 + order.index(i) for i in range(na)])
    if _wants(needs, 1):
        raw = np.tensordot(out_bar, a, axes=(list(range(1, 1 + fa)), free_a))
        order = free_b + [ib[ia.index(i)] for i in sorted(ia)]
        b_bar = np.transpose(raw, [0] + [1 + order.index(j) for j in range(nb)])
    return a_bar, b_bar


defrule(np.tensordot, tensordot_jvp, tensordot_vjp)
defrule(np.linalg.tensordot, tensordot_jvp, tensordot_vjp)


def _kron_shapes(a, b):
    sa, sb = shape_of(a), shape_of(b)
    n = max(len(sa), len(sb))
    sa, sb = (1,) * (n - len(sa)) + tuple(sa), (1,) * (n - len(sb)) + tuple(sb)
    ia = tuple(d for x in sa for d in (x, 1))  # a's axes interleaved with b's: a0 b0 a1 b1
    ib = tuple(d for x in sb for d in (1, x))
    return n, ia, ib


def kron_jvp(dots, out, a, b):
    a_dot, b_dot = dots[:2]
    _, ia, ib = _kron_shapes(a, b)
    t = s = None
    if a_dot is not None:
        k = a_dot.shape[0]
        t = (a_dot.reshape((k,) + ia) * np.reshape(b, ib)).reshape((k,) + shape_of(out))
    if b_dot is not None:
        k = b_dot.shape[0]
        s = (np.reshape(a, ia) * b_dot.reshape((k,) + ib)).reshape((k,) + shape_of(out))
    return _plus(t, s)


def kron_vjp(out_bar, out, a, b, needs=None):
    n, ia, ib = _kron_shapes(a, b)
    r = out_bar.shape[0]
    g = out_bar.reshape((r,) + tuple(x * y for x, y in zip(ia, ib)))
    a_bar = b_bar = None
    if _wants(needs, 0):
        a_bar = np.tensordot(
            g, np.reshape(b, ib[1::2]), axes=(list(range(2, 2 * n + 1, 2)), list(range(n)))
        )
        a_bar = a_bar.reshape((r,) + shape_of(a))
    if _wants(needs, 1):
        b_bar = np.tensordot(
            g, np.reshape(a, ia[::2]), axes=(list(range(1, 2 * n, 2)), list(range(n)))
        )
        b_bar = b_bar.reshape((r,) + shape_of(b))
    return a_bar, b_bar


defrule(np.kron, kron_jvp, kron_vjp)

# -- cross, convolve, correlate ------------------------------------------------------------


def _cross_axes(a, b, out, axisa, axisb, axisc, axis):
    if axis is not None:
        axisa = axisb = axisc = axis
    ax_a, ax_b = _vec_axis(a, axisa), _vec_axis(b, axisb)
    if shape_of(a)[ax_a] != 3 or shape_of(b)[ax_b] != 3:
        raise NotImplementedError(
            "numpy.cross of 2-element vectors is deprecated in NumPy 2 and not differentiated: "
            "append a zero third component and take the last component of the result"
        )
    return ax_a, ax_b, _vec_axis(out, axisc)


def cross_jvp(dots, out, a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
    ax_a, ax_b, ax_c = _cross_axes(a, b, out, axisa, axisb, axisc, axis)
    n = max(ndim_of(a), ndim_of(b))
    a_dot, b_dot = dots[:2]
    kw = {"axisa": ax_a, "axisb": ax_b, "axisc": ax_c}
    t = None if a_dot is None else np.cross(align(a_dot, n), b, **kw)
    s = None if b_dot is None else np.cross(a, align(b_dot, n), **kw)
    return _plus(t, s)


def cross_vjp(out_bar, out, a, b, axisa=-1, axisb=-1, axisc=-1, axis=None, needs=None):
    ax_a, ax_b, ax_c = _cross_axes(a, b, out, axisa, axisb, axisc, axis)
    # <g, a x b> = <a, b x g> = <b, g x a>
    a_bar = b_bar = None
    if _wants(needs, 0):
        a_bar = np.cross(b, out_bar, axisa=ax_b, axisb=ax_c, axisc=ax_a)
        a_bar = unbroadcast(a_bar, shape_of(a))
    if _wants(needs, 1):
        b_bar = np.cross(out_bar, a, axisa=ax_c, axisb=ax_a, axisc=ax_b)
        b_bar = unbroadcast(b_bar, shape_of(b))
    return a_bar, b_bar


defrule(np.cross, cross_jvp, cross_vjp)
defrule(np.linalg.cross, cross_jvp, cross_vjp)


def _conv(x, y, start: int, length: int):
    """``full_convolution(x[..., :], y)[..., start:start + length]`` for 1-D ``y``.

    Gathers the shorter factor into windows and contracts with one matmul, so memory stays
    ``length * min(len(x), len(y))`` per leading row: no Python loop over directions.
    """
    p, q = shape_of(x)[-1], shape_of(y)[-1]
    t = np.arange(start, start + length)
    if q <= p:  # windows of x (..., length, q) against y
        idx = t[:, None] - np.arange(q)
        valid = (idx >= 0) & (idx < p)
        windows = x[..., np.clip(idx, 0, p - 1)]
        return (windows * valid if not valid.all() else windows) @ y
    idx = t[None, :] - np.arange(p)[:, None]  # Toeplitz block of y (p, length)
    valid = (idx >= 0) & (idx < q)
    return x @ (y[np.clip(idx, 0, q - 1)] * valid)


def _conv_window(n: int, m: int, mode, corr: bool):
    """(start, length) of np.convolve/np.correlate's output inside the full result."""
    mode = str(mode)[0].lower()
    lo, hi = min(n, m), max(n, m)
    if mode == "f":
        return 0, n + m - 1
    if mode == "v":
        return lo - 1, hi - lo + 1
    # 'same' centres on the full result; correlate rounds up when v is the longer one
    return ((lo - 1) // 2 if not corr or n >= m else lo // 2), hi


def _convolve_jvp(dots, out, a, v, mode, corr):
    a, v = _const(a), _const(v)
    n, m = shape_of(a)[-1], shape_of(v)[-1]
    start, length = _conv_window(n, m, mode, corr)
    w = v[::-1] if corr else v  # correlate(a, v) is convolve(a, v[::-1]) in full index space
    a_dot, v_dot = dots[:2]
    t = None if a_dot is None else _conv(a_dot, w, start, length)
    s = None
    if v_dot is not None:
        s = _conv(v_dot[:, ::-1] if corr else v_dot, a, start, length)
    return _plus(t, s)


def _convolve_vjp(out_bar, out, a, v, mode, corr, needs):
    a, v = _const(a), _const(v)
    n, m = shape_of(a)[-1], shape_of(v)[-1]
    start, _ = _conv_window(n, m, mode, corr)
    w = v[::-1] if corr else v
    a_bar = v_bar = None
    if _wants(needs, 0):  # adjoint of a convolution: correlation, i.e. the flipped kernel
        a_bar = _conv(out_bar, w[::-1], m - 1 - start, n)
    if _wants(needs, 1):
        v_bar = _conv(out_bar, a[::-1], n - 1 - start, m)
        v_bar = v_bar[:, ::-1] if corr else v_bar
    return a_bar, v_bar


def convolve_jvp(dots, out, a, v, mode="full"):
    return _convolve_jvp(dots, out, a, v, mode, False)


def convolve_vjp(out_bar, out, a, v, mode="full", needs=None):
    return _convolve_vjp(out_bar, out, a, v, mode, False, needs)


def correlate_jvp(dots, out, a, v, mode="valid"):
    return _convolve_jvp(dots, out, a, v, mode, True)


def correlate_vjp(out_bar, out, a, v, mode="valid", needs=None):
    return _convolve_vjp(out_bar, out, a, v, mode, True, needs)


defrule(np.convolve, convolve_jvp, convolve_vjp)
defrule(np.correlate, correlate_jvp, correlate_vjp)

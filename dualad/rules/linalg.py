"""Linear algebra: products (matmul, dot, einsum, ...), convolutions, norms and np.linalg.

Tangents carry a leading direction axis that must never be taken for a batch axis, so the
products treat 1-D operands explicitly and fold the directions into one BLAS call where they
can. Real inputs only. Imports numpy only.
"""

from __future__ import annotations

import string

import numpy as np

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


def _mm2(x, m):
    """``x @ m`` for ``x`` of shape ``(..., n)`` and 2-D or 1-D ``m``: one BLAS call."""
    s = x.shape
    if len(s) <= 2:
        return x @ m
    r = x.reshape(-1, s[-1]) @ m
    return r.reshape(s[:-1] + r.shape[1:])


def _eye(like, n: int, m: int | None = None, offset: int = 0):
    """Identity-like constant on ``like``'s backend (``np.eye`` has no ``like`` for Duals)."""
    m = n if m is None else m
    e = np.zeros_like(like, shape=(n, m))
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
            a2 = a if na <= 2 else a.reshape(-1, a.shape[-1])
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
            a2 = a if na == 2 else a.reshape(-1, a.shape[-1])
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
            a2 = a if na <= 2 else a.reshape(-1, a.shape[-1])
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

# -- einsum -------------------------------------------------------------------------------
# Subscripts are first made fully explicit: ellipses become letters, and an operand axis of
# length 1 that broadcasts against a longer one gets a private letter, so every letter has
# one length and reverse mode never has to undo broadcasting.

_LETTERS = string.ascii_letters


def _fresh_letters(used):
    return (c for c in _LETTERS if c not in used)


def _einsum_split(args):
    """(positions of the operands, subscript string) for both calling conventions."""
    if isinstance(args[0], str):
        return list(range(1, len(args))), args[0].replace(" ", "")
    pos = list(range(0, len(args) - 1, 2))

    def word(sub):
        return "".join("..." if s is Ellipsis else _LETTERS[s] for s in sub)

    subs = ",".join(word(args[p + 1]) for p in pos)
    if len(args) % 2:
        subs += "->" + word(args[-1])
    return pos, subs


def _einsum_spec(args):
    """(operand positions, explicit per-operand labels, explicit output labels)."""
    pos, subs = _einsum_split(args)
    ins, arrow, outs = subs.partition("->")
    terms = ins.split(",")
    used = set(subs) - set(".,->")
    letters = _fresh_letters(used)
    shapes = [shape_of(args[p]) for p in pos]
    n_ell = [len(s) - len(t.replace("...", "")) if "..." in t else 0 for s, t in zip(shapes, terms)]
    ell = [next(letters) for _ in range(max(n_ell, default=0))]
    labels = []
    for t, n in zip(terms, n_ell):
        left, _, right = t.partition("...")
        labels.append(left + "".join(ell[len(ell) - n :]) + right)
    if arrow:
        out = outs.replace("...", "".join(ell))
    else:  # implicit mode: broadcast axes, then letters seen once, in ASCII order
        once = sorted(c for c in set(ins) - set(".,") if ins.count(c) == 1)
        out = "".join(ell) + "".join(once)
    size: dict = {}
    for lab, s in zip(labels, shapes):
        for c, n in zip(lab, s):
            if size.get(c, 1) == 1:  # a length-1 axis broadcasts against any other
                size[c] = n
    labels = [
        "".join(c if n == size[c] else next(letters) for c, n in zip(lab, s))
        for lab, s in zip(labels, shapes)
    ]
    return pos, labels, out


def einsum_jvp(dots, out, *args, optimize=False, **kwargs):
    pos, labels, res = _einsum_spec(args)
    ops = [args[p] for p in pos]
    k = next(_fresh_letters(set("".join(labels))))
    acc = None
    for i, p in enumerate(pos):  # product rule: one einsum per differentiable operand
        d = dots[p]
        if d is None:
            continue
        subs = ",".join(k + lab if j == i else lab for j, lab in enumerate(labels))
        term = np.einsum(
            subs + "->" + k + res, *ops[:i], d, *ops[i + 1 :], optimize=optimize, **kwargs
        )
        acc = _plus(acc, term)
    return acc


def _einsum_operand_vjp(g, ops, labels, res, i, optimize, kwargs):
    """Cotangent of operand ``i``: contract ``g`` with the other operands into its labels.

    A letter repeated in the operand (a diagonal, ``'ii'``) becomes a fresh letter tied to
    the first by an identity matrix; a letter found in no other input gets a vector of ones.
    """
    used = set("".join(labels)) | set(res)
    fresh = _fresh_letters(used)
    r = next(fresh)
    shape = shape_of(ops[i])
    target, in_subs, in_ops = "", [r + res], [g]
    in_subs += [lab for j, lab in enumerate(labels) if j != i]
    in_ops += [op for j, op in enumerate(ops) if j != i]
    for c, n in zip(labels[i], shape):
        if c in target:
            c2 = next(fresh)
            in_subs.append(c + c2)
            in_ops.append(_eye(g, n))
            c = c2
        target += c
    have = set("".join(in_subs))
    for c, n in zip(target, shape):
        if c not in have:
            in_subs.append(c)
            in_ops.append(np.zeros_like(g, shape=(n,)) + 1)
    return np.einsum(",".join(in_subs) + "->" + r + target, *in_ops, optimize=optimize, **kwargs)


def einsum_vjp(out_bar, out, *args, optimize=False, needs=None, **kwargs):
    pos, labels, res = _einsum_spec(args)
    ops = [args[p] for p in pos]
    bars = [None] * len(args)
    for i, p in enumerate(pos):
        if _wants(needs, p):
            bars[p] = _einsum_operand_vjp(out_bar, ops, labels, res, i, optimize, kwargs)
    return tuple(bars)


defrule(np.einsum, einsum_jvp, einsum_vjp)

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

# -- norms --------------------------------------------------------------------------------


def _norm_kind(x, ord, axis):
    """(reduced axes, matrix?, ord) following np.linalg.norm's own case analysis."""
    n = ndim_of(x)
    if axis is None:
        if ord is None or n == 1:
            return tuple(range(n)), False, ord
        return (0, 1), True, ord
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    axes = tuple(a % n for a in axes)
    return axes, len(axes) == 2, ord


def _safe(d):
    # where the norm is 0 its 2-norm derivative is the sub-gradient 0, not 0/0
    return np.where(d == 0, 1.0, d)


def _tie_share(x, ref, axes):
    """1/count where ``x`` attains ``ref`` (ties share the derivative evenly), else 0."""
    hit = x == ref
    return hit / np.sum(hit, axis=axes, keepdims=True)


def _norm_weights(x, out_keep, ord, axes, matrix):
    """d norm / d x, shaped like ``x``."""
    if matrix and ord not in (None, "fro"):
        if ord not in (1, -1, np.inf, -np.inf):
            raise NotImplementedError(
                f"the derivative of the matrix norm ord={ord!r} needs singular vectors; use "
                "np.sqrt(np.linalg.eigvalsh(a.T @ a)[-1]) for ord=2, or ord='fro'"
            )
        # 1: largest column sum (sum over rows); inf: largest row sum (sum over columns)
        sum_ax, pick_ax = (axes[0], axes[1]) if abs(ord) == 1 else (axes[1], axes[0])
        sums = np.sum(np.abs(x), axis=sum_ax, keepdims=True)
        return np.sign(x) * _tie_share(sums, out_keep, pick_ax)
    if ord is None or ord == 2 or ord == "fro":
        return x / _safe(out_keep)
    if ord == 1:
        return np.sign(x)
    if ord in (np.inf, -np.inf):
        return np.sign(x) * _tie_share(np.abs(x), out_keep, axes)
    if ord == 0:
        return None
    return np.sign(x) * (np.abs(x) / _safe(out_keep)) ** (ord - 1)


def _norm_jvp(x_dot, out, x, ord, axes, matrix, keepdims):
    keep = tuple(1 if i in axes else s for i, s in enumerate(shape_of(x)))
    w = _norm_weights(x, out.reshape(keep), ord, axes, matrix)
    if x_dot is None or w is None:
        return None
    k = x_dot.shape[0]
    if len(axes) == ndim_of(x):  # full reduction: one matrix-vector product
        return (x_dot.reshape(k, -1) @ w.reshape(-1)).reshape((k,) + shape_of(out))
    return np.sum(x_dot * w, axis=tuple(a + 1 for a in axes), keepdims=keepdims)


def _norm_vjp(out_bar, out, x, ord, axes, matrix):
    keep = tuple(1 if i in axes else s for i, s in enumerate(shape_of(x)))
    w = _norm_weights(x, out.reshape(keep), ord, axes, matrix)
    if w is None:
        return (None,)
    return (out_bar.reshape(out_bar.shape[:1] + keep) * w,)


def norm_jvp(dots, out, x, ord=None, axis=None, keepdims=False):
    axes, matrix, ord = _norm_kind(x, ord, axis)
    return _norm_jvp(dots[0], out, x, ord, axes, matrix, keepdims)


def norm_vjp(out_bar, out, x, ord=None, axis=None, keepdims=False):
    axes, matrix, ord = _norm_kind(x, ord, axis)
    return _norm_vjp(out_bar, out, x, ord, axes, matrix)


defrule(np.linalg.norm, norm_jvp, norm_vjp)


def _vector_norm_axes(x, axis):
    n = ndim_of(x)
    if axis is None:
        return tuple(range(n))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    return tuple(a % n for a in axes)


def vector_norm_jvp(dots, out, x, axis=None, keepdims=False, ord=2):
    axes = _vector_norm_axes(x, axis)
    return _norm_jvp(dots[0], out, x, ord, axes, False, keepdims)


def vector_norm_vjp(out_bar, out, x, axis=None, keepdims=False, ord=2):
    return _norm_vjp(out_bar, out, x, ord, _vector_norm_axes(x, axis), False)


defrule(np.linalg.vector_norm, vector_norm_jvp, vector_norm_vjp)


def matrix_norm_jvp(dots, out, x, keepdims=False, ord="fro"):
    n = ndim_of(x)
    return _norm_jvp(dots[0], out, x, ord, (n - 2, n - 1), True, keepdims)


def matrix_norm_vjp(out_bar, out, x, keepdims=False, ord="fro"):
    n = ndim_of(x)
    return _norm_vjp(out_bar, out, x, ord, (n - 2, n - 1), True)


defrule(np.linalg.matrix_norm, matrix_norm_jvp, matrix_norm_vjp)

# -- solve, inv, det, slogdet -------------------------------------------------------------


def _solve_many(a, rhs, vec: bool):
    """``solve(a, rhs[i])`` for every leading ``i`` with one factorisation per matrix.

    The direction (or cotangent) axis is moved into the right-hand-side columns; a plain
    broadcast solve would factorise ``a`` once per direction.
    """
    if vec:  # rhs (k, ..., M)
        return np.moveaxis(np.linalg.solve(a, np.moveaxis(rhs, 0, -1)), -1, 0)
    k, cols = rhs.shape[0], rhs.shape[-1]
    r = np.moveaxis(rhs, 0, -2)  # (..., M, k, K)
    x = np.linalg.solve(a, r.reshape(r.shape[:-2] + (k * cols,)))
    return np.moveaxis(x.reshape(x.shape[:-1] + (k, cols)), -2, 0)


def solve_jvp(dots, out, a, b):
    a, b = _const(a), _const(b)
    a_dot, b_dot = dots[:2]
    vec = ndim_of(b) == 1  # NumPy 2: only a 1-D b is a vector
    rhs = None if b_dot is None else align(b_dot, out.ndim)
    if a_dot is not None:
        if a.ndim == 2 and out.ndim <= 2:
            ax = (
                _mm2(a_dot, out)
                if not vec
                else (a_dot.reshape(-1, a.shape[-1]) @ out).reshape((a_dot.shape[0],) + out.shape)
            )
        elif vec:
            ax = np.matvec(align(a_dot, out.ndim + 1), out)
        else:
            ax = np.matmul(align(a_dot, out.ndim), out)
        rhs = _neg(ax) if rhs is None else rhs - ax
    return _solve_many(a, rhs, vec)


def solve_vjp(out_bar, out, a, b, needs=None):
    a, b = _const(a), _const(b)
    vec = ndim_of(b) == 1
    b_full = _solve_many(np.swapaxes(a, -1, -2), out_bar, vec)  # one transposed solve
    a_bar = b_bar = None
    if _wants(needs, 0):
        a_bar = b_full[..., :, None] * out[..., None, :] if vec else b_full @ out.mT
        a_bar = unbroadcast(_neg(a_bar), a.shape)
    if _wants(needs, 1):
        b_bar = unbroadcast(b_full, shape_of(b))
    return a_bar, b_bar


defrule(np.linalg.solve, solve_jvp, solve_vjp)


def inv_jvp(dots, out, a):
    return _neg(np.matmul(np.matmul(out, dots[0]), out))


def inv_vjp(out_bar, out, a):
    t = out.mT
    return (_neg(np.matmul(np.matmul(t, out_bar), t)),)


defrule(np.linalg.inv, inv_jvp, inv_vjp)


def _logdet_jvp(a_dot, a):
    """d log|det a| = tr(a^-1 a_dot), shape (k, ...)."""
    if a_dot.shape[0] == 1:
        # one direction: solve, not inv(a) @ a_dot: one LU factorisation and no explicit
        # inverse, which is cheaper and better conditioned
        return np.linalg.trace(np.linalg.solve(a, a_dot[0]))[None]
    # many directions: solve would cost k*M^3; the transposed inverse contracted against
    # each direction costs M^3 + k*M^2
    inv_t = np.linalg.inv(a).mT
    if a.ndim == 2:
        return a_dot.reshape(a_dot.shape[0], -1) @ inv_t.reshape(-1)
    return np.sum(a_dot * inv_t, axis=(-2, -1))


def det_jvp(dots, out, a):
    return out * _logdet_jvp(dots[0], a)


def det_vjp(out_bar, out, a):
    # d det = det * a^-T: the inverse is the cotangent itself, so it is formed once
    return ((out_bar * out)[..., None, None] * np.linalg.inv(a).mT,)


defrule(np.linalg.det, det_jvp, det_vjp)


def slogdet_jvp(dots, out, a):
    return None, _logdet_jvp(dots[0], a)  # the sign is piecewise constant


def slogdet_vjp(out_bar, out, a):
    g = out_bar[1]
    if g is None:
        return (None,)
    return (g[..., None, None] * np.linalg.inv(a).mT,)


defrule(np.linalg.slogdet, slogdet_jvp, slogdet_vjp)

# -- factorisations -----------------------------------------------------------------------
# LAPACK reads one triangle of a symmetric input, so a tangent is first symmetrised from
# that triangle and a cotangent is folded back onto it.


def _sym(d, uplo="L"):
    if uplo.upper() == "L":
        return np.tril(d) + np.swapaxes(np.tril(d, -1), -1, -2)
    return np.triu(d) + np.swapaxes(np.triu(d, 1), -1, -2)


def _sym_adjoint(s, uplo="L"):
    st = np.swapaxes(s, -1, -2)
    if uplo.upper() == "L":
        return np.tril(s) + np.tril(st, -1)
    return np.triu(s) + np.triu(st, 1)


def _phi(p):
    """Lower triangle with the diagonal halved."""
    return 0.5 * (np.tril(p) + np.tril(p, -1))


def cholesky_jvp(dots, out, a, upper=False):
    # upper=True factors the upper triangle: it is the lower case on a.T, transposed
    low = out.mT if upper else out
    d = dots[0].mT if upper else dots[0]
    inv_l = np.linalg.inv(low)
    low_dot = low @ _phi(inv_l @ _sym(d) @ inv_l.mT)
    return low_dot.mT if upper else low_dot


def cholesky_vjp(out_bar, out, a, upper=False):
    low = out.mT if upper else out
    g = out_bar.mT if upper else out_bar
    inv_l = np.linalg.inv(low)
    s_bar = inv_l.mT @ _phi(low.mT @ g) @ inv_l
    a_bar = _sym_adjoint(s_bar)
    return (a_bar.mT if upper else a_bar,)


defrule(np.linalg.cholesky, cholesky_jvp, cholesky_vjp)


def _gaps(w):
    """F[i, j] = 1 / (w[j] - w[i]) off the diagonal, 0 on it (distinct eigenvalues)."""
    eye = _eye(w, w.shape[-1])
    return 1 / (w[..., None, :] - w[..., :, None] + eye) - eye


def eigh_jvp(dots, out, a, UPLO="L"):
    # assumes distinct eigenvalues: with a repeated one the eigenvectors are not unique and
    # their derivative does not exist (the 1 / (w_j - w_i) factors blow up)
    w, v = out
    p = v.mT @ _sym(dots[0], UPLO) @ v
    return np.linalg.diagonal(p), v @ (_gaps(w) * p)


def eigh_vjp(out_bar, out, a, UPLO="L"):
    w, v = out
    w_bar, v_bar = out_bar
    p_bar = None
    if w_bar is not None:
        p_bar = w_bar[..., :, None] * _eye(w_bar, w.shape[-1])
    if v_bar is not None:
        p_bar = _plus(p_bar, _gaps(w) * (v.mT @ v_bar))
    if p_bar is None:
        return (None,)
    return (_sym_adjoint(v @ p_bar @ v.mT, UPLO),)


defrule(np.linalg.eigh, eigh_jvp, eigh_vjp)


def eigvalsh_jvp(dots, out, a, UPLO="L"):
    v = np.linalg.eigh(a, UPLO)[1]
    return np.sum(v * (_sym(dots[0], UPLO) @ v), axis=-2)  # diag(v.T @ S @ v)


def eigvalsh_vjp(out_bar, out, a, UPLO="L"):
    v = np.linalg.eigh(a, UPLO)[1]
    return (_sym_adjoint((v * out_bar[..., None, :]) @ v.mT, UPLO),)


defrule(np.linalg.eigvalsh, eigvalsh_jvp, eigvalsh_vjp)


def _qr_tall_jvp(q, r, a_dot):
    """(Q', R') for A = QR with A (M, N), M >= N: Q^T Q' is antisymmetric, R' R^-1 upper."""
    b = a_dot @ np.linalg.inv(r)
    x = q.mT @ b
    low = np.tril(x, -1)
    x = x - low + low.mT  # X - Omega: the upper-triangular part R' R^-1
    return b - q @ x, x @ r


def _qr_tall_vjp(q, r, q_bar, r_bar):
    m = None if r_bar is None else r_bar @ r.mT
    if q_bar is not None:
        m = _plus(m, _neg(q.mT @ q_bar))
    x_bar = m - np.tril(m - m.mT, -1)
    b_bar = q @ x_bar
    if q_bar is not None:
        b_bar = b_bar + q_bar
    return b_bar @ np.linalg.inv(r).mT


def _qr_parts(out, a, mode):
    m, n = a.shape[-2:]
    if mode == "raw" or (mode == "complete" and m > n):
        raise NotImplementedError(
            f"numpy.linalg.qr(mode={mode!r}) is not differentiated: the extra columns of Q "
            "are not unique; use mode='reduced'"
        )
    if mode == "r":
        return np.linalg.qr(a)[0], out, m, n
    return out[0], out[1], m, n


def qr_jvp(dots, out, a, mode="reduced"):
    q, r, m, n = _qr_parts(out, a, mode)
    d = dots[0]
    if m >= n:
        q_dot, r_dot = _qr_tall_jvp(q, r, d)
    else:  # wide: A = Q [R1 | R2] with A[:, :M] = Q R1 square and R2 = Q^T A[:, M:]
        q_dot, r1_dot = _qr_tall_jvp(q, r[..., :m], d[..., :m])
        y = a[..., m:]
        r2_dot = q_dot.mT @ y + q.mT @ d[..., m:]
        r_dot = np.concatenate([r1_dot, r2_dot], axis=-1)
    return r_dot if mode == "r" else (q_dot, r_dot)


def qr_vjp(out_bar, out, a, mode="reduced"):
    q, r, m, n = _qr_parts(out, a, mode)
    q_bar, r_bar = (None, out_bar) if mode == "r" else out_bar
    if q_bar is None and r_bar is None:
        return (None,)
    if m >= n:
        return (_qr_tall_vjp(q, r, q_bar, r_bar),)
    k = (q_bar if q_bar is not None else r_bar).shape[0]
    if r_bar is None:
        r_bar = np.zeros_like(q_bar, shape=(k,) + r.shape)
    y = a[..., m:]
    y_bar = q @ r_bar[..., m:]
    q_bar = _plus(y @ r_bar[..., m:].mT, q_bar)
    x_bar = _qr_tall_vjp(q, r[..., :m], q_bar, r_bar[..., :m])
    return (np.concatenate([x_bar, y_bar], axis=-1),)


defrule(np.linalg.qr, qr_jvp, qr_vjp)


def _svd_uv(a, compute_uv, hermitian):
    if compute_uv:
        raise NotImplementedError(
            "numpy.linalg.svd with compute_uv=True is not differentiated (singular vectors "
            "are unique only up to sign and need distinct singular values); use "
            "compute_uv=False or np.linalg.svdvals for the singular values, or np.linalg.eigh"
        )
    # hermitian=True goes through eigh, which reads the lower triangle
    u, _, vh = np.linalg.svd(_sym(a) if hermitian else a, full_matrices=False)
    return u, vh


def svd_jvp(dots, out, a, full_matrices=True, compute_uv=True, hermitian=False):
    u, vh = _svd_uv(a, compute_uv, hermitian)
    d = _sym(dots[0]) if hermitian else dots[0]
    return np.sum((u.mT @ d) * vh, axis=-1)  # s'_i = u_i^T A' v_i


def svd_vjp(out_bar, out, a, full_matrices=True, compute_uv=True, hermitian=False):
    u, vh = _svd_uv(a, compute_uv, hermitian)
    a_bar = u @ (out_bar[..., :, None] * vh)
    return (_sym_adjoint(a_bar) if hermitian else a_bar,)


defrule(np.linalg.svd, svd_jvp, svd_vjp)


def svdvals_jvp(dots, out, x):
    return svd_jvp(dots, out, x, compute_uv=False)


def svdvals_vjp(out_bar, out, x):
    return svd_vjp(out_bar, out, x, compute_uv=False)


defrule(np.linalg.svdvals, svdvals_jvp, svdvals_vjp)


def pinv_jvp(dots, out, a, rcond=None, hermitian=False, **kwargs):
    # valid where the rank is locally constant (e.g. full rank), like every pinv derivative
    p, d = out, dots[0]
    if hermitian:
        a, d = _sym(a), _sym(d)
    dt = np.swapaxes(d, -1, -2)
    t = _neg(p @ d @ p)
    t = t + (p @ p.mT) @ (dt - (dt @ a) @ p)  # P P^T A'^T (I - A P)
    return t + (dt - p @ (a @ dt)) @ (p.mT @ p)  # (I - P A) A'^T P^T P


def pinv_vjp(out_bar, out, a, rcond=None, hermitian=False, **kwargs):
    p = out
    if hermitian:
        a = _sym(a)
    gt = np.swapaxes(out_bar, -1, -2)
    a_bar = _neg(p.mT @ out_bar @ p.mT)
    a_bar = a_bar + (gt - a @ (p @ gt)) @ (p @ p.mT)
    a_bar = a_bar + (p.mT @ p) @ (gt - (gt @ p) @ a)
    return (_sym_adjoint(a_bar) if hermitian else a_bar,)


defrule(np.linalg.pinv, pinv_jvp, pinv_vjp)

# -- matrix_power, multi_dot ----------------------------------------------------------------


def matrix_power_jvp(dots, out, a, n):
    if n == 0:
        return None
    base, d = a, dots[0]
    if n < 0:
        base = np.linalg.inv(a)
        d = _neg(base @ d @ base)
        n = -n
    acc = acc_dot = None
    while True:  # square-and-multiply, carrying (value, tangent) pairs
        if n & 1:
            if acc is None:
                acc, acc_dot = base, d
            else:
                acc_dot = acc_dot @ base + acc @ d
                acc = acc @ base
        n >>= 1
        if not n:
            return acc_dot
        d = d @ base + base @ d
        base = base @ base


def matrix_power_vjp(out_bar, out, a, n, needs=None):
    if n == 0:
        return None, None
    base = np.linalg.inv(a) if n < 0 else a
    m = abs(n)
    powers = [None, base]  # powers[i] = base**i; base**0 is the identity, left implicit
    for _ in range(2, m):
        powers.append(powers[-1] @ base)
    bar = None
    for i in range(m):  # d(B^m) = sum_i B^i B' B^(m-1-i)
        term = out_bar if i == 0 else powers[i].mT @ out_bar
        if m - 1 - i:
            term = term @ powers[m - 1 - i].mT
        bar = _plus(bar, term)
    if n < 0:
        bar = _neg(base.mT @ bar @ base.mT)
    return bar, None


defrule(np.linalg.matrix_power, matrix_power_jvp, matrix_power_vjp)


def _chain(arrays):
    """The operands as matrices (a 1-D first is a row, a 1-D last a column)."""
    mats = list(arrays)
    if mats[0].ndim == 1:
        mats[0] = mats[0][None, :]
    if mats[-1].ndim == 1:
        mats[-1] = mats[-1][:, None]
    left = [None]  # left[i] = mats[0] @ ... @ mats[i - 1]
    for x in mats[:-1]:
        left.append(x if left[-1] is None else left[-1] @ x)
    right = [None]  # right[i] = mats[i + 1] @ ... @ mats[-1], built from the end
    for x in mats[:0:-1]:
        right.append(x if right[-1] is None else x @ right[-1])
    return mats, left, right[::-1]


def multi_dot_jvp(dots, out, arrays):
    mats, left, right = _chain(arrays)
    acc = None
    for i, d in enumerate(dots[0]):
        if d is None:
            continue
        k = d.shape[0]
        t = d.reshape((k,) + mats[i].shape)
        if right[i] is not None:
            t = _mm2(t, right[i])
        if left[i] is not None:
            t = np.matmul(left[i], t)
        acc = _plus(acc, t.reshape((k,) + shape_of(out)))
    return acc


def multi_dot_vjp(out_bar, out, arrays):
    mats, left, right = _chain(arrays)
    r = out_bar.shape[0]
    g = out_bar.reshape((r, mats[0].shape[0], mats[-1].shape[1]))
    bars = []
    for i, x in enumerate(arrays):
        b = g if left[i] is None else np.matmul(left[i].mT, g)
        if right[i] is not None:
            b = _mm2(b, right[i].mT)
        bars.append(b.reshape((r,) + shape_of(x)))
    return (tuple(bars),)


defrule(np.linalg.multi_dot, multi_dot_jvp, multi_dot_vjp)

# -- array-API linalg names that act on the last two axes -----------------------------------


def matrix_transpose_jvp(dots, out, x):
    return np.linalg.matrix_transpose(dots[0])


def matrix_transpose_vjp(out_bar, out, x):
    return (np.linalg.matrix_transpose(out_bar),)


defrule(np.linalg.matrix_transpose, matrix_transpose_jvp, matrix_transpose_vjp)


def diagonal_jvp(dots, out, x, offset=0):
    return np.linalg.diagonal(dots[0], offset=offset)


def diagonal_vjp(out_bar, out, x, offset=0):
    m, n = x.shape[-2:]
    bar = np.zeros_like(out_bar, shape=out_bar.shape[:1] + x.shape)
    i = np.arange(max(0, -offset), min(m, n - offset))
    bar[..., i, i + offset] = out_bar
    return (bar,)


defrule(np.linalg.diagonal, diagonal_jvp, diagonal_vjp)


def trace_jvp(dots, out, x, offset=0, dtype=None):
    return np.linalg.trace(dots[0], offset=offset, dtype=dtype)


def trace_vjp(out_bar, out, x, offset=0, dtype=None):
    m, n = x.shape[-2:]
    return (out_bar[..., None, None] * _eye(out_bar, m, n, offset),)


defrule(np.linalg.trace, trace_jvp, trace_vjp)

# -- outside the tables ----------------------------------------------------------------------

#: Functions whose result carries no derivative: they run on the primal values.
PRIMAL_ONLY_FUNCS = (np.linalg.matrix_rank, np.einsum_path)

#: Functions deliberately without a rule, with the reason the error message gives.
UNSUPPORTED_FUNCS = {
    np.linalg.eig: "its results are complex in general; for a symmetric matrix use np.linalg.eigh",
    np.linalg.eigvals: "its results are complex in general; for a symmetric matrix use "
    "np.linalg.eigvalsh",
    np.linalg.cond: "build it from differentiable pieces instead: for p=None or 2, "
    "s = np.linalg.svdvals(a); s[..., 0] / s[..., -1]; for 'fro', "
    "np.linalg.norm(a) * np.linalg.norm(np.linalg.inv(a))",
    np.linalg.lstsq: "it also returns the integer rank; for full column rank use "
    "np.linalg.solve(a.T @ a, a.T @ b) or np.linalg.pinv(a) @ b",
    np.linalg.tensorsolve: "reshape a to a matrix and use np.linalg.solve",
    np.linalg.tensorinv: "reshape a to a matrix and use np.linalg.inv",
}

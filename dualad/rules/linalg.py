"""np.linalg beyond the products: norms (every ord, the matrix ords 2, -2 and 'nuc' through
the singular vectors), solve, inv, det, slogdet, cond (every p), matrix_power, multi_dot, and
the array-API names (matrix_transpose, diagonal, trace) acting on the last two axes.

Products and the shared helpers are in products.py, factorisations in factorisations.py.
Real inputs only. Imports numpy only.
"""

from __future__ import annotations

from dualad._numpy import np

from ._define import align, defrule, ndim_of, shape_of, unbroadcast
from .products import _const, _eye, _mm2, _neg, _plus, _wants


def _mT(a):
    """The transpose of the last two axes: ``a.mT``, which Dask arrays lack."""
    return np.swapaxes(a, -1, -2)


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


def _singular_weights(x, ord, axes):
    """d norm / d x for the matrix norms of the singular values: u_1 v_1^T for ord=2 (the
    largest), u_n v_n^T for -2 (the smallest), U V^T (thin) for 'nuc'; ``axes`` = (row, col).

    Needs the extreme singular value to be simple (nonzero too for 'nuc'), as any derivative
    of these norms does.
    """
    u, _, vh = np.linalg.svd(np.moveaxis(x, axes, (-2, -1)), full_matrices=False)
    if ord == "nuc":
        w = u @ vh
    else:
        i = 0 if ord == 2 else -1  # NumPy sorts the singular values descending
        w = u[..., :, i, None] * vh[..., None, i, :]
    return np.moveaxis(w, (-2, -1), axes)


def _cj(a):
    """The conjugate of a complex array, a real one as it is: the norms' weights are
    ``dn/dx - i dn/dy`` for complex ``x`` (see dualad.rules.complex), ``dn/dx`` for real."""
    return np.conj(a) if np.iscomplexobj(a) else a


def _norm_weights(x, out_keep, ord, axes, matrix):
    """d norm / d x, shaped like ``x`` (conjugated for complex ``x``)."""
    return _cj(_norm_weights_of(x, out_keep, ord, axes, matrix))


def _norm_weights_of(x, out_keep, ord, axes, matrix):
    if matrix and ord not in (None, "fro"):
        if ord in (2, -2, "nuc"):
            return _singular_weights(x, ord, axes)
        # 1: largest column sum (sum over rows); inf: largest row sum (sum over columns)
        sum_ax, pick_ax = (axes[0], axes[1]) if abs(ord) == 1 else (axes[1], axes[0])
        sums = np.sum(np.abs(x), axis=sum_ax, keepdims=True)
        return np.sign(x) * _tie_share(sums, out_keep, pick_ax)
    if ord is None or ord == 2 or ord == "fro":  # sign(z) = z / |z| for complex z
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
        a_bar = b_full[..., :, None] * out[..., None, :] if vec else b_full @ _mT(out)
        a_bar = unbroadcast(_neg(a_bar), a.shape)
    if _wants(needs, 1):
        b_bar = unbroadcast(b_full, shape_of(b))
    return a_bar, b_bar


defrule(np.linalg.solve, solve_jvp, solve_vjp)


def inv_jvp(dots, out, a):
    return _neg(np.matmul(np.matmul(out, dots[0]), out))


def inv_vjp(out_bar, out, a):
    t = _mT(out)
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
    inv_t = _mT(np.linalg.inv(a))
    if a.ndim == 2:
        return a_dot.reshape(a_dot.shape[0], -1) @ inv_t.reshape(-1)
    return np.sum(a_dot * inv_t, axis=(-2, -1))


def _cofactors(a):
    """The cofactor matrix ``adj(a)^T`` (the derivative of det), also where ``a`` is
    singular. On plain values: from ``a = U diag(s) Vh``, ``adj(a)^T = det(U) det(Vh) U
    diag(p) Vh`` with ``p_i`` the product of the other singular values (prefix and suffix
    products, no division). On traced values (a derivative of this derivative): the signed
    determinants of the minors, whose own derivatives hold where the SVD's do not (repeated
    singular values)."""
    if not isinstance(a, (np.ndarray, np.generic)):
        n = a.shape[-1]
        keep = [[k for k in range(n) if k != i] for i in range(n)]
        rows = np.array(keep, dtype=np.intp).reshape(n, 1, n - 1, 1)
        cols = np.array(keep, dtype=np.intp).reshape(1, n, 1, n - 1)
        minors = a[..., rows, cols]  # (..., n, n, n-1, n-1): row i and column j deleted
        sign = 1.0 - 2.0 * (np.add.outer(np.arange(n), np.arange(n)) % 2)
        return sign * np.linalg.det(minors)
    u, s, vh = np.linalg.svd(a)
    one = np.ones_like(s[..., :1])
    before = np.cumprod(np.concatenate([one, s[..., :-1]], axis=-1), axis=-1)
    after = np.cumprod(np.concatenate([one, s[..., :0:-1]], axis=-1), axis=-1)[..., ::-1]
    sign = np.linalg.det(u) * np.linalg.det(vh)
    return sign[..., None, None] * np.matmul(u * (before * after)[..., None, :], vh)


def det_jvp(dots, out, a):
    try:
        return out * _logdet_jvp(dots[0], a)
    except np.linalg.LinAlgError:  # singular: det is smooth there, its derivative adj(a)^T
        c = _cofactors(a)
        return np.sum(dots[0] * c, axis=(-2, -1))


def det_vjp(out_bar, out, a):
    # d det = det * a^-T: the inverse is the cotangent itself, so it is formed once
    try:
        c = out[..., None, None] * _mT(np.linalg.inv(a))
    except np.linalg.LinAlgError:  # singular: the cofactors, which stay finite
        c = _cofactors(a)
    return (out_bar[..., None, None] * c,)


defrule(np.linalg.det, det_jvp, det_vjp)


def slogdet_jvp(dots, out, a):
    return None, _logdet_jvp(dots[0], a)  # the sign is piecewise constant


def slogdet_vjp(out_bar, out, a):
    g = out_bar[1]
    if g is None:
        return (None,)
    return (g[..., None, None] * _mT(np.linalg.inv(a)),)


defrule(np.linalg.slogdet, slogdet_jvp, slogdet_vjp)

# -- cond -----------------------------------------------------------------------------------


def _cond_weights(x, out, p):
    """d cond / d x for p in (None, 2, -2): cond = s_max / s_min (or its inverse), so
    d cond = cond (u_1^T x' v_1 / s_1 - u_n^T x' v_n / s_n), sign flipped for p=-2.

    Needs simple extreme singular values, and s_min > 0 (else cond is inf).
    """
    u, s, vh = np.linalg.svd(x, full_matrices=False)
    top = u[..., :, 0, None] * vh[..., None, 0, :] / s[..., 0, None, None]
    low = u[..., :, -1, None] * vh[..., None, -1, :] / s[..., -1, None, None]
    c = out[..., None, None]
    return c * (low - top) if p == -2 else c * (top - low)


def _cond_norms(x, p):
    """inv(x) and the two norms cond = norm(x, p) * norm(inv(x), p) multiplies."""
    xi = np.linalg.inv(x)
    axes = (-2, -1)
    return xi, np.linalg.norm(x, p, axes), np.linalg.norm(xi, p, axes)


def _by_singular_values(p) -> bool:
    return p is None or (not isinstance(p, str) and p in (2, -2))


def cond_jvp(dots, out, x, p=None):
    d = dots[0]
    if _by_singular_values(p):
        return np.sum(d * _cond_weights(x, out, p), axis=(-2, -1))
    # p in ('fro', 1, -1, inf, -inf): the product rule over norm(x) * norm(inv(x))
    xi, nx, ni = _cond_norms(x, p)
    nx_dot = norm_jvp((d,), nx, x, p, (-2, -1))
    ni_dot = norm_jvp((inv_jvp((d,), xi, x),), ni, xi, p, (-2, -1))
    return nx_dot * ni + nx * ni_dot


def cond_vjp(out_bar, out, x, p=None):
    if _by_singular_values(p):
        return (out_bar[..., None, None] * _cond_weights(x, out, p),)
    xi, nx, ni = _cond_norms(x, p)
    (x_bar,) = norm_vjp(out_bar * ni, nx, x, p, (-2, -1))
    (xi_bar,) = norm_vjp(out_bar * nx, ni, xi, p, (-2, -1))
    return (x_bar + inv_vjp(xi_bar, xi, x)[0],)


defrule(np.linalg.cond, cond_jvp, cond_vjp)

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
        term = out_bar if i == 0 else _mT(powers[i]) @ out_bar
        if m - 1 - i:
            term = term @ _mT(powers[m - 1 - i])
        bar = _plus(bar, term)
    if n < 0:
        bar = _neg(_mT(base) @ bar @ _mT(base))
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
        b = g if left[i] is None else np.matmul(_mT(left[i]), g)
        if right[i] is not None:
            b = _mm2(b, _mT(right[i]))
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
PRIMAL_ONLY_FUNCS = (np.linalg.matrix_rank,)

"""Factorisations: cholesky, eigh, eigvalsh, qr, svd (values, and thin or square singular
vectors), svdvals, pinv, lstsq.

LAPACK reads one triangle of a symmetric input, so a tangent is first symmetrised from that
triangle and a cotangent is folded back onto it. Real inputs only. Imports numpy only.
"""

from __future__ import annotations

from dualad._numpy import np

from .._tags import Leveled
from ._define import defrule, ndim_of, on_host
from .products import _const, _eye, _neg, _plus


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
    """F[i, j] = 1 / (w[j] - w[i]) off the diagonal, 0 on it (distinct eigenvalues).

    Where two values are equal up to rounding (a few ulps of the largest) the vectors are not
    unique and their derivative does not exist: F is nan there, not the 1/(rounding error),
    ~1e15, that cancels wrongly in functions of the vectors that are smooth (the nuclear
    norm's second derivative at equal singular values came out finite and wrong). Only the
    vectors' tangents carry the nan; a program using the values alone never reads them."""
    n = w.shape[-1]
    eye = _eye(w, n)
    gaps = 1 / (w[..., None, :] - w[..., :, None] + eye) - eye
    p = w
    while isinstance(p, Leveled):
        p = p._unwrap()
    if n < 2 or not isinstance(p, np.ndarray):
        return gaps
    d = np.abs(p[..., None, :] - p[..., :, None])
    tol = 8 * np.finfo(p.dtype).eps * np.max(np.abs(p), axis=-1, keepdims=True)[..., None]
    near = (d <= tol) & (_eye(p, n) == 0)
    return np.where(near, np.nan, gaps) if near.any() else gaps


def _zero_bar(bar) -> bool:
    """True for a cotangent that is exactly zero at every level: what the sweep hands a rule
    for an output nothing read. (A tape Variable's value may be zero at this point with a
    nonzero derivative, so Variables count as nonzero.)"""
    if bar is None:
        return True
    parts = [bar]
    while parts:
        v = parts.pop()
        if type(v) is np.ndarray or isinstance(v, np.generic):
            if np.any(v):
                return False
        elif hasattr(v, "primal") and hasattr(v, "tangent"):  # a Dual (or HyperDual)
            parts += [v.primal, v.tangent]  # (each a Dual again when nested)
        elif v is not None:
            return False
    return True


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
    if v_bar is not None and not _zero_bar(v_bar):  # (the vectors' unread output: zeros,
        # which would meet the nan gaps of a repeated value: eigh(a)[0] is eigvalsh's)
        p_bar = _plus(p_bar, _gapped(_gaps(w), v.mT @ v_bar))
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


def _svd_parts(out, a, full_matrices, compute_uv, hermitian):
    """(U, s, Vh) of the thin SVD the rule differentiates (of ``_sym(a)`` when hermitian)."""
    if not compute_uv:
        # hermitian=True goes through eigh, which reads the lower triangle
        return np.linalg.svd(_sym(a) if hermitian else a, full_matrices=False)
    m, n = a.shape[-2:]
    if full_matrices and m != n and not hermitian:
        raise NotImplementedError(
            "numpy.linalg.svd(full_matrices=True) of a non-square matrix is not "
            "differentiated: the extra columns of U or rows of Vh are not unique; pass "
            "full_matrices=False"
        )
    # NumPy's own triple: with hermitian=True it comes from eigh (Vh = (U * sign(w)).T), but
    # it is still an SVD of the symmetrised matrix, and with distinct singular values the
    # only freedom left is a sign per pair (u_i, v_i), which the derivative does not see
    return out


def _svd_terms(u, s, vh):
    """V, the gaps F_ij = 1 / (s_j^2 - s_i^2) (0 on the diagonal), and the projector flags."""
    m, n = u.shape[-2], vh.shape[-1]
    k = s.shape[-1]
    return vh.mT, _gaps(s * s), m > k, n > k


def _svd_uv_jvp(d, u, s, vh):
    """(U', s', Vh') of the thin SVD A = U diag(s) V^T (Townsend 2016, real case).

    With P = U^T A' V: s' = diag(P), U' = U (F o (P S + S P^T)) + (I - U U^T) A' V S^-1,
    V' = V (F o (S P + P^T S)) + (I - V V^T) A'^T U S^-1, and Vh' = V'^T. Assumes distinct,
    nonzero singular values: otherwise the singular vectors are not unique and the F (or
    S^-1) factors blow up, like eigh's with repeated eigenvalues.
    """
    v, f, tall, wide = _svd_terms(u, s, vh)
    av = d @ v  # A' V, (k, ..., M, K)
    p = u.mT @ av
    pt = p.mT
    row, col = s[..., :, None], s[..., None, :]
    s_dot = np.linalg.diagonal(p)
    u_dot = u @ (f * (p * col + row * pt))
    v_dot = v @ (f * (row * p + pt * col))
    if tall:  # M > K: U does not span R^M
        u_dot = u_dot + (av - u @ p) / col
    if wide:  # N > K
        atu = d.mT @ u
        v_dot = v_dot + (atu - v @ pt) / col
    return u_dot, s_dot, v_dot.mT


def _gapped(f, proj):
    """``f o proj`` with 0 where the projection of the vectors' cotangent is exactly 0: the
    gap factors are nan between repeated values (see ``_gaps``), and an unread block of
    vectors there (``np.linalg.norm(a, 2)`` reads the top pair only) contributes nothing,
    as in forward mode, where its nan tangents are never read. The mask is taken on ``f``
    itself, so a reverse sweep through this product meets no nan either."""
    zero = proj == 0
    if on_host(zero) and not np.any(zero):  # (a lazy array is not asked: no compute)
        return f * proj
    return np.where(zero, 0.0, f) * proj


def _svd_uv_vjp(u_bar, s_bar, vh_bar, u, s, vh):
    """The adjoint of ``_svd_uv_jvp``: A_bar = U P_bar V^T plus the projector terms, with
    P_bar = diag(s_bar) + (G + G^T) S + S (H + H^T), G = F o (U^T U_bar), H = F o (V^T V_bar).
    """
    v, f, tall, wide = _svd_terms(u, s, vh)
    row, col = s[..., :, None], s[..., None, :]
    p_bar = a_bar = None
    if s_bar is not None:
        p_bar = s_bar[..., :, None] * _eye(s_bar, s.shape[-1])
    if u_bar is not None:
        ut_ub = u.mT @ u_bar
        g = _gapped(f, ut_ub)
        p_bar = _plus(p_bar, (g + g.mT) * col)
        if tall:  # (I - U U^T) U_bar S^-1 V^T
            a_bar = ((u_bar - u @ ut_ub) / col) @ vh
    if vh_bar is not None:
        v_bar = vh_bar.mT
        vt_vb = v.mT @ v_bar
        h = _gapped(f, vt_vb)
        p_bar = _plus(p_bar, row * (h + h.mT))
        if wide:  # U S^-1 V_bar^T (I - V V^T)
            a_bar = _plus(a_bar, u @ ((v_bar - v @ vt_vb) / col).mT)
    if p_bar is not None:
        a_bar = _plus(a_bar, u @ p_bar @ vh)
    return a_bar


def svd_jvp(dots, out, a, full_matrices=True, compute_uv=True, hermitian=False):
    u, s, vh = _svd_parts(out, a, full_matrices, compute_uv, hermitian)
    d = _sym(dots[0]) if hermitian else dots[0]
    if not compute_uv:
        return np.sum((u.mT @ d) * vh, axis=-1)  # s'_i = u_i^T A' v_i
    return _svd_uv_jvp(d, u, s, vh)


def svd_vjp(out_bar, out, a, full_matrices=True, compute_uv=True, hermitian=False):
    u, s, vh = _svd_parts(out, a, full_matrices, compute_uv, hermitian)
    if not compute_uv:
        a_bar = u @ (out_bar[..., :, None] * vh)
    else:
        a_bar = _svd_uv_vjp(*out_bar, u, s, vh)
        if a_bar is None:
            return (None,)
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


def _lstsq_parts(out, a, b, rcond):
    """pinv(a) at lstsq's own cutoff, x and r = b - a x as matrices (a 1-D b as a column)."""
    m, n = a.shape[-2:]
    if rcond is None:  # lstsq's default, which is not pinv's; LAPACK runs in double
        rcond = np.finfo(np.float64).eps * max(m, n)
    p = np.linalg.pinv(a, rcond=rcond)
    x = out[0]
    vec = ndim_of(b) == 1
    if vec:
        x, b = x[:, None], b[:, None]
    return p, x, b - a @ x, vec


def lstsq_jvp(dots, out, a, b, rcond=None):
    # x = pinv(a) b, valid where the rank is locally constant (e.g. full rank), like pinv's;
    # the residuals are nonempty only for full column rank with M > N, where a^T r = 0
    a, b = _const(a), _const(b)
    a_dot, b_dot = dots[:2]
    p, x, r, vec = _lstsq_parts(out, a, b, rcond)
    if b_dot is not None and vec:
        b_dot = b_dot[..., None]
    x_dot = res_dot = s_dot = None
    if a_dot is not None:
        at_dot = a_dot.mT
        y = p.mT @ x  # P^T x
        # pinv's derivative applied to b: -P A' x + P P^T A'^T r + (I - P A) A'^T P^T x
        t = at_dot @ y
        x_dot = _neg(p @ (a_dot @ x)) + p @ (p.mT @ (at_dot @ r)) + (t - p @ (a @ t))
        s_dot = svd_jvp((a_dot,), out[3], a, compute_uv=False)
    if b_dot is not None:
        x_dot = _plus(x_dot, p @ b_dot)
    if out[1].shape[-1]:  # d sum(r^2) = 2 r^T r' per column, r' = b' - A' x (a^T r = 0)
        r_dot = None if a_dot is None else _neg(a_dot @ x)
        r_dot = _plus(r_dot, b_dot)
        res_dot = 2 * np.sum(r * r_dot, axis=-2)
    if vec:
        x_dot = x_dot[..., 0]
    return x_dot, res_dot, None, s_dot


def lstsq_vjp(out_bar, out, a, b, rcond=None, needs=None):
    a, b = _const(a), _const(b)
    x_bar, res_bar, _, s_bar = out_bar
    if s_bar is not None and _zero_bar(s_bar):  # (the singular values' unread output: their
        s_bar = None  # rule's second derivative would meet repeated ones for nothing)
    p, x, r, vec = _lstsq_parts(out, a, b, rcond)
    if x_bar is not None and vec:
        x_bar = x_bar[..., None]
    a_bar = b_bar = None
    if x_bar is not None:
        z = p.mT @ x_bar  # b_bar, and the pieces of a_bar
        b_bar = z
        if needs is None or needs[0]:
            y = p.mT @ x
            a_bar = _neg(z @ x.mT) + r @ (p @ z).mT + y @ (x_bar - a.mT @ z).mT
    if res_bar is not None and out[1].shape[-1]:
        rb = 2 * r * res_bar[..., None, :]  # the cotangent of r
        b_bar = _plus(b_bar, rb)
        if needs is None or needs[0]:
            a_bar = _plus(a_bar, _neg(rb @ x.mT))
    if s_bar is not None and (needs is None or needs[0]):
        a_bar = _plus(a_bar, svd_vjp(s_bar, out[3], a, compute_uv=False)[0])
    if b_bar is not None and vec:
        b_bar = b_bar[..., 0]
    if needs is not None and not needs[1]:
        b_bar = None
    return a_bar, b_bar


defrule(np.linalg.lstsq, lstsq_jvp, lstsq_vjp)

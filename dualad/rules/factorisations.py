"""Factorisations: cholesky, eigh, eigvalsh, qr, svd, svdvals, pinv.

LAPACK reads one triangle of a symmetric input, so a tangent is first symmetrised from that
triangle and a cotangent is folded back onto it. Real inputs only. Imports numpy only.
"""

from __future__ import annotations

import numpy as np

from ._define import defrule
from .products import _eye, _neg, _plus


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

"""General eigenproblems and what rests on them: eig, eigvals, roots, sort_complex.

Their results are complex even for real input, so the rules follow dualad.rules.complex
(JAX's convention: vjps are transposes). Eigenvalues must be distinct: with a repeated one
the eigenvectors are not unique, and the derivative blows up as ``1 / (w_j - w_i)``.

- ``eigvals`` and eig's eigenvalues: ``w' = diag(V^-1 A' V)``, and the transpose
  ``Abar = (V diag(wbar) V^-1)^T``.
- eig's eigenvectors, forward mode: ``V (F o (V^-1 A' V))`` with ``F_ij = 1 / (w_j - w_i)``,
  then kept in LAPACK's normalisation (unit 2-norm, the largest entry real), which NumPy
  returns: ``d - v Re(v^H d) - i v Im(d_k / v_k)`` per column; reverse mode by the
  transpose of that map.
- ``roots``: NumPy's values; each simple root by the implicit function theorem,
  ``p'(r) r' = -sum_k p'_k r^(n-k)`` (a trailing zero coefficient's root at 0 included).

Imports numpy only.
"""

from __future__ import annotations

from dualad._numpy import np

from ._define import defrule
from .composite import composite


def _gaps(w):
    """``F_ij = 1 / (w_j - w_i)`` off the diagonal, 0 on it."""
    d = w[..., None, :] - w[..., :, None]
    n = w.shape[-1]
    eye = np.eye(n, dtype=bool)
    return np.where(eye, 0.0, 1.0 / np.where(eye, 1.0, d))


def _rotated(v, a_dot):
    """``V^-1 A' V`` (the tangent in the eigenbasis), for a ``(k,)`` batch of tangents."""
    return np.linalg.solve(v, a_dot @ v)


def eigvals_jvp(dots, out, a):
    v = np.linalg.eig(a)[1]
    return np.linalg.diagonal(_rotated(v, dots[0]))


def _eigvals_vjp(w_bar, v):
    # Re(sum_j wbar_j (V^-1 A' V)_jj) = Re(tr(V diag(wbar) V^-1 A')): Abar = (V diag V^-1)^T
    m = (v * w_bar[..., None, :]) @ np.linalg.inv(v)
    return np.swapaxes(m, -1, -2)


def eigvals_vjp(out_bar, out, a):
    v = np.linalg.eig(a)[1]
    return (_eigvals_vjp(out_bar, v),)


def eig_jvp(dots, out, a):
    w, v = out
    p = _rotated(v, dots[0])
    w_dot = np.linalg.diagonal(p)
    d = v @ (_gaps(w) * p)
    # LAPACK's normalisation: unit columns with the largest entry real
    k = np.argmax(np.abs(v), axis=-2, keepdims=True)  # (1, n): each column's largest entry
    vk = np.take_along_axis(v, k, axis=-2)
    dk = np.take_along_axis(d, np.broadcast_to(k, d.shape[:-2] + k.shape[-2:]), axis=-2)
    along = np.real(np.sum(np.conj(v) * d, axis=-2, keepdims=True))
    d = d - v * along - 1j * v * np.imag(dk / vk)
    return w_dot, d


def eig_vjp(out_bar, out, a):
    # the transpose of eig_jvp: each column's normalisation T(d) = d - v Re(v^H d)
    # - i v Im(d_k / v_k) transposes to c - Re(a) conj(v) - i Im(a) / v_k e_k (a = c^T v);
    # V (F o P) with P = V^-1 A' V to G = (V^T C) o F; then Abar = V^-T (diag(wbar) + G) V^T
    w, v = out
    w_bar, v_bar = out_bar
    n = w.shape[-1]
    inner = None if w_bar is None else w_bar[..., :, None] * np.eye(n)
    if v_bar is not None:
        k = np.argmax(np.abs(v), axis=-2, keepdims=True)
        vk = np.take_along_axis(v, k, axis=-2)
        alpha = np.sum(v_bar * v, axis=-2, keepdims=True)
        c = v_bar - np.real(alpha) * np.conj(v)
        c = c + (np.arange(n)[:, None] == k) * (-1j * np.imag(alpha) / vk)
        g = (np.swapaxes(v, -1, -2) @ c) * _gaps(w)
        inner = g if inner is None else inner + g
    if inner is None:
        return (None,)
    vt = np.swapaxes(v, -1, -2)
    g = np.linalg.solve(vt, inner @ vt)
    return (g if np.iscomplexobj(a) else np.real(g),)  # a real input: the real part


defrule(np.linalg.eig, eig_jvp, eig_vjp)
defrule(np.linalg.eigvals, eigvals_jvp, eigvals_vjp)


def _roots_parts(out, p):
    """``lambda_i ** (n - k)`` (roots by coefficients) and ``p'(lambda_i)``, for the implicit
    derivative of a simple root: ``p'(lambda) dlambda + sum_k dp_k lambda ** (n - k) = 0``."""
    n = np.shape(p)[-1] - 1
    if n < 1 or np.shape(out)[-1] != n:
        raise NotImplementedError(
            "dualad differentiates numpy.roots without leading zeros in p (their roots are "
            "at infinity). Drop them first: p = p[first nonzero:]"
        )
    powers = out[:, None] ** np.arange(n, -1, -1)[None, :]
    slope = np.polyval(np.polyder(p), out)
    if np.any(slope == 0):
        raise NotImplementedError(
            "numpy.roots at a repeated root: the roots are not differentiable there"
        )
    return powers, slope


def roots_jvp(dots, out, p):
    powers, slope = _roots_parts(out, p)
    return -(dots[0] @ powers.T) / slope


def roots_vjp(out_bar, out, p):
    powers, slope = _roots_parts(out, p)
    return (-(out_bar / slope) @ powers,)


# the values are NumPy's own; the rule is the implicit-function derivative of each root
defrule(np.roots, roots_jvp, roots_vjp)


@composite(np.sort_complex)
def sort_complex(a):
    """``np.sort_complex``: a complex copy sorted by real, then imaginary part."""
    z = a.astype(np.result_type(a.dtype, np.complex64))
    return np.take(z, np.argsort(z))

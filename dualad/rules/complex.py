"""Complex values: which rules hold for them, the rules that differ, and the FFTs.

The convention is JAX's. A cotangent ``c`` pairs with a tangent ``t`` as ``Re(c * t)``, so a
vjp is the *transpose* of the jvp's real-linear map, not its conjugate transpose: for a
holomorphic function the rule written for real numbers, ``out_bar * f'(z)``, holds as it is,
and so does every complex-linear rule (shapes, indexing, sums, products) whose vjp applies
the transposed map. The gradient of a real-valued ``f`` at ``z = x + iy`` is then
``df/dx - i df/dy`` (a descent step moves along its conjugate). A real-valued function of
``z`` is stated by ``w = df/dx - i df/dy`` as its partial (``|z|``: ``conj(z)/|z|``): its
tangent is ``Re(w * t)`` and its cotangent ``out_bar * w``. Two projections make that
uniform, applied by ``complex_rule`` around every rule that meets a complex value: a real
output keeps the real part of its tangent, a real input the real part of its cotangent.

Rules not listed in ``COMPLEX_OK`` or ``OVERRIDES`` (comparisons, ``sign``, factorisations,
special functions, ...) raise ``NotImplementedError`` on complex values rather than apply
a real-only formula. Imports numpy and the rule families it reads.
"""

from __future__ import annotations

import math

from dualad._numpy import np

from . import elementwise, indexing, products, update  # noqa: F401 - read below: loaded first
from ._define import (
    RULES,
    Rule,
    _partials_jvp,
    _partials_vjp,
    align,
    defrule,
    func_name,
    unbroadcast,
)
from .composite import composite

# -- the FFTs: linear maps, their transposes ------------------------------------------------------


def _neg_axis(axis: int, ndim: int) -> int:
    """``axis`` counted from the end, so it names the same axis with a leading batch axis."""
    axis = int(axis)
    if not -ndim <= axis < ndim:
        raise np.exceptions.AxisError(axis, ndim)
    return axis - ndim if axis >= 0 else axis


def _fit(a, length: int, axis: int):
    """``a`` cut or zero-padded to ``length`` along ``axis`` (negative), as the FFTs' ``n``."""
    have = a.shape[axis]
    if have == length:
        return a
    if have > length:
        key = [slice(None)] * a.ndim
        key[axis] = slice(0, length)
        return a[tuple(key)]
    pad = [(0, 0)] * a.ndim
    pad[axis] = (0, length - have)
    return np.pad(a, pad)


def _scale(norm, n: int, inverse: bool) -> float:
    """The factor NumPy's ``norm`` puts on a forward (or inverse) transform of length n."""
    if norm is None or norm == "backward":
        return 1.0 / n if inverse else 1.0
    if norm == "ortho":
        return 1.0 / math.sqrt(n)  # a Python float: float32 stays float32
    if norm == "forward":
        return 1.0 if inverse else 1.0 / n
    raise ValueError(f'Invalid norm value {norm}; should be "backward", "ortho" or "forward".')


def _c2c(func):
    """fft and ifft: ``y = F P a`` with F symmetric, so the transpose is ``P^T F ybar``."""

    def jvp(dots, out, a, n=None, axis=-1, norm=None):
        ax = _neg_axis(axis, np.ndim(a))
        return func(dots[0], n=n, axis=ax, norm=norm)

    def vjp(out_bar, out, a, n=None, axis=-1, norm=None):
        ax = _neg_axis(axis, np.ndim(a))
        g = func(out_bar, n=out.shape[ax], axis=ax, norm=norm)
        return (_fit(g, np.shape(a)[ax], ax),)

    return jvp, vjp


def _half_weights(m: int, n: int, like):
    """1 for the bins rfft keeps once (0, and n/2 for even n), 1/2 for those it folds."""
    c = np.full(m, 0.5, dtype=np.finfo(np.result_type(like)).dtype)  # float32 stays float32
    c[0] = 1.0
    if n % 2 == 0 and m == n // 2 + 1:
        c[-1] = 1.0
    return c


def _along(c, axis: int, ndim: int):
    """A 1-D array of weights shaped to broadcast along ``axis`` of a rank-``ndim`` array."""
    shape = [1] * ndim
    shape[axis] = c.shape[0]
    return c.reshape(shape)


def rfft_jvp(dots, out, a, n=None, axis=-1, norm=None):
    return np.fft.rfft(dots[0], n=n, axis=_neg_axis(axis, np.ndim(a)), norm=norm)


def rfft_vjp(out_bar, out, a, n=None, axis=-1, norm=None):
    # xbar_j = Re(sum_k ybar_k e^(-2 pi i jk/n)) over the kept bins k: an unscaled irfft of
    # conj(ybar), with the bins irfft counts twice (0 < k < n/2) halved
    ax = _neg_axis(axis, np.ndim(a))
    length = np.shape(a)[ax] if n is None else int(n)
    m = out.shape[ax]
    w = _along(_half_weights(m, length, out_bar.real), ax, out_bar.ndim)
    g = np.fft.irfft(np.conj(out_bar) * w, n=length, axis=ax, norm="forward")
    g = g * _scale(norm, length, inverse=False)
    return (_fit(g, np.shape(a)[ax], ax),)


def irfft_jvp(dots, out, a, n=None, axis=-1, norm=None):
    return np.fft.irfft(dots[0], n=n, axis=_neg_axis(axis, np.ndim(a)), norm=norm)


def irfft_vjp(out_bar, out, a, n=None, axis=-1, norm=None):
    # y_j = s (Re c_0 + 2 sum_mid Re(c_k e^(2 pi i jk/n)) + Re c_(n/2) (-1)^j): the transpose is
    # cbar_k = s w_k conj(rfft(ybar))_k, w = 1 at 0 and n/2, 2 between (the doubled bins)
    ax = _neg_axis(axis, np.ndim(a))
    length = out.shape[ax]
    y = np.conj(np.fft.rfft(out_bar, n=length, axis=ax))
    half = _along(_half_weights(y.shape[ax], length, out_bar), ax, y.ndim)
    g = y / half * _scale(norm, length, inverse=True)
    if not np.iscomplexobj(a):  # a real input pairs with the real part (Re(cbar^H da))
        g = np.real(g)
    return (_fit(g, np.shape(a)[ax], ax),)


for _f in (np.fft.fft, np.fft.ifft):
    defrule(_f, *_c2c(_f))
defrule(np.fft.rfft, rfft_jvp, rfft_vjp)
defrule(np.fft.irfft, irfft_jvp, irfft_vjp)


def _swap(norm):
    return {None: "forward", "backward": "forward", "forward": "backward"}.get(norm, norm)


@composite(np.fft.hfft)
def hfft(a, n=None, axis=-1, norm=None, out=None):
    """``np.fft.hfft``: the irfft of the conjugate, with the norms swapped (as NumPy)."""
    if out is not None:
        raise NotImplementedError("dualad differentiates numpy.fft.hfft without out=")
    return np.fft.irfft(np.conj(a), n=n, axis=axis, norm=_swap(norm))


@composite(np.fft.ihfft)
def ihfft(a, n=None, axis=-1, norm=None, out=None):
    """``np.fft.ihfft``: the conjugate of an rfft, with the norms swapped (as NumPy)."""
    if out is not None:
        raise NotImplementedError("dualad differentiates numpy.fft.ihfft without out=")
    return np.conj(np.fft.rfft(a, n=n, axis=axis, norm=_swap(norm)))


def _cook(a, s, axes, invreal=False):
    """NumPy's ``s`` and ``axes`` for an n-d transform (numpy.fft._cook_nd_args)."""
    shape = np.shape(a)
    shapeless = s is None
    if shapeless:
        s = list(shape) if axes is None else [shape[ax] for ax in axes]
    s = list(s)
    if axes is None:
        axes = list(range(-len(s), 0))
    axes = list(axes)
    if len(s) != len(axes):
        raise ValueError("Shape and axes have different lengths.")
    if invreal and shapeless:
        s[-1] = (shape[axes[-1]] - 1) * 2
    s = [shape[ax] if n is None else n for n, ax in zip(s, axes)]
    return s, axes


def _nd(one):
    def transform(a, s=None, axes=None, norm=None, out=None):
        if out is not None:
            raise NotImplementedError("dualad differentiates numpy.fft n-d transforms without out=")
        s, axes = _cook(a, s, axes)
        for ii in reversed(range(len(axes))):
            a = one(a, n=s[ii], axis=axes[ii], norm=norm)
        return a

    return transform


def _nd2(one):
    def transform(a, s=None, axes=(-2, -1), norm=None, out=None):
        return _nd(one)(a, s, axes, norm, out)

    return transform


composite(np.fft.fftn)(_nd(np.fft.fft))
composite(np.fft.ifftn)(_nd(np.fft.ifft))
composite(np.fft.fft2)(_nd2(np.fft.fft))
composite(np.fft.ifft2)(_nd2(np.fft.ifft))


@composite(np.fft.rfftn)
def rfftn(a, s=None, axes=None, norm=None, out=None):
    """``np.fft.rfftn``: an rfft along the last axis, then ffts along the others."""
    if out is not None:
        raise NotImplementedError("dualad differentiates numpy.fft.rfftn without out=")
    s, axes = _cook(a, s, axes)
    a = np.fft.rfft(a, n=s[-1], axis=axes[-1], norm=norm)
    for ii in range(len(axes) - 1):
        a = np.fft.fft(a, n=s[ii], axis=axes[ii], norm=norm)
    return a


@composite(np.fft.irfftn)
def irfftn(a, s=None, axes=None, norm=None, out=None):
    """``np.fft.irfftn``: iffts along the leading axes, then an irfft along the last."""
    if out is not None:
        raise NotImplementedError("dualad differentiates numpy.fft.irfftn without out=")
    s, axes = _cook(a, s, axes, invreal=True)
    for ii in range(len(axes) - 1):
        a = np.fft.ifft(a, n=s[ii], axis=axes[ii], norm=norm)
    return np.fft.irfft(a, n=s[-1], axis=axes[-1], norm=norm)


@composite(np.fft.rfft2)
def rfft2(a, s=None, axes=(-2, -1), norm=None, out=None):
    """``np.fft.rfft2``: rfftn over two axes."""
    return rfftn(a, s, axes, norm, out)


@composite(np.fft.irfft2)
def irfft2(a, s=None, axes=(-2, -1), norm=None, out=None):
    """``np.fft.irfft2``: irfftn over two axes."""
    return irfftn(a, s, axes, norm, out)


FFTS = (np.fft.fft, np.fft.ifft, np.fft.rfft, np.fft.irfft)

# -- rules that differ on complex values --------------------------------------------------------


def _abs_partial(out, x):
    # w = d|z|/dx - i d|z|/dy = conj(z)/|z|; at 0 the sub-gradient 0, as for reals
    return np.conj(x) / np.where(out == 0, 1.0, out)


def _power_db(out, a, b):
    # d/db a**b = a**b log a; at a == 0 the limit 0 (for Re b > 0), not 0 * -inf
    zero = a == 0
    return out * np.log(np.where(zero, 1.0, a))


OVERRIDES: dict = {
    np.conjugate: Rule(
        "numpy.conjugate",
        lambda dots, out, x: np.conj(dots[0]),
        lambda out_bar, out, x: (np.conj(out_bar),),
    ),
    np.imag: Rule(  # Im(t) = Re(-i t): the cotangent is -i out_bar
        "numpy.imag",
        lambda dots, out, val: np.imag(dots[0]),
        lambda out_bar, out, val: (-1j * out_bar,),
    ),
    np.absolute: Rule(
        "numpy.absolute", _partials_jvp((_abs_partial,)), _partials_vjp((_abs_partial,))
    ),
}


def _arccosh_partial(out, x):
    # 1/sqrt(x*x - 1) takes the other branch of the root off the real axis; this is NumPy's
    return 1 / (np.sqrt(x - 1) * np.sqrt(x + 1))


OVERRIDES[np.arccosh] = Rule(
    "numpy.arccosh", _partials_jvp((_arccosh_partial,)), _partials_vjp((_arccosh_partial,)), True
)


def _herm(d, uplo="L"):
    """The Hermitian matrix LAPACK reads from one triangle of ``d`` (the diagonal's real
    part; the imaginary part there is ignored)."""
    low = uplo.upper() == "L"
    t = np.tril(d, -1) if low else np.triu(d, 1)
    diag = np.real(np.linalg.diagonal(d))
    return t + np.conj(np.swapaxes(t, -1, -2)) + diag[..., None] * np.eye(d.shape[-1])


def _herm_adjoint(c, uplo="L"):
    """The transpose of ``_herm`` under the pairing Re(c t)."""
    ct = np.conj(np.swapaxes(c, -1, -2))
    off = np.tril(c + ct, -1) if uplo.upper() == "L" else np.triu(c + ct, 1)
    return off + np.real(np.linalg.diagonal(c))[..., None] * np.eye(c.shape[-1])


def eigvalsh_jvp(dots, out, a, UPLO="L"):
    v = np.linalg.eigh(a, UPLO)[1]
    return np.real(np.sum(np.conj(v) * (_herm(dots[0], UPLO) @ v), axis=-2))


def eigvalsh_vjp(out_bar, out, a, UPLO="L"):
    # sum_j wbar_j Re(v_j^H H v_j) = Re(tr(M H)), M = V diag(wbar) V^H: H's cotangent is M^T
    v = np.linalg.eigh(a, UPLO)[1]
    m = (v * out_bar[..., None, :]) @ np.conj(np.swapaxes(v, -1, -2))
    return (_herm_adjoint(np.swapaxes(m, -1, -2), UPLO),)


OVERRIDES[np.linalg.eigvalsh] = Rule("numpy.linalg.eigvalsh", eigvalsh_jvp, eigvalsh_vjp)


def _eigh_jvp(dots, out, a, UPLO="L"):
    raise NotImplementedError(
        "forward mode through numpy.linalg.eigh of a complex Hermitian matrix is not "
        "supported: LAPACK leaves each eigenvector's phase arbitrary, so its tangent is not "
        "defined. Use eigvalsh for the eigenvalues, or reverse mode (which checks that the "
        "result does not depend on the phases)."
    )


def _eigh_vjp(out_bar, out, a, UPLO="L"):
    # with P = V^H H' V: w' = diag(P), V' = V (F o P) (the gauge diag(V^H V') = 0); the
    # pairing Re tr(c^T H') gives c = M^T, M = V (diag(wbar) + ((V^T Vbar) o F)^T) V^H
    w, v = out
    w_bar, v_bar = out_bar
    vh = np.conj(np.swapaxes(v, -1, -2))
    inner = 0.0 if w_bar is None else w_bar[..., :, None] * np.eye(w.shape[-1])
    if v_bar is not None:
        vtvb = np.swapaxes(v, -1, -2) @ v_bar
        phase = np.imag(np.linalg.diagonal(vtvb))
        scale = float(np.max(np.abs(vtvb), initial=0.0))
        if np.any(np.abs(phase) > 1e-10 * max(scale, 1.0)):
            raise ValueError(
                "this result depends on the phases of numpy.linalg.eigh's eigenvectors, which "
                "LAPACK leaves arbitrary: its derivative is not defined. Use quantities that do "
                "not change when an eigenvector is multiplied by exp(i t) (|v|, v v^H, ...)."
            )
        d = w[..., None, :] - w[..., :, None]
        n = w.shape[-1]
        off = ~np.eye(n, dtype=bool)
        f = np.where(off, 1.0 / np.where(off, d, 1.0), 0.0)
        inner = inner + np.swapaxes(vtvb * f, -1, -2)
    m = v @ inner @ vh
    return (_herm_adjoint(np.swapaxes(m, -1, -2), UPLO),)


OVERRIDES[np.linalg.eigh] = Rule("numpy.linalg.eigh", _eigh_jvp, _eigh_vjp)


def _svdvals_jvp(dots, out, a, full_matrices=True, compute_uv=True, hermitian=False):
    # s'_i = Re(u_i^H A' v_i), v_i = conj(vh_i)
    u, _, vh = np.linalg.svd(a, full_matrices=False)
    return np.real(np.sum((np.conj(u).mT @ dots[0]) * np.conj(vh), axis=-1))


def _svdvals_vjp(out_bar, out, a, full_matrices=True, compute_uv=True, hermitian=False):
    u, _, vh = np.linalg.svd(a, full_matrices=False)
    return (np.conj(u @ (out_bar[..., :, None] * vh)),)


def _svd_uv_vjp(out_bar, out, a):
    """The transpose of the thin SVD's tangent map (distinct nonzero singular values), in the
    gauge that puts the free imaginary diagonal into U; raises where the result depends on
    the singular vectors' phases (Im diag(U^T Ubar + V^T conj(Vhbar)^T) != 0, as PyTorch)."""
    u, s, vh = out
    u_bar, s_bar, vh_bar = out_bar
    k = s.shape[-1]

    def mT(x):
        return np.swapaxes(x, -1, -2)

    v = np.conj(mT(vh))
    ub = np.zeros_like(u) if u_bar is None else u_bar
    b = np.zeros_like(v) if vh_bar is None else np.conj(mT(vh_bar))  # Vh's cotangent as V's
    w = mT(ub) @ u
    q = mT(b) @ v
    phase = np.imag(np.linalg.diagonal(w + q))
    scale = max(float(np.max(np.abs(w), initial=0.0)), float(np.max(np.abs(q), initial=0.0)), 1.0)
    if np.any(np.abs(phase) > 1e-10 * scale):
        raise ValueError(
            "this result depends on the phases of numpy.linalg.svd's singular vectors, which "
            "LAPACK leaves arbitrary: its derivative is not defined. Use quantities that do "
            "not change when u_i and v_i are both multiplied by exp(i t) (|u|, u_i v_i^H, ...)."
        )
    d = s[..., None, :] ** 2 - s[..., :, None] ** 2  # s_j^2 - s_i^2
    off = ~np.eye(k, dtype=bool)
    f = np.where(off, 1.0 / np.where(off, d, 1.0), 0.0)
    eye = np.eye(k)
    inner = (mT(w) - np.conj(w)) * f * s[..., None, :]  # from U, off the diagonal
    inner = inner + 1j * (np.imag(np.linalg.diagonal(w)) / s)[..., :, None] * eye
    inner = inner + s[..., :, None] * ((mT(q) - np.conj(q)) * f)  # from Vh
    if s_bar is not None:
        inner = inner + s_bar[..., :, None] * eye
    a_bar = np.conj(u) @ inner @ mT(v)
    m, n = u.shape[-2], v.shape[-2]
    if m > k:  # (I - conj(U) U^T) Ubar S^-1 V^T
        a_bar = a_bar + ((ub - np.conj(u) @ (mT(u) @ ub)) / s[..., None, :]) @ mT(v)
    if n > k:  # conj(U S^-1 B^T (I - V V^H))
        t = (u / s[..., None, :]) @ mT(b)
        a_bar = a_bar + np.conj(t - (t @ v) @ np.conj(mT(v)))
    return a_bar


def _svd_jvp(dots, out, a, full_matrices=True, compute_uv=True, hermitian=False):
    if compute_uv or hermitian:
        raise NotImplementedError(
            "forward mode through numpy.linalg.svd's singular vectors of a complex matrix is "
            "not supported: LAPACK leaves their phases arbitrary. Use compute_uv=False (or "
            "svdvals) for the singular values, or reverse mode."
        )
    return _svdvals_jvp(dots, out, a)


def _svd_vjp(out_bar, out, a, full_matrices=True, compute_uv=True, hermitian=False):
    if hermitian:
        raise NotImplementedError("dualad differentiates complex svd without hermitian=True")
    if not compute_uv:
        return _svdvals_vjp(out_bar, out, a)
    m, n = np.shape(a)[-2:]
    if full_matrices and m != n:
        raise NotImplementedError(
            "dualad differentiates the singular vectors of a complex non-square matrix with "
            "full_matrices=False: the extra columns of a full U or Vh are not unique"
        )
    return (_svd_uv_vjp(out_bar, out, a),)


OVERRIDES[np.linalg.svd] = Rule("numpy.linalg.svd", _svd_jvp, _svd_vjp)
OVERRIDES[np.linalg.svdvals] = Rule("numpy.linalg.svdvals", _svdvals_jvp, _svdvals_vjp)


def _vdot_jvp(dots, out, a, b):
    # vdot(a, b) = sum conj(a) b: the tangent conj(a') b + conj(a) b'
    a_dot, b_dot = dots[:2]
    fa, fb = np.reshape(a, (-1,)), np.reshape(b, (-1,))
    t = None if a_dot is None else np.conj(a_dot.reshape(a_dot.shape[0], -1)) @ fb
    u = None if b_dot is None else b_dot.reshape(b_dot.shape[0], -1) @ np.conj(fa)
    return u if t is None else t if u is None else t + u


def _vdot_vjp(out_bar, out, a, b):
    # T(a') = b . conj(a') is anti-linear: its transpose is conj(out_bar b)
    g, r = out_bar[:, None], out_bar.shape[0]
    fa, fb = np.reshape(a, (-1,)), np.reshape(b, (-1,))
    a_bar = np.conj(g * fb).reshape((r,) + tuple(np.shape(a)))
    b_bar = (g * np.conj(fa)).reshape((r,) + tuple(np.shape(b)))
    return a_bar, b_bar


OVERRIDES[np.vdot] = Rule("numpy.vdot", _vdot_jvp, _vdot_vjp)


def _vecdot_vjp(out_bar, out, x, y, axis=-1, needs=None, **kwargs):
    # vecdot(x, y) = sum conj(x) y: x's part is anti-linear (its transpose conjugates: the
    # real rule's g y, conjugated), y's is linear with conj(x) as its coefficient
    real = RULES[np.vecdot].vjp
    want_x = needs is None or bool(needs[0])
    want_y = needs is None or bool(needs[1])
    xb = real(out_bar, out, x, y, axis, needs=(True, False), **kwargs)[0] if want_x else None
    yb = (
        real(out_bar, out, np.conj(x), y, axis, needs=(False, True), **kwargs)[1]
        if want_y
        else None
    )
    return (None if xb is None else np.conj(xb)), yb


def _matvec_vjp(out_bar, out, a, x, needs=None, **kwargs):
    # matvec(A, x) = sum_j A_ij x_j, no conjugate: both parts are transposes
    a_bar = x_bar = None
    if needs is None or needs[0]:
        a_bar = unbroadcast(out_bar[..., :, None] * x[..., None, :], np.shape(a))
    if needs is None or needs[1]:
        x_bar = unbroadcast(np.matvec(np.swapaxes(a, -1, -2), out_bar), np.shape(x))
    return a_bar, x_bar


def _vecmat_jvp(dots, out, x, a, **kwargs):
    # vecmat(x, A) = sum_i conj(x_i) A_ij: np.vecmat conjugates x's tangent itself
    x_dot, a_dot = dots[:2]
    n = np.ndim(out)
    t = None if x_dot is None else np.vecmat(align(x_dot, n), a)
    u = None if a_dot is None else np.vecmat(x, align(a_dot, n + 1))
    return u if t is None else t if u is None else t + u


def _vecmat_vjp(out_bar, out, x, a, needs=None, **kwargs):
    x_bar = a_bar = None
    if needs is None or needs[0]:  # anti-linear in x: conj(sum_j A_ij ybar_j)
        x_bar = unbroadcast(np.conj(np.matvec(a, out_bar)), np.shape(x))
    if needs is None or needs[1]:
        a_bar = unbroadcast(np.conj(x)[..., :, None] * out_bar[..., None, :], np.shape(a))
    return x_bar, a_bar


OVERRIDES[np.matvec] = Rule("numpy.matvec", RULES[np.matvec].jvp, _matvec_vjp, True)
OVERRIDES[np.vecmat] = Rule("numpy.vecmat", _vecmat_jvp, _vecmat_vjp, True)

# the jvp holds as it is: np.vecdot conjugates the tangent of x itself
for _f in (np.vecdot, np.linalg.vecdot):
    OVERRIDES[_f] = Rule(func_name(_f), RULES[_f].jvp, _vecdot_vjp, True)


def _sign_parts(x, out):
    # sign(z) = z / |z|: d sign = a dz + b conj(dz), a = 1 / (2|z|), b = -z^2 / (2|z|^3);
    # 0 at z = 0 (the sub-gradient, as for reals)
    r = np.abs(x)
    safe = np.where(r == 0, 1.0, r)
    a = np.where(r == 0, 0.0, 0.5 / safe)
    b = np.where(r == 0, 0.0, -0.5 * out * out / safe)
    return a, b


def _sign_jvp(dots, out, x):
    a, b = _sign_parts(x, out)
    d = dots[0]
    return a * d + b * np.conj(d)


def _sign_vjp(out_bar, out, x):
    a, b = _sign_parts(x, out)
    return (a * out_bar + np.conj(b * out_bar),)


OVERRIDES[np.sign] = Rule("numpy.sign", _sign_jvp, _sign_vjp)


def _astype_vjp(out_bar, out, x, dtype):
    g = np.real(out_bar) if _is_real(x) and not _is_real(out_bar) else out_bar
    return (g.astype(x.dtype), None)


OVERRIDES[elementwise.astype] = Rule("astype", RULES[elementwise.astype].jvp, _astype_vjp)
for _f in (np.power, np.float_power):
    _da = RULES[_f].partials[0]
    OVERRIDES[_f] = Rule(
        func_name(_f), _partials_jvp((_da, _power_db)), _partials_vjp((_da, _power_db)), True
    )


#: Rules that hold on complex values as they are: holomorphic elementwise functions and
#: complex-linear (or multilinear) maps whose vjp applies the transposed map.
_NAMES = (
    # holomorphic elementwise
    (
        "add subtract multiply divide negative positive sqrt square reciprocal exp exp2 expm1 "
        "log log2 log10 log1p sin cos tan arcsin arccos arctan sinh cosh tanh arcsinh arccosh "
        "arctanh real rint"
    ),
    # shapes, copies and new arrays
    (
        "append array_split atleast_1d atleast_2d atleast_3d broadcast_arrays broadcast_to "
        "column_stack concatenate copy dsplit dstack empty_like expand_dims flip fliplr flipud "
        "full_like hsplit hstack matrix_transpose moveaxis ones_like pad ravel repeat reshape "
        "roll rot90 split squeeze stack swapaxes tile transpose unstack vsplit vstack zeros_like"
    ),
    # indexing and selection by position or mask
    (
        "block compress delete diag diagflat diagonal extract insert resize rollaxis take "
        "take_along_axis tril triu where select"
    ),
    # selections by NumPy's (lexicographic) order of complex values: a tangent is picked
    "maximum minimum fmax fmin sort max min amax amin",
    # sums and products
    (
        "average cumprod cumsum diff mean nanmean nansum prod sum trace dot matmul inner outer "
        "tensordot kron cross einsum convolve"
    ),
)
COMPLEX_OK: set = {getattr(np, n) for group in _NAMES for n in group.split()}
COMPLEX_OK |= {np.linalg.det, np.linalg.inv, np.linalg.solve, np.linalg.matrix_power,
               np.linalg.multi_dot, np.linalg.matrix_transpose, np.linalg.diagonal,
               np.linalg.trace, np.linalg.matmul, np.linalg.outer, np.linalg.tensordot,
               np.linalg.cross, np.linalg.eig, np.linalg.eigvals, np.roots, np.linalg.norm,
               np.linalg.vector_norm, np.linalg.matrix_norm, *FFTS}  # fmt: skip
COMPLEX_OK |= {f for f in RULES if getattr(f, "__name__", "") in
               ("getitem", "index_update", "index_add", "astype", "sliding_window_view")}  # fmt: skip


def _is_real(a) -> bool:
    dt = getattr(a, "dtype", None)
    if dt is not None:
        return dt.kind != "c"
    return type(a) is not complex


def _real_part(g, like):
    """``g`` in ``like``'s field: the real part for a real ``like``, cast to complex for a
    complex one (a complex input's derivative is complex, whatever path reached it; per item
    for a list)."""
    if g is None:
        return None
    if type(g) in (list, tuple) and type(like) in (list, tuple):
        return type(g)(_real_part(gi, li) for gi, li in zip(g, like))
    if _is_real(like):
        return g if _is_real(g) else np.real(g)
    if _is_real(g) and hasattr(g, "astype"):
        dt = getattr(like, "dtype", np.dtype(np.complex128))
        return g.astype(np.result_type(g.dtype, dt))
    return g


def _projected(base: Rule) -> Rule:
    def jvp(dots, out, *args, **kwargs):
        d = base.jvp(dots, out, *args, **kwargs)
        if type(d) in (list, tuple) and type(out) in (list, tuple):
            return type(d)(_real_part(di, oi) for di, oi in zip(d, out))
        return _real_part(d, out)

    def vjp(out_bar, out, *args, **kwargs):
        res = base.vjp(out_bar, out, *args, **kwargs)
        return tuple(_real_part(g, a) for g, a in zip(res, args)) + tuple(res[len(args) :])

    return Rule(base.name, jvp, vjp, base.vjp_needs, None)


_READY: dict = {}


def complex_rule(func, rule: Rule) -> Rule:
    """The rule to apply where ``func`` meets a complex value (see the module docstring);
    raises ``NotImplementedError`` naming ``func`` where no rule is known to hold."""
    ready = _READY.get(func)
    if ready is None:
        base = OVERRIDES.get(func)
        if base is None:
            if func not in COMPLEX_OK:
                raise NotImplementedError(
                    f"dualad does not differentiate {rule.name} on complex values yet (its "
                    "rule is stated for real numbers). Write that step on the real and "
                    "imaginary parts (np.real, np.imag), or take it on .primal if its "
                    "derivative is not needed."
                )
            base = rule
        ready = _READY[func] = _projected(base)
    return ready

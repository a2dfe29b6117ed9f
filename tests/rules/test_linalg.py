"""Every linalg rule against central differences, forward and reverse."""

import numpy as np
import pytest

from dualad import Dual
from dualad.rules import RULES
from dualad.rules.linalg import PRIMAL_ONLY_FUNCS
from tests._check import check_rule

rng = np.random.default_rng(11)


def R(*shape):
    return rng.standard_normal(shape)


def WELL(*shape):
    """Well-conditioned square matrices (identity-dominated)."""
    return R(*shape) * 0.3 + 2 * np.eye(shape[-1])


def SPD(*shape):
    x = R(*shape)
    return x @ np.swapaxes(x, -1, -2) + shape[-1] * np.eye(shape[-1])


def SYM(*shape):
    """Symmetric with well-separated eigenvalues (eigenvectors are then smooth)."""
    x = R(*shape) * 0.2
    return x + np.swapaxes(x, -1, -2) + np.diag(np.arange(1.0, shape[-1] + 1) * 2)


def SEP(m, n, batch=()):
    """Random m x n with well-separated singular values 3 * 0.7 ** i."""
    k = min(m, n)
    u = np.linalg.qr(R(*batch, m, m))[0][..., :k]
    v = np.linalg.qr(R(*batch, n, n))[0][..., :k]
    s = 3.0 * 0.7 ** np.arange(k)
    return (u * s) @ np.swapaxes(v, -1, -2)


def svd_rebuild(a):
    """U diag(s) Vh: a whatever the singular vectors' signs."""
    u, s, vh = np.linalg.svd(a, full_matrices=False)
    return (u * s[..., None, :]) @ vh


def svd_rank1(a):
    """The leading term s_1 u_1 v_1^T (sign-independent, not linear in a)."""
    u, s, vh = np.linalg.svd(a, full_matrices=False)
    return s[..., :1, None] * u[..., :, :1] * vh[..., :1, :]


def svd_polar(a):
    """U Vh, the orthogonal polar factor (sign-independent)."""
    u, _, vh = np.linalg.svd(a, full_matrices=False)
    return u @ vh


def svd_values_from_vectors(a):
    """diag(U^T a V) = s, through the singular vectors (sign-independent)."""
    u, _, vh = np.linalg.svd(a, full_matrices=False)
    return np.sum((np.swapaxes(u, -1, -2) @ a) * vh, axis=-1)


def case(name, func, *args, **kwargs):
    return pytest.param(func, args, kwargs, id=name)


PRODUCTS = [
    # matmul: every rank combination, batch broadcasting both ways
    case("matmul-1x1", np.matmul, R(3), R(3)),
    case("matmul-1x2", np.matmul, R(3), R(3, 4)),
    case("matmul-2x1", np.matmul, R(2, 3), R(3)),
    case("matmul-2x2", np.matmul, R(2, 3), R(3, 4)),
    case("matmul-3x2", np.matmul, R(5, 2, 3), R(3, 4)),
    case("matmul-2x3", np.matmul, R(2, 3), R(5, 3, 4)),
    case("matmul-3x3", np.matmul, R(5, 2, 3), R(5, 3, 4)),
    case("matmul-bcast", np.matmul, R(5, 1, 2, 3), R(4, 3, 2)),
    case("matmul-bcast-b", np.matmul, R(1, 2, 3), R(2, 4, 3, 2)),
    case("matmul-1x3", np.matmul, R(3), R(5, 3, 4)),
    case("matmul-3x1", np.matmul, R(5, 2, 3), R(3)),
    case("linalg.matmul", np.linalg.matmul, R(2, 3), R(3, 4)),
    case("matvec", np.matvec, R(2, 3, 4), R(4)),
    case("matvec-2d-batch-x", np.matvec, R(3, 4), R(5, 4)),
    case("matvec-bcast", np.matvec, R(2, 1, 3, 4), R(5, 4)),
    case("vecmat", np.vecmat, R(3), R(3, 4)),
    case("vecmat-batch-x", np.vecmat, R(5, 3), R(3, 4)),
    case("vecmat-bcast", np.vecmat, R(5, 3), R(2, 5, 3, 4)),
    case("vecdot", np.vecdot, R(2, 3), R(3)),
    case("vecdot-bcast", np.vecdot, R(4, 1, 3), R(5, 3)),
    case("vecdot-axis0", np.vecdot, R(3, 2), R(3, 1), axis=0),
    case("linalg.vecdot-axis", np.linalg.vecdot, R(2, 3), R(2, 3), axis=-2),
    # dot family
    case("dot-1x1", np.dot, R(3), R(3)),
    case("dot-2x1", np.dot, R(2, 3), R(3)),
    case("dot-1x2", np.dot, R(3), R(3, 4)),
    case("dot-2x2", np.dot, R(2, 3), R(3, 4)),
    case("dot-3x1", np.dot, R(2, 4, 3), R(3)),
    case("dot-3x3", np.dot, R(2, 3, 4), R(5, 4, 2)),
    case("dot-0d", np.dot, np.array(1.5), R(2, 3)),
    case("vdot", np.vdot, R(2, 3), R(3, 2)),
    case("inner-1x1", np.inner, R(3), R(3)),
    case("inner-2x2", np.inner, R(2, 3), R(4, 3)),
    case("inner-3x1", np.inner, R(2, 4, 3), R(3)),
    case("inner-1x3", np.inner, R(3), R(2, 4, 3)),
    case("outer", np.outer, R(3), R(4)),
    case("outer-flattens", np.outer, R(2, 2), R(3)),
    case("linalg.outer", np.linalg.outer, R(3), R(2)),
    case("tensordot-2", np.tensordot, R(2, 3, 4), R(3, 4, 5)),
    case("tensordot-1", np.tensordot, R(2, 3), R(3, 4), axes=1),
    case("tensordot-0", np.tensordot, R(2), R(3, 2), axes=0),
    case("tensordot-pairs", np.tensordot, R(3, 2, 4), R(2, 3, 5), axes=([1, 0], [0, 1])),
    case("tensordot-unsorted", np.tensordot, R(4, 3, 2), R(2, 5, 4), axes=([2, 0], [0, 2])),
    case("tensordot-ints", np.tensordot, R(2, 3), R(4, 2), axes=(0, 1)),
    case("tensordot-negative", np.tensordot, R(2, 3), R(3, 4), axes=([-1], [-2])),
    case("linalg.tensordot", np.linalg.tensordot, R(2, 3), R(3, 4), axes=1),
    case("kron-2x2", np.kron, R(2, 3), R(3, 2)),
    case("kron-1x2", np.kron, R(2), R(2, 3)),
    case("kron-1x1", np.kron, R(3), R(2)),
    case("cross", np.cross, R(3), R(3)),
    case("cross-bcast", np.cross, R(4, 3), R(3)),
    case("cross-axes", np.cross, R(3, 4), R(4, 3), axisa=0, axisb=-1, axisc=0),
    case("cross-axis", np.cross, R(3, 2), R(3, 1), axis=0),
    case("linalg.cross", np.linalg.cross, R(2, 3), R(2, 3)),
]

EINSUM = [
    ("ij,jk->ik", (2, 3), (3, 4)),
    ("ij,jk", (2, 3), (3, 4)),
    ("ji", (2, 3)),
    ("Ba,ab", (2, 3), (3, 2)),
    ("ii->i", (3, 3)),
    ("ii", (3, 3)),
    ("iij->ji", (3, 3, 2)),
    ("ij->", (2, 3)),
    ("ij->j", (2, 3)),
    ("i,i", (3,), (3,)),
    ("i,j->ij", (2,), (3,)),
    ("ij,ij->ij", (2, 3), (2, 3)),
    ("ii,i->i", (3, 3), (3,)),
    ("bij,bjk,bkl->bil", (2, 2, 3), (2, 3, 2), (2, 2, 4)),
    ("...ij,...jk->...ik", (2, 1, 3, 4), (5, 4, 2)),
    ("...i,i", (2, 3), (3,)),
    ("i...->...", (3, 2, 2)),
    ("ij,j->i", (2, 1), (3,)),
    ("ij,kj->ik", (1, 3), (4, 3)),
]


@pytest.mark.parametrize("f, args, kwargs", PRODUCTS)
def test_products(f, args, kwargs):
    check_rule(f, *args, **kwargs)


@pytest.mark.parametrize("spec", EINSUM, ids=lambda s: s[0])
def test_einsum(spec):
    subs, *shapes = spec
    check_rule(np.einsum, subs, *[R(*s) for s in shapes])


def test_einsum_optimize_and_sublists():
    a, b, c = R(2, 3), R(3, 4), R(4, 2)
    check_rule(np.einsum, "ij,jk,kl->il", a, b, c, optimize=True)
    check_rule(np.einsum, a, [0, 1], b, [1, 2], [0, 2])
    check_rule(np.einsum, a, [Ellipsis, 1], b, [1, 2])


@pytest.mark.parametrize("mode", ["full", "same", "valid"])
@pytest.mark.parametrize("n, m", [(7, 3), (3, 7), (6, 4), (4, 6), (5, 5), (1, 4)])
def test_convolve_correlate(n, m, mode):
    a, v = R(n), R(m)
    check_rule(np.convolve, a, v, mode)
    check_rule(np.correlate, a, v, mode=mode)


def test_convolve_constant_kernel_and_long_signal():
    check_rule(lambda x: np.convolve(x, [1.0, -2.0, 1.0], "same"), R(40))
    signal = R(50)
    check_rule(lambda k: np.correlate(signal, k), R(4))


def test_scalar_operands():
    x = R(2, 3)
    check_rule(lambda y: np.dot(2.5, y), x)
    check_rule(lambda y: np.dot(y, 2.5), x)
    check_rule(lambda y: np.inner(y, -1.5), x)
    check_rule(lambda y: np.kron(2.0, y), x)
    check_rule(lambda s: np.dot(s, x), np.array(0.7))


def test_list_operands_are_constants():
    m = [[1.0, 2.0], [3.0, -1.0]]
    check_rule(lambda x: np.matmul(m, x), R(2, 3))
    check_rule(lambda x: np.matmul(x, m), R(3, 2))
    check_rule(lambda x: np.dot(m, x), R(2))
    check_rule(lambda x: np.linalg.solve(np.diag([2.0, 3.0]) + x, [1.0, 2.0]), R(2, 2))


def test_operator_and_constant_operand():
    w, x = R(4, 3), R(3)
    check_rule(lambda v: np.tanh(w @ v + 1.0) * v[:1], x)
    check_rule(lambda m: m @ x, w)
    check_rule(lambda v: v @ w.T, x)


def test_matmul_direction_axis_is_not_a_batch_axis():
    # W @ x with x 1-D and k = n directions: the tangent is x_dot @ W.T, shape (k, m)
    w, x, xd = R(5, 3), R(3), R(3, 3)
    d = w @ Dual(x, xd)
    assert d.tangent.shape == (3, 5)
    np.testing.assert_allclose(d.tangent, xd @ w.T)
    d = Dual(R(2, 3, 4), R(3, 2, 3, 4)) @ R(4)  # batched matrix, k = 3 = batch size
    assert d.tangent.shape == (3, 2, 3)


def test_matmul_vjp_honours_needs():
    rule = RULES[np.matmul]
    a, b = R(2, 3), R(3, 4)
    g = R(2, 2, 4)
    a_bar, b_bar = rule.vjp(g, a @ b, a, b, needs=(False, True))
    assert a_bar is None and b_bar.shape == (2, 3, 4)
    a_bar, b_bar = rule.vjp(g, a @ b, a, b, needs=(True, False))
    assert b_bar is None and a_bar.shape == (2, 2, 3)
    assert rule.vjp_needs


NORMS = [
    case("vector", np.linalg.norm, R(5)),
    case("flattened", np.linalg.norm, R(2, 3, 2)),
    case("matrix-default", np.linalg.norm, R(3, 4)),
    case("ord1", np.linalg.norm, R(5), 1),
    case("ord-inf", np.linalg.norm, R(5), np.inf),
    case("ord-minus-inf", np.linalg.norm, R(5), -np.inf),
    case("ord3", np.linalg.norm, R(5), 3),
    case("ord-minus2", np.linalg.norm, R(5), -2),
    case("ord-half", np.linalg.norm, np.abs(R(5)) + 0.5, 0.5),
    case("ord0", np.linalg.norm, R(5), 0),
    case("axis1", np.linalg.norm, R(3, 4), axis=1),
    case("axis-neg-keepdims", np.linalg.norm, R(2, 3, 4), axis=-2, keepdims=True),
    case("keepdims-full", np.linalg.norm, R(3, 4), keepdims=True),
    case("axis-ord1", np.linalg.norm, R(3, 4), 1, 0),
    case("fro", np.linalg.norm, R(3, 4), "fro"),
    case("fro-axes", np.linalg.norm, R(2, 3, 4), "fro", (2, 0)),
    case("matrix-ord1", np.linalg.norm, R(3, 4), 1),
    case("matrix-ord-minus1", np.linalg.norm, R(3, 4), -1),
    case("matrix-inf", np.linalg.norm, R(3, 4), np.inf),
    case("matrix-minus-inf", np.linalg.norm, R(3, 4), -np.inf),
    case("matrix-inf-batched", np.linalg.norm, R(2, 3, 4), np.inf, (1, 2), True),
    case("vector_norm", np.linalg.vector_norm, R(2, 3)),
    case("vector_norm-axes", np.linalg.vector_norm, R(2, 3, 4), axis=(0, 2), keepdims=True),
    case("vector_norm-ord1", np.linalg.vector_norm, R(2, 3), axis=-1, ord=1),
    case("matrix_norm", np.linalg.matrix_norm, R(2, 3, 4)),
    case("matrix_norm-ord1", np.linalg.matrix_norm, R(2, 3, 4), ord=1, keepdims=True),
    # the singular-value norms: 2 (largest), -2 (smallest), 'nuc' (sum)
    case("matrix-ord2", np.linalg.norm, SEP(3, 4), 2),
    case("matrix-ord-minus2", np.linalg.norm, SEP(4, 3), -2),
    case("matrix-nuc", np.linalg.norm, SEP(3, 4), "nuc"),
    case("matrix-ord2-square", np.linalg.norm, SEP(3, 3), 2),
    case("matrix-ord2-keepdims", np.linalg.norm, SEP(3, 4), 2, None, True),
    case("matrix-ord2-axes", np.linalg.norm, np.moveaxis(SEP(3, 4, (2,)), 0, 1), 2, (2, 0)),
    case("matrix-ord-minus2-axes", np.linalg.norm, np.moveaxis(SEP(4, 3, (2,)), 0, 2), -2, (0, 1)),
    case(
        "matrix-nuc-keepdims",
        np.linalg.norm,
        np.moveaxis(SEP(3, 4, (2,)), 0, 1),
        "nuc",
        (0, 2),
        True,
    ),
    case("matrix-nuc-batched", np.linalg.norm, SEP(3, 3, (2,)), "nuc", (1, 2)),
    case("matrix_norm-ord2", np.linalg.matrix_norm, SEP(3, 4, (2,)), ord=2),
    case("matrix_norm-ord-minus2", np.linalg.matrix_norm, SEP(4, 3, (2,)), ord=-2, keepdims=True),
    case("matrix_norm-nuc", np.linalg.matrix_norm, SEP(3, 4), ord="nuc"),
]


@pytest.mark.parametrize("f, args, kwargs", NORMS)
def test_norms(f, args, kwargs):
    check_rule(f, *args, **kwargs)


def test_norm_at_zero_is_zero_subgradient():
    d = np.linalg.norm(Dual(np.zeros(3), np.ones(3)))
    assert d.primal == 0 and d.tangent == 0.0
    (x_bar,) = RULES[np.linalg.norm].vjp(np.ones(2), np.float64(0.0), np.zeros(3))
    np.testing.assert_array_equal(x_bar, np.zeros((2, 3)))
    d = np.linalg.norm(Dual(np.zeros((2, 3)), np.ones((2, 3))), axis=1)
    np.testing.assert_array_equal(d.tangent, [0.0, 0.0])


@pytest.mark.parametrize("ord", [2, -2, "nuc"])
def test_singular_value_norms_reverse_equals_forward(ord):
    import dualad

    a = SEP(3, 4)
    gf = dualad.grad(lambda x: np.linalg.norm(x, ord), a, mode="forward")
    gr = dualad.grad(lambda x: np.linalg.norm(x, ord), a, mode="reverse")
    np.testing.assert_allclose(gr, gf, rtol=1e-12, atol=1e-12)
    u, _, vh = np.linalg.svd(a, full_matrices=False)
    want = {2: np.outer(u[:, 0], vh[0]), -2: np.outer(u[:, -1], vh[-1]), "nuc": u @ vh}[ord]
    np.testing.assert_allclose(gf, want, rtol=1e-10, atol=1e-12)


S34, S43, S33 = SEP(3, 4), SEP(4, 3), SEP(3, 3)
_U, _S, _VH = np.linalg.svd(S43, full_matrices=False)
RANK2 = (_U[:, :2] * _S[:2]) @ _VH[:2]  # S43 with its smallest singular value dropped

DECOMPOSITIONS = [
    case("solve-vec", np.linalg.solve, WELL(3, 3), R(3)),
    case("solve-mat", np.linalg.solve, WELL(3, 3), R(3, 2)),
    case("solve-batched", np.linalg.solve, WELL(2, 3, 3), R(2, 3, 2)),
    case("solve-batched-vec", np.linalg.solve, WELL(2, 3, 3), R(3)),
    case("solve-bcast-b", np.linalg.solve, WELL(2, 3, 3), R(3, 2)),
    case("solve-bcast-a", np.linalg.solve, WELL(3, 3), R(2, 3, 1)),
    case("inv", np.linalg.inv, WELL(3, 3)),
    case("inv-batched", np.linalg.inv, WELL(2, 3, 3)),
    case("det", np.linalg.det, WELL(3, 3)),
    case("det-batched", np.linalg.det, WELL(2, 3, 3)),
    case("det-negative", np.linalg.det, WELL(3, 3)[::-1]),
    case("slogdet", np.linalg.slogdet, WELL(3, 3)[::-1]),
    case("slogdet-batched", np.linalg.slogdet, WELL(2, 3, 3)),
    case("cholesky", np.linalg.cholesky, SPD(3, 3)),
    case("cholesky-batched", np.linalg.cholesky, SPD(2, 3, 3)),
    case("cholesky-upper", np.linalg.cholesky, SPD(3, 3), upper=True),
    case("eigh", np.linalg.eigh, SYM(3, 3)),
    case("eigh-U", np.linalg.eigh, SYM(3, 3), "U"),
    case("eigh-batched", np.linalg.eigh, SYM(2, 3, 3)),
    case("eigvalsh", np.linalg.eigvalsh, SYM(4, 4)),
    case("eigvalsh-U-batched", np.linalg.eigvalsh, SYM(2, 3, 3), UPLO="U"),
    case("qr-tall", np.linalg.qr, WELL(4, 4)[:, :3]),
    case("qr-square", np.linalg.qr, WELL(3, 3)),
    case("qr-wide", np.linalg.qr, WELL(3, 3) @ np.hstack([np.eye(3), R(3, 2)])),
    case("qr-batched", np.linalg.qr, WELL(2, 4, 4)[..., :3]),
    case("qr-r", np.linalg.qr, WELL(4, 4)[:, :3], "r"),
    case("qr-complete-wide", np.linalg.qr, np.hstack([WELL(2, 2), R(2, 1)]), "complete"),
    case("svd-values", np.linalg.svd, R(3, 4), compute_uv=False),
    case("svd-values-tall-batched", np.linalg.svd, R(2, 4, 3), compute_uv=False),
    case("svd-hermitian", np.linalg.svd, SYM(3, 3) - 4 * np.eye(3), False, False, True),
    case("svd-thin-tall", np.linalg.svd, SEP(5, 3), full_matrices=False),
    case("svd-thin-wide", np.linalg.svd, SEP(3, 5), full_matrices=False),
    case("svd-thin-square", np.linalg.svd, SEP(4, 4), full_matrices=False),
    case("svd-thin-batched", np.linalg.svd, SEP(4, 3, (2,)), full_matrices=False),
    case("svd-thin-batched-wide", np.linalg.svd, SEP(2, 4, (2, 2)), False),
    case("svd-full-square", np.linalg.svd, SEP(3, 3)),
    case("svd-full-square-batched", np.linalg.svd, SEP(3, 3, (2,)), True),
    case("svd-uv-hermitian", np.linalg.svd, SYM(3, 3) - 3.5 * np.eye(3), hermitian=True),
    case("svd-uv-hermitian-batched", np.linalg.svd, SYM(2, 3, 3) - 3.5 * np.eye(3), hermitian=True),
    case("svd-rebuild-tall", svd_rebuild, SEP(4, 3)),
    case("svd-rebuild-wide-batched", svd_rebuild, SEP(3, 4, (2,))),
    case("svd-rank1", svd_rank1, SEP(4, 3)),
    case("svd-polar", svd_polar, SEP(3, 3)),
    case("svd-values-from-vectors", svd_values_from_vectors, SEP(3, 4)),
    case("svdvals", np.linalg.svdvals, R(3, 4)),
    case("pinv-tall", np.linalg.pinv, R(4, 3)),
    case("pinv-wide", np.linalg.pinv, R(3, 4)),
    case("pinv-batched", np.linalg.pinv, R(2, 4, 3)),
    case("pinv-hermitian", np.linalg.pinv, SYM(3, 3), hermitian=True),
    case("lstsq-tall-vec", np.linalg.lstsq, SEP(5, 3), R(5)),
    case("lstsq-tall-mat", np.linalg.lstsq, SEP(5, 3), R(5, 2)),
    case("lstsq-tall-rcond", np.linalg.lstsq, SEP(4, 2), R(4, 3), rcond=1e-10),
    case("lstsq-square", np.linalg.lstsq, SEP(3, 3), R(3, 2)),
    case("lstsq-square-vec", np.linalg.lstsq, SEP(3, 3), R(3)),
    case("lstsq-wide-vec", np.linalg.lstsq, SEP(3, 5), R(3)),
    case("lstsq-wide-mat", np.linalg.lstsq, SEP(2, 4), R(2, 3)),
    case("lstsq-x", lambda a, b: np.linalg.lstsq(a, b)[0], SEP(5, 3), R(5)),
    case("lstsq-residuals", lambda a, b: np.linalg.lstsq(a, b)[1], SEP(5, 3), R(5, 2)),
    case("lstsq-s", lambda a: np.linalg.lstsq(a, np.ones(4))[3], SEP(4, 3)),
    case("lstsq-b-only", lambda b: np.linalg.lstsq(S43, b), R(4, 2)),
    # rank 2 of 3, kept by the cutoff: x is pinv's (constant-rank) derivative, residuals empty
    case("lstsq-rank-deficient", lambda a, b: np.linalg.lstsq(a, b, 1e-3)[:2], RANK2, R(4, 2)),
    case("lstsq-a-only-list-b", lambda a: np.linalg.lstsq(a, [1.0, 2.0, 0.0, -1.0]), SEP(4, 3)),
    case("cond", np.linalg.cond, WELL(3, 3)),
    case("cond-tall", np.linalg.cond, SEP(4, 3)),
    case("cond-wide-batched", np.linalg.cond, SEP(3, 4, (2,))),
    case("cond-2", np.linalg.cond, WELL(3, 3), 2),
    case("cond-minus2", np.linalg.cond, WELL(3, 3), -2),
    case("cond-minus2-batched", np.linalg.cond, WELL(2, 3, 3), p=-2),
    case("cond-fro", np.linalg.cond, WELL(3, 3), "fro"),
    case("cond-fro-batched", np.linalg.cond, WELL(2, 3, 3), "fro"),
    case("cond-1", np.linalg.cond, WELL(3, 3), 1),
    case("cond-minus1", np.linalg.cond, WELL(3, 3), -1),
    case("cond-inf", np.linalg.cond, WELL(3, 3), np.inf),
    case("cond-minus-inf", np.linalg.cond, WELL(3, 3), -np.inf),
    case("cond-1-batched", np.linalg.cond, WELL(2, 3, 3), p=1),
    case("cond-inf-batched", np.linalg.cond, WELL(2, 3, 3), np.inf),
    case("cond-nuc", np.linalg.cond, WELL(3, 3), "nuc"),
    case("matrix_power-0", np.linalg.matrix_power, WELL(3, 3), 0),
    case("matrix_power-1", np.linalg.matrix_power, WELL(3, 3), 1),
    case("matrix_power-2", np.linalg.matrix_power, WELL(3, 3), 2),
    case("matrix_power-5", np.linalg.matrix_power, WELL(2, 3, 3) / 2, 5),
    case("matrix_power-minus2", np.linalg.matrix_power, WELL(3, 3), -2),
    case("matrix_power-minus1", np.linalg.matrix_power, WELL(3, 3), n=-1),
    case("multi_dot-2", np.linalg.multi_dot, [R(2, 3), R(3, 4)]),
    case("multi_dot-3", np.linalg.multi_dot, [R(2, 3), R(3, 4), R(4, 2)]),
    case("multi_dot-vec-ends", np.linalg.multi_dot, [R(3), R(3, 4), R(4, 2), R(2)]),
    case("multi_dot-vec-first", np.linalg.multi_dot, [R(3), R(3, 4), R(4, 2)]),
    case("matrix_transpose", np.linalg.matrix_transpose, R(2, 3, 4)),
    case("diagonal", np.linalg.diagonal, R(2, 3, 4)),
    case("diagonal-offset", np.linalg.diagonal, R(3, 4), offset=1),
    case("diagonal-negative-offset", np.linalg.diagonal, R(4, 3), offset=-2),
    case("trace", np.linalg.trace, R(2, 3, 3)),
    case("trace-offset", np.linalg.trace, R(3, 4), offset=-1),
]


@pytest.mark.parametrize("f, args, kwargs", DECOMPOSITIONS)
def test_decompositions(f, args, kwargs):
    check_rule(f, *args, **kwargs)


def test_multi_dot_with_a_constant():
    a, b, c = R(2, 3), R(3, 4), R(4, 2)
    check_rule(lambda x: np.linalg.multi_dot([a, x, c]), b)


def test_eigh_degenerate_free_composition():
    # the reconstruction V diag(w) V^T = A holds whatever the eigenvectors' signs
    def rebuild(a):
        w, v = np.linalg.eigh(a)
        return (v * w[..., None, :]) @ np.swapaxes(v, -1, -2)

    check_rule(rebuild, SYM(3, 3))


def test_svd_and_lstsq_reverse_mode_end_to_end():
    """Taped (reverse) Jacobians of the multi-output rules equal the forward ones."""
    from dualad.api import jacobian

    a = SEP(4, 3)
    for f in (
        lambda x: np.linalg.svd(x, full_matrices=False),
        lambda x: np.linalg.svd(x.T @ x, hermitian=True),
        lambda x: np.linalg.lstsq(x, a[:, 0]),
        lambda x: np.linalg.cond(x[:3], "fro") + np.linalg.cond(x, -2),
    ):
        jf, jr = jacobian(f, a, mode="forward"), jacobian(f, a, mode="reverse")
        leaves_f = jf if isinstance(jf, tuple) else (jf,)
        leaves_r = jr if isinstance(jr, tuple) else (jr,)
        for r, fw in zip(leaves_r, leaves_f):
            if fw is not None and np.asarray(fw).dtype.kind == "f":
                np.testing.assert_allclose(r, fw, rtol=1e-10, atol=1e-12)


def test_unsupported_modes_raise():
    # NumPy's default full_matrices=True: the extra columns of U (rows of Vh) are not unique
    with pytest.raises(NotImplementedError, match="full_matrices=False"):
        np.linalg.svd(Dual(R(4, 3), R(4, 3)))
    with pytest.raises(NotImplementedError, match="full_matrices=False"):
        np.linalg.svd(Dual(R(2, 3, 4), R(2, 3, 4)), full_matrices=True)
    with pytest.raises(NotImplementedError, match="mode='reduced'"):
        np.linalg.qr(Dual(R(4, 3), R(4, 3)), "complete")
    # NumPy itself warns that 2-vectors are deprecated
    with pytest.raises(NotImplementedError, match="2-element"), pytest.warns(DeprecationWarning):
        np.cross(Dual(R(2), R(2)), R(2))
    with pytest.raises(NotImplementedError, match="axes"):
        np.matmul(Dual(R(2, 3), R(2, 3)), R(3, 2), axes=[(0, 1), (0, 1), (0, 1)])


W32, W42, W33 = R(3, 2), R(4, 2), R(3, 3)
NESTED = [
    case("matmul", lambda x: np.sin(x) * x @ W32, R(2, 3)),
    case("dot", lambda x: np.dot(W42, np.sin(x) * x), R(2, 3)),
    case("einsum", lambda x: np.einsum("ij,jk->ik", np.sin(x) * x, x.T), R(2, 3)),
    case("norm", lambda x: np.linalg.norm(np.sin(x) * x, axis=1), R(2, 3)),
    case("det", lambda x: np.linalg.det(np.exp(x) * 0.1 + 2 * np.eye(3)), R(3, 3)),
    case("solve", lambda x: np.linalg.solve(np.exp(x) * 0.1 + 2 * np.eye(3), x), R(3, 3)),
    case("kron", lambda x: np.kron(np.sin(x), x), R(2, 2)),
    case("convolve", lambda x: np.convolve(np.sin(x) * x, x[:3]), R(6)),
]


@pytest.mark.parametrize("f, args, kwargs", NESTED)
def test_compositions(f, args, kwargs):
    check_rule(f, *args, **kwargs)


SECOND_ORDER = [
    case("matmul", lambda x: x @ (x * x), R(3, 3)),
    case("matmul-vec", lambda x: np.tanh(W33 @ x) * x, R(3)),
    case("dot", lambda x: np.dot(x, np.sin(x)), R(3, 3)),
    case("tensordot", lambda x: np.tensordot(x, x * x, axes=([0], [1])), R(3, 3)),
    case("einsum-diag", lambda x: np.einsum("ii,ij->j", x, x * x), R(3, 3)),
    case("einsum-trace", lambda x: np.einsum("ii", x @ x), R(3, 3)),
    case("outer", lambda x: np.outer(x, np.sin(x)), R(3)),
    case("inv", lambda x: np.linalg.inv(x + 3 * np.eye(3)), R(3, 3)),
    case("det", lambda x: np.linalg.det(x + 3 * np.eye(3)), R(3, 3)),
    case("solve", lambda x: np.linalg.solve(x + 3 * np.eye(3), x[0]), R(3, 3)),
    case("norm", lambda x: np.linalg.norm(x, axis=0), R(3, 3)),
    case("cholesky", lambda x: np.linalg.cholesky(x @ x.T + 3 * np.eye(3)), R(3, 3)),
    case("eigvalsh", lambda x: np.linalg.eigvalsh(x + x.T + np.diag([0.0, 3, 6])), R(3, 3)),
    case("svd-values-from-vectors", lambda x: svd_values_from_vectors(x + S34), R(3, 4) * 0.1),
    case("svd-rank1", lambda x: svd_rank1(x + S43), R(4, 3) * 0.1),
    case("svd-polar", lambda x: svd_polar(x + S33), R(3, 3) * 0.1),
    case("svd-rebuild", lambda x: svd_rebuild(np.sin(x) + S34), R(3, 4) * 0.1),
    case("norm-ord2", lambda x: np.linalg.norm(x + S34, 2), R(3, 4) * 0.1),
    case("norm-nuc", lambda x: np.linalg.norm(x + S43, "nuc"), R(4, 3) * 0.1),
    case("cond", lambda x: np.linalg.cond(x + 3 * np.eye(3)), R(3, 3)),
    case("cond-minus2", lambda x: np.linalg.cond(x + S34, -2), R(3, 4) * 0.1),
    case("cond-fro", lambda x: np.linalg.cond(x + 3 * np.eye(3), "fro"), R(3, 3)),
    case("cond-1", lambda x: np.linalg.cond(x + 3 * np.eye(3), 1), R(3, 3)),
    case("lstsq-x", lambda x: np.linalg.lstsq(x + S43, x[:, 0])[0], R(4, 3) * 0.1),
    case("lstsq-residuals", lambda x: np.linalg.lstsq(x + S43, np.cos(x))[1], R(4, 3) * 0.1),
    case("lstsq-wide", lambda x: np.linalg.lstsq(x + S34, x[:, 1])[0], R(3, 4) * 0.1),
]


@pytest.mark.parametrize("f, args, kwargs", SECOND_ORDER)
def test_second_order(f, args, kwargs):
    """Rules run on Duals: a Dual of Dual gives the second directional derivative."""
    (x,) = args
    u, v = R(*x.shape), R(*x.shape)

    def first(y):  # directional derivative along u, through a level-1 Dual
        return f(Dual(y, u, tag=1)).tangent

    d = first(Dual(x, v, tag=2))
    h = 1e-4
    want = (-first(x + 2 * h * v) + 8 * first(x + h * v) - 8 * first(x - h * v)
            + first(x - 2 * h * v)) / (12 * h)  # fmt: skip
    np.testing.assert_allclose(d.primal, first(x), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(d.tangent, want, rtol=1e-6, atol=1e-7)


def test_primal_only_functions_return_plain_values():
    a = Dual(R(3, 3), R(3, 3))
    assert np.linalg.matrix_rank in PRIMAL_ONLY_FUNCS
    r = np.linalg.matrix_rank(a)
    assert not isinstance(r, Dual) and r == 3
    path = np.einsum_path("ij,jk->ik", a, a)
    assert not isinstance(path[0], Dual) and isinstance(path[1], str)

"""scipy.linalg and scipy.special's Python functions under interception (dualad._foreign).

Each function: its value equals SciPy's own; its gradient in forward and reverse mode and
its Hessian equal central differences of the plain SciPy call; options not restated raise.
Also: SciPy's array-API path (SCIPY_ARRAY_API=1, in a subprocess) without interception.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import dualad
import tape
from tests._check import central_jacobian

sl = pytest.importorskip("scipy.linalg")
sc = pytest.importorskip("scipy.special")

rng = np.random.default_rng(7)
A0 = rng.standard_normal((3, 3))
S0 = A0 @ A0.T + 3 * np.eye(3)
B0 = rng.standard_normal(3)
B2 = rng.standard_normal((3, 2))
X0 = np.array([0.4, -0.7, 1.1])


def central(f, x, h=1e-5):
    return central_jacobian(f, x, h)


def mat(x):
    """A well-conditioned matrix depending on x (every entry moves)."""
    return S0 + np.outer(x, x[::-1]) * 0.3 + np.diag(x)


def sym(x):
    m = mat(x)
    return (m + m.T) / 2


CASES = {
    "solve": lambda x: sl.solve(mat(x), B0 * x).sum(),
    "solve_2rhs": lambda x: (sl.solve(mat(x), B2 * x[0]) ** 2).sum(),
    "solve_transposed": lambda x: sl.solve(mat(x), B0, transposed=True) @ x,
    "solve_sym_upper": lambda x: sl.solve(mat(x), B0, assume_a="sym").sum(),
    "solve_pos_lower": lambda x: sl.solve(mat(x), B0, assume_a="pos", lower=True).sum(),
    "solve_diagonal": lambda x: sl.solve(mat(x), B0, assume_a="diagonal").sum(),
    "solve_tridiagonal": lambda x: sl.solve(mat(x), B0, assume_a="tridiagonal").sum(),
    "solve_lower_tri": lambda x: sl.solve(mat(x), B0, assume_a="lower triangular").sum(),
    "solve_triangular": lambda x: sl.solve_triangular(mat(x), B0 * x).sum(),
    "solve_triangular_lower_T": lambda x: (
        sl.solve_triangular(mat(x), B2, lower=True, trans="T") ** 2
    ).sum(),
    "solve_triangular_unit": lambda x: sl.solve_triangular(mat(x), B0, unit_diagonal=True) @ x,
    "cho_solve_upper": lambda x: sl.cho_solve(sl.cho_factor(mat(x)), B0 * x).sum(),
    "cho_solve_lower": lambda x: sl.cho_solve(sl.cho_factor(mat(x), lower=True), B2).sum(),
    "cho_factor": lambda x: (sl.cho_factor(mat(x))[0] ** 2).sum(),
    "lu_solve": lambda x: sl.lu_solve(sl.lu_factor(A0 + np.diag(x)), B0 * x).sum(),
    "lu_solve_T": lambda x: (sl.lu_solve(sl.lu_factor(A0 + np.diag(x)), B2, trans=1) ** 2).sum(),
    "lu_factor": lambda x: (sl.lu_factor(A0 * x[0] + np.diag(x))[0] ** 2).sum(),
    "expm": lambda x: (sl.expm(0.3 * A0 * x[0] + np.diag(x)) * A0).sum(),
    "logm": lambda x: (sl.logm(mat(x)) * A0).sum(),
    "sqrtm": lambda x: (sl.sqrtm(mat(x)) * A0).sum(),
    "cosm": lambda x: (sl.cosm(0.3 * mat(x)) * A0).sum(),
    "sinhm": lambda x: (sl.sinhm(0.3 * mat(x)) * A0).sum(),
    "tanhm": lambda x: (sl.tanhm(0.1 * mat(x)) * A0).sum(),
    "det": lambda x: sl.det(mat(x)),
    "inv": lambda x: (sl.inv(mat(x)) * A0).sum(),
    "cholesky_upper": lambda x: (sl.cholesky(mat(x)) * A0).sum(),
    "cholesky_lower": lambda x: (sl.cholesky(mat(x), lower=True) * A0).sum(),
    "svd_values": lambda x: sl.svd(mat(x), compute_uv=False) @ B0,
    "svd_vectors": lambda x: (sl.svd(mat(x))[0][:, 0] * B0).sum() + sl.svd(mat(x))[2][1] @ B0,
    "svdvals": lambda x: sl.svdvals(np.outer(x, B0) + A0) @ B0,
    "qr_full": lambda x: (sl.qr(mat(x))[1] * A0).sum(),
    "qr_economic": lambda x: (sl.qr(mat(x)[:, :2], mode="economic")[0] ** 3).sum(),
    "qr_r": lambda x: (sl.qr(mat(x), mode="r")[0] * A0).sum(),
    "pinv": lambda x: (sl.pinv(mat(x)[:, :2]) * A0[:2]).sum(),
    "eigvalsh": lambda x: sl.eigvalsh(sym(x)) @ B0,
    "norm": lambda x: sl.norm(mat(x)),
    "norm_2": lambda x: sl.norm(x * B0, 2),
    "norm_axis": lambda x: sl.norm(np.outer(x, B0), axis=0).sum(),
    "eigh_values": lambda x: sl.eigh(sym(x), eigvals_only=True) @ B0,
    "eigh_vectors": lambda x: (sl.eigh(sym(x))[1][:, 0] ** 2 * B0).sum(),
    "eigh_generalized": lambda x: sl.eigh(sym(x), S0 + np.diag(x**2))[0].sum(),
    "eigh_subset": lambda x: sl.eigh(sym(x), subset_by_index=[1, 2])[0].sum(),
    "logsumexp": lambda x: sc.logsumexp(x),
    "logsumexp_b": lambda x: sc.logsumexp(x, b=np.array([1.0, 2.0, 0.5])),
    "logsumexp_axis": lambda x: (sc.logsumexp(np.outer(x, B0), axis=1) * B0).sum(),
    "logsumexp_sign": lambda x: sc.logsumexp(x, b=np.array([1.0, -0.2, 0.5]), return_sign=True)[0],
    "softmax": lambda x: sc.softmax(x) @ B0,
    "softmax_axis": lambda x: (sc.softmax(np.outer(x, B0), axis=0) * B0).sum(),
    "log_softmax": lambda x: sc.log_softmax(x) @ B0,
    "entr": lambda x: sc.entr(x**2 + 0.1).sum(),
    "poch": lambda x: sc.poch(x**2 + 1, 1.5).sum(),
    "polygamma": lambda x: (sc.polygamma(np.array([0, 1, 2]), x**2 + 1)).sum(),
    "modf": lambda x: (np.modf(3 * x)[0] * x).sum(),
}


@pytest.fixture(autouse=True)
def _intercepting():
    with dualad.intercept():
        yield


@pytest.mark.parametrize("name", sorted(CASES))
def test_value_is_scipys(name):
    f = CASES[name]
    with dualad.intercept(False):
        plain = f(X0)
    d = dualad.Dual(X0, np.ones(3))
    np.testing.assert_allclose(f(d).primal, plain, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("mode", ["forward", "reverse"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_gradient(name, mode):
    f = CASES[name]
    g = dualad.grad(f, X0, mode=mode, intercept=True)
    np.testing.assert_allclose(g, central(f, X0), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", sorted(CASES))
def test_hessian(name):
    f = CASES[name]
    h = dualad.hessian(f, X0, intercept=True)
    ref = central(lambda x: dualad.grad(f, x, mode="reverse", intercept=True), X0)
    np.testing.assert_allclose(h, ref, rtol=1e-5, atol=1e-7)


def test_jacobian_and_tape_doors():
    f = lambda x: sl.solve(mat(x), B0 * x)
    ref = central(f, X0).T
    for mode in ("forward", "reverse", "auto"):
        np.testing.assert_allclose(
            dualad.jacobian(f, X0, mode=mode, intercept=True), ref, rtol=1e-6, atol=1e-8
        )
    x = tape.Variable(X0.copy(), requires_grad=True)
    sl.expm(np.diag(x)).sum().backward()
    np.testing.assert_allclose(x.grad, np.exp(X0), rtol=1e-12)


def test_matrix_arguments_differentiate():
    # gradient with respect to the whole matrix and right-hand side, reverse and forward
    def f(a):
        return sl.cho_solve(sl.cho_factor(a @ a.T + 3 * np.eye(3)), B0) @ B0

    for mode in ("forward", "reverse"):
        g = dualad.grad(f, A0, mode=mode, intercept=True)
        np.testing.assert_allclose(g, central(f, A0), rtol=1e-6, atol=1e-8)


def test_unrestated_options_raise():
    d = dualad.Dual(S0, np.eye(3))
    with pytest.raises(NotImplementedError, match="assume_a='banded'"):
        sl.solve(d, B0, assume_a="banded")
    with pytest.raises(NotImplementedError, match="subset_by_value"):
        sl.eigh(d, subset_by_value=(0.0, 10.0))
    with pytest.raises(NotImplementedError, match="2-D"):
        sl.expm(dualad.Dual(np.stack([S0, S0]), np.ones((2, 3, 3))))


def test_plain_calls_untouched():
    original = dualad._foreign.ORIGINALS["scipy.linalg.solve"]
    np.testing.assert_array_equal(sl.solve(S0, B0), original(S0, B0))
    assert isinstance(sl.solve(S0, B0), np.ndarray)
    assert getattr(sl.solve, "_dualad_original", None) is not None  # the dispatcher is in place


def test_without_interception_scipy_refuses_loudly():
    with dualad.intercept(False), pytest.raises(TypeError):
        sl.solve(dualad.Dual(S0, np.eye(3)), B0)


def test_from_imports_rebinds_scipy_names():
    from scipy.linalg import solve as bound  # noqa: F401 - rebound below

    ns = {"solve": dualad._foreign.ORIGINALS["scipy.linalg.solve"]}
    dualad._intercept._patch_globals(ns)
    assert ns["solve"] is sl.solve


ARRAY_API_SCRIPT = textwrap.dedent(
    """
    import numpy as np, scipy.special as sc, dualad
    x = np.array([0.4, -0.7, 1.1])
    fs = [lambda x: sc.logsumexp(x), lambda x: sc.softmax(x) @ x,
          lambda x: sc.log_softmax(x).sum() * x[0], lambda x: sc.logsumexp(x, b=x * x)]
    for f in fs:
        ref = [(f(x + e) - f(x - e)) / 2e-6 for e in np.eye(3) * 1e-6]
        for mode in ("forward", "reverse"):
            g = dualad.grad(f, x, mode=mode)  # no interception: SciPy's array-API code
            assert np.allclose(g, ref, rtol=1e-6, atol=1e-8), (g, ref)
        h = dualad.hessian(f, x)
        assert np.all(np.isfinite(h))
    with dualad.intercept():  # and the ufuncs SciPy wraps in Python
        g = dualad.grad(lambda x: sc.gammaln(x * x + 1).sum(), x)
        assert np.allclose(g, 2 * x * sc.digamma(x * x + 1))
    print("ok")
    """
)


def test_scipy_array_api_without_interception():
    env = dict(os.environ, SCIPY_ARRAY_API="1")
    r = subprocess.run(
        [sys.executable, "-c", ARRAY_API_SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert r.returncode == 0 and "ok" in r.stdout, r.stderr[-2000:]

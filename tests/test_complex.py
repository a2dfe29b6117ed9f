"""Complex values in every mode (issue 11), against central differences on the real and
imaginary parts separately.

The convention (JAX's, see dualad.rules.complex): the gradient of a real-valued f at
z = x + iy is df/dx - i df/dy; jvp and derivative of a holomorphic f give the complex
derivative; jacobian of a holomorphic C -> C map is the complex Jacobian.
"""

import numpy as np
import pytest

import dualad
import tape

RNG = np.random.default_rng(11)
Z = np.array([0.3 + 0.4j, -0.7 + 0.2j, 0.5 - 0.6j])
W = np.array([1 - 2j, 0.5 + 0.25j, -0.3 + 0.8j])
MODES = ("forward", "reverse", "auto")


def central(loss, z, h=1e-6):
    """df/dx - i df/dy of a real-valued ``loss`` at complex (or real) ``z``, entry by entry."""
    z = np.asarray(z)
    g = np.zeros(z.shape, dtype=complex if np.iscomplexobj(z) else float)
    for idx in np.ndindex(z.shape):
        e = np.zeros(z.shape, dtype=z.dtype)
        e[idx] = h
        gx = (loss(z + e) - loss(z - e)) / (2 * h)
        if np.iscomplexobj(z):
            gy = (loss(z + 1j * e) - loss(z - 1j * e)) / (2 * h)
            g[idx] = gx - 1j * gy
        else:
            g[idx] = gx
    return g


def every_grad(loss, z):
    """The gradient through every door: grad in each mode, value_and_grad, vjp, the tape."""
    out = {m: dualad.grad(loss, z, mode=m) for m in MODES}
    out["value_and_grad"] = dualad.value_and_grad(loss, z)[1]
    out["vjp"] = dualad.vjp(loss, z, 1.0)[1]
    with tape.Tape() as t:
        v = t.watch(z)
        y = loss(v)
    out["Tape.gradient"] = t.gradient(y, v)
    v = tape.Variable(z)
    loss(v).backward()
    out["Variable.grad"] = v.grad
    v = tape.Variable(z)
    out["tape.grad"] = tape.grad(loss(v), [v])[0]
    return out


def check_all(loss, z, rtol=1e-6, atol=1e-8):
    want = central(loss, z)
    for door, g in every_grad(loss, z).items():
        np.testing.assert_allclose(g, want, rtol=rtol, atol=atol, err_msg=door)


# -- the convention -------------------------------------------------------------------------------


def test_the_issue_example_follows_the_convention_in_every_door():
    def f(z):
        return np.sum(np.abs(z) ** 2) + np.real(np.sum(z * W))

    want = (2 * Z.real + W.real) - 1j * (2 * Z.imag - W.imag)
    np.testing.assert_allclose(want[:2], [1.6 - 2.8j, -0.9 - 0.15j])  # the issue's numbers
    for door, g in every_grad(f, Z).items():
        np.testing.assert_allclose(g, want, rtol=1e-13, err_msg=door)


def test_abs_squared_and_re_z_conj_w():
    check_all(lambda z: np.sum(np.abs(z) ** 2), Z)
    np.testing.assert_allclose(dualad.grad(lambda z: np.sum(np.abs(z) ** 2), Z), 2 * np.conj(Z))
    check_all(lambda z: np.real(np.sum(z * np.conj(W))), Z)
    np.testing.assert_allclose(
        dualad.grad(lambda z: np.real(np.sum(z * np.conj(W))), Z), np.conj(W)
    )


def test_a_descent_step_along_the_conjugate_lowers_the_loss():
    def f(z):
        return np.sum(np.abs(z - W) ** 2)

    g = dualad.grad(f, Z)
    assert f(Z - 0.1 * np.conj(g)) < f(Z)


def test_jvp_and_derivative_give_the_complex_derivative():
    _, t = dualad.jvp(lambda z: np.sum(np.abs(z) ** 2), np.array([1 + 2j]), np.array([1j]))
    assert t == pytest.approx(4.0)  # the issue's example: d/ds |1 + 2i + is|^2 = 2 * 2
    d = dualad.derivative(lambda z: z * z * np.exp(z), Z)
    np.testing.assert_allclose(d, (2 * Z + Z * Z) * np.exp(Z), rtol=1e-14)


# -- elementwise rules ----------------------------------------------------------------------------

HOLOMORPHIC = [np.exp, np.expm1, np.log, np.log1p, np.log2, np.log10, np.sqrt, np.square,
               np.reciprocal, np.sin, np.cos, np.tan, np.sinh, np.cosh, np.tanh, np.arcsin,
               np.arccos, np.arctan, np.arcsinh, np.arccosh, np.arctanh, np.negative,
               np.positive, np.exp2]  # fmt: skip


@pytest.mark.parametrize("f", HOLOMORPHIC, ids=lambda f: f.__name__)
def test_holomorphic_ufuncs(f):
    check_all(lambda z: np.real(np.sum(W * f(z))), Z)
    h = 1e-7  # the complex derivative: along the real axis
    want = (f(Z + h) - f(Z - h)) / (2 * h)
    np.testing.assert_allclose(dualad.derivative(f, Z), want, rtol=1e-6)


@pytest.mark.parametrize(
    "f",
    [np.abs, np.real, np.imag, np.conj, np.angle, lambda z: np.angle(z, deg=True), np.sign],
    ids=["abs", "real", "imag", "conj", "angle", "angle_deg", "sign"],
)
def test_non_holomorphic_functions(f):
    check_all(lambda z: np.real(np.sum(W * f(z))), Z)
    check_all(lambda z: np.sum(np.imag(W * f(z)) ** 2), Z)


@pytest.mark.parametrize(
    "op",
    [np.add, np.subtract, np.multiply, np.divide, np.power],
    ids=lambda f: f.__name__,
)
def test_binary_ufuncs_in_each_argument(op):
    a, b = Z, W * 0.5
    check_all(lambda z: np.real(np.sum(np.conj(W) * op(z, b))), a)
    check_all(lambda z: np.real(np.sum(np.conj(W) * op(a, z))), b)


def test_real_inputs_through_complex_intermediates():
    x = np.array([0.3, 0.9, 1.4])
    check_all(lambda x: np.real(np.sum(np.exp(1j * x) * W)), x)
    check_all(lambda x: np.sum(np.abs(x * (1 + 1j))), x)
    g = dualad.grad(lambda x: np.sum(np.abs(x * (1 + 1j))), x)
    assert g.dtype == np.float64  # a real input has a real gradient
    np.testing.assert_allclose(g, np.sqrt(2))


# -- linear algebra and structure -----------------------------------------------------------------


def test_shapes_sums_and_products():
    A = RNG.standard_normal((3, 3)) + 1j * RNG.standard_normal((3, 3))

    def f(z):
        m = np.reshape(np.concatenate([z, z[::-1] * 2j]), (2, 3))
        return np.sum(np.abs(np.cumsum(m @ A, axis=1).T) ** 2) + np.real(np.prod(z))

    check_all(f, Z)


def test_solve_inv_det_of_complex_matrices():
    A0 = np.eye(3) * 3 + RNG.standard_normal((3, 3)) + 1j * RNG.standard_normal((3, 3))
    b = W

    def f(A):
        x = np.linalg.solve(A, b)
        return (
            np.sum(np.abs(x) ** 2) + np.real(np.linalg.det(A)) + np.imag(np.trace(np.linalg.inv(A)))
        )

    check_all(f, A0, rtol=1e-5)


# -- FFTs -----------------------------------------------------------------------------------------

X = RNG.standard_normal(8)
C = RNG.standard_normal(5) + 1j * RNG.standard_normal(5)
M = RNG.standard_normal((4, 6))
NORMS = [None, "ortho", "forward"]


def _weights(shape, complex_=True):
    w = RNG.standard_normal(shape)
    return w + 1j * RNG.standard_normal(shape) if complex_ else w


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("n", [None, 6, 11])
@pytest.mark.parametrize("name", ["fft", "ifft", "rfft", "ihfft"])
def test_1d_transforms_to_complex(name, n, norm):
    f = getattr(np.fft, name)
    for x in (X, X + 0.5j * X[::-1]) if name in ("fft", "ifft") else (X,):
        w = _weights(f(x, n=n, norm=norm).shape)
        check_all(lambda v, w=w: np.real(np.sum(w * f(v, n=n, norm=norm))), x)
        check_all(lambda v: np.sum(np.abs(f(v, n=n, norm=norm)) ** 2), x)


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("n", [None, 6, 9, 12])
@pytest.mark.parametrize("name", ["irfft", "hfft"])
def test_1d_transforms_to_real(name, n, norm):
    f = getattr(np.fft, name)
    w = _weights(f(C, n=n, norm=norm).shape, complex_=False)
    check_all(lambda c: np.sum(w * f(c, n=n, norm=norm)), C)
    check_all(lambda c: np.sum(f(c, n=n, norm=norm) ** 3), C)


@pytest.mark.parametrize(
    ("name", "kw"),
    [
        ("fft2", {}), ("ifft2", {"s": (3, 8)}), ("fftn", {"axes": (0,)}), ("ifftn", {}),
        ("rfft2", {}), ("rfftn", {"s": (5, 4), "axes": (0, 1)}), ("irfft2", {}), ("irfftn", {"s": (4, 7), "axes": (0, 1)}),
        ("fftn", {"norm": "ortho"}), ("rfftn", {"axes": (0,), "norm": "forward"}),
    ],
)  # fmt: skip
def test_nd_transforms(name, kw):
    f = getattr(np.fft, name)
    x = M if not name.startswith("irfft") else np.fft.rfft2(M)
    w = _weights(f(x, **kw).shape, complex_=np.iscomplexobj(f(x, **kw)))
    check_all(lambda v: np.real(np.sum(w * f(v, **kw))), x, rtol=1e-5)


def test_transforms_on_an_axis_of_a_batch():
    x = RNG.standard_normal((3, 8))
    check_all(lambda v: np.sum(np.abs(np.fft.rfft(v, axis=0)) ** 2), x)
    check_all(lambda v: np.sum(np.fft.irfft(np.fft.rfft(v, axis=1) * 1j, axis=1) ** 2), x)


def test_power_spectrum_loss():
    def loss(x):
        p = np.abs(np.fft.rfft(x)) ** 2
        return np.sum(np.log1p(p) * np.arange(p.size))

    check_all(loss, X)


def test_fft_values_match_numpy():
    d = dualad.Dual(M, np.ones_like(M))
    for name in ("fft2", "rfftn", "ifftn"):
        np.testing.assert_allclose(getattr(np.fft, name)(d).primal, getattr(np.fft, name)(M))


# -- Jacobians of complex maps --------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_jacobian_of_a_holomorphic_map_is_the_complex_jacobian(mode):
    J = dualad.jacobian(lambda z: np.exp(z) * z[::-1], Z, mode=mode)
    want = np.diag(np.exp(Z) * Z[::-1]) + np.exp(Z)[:, None] * np.eye(3)[::-1]
    np.testing.assert_allclose(J, want, rtol=1e-13)


@pytest.mark.parametrize("mode", MODES)
def test_jacobian_of_real_inputs_with_complex_outputs(mode):
    x = np.array([0.3, 0.5])
    J = dualad.jacobian(lambda x: np.exp(1j * x) * x[::-1], x, mode=mode)
    want = np.diag(1j * np.exp(1j * x) * x[::-1]) + np.exp(1j * x)[:, None] * np.eye(2)[::-1]
    np.testing.assert_allclose(J, want, rtol=1e-13)


@pytest.mark.parametrize("mode", MODES)
def test_jacobian_of_a_real_output_is_the_gradient_convention(mode):
    J = dualad.jacobian(lambda z: np.abs(z) ** 2, Z, mode=mode)
    np.testing.assert_allclose(J, np.diag(2 * np.conj(Z)), rtol=1e-13)


@pytest.mark.parametrize("mode", MODES)
def test_jacobian_of_a_non_holomorphic_complex_map_raises(mode):
    with pytest.raises(ValueError, match="holomorphic"):
        dualad.jacobian(np.conj, Z, mode=mode)


# -- what stays refused ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "f",
    [lambda z: np.linalg.pinv(np.outer(z, z)), lambda z: np.clip(z, 0, 1),
     lambda z: np.median(z), lambda z: np.linalg.qr(np.outer(z, z))[1]],
    ids=["pinv", "clip", "median", "qr"],
)  # fmt: skip
@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_rules_without_a_complex_statement_raise(f, mode):
    with pytest.raises(NotImplementedError, match="complex"):
        dualad.grad(lambda z: np.real(np.sum(f(z))), Z, mode=mode)


def test_grad_of_a_complex_valued_function_raises():
    for mode in MODES:
        with pytest.raises(TypeError, match="real-valued"):
            dualad.grad(lambda z: np.sum(z * z), Z, mode=mode)


def test_hessian_at_complex_inputs_raises():
    with pytest.raises(NotImplementedError, match="complex"):
        dualad.hessian(lambda z: np.sum(np.abs(z) ** 2), Z)


def test_a_real_primal_refuses_a_complex_tangent():
    with pytest.raises(TypeError, match="real primal"):
        dualad.Dual(np.ones(2), np.array([1j, 0]))
    d = dualad.Dual(Z, np.ones(3))  # a real tangent of a complex primal is cast
    assert d.tangent.dtype == np.complex128


# -- complex-step checks and the ndarray-style attributes -----------------------------------------


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_check_grad_by_complex_step(mode):
    def f(x):
        return np.exp(x) * np.sin(x[::-1]) / (1 + x**2)

    x = np.array([0.3, -1.2, 0.7])
    assert dualad.check_grad(f, x, mode=mode, method="complex_step", rtol=1e-12, atol=0) < 1


def test_check_grad_by_complex_step_can_fail():
    # |x| is not analytic: its complex step reads 0, dualad's derivative is -3 x^2 at x < 0
    with pytest.raises(AssertionError, match="complex step"):
        dualad.check_grad(lambda x: np.abs(x) ** 3, np.array([-0.5]), method="complex_step")
    with pytest.raises(ValueError, match="real inputs"):
        dualad.check_grad(np.sin, Z, method="complex_step")


def test_wrappers_answer_real_imag_and_conj():
    d = dualad.Dual(Z, np.ones(3))
    np.testing.assert_allclose(d.imag.tangent, np.zeros(3))
    np.testing.assert_allclose(d.conj().primal, np.conj(Z))
    g = dualad.grad(lambda z: np.sum((z.conj() * z).real + z.imag), Z, mode="reverse")
    np.testing.assert_allclose(g, 2 * np.conj(Z) - 1j, rtol=1e-14)


def test_the_spectral_example_against_central_differences():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "examples" / "spectral.py"
    spec = importlib.util.spec_from_file_location("example_spectral", path)
    ex = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ex)
    u0 = np.sin(ex.X) + 0.1 * np.cos(3 * ex.X)
    want = np.array([ex.central_entry(u0, i) for i in range(ex.N)])
    for mode in ("forward", "reverse"):
        np.testing.assert_allclose(dualad.grad(ex.loss, u0, mode=mode), want, rtol=1e-6, atol=1e-11)


# -- eigenproblems, roots, sort_complex -----------------------------------------------------------

A4 = RNG.standard_normal((4, 4))  # real, with a complex-conjugate pair of eigenvalues or more
W4 = RNG.standard_normal(4) + 1j * RNG.standard_normal(4)
WM = RNG.standard_normal((4, 4)) + 1j * RNG.standard_normal((4, 4))


@pytest.mark.parametrize(
    "a", [A4, A4 + 0.3j * RNG.standard_normal((4, 4))], ids=["real", "complex"]
)
def test_eigvals_and_eig_eigenvalues(a):
    assert np.iscomplexobj(np.linalg.eigvals(A4))  # the real case really leaves the real axis
    check_all(lambda m: np.real(np.sum(W4 * np.linalg.eigvals(m))), a, rtol=1e-5)
    check_all(lambda m: np.sum(np.abs(np.linalg.eig(m)[0]) ** 2), a, rtol=1e-5)


@pytest.mark.parametrize(
    "a", [A4, A4 + 0.3j * RNG.standard_normal((4, 4))], ids=["real", "complex"]
)
def test_eig_eigenvectors_in_numpys_normalisation(a):
    def loss(m):
        w, v = np.linalg.eig(m)
        return np.real(np.sum(WM * v)) + np.imag(np.sum(w**2))

    want = central(loss, a)
    for mode in ("forward", "reverse"):
        np.testing.assert_allclose(dualad.grad(loss, a, mode=mode), want, rtol=1e-5, atol=1e-7)


def test_roots_of_a_polynomial():
    p = np.array([1.0, -3.0, 2.5, 0.7, 0.0])  # a trailing zero: a root at 0
    check_all(lambda p: np.sum(np.abs(np.roots(p)) ** 2), p, rtol=1e-5)
    d = dualad.Dual(p, np.ones_like(p))
    np.testing.assert_allclose(np.roots(d).primal, np.roots(p))


def test_sort_complex():
    z = np.array([0.3 + 1j, 0.5 - 1j, -2 + 0.5j, 1.0 + 0j])
    check_all(lambda z: np.real(np.sum(W4 * np.sort_complex(z))), z)
    x = np.array([0.4, -1.0, 2.0])
    g = dualad.grad(lambda x: np.real(np.sum(np.sort_complex(x) * np.array([1, 2j, 3]))), x)
    np.testing.assert_allclose(g, [0.0, 1.0, 3.0])  # sorted: -1, 0.4, 2; Re(2j) = 0


def test_roots_refuse_where_they_are_not_differentiable():
    with pytest.raises(NotImplementedError, match="leading zeros"):
        dualad.grad(lambda p: np.sum(np.abs(np.roots(p)) ** 2), np.array([0.0, 1.0, -3.0, 2.0]))
    with pytest.raises(NotImplementedError, match="repeated root"):
        dualad.grad(lambda p: np.sum(np.abs(np.roots(p)) ** 2), np.array([1.0, 0.0, 0.0]))


@pytest.mark.parametrize("uplo", ["L", "U"])
def test_eigvalsh_of_hermitian_matrices(uplo):
    b = RNG.standard_normal((4, 4)) + 1j * RNG.standard_normal((4, 4))
    h = b + b.conj().T + np.diag([0.0, 3.0, 6.0, 9.0])  # well-separated eigenvalues
    w = np.array([1.0, -2.0, 0.5, 3.0])
    check_all(lambda a: np.sum(w * np.linalg.eigvalsh(a, uplo) ** 2), h, rtol=1e-5)


@pytest.mark.parametrize("uplo", ["L", "U"])
def test_eigh_of_hermitian_matrices_in_reverse_mode(uplo):
    b = RNG.standard_normal((4, 4)) + 1j * RNG.standard_normal((4, 4))
    h = b + b.conj().T + np.diag([0.0, 3.0, 6.0, 9.0])
    wv = RNG.standard_normal(4)

    def loss(a):  # depends on the eigenvectors only through |v|: phase-invariant
        w, v = np.linalg.eigh(a, uplo)
        return np.sum(wv * w**2) + np.sum(np.abs(v[0]) ** 3) + np.sum(np.abs(v[:, 1]) ** 2 * wv)

    g = dualad.grad(loss, h, mode="reverse")
    np.testing.assert_allclose(g, central(loss, h), rtol=1e-6, atol=1e-7)
    with pytest.raises(ValueError, match="phases"):
        dualad.grad(lambda a: np.real(np.sum(np.linalg.eigh(a, uplo)[1])), h, mode="reverse")
    with pytest.raises(NotImplementedError, match="phase"):
        dualad.grad(loss, h, mode="forward")


# -- second order ---------------------------------------------------------------------------------


def test_second_complex_derivative_of_a_holomorphic_function():
    def f(z):
        return np.sin(z) * z

    d2 = dualad.derivative(lambda z: dualad.derivative(f, z), Z)
    np.testing.assert_allclose(d2, 2 * np.cos(Z) - Z * np.sin(Z), rtol=1e-14)


@pytest.mark.parametrize("method", ["auto", "hyperdual", "accumulate", "forward-over-reverse"])
def test_hessians_of_real_inputs_through_complex_values(method):
    x = np.array([0.3, 0.9, -0.4])

    def f(x):
        return np.real(np.sum(np.exp(1j * x) * x[::-1])) + np.sum(np.abs(np.fft.fft(x)) ** 2)

    H = dualad.hessian(f, x, method=method)
    ref = np.stack([central(lambda v, i=i: dualad.grad(f, v)[i], x) for i in range(3)])
    np.testing.assert_allclose(H, ref, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(dualad.hvp(f, x, np.ones(3)), ref @ np.ones(3), rtol=1e-6)


# -- norms and singular values --------------------------------------------------------------------

ZV = RNG.standard_normal(5) + 1j * RNG.standard_normal(5)
ZM = RNG.standard_normal((3, 4)) + 1j * RNG.standard_normal((3, 4))


@pytest.mark.parametrize("ord", [None, 1, 2, np.inf, -np.inf, 3, 0.5])
def test_vector_norms(ord):
    check_all(lambda z: np.linalg.norm(z, ord) ** 2, ZV)
    check_all(lambda z: np.linalg.vector_norm(z, ord=2 if ord is None else ord), ZV)


@pytest.mark.parametrize("ord", [None, "fro", "nuc", 2, -2, 1, -1, np.inf, -np.inf])
def test_matrix_norms(ord):
    check_all(lambda a: np.linalg.norm(a, ord), ZM, rtol=1e-5)


def test_singular_values_of_complex_matrices():
    w = np.array([1.0, -0.5, 2.0])
    check_all(lambda a: np.sum(w * np.linalg.svdvals(a)), ZM, rtol=1e-5)
    check_all(lambda a: np.sum(w * np.linalg.svd(a, compute_uv=False) ** 2), ZM, rtol=1e-5)
    with pytest.raises(NotImplementedError, match="full_matrices=False"):
        dualad.grad(lambda a: np.sum(np.abs(np.linalg.svd(a)[0])), ZM, mode="reverse")
    with pytest.raises(NotImplementedError, match="phases"):
        dualad.grad(lambda a: np.sum(np.abs(np.linalg.svd(a)[0])), ZM, mode="forward")


@pytest.mark.parametrize("shape", [(3, 3), (5, 3), (3, 5), (2, 4, 3)])
def test_singular_vectors_of_complex_matrices_in_reverse_mode(shape):
    a = RNG.standard_normal(shape) + 1j * RNG.standard_normal(shape)
    k = min(shape[-2:])
    wu = RNG.standard_normal(shape[:-1] + (k,))
    wv = RNG.standard_normal(shape[:-2] + (k, shape[-1]))

    def loss(m):  # phase-invariant: |U|, |Vh|, s and the reconstruction U S Vh
        u, s, vh = np.linalg.svd(m, full_matrices=False)
        rec = (u * s[..., None, :]) @ vh
        return (
            np.sum(wu * np.abs(u) ** 2)
            + np.sum(s**2)
            + np.sum(wv * np.abs(vh) ** 3)
            + np.real(np.sum(rec * np.conj(a)))
        )

    np.testing.assert_allclose(
        dualad.grad(loss, a, mode="reverse"), central(loss, a), rtol=1e-6, atol=1e-7
    )
    with pytest.raises(ValueError, match="phases"):
        dualad.grad(
            lambda m: np.real(np.sum(np.linalg.svd(m, full_matrices=False)[0])), a, mode="reverse"
        )


def test_selections_by_numpys_order_and_vdot():
    z = np.array([0.3 + 1j, -0.5 - 1j, 1.2 + 0.1j, -2.0 + 0.5j])  # distinct real parts
    check_all(lambda z: np.real(np.sum(W4 * np.sort(z))), z)
    check_all(lambda z: np.abs(np.max(z)) ** 2 + np.real(np.min(z) * (1 + 2j)), z)
    check_all(lambda z: np.real(np.sum(W4 * np.maximum(z, z[::-1] * 0.5))), z)
    check_all(lambda z: np.real(np.sum(W4 * np.fmin(z, 0.1 + 0j))), z)
    check_all(lambda z: np.real(np.vdot(z, W4)) + np.imag(np.vdot(W4, z * z)), z)
    m = np.stack([z, z[::-1] * 1j])
    check_all(lambda z: np.sum(np.abs(np.vecdot(np.stack([z, z * z]), m)) ** 2), z)
    check_all(lambda z: np.real(np.sum(np.linalg.vecdot(m, np.stack([z, W4]), axis=1))), z)
    a = RNG.standard_normal((2, 4, 4)) + 1j * RNG.standard_normal((2, 4, 4))
    for f in (np.matvec, np.vecmat):  # vecmat conjugates its vector, matvec does not
        check_all(lambda z, f=f: np.sum(np.abs(f(a, z) if f is np.matvec else f(z, a)) ** 2), z)
        check_all(lambda m, f=f: np.real(np.sum(W4 * (f(m, z) if f is np.matvec else f(z, m)))), a)
        check_all(lambda z, f=f: np.real(np.sum(f(a[0], z) if f is np.matvec else f(z, a[0]))), z)
    check_all(lambda z: np.real(np.sum(W4 * np.rint(2.3 * z) * z)), z)  # off the .5 steps
    assert np.allclose(dualad.Dual(z, np.ones(4)).primal, z)


def test_a_complex_input_has_a_complex_gradient_whatever_the_path():
    # Re(z) has the real cotangent 1; a complex input's gradient is still complex (JAX too)
    for mode in MODES:
        g = dualad.grad(lambda z: np.sum(np.real(z)), Z, mode=mode)
        assert g.dtype == np.complex128
        np.testing.assert_array_equal(g, np.ones(3))


def test_real_if_close():
    z = np.array([0.5 + 1e-17j, -0.25 + 0j])
    g = dualad.grad(lambda z: np.sum(np.real_if_close(z) ** 2), z, mode="reverse")
    np.testing.assert_allclose(g, 2 * np.real(z))  # the real part was taken: d/dy = 0
    check_all(lambda z: np.real(np.sum(np.real_if_close(z) * W[:2])), np.array([0.5 + 1j, 2j]))


def test_second_order_through_complex_vector_norms():
    def f(x):  # real inputs, a complex vector, its 3-norm: second order through sign(z)
        return np.linalg.norm(x * (1 + 2j) + np.exp(1j * x), ord=3)

    x = np.array([0.3, -0.8, 1.1])
    H = dualad.hessian(f, x)
    ref = np.stack([central(lambda v, i=i: dualad.grad(f, v)[i], x) for i in range(3)])
    np.testing.assert_allclose(H, ref, rtol=1e-6, atol=1e-8)


def test_hvp_at_complex_inputs_is_the_derivative_of_the_gradient_map():
    def f(z):
        return np.sum(np.abs(z) ** 4) + np.real(np.sum(np.exp(z) * z[::-1]))

    v = np.array([0.5 - 1j, 0.2 + 0.3j, -0.4j])
    h = 1e-6
    want = (dualad.grad(f, Z + h * v) - dualad.grad(f, Z - h * v)) / (2 * h)
    np.testing.assert_allclose(dualad.hvp(f, Z, v), want, rtol=1e-6)
    with pytest.raises(NotImplementedError, match="hvp"):
        dualad.hessian(f, Z)


def test_tangents_and_cotangents_take_their_values_field():
    # a real tangent of a complex input moves it along the real axis: d|z| = Re(conj(z) t)/|z|
    _, t = dualad.jvp(np.abs, Z, np.ones(3))
    assert t.dtype == np.float64
    np.testing.assert_allclose(t, np.real(np.conj(Z)) / np.abs(Z), rtol=1e-14)
    with pytest.raises(TypeError, match="real input"):
        dualad.jvp(np.sin, np.ones(2), np.array([1j, 0.0]))
    # a complex cotangent of a real output: only its real part pairs with the output
    x = np.array([0.3, 0.9])
    _, g = dualad.vjp(np.sin, x, np.array([1 + 5j, 2 - 1j]))
    np.testing.assert_allclose(g, np.cos(x) * np.array([1.0, 2.0]), rtol=1e-14)


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_check_grad_on_complex_inputs_and_outputs(mode):
    for f in (lambda z: np.sum(np.abs(z) ** 2), lambda z: np.exp(z) * np.conj(z[::-1])):
        assert dualad.check_grad(f, Z, mode=mode) < 1
    assert dualad.check_grad(lambda x: np.exp(1j * x) * x, np.array([0.3, 0.5]), mode=mode) < 1

    def dropped(z):  # multiplies by the value without its derivative: a wrong derivative
        return z * getattr(z, "primal", getattr(z, "value", z))

    with pytest.raises(AssertionError, match="mismatch"):
        dualad.check_grad(dropped, Z, mode=mode)

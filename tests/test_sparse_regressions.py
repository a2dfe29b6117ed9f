"""Regressions of the sparsity tracer and the sparse drivers (fuzz pass, findings S1-S6,
E1-E5, P). Each case compares dualad.sparsity, jacobian(mode="sparse") and
hessian(method="sparse") with the dense forward result and with central differences.
"""

from __future__ import annotations

import numpy as np
import pytest

import dualad

sp = pytest.importorskip("scipy.sparse")

X = np.array([0.5, -1.2, 2.0, 0.7])
X6 = np.array([0.5, -1.2, 2.0, 0.7, 1.3, -0.4])


def central(f, x, h=1e-6):
    """Central differences of f (float64), one column per input."""
    y0 = np.ravel(f(x.copy()))
    J = np.zeros((y0.size, x.size))
    for j in range(x.size):
        e = np.zeros_like(x)
        e.flat[j] = h
        J[:, j] = (np.ravel(f(x + e)) - np.ravel(f(x - e))) / (2 * h)
    return J


def check_jacobian(f, x):
    """The pattern holds every nonzero; the sparse Jacobian equals the dense one; both
    equal central differences."""
    P = dualad.sparsity(f, x).toarray()
    J = np.asarray(dualad.jacobian(f, x, mode="forward")).reshape(P.shape)
    np.testing.assert_allclose(J, central(f, x), atol=1e-6)
    assert not ((J != 0) & ~P).any(), f"pattern misses {np.argwhere((J != 0) & ~P).tolist()}"
    Js = dualad.jacobian(f, x, mode="sparse")
    np.testing.assert_allclose(Js.toarray(), J, rtol=1e-12, atol=1e-12)
    return P


def check_hessian(f, x, **kw):
    """The sparse Hessian equals the dense one and central differences of the gradient."""
    H = np.asarray(dualad.hessian(f, x))
    g = lambda z: np.asarray(dualad.grad(f, z, mode="forward"))
    np.testing.assert_allclose(H, central(g, x, 1e-5), atol=1e-5)
    if not kw:
        HP = dualad.hessian_sparsity(f, x).toarray()
        assert not ((H != 0) & ~HP).any()
    Hs = dualad.hessian(f, x, method="sparse", **kw)
    np.testing.assert_allclose(Hs.toarray(), H, rtol=1e-12, atol=1e-12)
    return Hs


# -- S1: a write into an array reaches the views taken of it before -----------------------


def base_write_slice(x):
    y = x * 1.0
    z = y[1:]
    y[1] = x[0] ** 2
    return z


def base_write_reshape(x):
    y = x * 1.0
    z = y.reshape(2, 2)
    y[0] = x[3] ** 2
    return z.ravel() * 1.0


def base_iadd(x):
    y = x * 1.0
    z = y[::-1]
    y += x[0] * x[1]
    return z * 1.0


def base_sort(x):
    y = x * x[::-1] + x
    z = y[1:]
    y.sort()
    return z * 1.0


def view_of_view_write(x):
    y = x * 1.0
    w = y.reshape(2, 2).T[1:][:, ::-1]
    w[0, 0] = x[0] ** 3
    return y


def write_through_view_into_buffer(x):
    y = np.zeros_like(x)
    a, b = np.split(y, 2)
    a[:] = x[2:]
    b[...] = x[:2] ** 2
    return y


def out_into_view(x):
    y = x * 1.0
    np.multiply(x, x[::-1], out=y[::-1])
    return y


@pytest.mark.parametrize(
    "f",
    [base_write_slice, base_write_reshape, base_iadd, base_sort, view_of_view_write,
     write_through_view_into_buffer, out_into_view],
)  # fmt: skip
def test_writes_reach_every_view_of_the_memory(f):
    check_jacobian(f, X)


def test_scatter_into_a_view_reaches_the_base():
    def scatter(x):  # forward mode has no rule for np.add.at: its pattern only
        y = x * 1.0
        z = np.moveaxis(y.reshape(2, 2), 0, 1)  # z[0, 1] is y[2]
        np.add.at(z, (0, 1), x[0] ** 2)
        return y

    def same(x):
        y = x * 1.0
        y[2] += x[0] ** 2
        return y

    P = dualad.sparsity(scatter, X).toarray()
    np.testing.assert_array_equal(P, dualad.jacobian(same, X, mode="forward") != 0)
    np.testing.assert_array_equal(P, central(same, X) != 0)


def test_as_strided_views_share_their_base():
    # (sliding_window_view's base is no ndarray; dense forward mode misses this alias too,
    # so the reference is central differences alone)
    def window_after_write(x):
        y = x * 1.0
        w = np.lib.stride_tricks.sliding_window_view(y, 2)
        y[0] = x[3] ** 2
        return w.ravel() * 1.0

    def write_into_window(x):
        y = x * 1.0
        w = np.lib.stride_tricks.sliding_window_view(y, 2, writeable=True)
        w[1, 1] = x[0] ** 2  # y[2]
        return y

    for f in (window_after_write, write_into_window):
        np.testing.assert_array_equal(dualad.sparsity(f, X).toarray(), central(f, X) != 0)


# -- S2: views NumPy makes that the tracer did not know --------------------------------------

_VIEWS = {
    "flip": lambda y: np.flip(y),
    "flipud": lambda y: np.flipud(y),
    "fliplr": lambda y: np.fliplr(y.reshape(2, 2)),
    "rot90": lambda y: np.rot90(y.reshape(2, 2)),
    "split": lambda y: np.split(y, 2)[1],
    "hsplit": lambda y: np.hsplit(y, 2)[1],
    "vsplit": lambda y: np.vsplit(y.reshape(2, 2), 2)[1],
    "unstack": lambda y: np.unstack(y.reshape(2, 2))[1],
    "rollaxis": lambda y: np.rollaxis(y.reshape(2, 2), 1),
    "linalg.matrix_transpose": lambda y: np.linalg.matrix_transpose(y.reshape(2, 2)),
    "moveaxis": lambda y: np.moveaxis(y.reshape(2, 2), 0, 1),
    "swapaxes": lambda y: np.swapaxes(y.reshape(2, 2), 0, 1),
    "T": lambda y: y.reshape(2, 2).T,
    "real": lambda y: np.real(y),
    ".real": lambda y: y.real,
    "atleast_1d": lambda y: np.atleast_1d(y),
    "atleast_2d": lambda y: np.atleast_2d(y),
    "expand_dims": lambda y: np.expand_dims(y, 0),
    "squeeze": lambda y: np.squeeze(y.reshape(1, 4)),
    "ravel": lambda y: np.ravel(y.reshape(2, 2)),
    "reshape": lambda y: y.reshape(2, 2),
    "view": lambda y: y.view(),
    "ellipsis": lambda y: y[...],
    "reversed slice": lambda y: y[::-2],
}


@pytest.mark.parametrize("name", list(_VIEWS))
def test_writes_through_numpys_views_reach_the_base(name):
    view = _VIEWS[name]

    def f(x):
        y = x * 1.0
        z = view(y)
        z[(0,) * z.ndim] = x[0] ** 2 + x[1]
        return y

    check_jacobian(f, X)


@pytest.mark.parametrize("view", [np.diagonal, lambda y: np.broadcast_to(y, (2, 2, 2))])
def test_read_only_views_refuse_writes_as_in_numpy(view):
    def f(x):
        z = view((x * 1.0).reshape(2, 2))
        z[(0,) * z.ndim] = x[0]
        return z

    with pytest.raises(ValueError, match="read-only"):
        f(X.copy())
    with pytest.raises(ValueError, match="read-only"):
        dualad.sparsity(f, X)


def test_copies_stay_copies():
    def f(x):
        y = x * 1.0
        a, b = +y, y.astype(np.float64)  # copies in NumPy
        a[0] = x[3] ** 2
        b[1] = x[2] ** 2
        c = y.astype(np.float64, copy=False)  # y itself
        c[2] = x[0] ** 2
        return np.concatenate([y, a, b])

    check_jacobian(f, X)


# -- S3: in-place operators on a scalar sum --------------------------------------------------


def square_in_place(x):
    s = np.sum(x)
    s *= s
    return s


def chain_loop(x):
    t = np.sum(3.0 * x)
    for i in range(len(x) - 1):
        t += (x[i] - x[i + 1]) ** 2
    return t


def sum_plus_product(x):
    s = np.sum(x**2)
    s += x[0] * x[1]
    return s


def loop_from_zero(x):
    t = 0.0
    for i in range(len(x)):
        t += x[i] ** 2
    return t


def pair_loop_from_zero(x):
    t = 0.0
    for i in range(len(x) - 1):
        t += x[i] * x[i + 1]
    return t


@pytest.mark.parametrize(
    "f", [square_in_place, chain_loop, sum_plus_product, loop_from_zero, pair_loop_from_zero]
)
def test_in_place_sums_keep_their_terms(f):
    check_hessian(f, X)


def test_chain_loop_hessian_is_tridiagonal():
    h = dualad.hessian(chain_loop, X, method="sparse").toarray()
    want = [[2, -2, 0, 0], [-2, 4, -2, 0], [0, -2, 4, -2], [0, 0, -2, 2]]
    np.testing.assert_array_equal(h, want)
    assert dualad.hessian_sparsity(loop_from_zero, X).nnz == 4  # a sum stays a sum


# -- S4: .real and .imag -----------------------------------------------------------------------


def test_real_of_complex_values_is_the_real_part():
    x = np.array([-0.96, 1.6, 0.2, -1.73, -0.08, -1.16])
    # (the order of the real parts' squares differs from that of the complex squares)
    check_jacobian(lambda x: x[np.argsort(np.fft.rfft(x).real ** 2)] * 1.0, x)
    check_jacobian(lambda x: np.copysign(np.fft.fft(x).real, 1.0), X6)
    check_jacobian(lambda x: np.hypot(np.fft.fft(x).real, x) + np.fmod(np.fft.fft(x).real, 7.0),
                   X6)  # fmt: skip
    z = (X + 1j * X[::-1]) ** 2
    checked = []

    def f(x):
        w = (x + 1j * x[::-1]) ** 2
        checked.append(w.real.dtype == np.float64 and w.imag.shape == (4,))
        return w.imag

    check_jacobian(f, X)
    assert all(checked) and z.imag.shape == (4,)
    check_jacobian(lambda x: ((x + 1j * x[::-1]) ** 2).real, X)


def test_writes_into_real_or_imaginary_parts_keep_the_other_parts():
    def part_write(x):
        z = (x + 1j * x[::-1]) * 1.0
        z.real[1] = x[0] ** 2  # z[1]'s imaginary part still holds x[2]
        z.imag[2:] = x[:2] ** 2
        return np.concatenate([z.real, z.imag])

    def part_set(x):
        z = (x + 0j) * 1.0
        z.imag = x[::-1]
        return np.abs(z)

    check_jacobian(part_write, X)
    check_jacobian(part_set, X)


# -- S5: given Hessian patterns --------------------------------------------------------------


def _quadratic(n=8, seed=0):
    rng = np.random.default_rng(seed)
    A = np.abs(np.subtract.outer(np.arange(n), np.arange(n))) <= 2
    A[0] = A[:, 0] = True  # an arrowhead: column coloring needs > 3 colors, star fewer
    W = rng.normal(size=(n, n))
    W = (W + W.T) * A
    return A, W, rng.normal(size=n)


@pytest.mark.parametrize("side", [np.triu, np.tril])
def test_a_triangular_hessian_pattern_means_both_sides(side):
    A, W, x = _quadratic()
    f = lambda x: 0.5 * x @ (W @ x)
    h = check_hessian(f, x, sparsity=sp.csr_array(side(A)))
    assert h.coloring.mode == "symmetric"
    np.testing.assert_allclose(h.toarray(), W, rtol=1e-12, atol=1e-12)


def test_a_given_hessian_pattern_that_misses_an_entry_raises_on_the_star_path():
    A, W, x = _quadratic()
    A2 = A.copy()
    A2[3, 4] = A2[4, 3] = A2[0, 5] = A2[5, 0] = False
    W2 = W.copy()
    W2[3, 4] = W2[4, 3] = 1.7
    W2[0, 5] = W2[5, 0] = -0.3
    assert dualad.hessian(lambda x: 0.5 * x @ (W @ x), x, method="sparse",
                          sparsity=A).coloring.mode == "symmetric"  # fmt: skip
    with pytest.raises(ValueError, match="misses a nonzero row of the Hessian.*hessian_sparsity"):
        dualad.hessian(lambda x: 0.5 * x @ (W2 @ x), x, method="sparse", sparsity=A2)


# -- S6: dualad.sparsity alone ---------------------------------------------------------------


def test_trim_zeros_pad_average_patterns():
    trimmed = lambda x: np.trim_zeros(np.concatenate([np.zeros(2), x[:2] * x[2:], np.zeros(1)]))
    assert dualad.sparsity(trimmed, X).toarray().astype(int).tolist() == [[1, 0, 1, 0],
                                                                         [0, 1, 0, 1]]  # fmt: skip
    padded = lambda x: np.pad(x[1:], (2, 1), constant_values=x[0])
    P = dualad.sparsity(padded, X).toarray()
    assert P[[0, 1, 5], 0].all() and P[2:5, 1:].diagonal().all()  # padding depends on x0
    np.testing.assert_array_equal(P[:, 0], [1, 1, 0, 0, 0, 1])
    avg = lambda x: np.average(x, weights=x**2, returned=True)[0]
    assert dualad.sparsity(avg, X).toarray().all()
    check_jacobian(lambda x: np.average(x, weights=x**2, returned=True)[0] * x, X)
    check_jacobian(lambda x: np.average(x, weights=x**2, returned=True)[1] * x, X)
    check_jacobian(lambda x: np.average(x, returned=True)[0] * x, X)
    assert dualad.sparsity(lambda x: ((x + 1j * x[::-1]) ** 2).imag, X).shape == (4, 4)


# -- E1: a detected pattern's inconsistency is named as such ---------------------------------


def test_zero_times_inf_in_a_structural_zero_is_no_miss():
    c = np.array([1.0, 0.0, 2.0, 1.0])
    x = np.array([0.001, 1.0, 0.002, -0.5])
    f = lambda x: c * np.exp(1000.0 * x)
    with np.errstate(over="ignore", invalid="ignore"):
        dense = np.asarray(dualad.jacobian(f, x, mode="forward"))
        j = dualad.jacobian(f, x, mode="sparse").toarray()
    assert np.isnan(dense[1, 1])  # forward mode: 0 * inf
    assert j[1, 1] == 0  # c[1] == 0: structurally zero, the exact derivative
    keep = ~np.isnan(dense)
    np.testing.assert_allclose(j[keep], dense[keep], rtol=1e-12)


def test_a_detected_pattern_that_misses_an_entry_says_it_is_a_fault(monkeypatch):
    from dualad import _pattern_kinds

    monkeypatch.setitem(_pattern_kinds.KIND, np.sin, _pattern_kinds._zero)  # a broken statement
    with pytest.raises(RuntimeError, match="detected pattern.*fault"):
        dualad.jacobian(lambda x: np.concatenate([np.sin(x[:1]), x[1:3] * x[2:]]), X,
                        mode="sparse")  # fmt: skip


# -- E3: results with no dependencies are still traced ---------------------------------------


def sign_then_write(x):
    y = np.sign(x)
    y[0] = x[1] ** 2
    return y


def zero_matmul_then_write(x):
    y = np.zeros((4, 4)) @ x
    y[0] = x[1] ** 2
    return y


def floor_then_add(x):
    y = np.floor(x)
    y += x
    return y


@pytest.mark.parametrize("f", [sign_then_write, zero_matmul_then_write, floor_then_add])
def test_writes_into_results_without_dependencies(f):
    check_jacobian(f, np.array([0.5, -1.2, 2.3, 0.7]))


# -- E4, E5: tuple results, np.block, x.view(), attributes, messages -------------------------


def test_a_tuple_result_is_stacked_as_sparsity_stacks_it():
    f = lambda x: (x[:2] * x[2:], np.sum(x**2))
    P = dualad.sparsity(f, X).toarray()
    stacked = lambda x: np.concatenate([np.ravel(v) for v in f(x)])
    j = dualad.jacobian(f, X, mode="sparse")
    assert j.shape == P.shape == (3, 4)
    np.testing.assert_allclose(j.toarray(), dualad.jacobian(stacked, X, mode="forward"))
    np.testing.assert_allclose(j.toarray(), central(stacked, X), atol=1e-6)


def test_block_view_and_array_attributes():
    check_jacobian(lambda x: np.block([[x[:2], x[2:4]], [np.zeros(2), x[4:]]]).ravel(), X6)
    check_jacobian(lambda x: x.view() * x.itemsize + x * (x.nbytes > 0), X)
    with pytest.raises(NotImplementedError, match="reinterprets"):
        dualad.sparsity(lambda x: x.view(np.int64), X)


def test_unsupported_pad_and_wrong_patterns_say_what_to_do():
    with pytest.raises(NotImplementedError, match="reflect_type='odd'"):
        dualad.sparsity(lambda x: np.pad(x, 2, mode="reflect", reflect_type="odd"), X)

    def halves(x):  # rows colored: reverse passes
        return np.stack([np.sum(x[:4] ** 2), np.sum(np.sin(x[4:]))])

    x = np.linspace(0.1, 1.0, 8)
    one_row = sp.csr_array(np.ones((1, 8), dtype=bool))
    with pytest.raises(ValueError, match="1 rows but f\\(x\\) has 2 elements"):
        dualad.jacobian(halves, x, mode="sparse", sparsity=one_row)
    with pytest.raises(ValueError, match="pattern of the Hessian"):
        dualad.hessian(lambda x: np.sum(x**3), X, method="sparse", sparsity=np.ones((3, 4)))


# -- P: element-write loops ------------------------------------------------------------------


def test_element_writes_do_not_copy_the_rows():
    seen = []

    def f(x, record=False):
        y = np.zeros_like(x)
        for i in range(1, x.size):
            y[i] = x[i] * x[i - 1]
            if record:  # the tracer's rows: written in place after the first write
                seen.append(id(y._deps))
        return y

    x = np.linspace(0.1, 1.0, 50)
    P = dualad.sparsity(lambda x: f(x, True), x).toarray()
    assert len(seen) == 49 and len(set(seen)) == 1
    np.testing.assert_array_equal(P, dualad.jacobian(f, x, mode="forward") != 0)
    np.testing.assert_array_equal(P, central(f, x) != 0)


# -- F1: out= on any function writes the result's dependencies into out (and its views) ----


def cumsum_out_self(x):
    y = np.exp(x)
    np.cumsum(y, out=y)
    return y


def mean_method_out(x):
    X = (x**2).reshape(2, 2)
    m = x[:2] * 1.0
    X.mean(axis=0, out=m)
    return m


def sum_positional_out_into_view(x):
    y = x * 1.0
    (x**2).reshape(2, 2).sum(1, None, y[::2])  # out by position, a view of y
    return y


def cumprod_method_out(x):
    y = x * 1.0
    y.cumprod(out=y)
    return y


def out_of_reductions(x):
    X = np.sin(x).reshape(2, 2)
    a, b, c, d = (x[::-1] * 1.0 for _ in range(4))
    np.max(X, axis=1, out=a[:2])
    np.prod(X, axis=0, out=b[2:])
    np.var(X, axis=1, out=c[1:3])
    np.std(X, axis=0, out=d[:2])
    return np.concatenate([a, b, c, d])


def clip_einsum_out(x):
    y, z = x * 1.0, x * 1.0
    np.clip(x[::-1], 0.0, 0.8, out=y)
    np.einsum("i,i->i", x, x[::-1], out=z)
    return np.concatenate([y, z])


def dot_outer_concatenate_out(x):  # these recursed (RecursionError)
    y, z, w = x * 1.0, x * 1.0, x * 1.0
    np.dot(x[:2].reshape(1, 2), x[2:].reshape(2, 1), out=y[:1].reshape(1, 1))
    np.outer(x[:2], x[2:], out=z.reshape(2, 2))
    np.concatenate([x[3:], x[:3]], out=w)
    return np.concatenate([y, z, w])


def ufunc_methods_out(x):
    X = x.reshape(2, 2) * 1.0
    m = x[:2] * 1.0
    np.add.reduce(X, axis=0, out=m)
    y = x * 1.0
    np.multiply.accumulate(y, out=y)
    return np.concatenate([m, y])


@pytest.mark.parametrize(
    "f",
    [cumsum_out_self, mean_method_out, sum_positional_out_into_view, cumprod_method_out,
     out_of_reductions, clip_einsum_out, dot_outer_concatenate_out, ufunc_methods_out],
)  # fmt: skip
def test_out_writes_the_results_dependencies(f):
    check_jacobian(f, np.array([0.3, 0.5, 0.7, 1.1]))


def test_out_in_a_sum_for_the_hessian():
    def s(x):
        out = x * x
        np.cumsum(x, out=out)
        return np.sum(out**3)

    Hs = check_hessian(s, np.array([0.3, 0.5, 0.7, 1.1]))
    assert Hs.toarray().all()  # every out[k] = x[0] + ... + x[k]: no zero entry


def test_out_into_a_plain_array_raises():
    def f(x):
        out = np.empty(4)
        np.cumsum(x, out=out)
        return out

    with pytest.raises(TypeError, match="numpy.cumsum"):
        dualad.sparsity(f, X)


def test_overwrite_input_partitions_the_lanes():
    def f(x):
        y = x * 1.0
        m = np.median(y.reshape(2, 3), axis=1, overwrite_input=True)
        return y * m[0]  # y's rows: partitioned in place by NumPy

    x = np.array([0.3, 0.9, 0.5, 1.1, 0.2, 0.7])
    P = dualad.sparsity(f, x).toarray()
    assert P[:3, :3].all() and P[3:].all() and not P[:3, 3:].any()


# -- F2: sparsity through interception's buffers (np.zeros written into) -------------------


def check_intercepted(f, x):
    """check_jacobian under intercept=True."""
    P = dualad.sparsity(f, x, intercept=True).toarray()
    J = np.asarray(dualad.jacobian(f, x, mode="forward", intercept=True)).reshape(P.shape)
    np.testing.assert_allclose(J, central(f, x), atol=1e-6)
    assert not ((J != 0) & ~P).any(), f"pattern misses {np.argwhere((J != 0) & ~P).tolist()}"
    Js = dualad.jacobian(f, x, mode="sparse", intercept=True)
    np.testing.assert_allclose(Js.toarray(), J, rtol=1e-12, atol=1e-12)


def buffer_element_write(b):
    x = np.zeros(4)
    x[0] = b[0]
    x[2] = b[1] * b[3]
    return x


def heat_with_ghost_cells(u0):
    u = np.zeros(u0.size + 2)
    u[1:-1] = u0
    for _ in range(3):
        u[0] = u[1]
        u[-1] = u[-2]
        u[1:-1] += 0.2 * (u[2:] - 2 * u[1:-1] + u[:-2])
    return u[1:-1] ** 2


def thomas(p):
    n = 4
    b, d = 4.0 + p[:n], p[n:]
    cp, dp = np.zeros(n), np.zeros(n)
    cp[0], dp[0] = -1.0 / b[0], d[0] / b[0]
    for i in range(1, n):
        m = b[i] + cp[i - 1]
        cp[i] = -1.0 / m
        dp[i] = (d[i] + dp[i - 1]) / m
    x = np.zeros(n)
    x[-1] = dp[-1]
    for i in range(n - 2, -1, -1):
        x[i] = dp[i] - cp[i] * x[i + 1]
    return x


def buffer_views_before_the_write(x):
    buf = np.zeros(x.size)
    v, w = buf[::2], buf.reshape(2, -1)
    buf[:] = x**2
    v *= 3
    w[1, :] += w[0, :] * x[: w.shape[1]]
    return buf


def buffer_operands_and_out(x):
    w = np.zeros(x.size)
    w[0] = x[1]
    y = x * 1.0
    y[1:] = w[:-1]
    y += w
    c = np.zeros(x.size)
    np.cumsum(x, out=c)
    return np.concatenate([x + w, y, c])


def complex_buffer_halves(x):
    w = np.zeros(x.size, dtype=complex)
    im, rev = w.imag, w.real[::-1]  # views taken before the buffer holds a dependency
    w.real[1] = x[0]
    im[1:3] = x[2:4] ** 2
    rev[0] = x[1]
    return np.abs(w) ** 2


@pytest.mark.parametrize(
    "f",
    [buffer_element_write, heat_with_ghost_cells, buffer_views_before_the_write,
     buffer_operands_and_out, complex_buffer_halves],
)  # fmt: skip
def test_intercepted_buffers_are_traced(f):
    check_intercepted(f, X6)


def test_intercepted_thomas_and_its_hessian():
    p = np.array([0.1, 0.2, 0.3, 0.4, 1.0, 2.0, 3.0, 4.0])
    check_intercepted(thomas, p)
    s = lambda p: np.sum(thomas(p) ** 2)
    H = np.asarray(dualad.hessian(s, p, intercept=True))
    Hs = dualad.hessian(s, p, method="sparse", intercept=True)
    np.testing.assert_allclose(Hs.toarray(), H, rtol=1e-10, atol=1e-10)


# -- F7: ndarray.fill and .put on a traced array --------------------------------------------


def fill_and_put(x):
    y = x * 1.0
    y[1:4].fill(x[0] * x[5])
    z = x**2
    z.put([0, 5], x[1:3], mode="raise")
    b = np.zeros(3)
    b.fill(2.0)
    return np.concatenate([y, z, b * x[:3]])


def test_fill_and_put_write_in_place():
    check_jacobian(fill_and_put, X6)
    check_intercepted(fill_and_put, X6)


_CONSTANTS_IN_MOVES = [
    lambda x: np.concatenate([[3, 2], x]),
    lambda x: np.concatenate([[-1], x]),
    lambda x: np.concatenate([np.array([3, 1]), x]),
    lambda x: np.concatenate([[0.0], x, [0.0]]),
    lambda x: np.concatenate([[100], x]),
    lambda x: np.stack([[1, 2, 3, 0], x]),
    lambda x: np.stack([np.arange(4), x]).T.ravel(),
    lambda x: np.hstack([[0.0], x]),
    lambda x: np.append([1.0], x),
    lambda x: np.append(np.arange(3), x),
    lambda x: np.insert(x, 1, 3),
    lambda x: np.insert(x, [1, 2], [7, 8]),
    lambda x: np.choose([0, 1, 0, 1], [x, [1, 2, 3, 3]]),
    lambda x: np.block([[x[:2], x[2:]], [np.zeros(2), np.ones(2)]]),
]


@pytest.mark.parametrize("f", _CONSTANTS_IN_MOVES)
def test_constants_in_data_movement_have_no_dependencies(f):
    # integer constants were read as element numbers (row 0 of concatenate([[3, 2], x])
    # depended on x[2]); float lists and large integers raised IndexError
    x = np.arange(1.0, 5.0)
    dense = dualad.jacobian(f, x, mode="forward")
    pattern = dualad.sparsity(f, x).toarray()
    np.testing.assert_array_equal(pattern, dense.reshape(pattern.shape) != 0)


@pytest.mark.parametrize("mode", ["forward", "reverse"])
@pytest.mark.parametrize(
    "f",
    [
        lambda x: np.insert(x, 1, values=3),
        lambda x: np.insert(x, [1, 2], values=[7.0, 8.0]),
        lambda x: np.insert(np.zeros(3), 1, values=x[:2]),
        lambda x: np.append(x, values=[1.0, 2.0]),
        lambda x: np.append(np.arange(2.0), values=x),
    ],
)
def test_insert_and_append_with_values_by_keyword(f, mode):
    # a constant given as values= was read as positions of the index map: the inserted 3
    # got the derivative of x[3] (both modes), or an IndexError
    x = np.arange(1.0, 5.0)
    h = 1e-6
    ref = np.stack([(f(x + h * e) - f(x - h * e)) / (2 * h) for e in np.eye(4)], axis=1)
    np.testing.assert_allclose(dualad.jacobian(f, x, mode=mode), ref, atol=1e-8)

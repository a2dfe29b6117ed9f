"""Sparsity patterns, colorings and sparse Jacobians/Hessians (dualad.sparsity,
jacobian(mode="sparse"), hessian(method="sparse")), each against the dense result.

The rule table itself is covered in tests/_check.py: every rule case checks that the pattern
holds every nonzero of the dense Jacobian.
"""

from __future__ import annotations

import numpy as np
import pytest

import dualad
from dualad._sparse import color_columns, coloring, valid

sp = pytest.importorskip("scipy.sparse")


def tridiagonal(x):
    y = x**3 - 2 * x
    y = y + np.concatenate([np.zeros(1), x[:-1]])
    return y + np.concatenate([x[1:], np.zeros(1)])


def laplacian_2d(u):
    p = np.pad(u, 1)
    return p[:-2, 1:-1] + p[2:, 1:-1] + p[1:-1, :-2] + p[1:-1, 2:] - 4 * u + u**3


def rosenbrock(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def buffer_writes(x):
    y = x.copy()
    y[1:] = x[:-1] * 2  # overwrites: y[1:] no longer depends on x[1:]
    return y


def dense_nonzero(f, x):
    return np.asarray(dualad.jacobian(f, x, mode="forward")).reshape(-1, x.size) != 0


PROGRAMS = {
    "tridiagonal": (tridiagonal, np.linspace(-1, 1, 9)),
    "laplacian": (laplacian_2d, np.random.default_rng(0).standard_normal((5, 6))),
    "slices_and_sums": (
        lambda x: np.stack([np.sum(x[:3] ** 2), x[4] * x[7], np.prod(x[5:7])]),
        np.arange(1.0, 9.0),
    ),
    "matmul_constant": (
        lambda x: np.array([[1.0, 0, 0, 2], [0, 0, 3, 0]]) @ np.sin(x),
        np.arange(1.0, 5.0),
    ),
    "where_both_branches": (lambda x: np.where(x > 0, x**2, x[::-1]), np.array([-1.0, 2, 3])),
    "cumsum_and_roll": (lambda x: np.cumsum(np.roll(x, 2)) * x, np.arange(1.0, 6.0)),
    "buffer_writes": (lambda x: buffer_writes(x), np.arange(1.0, 5.0)),
    "reshape_transpose": (lambda x: (x.reshape(2, 3).T * x[:3, None]).ravel(), np.ones(6)),
    "convolve": (lambda x: np.convolve(x, [1.0, 0.0, -1.0], mode="same"), np.arange(1.0, 7)),
    "solve_dense": (lambda x: np.linalg.solve(np.diag(x) + 3, x), np.arange(1.0, 4.0)),
    "constant_zero_factor": (lambda x: x * np.array([0.0, 1.0, 0.0]), np.ones(3)),
}


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_pattern_holds_every_nonzero(name):
    f, x = PROGRAMS[name]
    p = dualad.sparsity(f, x).toarray()
    assert p.dtype == bool
    assert not (dense_nonzero(f, x) & ~p).any()


def test_patterns_are_exact_where_they_can_be():
    x = np.linspace(-1, 1, 6)
    p = dualad.sparsity(tridiagonal, x).toarray()
    np.testing.assert_array_equal(p, np.eye(6, k=-1) + np.eye(6) + np.eye(6, k=1) > 0)
    # a constant's zero is structural: no dependency there
    p = dualad.sparsity(PROGRAMS["constant_zero_factor"][0], np.ones(3)).toarray()
    np.testing.assert_array_equal(p, np.diag([False, True, False]))
    # x * 0 at this point is not structural: x * x at x = 0 keeps its entry
    assert dualad.sparsity(lambda x: x * x, np.zeros(2)).toarray().all(where=np.eye(2, dtype=bool))


def test_no_statement_raises_naming_the_function():
    with pytest.raises(NotImplementedError, match="numpy.unique"):
        dualad.sparsity(lambda x: np.unique(x), np.ones(3))


def test_in_place_operators():
    def f(x):
        y = x.copy()
        alias = y
        y += x[::-1]  # in place: alias sees it, as in NumPy
        return alias

    p = dualad.sparsity(f, np.ones(3)).toarray()
    np.testing.assert_array_equal(p, np.eye(3, dtype=bool) | np.eye(3, dtype=bool)[::-1])

    def g(x):
        y = x.copy()
        v = y[1:]
        v += x[:-1]  # changes y too, as in NumPy
        return y

    want = np.array([[1, 0, 0], [1, 1, 0], [0, 1, 1]], dtype=bool)
    np.testing.assert_array_equal(dualad.sparsity(g, np.ones(3)).toarray(), want)


def test_aliases_and_in_place_methods():
    with pytest.raises(TypeError, match="lose its dependencies"):  # not dispatched by NumPy
        dualad.sparsity(lambda x: np.asarray(x) * 2, np.ones(2))

    def g(x):
        y = x * x[::-1]
        y.sort()  # in place
        return y

    # y = [6, 1, 6] from {0, 2}, {1}, {0, 2}; sorted in place: y[1] first
    want = np.array([[0, 1, 0], [1, 0, 1], [1, 0, 1]], dtype=bool)
    np.testing.assert_array_equal(dualad.sparsity(g, np.array([3.0, 1.0, 2.0])).toarray(), want)

    def filled(x):  # in place: y[1:] then depends on x[0] alone, y[0] on nothing
        y = x.copy()
        y[1:].fill(x[0])
        y[0] = 0.0
        return y

    want = np.array([[0, 0, 0], [1, 0, 0], [1, 0, 0]], dtype=bool)
    np.testing.assert_array_equal(dualad.sparsity(filled, np.ones(3)).toarray(), want)


def test_writes_into_views_reach_the_base():
    def f(x):
        y = x.copy()
        v = y[1:]
        v[0] = x[0]  # changes y[1] too, as in NumPy
        return y

    want = np.array([[1, 0, 0], [1, 0, 0], [0, 0, 1]], dtype=bool)
    np.testing.assert_array_equal(dualad.sparsity(f, np.ones(3)).toarray(), want)
    with pytest.raises(NotImplementedError, match="reinterprets"):
        dualad.sparsity(lambda x: x.view(np.int64), np.ones(3))


# -- colorings -------------------------------------------------------------------------------


def banded(n, lo, hi):
    return sp.csr_array(sum(np.eye(n, k=k) for k in range(-lo, hi + 1)) > 0)


def block_diagonal(n, b):
    return sp.csr_array(np.kron(np.eye(n // b), np.ones((b, b))) > 0)


def test_colorings_valid_and_near_the_lower_bound():
    rng = np.random.default_rng(1)
    cases = [banded(200, 1, 1), banded(300, 2, 3), banded(100, 0, 4), block_diagonal(120, 4)]
    cases += [banded(150, int(rng.integers(0, 4)), int(rng.integers(0, 4))) for _ in range(6)]
    for p in cases:
        c = color_columns(p)
        assert valid(p, c.colors)
        assert c.count <= int(np.ceil(1.1 * c.lower_bound)), c
    rand = sp.random_array((80, 80), density=0.05, rng=rng, format="csr") != 0
    c = color_columns(rand)
    assert valid(rand, c.colors) and c.method.startswith("greedy")
    assert not valid(rand, np.zeros(80, dtype=np.int64)) or rand.nnz == 0


def test_stencil_color_counts():
    x = np.linspace(-1, 1, 1000)
    assert coloring(dualad.sparsity(tridiagonal, x), x.shape).count == 3
    u = np.random.default_rng(0).standard_normal((40, 50))
    c = coloring(dualad.sparsity(laplacian_2d, u), u.shape)
    assert c.count == 5 and c.lower_bound == 5


# -- sparse against dense --------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_sparse_jacobian_equals_dense(name):
    f, x = PROGRAMS[name]
    j = dualad.jacobian(f, x, mode="sparse")
    assert sp.issparse(j)
    dense = np.asarray(dualad.jacobian(f, x, mode="forward")).reshape(j.shape)
    np.testing.assert_allclose(j.toarray(), dense, rtol=1e-13, atol=1e-13)


def test_bit_for_bit_at_n_2000():
    x = np.linspace(-1, 1, 2000)
    np.testing.assert_array_equal(
        dualad.jacobian(tridiagonal, x, mode="sparse").toarray(), dualad.jacobian(tridiagonal, x)
    )


def test_reverse_compression_when_rows_take_fewer_colors():
    def f(x):  # one dense row: columns need n colors, rows need 2
        return np.stack([np.sum(x**2), x[0] * x[1]])

    x = np.arange(1.0, 30.0)
    j = dualad.jacobian(f, x, mode="sparse")
    c = j.coloring
    assert c.mode == "reverse" and c.count == 2 and c.lower_bound == 2
    np.testing.assert_allclose(j.toarray(), dualad.jacobian(f, x), rtol=1e-14)


def test_random_programs_sparse_equals_dense():
    rng = np.random.default_rng(3)
    for _ in range(10):
        n = int(rng.integers(5, 15))
        shift = int(rng.integers(1, 3))
        w = rng.standard_normal(n)

        def f(x, shift=shift, w=w):
            y = np.tanh(x) * w + np.roll(x, shift) ** 2
            return y - np.concatenate([x[shift:], np.zeros(shift)]) * x

        x = rng.standard_normal(n)
        for mode_p in (None, dualad.sparsity(f, x)):
            j = dualad.jacobian(f, x, mode="sparse", sparsity=mode_p)
            np.testing.assert_allclose(j.toarray(), dualad.jacobian(f, x), rtol=1e-13, atol=1e-14)


def test_a_given_pattern_that_misses_an_entry_is_caught():
    x = np.linspace(-1, 1, 6)
    # rows 1, 3, 5 left empty: their nonzeros land in a color the pattern does not cover
    partial = sp.csr_array(np.diag([True, False] * 3))
    with pytest.raises(ValueError, match="misses a nonzero"):
        dualad.jacobian(tridiagonal, x, mode="sparse", sparsity=partial)
    with pytest.raises(ValueError, match="outputs x inputs|inputs"):
        dualad.jacobian(tridiagonal, x, mode="sparse", sparsity=sp.csr_array((6, 5), dtype=bool))


def test_missed_entries_are_caught_in_reverse_passes_and_hessians_each_call():
    # rows colored (reverse passes): two outputs, each of half the inputs
    def halves(x):
        return np.stack([np.sum(x[:4] ** 2), np.sum(np.sin(x[4:]))])

    x = np.linspace(0.1, 1.0, 8)
    j = dualad.jacobian(halves, x, mode="sparse", sparsity=dualad.sparsity(halves, x))
    assert j.coloring.mode == "reverse"
    np.testing.assert_allclose(j.toarray(), dualad.jacobian(halves, x), rtol=1e-14)
    # the pattern leaves out output 1: its entries fall in columns no entry covers
    first = sp.csr_array(np.vstack([np.arange(8) < 4, np.zeros(8, bool)]))
    g = lambda x: halves(x) * np.array([1.0, 0.0])  # output 1: derivative 0
    np.testing.assert_allclose(
        dualad.jacobian(g, x, mode="sparse", sparsity=first).toarray(), dualad.jacobian(g, x)
    )
    with pytest.raises(ValueError, match="misses a nonzero column"):
        dualad.jacobian(halves, x, mode="sparse", sparsity=first)
    # a Hessian pattern (given once, reused) with rows 3-5 empty: right for a function of
    # x[:3], caught for Rosenbrock, whose rows 3-5 land where no entry is (one color)
    top = sp.csr_array(np.diag(np.arange(6) < 3))
    quad = lambda x: np.sum(x[:3] ** 2)  # a diagonal Hessian in x[:3]: the pattern holds
    np.testing.assert_allclose(
        dualad.hessian(quad, np.ones(6), method="sparse", sparsity=top).toarray(),
        np.diag([2.0, 2.0, 2.0, 0.0, 0.0, 0.0]),
    )
    with pytest.raises(ValueError, match="misses a nonzero row of the Hessian"):
        dualad.hessian(rosenbrock, np.linspace(-1, 1, 6), method="sparse", sparsity=top)


def test_sparse_hessian_equals_dense():
    x = np.random.default_rng(0).uniform(-1, 1, 12)
    h = dualad.hessian(rosenbrock, x, method="sparse")
    c = h.coloring
    assert c.count == 3
    np.testing.assert_allclose(h.toarray(), dualad.hessian(rosenbrock, x), rtol=1e-12, atol=1e-9)
    p = dualad.hessian_sparsity(rosenbrock, x).toarray()
    np.testing.assert_array_equal(p, np.eye(12, k=-1) + np.eye(12) + np.eye(12, k=1) > 0)

    def not_a_sum(x):  # no terms to split: every pair of inputs it depends on
        return np.sum(x[:3]) ** 2 + x[5] ** 3

    q = dualad.hessian_sparsity(not_a_sum, x).toarray()
    assert not (dualad.hessian(not_a_sum, x) != 0)[~q].any()
    np.testing.assert_allclose(
        dualad.hessian(not_a_sum, x, method="sparse").toarray(),
        dualad.hessian(not_a_sum, x),
        atol=1e-12,
    )


def test_sparse_pattern_given_twice_colors_once():
    x = np.linspace(-1, 1, 50)
    p = dualad.sparsity(tridiagonal, x)
    a = dualad.jacobian(tridiagonal, x, mode="sparse", sparsity=p).coloring
    b = dualad.jacobian(tridiagonal, x * 2, mode="sparse", sparsity=p).coloring
    assert a is b  # the cached coloring


def test_detected_patterns_color_once_by_content_never_stale():
    x = np.random.default_rng(1).uniform(-1, 1, 40)
    dense = dualad.hessian(rosenbrock, x)
    h1 = dualad.hessian(rosenbrock, x, method="sparse")
    h2 = dualad.hessian(rosenbrock, x + 0.5, method="sparse")  # detected again: a new object
    assert h1.coloring is h2.coloring  # the same entries: colored once
    j1 = dualad.jacobian(tridiagonal, x, mode="sparse")
    assert dualad.jacobian(tridiagonal, -x, mode="sparse").coloring is j1.coloring
    # results own their index arrays: writing into one changes no later result
    assert not np.shares_memory(h1.indices, h2.indices)
    h1.indices[:] = 0
    h1.indptr[:] = 0
    np.testing.assert_allclose(
        dualad.hessian(rosenbrock, x, method="sparse").toarray(), dense, rtol=1e-12, atol=1e-9
    )
    # a caller's pattern written in place after a call: colored for what it holds now
    p = dualad.hessian_sparsity(rosenbrock, x)
    dualad.hessian(rosenbrock, x, method="sparse", sparsity=p)
    full = np.ones((40, 40), dtype=bool)
    q = dualad.hessian_sparsity(rosenbrock, x).astype(bool)
    q = type(q)(full)  # same object type, every entry: the tridiagonal coloring would mix
    c = dualad.hessian(rosenbrock, x, method="sparse", sparsity=q).coloring
    assert c is not h1.coloring and c.count >= 3
    np.testing.assert_allclose(
        dualad.hessian(rosenbrock, x, method="sparse", sparsity=q).toarray(),
        dense,
        rtol=1e-12,
        atol=1e-9,
    )
    p.indices[:] = np.arange(p.nnz) % 40  # nonsense entries, written into the passed pattern
    p.has_sorted_indices = False
    with pytest.raises(ValueError, match="misses"):
        dualad.hessian(rosenbrock, x, method="sparse", sparsity=p)


def test_large_sparse_never_dense():
    import tracemalloc

    x = np.linspace(-1, 1, 200_000)
    tracemalloc.start()
    j = dualad.jacobian(tridiagonal, x, mode="sparse")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert j.nnz == 3 * x.size - 2
    assert peak < 200 * x.size * 8  # far below n^2 (3.2e11 bytes): about 100 vectors of n


def test_star_coloring_uses_symmetry():
    from dualad._sparse import _symmetric_entries, star_coloring

    def arrowhead(x):  # x[0] meets every other input: column coloring needs n colors
        return np.sum((x[0] - x[1:]) ** 2 * x[1:]) + x[0] ** 3

    x = np.random.default_rng(0).uniform(1, 2, 10)
    h = dualad.hessian(arrowhead, x, method="sparse")
    assert h.coloring.mode == "symmetric" and h.coloring.count == 2
    np.testing.assert_allclose(h.toarray(), dualad.hessian(arrowhead, x), rtol=1e-13, atol=1e-12)
    rng = np.random.default_rng(1)
    for _ in range(50):  # random symmetric patterns: every entry read back exactly
        n = int(rng.integers(3, 25))
        a = sp.random_array((n, n), density=float(rng.uniform(0.05, 0.4)), rng=rng) != 0
        a = ((a + a.T + sp.eye_array(n)) != 0).tocsr()
        c = star_coloring(a)
        m = np.triu(rng.standard_normal((n, n)))
        m = (m + m.T) * a.toarray()
        s = np.zeros((n, c.count))
        s[np.arange(n), c.colors] = 1
        vals = _symmetric_entries(a, c.colors, (m @ s).T.copy())
        back = sp.csr_array((vals, a.indices, a.indptr), shape=(n, n)).toarray()
        np.testing.assert_allclose(back, m, atol=1e-12)
        assert c.count <= color_columns(a).count


def test_inputs_other_than_one_real_array_are_refused():
    a = np.ones(3)
    with pytest.raises(TypeError, match="one array"):
        dualad.jacobian(lambda x: x[0] * x[1], (a, a), mode="sparse")
    with pytest.raises(TypeError, match="one array"):
        dualad.sparsity(lambda x: x["a"], {"a": a})
    with pytest.raises(TypeError, match="one array"):
        dualad.hessian(lambda x: np.sum(x[0] ** 2), [a, a], method="sparse")
    with pytest.raises(NotImplementedError, match="complex"):
        dualad.jacobian(lambda z: z * z, a + 1j, mode="sparse")
    j = dualad.jacobian(lambda x: x**2, np.arange(3), mode="sparse")  # integers: as floats
    np.testing.assert_array_equal(j.toarray(), np.diag([0.0, 2.0, 4.0]))


def test_custom_rules_are_dense_in_their_arguments():
    double = dualad.defrule(lambda x: np.asarray(x) * 2.0, jvp=lambda t, out, x: 2.0 * t[0])

    def f(x):
        return double(x[:2]) * x[2]

    x = np.arange(1.0, 5.0)
    p = dualad.sparsity(f, x).toarray()
    np.testing.assert_array_equal(p, [[1, 1, 1, 0], [1, 1, 1, 0]])  # no statement: dense
    np.testing.assert_allclose(
        dualad.jacobian(f, x, mode="sparse").toarray(), dualad.jacobian(f, x)
    )


def test_a_detected_pattern_edited_in_place_is_colored_for_its_new_entries():
    import warnings

    x = np.array([1.0, 2.0, 3.0, 4.0])
    p = dualad.sparsity(lambda x: x**2, x)  # diagonal
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy: changing a CSR structure is expensive
        p[0, 2] = True

    def f(x):
        return np.stack([x[0] * x[2], x[1] ** 2, x[2] ** 2, x[3] ** 2])

    j = dualad.jacobian(f, x, mode="sparse", sparsity=p)
    np.testing.assert_array_equal(j.toarray(), dualad.jacobian(f, x))
    assert valid(p, j.coloring.colors)


def test_compress_method_in_the_sparsity_tracer():
    x = np.arange(1.0, 7.0).reshape(2, 3)
    got = dualad.sparsity(lambda x: x.compress([1, 0, 1], axis=1), x).toarray()
    np.testing.assert_array_equal(got, np.eye(6)[[0, 2, 3, 5]] > 0)

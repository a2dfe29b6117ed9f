"""Every door to one derivative gives the same answer (issue 10): the seed program through
grad on a vector, a tuple and a dict, value_and_grad, jacobian and hessian in every mode, and
the scalar loop through grad, Tape.watch and Variable.backward on a float, an np.float64 and a
0-d array. References: central differences and the loop's closed form."""

import numpy as np
import pytest

import dualad
import tape

X1, X2 = 1.5, 0.5


def seed(x1, x2):
    a = x1 / x2
    e = np.exp(x2)
    return (np.sin(a) + a - e) * (a - e)


def central_grad(f, x, h=1e-6):
    x = np.asarray(x, float)
    g = np.zeros_like(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e.flat[i] = h
        g.flat[i] = (f(x + e) - f(x - e)) / (2 * h)
    return g


WANT = central_grad(lambda v: seed(v[0], v[1]), [X1, X2])
MODES = ["auto", "forward", "reverse"]


@pytest.mark.parametrize("mode", MODES)
def test_seed_program_through_every_first_order_door(mode):
    v = np.array([X1, X2])
    g = dualad.grad(lambda x: seed(x[0], x[1]), v, mode=mode)
    assert type(g) is np.ndarray and g.shape == (2,)
    np.testing.assert_allclose(g, WANT, rtol=1e-7)
    gt = dualad.grad(lambda t: seed(*t), (X1, X2), mode=mode)
    assert type(gt) is tuple and all(np.shape(gi) == () for gi in gt)
    np.testing.assert_allclose(np.array(gt), WANT, rtol=1e-7)
    gd = dualad.grad(lambda d: seed(d["a"], d["b"]), {"a": X1, "b": np.float64(X2)}, mode=mode)
    assert set(gd) == {"a", "b"}
    np.testing.assert_allclose([gd["a"], gd["b"]], WANT, rtol=1e-7)
    val, gv = dualad.value_and_grad(lambda x: seed(x[0], x[1]), v, mode=mode)
    assert val == seed(X1, X2)
    np.testing.assert_allclose(gv, WANT, rtol=1e-7)
    # 0-d array leaves and a mixed tuple
    g0 = dualad.grad(lambda t: seed(*t), (np.array(X1), X2), mode=mode)
    np.testing.assert_allclose(np.array(g0), WANT, rtol=1e-7)


@pytest.mark.parametrize("mode", MODES)
def test_jacobian_of_two_outputs(mode):
    def f2(x):
        a = x[0] / x[1]
        e = np.exp(x[1])
        return np.stack([(np.sin(a) + a - e) * (a - e), a * e])

    v = np.array([X1, X2])
    J = dualad.jacobian(f2, v, mode=mode)
    ref = np.stack([central_grad(lambda z, i=i: f2(z)[i], v) for i in range(2)])
    np.testing.assert_allclose(J, ref, rtol=1e-7)


@pytest.mark.parametrize("method", ["auto", "hyperdual", "accumulate", "forward-over-reverse"])
def test_hessian_of_the_seed_program(method):
    v = np.array([X1, X2])
    H = dualad.hessian(lambda x: seed(x[0], x[1]), v, method=method)
    ref = np.stack(
        [central_grad(lambda z, i=i: dualad.grad(lambda x: seed(x[0], x[1]), z)[i], v)
         for i in range(2)]
    )  # fmt: skip
    np.testing.assert_allclose(H, ref, rtol=1e-6)


@pytest.mark.parametrize("kind", ["tuple", "dict"])
def test_hessian_of_the_seed_program_on_pytrees(kind):
    v = np.array([X1, X2])
    vec = lambda x: seed(x[0], x[1])
    ref = np.stack([central_grad(lambda z, i=i: dualad.grad(vec, z)[i], v) for i in range(2)])
    if kind == "tuple":
        H = dualad.hessian(lambda p: seed(*p), (X1, X2))
        got = np.array([[H[i][j] for j in range(2)] for i in range(2)])
    else:
        H = dualad.hessian(lambda d: seed(d["a"], d["b"]), {"a": X1, "b": X2})
        got = np.array([[H[i][j] for j in "ab"] for i in "ab"])
    np.testing.assert_allclose(got, ref, rtol=1e-6)


@pytest.mark.parametrize(
    "f, want",
    [
        (lambda p: 3.0, [[0.0, 0.0], [0.0, 0.0]]),  # a constant: zeros
        # a stack of the numbers (a hyper-dual, not a Jet): a^3 + a b^2
        (lambda p: np.sum(np.stack([p[0], p[1]]) ** 2 * p[0]), [[12.0, 2.0], [2.0, 4.0]]),
    ],
)
def test_hessian_at_numbers_reads_every_kind_of_result(f, want):
    # the tuple/dict door of hessian lays out each block as the general path does
    H = dualad.hessian(f, (2.0, 1.0))
    assert type(H) is tuple and all(type(r) is tuple for r in H)
    assert all(type(h) is np.ndarray and h.shape == () for r in H for h in r)
    np.testing.assert_allclose(np.array(H, dtype=float), want, rtol=1e-14)
    Hd = dualad.hessian(lambda d: f((d["a"], d["b"])), {"a": 2.0, "b": np.float64(1.0)})
    np.testing.assert_allclose([[Hd[i][j] for j in "ab"] for i in "ab"], want, rtol=1e-14)
    Hi = dualad.hessian(f, (2, 1))  # ints: the general path, the same answer
    np.testing.assert_allclose(np.array(Hi, dtype=float), want, rtol=1e-14)
    with pytest.raises(ValueError, match="scalar"):
        dualad.hessian(lambda p: np.stack([p[0], p[1]]), (2.0, 1.0))


def leaky(x, n=50):
    y = x
    for _ in range(n):
        y = y * 0.999 + x
    return y


# d/dx of the loop: y_n = 0.999^n x + x (1 - 0.999^n) / 0.001
LOOP_WANT = 0.999**50 + (1 - 0.999**50) / 0.001


@pytest.mark.parametrize("x", [0.5, np.float64(0.5), np.array(0.5)], ids=["float", "f64", "0d"])
def test_scalar_loop_through_every_reverse_door(x):
    g = dualad.grad(leaky, x, mode="reverse")
    assert np.shape(g) == ()
    np.testing.assert_allclose(g, LOOP_WANT, rtol=1e-12)
    with tape.Tape() as t:
        v = t.watch(x)
        y = leaky(v)
    assert type(v.value) is np.float64  # read back as NumPy's scalar, whatever the input
    np.testing.assert_allclose(t.gradient(y, v), LOOP_WANT, rtol=1e-12)
    w = tape.Variable(x, requires_grad=True)
    leaky(w).backward()
    np.testing.assert_allclose(w.grad, LOOP_WANT, rtol=1e-12)
    leaky(w).backward()  # .grad accumulates, as PyTorch's
    np.testing.assert_allclose(w.grad, 2 * LOOP_WANT, rtol=1e-12)


def test_backward_twice_on_one_graph_explains():
    w = tape.Variable(0.5, requires_grad=True)
    y = leaky(w)
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        y.backward()


def test_stack_of_packed_scalars_matches_the_table_rule():
    from dualad import Dual

    a = Dual(np.float64(1.5), np.array([1.0, 0.0]))
    b = Dual(np.float64(0.5), np.array([0.0, 1.0]))
    got = np.stack([a * b, 2.0, np.sin(b)])
    want_t = np.array([[0.5, 0.0, 0.0], [1.5, 0.0, np.cos(0.5)]])
    np.testing.assert_allclose(got.primal, [0.75, 2.0, np.sin(0.5)], rtol=1e-15)
    np.testing.assert_allclose(got.tangent, want_t, rtol=1e-15)
    one = Dual(np.float64(2.0), 3.0)
    np.testing.assert_allclose(np.stack((one, one * one)).tangent, [3.0, 12.0])
    # a NumPy array among the items: not the packed idiom, the table's rule answers
    mixed = np.stack([a, np.float64(1.0) * np.ones(())])
    np.testing.assert_allclose(mixed.tangent, [[1.0, 0.0], [0.0, 0.0]])


def test_jacobian_of_a_pytree_output_at_a_small_vector():
    v = np.array([X1, X2])

    def f(x):
        return {"a": x * 2.0, "b": x[0] * x[1], "c": np.outer(x, x)}

    fwd, rev = dualad.jacobian(f, v), dualad.jacobian(f, v, mode="reverse")
    for k in ("a", "b", "c"):
        np.testing.assert_allclose(fwd[k], rev[k], rtol=1e-15)
    np.testing.assert_allclose(fwd["c"][0, 1], [X2, X1])


def _shared(x):
    a = np.exp(x[0]) / x[1]
    return np.stack([a * a, a - x[1]])


TWO_OUTPUT = {
    "repeated reads": lambda x: np.stack([x[0] * x[1] + x[0], np.sin(x[0]) * x[0]]),
    "through an array": lambda x: np.stack([x[0] * 2.0, x[1]]) * x + np.sum(x),
    "shared values": lambda x: _shared(x),
    "three outputs": lambda x: np.stack([x[0], x[1] * x[0], np.tanh(x[1])]),
    "maximum and hypot": lambda x: np.stack([np.maximum(x[0], x[1]), np.hypot(x[0], x[1])]),
}


@pytest.mark.parametrize("name", sorted(TWO_OUTPUT))
def test_reverse_jacobians_of_scalar_programs_with_several_outputs(name):
    # two cotangent rows ride through the scalar records packed as one complex number
    f = TWO_OUTPUT[name]
    v = np.array([0.7, 1.3])
    rev = dualad.jacobian(f, v, mode="reverse")
    ref = np.stack(
        [central_grad(lambda z, i=i: f(z)[i], v) for i in range(np.size(f(v)))]
    )  # fmt: skip
    np.testing.assert_allclose(rev, ref, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(rev, dualad.jacobian(f, v, mode="forward"), rtol=1e-14)


def test_an_overflowing_two_row_cotangent_is_numpys():
    # x0 * 1e300 * x1 overflows: the packed rows give what the array records give (inf, and
    # NaN where a zero row meets the infinite partial), with NumPy's warnings
    def scalar(x):
        return np.stack([x[0] * 1e300 * x[1], x[1]])

    def arrays(x):
        return np.concatenate([x[0:1] * 1e300 * x[1:2], x[1:2]])

    v = np.array([1e10, 2.0])
    with pytest.warns(RuntimeWarning):
        got = dualad.jacobian(scalar, v, mode="reverse")
    with pytest.warns(RuntimeWarning):
        want = dualad.jacobian(arrays, v, mode="reverse")
    np.testing.assert_array_equal(got, want)
    assert np.isinf(got[0, 1])


@pytest.mark.parametrize(
    "f", [lambda x: x, lambda x: x.reshape(2), lambda x: x[::-1], lambda x: 1.0 * x]
)
def test_reverse_jacobians_are_the_callers_to_write(f):
    # the identity seed of small vectors is shared and read-only: a result that is the
    # seed or a view of it (f(x) = x) must come back as an array of its own
    v = np.array([0.7, 1.3])
    J = dualad.jacobian(f, v, mode="reverse")
    np.testing.assert_array_equal(J, np.abs(dualad.jacobian(f, v, mode="forward")))
    J[...] = 7.0  # writable, and writing it changes no later result
    np.testing.assert_array_equal(dualad.jacobian(lambda x: x, v, mode="reverse"), np.eye(2))

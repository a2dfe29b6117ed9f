"""jvp, derivative, jacobian, grad, check_grad, choose_mode: shapes, pytrees, errors."""

from collections import namedtuple

import numpy as np
import pytest

import dualad

MODES = ["forward", "reverse"]


def test_jvp_matches_closed_form():
    x, v = np.array([0.2, 1.1]), np.array([1.0, -2.0])
    y, y_dot = dualad.jvp(lambda x: np.exp(x) * x, x, v)
    np.testing.assert_allclose(y, np.exp(x) * x)
    np.testing.assert_allclose(y_dot, (np.exp(x) * (1 + x)) * v, rtol=1e-14)


def test_jvp_direction_shape_checked():
    with pytest.raises(ValueError, match="shape"):
        dualad.jvp(np.sin, np.ones(3), np.ones(2))


def test_derivative_elementwise():
    x = np.array([0.0, np.pi])
    np.testing.assert_allclose(dualad.derivative(np.sin, x), [1.0, -1.0])


@pytest.mark.parametrize("mode", MODES)
def test_jacobian_layout_out_then_in(mode):
    A = np.arange(12.0).reshape(3, 2, 2)

    def f(x):  # (2, 2) -> (3,)
        return np.sum(A * x**2, axis=(1, 2))

    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    J = dualad.jacobian(f, x, mode=mode)
    assert J.shape == (3, 2, 2)
    np.testing.assert_allclose(J, 2 * A * x, rtol=1e-14)


@pytest.mark.parametrize("chunk", [1, 2, 7, None])
def test_jacobian_chunking_gives_same_result(chunk):
    W = np.random.default_rng(0).standard_normal((5, 7))

    def f(x):
        return np.tanh(W @ x) * 2.0

    x = np.linspace(-1, 1, 7)
    J = dualad.jacobian(f, x, mode="forward", chunk=chunk)
    ref = (1 - np.tanh(W @ x) ** 2)[:, None] * W * 2.0
    np.testing.assert_allclose(J, ref, rtol=1e-13)


def test_unknown_mode_is_value_error():
    with pytest.raises(ValueError, match="mode"):
        dualad.jacobian(np.sin, np.ones(2), mode="sideways")
    with pytest.raises(ValueError, match="mode"):
        dualad.grad(np.sum, np.ones(2), mode="backwards")


@pytest.mark.parametrize("mode", MODES)
def test_grad_of_non_scalar_points_to_jacobian(mode):
    with pytest.raises(ValueError, match="jacobian"):
        dualad.grad(np.sin, np.ones(3), mode=mode)


@pytest.mark.parametrize("mode", MODES)
def test_integer_inputs_are_float64(mode):
    g = dualad.grad(lambda x: np.sum(x**2), np.array([1, 2, 3]), mode=mode)
    assert g.dtype == np.float64
    np.testing.assert_array_equal(g, [2.0, 4.0, 6.0])


Params = namedtuple("Params", ["w", "b"])


@pytest.mark.parametrize("mode", MODES)
def test_pytrees_in_and_out(mode):
    p = {"w": np.array([1.0, 2.0]), "b": (np.array(0.5), [np.array(3.0)])}

    def f(p):
        return p["w"] * p["b"][0] + p["b"][1][0] ** 2

    J = dualad.jacobian(f, p, mode=mode)
    np.testing.assert_allclose(J["w"], np.eye(2) * 0.5)
    np.testing.assert_allclose(J["b"][0], [1.0, 2.0])
    np.testing.assert_allclose(J["b"][1][0], [6.0, 6.0])

    def g(p):
        return {"s": np.sum(p.w * p.b), "t": (p.w[0] * 3.0,)}

    q = Params(np.array([1.0, 2.0]), np.array([3.0, 4.0]))
    Jg = dualad.jacobian(g, q, mode=mode)
    np.testing.assert_allclose(Jg["s"].w, [3.0, 4.0])
    np.testing.assert_allclose(Jg["s"].b, [1.0, 2.0])
    np.testing.assert_allclose(Jg["t"][0].w, [3.0, 0.0])
    gr = dualad.grad(lambda p: np.sum(p.w * p.b), q, mode=mode)
    assert isinstance(gr, Params)
    np.testing.assert_allclose(gr.b, [1.0, 2.0])


@pytest.mark.parametrize("mode", MODES)
def test_constant_output_has_zero_jacobian(mode):
    J = dualad.jacobian(lambda x: np.ones(3), np.ones(2), mode=mode)
    np.testing.assert_array_equal(J, np.zeros((3, 2)))
    Ji = dualad.jacobian(lambda x: np.argmax(x), np.ones(3), mode=mode)  # integer output
    assert Ji.dtype == np.float64 and Ji.shape == (3,) and not Ji.any()


def test_choose_mode_reports_reason():
    c = dualad.choose_mode(lambda x: np.sum(x), np.ones(100))
    assert c.mode == "reverse" and c.n_in == 100 and c.n_out == 1
    assert "100 inputs" in c.reason
    # up to 64 inputs a first call is one forward pass carrying every direction, as
    # jacobian's first call does (no evaluation of f to learn n_out)
    c = dualad.choose_mode(lambda x: np.sum(x), np.ones(10))
    assert c.mode == "forward" and c.n_in == 10 and c.n_out == 1
    assert "first call with 10 inputs" in c.reason
    c = dualad.choose_mode(lambda x: np.outer(x, x), np.ones(3))
    assert c.mode == "forward" and c.n_out == 9


def test_choose_mode_says_where_the_jacobian_is_sparse():
    # a stencil: 2 colors carry the 199 x 200 Jacobian; auto still returns it dense
    def f(x):
        return x[1:] * x[:-1] + np.sin(x[1:])

    x = np.linspace(0.1, 1.0, 200)
    c = dualad.choose_mode(f, x)
    assert c.sparse is not None and c.sparse.count == 2
    assert 'mode="sparse"' in c.reason and "2 forward passes" in c.reason
    J = dualad.jacobian(f, x)
    assert type(J) is np.ndarray
    S = dualad.jacobian(f, x, mode="sparse")
    assert S.coloring.count == c.sparse.count
    np.testing.assert_array_equal(S.toarray(), J)
    # dense, small, pytree or without a pattern statement: no hint
    a = np.random.default_rng(0).random((100, 100))
    assert dualad.choose_mode(lambda x: a @ x, np.ones(100)).sparse is None
    assert dualad.choose_mode(np.sin, np.ones(10)).sparse is None
    assert dualad.choose_mode(lambda d: d["a"] * 2.0, {"a": np.ones(100)}).sparse is None
    assert dualad.choose_mode(lambda x: np.linalg.solve(a, x), np.ones(100)).sparse is None

    def scaled(x):  # the pattern tracer has no .item(): choose_mode answers without a hint
        return x * x.item(0)

    c = dualad.choose_mode(scaled, np.linspace(0.5, 1.0, 100))
    assert c.mode == "forward" and c.sparse is None


def test_auto_mode_agrees_with_both():
    f = lambda x: np.sin(x) * np.sum(x)
    x = np.array([0.1, 0.2, 0.3])
    np.testing.assert_allclose(
        dualad.jacobian(f, x), dualad.jacobian(f, x, mode="reverse"), rtol=1e-14
    )


def test_check_grad_passes_and_fails():
    assert dualad.check_grad(lambda x: np.sin(x) * x, np.array([0.3, 1.2])) < 1

    bad = dualad.Dual  # a function whose Dual path is wrong on purpose

    def wrong(x):
        if isinstance(x, bad):
            return x * 1.1  # claims derivative 1.1 instead of 1
        return x

    with pytest.raises(AssertionError, match="mismatch"):
        dualad.check_grad(wrong, np.array([1.0, 2.0]))


def test_vjp_and_hvp():
    x = np.array([1.0, 2.0])
    _y, xb = dualad.vjp(lambda x: x**2, x, np.array([1.0, 10.0]))
    np.testing.assert_allclose(xb, [2.0, 40.0])
    np.testing.assert_allclose(dualad.hvp(lambda x: np.sum(x**3), x, np.ones(2)), 6 * x)
    with pytest.raises(ValueError, match="structure"):
        dualad.vjp(np.sin, x, (np.ones(2),))


@pytest.mark.parametrize("x", [2.0, np.float64(2.0), np.array(2.0)], ids=["float", "f64", "0d"])
def test_zero_d_inputs_get_zero_d_arrays_in_every_mode(x):
    import tape

    def f(v):
        return v**3

    got = [dualad.grad(f, x, mode=m) for m in ("forward", "reverse")]
    got += [dualad.jacobian(f, x, mode=m) for m in ("forward", "reverse")]
    got.append(dualad.vjp(f, x, 1.0)[1])
    with tape.Tape() as t:
        w = t.watch(x)
        y = f(w)
    got.append(t.gradient(y, w))
    v = tape.Variable(x, requires_grad=True)
    f(v).backward()
    got.append(v.grad)
    for g in got:
        assert type(g) is np.ndarray and g.shape == () and g == 12.0


def test_check_grad_settles_on_a_strongly_curved_function():
    # a saturating tanh chain whose gradient is 5e-5: at the default step the 5-point
    # differences are still 3e-8 off, which a correct derivative must not be blamed for
    def g(x):
        for h in (np.exp, np.cos, np.exp, np.sin):
            x = np.tanh(h(x)) * 2.0
        return np.sum((x * np.arange(1.0, 3.0)) ** 2)

    x = np.array([1.03125, 0.0])
    for mode in ("forward", "reverse"):
        assert dualad.check_grad(g, x, mode=mode) < 1

    def wrong(x):  # the same function with its derivative off by 0.1%
        y = g(x)
        return y + 1e-3 * (y - y.primal) if isinstance(y, dualad.Dual) else y

    with pytest.raises(AssertionError, match="mismatch .* step"):  # every step was tried
        dualad.check_grad(wrong, x)


@pytest.mark.parametrize("mode", ["auto", "forward", "reverse"])
def test_value_and_grad(mode):
    x = np.array([0.3, 1.2, -0.5])
    value, g = dualad.value_and_grad(lambda v: np.sum(np.sin(v) * v), x, mode=mode)
    assert value == np.sum(np.sin(x) * x) and not isinstance(value, dualad.Dual)
    np.testing.assert_allclose(g, np.cos(x) * x + np.sin(x), rtol=1e-14)
    # a pytree input and a scalar program on the packed fast path
    (value, g) = dualad.value_and_grad(lambda p: p["a"] * p["b"][0], {"a": 1.5, "b": [0.5]}, mode)
    assert value == 0.75 and g["a"] == 0.5 and g["b"][0] == 1.5


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_has_aux_returns_plain_auxiliary_values(mode):
    x = np.array([0.3, 1.2, -0.5])

    def f(v):
        return np.sum(v**2), {"norm": np.linalg.norm(v), "label": "run 1", "first": v[:1]}

    (value, aux), g = dualad.value_and_grad(f, x, mode, has_aux=True)
    np.testing.assert_allclose(g, 2 * x)
    assert value == np.sum(x**2) and aux["label"] == "run 1"
    assert type(aux["norm"]) is np.float64 and aux["norm"] == np.linalg.norm(x)
    assert type(aux["first"]) is np.ndarray and aux["first"][0] == x[0]
    g2, aux2 = dualad.grad(f, x, mode, has_aux=True)
    np.testing.assert_array_equal(g2, g)
    assert aux2["norm"] == aux["norm"]
    with pytest.raises(ValueError, match="pair"):
        dualad.value_and_grad(lambda v: np.sum(v), x, mode, has_aux=True)


def test_value_and_grad_nests_inside_other_transforms():
    # the value keeps an outer derivative: d/da sum(a x^2) = sum(x^2), d/da grad = 2x
    x = np.array([0.3, 1.2, -0.5])
    d_value = dualad.derivative(
        lambda a: dualad.value_and_grad(lambda v: np.sum(a * v**2), x)[0], 2.0
    )
    np.testing.assert_allclose(d_value, np.sum(x**2), rtol=1e-14)
    for mode in ("forward", "reverse"):

        def inner(a, mode=mode):
            return dualad.value_and_grad(lambda v: np.sum(a * v**2), x, mode=mode)[1]

        np.testing.assert_allclose(dualad.jacobian(inner, 2.0), 2 * x, rtol=1e-14)


# -- fuzz pass over the forward API ---------------------------------------------------------


@pytest.mark.parametrize("x", [(1.5, 0.5), {"a": 1.5, "b": 0.5}, (1.5,)])
def test_grad_checks_mode_on_small_tuples_and_dicts(x):
    for bad in ("rev", "bogus", None, "sparse"):
        with pytest.raises(ValueError, match="mode"):
            dualad.grad(lambda t: sum(t.values()) if type(t) is dict else sum(t), x, mode=bad)
        with pytest.raises(ValueError, match="mode"):
            dualad.value_and_grad(lambda t: sum(t.values()) if type(t) is dict else sum(t), x,
                                  mode=bad)  # fmt: skip


@pytest.mark.parametrize("mode", ["forward", "reverse", "auto"])
def test_a_dual_built_by_hand_inside_f_is_the_inner_perturbation(mode):
    # Dual(2.0, 1.0) made inside f had the lowest level: its .tangent read the transform's
    # seed, and grad returned a Dual (f = x * (x * D).tangent is x^2: gradient 2x)
    def f(z):
        return np.sum(z * (z * dualad.Dual(np.full(z.shape, 2.0), np.ones(z.shape))).tangent)

    x = np.array([1.0, 2.0, 3.0])
    g = dualad.grad(f, x, mode=mode)
    assert type(g) is np.ndarray
    np.testing.assert_allclose(g, 2 * x)
    np.testing.assert_allclose(dualad.hessian(f, x), 2 * np.eye(3))

    def scalar(z):
        return z * (z * dualad.Dual(2.0, 1.0)).tangent

    assert dualad.jvp(scalar, 3.0, 1.0) == (9.0, 6.0)
    assert dualad.derivative(scalar, 3.0) == 6.0
    # perturbation confusion: d/dx [x * d/dy (x + y)] = 1, the inner derivative by hand
    assert dualad.derivative(lambda z: z * (z + dualad.Dual(1.0, 1.0)).tangent, 2.0) == 1.0


def test_hand_built_duals_outside_transforms_share_one_perturbation():
    a, b = dualad.Dual(2.0, 1.0), dualad.Dual(np.array([3.0]), np.array([0.0]))
    assert (a * b).tangent == 3.0  # d(ab) with da = 1, db = 0
    nested = dualad.Dual(dualad.Dual(np.array(3.0), 1.0, tag=10), 1.0, tag=11)  # 0-d primal
    assert nested.primal.primal == 3.0 and nested.tangent == 1.0


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_a_hyperdual_built_by_hand_inside_f_is_inner(mode):
    # d/dx [x * d2/dt2 (t^3 x) at t = 2] = d/dx [12 x^2] = 24 x
    def f(x):
        return x * (dualad.HyperDual(2.0, 1.0, 1.0, 0.0) ** 3 * x).eps12

    np.testing.assert_allclose(dualad.grad(f, 1.5, mode=mode), 36.0)


def test_jvp_results_never_share_memory_with_the_inputs():
    x, v = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    y, t = dualad.jvp(lambda z: z, x, v)  # returned x and v themselves
    y[0] = t[0] = 9.0
    np.testing.assert_array_equal(x, [1.0, 2.0])
    np.testing.assert_array_equal(v, [3.0, 4.0])

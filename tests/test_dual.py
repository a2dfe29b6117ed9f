"""The Dual container: construction, array behaviour, operators, errors."""

import numpy as np
import pytest

import dualad
from dualad import Dual


def test_one_direction_and_k_directions():
    d = Dual(np.array([1.0, 2.0]), np.array([1.0, 0.0]))
    assert d.tangent.shape == (2,) and d.n_directions == 1
    d3 = Dual(np.array([1.0, 2.0]), np.eye(2))
    assert d3.tangent.shape == (2, 2) and d3.n_directions == 2
    np.testing.assert_allclose(np.sin(d3).tangent, np.diag(np.cos([1.0, 2.0])))


def test_zero_tangent_default_and_int_primal_promoted():
    d = Dual([1, 2, 3])
    assert d.dtype == np.float64
    np.testing.assert_array_equal(d.tangent, np.zeros(3))


def test_shape_mismatch_raises_value_error():
    with pytest.raises(ValueError, match="tangent shape"):
        Dual(np.ones(3), np.ones(4))
    with pytest.raises(ValueError, match="tangent shape"):
        Dual(np.ones((2, 3)), np.ones((3, 2)))


def test_array_attributes():
    d = Dual(np.arange(6.0).reshape(2, 3), np.ones((2, 3)))
    assert d.shape == (2, 3) and d.ndim == 2 and d.size == 6 and len(d) == 2
    assert d.dtype == np.float64
    assert d.T.shape == (3, 2)
    rows = list(d)
    assert len(rows) == 2 and isinstance(rows[0], Dual)
    assert "primal" in repr(d) and "tangent" in repr(d)


@pytest.mark.parametrize(
    "coerce", [np.asarray, np.array, float, int, lambda d: d.item(), lambda d: d.tolist()]
)
def test_coercion_raises_type_error(coerce):
    d = Dual(np.array(1.5), np.array(1.0))
    with pytest.raises(TypeError, match="derivative"):
        coerce(d)


def test_assigning_dual_into_plain_array_raises_with_hint():
    buf = np.zeros(3)
    with pytest.raises(TypeError, match=r"\.primal"):
        buf[:2] = Dual(np.ones(2), np.ones(2))
    # a single element: NumPy turns our TypeError into a ValueError, keeping it as the cause
    with pytest.raises((TypeError, ValueError)) as info:
        buf[0] = Dual(np.array(1.0), np.array(1.0))
    chain = f"{info.value} {info.value.__cause__} {info.value.__context__}"
    assert ".primal" in chain
    np.testing.assert_array_equal(buf, 0.0)  # nothing was written


OPS = [
    (lambda a, b: a + b, lambda a, b, da, db: da + db),
    (lambda a, b: a - b, lambda a, b, da, db: da - db),
    (lambda a, b: a * b, lambda a, b, da, db: da * b + a * db),
    (lambda a, b: a / b, lambda a, b, da, db: da / b - a * db / b**2),
    (lambda a, b: a**b, lambda a, b, da, db: b * a ** (b - 1) * da + a**b * np.log(a) * db),
]


@pytest.mark.parametrize("op,ref", OPS)
def test_operators_and_reflected_forms(op, ref):
    a, b, da, db = 1.3, 0.7, 0.4, -1.1
    d = op(Dual(a, da), Dual(b, db))
    np.testing.assert_allclose(d.tangent, ref(a, b, da, db), rtol=1e-12)
    left = op(Dual(a, da), b)  # Python scalar on the right
    np.testing.assert_allclose(left.tangent, ref(a, b, da, 0.0), rtol=1e-12)
    right = op(a, Dual(b, db))  # and on the left (reflected dunder)
    np.testing.assert_allclose(right.tangent, ref(a, b, 0.0, db), rtol=1e-12)


def test_unary_operators():
    d = Dual(np.array([-2.0, 3.0]), np.array([1.0, 1.0]))
    np.testing.assert_array_equal((-d).tangent, [-1.0, -1.0])
    np.testing.assert_array_equal((+d).tangent, [1.0, 1.0])
    np.testing.assert_array_equal(abs(d).tangent, [-1.0, 1.0])
    np.testing.assert_array_equal((d % 2.0).tangent, [1.0, 1.0])
    np.testing.assert_array_equal((d // 2.0).tangent, [0.0, 0.0])


def test_square_fast_path_matches_power():
    d = Dual(np.array([1.5, -2.0]), np.array([1.0, 2.0]))
    np.testing.assert_array_equal((d * d).tangent, 2 * d.primal * d.tangent)
    np.testing.assert_array_equal((d**2).tangent, 2 * d.primal * d.tangent)


def test_comparisons_give_plain_booleans_for_control_flow():
    d = Dual(np.array([1.0, -1.0]), np.ones(2))
    m = d > 0
    assert type(m) is np.ndarray and m.dtype == bool
    assert (Dual(2.0, 1.0) > 1.0) and not (Dual(2.0, 1.0) < 1.0)
    y = np.where(d > 0, d, 0.0)
    np.testing.assert_array_equal(y.tangent, [1.0, 0.0])


def test_while_loop_on_dual():
    x = Dual(np.array(1.0), np.array(1.0))
    while x < 100:
        x = x * 3.0
    assert x.primal == 243.0 and x.tangent == 243.0


def test_ufunc_out_refused_into_plain_array():
    d = Dual(np.ones(2), np.ones(2))
    with pytest.raises(TypeError, match="drop its derivative"):
        np.sin(d, out=np.empty(2))


def test_ufunc_out_into_dual_buffer():
    d = Dual(np.array([0.0, 1.0]), np.ones(2))
    buf = np.zeros_like(d)
    r = np.sin(d, out=(buf,))
    assert r is buf
    np.testing.assert_allclose(buf.tangent, np.cos([0.0, 1.0]))


def test_ufunc_where_refused():
    d = Dual(np.ones(2), np.ones(2))
    with pytest.raises(NotImplementedError, match="where"):
        np.sin(d, where=np.array([True, False]))


def test_ufunc_methods():
    d = Dual(np.array([1.0, 2.0, 3.0]), np.array([1.0, 0.0, 0.0]))
    np.testing.assert_allclose(np.add.reduce(d).tangent, 1.0)
    np.testing.assert_allclose(np.multiply.reduce(d).tangent, 6.0)
    np.testing.assert_allclose(np.add.accumulate(d).tangent, [1.0, 1.0, 1.0])
    o = np.multiply.outer(d, np.array([1.0, 10.0]))
    np.testing.assert_allclose(o.tangent, [[1.0, 10.0], [0, 0], [0, 0]])
    np.add.at(d, [0, 0], 1.0)  # in place, once per occurrence (tests/test_ufunc_at.py)
    np.testing.assert_allclose(d.primal, [3.0, 2.0, 3.0])
    np.testing.assert_allclose(d.tangent, [1.0, 0.0, 0.0])
    with pytest.raises(NotImplementedError, match="numpy.add.reduceat"):
        np.add.reduceat(d, [0, 2])


def test_unknown_function_raises_naming_it():
    d = Dual(np.ones(4), np.ones(4))
    with pytest.raises(NotImplementedError, match="numpy.intersect1d"):
        np.intersect1d(d, d)


def test_buffer_fill_in_place():
    x = Dual(np.array([1.0, 2.0, 3.0]), np.array([1.0, 1.0, 1.0]))
    out = np.zeros_like(x)
    for i in range(3):
        out[i] = x[i] ** 2
    np.testing.assert_allclose(out.tangent, 2 * x.primal)
    out[1] = 7.0  # a constant erases that tangent entry
    np.testing.assert_allclose(out.tangent, [2.0, 0.0, 6.0])


def test_setitem_does_not_write_through_shared_tangent():
    x = Dual(np.array([1.0, 2.0]), np.array([1.0, 1.0]))
    y = x + 1.0  # shares x's tangent array internally
    y[0] = 5.0
    np.testing.assert_array_equal(x.tangent, [1.0, 1.0])
    np.testing.assert_array_equal(y.tangent, [0.0, 1.0])


def test_direction_count_mismatch():
    with pytest.raises(ValueError, match="directions"):
        Dual(np.ones(2), np.ones((3, 2))) + Dual(np.ones(2), np.ones((2, 2)))


def test_abs_and_norm_at_zero_are_zero_not_nan():
    z = Dual(np.zeros(3), np.ones(3))
    assert np.all(np.abs(z).tangent == 0)
    n = np.linalg.norm(z)
    assert np.isfinite(n.tangent) and n.tangent == 0.0


def test_scipy_special_ufuncs_reach_the_hook_and_name_themselves():
    special = pytest.importorskip("scipy.special")
    d = Dual(np.array([0.3, 0.5]), np.ones(2))
    with pytest.raises(NotImplementedError, match=r"scipy\.special\.agm"):
        special.agm(d, 1.0)  # a scipy.special ufunc without a rule


@pytest.mark.parametrize("k", [1, 2])
def test_scalar_fast_path_matches_generic_arrays(k):
    # 0-d Duals with k <= 2 directions take the packed-scalar path; 1-element arrays the
    # generic one: both must agree to the last bit on the seed's program and on reflected ops
    def f(x1, x2):
        a = x1 / x2
        e = np.exp(x2)
        return (np.sin(a) + a - e) * (a - e) + 2.0 / x1 - 3.0 * x2 + (1.0 - x1) * x2**2

    t1, t2 = (
        (np.array(1.0), np.array(0.0)) if k == 1 else (np.array([1.0, 0.3]), np.array([0.0, 1.0]))
    )
    fast = f(Dual(np.float64(1.5), t1), Dual(np.float64(0.5), t2))
    arr = f(Dual(np.array([1.5]), t1[..., None]), Dual(np.array([0.5]), t2[..., None]))
    assert type(fast.primal) is np.float64
    np.testing.assert_allclose(fast.primal, arr.primal[0], rtol=1e-15)
    np.testing.assert_allclose(fast.tangent, arr.tangent[..., 0], rtol=1e-14)


def test_np_array_of_duals_points_to_stack():
    a, b = Dual(1.0, 1.0), Dual(2.0, 0.0)
    with pytest.raises(TypeError, match=r"np\.stack"):
        np.array([a, b])
    s = np.stack([a * b, a + b])
    np.testing.assert_allclose(s.tangent, [2.0, 1.0])


def test_hypot_at_the_origin_gives_the_sub_gradient_zero():
    # like np.linalg.norm at 0: no 0/0, in forward and reverse mode, arrays and scalars
    for x in (np.zeros(3), np.float64(0.0)):
        g = dualad.grad(lambda v: np.sum(np.hypot(v, 0.0 * v)), x, mode="forward")
        np.testing.assert_array_equal(g, np.zeros_like(x))
    g = dualad.grad(lambda v: np.sum(np.hypot(v, v)), np.zeros(2), mode="reverse")
    np.testing.assert_array_equal(g, [0.0, 0.0])
    np.testing.assert_allclose(
        dualad.grad(lambda v: np.hypot(v[0], v[1]), np.array([3.0, 4.0])), [0.6, 0.8]
    )

"""Regressions from a fuzzing session against central differences (each failed before its
fix): constants written after use, writes through views with no tape, ``out=`` of plain
operands into a traced array, the in-place ndarray methods, and ``argmax``-style methods
that compiled code must guard."""

from __future__ import annotations

import numpy as np
import pytest

import dualad
import tape

X = np.array([0.3, -0.5, 0.7, 1.1])


def central(f, x, h=1e-6):
    return np.array([(f(x + h * e) - f(x - h * e)) / (2 * h) for e in np.eye(x.size)])


def _check_grad_doors(f):
    """``grad`` forward and reverse and ``Tape.gradient`` against central differences at X;
    returns the reference."""
    ref = central(f, X)
    for mode in ("forward", "reverse"):
        np.testing.assert_allclose(dualad.grad(f, X, mode=mode), ref, rtol=1e-6, atol=1e-8)
    with tape.Tape() as t:
        v = t.watch(X)
        y = f(v)
    np.testing.assert_allclose(t.gradient(y, v), ref, rtol=1e-6, atol=1e-8)
    return ref


def _scaled_then_written(x):  # c * x, then the caller's c changes
    c = np.full(x.shape, 2.0)
    y = np.sin(c * x)
    c[1] = 5.0
    return y.sum()


def _index_then_written(x):
    idx = np.array([0, 1])
    y = x[idx] ** 2
    idx[0] = 2
    return y.sum()


def _mask_then_cleared(x):
    m = x > 0
    y = np.where(m, x**2, 0.0)
    m[:] = False
    return y.sum()


def _bool_index_then_written(x):
    m = np.array([True, False, True, False])
    y = x[m] ** 2
    m[:] = True
    return y.sum()


def _matrix_then_scaled(x):
    w = np.arange(16.0).reshape(4, 4) / 10
    y = w @ x
    w *= 3
    return np.sum(y**2)


def _exponent_and_bound_then_written(x):
    p = np.array([2.0, 3.0, 2.0, 1.5])
    lo = np.full(4, 0.1)
    y = np.abs(x) ** p + np.maximum(x, lo)
    p[:] = 1.0
    lo[:] = 10.0
    return y.sum()


def _buffer_in_a_loop(x):  # the simulation idiom: one scratch buffer, refilled each step
    buf = np.empty(x.shape)
    acc = x * 0.0
    for k in range(3):
        buf[:] = np.arange(4.0) + k
        acc = acc + buf * np.sin(x)
    return np.sum(acc)


CONSTANT_PROGRAMS = [
    _scaled_then_written,
    _index_then_written,
    _mask_then_cleared,
    _bool_index_then_written,
    _matrix_then_scaled,
    _exponent_and_bound_then_written,
    _buffer_in_a_loop,
]


@pytest.mark.parametrize("f", CONSTANT_PROGRAMS, ids=lambda f: f.__name__)
def test_constants_written_after_use_keep_the_value_the_operation_saw(f):
    ref = _check_grad_doors(f)
    np.testing.assert_allclose(dualad.vjp(f, X, 1.0)[1], ref, rtol=1e-6, atol=1e-8)
    v = tape.Variable(X.copy(), requires_grad=True)
    f(v).backward()
    np.testing.assert_allclose(v.grad, ref, rtol=1e-6, atol=1e-8)
    if f is _mask_then_cleared:  # compile's traced masks take no writes: said, not wrong
        with pytest.raises(NotImplementedError, match="writing into a value computed"):
            dualad.compile(f, X, backend="numpy")
    else:
        cf = dualad.compile(f, X, backend="numpy")
        np.testing.assert_allclose(cf.grad(X), ref, rtol=1e-6, atol=1e-8)


def test_hessian_and_hvp_of_a_constant_written_after_use():
    x = np.linspace(0.1, 1.0, 10)

    def f(x):
        c = np.arange(1.0, 11.0)
        y = np.sum(c * x**3)
        c[:] = 5.0
        return y

    h = np.diag(6 * np.arange(1.0, 11.0) * x)  # closed form
    np.testing.assert_allclose(dualad.hessian(f, x), h, rtol=1e-12)
    np.testing.assert_allclose(dualad.hvp(f, x, np.ones(10)), h @ np.ones(10), rtol=1e-12)


def test_intercepted_buffer_given_a_traced_value_after_use():
    def f(x):
        c = np.full(4, 2.0)
        y = c * x
        c[1] = x[0]
        return y.sum()

    for mode in ("forward", "reverse"):
        np.testing.assert_allclose(dualad.grad(f, X, mode=mode, intercept=True), np.full(4, 2.0))


def _view_written_after_use(x):
    y = x * 2.0
    b = y[:] * 1.0
    y[0] = 0.0
    return b.sum()


def _slice_added_in_place(x):
    y = x * 1.0
    v = y[1:3]
    v += 1.0
    return (y * y).sum()


def _slice_scaled_in_place(x):
    y = x * 1.0
    v = y[1:3]
    v *= 2.0
    return (y * x).sum()


def _view_of_view_written(x):
    y = x * 1.0
    a = y[1:]
    b = a[:2] * x[:2]
    a[0] = 3.0
    return np.sum(b) + np.sum(y**2)


@pytest.mark.parametrize(
    "f",
    [_view_written_after_use, _slice_added_in_place, _slice_scaled_in_place, _view_of_view_written],
    ids=lambda f: f.__name__,
)
def test_writes_through_views_without_a_tape(f):
    ref = central(f, X)
    v = tape.Variable(X.copy(), requires_grad=True)
    f(v).backward()
    np.testing.assert_allclose(v.grad, ref, rtol=1e-6, atol=1e-8)
    v = tape.Variable(X.copy(), requires_grad=True)
    np.testing.assert_allclose(tape.grad(f(v), v), ref, rtol=1e-6, atol=1e-8)


def test_constant_variable_written_into():
    y = tape.Variable(np.array([1.0, 2.0, 3.0]), requires_grad=False)
    y[0] = 5.0
    np.testing.assert_array_equal(y.value, [5.0, 2.0, 3.0])
    x = tape.Variable(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    y[1] = x[0] * 3
    (y * x).sum().backward()
    np.testing.assert_allclose(x.grad, [5.0 + 3 * 2.0, 3.0, 3.0])


def test_out_of_plain_operands_into_a_traced_array():
    c = np.array([5.0, 6.0, 7.0, 8.0])

    def f(x):
        y = x * 1.0
        np.multiply(c, 2.0, out=y)
        return (y * x).sum()

    def g(x):
        y = x * 1.0
        np.multiply(c[1:], 2.0, out=y[1:])
        return (y * x).sum()

    for h in (f, g):
        ref = central(h, X)
        for mode in ("forward", "reverse"):
            np.testing.assert_allclose(dualad.grad(h, X, mode=mode), ref, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(dualad.hessian(f, X), np.zeros((4, 4)))


def _sorted_in_place(x):
    y = x * 1.0
    y.sort()
    return np.sum(y * np.arange(4.0))


def _filled(x):
    y = x * 2.0
    z = y[1:3]
    y.fill(0.5)
    return np.sum(z * x[:2]) + np.sum(y * x)


def _put(x):
    y = x * 2.0
    y.put([0, 2], x[1:3] ** 2)
    return np.sum(y * x)


@pytest.mark.parametrize("f", [_sorted_in_place, _filled, _put], ids=lambda f: f.__name__)
def test_in_place_methods(f):
    _check_grad_doors(f)


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_flat_raises_naming_it(mode):
    with pytest.raises(NotImplementedError, match=r"\.flat"):
        dualad.grad(lambda x: x.flat[0], X, mode=mode)


def _by_methods(x):
    a = x[x.argmax()] * x[x.argmin()]
    b = x[0] ** 2 if x.all() else x[1] ** 3
    c = np.sum(x[x.argsort()] * np.arange(x.size))
    return a + b + c + (1.0 if x.any() else 0.0)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_argmax_methods_are_guards_of_compiled_code(backend):
    if backend == "numba":
        pytest.importorskip("numba")
    x0 = np.array([1.0, 2.0, 3.0])
    cf = dualad.compile(_by_methods, x0, backend=backend)
    for x in (np.array([3.0, 0.0, -1.0]), np.array([-1.0, 2.0, 0.5]), x0):
        assert cf(x) == _by_methods(x)
        np.testing.assert_allclose(cf.grad(x), central(_by_methods, x), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("method", ["auto", "hyperdual", "accumulate", "forward-over-reverse"])
def test_hessian_keeps_float32_as_grad_does(method):
    x = np.array([0.3, 0.5, 0.9], dtype=np.float32)

    def f(x):
        return np.sum(np.sin(x) * x[0])

    h = dualad.hessian(f, x, method=method)
    assert h.dtype == dualad.grad(f, x).dtype == np.float32
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(h, dualad.hessian(f, x64), rtol=1e-5, atol=1e-6)
    assert dualad.hessian(f, np.arange(3)).dtype == np.float64  # ints: as float64


def _hessian_by_differences(f, x, h=1e-5):
    g = lambda x: dualad.grad(f, x, mode="reverse")
    return np.array([(g(x + h * e) - g(x - h * e)) / (2 * h) for e in np.eye(x.size)])


def _item_write(x):
    y = x * 2.0
    y[1] = x[0] ** 2
    return np.sum(y**3)


def _slice_write(x):
    y = x * 2.0
    y[1:] = x[:2] ** 2
    return np.sum(y**3)


def _mask_write(x):
    y = x * 2.0
    y[x > 0] = x[x > 0] ** 2
    return np.sum(y**3)


def _copyto_where(x):
    y = x * 2.0
    np.copyto(y, x**2, where=x > 0)
    return np.sum(y**3)


@pytest.mark.parametrize(
    "f", [_item_write, _slice_write, _mask_write, _copyto_where], ids=lambda f: f.__name__
)
def test_writes_of_values_with_an_outer_derivative_forward_over_forward(f):
    x = np.array([0.4, -0.3, 0.8])
    ref = _hessian_by_differences(f, x)
    inner = lambda x: dualad.grad(f, x, mode="forward")
    for outer in ("forward", "reverse"):
        np.testing.assert_allclose(dualad.jacobian(inner, x, mode=outer), ref, atol=1e-6)


def test_reverse_over_forward_write_through_a_view_raises_never_wrong():
    def f(x):
        y = x * x
        v = y[:]
        v[0] = 1.0
        return y[0] * x[0]

    inner = lambda x: dualad.grad(f, x, mode="forward")
    with pytest.raises(NotImplementedError, match="reverse over forward"):
        dualad.jacobian(inner, np.array([3.0]), mode="reverse")
    np.testing.assert_allclose(dualad.jacobian(inner, np.array([3.0]), mode="forward"), [[0.0]])

    def g(x):  # a view that is only read: fine
        y = x * x
        a = y[:1]
        return np.sum(a * x[0]) + y[1]

    x = np.array([3.0, 2.0])
    inner = lambda x: dualad.grad(g, x, mode="forward")
    np.testing.assert_allclose(dualad.jacobian(inner, x, mode="reverse"), dualad.hessian(g, x))


def _buffer_item(x):
    y = np.zeros(2)
    y[0] = x[0] * x[1]
    return np.sum(y**2)


def _buffer_slice(x):
    y = np.ones(3)
    y[1:] = x * x[0]
    return np.sum(np.sin(y) * y)


@pytest.mark.parametrize("f", [_buffer_item, _buffer_slice], ids=lambda f: f.__name__)
def test_reverse_over_reverse_of_intercepted_buffers(f):
    x = np.array([0.41, -0.73])
    inner = lambda x: dualad.grad(f, x, mode="reverse", intercept=True)
    ref = dualad.hessian(f, x, intercept=True)
    np.testing.assert_allclose(
        dualad.jacobian(inner, x, mode="reverse", intercept=True), ref, rtol=1e-10
    )
    with dualad.intercept():
        np.testing.assert_allclose(ref, _hessian_by_differences(f, x), atol=1e-6)


NDARRAY_METHODS = [
    lambda x: np.sum(x.round(1) * x),
    lambda x: np.sum(x.compress([True, False, True, True]) ** 2),
    lambda x: np.sum(x * x.searchsorted(0.5)),
    lambda x: x[x.argpartition(1)[0]] ** 2,
]


@pytest.mark.parametrize("k", range(len(NDARRAY_METHODS)))
def test_more_ndarray_methods(k):
    f = NDARRAY_METHODS[k]
    ref = central(f, X)
    for mode in ("forward", "reverse"):
        np.testing.assert_allclose(dualad.grad(f, X, mode=mode), ref, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", ["view", "byteswap", "resize", "tobytes", "partition"])
def test_ndarray_methods_without_a_derivative_raise_naming_them(name):
    args = {"view": (np.int64,), "resize": ((2, 2),), "partition": (1,)}.get(name, ())
    for mode in ("forward", "reverse"):
        with pytest.raises(NotImplementedError, match=name):
            dualad.grad(lambda x: np.sum(getattr(x * 1.0, name)(*args)), X, mode=mode)


def test_large_constant_copies_are_pooled_and_never_shared():
    from tape import record as rec_module

    w_big = np.random.default_rng(3).standard_normal((200, 200))  # 320 KB: pooled

    def f(x):
        c = w_big.copy()
        y = np.tanh(c @ x)
        c *= 2.0  # written after use: the record's copy must keep the old values
        return np.sum(y)

    x = np.linspace(-1, 1, 200)
    ref = w_big.T @ (1 - np.tanh(w_big @ x) ** 2)
    for _ in range(3):  # the second call reuses the first call's copy
        np.testing.assert_allclose(dualad.grad(f, x, mode="reverse"), ref, rtol=1e-12)
    assert rec_module._POOL.get(((200, 200), np.dtype(np.float64)))
    # a copy something still refers to is not given back
    with tape.Tape() as t:
        v = t.watch(x)
        s = f(v)
    (r,) = [r for r in t.records if r.name == "matmul"]
    kept = r.args[0][:3]
    free = list(rec_module._POOL.get(((200, 200), np.dtype(np.float64)), []))
    np.testing.assert_allclose(t.gradient(s, v), ref, rtol=1e-12)
    pool = rec_module._POOL.get(((200, 200), np.dtype(np.float64)), [])
    assert not any(b is kept.base for b in pool) and len(pool) <= len(free)
    np.testing.assert_array_equal(kept, w_big[:3])


def test_multigammaln_is_differentiated():
    sc = pytest.importorskip("scipy.special")

    def f(a):
        return np.sum(sc.multigammaln(a, 3) * a)

    a = np.array([2.3, 4.1])
    ref = central(f, a)
    for mode in ("forward", "reverse"):
        np.testing.assert_allclose(dualad.grad(f, a, mode=mode, intercept=True), ref, rtol=1e-6)
    with pytest.raises(ValueError, match="not met"):
        dualad.grad(lambda a: np.sum(sc.multigammaln(a, 3)), np.array([0.5, 2.0]), intercept=True)


def _device_write_through_view(x):
    o = x * 1.0
    v = o[1:]
    v[0] = x[2] * x[3]
    return np.sum(o * o)


def _device_write_base_read_view(x):
    o = x * 1.0
    v = o[1:]
    o[2] = x[0] ** 2
    return np.sum(v * o[1:])


@pytest.mark.parametrize("mode", ["forward", "reverse"])
@pytest.mark.parametrize(
    "f", [_device_write_through_view, _device_write_base_read_view], ids=lambda f: f.__name__
)
def test_writes_near_views_on_another_backend_raise_never_stale(f, mode):
    from tests.device import DeviceArray

    with pytest.raises(NotImplementedError, match="cannot follow"):
        dualad.grad(f, DeviceArray(X), mode=mode)
    np.testing.assert_allclose(dualad.grad(f, X, mode=mode), central(f, X), rtol=1e-6)


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_views_on_another_backend_without_writes(mode):
    from tests.device import DeviceArray

    def f(x):
        o = x * 1.0
        return np.sum(o[1:] * o[:-1].reshape(3))

    np.testing.assert_allclose(dualad.grad(f, DeviceArray(X), mode=mode).a, central(f, X), 1e-6)


def test_item_write_into_a_dask_buffer_keeps_its_tangent():
    da = pytest.importorskip("dask.array")

    def f(x):
        o = np.zeros_like(x)
        o[1] = x[2] * x[3]
        return o

    v = np.array([1.0, 2.0, 3.0, 4.0])
    _, t = dualad.jvp(f, da.from_array(X, chunks=2), da.from_array(v, chunks=2))
    np.testing.assert_allclose(np.asarray(t), dualad.jvp(f, X, v)[1])
    np.testing.assert_allclose(np.asarray(t), [0.0, X[3] * 3.0 + X[2] * 4.0, 0.0, 0.0])


def test_derivative_refuses_what_is_not_elementwise():
    with pytest.raises(ValueError, match="use dualad.jacobian"):
        dualad.derivative(lambda x: np.sum(x**2), X)
    np.testing.assert_allclose(dualad.derivative(np.sin, X), np.cos(X))
    np.testing.assert_allclose(dualad.derivative(lambda t: np.stack([t, t**2]), 2.0), [1.0, 4.0])


def test_zero_derivatives_stay_on_the_device():
    from tests.device import DeviceArray

    ones = DeviceArray(np.ones(10))
    hv = dualad.hvp(lambda x: np.sum(2 * x), ones, ones)  # linear: H v = 0, on the device
    assert isinstance(hv, DeviceArray)
    np.testing.assert_array_equal(hv.a, np.zeros(10))


SEQUENCES_WITH_LISTS = [
    lambda x: np.sum(np.concatenate([[x[0]], x[1:]]) ** 2),
    lambda x: np.sum(np.concatenate([[x[0], 2.0], x[1:] * x[0]]) ** 2),
    lambda x: np.sum(np.vstack([[x[0], x[1]], x[2:]]) ** 3),
    lambda x: np.sum(np.hstack([[x[0]], x[1:]]) * x),
]


@pytest.mark.parametrize("k", range(len(SEQUENCES_WITH_LISTS)))
def test_concatenate_of_a_list_holding_traced_scalars(k):
    f = SEQUENCES_WITH_LISTS[k]
    _check_grad_doors(f)

"""Regressions from the fuzz pass over the public doors: Dask's own functions, None in
pytrees, check_grad at NaN and inf, nested selections, 0-d and empty inputs, Dask and device
backends, and auto's first call. Each compares with central differences in float64 or a
closed form, in forward and reverse mode.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import dualad
import tape
from tests.device import DeviceArray
from tests.test_fuzz_regressions_2 import central as _fd_grad

da = pytest.importorskip("dask.array")

MODES = ["forward", "reverse"]


# -- 1.1: Dask's own functions wrap a traced value whole: an error, never a zero -------------

DASK_OWN = {
    "da.sum": lambda x: da.sum(np.sin(x)),
    "da.map_blocks": lambda x: np.sum(da.map_blocks(np.sin, x)),
    "da.where": lambda x: np.sum(da.where(x > 0.15, x, 0.0)),
    "da.concatenate": lambda x: np.sum(da.concatenate([x, x]) ** 2),
    "da.stack": lambda x: np.sum(da.stack([x, x]) ** 2),
    "da.from_array": lambda x: np.sum(da.from_array(x) ** 2),
    "da.asarray": lambda x: np.sum(da.asarray(x) ** 2),
    "mixed": lambda x: np.sum(x * da.sum(np.sin(x))),
}
X3 = np.array([0.1, 0.2, 0.3])


@pytest.mark.parametrize("name", list(DASK_OWN))
@pytest.mark.parametrize("dask_input", [False, True])
@pytest.mark.parametrize("mode", MODES)
def test_dask_functions_on_traced_values_raise(name, dask_input, mode):
    f = DASK_OWN[name]
    x = da.from_array(X3, chunks=2) if dask_input else X3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(NotImplementedError, match="dask's own functions"):
            dualad.grad(f, x, mode=mode)


@pytest.mark.parametrize(
    "door",
    [
        lambda f, x: dualad.value_and_grad(f, x),
        lambda f, x: dualad.jvp(f, x, x),
        lambda f, x: dualad.vjp(f, x, 1.0),
        lambda f, x: dualad.hessian(f, x),
        lambda f, x: dualad.hvp(f, x, x),
        lambda f, x: dualad.hvp(f, x, x, method="forward-over-forward"),
        lambda f, x: dualad.jacobian(f, x),
    ],
)
def test_dask_functions_raise_through_every_door(door):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(NotImplementedError, match="np.sum"):
            door(DASK_OWN["da.sum"], X3)


@pytest.mark.parametrize("dask_input", [False, True])
@pytest.mark.parametrize("mode", MODES)
def test_dask_ufuncs_stay_differentiated(dask_input, mode):
    x = da.from_array(X3, chunks=2) if dask_input else X3
    g = dualad.grad(lambda x: np.sum(da.sin(x) * x), x, mode=mode)
    np.testing.assert_allclose(np.asarray(g), np.cos(X3) * X3 + np.sin(X3), rtol=1e-14)


# -- 1.2, 2.7: None is an empty subtree, in and out ---------------------------------------


def _branchy(p):
    return p["a"] ** 2 if p["b"] is None else p["a"] * 100.0


@pytest.mark.parametrize("mode", ["auto", *MODES])
def test_none_input_leaf_is_passed_through(mode):
    g = dualad.grad(_branchy, {"a": 1.5, "b": None}, mode=mode)
    assert g["b"] is None
    np.testing.assert_allclose(g["a"], _fd_grad(lambda a: a**2, 1.5), rtol=1e-8)


def test_none_input_leaf_in_every_door():
    p = {"a": 1.5, "b": None}
    assert dualad.hessian(_branchy, p) == {"a": {"a": 2.0, "b": None}, "b": None}
    y, t = dualad.jvp(_branchy, p, {"a": 1.0, "b": None})
    assert (y, t) == (2.25, 3.0)
    y, g = dualad.vjp(_branchy, p, 1.0)
    assert y == 2.25 and g == {"a": 3.0, "b": None}
    with tape.Tape() as t:
        w = t.watch({"a": np.array(1.5), "b": None})
        assert w["b"] is None
        y = _branchy(w)
    assert t.gradient(y, w) == {"a": 3.0, "b": None}


def test_none_output_entry_is_none_from_every_door():
    def f(x):
        return x**2, None

    want = np.diag(2 * X3)
    y, t = dualad.jvp(f, X3, np.ones(3))
    assert y[1] is None and t[1] is None
    np.testing.assert_allclose(t[0], 2 * X3, rtol=1e-15)
    y, g = dualad.vjp(f, X3, (np.ones(3), None))
    assert y[1] is None
    np.testing.assert_allclose(g, 2 * X3, rtol=1e-15)
    for mode in ["auto", *MODES]:
        J = dualad.jacobian(f, X3, mode=mode)
        assert J[1] is None
        np.testing.assert_allclose(J[0], want, rtol=1e-15)


# -- 1.3: check_grad at NaN and infinite derivatives ---------------------------------------


def test_check_grad_fails_where_dualad_gives_nan_and_differences_are_finite():
    # the unselected branch's NaN partial meets a zero cotangent in reverse mode (documented)
    def f(x):
        return np.sum(np.where(x > 0, np.sqrt(x), 0.0))

    x = np.array([-1.0, 0.5, 2.0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert np.isnan(dualad.grad(f, x, mode="reverse")[0])
        with pytest.raises(AssertionError, match="nan"):
            dualad.check_grad(f, x, mode="reverse")
        assert dualad.check_grad(f, x, mode="forward") < 1  # forward gives the exact 0


def test_check_grad_compares_nan_and_inf_by_value():
    from dualad._checking import _compare

    nan, inf = np.nan, np.inf
    # NaN against a number, a number against inf, inf against -inf: mismatches
    assert _compare([np.array([nan, 1.0])], [np.array([0.5, 1.0])], 1e-5, 1e-7)[0] == inf
    assert _compare([np.array([1.0])], [np.array([inf])], 1e-5, 1e-7)[0] == inf
    assert _compare([np.array([-inf])], [np.array([inf])], 1e-5, 1e-7)[0] == inf
    # the same non-finite value on both sides agrees
    assert _compare([np.array([inf, nan, 1.0])], [np.array([inf, nan, 1.0])], 1e-5, 1e-7)[0] == 0


# -- 2.1: nested forward through a selection against a traced scalar ----------------------


@pytest.mark.parametrize("select", [np.maximum, np.fmax, np.minimum])
@pytest.mark.parametrize("method", ["forward-over-forward", "forward-over-reverse"])
def test_hvp_through_selection_against_a_traced_scalar(select, method):
    x, v = np.array([0.2, 0.3, 0.4]), np.array([1.0, -0.5, 2.0])
    s = 0.29 if select is not np.minimum else 0.25  # mixed choices either way

    def f(x):
        return np.sum(select(x, np.sum(x**2) * (s / 0.29)))

    def g(y):
        return dualad.grad(f, y, mode="reverse")

    h = 1e-6
    want = (g(x + h * v) - g(x - h * v)) / (2 * h)
    np.testing.assert_allclose(dualad.hvp(f, x, v, method=method), want, rtol=1e-7, atol=1e-9)


def test_hvp_forward_over_forward_of_maximum_closed_form():
    # x[0] < sum(x**2) = 0.29: that term is sum(x**2), whose Hessian is 2 I
    f = lambda x: np.sum(np.maximum(x, np.sum(x**2)))
    got = dualad.hvp(f, np.array([0.2, 0.3, 0.4]), np.ones(3), method="forward-over-forward")
    np.testing.assert_allclose(got, [2.0, 2.0, 2.0], rtol=1e-14)


# -- 2.2: Dask, reverse: None in a basic index -------------------------------------------

NONE_KEYS = {
    "x[None]": (lambda x: np.sum(x[None] ** 2), X3),
    "x[:, None] * x": (lambda x: np.sum(x[:, None] * x), X3),
    "x[..., None]": (lambda x: np.sum(x[..., None] ** 3), X3),
    "x[None, 1:, None]": (lambda x: np.sum(x[None, 1:, None] ** 3), X3),
    "x[0, None]": (lambda x: np.sum(x[0, None] ** 3), X3),
    "M[None, ..., None, 1]": (
        lambda x: np.sum(np.sin(x[None, ..., None, 1])),
        np.arange(6.0).reshape(2, 3) / 7,
    ),
    "M[1, None, None, 1:]": (
        lambda x: np.sum(np.sin(x[1, None, None, 1:])),
        np.arange(6.0).reshape(2, 3) / 7,
    ),
}


@pytest.mark.parametrize("name", list(NONE_KEYS))
@pytest.mark.parametrize("mode", MODES)
def test_new_axes_on_dask_inputs(name, mode):
    f, x = NONE_KEYS[name]
    g = dualad.grad(f, da.from_array(x, chunks=2), mode=mode)
    np.testing.assert_allclose(np.asarray(g), _fd_grad(f, x), rtol=1e-7, atol=1e-9)


# -- 2.3: axis=0 and axis=-1 on a 0-d input -------------------------------------------------

ZERO_D = [np.max, np.min, np.amax, np.sum, np.prod, np.nanmax, np.nansum, np.ptp, np.nanvar, np.nanstd,
          np.nanmean, np.nanprod, np.nanmin]  # fmt: skip
CUMULATIVE = [np.cumsum, np.cumprod, np.nancumsum]


@pytest.mark.parametrize("func", ZERO_D + CUMULATIVE, ids=lambda f: f.__name__)
@pytest.mark.parametrize("axis", [0, -1])
@pytest.mark.parametrize("mode", MODES)
def test_reductions_along_an_axis_of_a_0d_input(func, axis, mode):
    def f(x):
        return np.sum(func(x**3, axis=axis) * 2.0)

    x = np.array(0.7)
    g = dualad.grad(f, x, mode=mode)
    np.testing.assert_allclose(g, _fd_grad(f, x), rtol=1e-8, atol=1e-12)
    h = 1e-5
    want = (_fd_grad(f, x + h) - _fd_grad(f, x - h)) / (2 * h)
    np.testing.assert_allclose(dualad.hessian(f, x), want, rtol=1e-5, atol=1e-8)


def test_max_along_axis_0_of_a_0d_input_closed_form():
    for mode in MODES:
        assert dualad.grad(lambda x: np.max(x, axis=0), np.array(0.7), mode=mode) == 1.0


# -- 2.4: inputs holding no numbers ----------------------------------------------------------


@pytest.mark.parametrize("mode", ["auto", *MODES])
def test_empty_inputs_give_empty_derivatives(mode):
    e = np.zeros(0)
    g = dualad.grad(lambda x: np.sum(x**2), e, mode=mode)
    assert g.shape == (0,)
    assert dualad.jacobian(lambda x: x**2, e, mode=mode).shape == (0, 0)
    assert dualad.jacobian(lambda x: x**2, np.zeros((2, 0)), mode=mode).shape == (2, 0, 2, 0)
    J = dualad.jacobian(lambda x: np.sum(x) + np.ones(2), e, mode=mode)
    assert J.shape == (2, 0)
    v, g = dualad.value_and_grad(lambda x: np.sum(x**2) + 1.0, e, mode=mode)
    assert v == 1.0 and g.shape == (0,)
    # an empty leaf beside a number: the number's derivative as usual
    g = dualad.grad(lambda p: np.sum(p[0] ** 2) + p[1] ** 3, (e, 2.0), mode=mode)
    assert g[0].shape == (0,) and g[1] == 12.0


def test_empty_hessian_and_check_grad():
    e = np.zeros(0)
    assert dualad.hessian(lambda x: np.sum(x**2), e).shape == (0, 0)
    H = dualad.hessian(lambda p: np.sum(p[0] ** 2) + p[1] ** 3, (e, 2.0))
    assert H[0][0].shape == (0, 0) and H[0][1].shape == (0,) and H[1][1] == 12.0
    with pytest.raises(ValueError, match="scalar"):
        dualad.hessian(lambda x: x**2, e)
    assert dualad.check_grad(lambda x: np.sum(x**2), e) == 0.0


# -- 2.5, small: linalg and take on Dask ------------------------------------------------------

M2 = np.array([[2.0, 0.3], [0.1, 1.5]])


@pytest.mark.parametrize("mode", MODES)
def test_det_and_inv_on_dask(mode):
    dm = da.from_array(M2, chunks=(2, 2))
    g = dualad.grad(np.linalg.det, dm, mode=mode)
    np.testing.assert_allclose(np.asarray(g), np.linalg.det(M2) * np.linalg.inv(M2).T, rtol=1e-14)
    f = lambda a: np.sum(np.linalg.inv(a) ** 2)
    g = dualad.grad(f, dm, mode=mode)
    np.testing.assert_allclose(np.asarray(g), _fd_grad(f, M2), rtol=1e-7)


@pytest.mark.parametrize("mode", MODES)
def test_take_on_dask(mode):
    idx = np.array([0, 2, 2])
    g = dualad.grad(lambda x: np.sum(np.take(x, idx, axis=0) ** 2), da.from_array(X3, 2), mode=mode)
    np.testing.assert_allclose(np.asarray(g), [0.2, 0.0, 1.2], rtol=1e-15)


# -- 2.6: prod on a device array (no branch on its values) -----------------------------------


@pytest.mark.parametrize(
    "a", [np.array([[0.2, 0.5], [0.3, 0.9]]), np.array([[0.2, 0.0], [0.3, 0.9]])]
)
@pytest.mark.parametrize("axis", [None, 0, -1])
@pytest.mark.parametrize("mode", MODES)
def test_prod_on_a_device_array(a, axis, mode):
    def f(x):
        return np.sum(np.prod(x, axis=axis) ** 2)

    g = dualad.grad(f, DeviceArray(a), mode=mode)
    assert isinstance(g, DeviceArray)
    np.testing.assert_allclose(g.get(), _fd_grad(f, a), rtol=1e-8, atol=1e-12)


# -- 1.5: choose_mode states what jacobian(mode="auto") does on a first call ---------------


@pytest.mark.parametrize("n", [3, 10, 64])
@pytest.mark.parametrize(
    "out", [lambda x: np.sum(np.sin(x)), lambda x: np.sin(x), lambda x: np.outer(x, x)[:2]]
)
def test_choose_mode_agrees_with_the_first_jacobian_call(n, out):
    def f(x):
        seen.append(type(x).__name__)
        return out(x)

    x = np.linspace(0.1, 1.0, n)
    seen = []
    said = dualad.choose_mode(f, x).mode
    seen.clear()
    J = dualad.jacobian(f, x)
    took = "reverse" if "Variable" in seen else "forward"
    assert took == said
    h = 1e-6
    cols = [(out(x + h * e) - out(x - h * e)) / (2 * h) for e in np.eye(n)]
    np.testing.assert_allclose(J, np.moveaxis(np.array(cols), 0, -1), rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize(
    "f, want",
    [
        (lambda x: np.sum(x * (1 + 2j)), lambda x: np.full(3, 1 + 2j)),
        (lambda x: np.sum(np.exp(1j * x) * x), lambda x: np.exp(1j * x) * (1 + 1j * x)),
        (lambda x: np.sum(x**2) * 1j, lambda x: 2j * x),
    ],
)
def test_reverse_jacobian_of_a_complex_scalar_of_real_inputs(f, want):
    # one complex output from a real array: reverse mode swept the real seed only and
    # returned the real part ([1, 1, 1] for 1 + 2j)
    x = np.array([0.3, -1.2, 2.0])
    for mode in ("forward", "reverse", "auto"):
        np.testing.assert_allclose(dualad.jacobian(f, x, mode=mode), want(x), rtol=1e-13)


# -- x.copy() on Dask: lazily, not through NumPy's np.copy (a silent compute) ----------------


@pytest.mark.parametrize("mode", MODES)
def test_copy_method_on_dask_stays_lazy(mode):
    x = np.array([1.0, 2.0, 3.0, 4.0])
    dx = da.from_array(x, chunks=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)  # Dask's warning before it computes
        y, t = dualad.jvp(lambda z: z.copy() * 2, dx, da.ones(4, chunks=2))
        g = dualad.grad(lambda z: np.sum(z.copy() ** 2), dx, mode=mode)
    assert isinstance(y, da.Array) and isinstance(t, da.Array) and isinstance(g, da.Array)
    np.testing.assert_allclose(t.compute(), 2.0)
    np.testing.assert_allclose(g.compute(), 2 * x)

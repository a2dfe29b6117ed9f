"""Interception (intercept=True, dualad.intercept(), dualad.config): code that converts its
input with np.asarray/np.array/... or math.* differentiates, in both modes and at order two;
plain inputs and other contexts keep NumPy's behaviour; lost derivatives stay errors."""

import contextlib
import math
import os
import subprocess
import sys
import threading
import types
from math import sin as imported_sin

import numpy as np
import pytest

import dualad
import tape
from dualad._intercept import ORIGINAL

MODES = ["forward", "reverse"]
X = np.array([0.7, 1.3])


def _grads(f, x=X):
    """The gradient of ``f`` at ``x`` in both modes (they must agree)."""
    g = [dualad.grad(f, x, mode=m, intercept=True) for m in MODES]
    np.testing.assert_allclose(g[0], g[1], rtol=1e-13, atol=1e-15)
    return g[0]


# -- np.asarray / np.array and friends ---------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_asarray_then_ops(mode):
    def f(x):
        a = np.asarray(x)
        return np.sum(np.sin(a) * a)

    g = dualad.grad(f, X, mode=mode, intercept=True)
    np.testing.assert_allclose(g, np.cos(X) * X + np.sin(X), rtol=1e-14)
    assert dualad.check_grad(f, X, mode=mode, intercept=True) < 1


@pytest.mark.parametrize("mode", MODES)
def test_array_of_a_list_of_expressions(mode):
    def f(x):
        return np.array([x[0] ** 2, x[1], 1.0])

    J = dualad.jacobian(f, X, mode=mode, intercept=True)
    np.testing.assert_allclose(J, [[2 * X[0], 0.0], [0.0, 1.0], [0.0, 0.0]], rtol=1e-15)
    assert dualad.check_grad(f, X, mode=mode, intercept=True) < 1


@pytest.mark.parametrize("mode", MODES)
def test_array_of_wrappers_with_float_dtype(mode):
    def f(x):
        rows = [x[0] * x[1], np.exp(x[1])]
        return np.array(rows, dtype=float) @ np.array([2.0, 3.0])

    g = dualad.grad(f, X, mode=mode, intercept=True)
    np.testing.assert_allclose(g, [2 * X[1], 2 * X[0] + 3 * np.exp(X[1])], rtol=1e-14)


@pytest.mark.parametrize("mode", MODES)
def test_nested_lists_become_a_matrix(mode):
    def f(x):
        m = np.array([[x[0], 1.0], (2.0, x[1] ** 3)])
        return np.linalg.det(m)  # x0 x1^3 - 2

    g = dualad.grad(f, X, mode=mode, intercept=True)
    np.testing.assert_allclose(g, [X[1] ** 3, 3 * X[0] * X[1] ** 2], rtol=1e-14)


@pytest.mark.parametrize("mode", MODES)
def test_rows_that_are_vectors(mode):
    x = np.array([0.3, -0.4, 1.1])
    J = dualad.jacobian(lambda x: np.array([x, 2 * x]), x, mode=mode, intercept=True)
    ref = np.stack([np.eye(3), 2 * np.eye(3)])
    np.testing.assert_array_equal(J, ref)


def test_asarray_returns_the_wrapper_and_array_copies():
    d = dualad.Dual(np.array([1.0, 2.0]), np.array([1.0, 0.0]))
    with dualad.intercept():
        assert np.asarray(d) is d
        assert np.asanyarray(d) is d
        assert np.asarray(d, dtype=np.float64) is d
        c = np.array(d)
        assert c is not d
        c[0] = 5.0  # a copy: the original keeps its value
        assert d.primal[0] == 1.0
        assert np.asarray(d, copy=True) is not d
        assert np.array(d, copy=False) is d
        with pytest.raises(ValueError, match="copy"):
            np.array([d[0], 1.0], copy=False)
        f32 = np.asarray(d, dtype=np.float32)
        assert f32.dtype == np.float32 and f32.tangent.dtype == np.float32
        assert np.array(d, ndmin=3).shape == (1, 1, 2)


@pytest.mark.parametrize("mode", MODES)
def test_array_copies_so_writes_stay_local(mode):
    def f(x):
        y = np.array(x)  # a copy, as NumPy's: writing into it leaves x alone
        y[0] = y[0] * 3
        return np.sum(y * x)

    x = np.array([1.0, 2.0, 3.0])
    g = dualad.grad(f, x, mode=mode, intercept=True)
    np.testing.assert_allclose(g, [6 * x[0], 2 * x[1], 2 * x[2]], rtol=1e-15)


def test_other_constructors():
    d = dualad.Dual(np.array(2.0), np.array(1.0))
    v = dualad.Dual(np.array([1.0, np.inf]), np.array([1.0, 1.0]))
    with dualad.intercept():
        assert np.ascontiguousarray(d).shape == (1,)  # as NumPy: ndim >= 1
        assert np.asfortranarray(d).shape == (1,)
        w = dualad.Dual(np.array([2.0, 3.0]), np.array([1.0, 0.0]))
        assert np.asarray_chkfinite(w) is w  # as NumPy: the array itself
        c = np.asarray_chkfinite(d)  # a 0-d value is a NumPy scalar: a new 0-d array
        assert c is not d and c.primal == 2.0 and c.tangent == 1.0
        with pytest.raises(ValueError, match="infs or NaNs"):
            np.asarray_chkfinite(v)
        assert np.require(v) is v
        assert np.require(v, requirements="O") is not v
        it = np.fromiter((d * k for k in range(3)), dtype=float)
        np.testing.assert_array_equal(it.tangent, [0.0, 1.0, 2.0])
        assert np.fromiter(iter([d, d, d]), float, count=2).shape == (2,)
        with pytest.raises(ValueError, match="too short"):
            np.fromiter(iter([d]), float, count=2)


@pytest.mark.parametrize("dtype", [int, np.int32, bool, object])
def test_narrowing_dtypes_raise(dtype):
    d = dualad.Dual(np.array([1.0, 2.0]), np.array([1.0, 0.0]))
    with dualad.intercept():
        with pytest.raises(TypeError, match="derivative"):
            np.asarray(d, dtype=dtype)
        with pytest.raises(TypeError, match="derivative"):
            np.array([d[0], 1.0], dtype=dtype)


# -- math -------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_math_sin_plus_exp(mode):
    g = dualad.grad(lambda x: math.sin(x[0]) + math.exp(x[1]), X, mode=mode, intercept=True)
    np.testing.assert_allclose(g, [np.cos(X[0]), np.exp(X[1])], rtol=1e-15)


def test_math_log_with_base_pow_hypot_atan2():
    np.testing.assert_allclose(
        _grads(lambda x: math.log(x[0], 3) + math.log(x[1])),
        [1 / (X[0] * np.log(3)), 1 / X[1]],
        rtol=1e-14,
    )
    np.testing.assert_allclose(
        _grads(lambda x: math.pow(x[0], x[1])),
        [X[1] * X[0] ** (X[1] - 1), X[0] ** X[1] * np.log(X[0])],
        rtol=1e-14,
    )
    r = np.hypot(*X)
    np.testing.assert_allclose(_grads(lambda x: math.hypot(x[0], x[1])), X / r, rtol=1e-14)
    np.testing.assert_allclose(
        _grads(lambda x: math.atan2(x[1], x[0])), [-X[1] / r**2, X[0] / r**2], rtol=1e-14
    )


def test_math_fsum_prod_dist():
    def f(x):
        return math.fsum([x[0], 1e16, x[1], -1e16])  # the value only fsum gets right

    v, g = dualad.value_and_grad(f, X, mode="forward", intercept=True)
    assert v == math.fsum([X[0], 1e16, X[1], -1e16])
    np.testing.assert_array_equal(g, [1.0, 1.0])
    np.testing.assert_array_equal(_grads(lambda x: math.fsum(x)), [1.0, 1.0])
    np.testing.assert_allclose(
        _grads(lambda x: math.prod([x[0], x[1], 3.0])), 3 * X[::-1], rtol=1e-15
    )
    q = (0.1, -0.2)
    r = math.dist(X, q)
    np.testing.assert_allclose(_grads(lambda x: math.dist(x, q)), (X - q) / r, rtol=1e-14)


@pytest.mark.parametrize("mode", MODES)
def test_math_floor_makes_a_piecewise_function(mode):
    def f(x):
        k = math.floor(x[0] * 3)  # 2 at x0 = 0.7: a constant
        return k * x[1] + math.ceil(x[1]) * x[0] + round(x[0])

    g = dualad.grad(f, X, mode=mode, intercept=True)
    np.testing.assert_array_equal(g, [2.0, 2.0])


UNARY = {
    "sin": 0.4, "cos": 0.4, "tan": 0.4, "asin": 0.4, "acos": 0.4, "atan": 0.4, "sinh": 0.4,
    "cosh": 0.4, "tanh": 0.4, "asinh": 0.4, "acosh": 1.4, "atanh": 0.4, "exp": 0.4,
    "expm1": 0.4, "log": 1.4, "log1p": 0.4, "log2": 1.4, "log10": 1.4, "sqrt": 1.4,
    "fabs": -0.4, "degrees": 0.4, "radians": 0.4, "cbrt": 1.4, "exp2": 0.4, "erf": 0.4,
    "erfc": 0.4, "gamma": 1.4, "lgamma": 1.4,
}  # fmt: skip


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", [n for n in UNARY if hasattr(math, n)])
def test_each_math_function_against_central_differences(name, mode):
    fn = getattr(math, name)
    x = np.array([UNARY[name], 0.5])
    assert dualad.check_grad(lambda x: fn(x[0]) * x[1], x, mode=mode, intercept=True) < 1


def test_math_binary_and_constant_functions():
    assert dualad.check_grad(lambda x: math.copysign(x[0], -1.0) * x[1], X, intercept=True) < 1
    assert dualad.check_grad(lambda x: math.fmod(x[1], x[0]), X, intercept=True) < 1

    def f(x):
        flags = (math.isnan(x[0]), math.isinf(x[1]), math.isfinite(x[0]))
        close = math.isclose(x[0], 0.7, rel_tol=1e-12)
        return x[0] * x[1] if flags == (False, False, True) and close else x[0]

    np.testing.assert_allclose(_grads(f), X[::-1], rtol=1e-15)


def test_math_domain_errors_are_maths_own():
    for fn, x in ((math.sqrt, -1.0), (math.log, 0.0), (math.acos, 2.0), (math.exp, 1e3)):
        with pytest.raises((ValueError, OverflowError)) as want:
            fn(x)
        for mode in MODES:
            with pytest.raises(type(want.value), match=str(want.value)):
                dualad.grad(lambda x, fn=fn: fn(x[0]), np.array([x, 0.0]), mode, intercept=True)


def test_hessians_through_math_and_array():
    def f(x):
        v = np.array([math.sin(x[0]) * x[1], x[0] ** 2])
        return np.sum(np.asarray(v) ** 2)

    x = np.array([0.4, -0.9, 0.0])[:2]
    H = dualad.hessian(f, x, intercept=True)
    s, c = np.sin(x[0]), np.cos(x[0])
    ref = np.array(
        [
            [2 * x[1] ** 2 * (c * c - s * s) + 12 * x[0] ** 2, 4 * s * c * x[1]],
            [4 * s * c * x[1], 2 * s * s],
        ]
    )
    np.testing.assert_allclose(H, ref, rtol=1e-13)
    for method in ("accumulate", "forward-over-reverse"):
        np.testing.assert_allclose(dualad.hessian(f, x, method, intercept=True), ref, rtol=1e-13)
    hv = dualad.hvp(f, x, np.array([1.0, 2.0]), intercept=True)
    np.testing.assert_allclose(hv, ref @ [1.0, 2.0], rtol=1e-13)


def test_every_api_function_takes_intercept():
    def f(x):
        return np.asarray(x) * math.exp(x[0])

    x, v = np.array([0.5, 2.0]), np.array([1.0, -1.0])
    e = np.exp(0.5)
    J = np.array([[e + 0.5 * e, 0.0], [2 * e, e]])
    np.testing.assert_allclose(dualad.jvp(f, x, v, intercept=True)[1], J @ v, rtol=1e-14)
    np.testing.assert_allclose(dualad.vjp(f, x, v, intercept=True)[1], v @ J, rtol=1e-14)
    for mode in MODES:
        np.testing.assert_allclose(dualad.jacobian(f, x, mode, intercept=True), J, rtol=1e-14)
    d = dualad.derivative(lambda x: math.sin(np.asarray(x)), np.array(0.3), intercept=True)
    np.testing.assert_allclose(d, np.cos(0.3), rtol=1e-15)
    val, g = dualad.value_and_grad(lambda x: np.sum(f(x)), x, intercept=True)
    np.testing.assert_allclose(val, np.sum(f(x)), rtol=1e-15)
    np.testing.assert_allclose(g, J.sum(axis=0), rtol=1e-14)
    assert dualad.check_grad(f, x, mode="reverse", intercept=True) < 1


def test_context_manager_with_hand_built_duals_and_tapes():
    d = dualad.Dual(np.array([0.5, 2.0]), np.array([1.0, 0.0]))
    with dualad.intercept():
        y = math.exp(np.asarray(d)[0]) * np.array([d[1], 1.0])
    np.testing.assert_allclose(y.tangent, [np.exp(0.5) * 2.0, np.exp(0.5)], rtol=1e-15)

    with tape.Tape() as t, dualad.intercept():
        x = t.watch(np.array([0.5, 2.0]))
        y = math.sin(x[0]) * np.sum(np.array([x[1], 3.0]))
    np.testing.assert_allclose(t.gradient(y, x), [np.cos(0.5) * 5.0, np.sin(0.5)], rtol=1e-15)

    v = tape.Variable(np.array([0.5, 2.0]), requires_grad=True)
    with dualad.intercept():
        y = math.hypot(v[0], v[1])
    y.backward()
    np.testing.assert_allclose(v.grad, v.value / np.hypot(0.5, 2.0), rtol=1e-15)


def test_from_imports_rebinds_names_in_the_calling_module():
    d = dualad.Dual(np.array(0.3), np.array(1.0))
    with dualad.intercept(from_imports=True):
        y = imported_sin(d)  # `from math import sin`: rebound to the wrapper
    np.testing.assert_allclose(y.tangent, np.cos(0.3), rtol=1e-15)
    assert imported_sin(0.3) == ORIGINAL["math.sin"](0.3)  # plain floats: untouched


def test_from_imports_rebinds_names_in_a_library_module():
    # a library that ran `from math import exp, sqrt` before interception was first used
    # (one imported later binds the installed wrappers already)
    lib = types.ModuleType("lib")
    lib.exp, lib.sqrt = ORIGINAL["math.exp"], ORIGINAL["math.sqrt"]
    lib.f = types.FunctionType((lambda x: exp(x[0]) * sqrt(x[1])).__code__, vars(lib))  # noqa: F821
    with pytest.raises(TypeError, match="intercept"):
        dualad.grad(lib.f, X, intercept=True)
    with dualad.intercept(from_imports=lib):
        pass
    ref = [np.exp(X[0]) * np.sqrt(X[1]), np.exp(X[0]) / (2 * np.sqrt(X[1]))]
    np.testing.assert_allclose(_grads(lib.f), ref, rtol=1e-14)


# -- what stays as it was -----------------------------------------------------------------------


def test_plain_inputs_reach_numpy_untouched():
    a = np.arange(3.0)
    with dualad.intercept():
        assert np.asarray(a) is ORIGINAL["numpy.asarray"](a) is a
        b = np.array([[1, 2], [3, 4]], dtype=np.int8)
        assert b.dtype == np.int8 and type(b) is np.ndarray
        np.testing.assert_array_equal(np.fromiter(range(3), dtype=float), [0.0, 1.0, 2.0])
        assert math.sin(0.5) == ORIGINAL["math.sin"](0.5)
        assert math.fsum([0.1] * 10) == 1.0
        with pytest.raises(ValueError, match="math domain error"):
            math.sqrt(-1.0)


def test_off_by_default_with_a_message_naming_intercept():
    d = dualad.Dual(np.array([1.0, 2.0]), np.array([1.0, 0.0]))
    with pytest.raises(TypeError, match="intercept=True"):
        np.asarray(d)
    with pytest.raises(TypeError, match="intercept=True"):
        math.sin(d[0])
    with pytest.raises(TypeError, match="intercept=True"):
        dualad.grad(lambda x: np.sum(np.asarray(x)), X)
    with pytest.raises(TypeError, match="intercept=True"):
        dualad.grad(lambda x: math.sin(x[0]), X, mode="reverse")


def test_float_int_item_stay_errors_under_interception():
    d = dualad.Dual(np.array(1.5), np.array(1.0))
    v = tape.Variable(np.array([1.5]), requires_grad=True)
    with dualad.intercept():
        for conv in (float, int, complex, lambda w: w.item(), lambda w: w.tolist()):
            with pytest.raises(TypeError, match="derivative"):
                conv(d)
            with pytest.raises(TypeError, match="derivative"):
                conv(v)


def test_interception_is_per_context():
    d = dualad.Dual(np.array([1.0, 2.0]), np.array([1.0, 0.0]))
    seen = []

    def other_thread():
        try:
            np.asarray(d)
        except TypeError as e:
            seen.append(e)

    with dualad.intercept():
        t = threading.Thread(target=other_thread)
        t.start()
        t.join()
        assert np.asarray(d) is d
        with dualad.intercept(False), pytest.raises(TypeError):
            np.asarray(d)
    assert len(seen) == 1
    with pytest.raises(TypeError):
        np.asarray(d)


def test_process_wide_switch():
    d = dualad.Dual(np.array([1.0, 2.0]), np.array([1.0, 0.0]))
    assert dualad.config.intercept is False
    try:
        dualad.config.intercept = True
        assert np.asarray(d) is d
        with dualad.intercept(False), pytest.raises(TypeError):
            np.asarray(d)
    finally:
        dualad.config.intercept = False
    with pytest.raises(TypeError):
        np.asarray(d)


def test_environment_variable_switches_it_on():
    code = (
        "import math, numpy as np, dualad; "
        "print(dualad.config.intercept, dualad.grad(lambda x: math.exp(x[0]), np.zeros(1)))"
    )
    env = {**os.environ, "DUALAD_INTERCEPT": "1"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "[1.]"]


def test_writing_into_a_plain_array_made_outside_the_call_still_raises():
    outside = np.zeros(2)  # made before interception: a plain array, it cannot be promoted

    def f(x):
        out = outside.copy()
        out[:] = x**2
        return out

    with pytest.raises(TypeError, match="zeros_like"):
        dualad.jacobian(f, X, intercept=True)


# -- SciPy (the SciPy issue widens this) --------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_scipy_functions_that_convert_their_input(mode):
    pytest.importorskip("scipy")
    import scipy.optimize
    import scipy.special

    x = np.array([0.3, -1.2, 0.8])
    g = dualad.grad(scipy.optimize.rosen, x, mode=mode, intercept=True)
    np.testing.assert_allclose(g, scipy.optimize.rosen_der(x), rtol=1e-13)
    J = dualad.jacobian(scipy.special.softmax, x, mode=mode, intercept=True)
    s = scipy.special.softmax(x)
    np.testing.assert_allclose(J, np.diag(s) - np.outer(s, s), rtol=1e-13, atol=1e-16)


@pytest.mark.parametrize("mode", MODES)
def test_scipy_functions_not_reached_yet_raise(mode):
    # logsumexp writes through array_api_extra.at, and scipy.stats binds `from numpy import
    # asarray`: neither is differentiated yet, and neither may answer silently wrong
    pytest.importorskip("scipy")
    import scipy.special
    import scipy.stats

    x = np.array([0.3, -1.2, 0.8])
    for f, ref in (
        (scipy.special.logsumexp, scipy.special.softmax(x)),
        (lambda x: np.sum(scipy.stats.norm.logpdf(x)), -x),
    ):
        try:
            g = dualad.grad(f, x, mode=mode, intercept=True)
        except (TypeError, ValueError, NotImplementedError):
            continue
        np.testing.assert_allclose(g, ref, rtol=1e-12)


def test_a_name_imported_from_math_gets_an_error_that_names_from_imports():
    from dualad._intercept import ORIGINAL

    sin_by_name = ORIGINAL["math.sin"]  # as `from math import sin` binds it before install

    def f(x):
        return sin_by_name(x[0])

    for mode in MODES:
        with pytest.raises(TypeError, match="from_imports=sys.modules"):
            dualad.grad(f, X, mode=mode, intercept=True)


def _buffer_program(x):
    out = np.zeros(2)  # a plain buffer the traced values are written into
    out[0] = x[0] ** 2
    return np.sum(out * x) + math.sin(x[1])


def _buffer_program_grad(x):
    return np.array([3 * x[0] ** 2, math.cos(x[1])])


@pytest.mark.parametrize("how", ["config", "context"])
def test_buffers_promote_under_the_switch_and_the_context_through_every_transform(how):
    # the API's transforms call f: code below them is the user's, so np.zeros there is a
    # promotable buffer (this once returned a plain array and the write raised ValueError)
    x = np.array([0.7, 1.3])
    want = _buffer_program_grad(x)
    if how == "config":
        dualad.config.intercept = True
    ctx = dualad.intercept() if how == "context" else contextlib.nullcontext()
    try:
        with ctx:
            for mode in ("forward", "reverse", "auto"):
                np.testing.assert_allclose(dualad.grad(_buffer_program, x, mode=mode), want)
            np.testing.assert_allclose(dualad.jvp(_buffer_program, x, np.ones(2))[1], want.sum())
            H = dualad.hessian(_buffer_program, x)
            np.testing.assert_allclose(H, [[6 * x[0], 0.0], [0.0, -math.sin(x[1])]], atol=1e-12)
    finally:
        dualad.config.intercept = False


def test_numpys_originals_still_pickle_after_interception_installs():
    # Dask's distributed scheduler pickles task graphs holding np.sum, np.asarray, ...: the
    # dormant wrappers that replace the module attributes must not make those unpicklable
    import pickle

    from dualad._intercept import ORIGINAL

    with dualad.intercept():
        pass
    originals = [ORIGINAL[f"numpy.{n}"] for n in ("sum", "asarray", "array")]
    assert np.sum is not originals[0]  # the wrapper is installed
    for f in [*originals, np.mean]:
        assert pickle.loads(pickle.dumps(f)) is f
    assert pickle.loads(pickle.dumps(len)) is len


# -- np.vectorize: the scalar function runs on 0-d wrappers, element by element ------------


def _scal(t, c=2.0):
    if t > 0.5:  # a Python branch per element
        return math.sin(t) * c
    return t**2 + 1.0


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_vectorize_under_interception(mode):
    vf = np.vectorize(_scal)  # made before the transform, as module-level code does

    def f(x):
        s, c = np.vectorize(lambda t: (math.sin(t), t * t))(x)  # two outputs
        pair = np.vectorize(lambda a, b: a * b)(x, x[::-1])
        kept = np.vectorize(_scal, excluded={"c"})(x.reshape(3, 1) * x, c=3.0)
        return np.sum(vf(x) * np.arange(1.0, 4.0)) + np.sum(pair) + np.sum(s * c) + np.sum(kept)

    x = np.array([0.3, 0.9, 1.4])
    h = 1e-6
    ref = np.array([(f(x + e) - f(x - e)) / (2 * h) for e in np.eye(3) * h])
    np.testing.assert_allclose(dualad.grad(f, x, mode=mode, intercept=True), ref, rtol=1e-7)
    with pytest.raises(TypeError):  # without interception NumPy converts x: an error
        dualad.grad(f, x, mode=mode)
    assert type(vf(x)) is np.ndarray  # plain inputs: NumPy's own vectorize

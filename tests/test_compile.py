"""dualad.compile: compiled value and derivatives against the uncompiled API and against
central differences; guards that flip; fallbacks; cache; threads; bad input."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

import dualad
from dualad._compile.graph import NUMBA_UFUNCS
from dualad.rules import RULES

numba = pytest.importorskip("numba")

BACKENDS = ["numba", "numpy"]


@pytest.fixture(scope="module")
def cdir(tmp_path_factory):
    return tmp_path_factory.mktemp("dualad_compiled")


def central(f, x, h=1e-6):
    """Central differences: ``f(x).shape + x.shape``."""
    x = np.asarray(x, dtype=float)
    g = np.zeros(np.shape(f(x)) + x.shape)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = h
        g[(Ellipsis, *i)] = (f(x + e) - f(x - e)) / (2 * h)
    return g


def seed(x):
    x1, x2 = x[0], x[1]
    a = x1 / x2
    e = np.exp(x2)
    return (np.sin(a) + a - e) * (a - e)


def rosenbrock(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


def chain(x):
    return np.sin(x) * np.exp(-(x**2)) + np.log1p(x**2) + np.sqrt(1 + x**2)


# -- the seed program through every method ----------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_seed_program_every_method(backend, cdir):
    x = np.array([1.5, 0.5])
    cf = dualad.compile(seed, x, backend=backend, cache_dir=cdir)
    y, g = cf.value_and_grad(x)
    assert y == pytest.approx(2.0166466694282015, rel=1e-14)
    np.testing.assert_allclose(g, [3.0118433276739069, -13.723961509314076], rtol=1e-13)
    np.testing.assert_allclose(cf.grad(x), central(seed, x), rtol=1e-7)
    z = np.array([0.7, 1.9])
    np.testing.assert_allclose(cf(z), seed(z), rtol=1e-15)
    np.testing.assert_allclose(cf.grad(z), dualad.grad(seed, z), rtol=1e-13)
    np.testing.assert_allclose(cf.hessian(z), dualad.hessian(seed, z), rtol=1e-12)
    v = np.array([0.3, -1.1])
    np.testing.assert_allclose(cf.hvp(z, v), dualad.hvp(seed, z, v), rtol=1e-12)
    np.testing.assert_allclose(cf.jvp(z, v)[1], dualad.jvp(seed, z, v)[1], rtol=1e-13)
    np.testing.assert_allclose(cf.vjp(z, 2.0)[1], 2 * dualad.grad(seed, z), rtol=1e-13)
    np.testing.assert_allclose(cf.jacobian(z), dualad.jacobian(seed, z), rtol=1e-13)


@pytest.mark.parametrize("backend", BACKENDS)
def test_pytrees_match_the_uncompiled_layouts(backend, cdir):
    def f(p):
        return p["a"] * np.sin(p["b"]) + np.sum(p["w"] ** 2) * p["a"]

    p = {"a": 1.5, "b": 0.5, "w": np.array([0.1, -0.4, 2.0])}
    cf = dualad.compile(f, p, backend=backend, cache_dir=cdir)
    y, g = cf.value_and_grad(p)
    y0, g0 = dualad.value_and_grad(f, p)
    assert y == pytest.approx(y0, rel=1e-14)
    for k in p:
        np.testing.assert_allclose(g[k], g0[k], rtol=1e-13)
        assert np.shape(g[k]) == np.shape(g0[k])
    H, H0 = cf.hessian(p), dualad.hessian(f, p)
    for i in p:
        for j in p:
            np.testing.assert_allclose(H[i][j], H0[i][j], rtol=1e-12, atol=1e-14)

    def two(t):
        a, b = t
        return (a * b, np.sin(a) + b**2)

    ct = dualad.compile(two, (1.5, 0.5), backend=backend, cache_dir=cdir)
    J, J0 = ct.jacobian((0.2, 0.9)), dualad.jacobian(two, (0.2, 0.9))
    for i in range(2):
        for j in range(2):
            np.testing.assert_allclose(J[i][j], J0[i][j], rtol=1e-13)


# -- the rule table ---------------------------------------------------------------------------

_POINT = {np.arccosh: 1.7, np.arcsin: 0.4, np.arccos: 0.4, np.arctanh: 0.4, np.log: 0.8,
          np.log2: 0.8, np.log10: 0.8, np.sqrt: 0.8, np.reciprocal: 0.8, np.cbrt: 0.8}  # fmt: skip


def _unary():
    out = []
    for f, r in RULES.items():
        if isinstance(f, np.ufunc) and f.nin == 1 and f.nout == 1 and r.partials is not None:
            if (
                all(p is None for p in r.partials)
                or f.types[0][0] in "?bB"
                or "f->f" not in [t for t in f.types]
            ):
                continue
            out.append(f)
    return out


UNARY = _unary()
COMPILABLE_UNARY = [f for f in UNARY if f in NUMBA_UFUNCS]


def test_most_elementwise_rules_have_a_numba_form():
    names = sorted(f.__name__ for f in COMPILABLE_UNARY)
    assert {"sin", "exp", "log1p", "sqrt", "tanh", "arcsinh", "cbrt"} <= set(names)
    assert len(COMPILABLE_UNARY) >= 25


def _table_program(funcs):
    funcs = [
        f for f in funcs
        if np.all(np.isfinite(f(_POINT.get(f, 0.3) * np.array([0.99, 1.01, 1.02]))))
    ]  # fmt: skip
    pts = np.array([_POINT.get(f, 0.3) for f in funcs])

    def f(x):
        total = 0.0
        for k, u in enumerate(funcs):
            total = total + (k + 1) * u(x[k])
        return total

    return f, pts


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_compilable_unary_rule_first_and_second_order(backend, cdir):
    funcs = COMPILABLE_UNARY if backend == "numba" else [f for f in UNARY if f.__name__ != "rint"]
    f, x = _table_program(funcs)
    cf = dualad.compile(f, x, backend=backend, cache_dir=cdir)
    if backend == "numba":
        assert "compiled with Numba" in cf.report(), cf.report()
    x2 = x * 1.01
    g = cf.grad(x2)
    np.testing.assert_allclose(g, dualad.grad(f, x2), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(g, central(f, x2), rtol=1e-5, atol=1e-5)
    H = cf.hessian(x2)
    np.testing.assert_allclose(H, dualad.hessian(f, x2), rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(H, central(cf.grad, x2), rtol=1e-5, atol=1e-5)


BINARY = [np.add, np.subtract, np.multiply, np.divide, np.power, np.arctan2, np.hypot,
          np.logaddexp, np.logaddexp2, np.maximum, np.minimum, np.fmax, np.fmin, np.copysign]  # fmt: skip


@pytest.mark.parametrize("backend", BACKENDS)
def test_binary_rules(backend, cdir):
    a = np.array([0.7, 1.3, 0.4, 2.1, 1.1, 0.9, 1.6, 0.3, 0.8, 1.2, 0.5, 0.6, 1.4, 0.2])
    b = np.array([1.9, 0.6, 1.2, 0.5, 0.3, 1.7, 0.4, 1.5, 1.1, 0.2, 0.9, 1.3, 0.7, 1.8])

    def f(x):
        n = len(BINARY)
        return np.sum(np.stack([u(x[k], x[n + k]) * (k + 1) for k, u in enumerate(BINARY)]))

    x = np.concatenate([a, b])
    cf = dualad.compile(f, x, backend=backend, cache_dir=cdir)
    z = x * 1.02
    np.testing.assert_allclose(cf.grad(z), dualad.grad(f, z), rtol=1e-12)
    np.testing.assert_allclose(cf.grad(z), central(f, z), rtol=1e-6)
    np.testing.assert_allclose(cf.hessian(z), dualad.hessian(f, z), rtol=1e-11, atol=1e-12)


# -- array programs ---------------------------------------------------------------------------


ARRAY_PROGRAMS = {
    "chain-sum": lambda x: np.sum(chain(x)),
    "rosenbrock": rosenbrock,
    "norm": lambda x: np.sqrt(np.sum(x * x)) + np.mean(x),
    "variance": lambda x: np.sum((x - np.mean(x)) ** 2) / x.size,
    "where": lambda x: np.sum(np.where(x > 0.2, np.sin(x), x**3)),
    "max": lambda x: np.sum(np.maximum(x, 0.1) * np.cos(x)),
    "dot": lambda x: np.dot(x, np.tanh(x)) * x[0] + x[-1],
    "stencil": lambda x: np.sum((x[2:] - 2 * x[1:-1] + x[:-2]) ** 2 + np.exp(-x[1:-1])),
    "const-array": lambda x: np.sum(np.linspace(0.0, 1.0, 7) * x**2),
    "matrix": lambda x: np.sum(np.sin(x.reshape(7, 1) * np.ones((1, 7)))),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", sorted(ARRAY_PROGRAMS))
def test_array_programs(name, backend, cdir):
    f = ARRAY_PROGRAMS[name]
    x = np.linspace(-0.6, 1.3, 7)
    cf = dualad.compile(f, x, backend=backend, cache_dir=cdir)
    rng = np.random.default_rng(abs(hash(name)) % 1000)
    for z in (x, rng.uniform(-1, 1.5, 7)):
        np.testing.assert_allclose(cf(z), f(z), rtol=1e-13)
        np.testing.assert_allclose(cf.grad(z), dualad.grad(f, z), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(cf.grad(z), central(f, z), rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(cf.hessian(z), dualad.hessian(f, z), rtol=1e-10, atol=1e-11)
        v = rng.normal(size=7)
        np.testing.assert_allclose(cf.hvp(z, v), dualad.hvp(f, z, v), rtol=1e-10, atol=1e-11)
        np.testing.assert_allclose(cf.jvp(z, v)[1], dualad.jvp(f, z, v)[1], rtol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_vector_outputs_jvp_vjp_jacobian(backend, cdir):
    x = np.linspace(-1.0, 2.0, 6)
    cf = dualad.compile(chain, x, backend=backend, cache_dir=cdir)
    z = x[::-1] * 0.9
    v = np.arange(6.0)
    y, t = cf.jvp(z, v)
    y0, t0 = dualad.jvp(chain, z, v)
    np.testing.assert_allclose(y, y0, rtol=1e-14)
    np.testing.assert_allclose(t, t0, rtol=1e-13)
    np.testing.assert_allclose(cf.vjp(z, v)[1], dualad.vjp(chain, z, v)[1], rtol=1e-13)
    np.testing.assert_allclose(cf.jacobian(z), dualad.jacobian(chain, z), rtol=1e-13)
    with pytest.raises(ValueError, match="scalar"):
        cf.grad(z)


def test_large_chain_is_one_fused_loop(cdir):
    x = np.linspace(-2, 2, 10**5)
    cf = dualad.compile(chain, x, cache_dir=cdir)
    v = np.cos(x)
    y, t = cf.jvp(x, v)
    y0, t0 = dualad.jvp(chain, x, v)
    np.testing.assert_allclose(y, y0, rtol=1e-13)
    np.testing.assert_allclose(t, t0, rtol=1e-12, atol=1e-15)
    g = dualad.compile(lambda z: np.sum(chain(z)), x, cache_dir=cdir).grad(x)
    np.testing.assert_allclose(
        g, dualad.grad(lambda z: np.sum(chain(z)), x), rtol=1e-12, atol=1e-15
    )


def test_scalar_loop_and_float_input(cdir):
    def loop(x):
        y = x
        for _ in range(300):
            y = y * 0.999 + x
        return y

    cf = dualad.compile(loop, 0.5, cache_dir=cdir)
    assert cf.grad(0.7) == pytest.approx(dualad.grad(loop, 0.7, mode="reverse"), rel=1e-13)
    assert cf(0.7) == pytest.approx(loop(0.7), rel=1e-14)
    assert cf.records == 1


# -- control flow: guards ---------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_flipped_branch_records_again_and_follows_it(backend, cdir):
    def f(x):
        if np.sum(x) > 0:
            return np.sum(np.sin(x))
        return np.sum(x**3)

    cf = dualad.compile(f, np.ones(3), backend=backend, cache_dir=cdir)
    neg = -np.array([0.5, 1.0, 2.0])
    np.testing.assert_allclose(cf.grad(neg), 3 * neg**2, rtol=1e-14)
    assert cf.records == 2
    np.testing.assert_allclose(cf.grad(-neg), np.cos(-neg), rtol=1e-14)
    np.testing.assert_allclose(cf.grad(neg), 3 * neg**2, rtol=1e-14)
    assert cf.records == 2  # both variants kept


@pytest.mark.parametrize("backend", BACKENDS)
def test_while_loop_count_and_computed_index_are_guarded(backend, cdir):
    def newton_sqrt(a):  # iterates until converged: the count depends on a
        y = a
        while np.abs(y * y - a) > 1e-12:
            y = 0.5 * (y + a / y)
        return y

    cf = dualad.compile(newton_sqrt, 2.0, backend=backend, cache_dir=cdir)
    for a in (2.0, 9.0, 1e4, 0.3):
        assert cf.grad(a) == pytest.approx(0.5 / math.sqrt(a), rel=1e-9)

    def pick(x):
        return x[int(np.argmax(x))] ** 2 + x[0]

    cp = dualad.compile(pick, np.array([1.0, 3.0, 2.0]), backend=backend, cache_dir=cdir)
    np.testing.assert_allclose(cp.grad(np.array([5.0, 3.0, 2.0])), [11.0, 0, 0])
    np.testing.assert_allclose(cp.grad(np.array([1.0, 3.0, 4.0])), [1.0, 0, 8.0])


@pytest.mark.parametrize("backend", BACKENDS)
def test_np_where_stays_data_dependent_without_records(backend, cdir):
    f = ARRAY_PROGRAMS["where"]
    cf = dualad.compile(f, np.ones(5), backend=backend, cache_dir=cdir)
    z = np.array([-1.0, 0.1, 0.3, 2.0, -0.2])
    np.testing.assert_allclose(cf.grad(z), np.where(z > 0.2, np.cos(z), 3 * z**2))
    assert cf.records == 1


def _random_program(rng):
    """A random composition of table functions with a data-dependent branch."""
    unary = [np.sin, np.cos, np.tanh, np.exp, np.arctan, lambda v: v * v, np.sinh]
    ops = [rng.integers(len(unary)) for _ in range(4)]
    thr = rng.uniform(-0.5, 0.5)

    def f(x):
        y = x
        for k in ops:
            y = unary[k](y) * 0.7 + x[::-1] * 0.1
        if np.sum(y) > thr:
            return np.sum(y * x) + np.max(x)
        return np.sum(np.sin(y)) * x[0]

    return f


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("k", range(6))
def test_random_programs_with_branches(k, backend, cdir):
    rng = np.random.default_rng(100 + k)
    f = _random_program(rng)
    cf = dualad.compile(f, rng.uniform(-1, 1, 4), backend=backend, cache_dir=cdir)
    for _ in range(5):
        z = rng.uniform(-1.5, 1.5, 4)
        np.testing.assert_allclose(cf(z), f(z), rtol=1e-13)
        np.testing.assert_allclose(cf.grad(z), dualad.grad(f, z), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(cf.hessian(z), dualad.hessian(f, z), rtol=1e-10, atol=1e-12)


# -- fallbacks, reports, bad input ------------------------------------------------------------


def test_steps_without_a_numba_form_run_in_numpy_between_compiled_stages(cdir):
    W = np.arange(12.0).reshape(3, 4) / 10
    b = np.array([0.1, -0.2, 0.3])

    def f(x):
        h = np.tanh(W @ np.sin(x) + b)
        return np.sum(h**2) + np.sum(x**3) + np.sum(W.T @ h * x)

    cf = dualad.compile(f, np.ones(4), cache_dir=cdir)
    rep = cf.report()
    assert "in 3 stages" in rep and "step matmul runs in NumPy between stages" in rep, rep
    rng = np.random.default_rng(3)
    for _ in range(3):
        z = rng.uniform(-1, 1, 4)
        np.testing.assert_allclose(cf(z), f(z), rtol=1e-14)
        np.testing.assert_allclose(cf.grad(z), dualad.grad(f, z), rtol=1e-13)
        np.testing.assert_allclose(cf.grad(z), central(f, z), rtol=1e-6)
        v = rng.normal(size=4)
        np.testing.assert_allclose(cf.jvp(z, v)[1], dualad.jvp(f, z, v)[1], rtol=1e-13)
        np.testing.assert_allclose(cf.hessian(z), dualad.hessian(f, z), rtol=1e-12)
    assert "hvp runs on the NumPy replay" in cf.report()

    def g(x):  # a vector output; a step reading the input as it is
        return np.tanh(W.T @ np.exp(W @ x)) * x

    cg = dualad.compile(g, np.ones(4), cache_dir=cdir)
    z = rng.uniform(-1, 1, 4)
    np.testing.assert_allclose(cg.jacobian(z), dualad.jacobian(g, z), rtol=1e-12, atol=1e-15)
    u = rng.normal(size=4)
    np.testing.assert_allclose(cg.vjp(z, u)[1], dualad.vjp(g, z, u)[1], rtol=1e-13)
    assert "step matmul" in cg.report()


def test_a_two_layer_network_in_stages(cdir):
    rng = np.random.default_rng(0)
    W1, W2 = rng.normal(size=(8, 5)) / 3, rng.normal(size=(1, 8)) / 3
    X, y = rng.normal(size=(5, 30)), rng.normal(size=30)

    def loss(p):
        h = np.tanh(p["W1"] @ X + 0.1)
        return np.mean((p["W2"] @ h - y) ** 2)

    p = {"W1": W1, "W2": W2}
    cf = dualad.compile(loss, p, cache_dir=cdir)
    assert "stages" in cf.report()
    g, g0 = cf.grad(p), dualad.grad(loss, p)
    for k in p:
        np.testing.assert_allclose(g[k], g0[k], rtol=1e-12, atol=1e-15)


def test_float32_runs_on_the_replay_in_float32(cdir):
    x = np.ones(3, dtype=np.float32)
    cf = dualad.compile(lambda z: np.sum(np.sin(z)), x, cache_dir=cdir)
    assert "only float64 compiles" in cf.report()
    g = cf.grad(x)
    assert g.dtype == np.float32
    np.testing.assert_allclose(g, np.cos(x), rtol=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_new_shape_or_structure_is_a_new_variant(backend, cdir):
    f = lambda x: np.sum(np.sin(x) * x)
    cf = dualad.compile(f, np.ones(3), backend=backend, cache_dir=cdir)
    z = np.linspace(0, 1, 5)
    np.testing.assert_allclose(cf.grad(z), np.sin(z) + z * np.cos(z), rtol=1e-14)
    np.testing.assert_allclose(cf.grad(z[::2]), dualad.grad(f, z[::2]), rtol=1e-14)
    assert cf.records == 2
    assert cf.grad(np.array([1, 2, 3])).dtype == np.float64  # ints differentiate as float64
    with pytest.raises(ValueError, match="shape"):
        cf.jvp(z, np.ones(4))


def test_errors_say_what_to_do(cdir, monkeypatch):
    with pytest.raises(ValueError, match="backend"):
        dualad.compile(np.sin, np.ones(2), backend="jax")
    cf = dualad.compile(np.sin, np.ones(2), backend="numpy")
    with pytest.raises(ValueError, match="scalar"):
        cf.hessian(np.ones(2))
    with pytest.raises(TypeError, match="float"):
        dualad.compile(lambda x: float(x[0]), np.ones(2), backend="numpy")
    monkeypatch.setitem(sys.modules, "numba", None)
    with pytest.raises(ImportError, match=r"pip install dualad\[numba\]"):
        dualad.compile(np.sin, np.ones(2))


def test_one_compiled_function_from_many_threads(tmp_path):
    cf = dualad.compile(rosenbrock, np.ones(6), cache_dir=tmp_path)  # nothing compiled yet
    rng = np.random.default_rng(7)
    points = [rng.uniform(-1, 1, 6) for _ in range(16)]
    want = [dualad.grad(rosenbrock, p) for p in points]
    errors = []

    def work(k):
        try:
            for _ in range(30):
                for p, w in zip(points[k::4], want[k::4]):
                    if not np.allclose(cf.grad(p), w, rtol=1e-12):
                        errors.append(k)
                np.testing.assert_allclose(cf.hessian(points[k]), dualad.hessian(
                    rosenbrock, points[k]), rtol=1e-12)  # fmt: skip
        except Exception as e:  # noqa: BLE001 (reported below)
            errors.append(repr(e))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_a_second_process_loads_the_compiled_code_from_the_cache(tmp_path):
    script = textwrap.dedent(f"""
        import time, numpy as np, dualad
        t0 = time.perf_counter()
        cf = dualad.compile(lambda x: np.sum(np.sin(x) ** 2 * x), np.ones(4),
                            cache_dir={str(tmp_path)!r})
        g = cf.grad(np.arange(4.0))
        print(time.perf_counter() - t0, g[1])
    """)
    first = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                           check=True)  # fmt: skip
    files = sorted(p.name for p in tmp_path.iterdir())
    second = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            check=True)  # fmt: skip
    assert sorted(p.name for p in tmp_path.iterdir()) == files  # nothing new written
    assert any(p.suffix == ".nbi" for p in (tmp_path / "__pycache__").iterdir())
    g1 = float(first.stdout.split()[1])
    assert g1 == float(second.stdout.split()[1])
    assert g1 == pytest.approx(np.sin(1.0) ** 2 + 2 * np.sin(1.0) * np.cos(1.0), rel=1e-14)


def test_minimize_with_compiled_derivatives(cdir):
    from scipy.optimize import minimize, rosen, rosen_der, rosen_hess

    cf = dualad.compile(rosenbrock, np.zeros(20), cache_dir=cdir)
    res = minimize(cf, np.zeros(20), jac=cf.grad, hess=cf.hessian, method="trust-exact")
    ref = minimize(rosen, np.zeros(20), jac=rosen_der, hess=rosen_hess, method="trust-exact")
    assert res.success and res.nit == ref.nit
    np.testing.assert_allclose(res.x, ref.x, rtol=1e-9)
    np.testing.assert_allclose(res.x, np.ones(20), atol=1e-4)


def test_the_same_program_compiled_twice_shares_its_kernels(cdir):
    a = dualad.compile(rosenbrock, np.ones(5), cache_dir=cdir)
    b = dualad.compile(rosenbrock, np.ones(5), cache_dir=cdir)
    z = np.linspace(0, 1, 5)
    np.testing.assert_allclose(a.grad(z), b.grad(z))
    np.testing.assert_allclose(a.hessian(z), b.hessian(z))
    assert "NumPy replay" not in a.report() + b.report()


@pytest.mark.parametrize("backend", BACKENDS)
def test_constant_and_stacked_outputs(backend, cdir):
    def f(x):
        return np.stack([x[0] * x[1], np.sin(x[1])]), 3.0, x**2

    x = np.array([0.4, 1.3])
    cf = dualad.compile(f, x, backend=backend, cache_dir=cdir)
    J, J0 = cf.jacobian(x), dualad.jacobian(f, x)
    for a, b in zip(J, J0):
        np.testing.assert_allclose(a, b, rtol=1e-14)
    (_, c, _), (_, tc, t2) = cf.jvp(x, np.ones(2))
    assert c == 3.0 and np.all(tc == 0)
    np.testing.assert_allclose(t2, 2 * x)


@pytest.mark.parametrize("backend", BACKENDS)
def test_complex_steps_replay_in_numpy(backend, cdir):
    def f(x):
        return np.sum(np.abs(np.fft.fft(x)) ** 2) + np.sum(np.abs(np.exp(1j * x) * x))

    cf = dualad.compile(f, np.ones(4), backend=backend, cache_dir=cdir)
    z = np.arange(4.0) + 0.3
    np.testing.assert_allclose(cf.grad(z), dualad.grad(f, z), rtol=1e-13)
    np.testing.assert_allclose(cf.grad(z), central(f, z), rtol=1e-6)
    np.testing.assert_allclose(cf.hessian(z), dualad.hessian(f, z), rtol=1e-12)
    if backend == "numba":
        assert "complex128 value" in cf.report()


def test_a_data_dependent_gather_is_guarded():
    # np.interp looks its segment up with searchsorted: the indices are guarded, so a
    # point in another segment records again
    xp, fp = np.linspace(0, 1, 5), np.array([0.0, 1.0, 0.5, 2.0, 1.0])

    def f(x):
        return np.sum(np.interp(x, xp, fp) * x)

    cf = dualad.compile(f, np.array([0.1, 0.6]), backend="numpy")
    for z in (np.array([0.1, 0.6]), np.array([0.3, 0.9]), np.array([0.12, 0.61])):
        np.testing.assert_allclose(cf.grad(z), dualad.grad(f, z), rtol=1e-14)
    assert cf.records == 2


@pytest.mark.parametrize("backend", BACKENDS)
def test_sparse_hessian_from_the_compiled_sweeps(backend, cdir):
    import scipy.sparse as sp

    x = np.linspace(-1.0, 1.5, 200)
    cf = dualad.compile(rosenbrock, x, backend=backend, cache_dir=cdir)
    H = cf.hessian(x[::-1], sparse=True)
    assert isinstance(H, sp.csr_array)
    H0 = dualad.hessian(rosenbrock, x[::-1], method="sparse")
    np.testing.assert_allclose(H.toarray(), H0.toarray(), rtol=1e-13, atol=1e-12)
    np.testing.assert_allclose(H.toarray(), dualad.hessian(rosenbrock, x[::-1]), rtol=1e-12)
    if backend == "numba":
        assert H.nnz == 3 * 200 - 2
    with pytest.raises(ValueError, match="one vector"):
        dualad.compile(seed, (1.0, 2.0), backend=backend, cache_dir=cdir).hessian(
            (1.0, 2.0), sparse=True
        )


@pytest.mark.parametrize("backend", BACKENDS)
def test_captured_arrays_are_frozen_at_their_recorded_values(backend, cdir):
    W = np.array([1.0, 2.0, 3.0])

    def f(x):
        return np.sum(W * np.sin(x))

    cf = dualad.compile(f, np.zeros(3), backend=backend, cache_dir=cdir)
    W *= 10  # changed in place after recording: the program keeps what it recorded
    np.testing.assert_allclose(cf.grad(np.zeros(3)), [1.0, 2.0, 3.0])


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_data_dependent_shape_never_reaches_stale_kernels(backend, cdir):
    def f(x):
        keep = np.nonzero(x > 0)[0]  # how many elements: depends on x
        return np.sum(np.sin(x[keep]) ** 2) + np.sum(x**2)

    cf = dualad.compile(f, np.array([1.0, -1.0, 2.0]), backend=backend, cache_dir=cdir)
    for z in (np.array([1.0, -1.0, 2.0]), np.array([1.0, 1.0, 2.0]), np.array([-1.0, -1, -2])):
        np.testing.assert_allclose(cf.grad(z), dualad.grad(f, z), rtol=1e-14)


def test_the_cache_is_keyed_by_the_generated_program(tmp_path):
    def files():
        return sorted(p.name for p in tmp_path.glob("dualad_cf_*.py"))

    a = dualad.compile(lambda x: np.sum(np.sin(x) * 2.0), np.ones(3), cache_dir=tmp_path)
    first = files()
    dualad.compile(lambda x: np.sum(np.sin(x) * 2.0), np.ones(3), cache_dir=tmp_path)
    assert files() == first  # the same program: the same module, reused
    b = dualad.compile(lambda x: np.sum(np.sin(x) * 3.0), np.ones(3), cache_dir=tmp_path)
    assert len(files()) == len(first) + 1  # another constant: another module
    assert a(np.ones(3)) * 1.5 == pytest.approx(b(np.ones(3)))
    dualad.compile(lambda x: np.sum(np.sin(x) * 2.0), np.ones(4), cache_dir=tmp_path)
    assert len(files()) == len(first) + 2  # another shape: another module


@pytest.mark.parametrize("backend", BACKENDS)
def test_zero_adjoints_and_infinite_partials_as_the_uncompiled_modes(backend, cdir):
    c = 0.1

    def g(x):  # at x = 0 the adjoint into arctan2 is exactly 0; its derivative is not
        return np.sum(np.cos(np.arctan2(x, c)))

    cg = dualad.compile(g, np.array([0.3]), backend=backend, cache_dir=cdir)
    for z in (0.0, 1e-9, 0.3):
        zz = np.array([z])
        np.testing.assert_allclose(cg.hessian(zz), dualad.hessian(g, zz), rtol=1e-12)
        np.testing.assert_allclose(cg.grad(zz), dualad.grad(g, zz), rtol=1e-12, atol=1e-300)

    def h(x):  # sqrt's partial is infinite at 0, where its cotangent is 0: the product is 0
        return np.sum(np.sqrt(x) * 0.0 + x**2)

    ch = dualad.compile(h, np.ones(2), backend=backend, cache_dir=cdir)
    z = np.array([0.0, 2.0])
    np.testing.assert_allclose(ch.grad(z), dualad.grad(h, z, mode="reverse"), rtol=1e-14)
    np.testing.assert_allclose(ch.grad(z), [0.0, 4.0])


@pytest.mark.parametrize("backend", BACKENDS)
def test_numbers_in_a_tuple_list_or_dict_take_the_direct_call(backend, cdir):
    def f(d):
        return d["a"] * np.sin(d["b"])

    cf = dualad.compile(f, {"a": 1.5, "b": 0.5}, backend=backend, cache_dir=cdir)
    dicts = (
        {"a": 0.2, "b": 0.3},
        {"a": 0.2, "b": 0.3},  # the direct call, once made
        {"b": 0.3, "a": 0.2},  # another order: another variant, keys in this order
        {"a": 0.2, "b": 0.3},
        {"a": np.float64(0.2), "b": 0.3},
        {"a": 2, "b": 0.3},  # an int: the general path
        {"a": np.array(0.2), "b": 0.3},  # a 0-d array: likewise
    )
    for d in dicts:
        y, g = cf.value_and_grad(d)
        y0, g0 = dualad.value_and_grad(f, d)
        assert y == y0 and list(g) == list(g0)
        a, b = float(d["a"]), d["b"]  # closed form
        np.testing.assert_allclose([g["a"], g["b"]], [np.sin(b), a * np.cos(b)], rtol=1e-15)
        for k in d:
            np.testing.assert_allclose(g[k], g0[k], rtol=1e-15)
            assert np.shape(g[k]) == ()
    extra = {"a": 0.2, "b": 0.3, "c": 1.0}  # another structure: a variant of its own
    g = cf.grad(extra)
    assert list(g) == ["a", "b", "c"] and g["c"] == 0.0 and g == dualad.grad(f, extra)
    for bad in ({"a": 0.2}, {"a": 0.2, "c": 0.3}):  # f itself raises, as uncompiled
        with pytest.raises(KeyError):
            cf.value_and_grad(bad)
    ct = dualad.compile(lambda t: t[0] * np.sin(t[1]), [1.5, 0.5], backend=backend, cache_dir=cdir)
    for t in ([0.2, 0.3], [0.2, np.float64(0.3)], [0.2, 0.3]):
        g = ct.grad(t)
        assert type(g) is list
        np.testing.assert_allclose(g, [np.sin(0.3), 0.2 * np.cos(0.3)], rtol=1e-15)

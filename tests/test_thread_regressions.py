"""Concurrency and global state (a fuzzing pass with threads, generators and nested calls)."""

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import dualad
import tape
from dualad.rules import RULES


def test_a_compile_recorded_inside_another_keeps_the_outer_guards():
    # the inner recording set the active tracer to None when it ended: the outer one went
    # on untraced, its branch was no guard, and the other branch's points got this one's
    inner = dualad.compile(lambda z: z * 2.0, np.ones(3), backend="numpy")

    def f(x):
        y = inner(x + 1.0)  # a new shape for inner: it records now, inside f's recording
        if np.sum(x) > 0:
            return np.sum(y * x)
        return np.sum(np.sin(x))

    x = np.array([1.0, 2, 3, 4])
    cf = dualad.compile(f, x, backend="numpy")
    np.testing.assert_allclose(cf(-x), np.sum(np.sin(-x)), rtol=1e-15)
    np.testing.assert_allclose(cf.grad(-x), np.cos(-x), rtol=1e-15)
    np.testing.assert_allclose(cf.grad(x), 4 * x + 2, rtol=1e-15)  # d/dx sum(2(x+1)x)


def test_backward_from_threads_into_one_leaf_adds_every_gradient():
    # leaf.grad + g is a read-modify-write and NumPy lets other threads run during the add
    # of a large array: 30-45% of the updates were lost
    w = tape.Variable(np.ones(100_000), requires_grad=True)

    def work(_):
        for _ in range(20):
            np.sum(w * 1.0).backward()

    with ThreadPoolExecutor(4) as ex:
        list(ex.map(work, range(4)))
    np.testing.assert_array_equal(w.grad, np.full(100_000, 80.0))


def test_compile_sees_a_rule_registered_after_its_first_use():
    # compile read the rule table once, at its first use: a defrule made later was a step
    # "recorded without a table rule"
    x = np.array([0.3, 0.7])
    dualad.compile(lambda x: np.sum(np.sin(x)), x, backend="numpy").grad(x)
    func = np.frexp  # a ufunc with no rule of its own
    assert func not in RULES
    try:
        dualad.defrule(func, jvp=lambda t, out, a: (t[0] * 2.0, None))

        def f(x):
            return np.sum(func(x)[0])

        cf = dualad.compile(f, x, backend="numpy")
        np.testing.assert_array_equal(cf.grad(x), dualad.grad(f, x))
        np.testing.assert_array_equal(cf.grad(x), [2.0, 2.0])
    finally:
        RULES.pop(func, None)


def test_the_strict_error_state_cache_stays_bounded():
    # one entry per np.errstate block: 20,000 grads in such blocks kept 20,001 states
    pytest.importorskip("numpy._core._ufunc_config")
    from dualad.rules import _define

    if not hasattr(_define, "_STRICT_OF"):
        pytest.skip("NumPy 1.26: no cache")
    for _ in range(300):
        with np.errstate(over="ignore"):
            dualad.grad(lambda x: np.sum(np.log(x)), np.array([1.0, 2.0]))
    assert len(_define._STRICT_OF) <= 64


def test_numba_kernels_of_one_source_built_from_threads():
    # two Kernels objects of equal source share one generated module: one thread compiled
    # it after another had closed it to new types ("compilation disabled")
    pytest.importorskip("numba")
    import tempfile

    x = np.linspace(0.1, 0.9, 4)
    c = float(np.random.default_rng().random())  # a source nothing has compiled yet

    def f(x):
        return np.sum(np.sin(x) * x) + c * x[0] * x[1]

    want = dualad.hessian(f, x)
    cache = tempfile.mkdtemp()
    barrier = threading.Barrier(4)

    def work(_):
        cf = dualad.compile(f, x, backend="numba", cache_dir=cache)
        barrier.wait()
        return cf.hessian(x)

    with ThreadPoolExecutor(4) as ex:
        for h in ex.map(work, range(4)):
            np.testing.assert_allclose(h, want, rtol=1e-12)

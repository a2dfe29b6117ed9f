"""Memory: a non-persistent tape frees its records (and the arrays they hold) once
``gradient()`` has swept them, and a Variable graph is freed by ``backward()``."""

from __future__ import annotations

import gc
import tracemalloc
import weakref

import numpy as np
import pytest

import tape
from tape import Tape, Variable

N = 100_000  # float64 values per array: 0.8 MB
STEPS = 200


def test_gradient_frees_a_long_tape():
    x0 = np.linspace(0.1, 1.5, N)
    gc.collect()
    tracemalloc.start()
    try:
        start, _ = tracemalloc.get_traced_memory()
        with Tape() as t:
            x = t.watch(x0)
            y = x
            for _ in range(STEPS):
                y = np.sin(y)
            loss = np.sum(y)
        recorded, _ = tracemalloc.get_traced_memory()
        g = t.gradient(loss, x)
        gc.collect()
        # the outputs still alive: freed records no longer chain them to the other steps
        kept, _ = tracemalloc.get_traced_memory()
        del y, loss
        gc.collect()
        end, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    mb = 8 * N
    assert recorded - start > 0.9 * STEPS * mb  # every step's array was held by the tape
    assert peak > 0.9 * STEPS * mb
    assert kept - start < 5 * mb  # the gradient, the last value and a little bookkeeping
    assert end - start < 4 * mb
    assert end - start < peak / 40
    assert t.records == []

    # d/dx sin^(200)(x) = product of cos over the iterates
    ref, v = np.ones(N), x0.copy()
    for _ in range(STEPS):
        ref *= np.cos(v)
        v = np.sin(v)
    np.testing.assert_allclose(g, ref, rtol=1e-12)


def test_records_list_empty_after_gradient():
    with Tape() as t:
        x = t.watch(np.array([1.0, 2.0]))
        y = np.sum(np.exp(x) * x)
    assert len(t.records) == 3
    recs = t.records
    t.gradient(y, x)
    assert t.records == [] and len(t._records) == 0
    assert all(r.released for r in recs)


def test_persistent_tape_keeps_records_until_release():
    with Tape(persistent=True) as t:
        x = t.watch(np.array([1.0, 2.0]))
        y = np.sum(x * 3.0)
    t.gradient(y, x)
    assert len(t.records) == 2
    t.release()
    assert t.records == []


def test_exception_inside_with_releases_records():
    t = Tape()
    try:
        with t:
            x = t.watch(np.ones(3))
            np.sin(x)
            raise ValueError("stop")
    except ValueError:
        pass
    assert t.records == []
    assert tape.current() is None


def test_records_hold_no_strong_reference_to_their_outputs():
    with Tape(persistent=True) as t:
        x = t.watch(np.ones(3))
        y = np.exp(x)
    ref = weakref.ref(y)
    del y
    gc.collect()
    assert ref() is None
    assert len(t.records) == 1


def test_backward_frees_the_variable_graph():
    x = Variable(np.linspace(0.0, 1.0, 5))
    h = np.sin(x)
    y = np.sum(h * h)
    rec = h._record
    y.backward()
    assert rec.released and y._record.released
    np.testing.assert_allclose(x.grad, 2 * np.sin(x.value) * np.cos(x.value), rtol=1e-14)


def test_backward_retain_graph_keeps_the_graph():
    x = Variable(np.linspace(0.0, 1.0, 5))
    y = np.sum(np.sin(x))
    y.backward(retain_graph=True)
    assert not y._record.released


def _sweep_peak(release: bool) -> int:
    """Peak traced bytes while recording and sweeping ``prod_i sin(x + i)``: the sweep holds
    the cotangent of every factor from its product's record to its sine's (20 arrays at once)."""
    x0 = np.linspace(0.1, 1.5, N)
    gc.collect()
    tracemalloc.start()
    try:
        start, _ = tracemalloc.get_traced_memory()
        with Tape(persistent=True) as t:
            x = t.watch(x0)
            zs = [np.sin(x + i) for i in range(20)]
            p = zs[0]
            for z in zs[1:]:
                p = p * z
            loss = np.sum(p)
        del zs, z, p
        (g,) = t.cotangents([loss], [np.ones(1)], [x], release=release)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # d/dx prod_i sin(x + i) = sum_i cos(x + i) prod_(j != i) sin(x + j), closed form
    s = [np.sin(x0 + i) for i in range(20)]
    want = sum(np.cos(x0 + i) * np.prod(s[:i] + s[i + 1 :], axis=0) for i in range(20))
    np.testing.assert_allclose(g[0], want, rtol=1e-9, atol=1e-15)
    if release:
        assert all(r.released for r in t.records)
        with pytest.raises(RuntimeError, match="released|freed"):
            t.cotangents([loss], [np.ones(1)], [x])
    return peak - start


def test_cotangents_release_frees_each_record_as_it_is_pulled():
    kept = _sweep_peak(release=False)
    freed = _sweep_peak(release=True)
    # without release, the recorded values stay alive beside the factors' cotangents
    assert kept - freed > 10 * 8 * N

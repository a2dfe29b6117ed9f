"""Backend fuzz regressions: Dask arrays and the simulated device array (tests/device.py).

Derivatives are compared with central differences on plain NumPy float64 copies, and must
come back on the input's backend (lazy Dask arrays, device arrays), never as NumPy arrays.
Doors that work on host memory only (sparse results, dualad.compile) raise a TypeError
naming the way out instead of copying to the host or failing on the way.
"""

import numpy as np
import pytest

import dualad
from tests.device import DeviceArray

da = pytest.importorskip("dask.array")
# Dask warns, then computes to NumPy, for a function it does not implement
pytestmark = pytest.mark.filterwarnings("error::FutureWarning")

X0 = np.array([0.3, 0.9, 0.5, 0.7, 1.1, 0.2])


def _dask(x, chunks=2):
    return da.from_array(np.asarray(x, dtype=np.float64), chunks=chunks)


def _device(x):
    return DeviceArray(np.asarray(x, dtype=np.float64))


BACKENDS = {"dask": (_dask, da.Array), "device": (_device, DeviceArray)}


def _host(r):
    return r.compute() if isinstance(r, da.Array) else r.get() if isinstance(r, DeviceArray) else r


def _central(f, x, h=1e-6):
    """The Jacobian ``out.shape + in.shape`` of ``f`` on NumPy float64, by central differences."""
    x = np.array(x, dtype=np.float64)
    cols = []
    for i in range(x.size):
        e = np.zeros(x.size)
        e[i] = h
        e = e.reshape(x.shape)
        cols.append((np.asarray(f(x + e), float) - np.asarray(f(x - e), float)) / (2 * h))
    J = np.stack(cols, axis=-1)
    return J.reshape(np.shape(f(x)) + x.shape)


class _Lazy:
    """Counts Dask computations inside ``with``: a rule that branches on a Dask value (``if
    np.any(mask)``, ``int(np.argmax(...))``) computes the graph eagerly."""

    def __enter__(self):
        from dask.callbacks import Callback

        self.n = 0
        counter = self

        class Count(Callback):
            def _start(self, dsk):
                counter.n += 1

        self._cb = Count()
        self._cb.__enter__()
        return self

    def __exit__(self, *exc):
        self._cb.__exit__(*exc)
        if exc[0] is None:
            assert self.n == 0, f"{self.n} eager Dask computation(s)"


def _same(got, kind, want, tol=1e-6):
    assert isinstance(got, kind), type(got)  # stays on the input's backend
    np.testing.assert_allclose(_host(got), want, rtol=tol, atol=tol)


# -- C4: outputs that do not depend on x, forward mode ----------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_forward_zero_derivatives_stay_on_the_backend(backend):
    to, kind = BACKENDS[backend]
    x = to(X0)

    def const(x):
        return np.ones(3)

    _, t = dualad.jvp(const, x, to(np.ones(X0.size)))
    _same(t, kind, _central(const, X0) @ np.ones(X0.size))
    for mode in ("forward", "reverse"):
        _same(dualad.jacobian(const, x, mode=mode), kind, _central(const, X0))
    for mode in ("forward", "reverse"):
        _same(dualad.grad(lambda x: 3.0, x, mode=mode), kind, np.zeros(X0.size))

    def pair(x):  # one output depends on x, the other does not
        return np.ones(2), np.sin(x)

    J = dualad.jacobian(pair, x, mode="forward")
    _same(J[0], kind, np.zeros((2, X0.size)))
    _same(J[1], kind, _central(np.sin, X0))


# -- C2, K1: max/min along an axis (no take_along_axis), ties (no count_nonzero keepdims) -----


_TIES = np.array([3.0, 1.0, 3.0, 2.0, 0.5, 0.5])

SELECTIONS = {
    "max_axis1": lambda x: np.max(x.reshape(2, 3), axis=1),
    "min_axis0": lambda x: np.min(x.reshape(3, 2), axis=0) * 2.0,
    "max_all_ties": lambda x: np.max(x) * np.ones(2),
    "min_axis1_ties": lambda x: np.min(x.reshape(3, 2), axis=1) ** 2,
    "ptp_axis1": lambda x: np.ptp(x.reshape(2, 3), axis=1),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", SELECTIONS)
@pytest.mark.parametrize("x0", [X0, _TIES], ids=["distinct", "ties"])
def test_max_min_on_backends(backend, name, x0):
    to, kind = BACKENDS[backend]
    f = SELECTIONS[name]
    want = _central(f, x0)  # at a tie, central differences split evenly too
    for mode in ("forward", "reverse"):
        with _Lazy():
            J = dualad.jacobian(f, to(x0), mode=mode)
        _same(J, kind, want)
    with _Lazy():
        _, t = dualad.jvp(f, to(x0), to(np.ones(x0.size)))
    _same(t, kind, want @ np.ones(x0.size))


# -- K2, K3: diagonals and einsum("ii") in reverse mode (Dask: no nd fancy index, no scatter) -


DIAGONALS = {
    "diag_of_matrix": lambda x: np.diag(x.reshape(2, 3), 1) ** 2,
    "diag_below": lambda x: np.diag(x.reshape(3, 2), -1) ** 2,
    "diag_of_vector": lambda x: np.diag(x[:3] ** 2, -2) * 1.0,
    "diagonal_axes": lambda x: np.diagonal(x.reshape(1, 2, 3) ** 2, 0, 2, 1) * 1.0,
    "diagonal_offset": lambda x: np.diagonal(x.reshape(3, 2) ** 2, -1) * 1.0,
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", DIAGONALS)
def test_diagonals_on_backends(backend, name):
    to, kind = BACKENDS[backend]
    f = DIAGONALS[name]
    for mode in ("forward", "reverse"):
        with _Lazy():
            J = dualad.jacobian(f, to(X0), mode=mode)
        _same(J, kind, _central(f, X0))

    def s(x):
        return np.sum(f(x) ** 2)

    H = dualad.hessian(s, to(X0))  # the rules' own derivatives (nested wrappers)
    _same(H, kind, _central(lambda x: _central(s, x, 1e-4), X0, 1e-4), 1e-4)


@pytest.mark.parametrize("backend", BACKENDS)
def test_einsum_trace_on_backends(backend):
    to, kind = BACKENDS[backend]
    x0 = X0[:4]

    def f(x):
        return np.einsum("ii", x.reshape(2, 2)) * np.sin(x)

    def g(x):
        return np.einsum("ij,jj->i", x.reshape(2, 2), x[::-1].reshape(2, 2))

    for h in (f, g):
        x = to(x0) if backend == "device" else _dask(x0, 4)  # Dask's own einsum("ii") needs
        # square chunks
        for mode in ("forward", "reverse"):
            _same(dualad.jacobian(h, x, mode=mode), kind, _central(h, x0))
    s = lambda x: np.einsum("ii", x.reshape(2, 2) ** 2)
    x = to(x0) if backend == "device" else _dask(x0, 2)
    _same(dualad.grad(s, x, mode="reverse"), kind, _central(s, x0))


# -- K4, K6, C3, K5: host-only doors refuse other backends at the door ------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_sparse_doors_refuse_other_backends(backend):
    to, _ = BACKENDS[backend]
    x = to(X0)
    calls = (
        lambda: dualad.sparsity(np.sin, x),
        lambda: dualad.jacobian(np.sin, x, mode="sparse"),
        lambda: dualad.hessian(lambda x: np.sum(np.sin(x)), x, method="sparse"),
        lambda: dualad.hessian_sparsity(lambda x: np.sum(np.sin(x)), x),
    )
    for call in calls:
        with pytest.raises(TypeError, match=r"needs NumPy arrays on the host.*x\.compute\(\)"):
            call()
    # the dense doors the message points to keep the backend
    J = dualad.jacobian(np.sin, x, mode="forward")
    _same(J, BACKENDS[backend][1], _central(np.sin, X0))


def test_sparse_refuses_a_function_computing_on_dask():
    # x on the host, f closing over a Dask array: its result is Dask (was AttributeError
    # 'Array' object has no attribute 'take')
    W = _dask(np.arange(12.0).reshape(6, 2), 2)
    with pytest.raises(TypeError, match="f returned a dask Array"):
        dualad.jacobian(lambda x: x @ W, X0, mode="sparse", sparsity=np.ones((2, 6), bool))


@pytest.mark.parametrize("backend", BACKENDS)
def test_compile_refuses_other_backends(backend):
    to, _ = BACKENDS[backend]

    def f(x):
        return np.sum(np.sin(x))

    with pytest.raises(TypeError, match=r"dualad.compile needs NumPy arrays on the host"):
        dualad.compile(f, to(X0), backend="numpy")
    cf = dualad.compile(f, X0, backend="numpy")
    for call in (cf, cf.grad, cf.value_and_grad, cf.jacobian, cf.hessian):
        with pytest.raises(TypeError, match=r"dualad.compile needs NumPy arrays on the host"):
            call(to(X0))
    with pytest.raises(TypeError, match=r"dualad.compile needs NumPy arrays on the host"):
        cf.jvp(X0, to(np.ones(X0.size)))
    np.testing.assert_allclose(cf.grad(X0), _central(f, X0), rtol=1e-6)  # NumPy unchanged


# -- scipy.special partials in two forms (_piecewise): no eager Dask computation --------------


def test_special_piecewise_partials_stay_lazy_on_dask():
    sc = pytest.importorskip("scipy.special")

    def f(x):
        return np.sum(sc.expit(x * 8.0 - 4.0) * x)

    for mode in ("forward", "reverse"):
        with _Lazy():  # each rule tested np.any(cond) on a Dask value: one compute per call
            g = dualad.grad(f, _dask(X0), mode=mode)
        _same(g, da.Array, _central(f, X0))


def test_power_partial_stays_lazy_on_dask():
    def f(x):
        return np.power(x, x[::-1]) + np.power(2.0, x)

    for mode in ("forward", "reverse"):
        with _Lazy():  # np.any(b == 0) on a Dask exponent computed the graph
            J = dualad.jacobian(f, _dask(X0), mode=mode)
        _same(J, da.Array, _central(f, X0))

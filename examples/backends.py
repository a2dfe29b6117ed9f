"""One JVP on NumPy, Dask and CuPy
===============================

The same JVP on NumPy, Dask (chunked, lazy) and CuPy (when a GPU is present).

f(x) = sin(x) exp(-x^2) + log1p(x^2) + sqrt(1 + x^2), and its JVP along v, computed by
``dualad.jvp`` on each backend's own arrays: nothing is converted to NumPy on the way (the
Dask result stays lazy until computed, the CuPy one on the GPU). Each result is compared with
the NumPy one; the timings are printed.

Run:  python examples/backends.py
"""

import time

import numpy as np

import dualad


def f(x):
    return np.sin(x) * np.exp(-(x**2)) + np.log1p(x**2) + np.sqrt(1 + x**2)


def timed(fn, repeats=3):
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return out, best


def main(n: int = 200_000):
    x = np.linspace(-3, 3, n)
    v = np.cos(x)
    (y, t), t_np = timed(lambda: dualad.jvp(f, x, v))
    _, t_f = timed(lambda: f(x))
    print(f"numpy: n = {n}, f {t_f * 1e3:.1f} ms, jvp {t_np * 1e3:.1f} ms")
    try:
        import dask.array as da
    except ImportError:
        print("dask: not installed")
    else:
        xd, vd = da.from_array(x, chunks=n // 4), da.from_array(v, chunks=n // 4)
        (yd, td), t_build = timed(lambda: dualad.jvp(f, xd, vd))
        lazy = isinstance(td, da.Array)
        (yc, tc), t_run = timed(lambda: da.compute(yd, td))
        same = bool(np.allclose(yc, y) and np.allclose(tc, t))
        print(f"dask: 4 chunks, graph {t_build * 1e3:.1f} ms, compute {t_run * 1e3:.1f} ms; "
              f"lazy: {lazy}; equals numpy: {same}")  # fmt: skip
    try:
        import cupy as cp

        cp.cuda.runtime.getDeviceCount()
    except Exception:  # noqa: BLE001 - no CuPy, or no GPU: CuPy raises several kinds
        print("cupy: no GPU here")
    else:
        xc, vc = cp.asarray(x), cp.asarray(v)
        (yc, tcu), t_cu = timed(lambda: dualad.jvp(f, xc, vc))
        cp.cuda.Device().synchronize()
        same = bool(np.allclose(cp.asnumpy(yc), y) and np.allclose(cp.asnumpy(tcu), t))
        print(f"cupy: jvp {t_cu * 1e3:.1f} ms; on the GPU: {isinstance(tcu, cp.ndarray)}; "
              f"equals numpy: {same}")  # fmt: skip


if __name__ == "__main__":
    main(2_000_000)

"""Derivatives on a Dask cluster
=============================

Derivatives of unchanged NumPy code on a Dask cluster, past one machine's memory habits.

A ``dask.distributed`` LocalCluster (2 worker processes on 127.0.0.1) takes the JVP of
f(x) = sin(x) exp(-x^2) + log1p(x^2) + sqrt(1 + x^2) over 2·10^8 elements (1.6 GB per
operand; 2·10^6 in the quick run the tests make) and the gradient of a scalar loss over a
tenth of that, in forward and reverse mode. ``dualad.jvp`` builds a lazy graph on the
chunked arrays (no operand is ever made whole); the cluster computes chunk by chunk and
only the sums come back. Sample chunks are checked against NumPy, and each worker's peak
memory (resident set size) is printed next to the operand size.

Run:  python examples/cluster.py
"""

import resource
import time

import numpy as np

import dualad


def f(x):
    return np.sin(x) * np.exp(-(x**2)) + np.log1p(x**2) + np.sqrt(1 + x**2)


def loss(x):
    return np.sum(f(x)) + np.mean(x) ** 2


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def main(n: int = 2_000_000, chunk: int = 200_000) -> None:
    try:
        import dask.array as da
        from dask.distributed import Client, LocalCluster
    except ImportError:
        print("dask.distributed: not installed (pip install dask[distributed])")
        return
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None, silence_logs=40) as cluster, \
            Client(cluster) as client:  # fmt: skip
        x = da.linspace(-3.0, 3.0, n, chunks=chunk)
        v = da.cos(3 * x)
        t0 = time.perf_counter()
        y, t = dualad.jvp(f, x, v)
        build = time.perf_counter() - t0
        t0 = time.perf_counter()
        sy, st = client.compute([y.sum(), t.sum()], sync=True)
        run = time.perf_counter() - t0
        gb = n * 8 / 1e9
        print(f"jvp over {n:.1e} elements ({gb:.2f} GB per operand) in {x.numblocks[0]} chunks: "
              f"graph {build * 1e3:.0f} ms, cluster {run:.1f} s; sum f = {sy:.6e}, "
              f"sum J v = {st:.6e}")  # fmt: skip
        ok = True
        for b in (0, x.numblocks[0] // 2, x.numblocks[0] - 1):  # sample chunks against NumPy
            xb, vb, tb = client.compute([x.blocks[b], v.blocks[b], t.blocks[b]], sync=True)
            ok &= bool(np.allclose(tb, dualad.jvp(f, xb, vb)[1], rtol=1e-12, atol=1e-15))
        print(f"sample chunks equal NumPy's JVP: {ok}")
        # gradients: reverse mode (one sweep) over a tenth of the elements; forward mode
        # (one pass per input element) over a few hundred
        same = True
        for mode, m in (("reverse", n // 10), ("forward", 300)):
            xg = da.linspace(-3.0, 3.0, m, chunks=min(chunk, max(m // 3, 1)))
            t0 = time.perf_counter()
            g = dualad.grad(loss, xg, mode=mode)
            gs, xl = client.compute([g[:100], xg], sync=True)
            ok_g = bool(np.allclose(gs, dualad.grad(loss, xl, mode=mode)[:100], rtol=1e-10))
            same &= ok_g
            print(f"grad ({mode}) over {m:.1e} elements: equals NumPy's: {ok_g} "
                  f"({time.perf_counter() - t0:.1f} s)")  # fmt: skip
        peaks = client.run(_peak_mb)
        worst = max(peaks.values())
        print(f"peak memory per worker: {', '.join(f'{p:.0f} MB' for p in peaks.values())} "
              f"(operand {gb * 1e3:.0f} MB); well under the operand: "
              f"{worst < 0.5 * gb * 1e3 if gb >= 1 else 'n/a in the quick run'}")  # fmt: skip
        assert ok and same


if __name__ == "__main__":
    main(n=200_000_000, chunk=4_000_000)

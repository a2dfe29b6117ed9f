"""Beyond one machine: derivatives of unchanged NumPy code on a dask.distributed cluster.

A LocalCluster of 2 worker processes (bound to 127.0.0.1, no dashboard) computes ``jvp``
and ``grad`` (forward and reverse) of a function over a chunked Dask array; the results
equal NumPy's, and the derivative graphs stay lazy until the cluster computes them. It runs
in a fresh interpreter: the cluster pickles NumPy functions by name, which must not meet
the rest of the suite's patched modules.
"""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("dask.array")
pytest.importorskip("dask.distributed")

SCRIPT = textwrap.dedent("""
    import numpy as np
    import dask.array as da
    from dask.distributed import Client, LocalCluster
    import dualad

    def f(x):
        return np.sin(x) * np.exp(-(x**2)) + np.log1p(x**2) + np.sqrt(1 + x**2)

    def loss(x):
        return np.sum(f(x) * x[::-1]) + np.mean(x) ** 2

    if __name__ == "__main__":
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                          host="127.0.0.1", dashboard_address=None, silence_logs=40) as cluster, \\
                Client(cluster) as client:
            assert len(client.scheduler_info()["workers"]) == 2
            n = 200_000
            x = np.linspace(-2.0, 2.0, n)
            v = np.cos(3 * x)
            y, t = dualad.jvp(f, da.from_array(x, chunks=n // 8), da.from_array(v, chunks=n // 8))
            assert isinstance(t, da.Array)  # lazy until the cluster computes it
            y, t = client.compute([y, t], sync=True)
            y0, t0 = dualad.jvp(f, x, v)
            np.testing.assert_allclose(y, y0, rtol=1e-14)
            np.testing.assert_allclose(t, t0, rtol=1e-13, atol=1e-15)
            for mode in ("forward", "reverse"):
                g = dualad.grad(loss, da.from_array(x[:3000], chunks=1000), mode=mode)
                assert isinstance(g, da.Array)
                g = client.compute(g, sync=True)
                np.testing.assert_allclose(g, dualad.grad(loss, x[:3000], mode=mode), rtol=1e-12)
        print("cluster ok")
""")


def test_jvp_and_grad_on_a_local_cluster(tmp_path):
    path = tmp_path / "cluster_check.py"
    path.write_text(SCRIPT)
    out = subprocess.run(
        [sys.executable, str(path)], capture_output=True, text=True, timeout=300, check=False,
        cwd=Path(__file__).resolve().parent.parent,
    )  # fmt: skip
    assert out.returncode == 0 and "cluster ok" in out.stdout, out.stderr[-3000:]

"""First-call and cached-call times of ``dualad.compile`` (issue 14), each in a new process.

For each program: a process with an empty cache directory times ``dualad.compile(f, x)``
plus the first ``value_and_grad`` (record + generate + Numba compile of the value and
gradient kernels); a second process with the same cache directory times the same calls
(record + load the machine code from the cache). Imports (NumPy, Numba, dualad) happen
before the clock starts and are reported separately.

    python3 asv_bench/compile_times.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import sys, time
t0 = time.perf_counter()
import numpy as np, dualad, numba
t_import = time.perf_counter() - t0
sys.path.insert(0, {bench!r})
from benchmarks.doors import seed_vector
from benchmarks.compiled import rosenbrock, loop, chain_sum
progs = {{
    "seed (n=2)": (seed_vector, np.array([1.5, 0.5])),
    "rosenbrock (n=100)": (rosenbrock, np.linspace(-1, 1.5, 100)),
    "scalar loop (2000 ops)": (loop, 0.5),
    "chain sum (n=1e6)": (chain_sum, np.linspace(-2, 2, 10**6)),
}}
f, x = progs[{name!r}]
t0 = time.perf_counter()
cf = dualad.compile(f, x, cache_dir={cache!r})
cf.value_and_grad(x)
t_first = time.perf_counter() - t0
t0 = time.perf_counter()
cf.hessian(x) if {hess!r} else None
t_hess = time.perf_counter() - t0
print(f"{{t_import:.3f}} {{t_first:.3f}} {{t_hess:.3f}}")
"""

PROGRAMS = [
    ("seed (n=2)", True),
    ("rosenbrock (n=100)", True),
    ("scalar loop (2000 ops)", False),
    ("chain sum (n=1e6)", False),
]


def run(name: str, cache: str, hess: bool) -> tuple[float, float, float]:
    code = CHILD.format(bench=str(ROOT / "asv_bench"), name=name, cache=cache, hess=hess)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    a, b, c = out.stdout.split()
    return float(a), float(b), float(c)


def main() -> int:
    rows = []
    for name, hess in PROGRAMS:
        with tempfile.TemporaryDirectory(prefix="dualad_cc_") as cache:
            imp, cold, cold_h = run(name, cache, hess)
            _, warm, warm_h = run(name, cache, hess)
        rows.append((name, imp, cold, warm, cold_h, warm_h, hess))
    print(f"{'program':26s} {'imports':>8s} {'first call':>11s} {'cached':>8s}"
          f" {'+hessian':>9s} {'cached':>8s}")  # fmt: skip
    for name, imp, cold, warm, ch, wh, hess in rows:
        h = f"{ch:8.3f}s {wh:7.3f}s" if hess else f"{'-':>9s} {'-':>8s}"
        print(f"{name:26s} {imp:7.3f}s {cold:10.3f}s {warm:7.3f}s {h}")
    print("first call: compile + value_and_grad (record, generate, Numba compile); cached: the "
          "same in a new process with the cache directory filled")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())

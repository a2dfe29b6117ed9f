"""mode="auto" against the faster of forward and reverse, on a grid of programs (issue 10).

For each program the dense Jacobian (``grad`` for scalar outputs) is timed in forward,
reverse and auto mode in this one process, single-threaded and pinned to one core, as the
minimum over repeats after a warm-up. Regret is auto's time over the faster fixed mode's;
the targets are at most 1.25 on every program and at most 1.05 on the geometric mean.

    python3 asv_bench/regret.py            # the whole grid
    python3 asv_bench/regret.py --quick    # fewer repeats
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import timeit
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

import dualad


def dense(n_in, n_out, seed=0):
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((n_out, n_in)) / np.sqrt(n_in)
    b = rng.standard_normal(n_out)

    def f(x):
        return np.tanh(W @ x + b)

    return f, rng.standard_normal(n_in)


def mlp_loss(n_in, hidden=64):
    rng = np.random.default_rng(1)
    W1 = rng.standard_normal((hidden, n_in)) / np.sqrt(n_in)
    w2 = rng.standard_normal(hidden) / np.sqrt(hidden)

    def f(x):
        return w2 @ np.tanh(W1 @ x)

    return f, rng.standard_normal(n_in)


def heavy(n_in, width=20000):
    rng = np.random.default_rng(2)
    W = rng.standard_normal((width, n_in))

    def f(x):
        return np.sum(np.tanh(W @ x))

    return f, rng.standard_normal(n_in)


def seed_program(x):
    a = x[0] / x[1]
    e = np.exp(x[1])
    return (np.sin(a) + a - e) * (a - e)


def loop_program(n):
    def f(x):
        s = 0.0
        for i in range(n):
            s = s + np.sin(x[i]) * x[(i + 1) % n]
        return s

    return f, np.linspace(0.1, 0.9, n)


def leaky(x):
    y = x
    for _ in range(200):
        y = y * 0.999 + x
    return y


def elementwise(x):
    return np.sin(x) * np.exp(-(x**2)) + np.log1p(x**2)


def rosen(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


def softmax(x):
    e = np.exp(x - np.max(x))
    return e / np.sum(e)


def grid():
    """(name, f, x, kind): kind "grad" for scalar outputs, else "jacobian"."""
    cases = []
    for n_in, n_out in [(1, 1), (1, 1000), (10, 10), (10, 1000), (100, 1), (100, 100),
                        (1000, 1), (1000, 10), (300, 300), (3, 300)]:  # fmt: skip
        f, x = dense(n_in, n_out)
        cases.append((f"dense {n_in}->{n_out}", f, x, "jacobian"))
    for n in (2, 10, 1000):
        f, x = mlp_loss(n)
        cases.append((f"mlp loss n={n}", f, x, "grad"))
    cases.append(("seed program n=2", seed_program, np.array([1.5, 0.5]), "grad"))
    for n in (3, 10, 50):
        f, x = loop_program(n)
        cases.append((f"python loop n={n}", f, x, "grad"))
    cases.append(("scalar loop 200 steps n=1", leaky, np.array([0.5]), "jacobian"))
    for n in (10, 1000):
        cases.append((f"elementwise n={n}", elementwise, np.linspace(-1, 1, n), "jacobian"))
        cases.append((f"rosenbrock n={n}", rosen, np.linspace(-1, 1, n), "grad"))
    cases.append(("softmax n=100", softmax, np.linspace(-1, 1, 100), "jacobian"))
    for n in (4, 16):  # few inputs, large arrays inside: reverse wins by 5-17x
        f, x = heavy(n)
        cases.append((f"heavy layer loss n={n}", f, x, "grad"))
    return cases


def best_time(fn, budget):
    fn()  # warm-up
    t = timeit.timeit(fn, number=1)
    number = max(1, int(0.02 / max(t, 1e-9)))
    return min(timeit.repeat(fn, number=number, repeat=budget)) / number


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--why", action="store_true", help="print choose_mode's reason")
    args = parser.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {max(os.sched_getaffinity(0))})
    repeats = 3 if args.quick else 7
    rows, regrets = [], []
    for name, f, x, kind in grid():
        call = dualad.grad if kind == "grad" else dualad.jacobian
        t = {
            m: best_time(lambda m=m, call=call, f=f, x=x: call(f, x, mode=m), repeats)
            for m in ("forward", "reverse", "auto")
        }
        choice = dualad.choose_mode(f, x)
        best = min(t["forward"], t["reverse"])
        regret = t["auto"] / best
        regrets.append(regret)
        rows.append((name, kind, t["forward"], t["reverse"], t["auto"], regret, choice.mode))
        if args.why:
            print(f"{name}: {choice.reason}", flush=True)
    print(f"numpy {np.__version__}; times in us, minimum of {repeats} repeats; regret = auto "
          "/ min(forward, reverse)")  # fmt: skip
    head = f"{'program':28} {'call':9} {'forward':>10} {'reverse':>10} {'auto':>10} {'regret':>7}  "
    print(head + "choose_mode")
    for name, kind, tf, tr, ta, reg, mode in rows:
        flag = "" if reg <= 1.25 else "  > 1.25"
        print(f"{name:28} {kind:9} {tf * 1e6:10.1f} {tr * 1e6:10.1f} {ta * 1e6:10.1f} "
              f"{reg:7.2f}  {mode}{flag}")  # fmt: skip
    geo = math.exp(sum(math.log(r) for r in regrets) / len(regrets))
    print(f"\n{len(rows)} programs: worst regret {max(regrets):.2f} (target <= 1.25), "
          f"geometric mean {geo:.3f} (target <= 1.05)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())

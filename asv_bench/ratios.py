"""Print dualad's overhead against plain NumPy for each benchmark case, with its target.

Runs the asv benchmark classes in this one process: after a warm-up, plain and dualad samples
alternate (so machine noise hits both alike), each sample a timeit-style loop. A ratio is the
median of the ratios of neighbouring samples (``--stat min``: the ratio of the two fastest
samples). BLAS is single-threaded and the process is pinned to one core.

    python3 asv_bench/ratios.py                 # all cases, full repeats
    python3 asv_bench/ratios.py --quick         # fewer, shorter samples
    python3 asv_bench/ratios.py --only rev_mlp --profile
    python3 asv_bench/ratios.py --stat min      # least-disturbed samples on a busy machine

A case that raises (a missing rule, say) prints its error in the table instead of a time.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import os
import pstats
import statistics
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

# before NumPy is first imported (by the benchmarks below): one BLAS thread, like the baseline
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

HERE = Path(__file__).resolve().parent
# measure this checkout's dualad, and import the benchmarks as the `benchmarks` package
sys.path[:0] = [str(HERE.parent), str(HERE)]

from benchmarks import aliasing, api, compiled, doors, forward, scipy_rules, sparse, spectral
from benchmarks import tape as tape_bench


@dataclass(frozen=True)
class Case:
    """One table row: a benchmark class's dualad method against its ``time_plain``.

    ``kind`` says how the target reads: "ratio" (dualad / plain, a maximum), "us" (absolute
    microseconds per call) or "us_op" (microseconds per recorded operation, ``ops`` of them).
    """

    name: str
    cls: type
    method: str
    target: float | None = None  # None: a comparison row without a target of its own
    kind: str = "ratio"
    ops: int = 1
    plain: str = "time_plain"  # the baseline method


SEED_DOORS = [
    ("time_grad_vector", 60.0), ("time_grad_tuple", 60.0), ("time_grad_dict", 60.0),
    ("time_value_and_grad", 60.0), ("time_jacobian", 60.0),
    ("time_grad_vector_reverse", 120.0), ("time_grad_tuple_reverse", 120.0),
    ("time_grad_dict_reverse", 120.0), ("time_value_and_grad_reverse", 120.0),
    ("time_jacobian_reverse", 120.0), ("time_hessian", 300.0), ("time_hessian_tuple", 300.0),
    ("time_hessian_dict", 300.0),
]  # fmt: skip
LOOP_DOORS = [
    "time_grad_float", "time_grad_0d", "time_grad_f64", "time_watch_float", "time_watch_0d",
    "time_watch_f64", "time_variable_backward",
]  # fmt: skip

CASES = [
    Case("fwd_elementwise_1e6", forward.FwdElementwise1e6, "time_dualad", 2.8),
    Case("fwd_scalar_seed[grad]", forward.FwdScalarSeed, "time_dualad_grad", 8.0, "us"),
    Case("fwd_scalar_seed[Dual]", forward.FwdScalarSeed, "time_dualad_dual", 8.0, "us"),
    # the same target as a ratio, which machine speed cancels from: 8 us over the issue's
    # 0.13 us for the program on Python floats with math
    Case(
        "fwd_scalar_seed[grad]/math",
        forward.FwdScalarSeed,
        "time_dualad_grad",
        8.0 / 0.13,
        plain="time_plain_math",
    ),
    Case(
        "fwd_scalar_seed[Dual]/math",
        forward.FwdScalarSeed,
        "time_dualad_dual",
        8.0 / 0.13,
        plain="time_plain_math",
    ),
    Case("fwd_jacobian_300", forward.FwdJacobian300, "time_dualad", 2.0),
    Case("rev_elementwise_1e6", api.RevElementwise1e6, "time_dualad", 3.3),
    Case("rev_mlp", api.RevMLP, "time_dualad", 2.4),
    Case(
        "rev_scalar_loop", tape_bench.RevScalarLoop, "time_dualad", 4.0, "us_op", tape_bench.N_OPS
    ),
    Case("hess_rosenbrock_100", api.HessRosenbrock100, "time_dualad", 50.0),
    # comparison rows (no target of their own): the fallback method, and a Hessian with no
    # stencil structure
    Case("hess_rosenbrock_100[fwd-over-rev]", api.HessRosenbrock100, "time_forward_over_reverse"),
    Case("hess_tanh_net_100", api.HessDense100, "time_dualad"),
    Case("hess_tanh_net_100[fwd-over-rev]", api.HessDense100, "time_forward_over_reverse"),
    # real code as it is (issue 9): views and in-place writes, and intercept=True
    Case("views_1e5[jvp]", aliasing.Views1e5, "time_jvp"),
    Case("views_1e5[grad reverse]", aliasing.Views1e5, "time_grad_reverse"),
    Case("intercept_1e3[jvp]", aliasing.Intercept1e3, "time_jvp"),
    Case("intercept_1e3[grad reverse]", aliasing.Intercept1e3, "time_reverse"),
    # the interception overhead: the same derivative of the function written without conversions
    Case("intercept_1e3[jvp/native]", aliasing.Intercept1e3, "time_jvp", plain="time_native_jvp"),
    # complex numbers and FFTs (issue 11): the gradient of an rfft -> power -> irfft chain
    Case("fft_power_2^18[grad]", spectral.PowerChain, "time_grad", 3.0),
    Case("fft_power_2^18[value_and_grad]", spectral.PowerChain, "time_value_and_grad", 3.0),
    Case("fft_power_2^18[Variable.backward]", spectral.PowerChain, "time_tape_backward", 3.0),
    # every door to one derivative (issue 10): the seed program against math on floats, and
    # the scalar loop in reverse mode against the loop on a NumPy 0-d array
    *[
        Case(f"door_seed[{m[5:]}]", doors.SeedDoors, m, t, plain="time_plain_math")
        for m, t in SEED_DOORS
    ],
    *[
        Case(f"door_loop[{m[5:]}]", doors.LoopDoors, m, 10.0, plain="time_plain_0d")
        for m in LOOP_DOORS
    ],
    Case(
        "intercept_1e3[reverse/native]",
        aliasing.Intercept1e3,
        "time_reverse",
        plain="time_native_reverse",
    ),
    # sparse Jacobians and Hessians (issue 13): ratios to one evaluation of f
    Case("sparse_tridiag_1e6[pattern given]", sparse.Tridiagonal1e6, "time_sparse_given", 8.0),
    Case("sparse_tridiag_1e6[detected]", sparse.Tridiagonal1e6, "time_sparse_detect", 20.0),
    Case("sparse_tridiag_1e6[sparsity only]", sparse.Tridiagonal1e6, "time_sparsity", 10.0),
    # the same f written x * x * x (no pow): f 20x cheaper, the forward pass's own cost shows
    Case(
        "sparse_tridiag_cheap_1e6[pattern given]", sparse.Tridiagonal1e6Cheap, "time_sparse_given"
    ),
    Case("sparse_tridiag_cheap_1e6[detected]", sparse.Tridiagonal1e6Cheap, "time_sparse_detect"),
    Case("sparse_laplacian_1000^2[pattern given]", sparse.Laplacian2D, "time_sparse_given", 12.0),
    Case("sparse_rosenbrock_1e5[hessian]", sparse.Rosenbrock1e5, "time_sparse_hessian", 30.0),
    Case(
        "sparse_rosenbrock_1e5[hessian given]",
        sparse.Rosenbrock1e5,
        "time_sparse_hessian_given",
        30.0,
    ),
    # the same Hessian through dualad.compile(f, x).hessian(x, sparse=True): one compiled
    # forward-over-reverse sweep carrying the 3 colors
    Case(
        "sparse_rosenbrock_1e5[compiled hessian]",
        sparse.Rosenbrock1e5,
        "time_compiled_sparse_hessian",
        30.0,
    ),
    # SciPy and custom rules (issue 12): comparison rows (the issue sets no speed target)
    Case("scipy_gp_nll_200[grad]", scipy_rules.GaussianProcessNLL, "time_grad"),
    Case("scipy_gp_nll_200[grad reverse]", scipy_rules.GaussianProcessNLL, "time_grad_reverse"),
    Case("scipy_gp_nll_200[hessian]", scipy_rules.GaussianProcessNLL, "time_hessian"),
    Case("scipy_logsumexp_1e5[grad]", scipy_rules.LogSumExp, "time_grad"),
    # a rule stated by the user against the same derivative built in
    Case("custom_rule_1e5[forward]", scipy_rules.CustomRule, "time_custom_forward"),
    Case(
        "custom_rule_1e5[forward/builtin]",
        scipy_rules.CustomRule,
        "time_custom_forward",
        plain="time_builtin_forward",
    ),
    Case("custom_rule_1e5[reverse]", scipy_rules.CustomRule, "time_custom_reverse"),
    Case(
        "custom_rule_1e5[reverse/builtin]",
        scipy_rules.CustomRule,
        "time_custom_reverse",
        plain="time_builtin_reverse",
    ),
    # compiled derivatives (issue 14): dualad.compile, against the plain programs
    Case(
        "compiled_seed[value_and_grad]",
        compiled.CompiledSeed,
        "time_value_and_grad",
        1.0,
        "us",
        plain="time_plain_math",
    ),
    Case(
        "compiled_seed[value_and_grad]/math",
        compiled.CompiledSeed,
        "time_value_and_grad",
        8.0,
        plain="time_plain_math",
    ),
    Case(
        "compiled_seed[value_and_grad tuple]",
        compiled.CompiledSeed,
        "time_value_and_grad_tuple",
        1.0,
        "us",
        plain="time_plain_math",
    ),
    Case(
        "compiled_seed[value_and_grad tuple]/math",
        compiled.CompiledSeed,
        "time_value_and_grad_tuple",
        8.0,
        plain="time_plain_math",
    ),
    Case(
        "compiled_seed[value_and_grad dict]",
        compiled.CompiledSeed,
        "time_value_and_grad_dict",
        1.0,
        "us",
        plain="time_plain_math",
    ),
    Case(
        "compiled_seed[value_and_grad dict]/math",
        compiled.CompiledSeed,
        "time_value_and_grad_dict",
        8.0,
        plain="time_plain_math",
    ),
    Case(
        "compiled_seed[grad]/math", compiled.CompiledSeed, "time_grad", 8.0, plain="time_plain_math"
    ),
    Case(
        "compiled_seed[jacobian 2 outputs]/math",
        compiled.CompiledSeed,
        "time_jacobian",
        plain="time_plain_math",
    ),
    Case(
        "compiled_seed[hessian]/math",
        compiled.CompiledSeed,
        "time_hessian",
        plain="time_plain_math",
    ),
    Case(
        "compiled_seed[numpy backend]/math",
        compiled.CompiledSeed,
        "time_value_and_grad_numpy_backend",
        plain="time_plain_math",
    ),
    Case(
        "compiled_loop[grad float]", compiled.CompiledLoop, "time_grad_float", 0.05, "us_op", 2000
    ),
    Case("compiled_loop[grad 0-d]", compiled.CompiledLoop, "time_grad_0d", 0.05, "us_op", 2000),
    Case("compiled_rosenbrock_100[hessian]", compiled.CompiledRosenbrock100, "time_hessian", 5.0),
    Case("compiled_rosenbrock_100[grad]", compiled.CompiledRosenbrock100, "time_grad"),
    Case(
        "compiled_rosenbrock_100[scipy rosen_hess]",
        compiled.CompiledRosenbrock100,
        "time_rosen_hess",
    ),
    Case(
        "compiled_rosenbrock_100[hessian numpy backend]",
        compiled.CompiledRosenbrock100,
        "time_hessian_numpy_backend",
    ),
    Case("compiled_chain_1e6[jvp]", compiled.CompiledChain1e6, "time_jvp", 1.0),
    Case(
        "compiled_chain_1e6[grad]",
        compiled.CompiledChain1e6,
        "time_grad",
        1.0,
        plain="time_plain_sum",
    ),
    Case("compiled_chain_1e6[value]", compiled.CompiledChain1e6, "time_value"),
]


# -- timing -----------------------------------------------------------------------------------


def _loop(fn, number: int) -> float:
    """Seconds per call over ``number`` calls, garbage collector off (as timeit does)."""
    gc_was_on = gc.isenabled()
    gc.disable()
    try:
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        return (time.perf_counter() - t0) / number
    finally:
        if gc_was_on:
            gc.enable()


def _autorange(fn, min_sample: float) -> int:
    """Calls per sample so that one sample lasts at least ``min_sample`` seconds."""
    number = 1
    while True:
        per_call = _loop(fn, number)
        if per_call * number >= min_sample:
            return number
        number = max(number * 2, int(min_sample / max(per_call, 1e-9) * 1.2))


def measure(plain, dual, repeats: int, min_sample: float, stat=statistics.median):
    """Seconds per call of ``plain`` and ``dual`` (``stat`` of the samples, the median by
    default), the larger relative IQR of the two, and the median ratio of neighbouring
    samples (each pair ran within a fraction of a second, at one machine speed)."""
    for fn in (plain, dual):  # warm-up: caches, allocator, lazy imports
        _loop(fn, 2)
    n_plain, n_dual = _autorange(plain, min_sample), _autorange(dual, min_sample)
    tp, td = [], []
    for _ in range(repeats):
        gc.collect()
        tp.append(_loop(plain, n_plain))
        td.append(_loop(dual, n_dual))
    mp, md = stat(tp), stat(td)
    spread = max(_spread(tp, statistics.median(tp)), _spread(td, statistics.median(td)))
    return mp, md, spread, statistics.median(d / p for p, d in zip(tp, td))


def _spread(xs, med):
    if len(xs) < 4:
        return 0.0
    q = statistics.quantiles(xs, n=4)
    return (q[2] - q[0]) / med


# -- one case ---------------------------------------------------------------------------------


def _bench(case: Case):
    bench = case.cls()
    bench.setup()
    return getattr(bench, case.plain), getattr(bench, case.method)


def _fmt_time(s: float) -> str:
    if s >= 1:
        return f"{s:.3g} s"
    if s >= 1e-3:
        return f"{s * 1e3:.3g} ms"
    return f"{s * 1e6:.3g} us"


def run_case(case: Case, repeats: int, min_sample: float, stat=statistics.median) -> list[str]:
    """Table cells: case, plain, dualad, ratio, target, spread, verdict."""
    try:
        plain, dual = _bench(case)
        mp, md, spread, paired = measure(plain, dual, repeats, min_sample, stat)
    except Exception as e:  # noqa: BLE001  (a missing rule must not stop the other cases)
        msg = f"{type(e).__name__}: {e}".splitlines()[0].split(". ")[0]
        return [case.name, "-", "-", "-", _fmt_target(case), "-", "ERROR " + msg[:120]]
    # medians: the median of paired ratios; min: the ratio of the least disturbed samples
    ratio = paired if stat is statistics.median else md / mp
    if case.kind == "ratio":
        value, shown = ratio, (_fmt_time(mp), _fmt_time(md))
    elif case.kind == "us":
        value, shown = md * 1e6, (f"{mp * 1e6:.3g} us", f"{md * 1e6:.3g} us")
    else:  # us_op
        value = md * 1e6 / case.ops
        shown = (f"{mp * 1e6 / case.ops:.3g} us/op", f"{value:.3g} us/op")
    if case.target is None:
        verdict = "(comparison)"
    else:
        verdict = "ok" if value <= case.target else f"SLOW ({value / case.target:.2f}x target)"
    return [case.name, *shown, f"{ratio:.2f}x", _fmt_target(case), f"{spread:.0%}", verdict]


def _fmt_target(case: Case) -> str:
    if case.target is None:
        return "-"
    return {"ratio": f"<= {case.target:.3g}x", "us": f"<= {case.target:g} us",
            "us_op": f"<= {case.target:g} us/op"}[case.kind]  # fmt: skip


def profile_case(case: Case, seconds: float, top: int) -> None:
    """cProfile the dualad side of ``case`` for about ``seconds``; print the top functions."""
    try:
        _, dual = _bench(case)
        dual()
    except Exception:  # noqa: BLE001  (print it and go on with the next case)
        traceback.print_exc()
        return
    number = max(1, int(seconds / max(_loop(dual, 1), 1e-9)))
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(number):
        dual()
    prof.disable()
    print(f"\n=== profile: {case.name} ({number} calls) ===")
    stats = pstats.Stats(prof).strip_dirs()
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)


def _table(rows: list[list[str]]) -> str:
    head = ["case", "plain", "dualad", "ratio", "target", "spread", "verdict"]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]

    def line(r):
        return "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()

    return "\n".join([line(head), line(["-" * w for w in widths]), *map(line, rows)])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer and shorter samples")
    parser.add_argument("--only", action="append", metavar="NAME",
                        help="run only this case (a prefix such as fwd_scalar_seed works too); "
                        "repeatable")  # fmt: skip
    parser.add_argument("--repeats", type=int, help="samples per side (default 7 quick, 31)")
    parser.add_argument("--stat", choices=("median", "min"), default="median",
                        help="statistic of the samples (min: the least disturbed run, for a "
                        "machine busy with other work)")  # fmt: skip
    parser.add_argument("--profile", action="store_true", help="also cProfile the dualad side")
    parser.add_argument("--top", type=int, default=25, help="functions listed per profile")
    args = parser.parse_args(argv)

    cases = CASES
    if args.only:
        cases = [c for c in CASES if any(c.name == o or c.name.startswith(o) for o in args.only)]
        if not cases:
            parser.error(f"no case matches {args.only}; cases: {[c.name for c in CASES]}")
    repeats = args.repeats or (7 if args.quick else 31)
    min_sample = 0.02 if args.quick else 0.1

    if hasattr(os, "sched_setaffinity"):
        core = max(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {core})
        where = f"pinned to core {core}"
    else:
        where = "not pinned (no sched_setaffinity)"
    import numpy as np

    print(f"numpy {np.__version__}, python {sys.version.split()[0]}, {where}, "
          f"{repeats} samples of >= {min_sample * 1e3:g} ms each side, {args.stat}s")  # fmt: skip
    stat = statistics.median if args.stat == "median" else min
    rows = []
    for case in cases:
        rows.append(run_case(case, repeats, min_sample, stat))
        print(f"  {rows[-1][0]}: {rows[-1][-1]}", file=sys.stderr, flush=True)
    print(_table(rows))
    if args.profile:
        for case in cases:
            profile_case(case, 2.0 if args.quick else 5.0, args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())

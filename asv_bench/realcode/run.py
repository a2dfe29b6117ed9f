# ruff: noqa: BLE001
"""How dualad does on real third-party numerical code (issue 9's measurement).

    python asv_bench/realcode/run.py              # the whole corpus (~700 functions)
    python asv_bench/realcode/run.py --quick      # ~12 functions per package
    python asv_bench/realcode/run.py --out /tmp/realcode.json --jobs 2 --package deap

For every function in ``corpus.build()``:

1. classify it on plain float64 input: it must run, be deterministic and return finite
   float values (a scalar, an array, or a tuple/list of them); otherwise it is "excluded";
2. differentiate it with dualad in four configurations: forward / reverse mode, each without
   and with ``intercept=True`` (the latter only where ``dualad.grad`` has that parameter;
   otherwise recorded as "n/a"). Scalar outputs use ``dualad.grad``, others
   ``dualad.jacobian``;
3. check every returned derivative against float64 central differences. A mismatch is
   re-checked with other step sizes, a Richardson-extrapolated difference and (where the
   code runs on complex input) the complex step, before it is called "WRONG"; it is called
   WRONG only when two independent finite-difference estimates agree with each other and
   both disagree with dualad. Where the estimates disagree among themselves (a kink, a
   Weierstrass-type function, an ill-conditioned point) the run is "unverified".

Each run is "ok", "refused" (raised: the cause is classified), "WRONG" (silently wrong),
"unverified" or "timeout". The Markdown report goes to stdout, every outcome to --out.
"""

from __future__ import annotations

import os

for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")  # one BLAS thread per worker process

import argparse
import collections
import contextlib
import inspect
import json
import math
import multiprocessing
import re
import signal
import sys
import time
import traceback
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import corpus
from corpus import FD_UNRELIABLE

import dualad

_DUALAD_DIRS = tuple(
    os.path.dirname(os.path.abspath(m.__file__)) + os.sep for m in (dualad, __import__("tape"))
)
INTERCEPT = all(
    "intercept" in inspect.signature(fn).parameters for fn in (dualad.grad, dualad.jacobian)
)
CONFIGS = (  # key, mode, intercept
    ("fwd", "forward", False),
    ("rev", "reverse", False),
    ("fwd+i", "forward", True),
    ("rev+i", "reverse", True),
)
#: --from-imports: intercepted runs also rebind `from math import cos`-style names in the
#: function's package (dualad.intercept(from_imports=...), the documented opt-in).
FROM_IMPORTS = False
RTOL, ATOL = 1e-5, 1e-8
LOOSE = 1e-3  # a WRONG must miss a self-consistent reference by this much
RESOLUTION = 1e-4  # an estimate whose rounding noise exceeds this (relative) checks nothing
EPS = np.finfo(np.float64).eps


class Timeout(BaseException):
    """Raised by the alarm; a BaseException so `except Exception` in the code under test
    cannot swallow it."""


def _alarm(signum, frame):
    raise Timeout()


class limit:
    def __init__(self, seconds):
        self.seconds = seconds

    def __enter__(self):
        signal.signal(signal.SIGALRM, _alarm)
        signal.setitimer(signal.ITIMER_REAL, self.seconds)

    def __exit__(self, *a):
        signal.setitimer(signal.ITIMER_REAL, 0)
        return False


# -- outputs ------------------------------------------------------------------------------


def flatten_output(y):
    """(kind, flat float64 vector) of a plain output, or (None, reason)."""
    if isinstance(y, (bool, np.bool_)):
        return None, "boolean output"
    if isinstance(y, (float, np.floating)):
        return "scalar", np.array([float(y)])
    if isinstance(y, (int, np.integer)):
        return None, "integer output"
    if isinstance(y, (complex, np.complexfloating)):
        return None, "complex output"
    if isinstance(y, np.ndarray):
        if y.dtype.kind == "c":
            return None, "complex output"
        if y.dtype.kind != "f":
            return None, f"{y.dtype} output"
        if y.size == 0:
            return None, "empty output"
        return ("scalar" if y.ndim == 0 else "array"), y.astype(np.float64).ravel()
    if isinstance(y, (tuple, list)) and y:
        parts = []
        for v in y:
            k, p = flatten_output(v)
            if k is None:
                return None, f"tuple with {p}"
            parts.append(p)
        return "tuple", np.concatenate(parts)
    return None, f"unsupported output type {type(y).__name__}"


def flatten_derivative(r, kind, n):
    """dualad's grad/jacobian result as an (m, n) float matrix; raises on a non-array."""
    leaves = list(r) if kind == "tuple" and isinstance(r, (tuple, list)) else [r]
    rows = []
    for v in leaves:
        if isinstance(v, (float, np.floating)):
            v = np.array(v)
        if type(v) is not np.ndarray or v.dtype.kind not in "fc":
            raise _BadResult(
                f"returned {type(v).__name__} (dtype {getattr(v, 'dtype', None)}), "
                "not a float ndarray"
            )
        if v.size % n:
            raise _BadResult(f"result of shape {v.shape} does not fit {n} inputs")
        rows.append(v.real.reshape(-1, n) if v.dtype.kind == "c" else v.reshape(-1, n))
    return np.vstack(rows).astype(np.float64)


class _BadResult(Exception):
    pass


# -- finite differences -------------------------------------------------------------------


def _plain(f, x):
    return flatten_output(f(x.copy()))[1]


def _plain_ld(f, x):
    """The output in extended precision, where the code keeps np.longdouble."""
    y = f(x.copy())
    if isinstance(y, (tuple, list)):
        return np.concatenate([np.ravel(np.asarray(v, dtype=np.longdouble)) for v in y])
    return np.ravel(np.asarray(y, dtype=np.longdouble))


def fd_jacobian(f, x, rel, richardson=False, dtype=np.float64):
    """Central differences with step rel * max(1, |x_j|); (J, steps)."""
    plain = _plain if dtype == np.float64 else _plain_ld
    x = x.astype(dtype)
    xf = x.ravel()
    h = rel * np.maximum(1.0, np.abs(xf))
    cols = []

    def d(j, hj):
        xp, xm = xf.copy(), xf.copy()
        xp[j] += hj
        xm[j] -= hj
        hh = xp[j] - xm[j]  # the step actually taken
        return (plain(f, xp.reshape(x.shape)) - plain(f, xm.reshape(x.shape))) / hh

    for j in range(xf.size):
        if richardson:
            cols.append((4 * d(j, h[j] / 2) - d(j, h[j])) / 3)
        else:
            cols.append(d(j, h[j]))
    return np.stack(cols, axis=1).astype(np.float64), h.astype(np.float64)


def complex_step(f, x, h=1e-30):
    xf = x.astype(np.complex128).ravel()
    cols = []
    for j in range(xf.size):
        xp = xf.copy()
        xp[j] += 1j * h
        y = f(xp.reshape(x.shape))
        if isinstance(y, (tuple, list)):
            y = np.concatenate([np.ravel(np.asarray(v, dtype=np.complex128)) for v in y])
        y = np.ravel(np.asarray(y))
        if y.dtype.kind != "c":
            raise TypeError("real output on complex input")
        cols.append(y.imag / h)
    return np.stack(cols, axis=1)


def tolerance(R, y, h, rtol=RTOL):
    """Per-entry tolerance: relative to the output row's largest derivative, plus the
    rounding noise of a central difference of an output of size |y_i| with step h_j."""
    scale = np.max(np.abs(R), axis=1, keepdims=True)
    noise = 8 * EPS * np.maximum(np.abs(y), 1.0)[:, None] / h[None, :]
    return rtol * scale + ATOL + noise


def resolution(R, y, h):
    """Rounding noise of a difference estimate relative to each row's scale (worst row).

    A row whose derivatives are all tiny next to its value (a plateau) is measured against
    1e-4 |y_i| instead, so that the zero derivative of a step function can be checked."""
    scale = np.maximum(np.max(np.abs(R), axis=1), 1e-4 * np.maximum(np.abs(y), 1.0))
    noise = 8 * EPS * np.maximum(np.abs(y), 1.0) / np.min(h)
    return float(np.max(noise / scale))


def mismatch(J, R, y, h, rtol=RTOL):
    """(agrees, max abs error, max error relative to the row scale)."""
    if J.shape != R.shape:
        return False, math.inf, math.inf
    with np.errstate(invalid="ignore", over="ignore"):
        err = np.abs(J - R)
        bad = ~(err <= tolerance(R, y, h, rtol))
        bad |= ~np.isfinite(J) & np.isfinite(R)
        scale = np.max(np.abs(R), axis=1, keepdims=True) + ATOL
        rel = np.where(np.isfinite(err), err / scale, np.inf)
    return (
        (not bad.any()),
        float(np.nanmax(np.where(np.isfinite(err), err, np.inf))),
        float(np.max(rel)),
    )


class Reference:
    """Lazily computed finite-difference estimates of one function at one point."""

    STEPS = (
        ("central 1e-6", 1e-6, False),
        ("central 1e-4", 1e-4, False),
        ("Richardson 1e-3", 1e-3, True),
        ("central 1e-8", 1e-8, False),
        # high-frequency code (Weierstrass: cos(2 pi 3^20 x)) needs steps below its period
        ("central 1e-10", 1e-10, False),
        ("central 1e-12", 1e-12, False),
        ("longdouble central 1e-13", 1e-13, "ld"),
    )

    def __init__(self, f, x, y, timeout):
        self.f, self.x, self.y, self.timeout = f, x, y, timeout
        self.est = {}  # name -> (R, h) or an error string
        self.cs = None

    def get(self, name, rel, rich):
        if name not in self.est:
            try:
                with limit(self.timeout), warnings.catch_warnings(), np.errstate(all="ignore"):
                    warnings.simplefilter("ignore")
                    if rich == "ld":
                        if np.finfo(np.longdouble).eps >= EPS:
                            raise TypeError("no extended precision on this platform")
                        R, h = fd_jacobian(self.f, self.x, rel, False, np.longdouble)
                    else:
                        R, h = fd_jacobian(self.f, self.x, rel, rich)
                if not np.all(np.isfinite(R)):
                    self.est[name] = "non-finite"
                elif resolution(R, self.y, h) > RESOLUTION:
                    self.est[name] = "rounding noise too large for this step"
                else:
                    self.est[name] = (R, h)
            except Timeout:
                self.est[name] = "timeout"
            except Exception as e:
                self.est[name] = f"{type(e).__name__}: {e}"
        return self.est[name]

    def complex(self):
        if self.cs is None:
            try:
                with limit(self.timeout), warnings.catch_warnings(), np.errstate(all="ignore"):
                    warnings.simplefilter("ignore")
                    self.cs = complex_step(self.f, self.x)
            except (Timeout, Exception):
                self.cs = False
        return self.cs

    def verify(self, J):
        """("ok" | "WRONG" | "unverified", details)."""
        first = None
        for name, rel, rich in self.STEPS:
            e = self.get(name, rel, rich)
            if isinstance(e, str):
                continue
            ok, aerr, rerr = mismatch(J, e[0], self.y, e[1])
            if first is None:
                first = (name, aerr, rerr)
            if ok:
                return "ok", {"checked_by": name}
        cs = self.complex()
        if cs is not False and cs.shape == J.shape and np.all(np.isfinite(cs)):
            h = np.full(J.shape[1], 1e-3)  # the complex step has no cancellation noise
            if mismatch(J, cs, np.zeros(len(self.y)), h)[0]:
                return "ok", {"checked_by": "complex step"}
        usable = [(n, e) for n, e in self.est.items() if not isinstance(e, str)]
        # two finite-difference estimates that agree with each other: a trusted reference
        for i, (n1, (R1, h1)) in enumerate(usable):
            for n2, (R2, h2) in usable[i + 1 :]:
                if mismatch(R1, R2, self.y, np.maximum(h1, h2))[0]:
                    ok, aerr, rerr = mismatch(J, R1, self.y, h1)
                    det = {
                        "reference": f"{n1} ~ {n2}",
                        "max_abs_err": aerr,
                        "max_rel_err": rerr,
                        "dualad": _short(J),
                        "fd": _short(R1),
                    }
                    if not mismatch(J, R1, self.y, h1, rtol=LOOSE)[0]:
                        return "WRONG", det
                    det["reason"] = (
                        f"small discrepancy ({RTOL:g} < rel err < {LOOSE:g}) against "
                        "two agreeing finite-difference estimates"
                    )
                    return "unverified", det
        # no two estimates agree (high-frequency code, a kink near the point): accept agreement
        # to LOOSE with any of them, as the Weierstrass-type functions need
        for n, (R, h) in usable:
            if mismatch(J, R, self.y, h, rtol=LOOSE)[0]:
                return "ok", {
                    "checked_by": f"{n} (loose: rtol {LOOSE:g}; the estimates disagree "
                    "with each other)"
                }
        det = {"reason": "finite-difference estimates disagree with each other and with dualad"}
        if first:
            det.update(
                first_fd=first[0], max_abs_err=first[1], max_rel_err=first[2], dualad=_short(J)
            )
            e = self.est.get(first[0])
            if not isinstance(e, str):
                det["fd"] = _short(e[0])
        return "unverified", det


def _short(a, k=8):
    a = np.asarray(a).ravel()
    return [float(f"{v:.10g}") for v in a[:k]] + (["..."] if a.size > k else [])


# -- failure causes -----------------------------------------------------------------------

_SETITEM = re.compile(r"^[^=(]*\[[^\]]*\]\s*(?:[-+*/%@&|^]|\*\*|//)?=(?!=)")


def _site(tb, skip_numpy=False):
    """The innermost frame outside dualad/tape (and NumPy, with skip_numpy): where the code
    under test tripped, as ("path:line", source line)."""
    frames = traceback.extract_tb(tb)
    for fr in reversed(frames):
        fn = os.path.abspath(fr.filename)
        if fn.startswith(_DUALAD_DIRS) or (skip_numpy and fn.startswith(_NUMPY_DIR)):
            continue
        short = fn
        m = re.search(r"site-packages/(.*)", fn)
        if m:
            short = m.group(1)
        return f"{short}:{fr.lineno}", (fr.line or "").strip()
    return "?", ""


_NUMPY_DIR = os.path.dirname(os.path.abspath(np.__file__)) + os.sep


def classify_error(e):
    """(cause, family) for an exception raised by dualad on the code under test."""
    msg = str(e)
    first = msg.strip().splitlines()[0] if msg.strip() else ""
    _, line = _site(e.__traceback__, skip_numpy=True)
    setitem = bool(_SETITEM.match(line))
    if "silently drop its derivative" in msg or "setting an array element with a sequence" in msg:
        if setitem:
            return "plain-buffer write: a[i] = <Dual>", "plain-buffer write"
        if "NumPy array" in msg and _site(e.__traceback__)[0].startswith("numpy/"):
            # NumPy's own Python code converted it (np.sum([d0, d1]) -> ufunc.reduce(list))
            return "coerce: converted inside NumPy's Python code", "coerce"
        if "NumPy array" in msg:
            if re.search(r"\b(np|numpy)\.(as\w*array|array)\(", line):
                return "coerce: np.asarray/np.array", "coerce"
            return "coerce: array conversion (asarray imported by name, or implicit)", "coerce"
        if "Python float" in msg:
            if re.search(r"\bfloat\(", line):
                return "coerce: float()", "coerce"
            if re.search(r"\bmath\.\w+\(", line):
                return "coerce: math.*", "coerce"
            return "coerce: float (math.* imported by name, or implicit)", "coerce"
        if "Python int" in msg or "an index" in msg:
            return "coerce: int()/index", "coerce"
        if ".item()" in msg or ".tolist()" in msg:
            return "coerce: .item()/.tolist()", "coerce"
        if "Python complex" in msg:
            return "coerce: complex()", "coerce"
        return "coerce: other", "coerce"
    if (
        "into a plain" in msg
        or "would write a" in msg
        or "out=array" in msg
        or "out=...) on a Variable" in msg
        or "cannot hold its derivative" in msg
    ):
        if setitem:
            return "plain-buffer write: a[i] op= <Dual>", "plain-buffer write"
        return "plain-buffer write: out=/np.copyto/...", "plain-buffer write"
    if isinstance(e, NotImplementedError):
        m = (
            re.search(r"no derivative rule for ([\w.]+)", msg)
            or re.search(r"does not differentiate ([\w.]+)", msg)
            or re.search(r"(numpy\.\w+)\(\.\.\., where=", msg)
            or re.search(r"^([\w.]+): ", first)
        )
        if m:
            return f"missing rule: {m.group(1).rstrip('.')}", "NotImplementedError"
        return f"NotImplementedError: {first[:90]}", "NotImplementedError"
    first = re.sub(r"\b(Dual|Variable)\(.*", r"<\1>", first)  # drop reprs of values
    first = re.sub(r"\b(Dual|Variable)\b", "Dual/Variable", first)
    first = re.sub(r"\.(primal|value)\b", ".primal/.value", first)
    return f"{type(e).__name__}: {first[:90]}", "other"


# -- one function -------------------------------------------------------------------------


def _leaked():
    """True when interception is still switched on after an intercepted call returned.

    dualad installs dormant wrappers over np.asarray/math.* once, for good (by design); what
    must not outlive the call is the switch that wakes them.
    """
    mod = getattr(dualad, "_intercept", None)
    active = getattr(mod, "active", None)
    return bool(active()) if active is not None else False


def plain_check(entry, timeout):
    """(x, y_flat, kind) or raises _Excluded(reason)."""
    first_err = None
    for x in entry.candidates():
        try:
            with limit(timeout), warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                y = entry.fn(x.copy())
                kind, flat = flatten_output(y)
                if kind is None:
                    raise _Excluded(flat)
                if not np.all(np.isfinite(flat)):
                    first_err = first_err or "non-finite output"
                    continue
                kind2, flat2 = flatten_output(entry.fn(x.copy()))
                if (
                    kind2 != kind
                    or flat2.shape != flat.shape
                    or not np.allclose(flat2, flat, rtol=1e-12, atol=0)
                ):
                    raise _Excluded("nondeterministic (two calls differ)")
                return x, flat, kind
        except _Excluded:
            raise
        except Timeout:
            raise _Excluded(f"plain call timed out after {timeout}s")
        except Exception as e:
            first_err = first_err or f"fails on plain input: {type(e).__name__}: {str(e)[:100]}"
    raise _Excluded(first_err or "no test point")


class _Excluded(Exception):
    pass


def _from_imports(entry, icpt):
    """With --from-imports, an intercepted run rebinds names imported from math/numpy in every
    loaded module of the function's package, as a user would with
    ``dualad.intercept(from_imports=[...])``; otherwise nothing."""
    if not (icpt and FROM_IMPORTS):
        return contextlib.nullcontext()
    top = entry.name.split(".")[0]
    mods = [m for n, m in list(sys.modules.items()) if n == top or n.startswith(top + ".")]
    return dualad.intercept(from_imports=[m for m in mods if m is not None])


def run_one(entry, timeout):
    rec = {"package": entry.package, "name": entry.name, "note": entry.note}
    if entry.fn is None:
        rec.update(status="excluded", reason=f"not constructible: {entry.import_error}")
        return rec
    t0 = time.perf_counter()
    try:
        x, y, kind = plain_check(entry, timeout)
    except _Excluded as e:
        rec.update(status="excluded", reason=str(e))
        return rec
    rec.update(
        status="tested",
        kind=kind,
        x=x.tolist(),
        shape=list(x.shape),
        dim=int(x.size),
        n_out=int(y.size),
    )
    ref = Reference(entry.fn, x, y, timeout)
    runs, jacs = {}, {}
    for key, mode, icpt in CONFIGS:
        if icpt and not INTERCEPT:
            runs[key] = {"status": "n/a"}
            continue
        api = dualad.grad if kind == "scalar" else dualad.jacobian
        kw = {"mode": mode}
        if icpt:
            kw["intercept"] = True
        r = {}
        t = time.perf_counter()
        try:
            with (
                limit(timeout),
                warnings.catch_warnings(),
                np.errstate(all="ignore"),
                _from_imports(entry, icpt),
            ):
                warnings.simplefilter("ignore")
                res = api(entry.fn, x.copy(), **kw)
            r["time_s"] = round(time.perf_counter() - t, 4)
            J = flatten_derivative(res, kind, x.size)
            jacs[key] = J
            status, det = ref.verify(J)
            why = FD_UNRELIABLE.get(entry.name)
            if status == "WRONG" and why:  # checked by other means: see corpus.FD_UNRELIABLE
                status, det["reason"] = "unverified", why
            r.update(status=status, **det)
        except Timeout:
            r.update(status="timeout", cause=f"timeout after {timeout}s", family="timeout")
        except _BadResult as e:
            r.update(status="WRONG", reason=str(e))
        except Exception as e:
            cause, family = classify_error(e)
            where, line = _site(e.__traceback__, skip_numpy=True)
            inner = _site(e.__traceback__)[0]
            r.update(
                status="refused",
                cause=cause,
                family=family,
                exc=type(e).__name__,
                message=(str(e).strip().splitlines() or [""])[0][:300],
                site=where,
                line=line[:200],
                **({"inner_site": inner} if inner != where else {}),
            )
        if icpt and _leaked():
            r["leaked"] = True
        runs[key] = r
    rec["runs"] = runs
    for a, b in (("fwd", "rev"), ("fwd+i", "rev+i")):
        if a in jacs and b in jacs:
            Ja, Jb = jacs[a], jacs[b]
            same = Ja.shape == Jb.shape and np.allclose(
                Ja,
                Jb,
                rtol=1e-7,
                atol=1e-10 * (1 + np.nanmax(np.abs(Ja), initial=0)),
                equal_nan=True,
            )
            if not same:
                rec.setdefault("mode_disagreement", []).append(f"{a} vs {b}")
    rec["time_s"] = round(time.perf_counter() - t0, 3)
    fam = [runs[k].get("family") for k in ("fwd", "rev") if runs[k]["status"] == "refused"]
    rec["coercing"] = "coerce" in fam
    return rec


# -- driver -------------------------------------------------------------------------------

_ENTRIES = []
_TIMEOUT = 20.0


def _work(i):
    try:
        return i, run_one(_ENTRIES[i], _TIMEOUT)
    except BaseException as e:  # a harness error must not lose the whole run
        e_ = _ENTRIES[i]
        return i, {
            "package": e_.package,
            "name": e_.name,
            "status": "excluded",
            "reason": f"harness error: {type(e).__name__}: {e}",
        }


def select(entries, quick, packages, pattern):
    if packages:
        entries = [e for e in entries if e.package in packages]
    if pattern:
        rx = re.compile(pattern)
        entries = [e for e in entries if rx.search(e.name)]
    if quick:
        by = collections.defaultdict(list)
        for e in entries:
            by[e.package].append(e)
        entries = []
        for es in by.values():
            step = max(1, len(es) // 12)
            entries += es[::step][:12]
    return entries


def _ok(r, k):
    return r["runs"][k]["status"] == "ok"


def summarize(results):
    pkgs = list(dict.fromkeys(r["package"] for r in results))
    rows = []
    for p in pkgs + ["**total**"]:
        rs = results if p == "**total**" else [r for r in results if r["package"] == p]
        t = [r for r in rs if r["status"] == "tested"]
        c = collections.Counter()
        c["functions"] = len(rs)
        c["excluded"] = len(rs) - len(t)
        c["tested"] = len(t)
        c["fwd ok"] = sum(_ok(r, "fwd") for r in t)
        c["rev ok"] = sum(_ok(r, "rev") for r in t)
        c["both ok"] = sum(_ok(r, "fwd") and _ok(r, "rev") for r in t)
        c["coercing"] = sum(r["coercing"] for r in t)
        if INTERCEPT:
            c["coercing fixed"] = sum(
                r["coercing"] and _ok(r, "fwd+i") and _ok(r, "rev+i") for r in t
            )
            c["both ok +i"] = sum(_ok(r, "fwd+i") and _ok(r, "rev+i") for r in t)
            c["regressions"] = sum(
                any(_ok(r, k) and not _ok(r, k + "+i") for k in ("fwd", "rev")) for r in t
            )
        c["WRONG"] = sum(any(v["status"] == "WRONG" for v in r["runs"].values()) for r in t)
        c["unverified"] = sum(
            any(v["status"] == "unverified" for v in r["runs"].values()) for r in t
        )
        c["timeouts"] = sum(any(v["status"] == "timeout" for v in r["runs"].values()) for r in t)
        rows.append((p, c))
    return rows


def pct(a, b):
    return f"{a} ({100 * a / b:.0f}%)" if b else f"{a}"


def report(results, elapsed, args):
    out = []
    w = out.append
    w("# dualad on real third-party code\n")
    w(
        f"dualad {getattr(dualad, '__version__', '?')}, numpy {np.__version__}, "
        f"intercept=True {'available' if INTERCEPT else 'NOT available (intercept runs: n/a)'}; "
        f"{len(results)} functions, {elapsed:.0f} s, {args.jobs} worker(s), timeout {args.timeout:g} s"
        + (
            ", corpus imported after dualad installed its intercept wrappers (--intercept-first)"
            if args.intercept_first and INTERCEPT
            else ""
        )
        + (
            "; intercepted runs also rebind names imported from math/numpy in the function's "
            "package (--from-imports: dualad.intercept(from_imports=...))"
            if FROM_IMPORTS
            else ""
        )
        + "\n"
    )
    vers = []
    for dist in corpus.PACKAGES:
        try:
            from importlib.metadata import version

            v = version(dist)
        except Exception:
            v = "not installed"
        pin = corpus.PACKAGES[dist]
        vers.append(f"{dist}=={v}" + ("" if v == pin else f" (pinned {pin})"))
    w("packages: " + ", ".join(vers) + "\n")
    hdr = [
        "package",
        "functions",
        "excluded",
        "tested",
        "fwd ok",
        "rev ok",
        "both ok (no intercept)",
        "coercing",
    ]
    if INTERCEPT:
        hdr += ["coercing fixed by intercept (both modes)", "both ok with intercept", "regressions"]
    else:
        hdr += ["coercing fixed by intercept", "regressions"]
    hdr += ["WRONG", "unverified", "timeouts"]
    w("| " + " | ".join(hdr) + " |")
    w("|" + "---|" * len(hdr))
    for p, c in summarize(results):
        cells = [
            p,
            c["functions"],
            c["excluded"],
            c["tested"],
            c["fwd ok"],
            c["rev ok"],
            pct(c["both ok"], c["tested"]),
            c["coercing"],
        ]
        if INTERCEPT:
            cells += [
                pct(c["coercing fixed"], c["coercing"]),
                pct(c["both ok +i"], c["tested"]),
                c["regressions"],
            ]
        else:
            cells += ["n/a", "n/a"]
        cells += [f"**{c['WRONG']}**" if c["WRONG"] else "0", c["unverified"], c["timeouts"]]
        w("| " + " | ".join(str(v) for v in cells) + " |")
    w("")
    tested = [r for r in results if r["status"] == "tested"]

    wrong = [(r, k, v) for r in tested for k, v in r["runs"].items() if v["status"] == "WRONG"]
    w(
        f"## WRONG: silently wrong derivatives ({len(wrong)} runs, "
        f"{len({r['name'] for r, _, _ in wrong})} functions)\n"
    )
    if not wrong:
        w("none\n")
    for r, k, v in wrong:
        w(
            f"- **{r['name']}** [{k}] "
            + (
                f"max abs err {v.get('max_abs_err', float('nan')):.3g}, rel {v.get('max_rel_err', float('nan')):.3g} "
                f"(reference: {v.get('reference')})"
                if "reference" in v
                else v.get("reason", "")
            )
        )
        if "dualad" in v:
            w(f"    - dualad {v['dualad']}\n    - FD     {v['fd']}")
        w(
            f"    - x = {np.array2string(np.asarray(r['x']), precision=17, separator=', ').replace(chr(10), '')}"
        )
    w("")

    dis = [(r["name"], d) for r in tested for d in r.get("mode_disagreement", [])]
    w(f"## Forward and reverse mode disagree ({len(dis)})\n")
    for n, d in dis:
        w(f"- {n}: {d}")
    w("")
    w("## Refusal causes (functions, counting forward and reverse without intercept)\n")
    fam = collections.Counter()
    causes = collections.Counter()
    sites = collections.defaultdict(collections.Counter)
    for r in tested:
        seen_c, seen_f = set(), set()
        for k in ("fwd", "rev"):
            v = r["runs"][k]
            if v["status"] in ("refused", "timeout"):
                seen_c.add(v["cause"])
                seen_f.add(v["family"])
                if v.get("site"):
                    sites[v["cause"]][f"{v['site']}  {v.get('line', '')}"] += 1
        causes.update(seen_c)
        fam.update(seen_f)
    w("| family | functions |\n|---|---|")
    for f, n in fam.most_common():
        w(f"| {f} | {n} |")
    w("\n| cause | functions | most common site |\n|---|---|---|")
    for c, n in causes.most_common(40):
        s = sites[c].most_common(1)
        s = s[0][0].replace("|", "\\|")[:110] if s else ""
        w(f"| {c} | {n} | `{s}` |")
    w("")
    miss = collections.Counter()
    for r in tested:
        names = {
            v["cause"][len("missing rule: ") :]
            for v in r["runs"].values()
            if v.get("cause", "").startswith("missing rule: ")
        }
        miss.update(names)
    w("## Missing derivative rules (functions blocked, any configuration)\n")
    w(", ".join(f"`{n}` {c}" for n, c in miss.most_common()) or "none")
    w("")
    if INTERCEPT:
        reg = [(r, k) for r in tested for k in ("fwd", "rev") if _ok(r, k) and not _ok(r, k + "+i")]
        w(f"## Regressions with intercept=True ({len(reg)})\n")
        for r, k in reg:
            v = r["runs"][k + "+i"]
            w(f"- {r['name']} [{k}+i]: {v['status']} {v.get('cause', v.get('reason', ''))}")
        w("")
        ic = collections.Counter()
        isites = collections.defaultdict(collections.Counter)
        for r in tested:
            seen = set()
            for k in ("fwd+i", "rev+i"):
                v = r["runs"][k]
                if v["status"] in ("refused", "timeout"):
                    seen.add(v["cause"])
                    if v.get("site"):
                        isites[v["cause"]][f"{v['site']}  {v.get('line', '')}"] += 1
            ic.update(seen)
        w("## Remaining refusal causes with intercept=True (functions)\n")
        w("| cause | functions | most common site |\n|---|---|---|")
        for c, n in ic.most_common(25):
            s = isites[c].most_common(1)
            s = s[0][0].replace("|", "\\|")[:110] if s else ""
            w(f"| {c[:100]} | {n} | `{s}` |")
        w("")
    leaks = [(r["name"], k) for r in tested for k, v in r["runs"].items() if v.get("leaked")]
    if leaks:
        w(f"## interception still switched on after the call returned ({len(leaks)} runs)\n")
        for n, k in leaks[:20]:
            w(f"- {n} [{k}]")
        w("")
    unv = [(r, k, v) for r in tested for k, v in r["runs"].items() if v["status"] == "unverified"]
    if unv:
        w(f"## Unverified (finite differences inconsistent at the point; {len(unv)} runs)\n")
        for r, k, v in unv[:40]:
            w(
                f"- {r['name']} [{k}] rel err vs {v.get('first_fd', '?')}: {v.get('max_rel_err', float('nan')):.3g}"
            )
        w("")
    exc = collections.Counter(
        re.sub(r"\d+(\.\d+)?", "N", r["reason"])[:100] for r in results if r["status"] == "excluded"
    )
    w("## Excluded (not differentiable on plain input)\n")
    for c, n in exc.most_common(15):
        w(f"- {n:4d}  {c}")
    return "\n".join(out)


def main(argv=None):
    global _ENTRIES, _TIMEOUT
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="about 12 functions per package")
    ap.add_argument("--out", default="/tmp/realcode.json", help="JSON with every outcome")
    ap.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--timeout", type=float, default=20.0, help="seconds per call")
    ap.add_argument("--package", action="append", help="only this package (repeatable)")
    ap.add_argument("--filter", help="only names matching this regular expression")
    ap.add_argument("--list", action="store_true", help="list the selected functions and exit")
    ap.add_argument(
        "--intercept-first",
        action="store_true",
        help="make one intercept=True call before importing the corpus packages: their "
        "`from math import cos` then binds dualad's dormant wrappers (import order matters)",
    )
    ap.add_argument(
        "--from-imports",
        action="store_true",
        help="intercepted runs also rebind `from math import cos`-style names in the "
        "function's package: dualad.intercept(from_imports=[its modules]), the opt-in",
    )
    args = ap.parse_args(argv)
    global FROM_IMPORTS
    FROM_IMPORTS = args.from_imports
    if args.intercept_first and INTERCEPT:
        dualad.grad(lambda v: v @ v, np.ones(2), intercept=True)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        entries = select(corpus.build(args.package), args.quick, args.package, args.filter)
    if args.list:
        for e in entries:
            print(e.package, e.name, e.dim)
        print(len(entries), "functions")
        return 0
    _ENTRIES, _TIMEOUT = entries, args.timeout
    t0 = time.perf_counter()
    results = [None] * len(entries)
    if args.jobs > 1 and len(entries) > 1:
        ctx = multiprocessing.get_context("fork")
        with ctx.Pool(args.jobs, maxtasksperchild=50) as pool:
            for n, (i, rec) in enumerate(pool.imap_unordered(_work, range(len(entries)))):
                results[i] = rec
                _progress(n + 1, len(entries), rec)
    else:
        for i in range(len(entries)):
            results[i] = _work(i)[1]
            _progress(i + 1, len(entries), results[i])
    elapsed = time.perf_counter() - t0
    print(file=sys.stderr)
    text = report(results, elapsed, args)
    print(text)
    with open(args.out, "w") as fh:
        json.dump(
            {
                "dualad_intercept_available": INTERCEPT,
                "elapsed_s": elapsed,
                "packages": corpus.PACKAGES,
                "results": results,
            },
            fh,
            indent=1,
            default=str,
        )
    print(f"\nper-function outcomes: {args.out}")
    return 0


def _progress(n, total, rec):
    if sys.stderr.isatty():
        print(f"\r{n}/{total} {rec['name'][:60]:60s}", end="", file=sys.stderr, flush=True)
    elif n % 50 == 0 or n == total:
        print(f"{n}/{total}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())

"""What the derivative tables cover: ``python -m dualad.coverage``.

Lists every function NumPy hands to dualad (the ufuncs of the ``numpy`` namespace and the
functions with ``__array_function__`` dispatch in ``numpy``, ``numpy.linalg`` and
``numpy.fft``), scipy.special's ufuncs, the SciPy functions reached with ``intercept=True``
(``dualad._foreign.FOREIGN``) and the remaining table entries (dualad's own primitives such
as ``getitem``), each with its forward, reverse and second-order status, whether its rule
holds on complex values, and the reason where something is not differentiated.

The status is read from the tables in the order both wrappers' hooks consult them:
in-place writers (``dualad._writers.IN_PLACE``), ``COMPOSITES``, ``RULES``,
``PRIMAL_ONLY``, ``UNSUPPORTED``; a function in none of them has no rule and raises
``NotImplementedError`` when it meets a Dual or Variable.

Usage::

    python -m dualad.coverage                  # fixed-width table, grouped by module
    python -m dualad.coverage --missing        # only functions without a derivative
    python -m dualad.coverage --format csv     # or json: every field, reasons in full
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import io
import json
import os
import sys
from collections import Counter
from dataclasses import dataclass

# -- the row and its vocabulary -----------------------------------------------------------

#: How a function is handled (the table that decides it).
RULE = "rule"  # RULES: a jvp/vjp pair
COMPOSITE = "composite"  # COMPOSITES: restated in NumPy calls that have rules
IN_PLACE = "in-place"  # np.copyto, np.put, ...: item assignments into a wrapper buffer
PRIMAL_ONLY = "primal-only"  # runs on the values, returns a plain (constant) result
UNSUPPORTED = "unsupported"  # deliberately without a rule, with a reason
NO_RULE = "no rule"  # in no table: NotImplementedError
INTERCEPT = "intercept"  # a SciPy function replaced by a dispatcher under intercept=True
KINDS = (RULE, COMPOSITE, IN_PLACE, INTERCEPT, PRIMAL_ONLY, UNSUPPORTED, NO_RULE)

#: Status values of the forward / reverse / second columns.
YES = "yes"  # differentiated
CONST = "const"  # runs, and its result carries no derivative (piecewise constant)
NO = "no"  # raises NotImplementedError on a Dual or Variable

#: (forward, reverse, second) for each kind.
STATUS = {
    RULE: (YES, YES, YES),  # rules are written in differentiable NumPy calls
    COMPOSITE: (YES, YES, YES),  # the calls they make have rules
    IN_PLACE: (YES, YES, YES),
    INTERCEPT: (YES, YES, YES),
    PRIMAL_ONLY: (CONST, CONST, CONST),
    UNSUPPORTED: (NO, NO, NO),
    NO_RULE: (NO, NO, NO),
}

#: Values of the complex column: the rule holds on complex values (``yes``), raises
#: ``NotImplementedError`` there (``no``), holds where the calls a composite makes do
#: (``depends``), or does not apply / is not stated (``-``).
COMPLEX_VALUES = ("yes", "no", "depends", "-")

PRIMAL_ONLY_REASON = "no derivative (piecewise constant / integer result)"
NO_RULE_REASON = "no rule (NotImplementedError on a Dual or Variable)"
ZERO_REASON = "derivative is zero (piecewise constant, or independent of the values)"
IN_PLACE_REASON = "writes into a Dual/Variable buffer (a plain destination raises TypeError)"
INTERCEPT_REASON = "with intercept=True"
WRAPPED_NOTE = "SciPy wraps the ufunc in a Python function (SCIPY_ARRAY_API=1): intercept=True"

#: Notes for table entries outside the public namespaces (by ``func_name``) and for SciPy
#: targets with private names (by ``Target.name``).
_NOTES = {
    "dualad.rules.getitem": "x[key] on a Dual or Variable",
    "dualad.rules.elementwise.astype": "x.astype(dtype) on a Dual or Variable",
    "dualad.rules.update.index_update": "x[key] = value on a Variable (a functional update)",
    "dualad.rules.indexing.index_add": "the transpose of x[key], used by reverse rules",
    "scipy.special._zeta": "behind scipy.special.zeta(x, q) (Hurwitz)",
    "scipy.special._riemann_zeta": "behind scipy.special.zeta(x) (Riemann)",
    "scipy.stats.multivariate_normal._process_parameters": "SciPy's private helper, restated: "
    "makes multivariate_normal.logpdf and .pdf differentiable (positive definite cov)",
}

#: Module groups in the order the table prints them (others follow, sorted).
_MODULE_ORDER = ("numpy", "numpy.linalg", "numpy.fft")


@dataclass(frozen=True)
class Row:
    """One function: how dualad handles it.

    ``forward``/``reverse``/``second`` are ``"yes"``, ``"const"`` (runs, no derivative) or
    ``"no"`` (raises); ``complex`` is one of ``COMPLEX_VALUES``; ``kind`` names the table
    that decides it (one of ``KINDS``); ``reason`` says why where a status is not ``"yes"``
    (or a note on a limit); ``aliases`` are other names of the same object, space-separated.
    """

    name: str
    module: str
    forward: str
    reverse: str
    second: str
    complex: str
    reason: str
    kind: str
    aliases: str = ""

    @property
    def qualname(self) -> str:
        """``module.name``, e.g. ``numpy.linalg.det``."""
        return f"{self.module}.{self.name}"

    @property
    def missing(self) -> bool:
        """True when some derivative is not available (a status is ``"no"``)."""
        return NO in (self.forward, self.reverse, self.second)


FIELDS = tuple(f.name for f in dataclasses.fields(Row))


# -- reading the tables -------------------------------------------------------------------


def _dispatched(obj) -> bool:
    """True for a function NumPy's ``__array_function__`` protocol dispatches."""
    if isinstance(obj, type) or not callable(obj):
        return False
    # NumPy's dispatch marker: array_function_dispatch's wrapper keeps the implementation
    return hasattr(obj, "_implementation")


def _numpy_functions():
    """``[(module, obj, names)]``: numpy's ufuncs and dispatched functions, one entry per
    object (aliases such as ``abs``/``absolute`` share it; the first module that has an
    object lists it)."""
    from dualad._numpy import np  # NumPy as imported: interception's wrappers left out

    entries, where = [], {}
    for mod, modname in ((np, "numpy"), (np.linalg, "numpy.linalg"), (np.fft, "numpy.fft")):
        for attr in sorted(dir(mod)):
            if attr.startswith("_"):
                continue
            obj = getattr(mod, attr, None)
            is_ufunc = isinstance(obj, np.ufunc)
            if not ((is_ufunc and mod is np) or (not is_ufunc and _dispatched(obj))):
                continue
            i = where.get(id(obj))
            if i is None:
                where[id(obj)] = len(entries)
                entries.append((modname, obj, [attr]))
            else:
                m, _, names = entries[i]
                names.append(attr if m == modname else f"{modname}.{attr}")
    return entries


def _unwrapped(obj):
    """``obj`` with its wrappers peeled off: SciPy's array-API wrapper of a ufunc, and the
    dispatcher interception puts in its place (both keep ``__wrapped__``)."""
    for _ in range(8):
        inner = getattr(obj, "__wrapped__", None)
        if inner is None or isinstance(obj, type):
            break
        obj = inner
    return obj


def _scipy_ufuncs():
    """``[("scipy.special", ufunc, names)]`` for scipy.special's public ufuncs (also those
    SciPy wraps in Python functions under ``SCIPY_ARRAY_API=1``, and interception's
    dispatchers in their place); empty without SciPy."""
    import dualad.rules

    if getattr(dualad.rules, "special", None) is None:  # SciPy not installed
        return []
    import scipy.special as sc

    from dualad._numpy import np

    entries, where = [], {}
    for attr in sorted(dir(sc)):
        if attr.startswith("_"):
            continue
        obj = getattr(sc, attr, None)
        u = _unwrapped(obj)
        if not isinstance(u, np.ufunc):
            continue
        i = where.get(id(u))
        if i is None:
            where[id(u)] = len(entries)
            entries.append(("scipy.special", u, [attr]))
        else:
            entries[i][2].append(attr)
    return entries


def _canonical(obj, names: list) -> tuple[str, str]:
    """The row's name (the object's own ``__name__`` when it is one of ``names``) and its
    other names, space-separated."""
    own = getattr(obj, "__name__", None)
    name = own if own in names else names[0]
    return name, " ".join(n for n in names if n != name)


def _fixed_args(rule) -> list:
    """Arguments a scipy.special rule does not differentiate (``special._fixed`` partials:
    no closed form), found in the closures of its jvp."""
    found: list = []

    def walk(obj, depth: int) -> None:
        if depth > 4:
            return
        if isinstance(obj, (tuple, list)):
            for o in obj:
                walk(o, depth + 1)
            return
        if not callable(obj):
            return
        code = getattr(obj, "__code__", None)
        cells = getattr(obj, "__closure__", None) or ()
        if getattr(obj, "__qualname__", "") == "_fixed.<locals>.partial" and code is not None:
            arg = dict(zip(code.co_freevars, cells)).get("arg")
            if arg is not None and arg.cell_contents not in found:
                found.append(arg.cell_contents)
            return
        for c in cells:
            try:
                walk(c.cell_contents, depth + 1)
            except ValueError:  # an empty cell
                pass

    walk(rule.jvp, 0)
    return found


def _rule_reason(rule) -> str:
    """A note on a rule that differentiates only partly: a zero derivative, or arguments
    without one."""
    qual = getattr(rule.jvp, "__qualname__", "")
    if qual in ("defzero.<locals>.jvp", "_no_tangent"):
        return ZERO_REASON
    fixed = _fixed_args(rule)
    if fixed:
        them = "it" if len(fixed) == 1 else "them"
        return f"no derivative w.r.t. {', '.join(fixed)} (no closed form): hold {them} constant"
    return ""


class _Tables:
    """The tables, read once."""

    def __init__(self):
        from dualad._writers import IN_PLACE as writers
        from dualad.rules import COMPOSITES, PRIMAL_ONLY, RULES, UNSUPPORTED
        from dualad.rules.complex import COMPLEX_OK, OVERRIDES

        self.rules, self.composites, self.primal_only = RULES, COMPOSITES, PRIMAL_ONLY
        self.unsupported, self.writers = UNSUPPORTED, writers
        self.complex_ok, self.overrides = COMPLEX_OK, OVERRIDES

    def entries(self) -> list:
        """Every table key, once, in a stable order (dispatchers of ``dualad._foreign``
        left out: those stand for SciPy's or the user's functions, listed elsewhere)."""
        out, seen = [], set()
        for table in (self.writers, self.composites, self.rules, self.primal_only,
                      self.unsupported):  # fmt: skip
            for f in table:
                if id(f) in seen or getattr(f, "_dualad_original", None) is not None:
                    continue
                seen.add(id(f))
                out.append(f)
        return out

    def classify(self, f) -> tuple[str, str]:
        """``(kind, reason)`` as the hooks decide it (writers, composites, rules, ...)."""
        if f in self.writers:
            return IN_PLACE, IN_PLACE_REASON
        if f in self.composites:
            return COMPOSITE, ""
        rule = self.rules.get(f)
        if rule is not None:
            reason = _rule_reason(rule)
            if reason == ZERO_REASON and f in self.overrides:  # np.sign: z / |z| is not
                reason = "derivative is zero on real values; complex values have their own rule"
            return RULE, reason
        if f in self.primal_only:
            return PRIMAL_ONLY, PRIMAL_ONLY_REASON
        why = self.unsupported.get(f)
        if why is not None:
            return UNSUPPORTED, why
        return NO_RULE, NO_RULE_REASON

    def complex(self, f, kind: str) -> str:
        if kind == RULE:
            return "yes" if f in self.complex_ok or f in self.overrides else "no"
        if kind == COMPOSITE:
            return "depends"
        if kind == IN_PLACE:
            return "yes"  # item assignments, whose rules (getitem, index_update) hold
        return "-"

    def row(self, f, module: str, name: str, aliases: str = "", note: str = "") -> Row:
        kind, reason = self.classify(f)
        fwd, rev, second = STATUS[kind]
        if note:
            reason = f"{note}; {reason}" if reason else note
        return Row(name, module, fwd, rev, second, self.complex(f, kind), reason, kind, aliases)


def _foreign_targets() -> list:
    """``dualad._foreign.FOREIGN``'s targets (the SciPy rule families loaded first)."""
    from dualad import _foreign

    try:
        _foreign._load_families()
    except ImportError:  # SciPy not installed: whatever registered before the failure
        pass
    return list(_foreign.FOREIGN.values())


def _other_place(f) -> tuple[str, str]:
    """``(module, name)`` of a table key outside the enumerated namespaces."""
    from dualad.rules._define import func_name

    full = func_name(f)
    mod, _, name = full.rpartition(".")
    if mod.startswith("dualad"):
        mod = "dualad"  # dualad's own primitives (getitem, astype, ...)
    return mod or "dualad", name


def report(*, missing: bool = False) -> list[Row]:
    """Every function dualad meets, with its forward / reverse / second-order status.

    Parameters
    ----------
    missing : bool, optional
        Only the functions without a derivative (a status ``"no"``: unsupported, or no rule).

    Returns
    -------
    list of Row
        One row per function object: numpy's ufuncs and dispatched functions (``numpy``,
        ``numpy.linalg``, ``numpy.fft``), scipy.special's ufuncs, the SciPy functions
        differentiated with ``intercept=True`` and the other table entries (``getitem``,
        ``numpy.lib.stride_tricks.sliding_window_view``, ...). Each row has ``name``,
        ``module``, ``forward``, ``reverse``, ``second`` (``"yes"``, ``"const"``: runs with
        no derivative, or ``"no"``: raises ``NotImplementedError``), ``complex``
        (``"yes"``, ``"no"``, ``"depends"``, ``"-"``), ``reason``, ``kind`` (the table that
        decides it) and ``aliases``.

    Examples
    --------
    >>> from dualad.coverage import report
    >>> rows = {r.qualname: r for r in report()}
    >>> r = rows["numpy.linalg.det"]
    >>> r.forward, r.reverse, r.second, r.complex
    ('yes', 'yes', 'yes', 'yes')
    >>> rows["numpy.argmax"].kind, rows["numpy.argmax"].forward
    ('primal-only', 'const')
    >>> rows["numpy.unique"].forward
    'no'
    """
    from dualad.rules._define import func_name

    tables = _Tables()
    rows, listed = [], set()
    for module, obj, names in _numpy_functions():
        name, aliases = _canonical(obj, names)
        rows.append(tables.row(obj, module, name, aliases))
        listed.add(id(obj))
    for module, obj, names in _scipy_ufuncs():
        name, aliases = _canonical(obj, names)
        note = ""
        if obj in tables.rules and getattr(sys.modules[module], name, None) is not obj:
            note = WRAPPED_NOTE  # SCIPY_ARRAY_API=1: a Python function stands for the ufunc
        rows.append(tables.row(obj, module, name, aliases, note))
        listed.add(id(obj))
    for f in tables.entries():  # entries outside those namespaces
        if id(f) not in listed:
            module, name = _other_place(f)
            rows.append(tables.row(f, module, name, note=_NOTES.get(func_name(f), "")))
            listed.add(id(f))
    names = {f"{r.module}.{n}" for r in rows for n in [r.name, *r.aliases.split()]}
    for t in _foreign_targets():
        if t.name in names:  # a scipy.special ufunc SciPy wraps: its own row says it
            continue
        names.add(t.name)
        name = t.name[len(t.module) + 1 :] if t.name.startswith(t.module + ".") else t.name
        reason = INTERCEPT_REASON
        private = any(p.startswith("_") for p in name.split("."))
        note = _NOTES.get(t.name) or ("SciPy's private helper, restated" if private else "")
        if note:
            reason = f"{note}; {reason}"
        rows.append(Row(name, t.module, *STATUS[INTERCEPT], "-", reason, INTERCEPT))
    rows.sort(key=_order)
    return [r for r in rows if r.missing] if missing else rows


def _order(r: Row):
    mod = r.module
    if mod in _MODULE_ORDER:
        group = (0, _MODULE_ORDER.index(mod), "")
    elif mod.startswith("numpy"):
        group = (1, 0, mod)
    elif mod == "dualad":
        group = (2, 0, mod)
    else:
        group = (3, 0, mod)
    return group, r.name.lstrip("_").lower(), r.name


# -- printing -----------------------------------------------------------------------------


def counts(rows) -> Counter:
    """How many rows of each kind, and of each outcome (``differentiable``, ``constant``,
    ``missing``)."""
    c = Counter(r.kind for r in rows)
    for r in rows:
        c["missing" if r.missing else "constant" if r.forward == CONST else "differentiable"] += 1
    return c


def summary(rows, kinds: bool = True) -> str:
    """One line of counts: outcomes, and (``kinds``) rows per kind."""
    c = counts(rows)
    text = (
        f"{len(rows)} function{'s' * (len(rows) != 1)}: {c['differentiable']} differentiable, "
        f"{c['constant']} constant (no derivative), {c['missing']} missing"
    )
    if kinds:
        text += "; by table: " + ", ".join(f"{c[k]} {k}" for k in KINDS if c[k])
    return text


_REASON_WIDTH = 72


def _short(text: str, width: int = _REASON_WIDTH) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3].rstrip() + "..."


def format_table(rows, all_rows=None) -> str:
    """A fixed-width table grouped by module, a header with counts per group, and a
    summary line (of ``all_rows`` when given: the table may show a selection)."""
    head = ("function", "kind", "fwd", "rev", "2nd", "complex", "reason / note")
    names = [r.name + (f" ({', '.join(r.aliases.split())})" if r.aliases else "") for r in rows]
    w_name = max([len(head[0])] + [len(n) for n in names])
    w_kind = max(len(k) for k in KINDS)
    widths = (w_name, w_kind, 5, 5, 5, 7)

    def line(cells) -> str:
        parts = [c.ljust(w) for c, w in zip(cells, widths)] + [cells[-1]]
        return "  ".join(parts).rstrip()

    out, module = [], None
    for r, name in zip(rows, names):
        if r.module != module:
            module = r.module
            group = [x for x in rows if x.module == module]
            if out:
                out.append("")
            out.append(f"{module}: {summary(group, kinds=False)}")
            out.append(line(head))
            out.append(line(["-" * w for w in widths] + ["-" * 13]))
        cells = (name, r.kind, r.forward, r.reverse, r.second, r.complex, _short(r.reason))
        out.append(line(cells))
    if out:
        out.append("")
    out.append("Summary: " + summary(rows if all_rows is None else all_rows))
    if all_rows is not None and len(rows) != len(all_rows):
        out.append(f"Shown: {len(rows)} of {len(all_rows)} (only functions without a derivative)")
    out.append(
        "fwd/rev/2nd: yes = differentiated, const = runs with no derivative, no = raises "
        "NotImplementedError. yes holds for the common arguments: an option a rule does not "
        "differentiate (np.pad's statistic modes, weights= of the quantiles, where= of a ufunc, "
        "full_matrices=True of a non-square svd, ...) raises NotImplementedError naming it. "
        "Reasons are shortened; --format csv or json gives them in full."
    )
    return "\n".join(out) + "\n"


def format_csv(rows, all_rows=None) -> str:
    """CSV with a header row of ``FIELDS``."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(FIELDS)
    for r in rows:
        writer.writerow([getattr(r, f) for f in FIELDS])
    return buf.getvalue()


def format_json(rows, all_rows=None) -> str:
    """A JSON list of objects with the keys ``FIELDS``."""
    return json.dumps([dataclasses.asdict(r) for r in rows], indent=1) + "\n"


FORMATS = {"table": format_table, "csv": format_csv, "json": format_json}


def main(argv=None) -> int:
    """``python -m dualad.coverage [--format {table,csv,json}] [--missing]``."""
    parser = argparse.ArgumentParser(
        prog="python -m dualad.coverage",
        description="Which NumPy and SciPy functions dualad differentiates: forward, reverse "
        "and second-order status, and the reason where not.",
    )
    parser.add_argument("--format", choices=tuple(FORMATS), default="table")
    parser.add_argument(
        "--missing", action="store_true", help="only the functions without a derivative"
    )
    args = parser.parse_args(argv)
    rows = report()
    shown = [r for r in rows if r.missing] if args.missing else rows
    text = FORMATS[args.format](shown, rows)
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:  # python -m dualad.coverage | head
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


if __name__ == "__main__":
    sys.exit(main())

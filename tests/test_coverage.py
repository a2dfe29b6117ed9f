"""``python -m dualad.coverage`` against the tables it reports, and against behaviour."""

import csv
import dataclasses
import functools
import inspect
import io
import json
import re
import subprocess
import sys
import warnings

import numpy as np
import pytest

import dualad
from dualad import _foreign
from dualad._writers import IN_PLACE
from dualad.coverage import (
    COMPLEX_VALUES,
    FIELDS,
    KINDS,
    STATUS,
    Row,
    format_csv,
    main,
    report,
)
from dualad.rules import COMPOSITES, PRIMAL_ONLY, RULES, UNSUPPORTED
from dualad.rules.complex import COMPLEX_OK, OVERRIDES

sc = pytest.importorskip("scipy.special")

KIND_OF_TABLE = {
    "IN_PLACE": ("in-place", IN_PLACE),
    "COMPOSITES": ("composite", COMPOSITES),
    "RULES": ("rule", RULES),
    "PRIMAL_ONLY": ("primal-only", PRIMAL_ONLY),
    "UNSUPPORTED": ("unsupported", UNSUPPORTED),
}


@pytest.fixture(scope="module")
def rows():
    return report()


@pytest.fixture(scope="module")
def by_name(rows):
    """{(module, name or alias): row}."""
    out = {}
    for r in rows:
        for n in [r.name, *r.aliases.split()]:
            assert (r.module, n) not in out, f"{r.module}.{n} listed twice"
            out[r.module, n] = r
    return out


def _public_places(func):
    """Every (module, name) under which ``func`` is public in numpy, numpy.linalg,
    numpy.fft or scipy.special (found here independently of dualad.coverage)."""
    return _places().get(id(func), [])


@functools.cache
def _places():
    from dualad._numpy import np as numpy_as_imported

    out = {}
    namespaces = (
        (numpy_as_imported, "numpy"),
        (np.linalg, "numpy.linalg"),
        (np.fft, "numpy.fft"),
        (sc, "scipy.special"),
    )
    for mod, modname in namespaces:
        for name in dir(mod):
            if name.startswith("_"):
                continue
            obj = getattr(mod, name, None)
            if modname == "scipy.special":  # SciPy's array-API wrappers, interception's
                obj = inspect.unwrap(obj) if callable(obj) else obj
            out.setdefault(id(obj), []).append((modname, name))
    return out


def _dispatched_numpy():
    """{object: [(module, name), ...]}: every ufunc of numpy's namespace and every function
    with __array_function__ dispatch in numpy, numpy.linalg, numpy.fft."""
    from dualad._numpy import np as numpy_as_imported

    found = {}
    for mod, modname in (
        (numpy_as_imported, "numpy"),
        (np.linalg, "numpy.linalg"),
        (np.fft, "numpy.fft"),
    ):
        for name in dir(mod):
            if name.startswith("_"):
                continue
            f = getattr(mod, name, None)
            ufunc = isinstance(f, np.ufunc) and modname == "numpy"
            if ufunc or type(f).__name__ == "_ArrayFunctionDispatcher":
                found.setdefault(f, []).append((modname, name))
    return found


# -- the report against the tables ---------------------------------------------------------


def test_rows_are_well_formed(rows):
    assert rows and all(isinstance(r, Row) for r in rows)
    for r in rows:
        assert r.kind in KINDS, r
        assert (r.forward, r.reverse, r.second) == STATUS[r.kind], r
        assert r.complex in COMPLEX_VALUES, r
        if "yes" not in (r.forward, r.reverse, r.second):
            assert len(r.reason) > 10, f"{r.qualname} has no reason"
        assert r.missing == ("no" in (r.forward, r.reverse, r.second))


@pytest.mark.parametrize("table", list(KIND_OF_TABLE))
def test_every_public_table_entry_is_listed_with_its_status(table, by_name):
    kind, entries = KIND_OF_TABLE[table]
    for func in entries:
        if getattr(func, "_dualad_original", None) is not None:
            continue  # a dispatcher (interception, custom rules): listed by its target
        places = _public_places(func)
        if not places:
            continue  # private helpers: see the next test
        listed = [by_name[p] for p in places if p in by_name]
        assert len({id(r) for r in listed}) == 1, f"{table}: {places} listed {len(listed)} times"
        row = listed[0]
        if func in IN_PLACE:
            want = "in-place"
        elif func in COMPOSITES:
            want = "composite"
        else:
            want = kind
        assert row.kind == want, f"{row.qualname}: {row.kind}, {table} says {want}"
        if want == "unsupported":
            assert UNSUPPORTED[func] in row.reason


def test_entries_outside_the_namespaces_are_listed(rows):
    # getitem, astype, index_update, sliding_window_view, scipy.special._zeta, ...
    names = {r.name for r in rows}
    for table in (RULES, PRIMAL_ONLY, UNSUPPORTED, COMPOSITES, IN_PLACE):
        for func in table:
            if getattr(func, "_dualad_original", None) is None and not _public_places(func):
                assert func.__name__ in names, func
    getitem = [r for r in rows if r.name == "getitem"]
    assert len(getitem) == 1 and getitem[0].kind == "rule" and "x[key]" in getitem[0].reason


def test_every_dispatched_numpy_function_appears_once(by_name):
    found = _dispatched_numpy()
    assert len(found) > 300
    for places in found.values():
        listed = {id(by_name[p]) for p in places if p in by_name}
        assert len(listed) == 1, f"{places}: listed {len(listed)} times"
        (row,) = {by_name[p] for p in places if p in by_name}
        assert (row.module, row.name) in places
        assert {(row.module, n) for n in [row.name, *row.aliases.split()]} <= set(places)


def test_in_place_writers_are_in_no_other_table():
    # the hooks try IN_PLACE first: an entry also elsewhere would be shadowed
    others = set(RULES) | set(COMPOSITES) | set(PRIMAL_ONLY) | set(UNSUPPORTED)
    assert not set(IN_PLACE) & others


def test_no_row_is_listed_twice(rows):
    names = [r.qualname for r in rows]
    assert len(names) == len(set(names)), [n for n in names if names.count(n) > 1]


def test_complex_column_matches_the_complex_tables(by_name):
    for func, places in _dispatched_numpy().items():
        row = by_name[places[0]]
        if row.kind == "rule":
            want = "yes" if func in COMPLEX_OK or func in OVERRIDES else "no"
            assert row.complex == want, row.qualname
    for func in COMPLEX_OK | set(OVERRIDES):
        for p in _public_places(func):
            if p in by_name:
                assert by_name[p].complex == "yes", p


def test_primal_only_and_no_rule_reasons(rows):
    for r in rows:
        if r.kind == "primal-only":
            assert "no derivative" in r.reason
        if r.kind == "no rule":
            assert "no rule" in r.reason


def test_scipy_special_ufuncs_are_listed(by_name):
    for func in list(RULES) + list(UNSUPPORTED):
        if isinstance(func, np.ufunc) and "scipy" in repr(func) + str(type(func).__module__):
            places = _public_places(func) or [("scipy.special", func.__name__)]
            assert any(p in by_name for p in places), func
    assert by_name["scipy.special", "gammaln"].kind == "rule"
    assert by_name["scipy.special", "zetac"].kind == "unsupported"
    # arguments a rule does not differentiate (no closed form) are named
    assert "w.r.t. v" in by_name["scipy.special", "jv"].reason


def test_every_foreign_target_is_listed(rows):
    _foreign._load_families()
    assert _foreign.FOREIGN
    listed = {f"{r.module}.{n}": r for r in rows for n in [r.name, *r.aliases.split()]}
    for name, target in _foreign.FOREIGN.items():
        assert name in listed, name
        row = listed[name]
        assert row.module == target.module
        if row.kind == "intercept":
            assert (row.forward, row.reverse, row.second) == ("yes", "yes", "yes"), row
            assert "intercept=True" in row.reason
        else:  # a scipy.special ufunc SciPy wraps (SCIPY_ARRAY_API=1): its ufunc's row
            assert isinstance(inspect.unwrap(getattr(sc, row.name)), np.ufunc), row


def test_interception_leaves_the_report_unchanged(rows):
    # interception puts dispatchers in RULES (scipy.linalg.solve_triangular, ...) and in
    # place of SciPy's functions: the report lists the same functions with the same status
    import scipy.linalg

    a = np.array([[2.0, 0.0], [1.0, 3.0]])
    with dualad.intercept():
        g = dualad.grad(lambda m: np.sum(scipy.linalg.solve_triangular(m, np.ones(2))), a)
    assert np.all(np.isfinite(g))
    assert report() == rows


def test_missing_selects_rows_without_a_derivative(rows):
    missing = report(missing=True)
    assert missing == [r for r in rows if "no" in (r.forward, r.reverse, r.second)]
    assert all(r.kind in ("unsupported", "no rule") for r in missing)


# -- the command line ----------------------------------------------------------------------


def test_cli_csv_parses_to_the_report(rows):
    res = subprocess.run(
        [sys.executable, "-m", "dualad.coverage", "--format", "csv"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    parsed = list(csv.DictReader(io.StringIO(res.stdout)))
    assert list(parsed[0]) == list(FIELDS)
    assert [Row(**d) for d in parsed] == rows
    assert res.stdout == format_csv(rows)


def test_cli_json_and_table(rows, capsys):
    assert main(["--format", "json"]) == 0
    parsed = json.loads(capsys.readouterr().out)
    assert [Row(**d) for d in parsed] == rows
    assert [dataclasses.asdict(r) for r in rows] == parsed

    main([])
    table = capsys.readouterr().out
    for header in ("numpy:", "numpy.linalg:", "numpy.fft:", "scipy.special:"):
        assert any(line.startswith(header) for line in table.splitlines()), header
    summary = [line for line in table.splitlines() if line.startswith("Summary: ")]
    assert len(summary) == 1 and summary[0].startswith(f"Summary: {len(rows)} functions")
    assert "det" in table and "sin" in table

    main(["--missing", "--format", "csv"])
    missing = [Row(**d) for d in csv.DictReader(io.StringIO(capsys.readouterr().out))]
    assert missing == report(missing=True)

    with pytest.raises(SystemExit):
        main(["--format", "xml"])
    capsys.readouterr()


# -- behaviour: what the report says is what a Dual does ----------------------------------


def _row(by_name, qualname):
    module, _, name = qualname.rpartition(".")
    return by_name[module, name]


def test_reported_differentiable_functions_differentiate(by_name):
    x = np.array([0.3, 0.7, 1.1])
    a = np.array([[2.0, 0.5], [0.3, 1.5]])
    da = np.array([[1.0, 0.0], [2.0, 1.0]])
    gammaln = inspect.unwrap(sc.gammaln)  # the ufunc (SCIPY_ARRAY_API=1 wraps it)
    cases = [
        ("numpy.sin", np.sin, x, np.cos(x)),
        ("numpy.cumsum", np.cumsum, x, np.ones(3).cumsum()),
        ("numpy.linspace", lambda d: np.linspace(0.0, d, 3)[1], x, 0.5 * np.ones(3)),
        ("scipy.special.gammaln", gammaln, x, sc.digamma(x)),
    ]
    for qualname, f, at, want in cases:
        row = _row(by_name, qualname)
        assert (row.forward, row.reverse, row.second) == ("yes", "yes", "yes"), qualname
        d = f(dualad.Dual(at, np.ones_like(at)))
        assert isinstance(d, dualad.Dual), qualname
        np.testing.assert_allclose(d.tangent, want, err_msg=qualname)
        g = dualad.grad(lambda v, f=f: np.sum(f(v)), at, mode="reverse")
        np.testing.assert_allclose(g, want if qualname != "numpy.cumsum" else [3, 2, 1])
    # np.linalg.det: forward, reverse and second order
    row = _row(by_name, "numpy.linalg.det")
    assert (row.forward, row.reverse, row.second) == ("yes", "yes", "yes")
    want = np.linalg.det(a) * np.trace(np.linalg.solve(a, da))
    np.testing.assert_allclose(np.linalg.det(dualad.Dual(a, da)).tangent, want)
    g = dualad.grad(np.linalg.det, a, mode="reverse")
    np.testing.assert_allclose(g, np.linalg.det(a) * np.linalg.inv(a).T)
    h = dualad.hessian(lambda v: np.linalg.det(np.reshape(v, (2, 2))), a.ravel())
    np.testing.assert_allclose(h, [[0, 0, 0, 1], [0, 0, -1, 0], [0, -1, 0, 0], [1, 0, 0, 0]],
                               atol=1e-12)  # fmt: skip
    h = dualad.hessian(lambda v: np.sum(np.sin(v)), x)
    np.testing.assert_allclose(h, np.diag(-np.sin(x)), atol=1e-12)
    # an in-place writer: into a Dual buffer
    assert _row(by_name, "numpy.put").kind == "in-place"

    def put(v):
        out = np.zeros_like(v)
        np.put(out, [0, 2], v[:2] ** 2)
        return np.sum(out)

    np.testing.assert_allclose(dualad.grad(put, x), [2 * x[0], 2 * x[1], 0])
    np.testing.assert_allclose(dualad.hessian(put, x), np.diag([2.0, 2.0, 0.0]))


def test_every_ufunc_behaves_as_reported(rows):
    # a ufunc reported differentiable takes Duals in every input (NumPy's own type or shape
    # errors aside), except the arguments its reason names; one reported missing raises
    d = dualad.Dual(np.array([0.3, 0.7, 0.2]), np.ones(3))
    checked = 0
    for r in rows:
        if r.module not in ("numpy", "scipy.special") or r.forward == "const":
            continue
        u = getattr(np if r.module == "numpy" else sc, r.name, None)
        u = inspect.unwrap(u) if callable(u) else u
        if not isinstance(u, np.ufunc):
            continue
        checked += 1
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SciPy's domain and deprecation warnings
            if r.missing:
                with pytest.raises(NotImplementedError):
                    u(*[d] * u.nin)
                continue
            fixed = re.search(r"no derivative w\.r\.t\. ([\w, ]+) \(", r.reason)
            try:
                u(*[d] * u.nin)
            except NotImplementedError as e:
                assert fixed, f"{r.qualname} is reported differentiable: {e}"
                arg = re.search(r"its argument (\w+)", str(e)).group(1)
                assert arg in fixed.group(1).split(", "), (r.qualname, arg)
            except (TypeError, ValueError):  # integer-only loops (ldexp), core dims (matvec)
                pass
            else:
                assert not fixed, f"{r.qualname}: reported fixed arguments differentiate"
    assert checked > 250


def test_reported_primal_only_functions_return_plain_values(by_name):
    d = dualad.Dual(np.array([0.3, 0.7, 0.1]), np.ones(3))
    for qualname, f in (("numpy.argmax", np.argmax), ("numpy.isfinite", np.isfinite)):
        assert _row(by_name, qualname).forward == "const"
        assert not isinstance(f(d), dualad.Dual), qualname


def test_reported_unsupported_functions_raise(by_name):
    d = dualad.Dual(np.array([0.3, 0.7, 0.2]), np.ones(3))
    for qualname, f in (
        ("numpy.unique", lambda: np.unique(d)),
        ("numpy.intersect1d", lambda: np.intersect1d(d, d)),
        ("numpy.partition", lambda: np.partition(d, 1)),
        ("numpy.histogram", lambda: np.histogram(d)),
    ):
        assert _row(by_name, qualname).kind == "unsupported", qualname
        with pytest.raises(NotImplementedError, match="does not differentiate"):
            f()

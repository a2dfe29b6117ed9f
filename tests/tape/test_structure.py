"""The tape's shape (issue 10, item 2): one record protocol, one reverse loop, no import
circle among tape's modules, and no module of dualad reading a tape's private state."""

import ast
import pathlib

import numpy as np
import pytest

import dualad
import tape
from tape import record as rec_mod
from tape.sweep import sweep

ROOT = pathlib.Path(__file__).resolve().parents[2]
#: attributes that are the tape's own business (dualad reads the public ones instead)
PRIVATE = {"_records", "_record", "_tape", "_id", "_watched", "_released", "_closed",
           "_idx", "_view", "_alias"}  # fmt: skip


def _module_imports(path: pathlib.Path, package: str) -> set:
    """Modules of ``package`` that ``path`` imports at module level (not inside functions)."""
    found = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ImportFrom):
            if node.level == 1:
                found.add(node.module or "")
            elif node.module and node.module.startswith(package + "."):
                found.add(node.module.split(".", 1)[1])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".", 1)[1] for a in node.names if "." in a.name)
    return found


def test_tape_modules_import_each_other_without_a_circle():
    graph = {p.stem: _module_imports(p, "tape") for p in (ROOT / "tape").glob("*.py")}
    order, state = [], {}

    def visit(m, path):
        if state.get(m) == "done":
            return
        assert state.get(m) != "open", f"import circle: {' -> '.join([*path, m])}"
        state[m] = "open"
        for d in graph.get(m, ()):
            visit(d, [*path, m])
        state[m] = "done"
        order.append(m)

    for m in graph:
        visit(m, [])
    assert order.index("record") < order.index("sweep") < order.index("variable")


def test_dualad_reads_no_private_state_of_the_tape():
    offenders = []
    for path in (ROOT / "dualad").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tape"):
                offenders += [
                    f"{path.name}: imports {a.name}" for a in node.names if a.name[0] == "_"
                ]
                if any(part.startswith("_") for part in node.module.split(".")):
                    offenders.append(f"{path.name}: imports from {node.module}")
            if isinstance(node, ast.Attribute) and node.attr in PRIVATE:
                offenders.append(f"{path.name}:{node.lineno}: .{node.attr}")
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", None) == "getattr"
                and len(node.args) > 1
                and isinstance(node.args[1], ast.Constant)
                and node.args[1].value in PRIVATE
            ):
                offenders.append(f"{path.name}:{node.lineno}: getattr {node.args[1].value}")
    assert not offenders, offenders


def test_every_record_kind_answers_pull():
    kinds = [
        c for c in vars(rec_mod).values() if isinstance(c, type) and issubclass(c, rec_mod.Record)
    ]
    assert {k.__name__ for k in kinds} == {"Record", "ScalarRecord", "ItemRecord", "StackRecord"}
    for k in kinds:
        assert callable(k.pull) and callable(k.vjp) and callable(k.live_out)
        assert callable(k.release) and callable(k.input_vars) and callable(k.bind_one)


def test_every_record_kind_reads_as_a_record():
    # the light records state inputs and out_ids as properties; each answers the same
    # fields, and binding its output again (an alias group's rebind) keeps its id the output's
    with tape.Tape() as t:
        x = t.watch(np.array([1.0, 2.0]))
        a = x[0]  # ItemRecord
        b = a * 2.0  # ScalarRecord
        s = np.stack([a, b])  # StackRecord
        y = np.sum(s * x)  # Records
    seen = set()
    for rec in t.records:
        seen.add(type(rec).__name__)
        assert not rec.multi and len(rec.out_ids) == 1 and rec.out_ids[0] == rec.id
        assert [var for _, var, _ in rec.inputs] == rec.input_vars()
        assert all(vid == var._id for _, var, vid in rec.inputs)
    assert seen == {"Record", "ScalarRecord", "ItemRecord", "StackRecord"}
    for v in (a, b, s, y):
        v._record.bind_one(v)
        assert v._record.id == v._id and v._record.out_ids == (v._id,)
    # y = x0 * x0 + (2 x0) * x1: the gradient (2 x0 + 2 x1, 2 x0)
    np.testing.assert_allclose(t.gradient(y, x), [2.0 + 4.0, 2.0], rtol=1e-15)


def _seed_program(x):
    x1, x2 = x[0], x[1]
    a = x1 / x2
    return (np.sin(a) + a - np.exp(x2)) * (a - np.exp(x2))


def _closed_form(x1, x2):
    a, e = x1 / x2, np.exp(x2)
    u, v = np.sin(a) + a - e, a - e
    da = np.array([1 / x2, -x1 / x2**2])
    du = (np.cos(a) + 1) * da - np.array([0.0, e])
    dv = da - np.array([0.0, e])
    return du * v + u * dv


@pytest.mark.parametrize("kind", ["vector", "array ops", "mixed"])
def test_every_door_sweeps_the_same_loop_to_the_closed_form(kind):
    x0 = np.array([1.5, 0.5])
    if kind == "array ops":
        f = lambda x: np.sum(_seed_program(x[:, None] * np.ones((1, 3)))) / 3
    elif kind == "mixed":
        f = lambda x: np.sum(np.stack([_seed_program(x), 0.0 * x[0]]))
    else:
        f = _seed_program
    want = _closed_form(*x0)
    with tape.Tape(persistent=True) as t:
        x = t.watch(x0)
        y = f(x)
    np.testing.assert_allclose(t.gradient(y, x), want, rtol=1e-13)
    np.testing.assert_allclose(t.cotangents([y], [np.ones(1)], [x])[0][0], want, rtol=1e-13)
    (g,) = sweep([y], [np.ones(1)], [x], records=t.records)
    np.testing.assert_allclose(g[0], want, rtol=1e-13)
    seen = []
    sweep([y], [np.ones(1)], [], records=t.records, visit=lambda r, ob, bars: seen.append(r))
    assert seen and seen[0] is t.records[-1]  # the last record is reached first
    v = tape.Variable(x0)
    f(v).backward()
    np.testing.assert_allclose(v.grad, want, rtol=1e-13)
    np.testing.assert_allclose(tape.grad(f(v), [v])[0], want, rtol=1e-13)


@pytest.mark.parametrize("n_out", [1, 2, 3])
def test_stack_records_pull_each_row_count(n_out):
    def f(x):
        a, b = x[0] / x[1], np.exp(x[1])
        return np.stack([a * b, a - b, 2.0 * a, b * b][:n_out] + [0.5])  # and a number

    x0 = np.array([1.5, 0.5])
    with tape.Tape() as t:
        f(t.watch(x0))
    assert any(type(r).__name__ == "StackRecord" for r in t.records)
    J = dualad.jacobian(f, x0, mode="reverse")
    np.testing.assert_allclose(J, dualad.jacobian(f, x0, mode="forward"), rtol=1e-14)
    v = tape.Variable(x0)  # create_graph: the rule's own vjp, recorded
    (g,) = tape.grad(np.sum(f(v) ** 2), [v], create_graph=True)
    (h,) = tape.grad(g[0], [v])
    want = np.stack([central_h(lambda z: np.sum(f(z) ** 2), x0, i) for i in range(2)])
    np.testing.assert_allclose(h, want[0], rtol=1e-6)


def central_h(f, x, i, eps=1e-5):
    """Row i of the Hessian of f at x by central differences of the gradient."""
    e = np.zeros_like(x)
    e[i] = eps
    return (dualad.grad(f, x + e) - dualad.grad(f, x - e)) / (2 * eps)

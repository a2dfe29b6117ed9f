"""``print(tape)``: the Wengert list, one line per record (``v3 = exp(v1)``) with the output's
shape and dtype, after one line per watched input."""

from __future__ import annotations

import re

import numpy as np

from tape import Tape

_RECORD = re.compile(r"^\s*(v\d+) = (\w+)\((.*)\)\s+# (\(.*\)) (\w+)$")
_INPUT = re.compile(r"^\s*(v\d+) = input\s+# (\(.*\)) (\w+)$")


def _parse(text):
    inputs, records = [], []
    for line in text.splitlines():
        if m := _INPUT.match(line):
            inputs.append(m.groups())
        elif m := _RECORD.match(line):
            records.append(m.groups())
    return inputs, records


def _seed_example():
    with Tape(persistent=True) as t:
        x1, x2 = t.watch((np.array(1.5), np.array(0.5)))
        a = x1 / x2
        e = np.exp(x2)
        y = (np.sin(a) + a - e) * (a - e)
    return t, (x1, x2), y


def test_seed_example_wengert_list():
    t, _, _ = _seed_example()
    inputs, records = _parse(str(t))
    assert inputs == [("v0", "()", "float64"), ("v1", "()", "float64")]
    assert [r[:3] for r in records] == [
        ("v2", "divide", "v0, v1"),
        ("v3", "exp", "v1"),
        ("v4", "sin", "v2"),
        ("v5", "add", "v4, v2"),
        ("v6", "subtract", "v5, v3"),
        ("v7", "subtract", "v2, v3"),
        ("v8", "multiply", "v6, v7"),
    ]
    assert all(r[3:] == ("()", "float64") for r in records)


def test_one_line_per_record_and_print_matches_str(capsys):
    t, _, _ = _seed_example()
    print(t)
    out = capsys.readouterr().out
    assert out == str(t) + "\n"
    assert "v3 = exp(v1)" in out
    lines = [ln for ln in out.splitlines() if ln.strip()]
    _, records = _parse(out)
    assert len(records) == len(t.records) == 7
    assert sum(" = input" in ln for ln in lines) == 2
    assert len(lines) == 1 + 2 + 7  # a header, the inputs, the records


def test_shapes_dtypes_constants_and_keywords():
    with Tape() as t:
        x = t.watch(np.ones((2, 3), dtype=np.float32))
        y = x * 2.5
        s = np.sum(y, axis=0)
        z = np.exp(s)
    inputs, records = _parse(str(t))
    assert inputs == [("v0", "(2, 3)", "float32")]
    mul, sm, ex = records
    assert mul[0] == "v1" and mul[1] == "multiply" and mul[3:] == ("(2, 3)", "float32")
    assert "v0" in mul[2] and "2.5" in mul[2]
    assert sm[1] == "sum" and sm[2].startswith("v1") and "axis=0" in sm[2]
    assert sm[3:] == ("(3,)", "float32")
    assert ex[:3] == ("v3", "exp", "v2") and ex[3:] == ("(3,)", "float32")
    assert z.dtype == np.float32


def test_array_constant_shows_its_shape():
    c = np.arange(6.0).reshape(2, 3)
    with Tape() as t:
        x = t.watch(np.ones(3))
        y = c * x
    assert y.shape == (2, 3)
    _, [(_, op, args, shape, dtype)] = _parse(str(t))
    assert op == "multiply" and "v0" in args and "(2, 3)" in args
    assert (shape, dtype) == ("(2, 3)", "float64")


def test_pytree_inputs_listed_in_order():
    with Tape() as t:
        p = t.watch({"w": np.zeros((4, 2)), "b": np.zeros(2, dtype=np.float32)})
        y = p["w"] + p["b"]
    assert y.dtype == np.float64
    inputs, records = _parse(str(t))
    assert inputs == [("v0", "(4, 2)", "float64"), ("v1", "(2,)", "float32")]
    assert records == [("v2", "add", "v0, v1", "(4, 2)", "float64")]


def test_persistent_tape_still_prints_after_gradient():
    t, (x1, x2), y = _seed_example()
    before = str(t)
    t.gradient(y, (x1, x2))
    assert str(t) == before


def test_non_persistent_tape_prints_no_records_after_gradient():
    with Tape() as t:
        x = t.watch(np.array(1.0))
        y = np.sin(x)
    t.gradient(y, x)
    inputs, records = _parse(str(t))
    assert inputs == [("v0", "()", "float64")] and records == []


def test_empty_tape_prints():
    with Tape() as t:
        pass
    assert _parse(str(t)) == ([], [])
    assert str(t).strip()


def _assert_single_assignment(text):
    """Every name is defined once, before any line that uses it (a Wengert list)."""
    defined = set()
    for line in text.splitlines()[1:]:
        lhs, _, rhs = line.partition(" = ")
        used = set(re.findall(r"\bv\d+\b", rhs.split("#")[0]))
        assert used <= defined, line
        for v in re.findall(r"v\d+", lhs):
            assert v not in defined, line
            defined.add(v)


def test_item_assignment_prints_a_new_name():
    with Tape() as t:
        x = t.watch(np.array([1.0, 2.0]))
        out = np.zeros_like(x)
        y = out * 2.0  # uses the buffer before the assignment
        out[0] = np.sin(x[0])
        z = out + y
    text = str(t)
    _assert_single_assignment(text)
    _, records = _parse(text)
    names = {op: (lhs, args) for lhs, op, args, _, _ in records}
    zeros, update = names["zeros_like"][0], names["index_update"]
    assert names["multiply"][1] == f"{zeros}, 2.0"
    assert update[1].startswith(zeros + ",") and update[0] != zeros
    assert names["add"][1] == f"{update[0]}, {names['multiply'][0]}"
    assert z.shape == (2,)


def test_dropped_output_still_gets_a_name():
    with Tape() as t:
        x = t.watch(np.array([1.0, 2.0]))
        np.exp(x)  # result thrown away: the record stays, its output is not kept alive
    _, records = _parse(str(t))
    assert records == [("v1", "exp", "v0", "(2,)", "float64")]


def test_seed_example_is_single_assignment():
    t, _, _ = _seed_example()
    _assert_single_assignment(str(t))


def test_a_dual_constant_prints_by_type_and_shape():
    # a tape recorded inside a forward derivative: the Dual is a constant to the tape
    import dualad

    d = dualad.Dual(np.array([2.0, 3.0]), np.ones(2))
    with Tape() as t:
        x = t.watch(np.array([1.0, 2.0]))
        np.sum(x * d)
    assert "multiply(v0, Dual(shape=(2,)))" in str(t)


def test_subscripts_tuple_keys_and_every_output_shape_print():
    # einsum's subscripts printed as const(), a tuple key as a list, and a record of several
    # outputs with its first output's shape only
    with Tape() as t:
        x = t.watch(np.arange(1.0, 5.0).reshape(2, 2))
        a = np.einsum("ij,jk->ik", x, x)
        w, v = np.linalg.eigh(a + a.T)
        np.sum(v * w) + x[0, 1]
    text = str(t)
    assert "einsum('ij,jk->ik', v0, v0)" in text
    assert "eigh(v3)" in text and "# (2,) float64, (2, 2) float64" in text
    assert "(v0, (0, 1))" in text

"""Every recorded operation prints in the Wengert list, whichever path recorded it (issue 10):
random programs mixing the record kinds (scalar records on floats, item reads x[i], array
records, multi-output records, index writes through views, np.stack of scalars) print one
line per record, each name defined once before use, and their gradient still matches
forward mode."""

from __future__ import annotations

import re

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import dualad
from tape import Tape
from tape.record import ItemRecord, Record, ScalarRecord, StackRecord

X = np.array([0.7, 1.3, 0.4])

# each step maps the running values (a list of Variables or Duals) to one more value
STEPS = {
    "item": lambda v, x: x[len(v) % 3],  # ItemRecord
    "scalar_mul": lambda v, x: v[-1] * 0.5 + 1.0 if np.ndim(v[-1]) == 0 else np.sum(v[-1]),
    "sin": lambda v, x: np.sin(v[-1]),
    "array": lambda v, x: x * x[1] + 1.0,  # Record
    "reduce": lambda v, x: np.sum(np.exp(v[-1] * 0.1)),
    "split": lambda v, x: np.split(x * 2.0, 3)[len(v) % 3],  # multi-output
    "stack": lambda v, x: np.stack([x[0] * x[2], x[1]]),
    "write": lambda v, x: _write(x),
    "maximum": lambda v, x: np.maximum(v[-1], 0.5),
}


def _write(x):
    y = x * 1.0
    w = y[0:2]
    w[1] = x[2] ** 2  # through a view: an index-update record on the base
    return y


def program(steps):
    def f(x):
        vals = [x]
        for s in steps:
            vals.append(STEPS[s](vals, x))
        return sum(np.sum(v) for v in vals[1:]) if len(vals) > 1 else np.sum(x)

    return f


_LINE = re.compile(r"^\s*(v\d+(?:, v\d+)*) = (.+?)\s+#")


def _check_listing(t):
    text = str(t)
    lines = text.splitlines()
    assert lines[0].startswith("Tape (")
    n = int(re.match(r"Tape \((\d+) records?\)", lines[0]).group(1))
    assert n == len(t.records)
    body = [ln for ln in lines[1:] if ln.strip()]
    inputs = [ln for ln in body if " = input" in ln]
    recs = [ln for ln in body if " = input" not in ln]
    assert len(recs) == len(t.records), text
    defined = set()
    for line in body:
        m = _LINE.match(line)
        assert m, line
        lhs, rhs = m.groups()
        used = set(re.findall(r"\bv\d+\b", rhs))
        assert used <= defined, (line, text)
        for name in lhs.split(", "):
            assert name not in defined, (line, text)
            defined.add(name)
    return inputs, {type(r) for r in t.records}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(sorted(STEPS)), min_size=1, max_size=6))
def test_every_record_prints_once_and_gradients_match(steps):
    f = program(steps)
    with Tape(persistent=True) as t:
        x = t.watch(X)
        y = f(x)
    inputs, kinds = _check_listing(t)
    assert len(inputs) == 1
    assert kinds <= {Record, ScalarRecord, ItemRecord, StackRecord}
    g = t.gradient(y, x)
    np.testing.assert_allclose(g, dualad.grad(f, X, mode="forward"), rtol=1e-10, atol=1e-12)
    _check_listing(t)  # still prints after the sweep (persistent)


def test_the_listing_names_each_record_kind():
    f = program(["item", "scalar_mul", "array", "split", "write", "stack"])
    with Tape(persistent=True) as t:
        x = t.watch(X)
        f(x)
    _, kinds = _check_listing(t)
    assert kinds == {Record, ScalarRecord, ItemRecord, StackRecord}

"""The tangent table (forward mode)
================================

The forward-mode (tangent) table of the textbook example, computed by dualad.

f(x1, x2) = (sin(x1/x2) + x1/x2 - e^x2) (x1/x2 - e^x2) at (1.5, 0.5), evaluated as the
Wengert list v-1 = x1, v0 = x2, v1 = v-1/v0, ..., v5 = v4 v3. Each row shows the primal value
and its tangents along x1 and x2, carried together by one Dual with two directions (one
column per input), as the tables of Griewank and Walther print them; the last row ends in
f = 2.017, df/dx1 = 3.012 and df/dx2 = -13.724.

Run:  python examples/forward_table.py
"""

import numpy as np

import dualad

STEPS = [  # name, formula, how it is computed from the earlier values
    ("v1", "v-1 / v0", lambda v: v["v-1"] / v["v0"]),
    ("v2", "sin(v1)", lambda v: np.sin(v["v1"])),
    ("v3", "exp(v0)", lambda v: np.exp(v["v0"])),
    ("v4", "v1 - v3", lambda v: v["v1"] - v["v3"]),
    ("v5", "v2 + v4", lambda v: v["v2"] + v["v4"]),
    ("v6", "v5 * v4", lambda v: v["v5"] * v["v4"]),
]


def table(x1=1.5, x2=0.5):
    """Rows (name, formula, value, tangent along x1, tangent along x2)."""
    # two directions at once: the identity seeds d/dx1 and d/dx2
    v = {
        "v-1": dualad.Dual(np.array(x1), np.array([1.0, 0.0])),
        "v0": dualad.Dual(np.array(x2), np.array([0.0, 1.0])),
    }
    rows = [("v-1", "x1", x1, 1.0, 0.0), ("v0", "x2", x2, 0.0, 1.0)]
    for name, formula, step in STEPS:
        v[name] = step(v)
        t = np.ravel(v[name].tangent)
        rows.append((name, formula, float(v[name].primal), float(t[0]), float(t[1])))
    return rows


def main():
    rows = table()
    print(f"{'':4} {'formula':10} {'value':>9} {'d/dx1':>9} {'d/dx2':>9}")
    for name, formula, value, d1, d2 in rows:
        print(f"{name:4} {formula:10} {value:9.4f} {d1:9.4f} {d2:9.4f}")
    _, _, f, g1, g2 = rows[-1]
    print(f"\nf = {f:.3f}, df/dx1 = {g1:.3f}, df/dx2 = {g2:.3f}")
    grad = dualad.grad(lambda x: (np.sin(x[0] / x[1]) + x[0] / x[1] - np.exp(x[1]))
                       * (x[0] / x[1] - np.exp(x[1])), np.array([1.5, 0.5]))  # fmt: skip
    print("the same as dualad.grad:", bool(np.allclose(grad, [g1, g2], rtol=1e-14)))
    print("the textbook's 2.017, 3.012, -13.724:",
          (round(f, 3), round(g1, 3), round(g2, 3)) == (2.017, 3.012, -13.724))  # fmt: skip


if __name__ == "__main__":
    main()

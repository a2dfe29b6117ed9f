"""The reverse-mode (adjoint) table of the textbook example, from a recorded tape.

The same f(x1, x2) = (sin(x1/x2) + x1/x2 - e^x2) (x1/x2 - e^x2) at (1.5, 0.5) as in
forward_table.py. A ``tape.Tape`` records the Wengert list (printed as recorded); one reverse
sweep then gives the adjoint v_bar = df/dv of every intermediate, which the table lists from
the last step back to the inputs, ending in x1_bar = 3.012 and x2_bar = -13.724.

Run:  python examples/reverse_table.py
"""

import numpy as np

import tape


def main():
    with tape.Tape(persistent=True) as t:
        x1 = t.watch(np.float64(1.5))
        x2 = t.watch(np.float64(0.5))
        v1 = x1 / x2
        v2 = np.sin(v1)
        v3 = np.exp(x2)
        v4 = v1 - v3
        v5 = v2 + v4
        v6 = v5 * v4
    print("the Wengert list, as the tape recorded it:")
    print(t)
    names = ["v-1 (x1)", "v0 (x2)", "v1", "v2", "v3", "v4", "v5"]
    values = [x1, x2, v1, v2, v3, v4, v5]
    bars = t.gradient(v6, values)  # one sweep: the adjoint of every intermediate
    t.close()
    print(f"\n{'':9} {'value':>9} {'adjoint':>9}")
    print(f"{'v6 (f)':9} {float(v6.value):9.4f} {1.0:9.4f}")
    for name, v, b in reversed(list(zip(names, values, bars))):
        print(f"{name:9} {float(v.value):9.4f} {float(b):9.4f}")
    f, g1, g2 = float(v6.value), float(bars[0]), float(bars[1])
    print(f"\nf = {f:.3f}, x1_bar = {g1:.3f}, x2_bar = {g2:.3f}")
    print("the textbook's 2.017, 3.012, -13.724:",
          (round(f, 3), round(g1, 3), round(g2, 3)) == (2.017, 3.012, -13.724))  # fmt: skip


if __name__ == "__main__":
    main()

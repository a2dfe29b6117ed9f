"""The Wengert list and adjoint table (reverse mode)
=================================================

The reverse-mode (adjoint) table of the textbook example, from a recorded tape.

The same f(x1, x2) = (sin(x1/x2) + x1/x2 - e^x2) (x1/x2 - e^x2) at (1.5, 0.5) as in
forward_table.py. A ``tape.Tape`` records the Wengert list (printed as recorded); one reverse
sweep then gives the adjoint v_bar = df/dv of every intermediate, which the table lists from
the last step back to the inputs, ending in x1_bar = 3.012 and x2_bar = -13.724. Run as a
script with matplotlib installed, it draws the computational graph from the tape's records,
each node with its value and adjoint (reverse_table.png).

Run:  python examples/reverse_table.py
"""

import numpy as np

import tape


def graph_figure(t, names, values, bars, path="reverse_table.png"):
    """The computational graph as the tape recorded it: one node per value (its value and
    adjoint), one arrow per argument, drawn left to right by depth."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(matplotlib not installed: no figure)")
        return
    label = {v.id: (n.split()[0], float(v.value), float(b)) for n, v, b in zip(names, values, bars)}
    depth = {v.id: 0 for v in values[:2]}
    edges = []
    for rec in t.records:  # oldest first: arguments are placed before results
        out = rec.out_ids[0]
        srcs = [vid for _, _, vid in rec.inputs]
        depth[out] = 1 + max(depth.get(s, 0) for s in srcs)
        edges += [(s, out, rec.name) for s in srcs]
        label.setdefault(out, ("v6 (f)", float(rec.out), 1.0))
    cols: dict = {}
    for vid, d in depth.items():
        cols.setdefault(d, []).append(vid)
    pos = {vid: (d, i - (len(ids) - 1) / 2) for d, ids in cols.items() for i, vid in enumerate(ids)}
    fig, ax = plt.subplots(figsize=(9, 4))
    for a, b, op in edges:
        (xa, ya), (xb, yb) = pos[a], pos[b]
        ax.annotate("", (xb - 0.18, yb), (xa + 0.18, ya),
                    arrowprops={"arrowstyle": "->", "color": "0.5"})  # fmt: skip
    for vid, (x, y) in pos.items():
        name, val, bar = label[vid]
        op = next((e[2] for e in edges if e[1] == vid), "input")
        ax.text(x, y, f"{name}\n{op}\n{val:.3f}\nbar {bar:.3f}", ha="center", va="center",
                fontsize=8, bbox={"boxstyle": "round", "fc": "#e8f0fe", "ec": "#4a6fa5"})  # fmt: skip
    ax.set_xlim(-0.5, max(depth.values()) + 0.5)
    ax.set_ylim(-1.5, 1.5)
    ax.axis("off")
    ax.set_title("f(x1, x2) = (sin(x1/x2) + x1/x2 - exp(x2)) (x1/x2 - exp(x2)): value, adjoint")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    print(f"figure: {path}")


def main(figure: bool = False):
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
    if figure:
        graph_figure(t, names, values, bars)
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
    main(figure=True)

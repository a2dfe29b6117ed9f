"""ODE sensitivities (RK4 predator-prey)
=====================================

Sensitivities of an ODE trajectory to its parameters, through a hand-written RK4 loop.

Lotka-Volterra predator-prey: x' = a x - b x y, y' = d x y - c y, integrated with a plain
Python RK4 loop (200 steps). ``dualad.jvp`` carries one tangent per parameter through the
whole loop in one pass (a Dual with 4 directions), giving d(trajectory)/d(a, b, c, d) at
every step; each is checked against central differences of re-integrating. Run as a
script with matplotlib installed, it plots the sensitivities (ode_sensitivity.png).

Run:  python examples/ode_sensitivity.py
"""

import numpy as np

import dualad


def rhs(state, p):
    x, y = state[0], state[1]
    a, b, c, d = p[0], p[1], p[2], p[3]
    return np.stack([a * x - b * x * y, d * x * y - c * y])


def trajectory(p, steps=200, h=0.05, start=(10.0, 5.0)):
    """RK4 from ``start``: the states at every step, shape (steps + 1, 2)."""
    state = np.asarray(start) + 0 * p[0]  # carries p's derivative type from the start
    out = [state]
    for _ in range(steps):
        k1 = rhs(state, p)
        k2 = rhs(state + 0.5 * h * k1, p)
        k3 = rhs(state + 0.5 * h * k2, p)
        k4 = rhs(state + h * k3, p)
        state = state + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        out.append(state)
    return np.stack(out)


def main(figure: bool = False):
    p = np.array([1.1, 0.4, 0.4, 0.1])
    # all four parameter directions in one pass: the Jacobian, shape (steps + 1, 2, 4)
    sens = dualad.jacobian(trajectory, p, mode="forward")
    h = 1e-6
    fd = np.stack([(trajectory(p + e) - trajectory(p - e)) / (2 * h) for e in np.eye(4) * h],
                  axis=-1)  # fmt: skip
    scale = np.abs(fd).max()
    print(f"trajectory {trajectory(p).shape}, sensitivities {sens.shape}")
    for i, name in enumerate("abcd"):
        err = np.abs(sens[..., i] - fd[..., i]).max() / scale
        print(f"d(prey, predators)/d{name} at the end: {sens[-1, :, i].round(3)}   "
              f"matches finite differences: {err < 1e-6}")  # fmt: skip
    _, tangent = dualad.jvp(trajectory, p, np.array([1.0, 0.0, 0.0, 0.0]))
    print("jvp along a equals the Jacobian's column:", bool(np.allclose(tangent, sens[..., 0])))
    if not figure:
        return
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(matplotlib not installed: no figure)")
        return
    t = np.arange(sens.shape[0]) * 0.05
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5), sharex=True)
    for ax, k, title in zip(axes, (0, 1), ("prey", "predators")):
        for i, name in enumerate("abcd"):
            ax.plot(t, sens[:, k, i], label=f"d/d{name}")
        ax.set_title(f"sensitivity of {title}")
        ax.set_xlabel("t")
    axes[0].legend()
    fig.tight_layout()
    fig.savefig("ode_sensitivity.png", dpi=100)
    print("figure: ode_sensitivity.png")


if __name__ == "__main__":
    main(figure=True)

"""Black-Scholes Greeks
====================

Black-Scholes greeks from the pricing formula as written, against their closed forms.

The call price C(S, K, T, r, sigma) uses scipy.special.ndtr, which has its derivative rule
in dualad. Along a grid of spot prices, one Dual per parameter gives delta (dC/dS), vega
(dC/dsigma), rho (dC/dr) and theta (-dC/dT) for every spot at once; one HyperDual gives
gamma (d2C/dS2). Each is compared with its textbook closed form. Run as a script with
matplotlib installed, it plots the greeks against spot (greeks.png).

Run:  python examples/greeks.py
"""

import numpy as np
from scipy.special import ndtr

import dualad

K, T, R, SIGMA = 100.0, 0.5, 0.03, 0.25


def call_price(s, k=K, t=T, r=R, sigma=SIGMA):
    d1 = (np.log(s / k) + (r + 0.5 * sigma**2) * t) / (sigma * np.sqrt(t))
    d2 = d1 - sigma * np.sqrt(t)
    return s * ndtr(d1) - k * np.exp(-r * t) * ndtr(d2)


def closed_forms(s):
    d1 = (np.log(s / K) + (R + 0.5 * SIGMA**2) * T) / (SIGMA * np.sqrt(T))
    d2 = d1 - SIGMA * np.sqrt(T)
    pdf = np.exp(-0.5 * d1**2) / np.sqrt(2 * np.pi)
    return {
        "delta": ndtr(d1),
        "gamma": pdf / (s * SIGMA * np.sqrt(T)),
        "vega": s * pdf * np.sqrt(T),
        "rho": K * T * np.exp(-R * T) * ndtr(d2),
        "theta": -s * pdf * SIGMA / (2 * np.sqrt(T)) - R * K * np.exp(-R * T) * ndtr(d2),
    }


def greeks(s):
    one = np.ones_like(s)
    delta = call_price(dualad.Dual(s, one)).tangent
    gamma = call_price(dualad.HyperDual(s, one, one)).eps12
    vega = call_price(s, sigma=dualad.Dual(SIGMA * one, one)).tangent
    rho = call_price(s, r=dualad.Dual(R * one, one)).tangent
    theta = -call_price(s, t=dualad.Dual(T * one, one)).tangent
    return {"delta": delta, "gamma": gamma, "vega": vega, "rho": rho, "theta": theta}


def main(figure: bool = False):
    s = np.linspace(60.0, 140.0, 81)
    got, want = greeks(s), closed_forms(s)
    for name in want:
        err = np.max(np.abs(got[name] - want[name]) / (1 + np.abs(want[name])))
        print(f"{name:6} at S = 100: {got[name][40]:9.5f}   closed form {want[name][40]:9.5f}"
              f"   agree on the grid: {err < 1e-12}")  # fmt: skip
    if not figure:
        return
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(matplotlib not installed: no figure)")
        return
    fig, axes = plt.subplots(1, 5, figsize=(16, 3))
    for ax, name in zip(axes, want):
        ax.plot(s, got[name], label="dualad")
        ax.plot(s, want[name], "--", label="closed form")
        ax.set_title(name)
        ax.set_xlabel("spot")
    axes[0].legend()
    fig.tight_layout()
    fig.savefig("greeks.png", dpi=100)
    print("figure: greeks.png")


if __name__ == "__main__":
    main(figure=True)

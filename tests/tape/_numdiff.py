"""Independent references for the tape tests: 5-point central differences in float64.

Plain NumPy only (no dualad, no tape), so a wrong rule cannot also make the reference wrong.
"""

from __future__ import annotations

import numpy as np


def numgrad(f, x, h: float = 1e-4):
    """Gradient of scalar ``f`` at array ``x``, one element at a time; shape of ``x``."""
    x = np.asarray(x, dtype=np.float64)
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):

        def at(t, i=i):
            xt = x.copy()
            xt[i] += t
            return float(f(xt))

        g[i] = (-at(2 * h) + 8 * at(h) - 8 * at(-h) + at(-2 * h)) / (12 * h)
    return g


def numgrad_tree(f, params: dict, h: float = 1e-4) -> dict:
    """Gradient of scalar ``f(params)`` with respect to every array in the dict ``params``."""
    out = {}
    for k, v in params.items():

        def fk(vk, k=k):
            p = dict(params)
            p[k] = vk
            return f(p)

        out[k] = numgrad(fk, v, h)
    return out


def numjac(f, x, h: float = 1e-4):
    """Jacobian ``out.shape + x.shape`` of array-valued ``f`` at array ``x``."""
    x = np.asarray(x, dtype=np.float64)
    y0 = np.asarray(f(x), dtype=np.float64)
    J = np.zeros(y0.shape + x.shape)
    for i in np.ndindex(x.shape):

        def at(t, i=i):
            xt = x.copy()
            xt[i] += t
            return np.asarray(f(xt), dtype=np.float64)

        J[(...,) + i] = (-at(2 * h) + 8 * at(h) - 8 * at(-h) + at(-2 * h)) / (12 * h)
    return J

"""Differentiating an FFT-based PDE solver
=======================================

A spectral method differentiated with respect to its initial condition.

The viscous Burgers-like step below advances ``u`` on a periodic grid with FFTs: the
linear part (diffusion and advection at speed ``c``) exactly in Fourier space, the
nonlinear term ``-u u_x`` with a spectral derivative. The loss compares the final state with
a target; dualad gives its gradient with respect to the initial condition ``u0`` in both
modes, checked here against central differences on a few entries. ``np.fft.rfft`` and
``np.fft.irfft`` are differentiated as the linear maps they are (complex intermediate
values, real input and output).

Run:  python examples/spectral.py
"""

import numpy as np

import dualad

N = 64
L = 2 * np.pi
K = np.fft.rfftfreq(N, d=L / N) * 2 * np.pi  # wavenumbers of the rfft bins
X = np.arange(N) * L / N


def step(u, dt=0.01, nu=0.05, c=0.5):
    """One step: the nonlinear term explicitly, diffusion and advection exactly."""
    u_hat = np.fft.rfft(u)
    u_x = np.fft.irfft(1j * K * u_hat, n=N)
    u_hat = u_hat - dt * np.fft.rfft(u * u_x)
    return np.fft.irfft(u_hat * np.exp((-nu * K**2 - 1j * c * K) * dt), n=N)


def loss(u0, steps=40):
    u = u0
    for _ in range(steps):
        u = step(u)
    target = np.sin(X - 0.3)
    return np.sum((u - target) ** 2) / N


def central_entry(u0, i, h=1e-6):
    e = np.zeros_like(u0)
    e[i] = h
    return (loss(u0 + e) - loss(u0 - e)) / (2 * h)


def main():
    u0 = np.sin(X) + 0.1 * np.cos(3 * X)
    g_rev = dualad.grad(loss, u0, mode="reverse")
    g_fwd = dualad.grad(loss, u0, mode="forward")
    print(f"loss(u0) = {loss(u0):.6f}")
    for i in (0, 7, 31):
        fd = central_entry(u0, i)
        print(f"dL/du0[{i:2d}]: reverse {g_rev[i]: .10f}  forward {g_fwd[i]: .10f}  "
              f"central differences {fd: .10f}")  # fmt: skip
        np.testing.assert_allclose([g_rev[i], g_fwd[i]], fd, rtol=1e-6, atol=1e-11)
    print("max |reverse - forward| =", float(np.max(np.abs(g_rev - g_fwd))))


if __name__ == "__main__":
    main()

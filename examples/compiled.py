"""Compiled derivatives with scipy.optimize
========================================

Record once, replay at native speed: ``dualad.compile`` with ``scipy.optimize.minimize``.

Two problems, each solved with the compiled function, gradient and Hessian, and checked
against dualad's uncompiled derivatives:

1. Rosenbrock in n = 100 dimensions (20 in the quick run the tests make), trust-exact from
   x = 0, against the hand-written ``scipy.optimize.rosen_der`` / ``rosen_hess``;
2. a maximum-likelihood fit of a Cauchy location and log-scale to 2,000 noisy observations
   (the data are a constant of the recorded program), Newton-CG with the compiled Hessian.

It prints the time per derivative call compiled and uncompiled, and ``cf.report()``: what
Numba compiled. ``backend="numpy"`` gives the same answers without Numba.

Run:  python examples/compiled.py
"""

import time

import numpy as np
import scipy.optimize

import dualad


def rosen(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def per_call(fn, *args, repeat: int = 200) -> float:
    fn(*args)
    t0 = time.perf_counter()
    for _ in range(repeat):
        fn(*args)
    return (time.perf_counter() - t0) / repeat


def rosenbrock(n: int) -> None:
    x0 = np.zeros(n)
    cf = dualad.compile(rosen, x0)
    res = scipy.optimize.minimize(cf, x0, jac=cf.grad, hess=cf.hessian, method="trust-exact")
    ref = scipy.optimize.minimize(
        scipy.optimize.rosen, x0, jac=scipy.optimize.rosen_der,
        hess=scipy.optimize.rosen_hess, method="trust-exact",
    )  # fmt: skip
    print(f"Rosenbrock n={n}, trust-exact: {res.nit} iterations (hand-written derivatives: "
          f"{ref.nit}), |x - 1| = {np.abs(res.x - 1).max():.1e}")  # fmt: skip
    x = np.linspace(-1, 1.5, n)
    assert np.allclose(cf.grad(x), dualad.grad(rosen, x), rtol=1e-12)
    assert np.allclose(cf.hessian(x), dualad.hessian(rosen, x), rtol=1e-12)
    rows = [
        ("f (NumPy)", per_call(rosen, x)),
        ("grad compiled", per_call(cf.grad, x)),
        ("grad uncompiled", per_call(dualad.grad, rosen, x)),
        ("hessian compiled", per_call(cf.hessian, x)),
        ("hessian uncompiled", per_call(dualad.hessian, rosen, x, repeat=50)),
        ("rosen_hess (SciPy)", per_call(scipy.optimize.rosen_hess, x)),
    ]
    for name, t in rows:
        print(f"  {name:20s} {t * 1e6:9.1f} us")


def cauchy_fit(m: int) -> None:
    rng = np.random.default_rng(0)
    y = 1.5 + 0.4 * rng.standard_cauchy(m)

    def nll(p):  # negative log-likelihood of Cauchy(loc, exp(log_scale))
        loc, log_s = p[0], p[1]
        s = np.exp(log_s)
        return np.sum(np.log1p(((y - loc) / s) ** 2)) + m * log_s

    p0 = np.array([np.median(y), 0.0])
    cf = dualad.compile(nll, p0)
    res = scipy.optimize.minimize(cf, p0, jac=cf.grad, hess=cf.hessian, method="Newton-CG")
    print(f"Cauchy fit to {m} points: loc = {res.x[0]:.4f}, scale = {np.exp(res.x[1]):.4f} "
          f"({res.nit} Newton-CG iterations)")  # fmt: skip
    assert np.allclose(cf.grad(res.x), 0, atol=1e-6 * m)
    assert np.allclose(cf.hessian(res.x), dualad.hessian(nll, res.x), rtol=1e-10)
    print(f"  grad compiled {per_call(cf.grad, res.x) * 1e6:.1f} us, uncompiled "
          f"{per_call(dualad.grad, nll, res.x) * 1e6:.1f} us")  # fmt: skip
    print(cf.report())


def main(n: int = 20, m: int = 500) -> None:
    rosenbrock(n)
    cauchy_fit(m)


if __name__ == "__main__":
    main(n=100, m=2000)

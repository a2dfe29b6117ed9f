"""check_grad: dualad's derivatives against central differences along random directions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dualad._numpy import np

from ._backend import to_host
from ._first import jacobian
from ._intercept import intercepting
from ._pytree import flatten, unflatten
from ._seeding import (
    _check_mode,
    _leaves,
)


def check_grad(
    f: Callable,
    x: Any,
    n_directions: int = 4,
    rtol: float = 1e-5,
    atol: float = 1e-7,
    mode: str = "forward",
    seed: int = 0,
    *,
    method: str = "central",
    intercept: bool = False,
) -> float:
    """Compare dualad's derivatives of ``f`` with central differences along random directions.

    Raises ``AssertionError`` describing the worst mismatch; returns the largest error
    relative to ``atol + rtol * |reference|`` (below 1 means it passed). The differences are
    5-point, with the step ``1e-3`` times the input's scale, then a tenth and a hundredth of
    it where a strongly curved ``f`` has not settled (a wrong derivative fails at every step).

    ``method="complex_step"`` takes the reference from ``Im f(x + i h v) / h`` with
    ``h = 1e-20`` instead: exact to rounding (no cancellation), for a real-analytic ``f`` of
    real inputs written so that it runs on complex values (no ``abs``, comparisons or
    ``np.real``/``np.conj`` of intermediate values).

    With complex inputs or outputs, the check is of the directional derivative along random
    complex directions: ``jvp`` (forward) or ``vjp`` paired with it (reverse) against
    central differences, which needs no convention.

    ``intercept=True`` runs ``f`` under :func:`dualad.intercept`: ``np.asarray``, ``np.array``
    and ``math.*`` then accept the traced values (see README).

    >>> import numpy as np, dualad
    >>> dualad.check_grad(lambda x: np.sin(x) * x, np.array([0.3, 1.2])) < 1
    True
    >>> dualad.check_grad(lambda x: np.exp(x) / (1 + x**2), np.array([0.3, 1.2]),
    ...                   method="complex_step", rtol=1e-12) < 1
    True
    """
    f = intercepting(f) if intercept else f
    _check_mode(mode)
    if method not in ("central", "complex_step"):
        raise ValueError(f'method must be "central" or "complex_step", got {method!r}')
    xs, td = _leaves(x)
    if method == "complex_step" and any(np.iscomplexobj(v) for v in xs):
        raise ValueError("complex_step needs real inputs: it moves them off the real axis")
    rng = np.random.default_rng(seed)
    ys0, ytd = flatten(f(unflatten(td, xs)))
    if any(np.iscomplexobj(v) for v in xs) or any(np.iscomplexobj(to_host(y)) for y in ys0):
        return _check_complex(f, xs, td, n_directions, rtol, atol, mode, rng)
    J = jacobian(f, unflatten(td, xs), mode=mode)
    rows = [[J]] if (ytd.is_leaf and td.is_leaf) else [flatten(r)[0] for r in _split_rows(J, ytd)]
    worst, where = 0.0, ""
    scale = [float(np.max(np.abs(to_host(v)))) for v in xs if getattr(v, "size", 1)]
    h = 1e-3 * max([1.0, *scale])
    for d in range(n_directions):
        vs = [rng.standard_normal(np.shape(v)) for v in xs]
        ads = [
            sum(
                np.tensordot(to_host(b), v, axes=np.ndim(v)) if np.ndim(v) else to_host(b) * v
                for b, v in zip(row, vs)
            )
            for row in rows
        ]
        if method == "complex_step":
            e, w = _compare(ads, _complex_step(f, xs, td, vs), rtol, atol)
            if e > worst or not where:
                worst, where = e, f"direction {d}, complex step, {w}"
            continue

        def error_at(step, ads=ads, vs=vs):
            return _compare(ads, _central(f, xs, td, vs, step), rtol, atol)

        best = _best_step(d, h, error_at)
        if best[0] > worst:
            worst, where = best
    return _verdict(worst, where)


def _best_step(d: int, h: float, error_at):
    """``(error, where)`` at the best of the steps ``h``, ``h/10``, ``h/100``: a strongly curved
    f needs a smaller step than h before its differences settle, and a wrong derivative
    disagrees at every step. Stops at the first step within tolerance."""
    best = None
    for step in (h, h / 10, h / 100):
        e, w = error_at(step)
        if best is None or e < best[0]:
            best = (e, f"direction {d}, step {step:.0e}, {w}")
        if e <= 1:
            break
    return best


def _verdict(worst: float, where: str) -> float:
    if worst > 1:
        raise AssertionError(f"derivative mismatch ({worst:.3g}x tolerance) at {where}")
    return worst


def _compare(ads, fds, rtol: float, atol: float):
    """The worst of ``|ad - fd| / (atol + rtol |fd|)`` over the output leaves, and where.

    Non-finite values agree only with themselves: NaN with NaN (the differences say f has no
    derivative there either) and an infinity with the same infinity. Anything else against a
    NaN or an infinity is an infinite error, never a pass (``max`` over a NaN error would
    otherwise hide it)."""
    worst, where = 0.0, ""
    for j, (ad, ref) in enumerate(zip(ads, fds)):
        ad = to_host(ad)
        with np.errstate(invalid="ignore", divide="ignore"):
            err = np.abs(ad - ref) / (atol + rtol * np.abs(ref))
            odd = ~(np.isfinite(ad) & np.isfinite(ref))  # a NaN or an infinity on either side
            same = (np.isnan(ad) & np.isnan(ref)) | (ad == ref)
            err = np.where(odd, np.where(same, 0.0, np.inf), err)
        e = float(np.max(err, initial=0.0))
        if e > worst or not where:
            i = np.unravel_index(int(np.argmax(err)), np.shape(err)) if np.ndim(err) else ()
            worst = e
            where = (
                f"output leaf {j}, element {i}: dualad gives {np.asarray(ad)[i]!r}, "
                f"central differences give {np.asarray(ref)[i]!r}"
            )
    return worst, where


def _split_rows(J, ytd):
    if ytd.is_leaf:
        return [J]
    leaves = []
    _collect(J, ytd, leaves)
    return leaves


def _collect(tree, td, acc):
    if td.is_leaf:
        acc.append(tree)
        return
    items = [tree[k] for k in td.meta] if td.kind == "dict" else list(tree)
    for t, c in zip(items, td.children):
        _collect(t, c, acc)


def _check_complex(f, xs, td, n_directions, rtol, atol, mode, rng):
    """check_grad where inputs or outputs are complex: the directional derivative along a
    random direction (complex for a complex input) from ``jvp``, or in reverse mode the
    ``vjp`` paired with it (``Re sum(u * (J v)) == Re sum(vjp(u) * v)``, the convention of
    dualad.rules.complex), against central differences along that direction."""
    from ._forward import jvp
    from ._reverse import vjp

    x = unflatten(td, xs)
    ys, ytd = flatten(f(x))
    scale = [float(np.max(np.abs(to_host(v)))) for v in xs if getattr(v, "size", 1)]
    h = 1e-3 * max([1.0, *scale])
    worst, where = 0.0, ""
    for d in range(n_directions):
        vs = [_direction(rng, v) for v in xs]
        if mode == "reverse":  # Re sum(u * (J v)) against Re sum(vjp(u) * v)
            us = [_direction(rng, to_host(y)) for y in ys]
            _, xb = vjp(f, x, unflatten(ytd, us))
            ad = [
                np.float64(sum(np.real(np.sum(to_host(b) * v)) for b, v in zip(flatten(xb)[0], vs)))
            ]

            def error_at(step, us=us, ad=ad, vs=vs):
                fd = _central(f, xs, td, vs, step)
                ref = np.float64(sum(np.real(np.sum(u * r)) for u, r in zip(us, fd)))
                return _compare(ad, [ref], rtol, atol)
        else:
            ad = flatten(jvp(f, x, unflatten(td, vs))[1])[0]

            def error_at(step, ad=ad, vs=vs):
                return _compare(ad, _central(f, xs, td, vs, step), rtol, atol)

        best = _best_step(d, h, error_at)
        if best[0] > worst:
            worst, where = best
    return _verdict(worst, where)


def _direction(rng, like):
    """A random direction in ``like``'s space: complex for a complex value."""
    shape = np.shape(like)
    if np.iscomplexobj(like):
        return rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
    return rng.standard_normal(shape)


def _central(f, xs, td, vs, h):
    def at(t):
        pts = [x + t * v for x, v in zip(xs, vs)]
        ys = flatten(f(unflatten(td, pts)))[0]
        return [np.asarray(to_host(y), dtype=complex if np.iscomplexobj(to_host(y)) else float)
                for y in ys]  # fmt: skip

    a, b, c, d = at(2 * h), at(h), at(-h), at(-2 * h)
    return [(-p + 8 * q - 8 * r + s) / (12 * h) for p, q, r, s in zip(a, b, c, d)]


_CS = 1e-20


def _complex_step(f, xs, td, vs):
    """``Im f(x + i h v) / h``: the derivative along ``vs``, with no subtraction to cancel."""
    pts = [x + 1j * _CS * v for x, v in zip(xs, vs)]
    return [np.imag(to_host(y)) / _CS for y in flatten(f(unflatten(td, pts)))[0]]

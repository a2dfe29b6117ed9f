"""Composites: NumPy functions differentiated through a definition in other NumPy calls.

NumPy writes many functions in Python (``np.linspace``, ``np.polyval``, ...), but their code
starts with ``np.asanyarray``, which a Dual or Variable refuses (it would drop the derivative).
Each entry here restates such a function with the same signature, using only NumPy calls that
have rules (or that are primal-only: comparisons, ``argsort``, ``searchsorted`` give plain
values on any wrapper). Both wrappers' ``__array_function__`` run the composite on their own
values, so forward mode, reverse mode and every nesting level differentiate it with no rule of
its own; tests compare each with NumPy's result and with central differences.

A composite must never call its own NumPy function on a wrapper (that would recurse). Options
the restatement does not cover raise ``NotImplementedError`` naming them. Imports numpy only.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

#: {numpy function: its restatement}. Disjoint from RULES, PRIMAL_ONLY and UNSUPPORTED.
COMPOSITES: dict[Callable, Callable] = {}


def composite(func: Callable):
    """Register the decorated function as ``func``'s restatement."""

    def register(impl: Callable) -> Callable:
        COMPOSITES[func] = impl
        impl.__doc__ = impl.__doc__ or f"``numpy.{func.__name__}`` restated in NumPy calls."
        return impl

    return register


def unsupported_option(func: str, option: str, hint: str = "") -> NotImplementedError:
    """The error for an option a composite does not restate."""
    return NotImplementedError(
        f"dualad differentiates numpy.{func} without {option}{': ' + hint if hint else ''}"
    )


# -- grids -------------------------------------------------------------------------------------


@composite(np.linspace)
def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0, *,
             device=None):  # fmt: skip
    """``np.linspace`` with differentiable end points (NumPy's own arithmetic, step form)."""
    num = int(num)
    if num < 0:
        raise ValueError(f"Number of samples, {num}, must be non-negative.")
    div = (num - 1) if endpoint else num
    start = start * 1.0
    stop = stop * 1.0
    delta = stop - start
    shape = (-1,) + (1,) * np.ndim(delta)
    y = np.reshape(np.arange(0, num, dtype=float), shape)
    if div > 0:
        step = delta / div
        y = y * step + start
    else:
        step = delta * np.nan
        y = y * delta + start
    if endpoint and num > 1:
        y = np.concatenate([y[:-1], np.reshape(stop, (1,) + np.shape(stop))])
    if axis != 0:
        y = np.moveaxis(y, 0, axis)
    if dtype is not None and np.dtype(dtype).kind not in "fc":
        raise unsupported_option(
            "linspace", f"dtype={dtype!r}", "an integer grid has no derivative"
        )
    return (y, step) if retstep else y


@composite(np.polyval)
def polyval(p, x):
    """``np.polyval`` by Horner's rule, as NumPy evaluates it."""
    if isinstance(p, np.poly1d):
        raise unsupported_option("polyval", "a poly1d", "pass its coefficients, p.coeffs")
    y = np.zeros_like(x * 1.0)
    for i in range(np.shape(p)[0]):
        y = y * x + p[i]
    return y

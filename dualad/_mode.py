"""Mode selection: choose_mode compares input and output sizes, ModeChoice says why."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ._pytree import flatten, unflatten
from ._seeding import (
    _PACKED,
    _leaves,
    _size,
)


@dataclass(frozen=True)
class ModeChoice:
    """What ``jacobian(mode="auto")`` does for ``f`` at ``x``, and why.

    >>> import numpy as np, dualad
    >>> c = dualad.choose_mode(np.sin, np.ones(3)); (c.mode, c.n_in, c.n_out)
    ('forward', 3, 3)
    """

    mode: str
    n_in: int
    n_out: int
    reason: str


def choose_mode(f: Callable, x: Any) -> ModeChoice:
    """Pick forward or reverse mode by comparing input and output sizes.

    Forward mode costs one vectorised pass per input direction and reverse mode one sweep
    per output direction plus taping overhead, so forward wins when ``n_in <= n_out``.
    Up to two input numbers forward mode always wins: they ride on packed Python scalars in
    one pass (the seed program: 27x the program on floats, against 94x taped), and the "auto" doors of
    grad, value_and_grad and jacobian take it without evaluating ``f`` to choose.

    >>> import numpy as np, dualad
    >>> dualad.choose_mode(lambda x: np.sum(x**2), np.ones(5)).mode
    'reverse'
    """
    xs, td = _leaves(x)
    ys, _ = flatten(f(unflatten(td, xs)))
    n_in = sum(_size(v) for v in xs)
    n_out = sum(_size(v) for v in ys)
    if n_in <= _PACKED:
        mode = "forward"
        why = (
            f"{n_in} input number(s): one forward pass on packed scalars carries every "
            "direction, cheaper than taping whatever f returns"
        )
    elif n_in <= n_out:
        mode = "forward"
        why = f"{n_in} inputs <= {n_out} outputs: forward mode needs one pass per input direction"
    else:
        mode = "reverse"
        why = f"{n_in} inputs > {n_out} outputs: reverse mode needs one sweep per output"
    return ModeChoice(mode, n_in, n_out, why + ", the fewer passes wins.")

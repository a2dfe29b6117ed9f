"""The user-facing functions: jvp, vjp, derivative, jacobian, grad, hessian, hvp,
check_grad and choose_mode, for arrays and pytrees of arrays.

Forward mode seeds Duals of a fresh level; reverse mode records on a ``tape.Tape``, imported
lazily so that ``import dualad`` never loads the tape. Jacobian layout: ``out.shape +
in.shape``; for pytrees, output structure outside, input structure inside.

This module gathers them; each concern lives in its own module:

- ``dualad._seeding``: seeding inputs and reading tangents back, Jacobian layout, output
  checks, and ``MEMORY_BUDGET`` (set it there: every reader looks it up there at call time)
- ``dualad._forward``: forward mode (jvp, derivative, forward Jacobians, the packed-scalar
  and small-input paths)
- ``dualad._reverse``: reverse mode through the tape (vjp, reverse Jacobians)
- ``dualad._mode``: choose_mode and ModeChoice
- ``dualad._first``: first derivatives in any mode (jacobian, grad, value_and_grad)
- ``dualad._second``: second derivatives (hvp, hessian) and ``HYPERDUAL_MAX_N``
- ``dualad._checking``: check_grad against central differences
"""

from __future__ import annotations

from ._checking import check_grad
from ._first import grad, jacobian, value_and_grad
from ._forward import derivative, jvp
from ._mode import ModeChoice, choose_mode
from ._reverse import vjp
from ._second import HYPERDUAL_MAX_N, hessian, hvp
from ._seeding import MEMORY_BUDGET

__all__ = [
    "HYPERDUAL_MAX_N",
    "MEMORY_BUDGET",
    "ModeChoice",
    "check_grad",
    "choose_mode",
    "derivative",
    "grad",
    "hessian",
    "hvp",
    "jacobian",
    "jvp",
    "value_and_grad",
    "vjp",
]

"""dualad: exact derivatives of ordinary NumPy code.

Forward mode (``Dual``, ``jvp``, ``derivative``, ``jacobian``) is the core; reverse mode
(``vjp``, ``grad(mode="reverse")``) uses the separate ``tape`` package, loaded on first use.

>>> import numpy as np, dualad
>>> dualad.grad(lambda x: np.sum(np.sin(x)), np.array([0.0]))
array([1.])
"""

from ._compile import Compiled, compile
from ._intercept import config, intercept
from ._pattern import sparsity
from ._sparse import Coloring, hessian_sparsity
from .api import (
    HYPERDUAL_MAX_N,
    MEMORY_BUDGET,
    ModeChoice,
    check_grad,
    choose_mode,
    derivative,
    grad,
    hessian,
    hvp,
    jacobian,
    jvp,
    value_and_grad,
    vjp,
)
from .custom import custom_jvp, custom_vjp, defrule
from .dual import Dual
from .hyperdual import HyperDual

__all__ = [
    "HYPERDUAL_MAX_N",
    "MEMORY_BUDGET",
    "Coloring",
    "Compiled",
    "Dual",
    "HyperDual",
    "ModeChoice",
    "check_grad",
    "choose_mode",
    "compile",
    "config",
    "custom_jvp",
    "custom_vjp",
    "defrule",
    "derivative",
    "grad",
    "hessian",
    "hessian_sparsity",
    "hvp",
    "intercept",
    "jacobian",
    "jvp",
    "sparsity",
    "value_and_grad",
    "vjp",
]
__version__ = "0.1.0"

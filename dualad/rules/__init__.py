"""The derivative tables: ``RULES``, ``PRIMAL_ONLY``, ``UNSUPPORTED`` and ``COMPOSITES``
(functions restated in other NumPy calls), and ``lookup``.

Every NumPy callable a Dual or tape Variable can meet is in at most one of them. ``lookup``
raises the one ``NotImplementedError`` users see for a function without a rule. Imports
numpy (and scipy.special, only when installed) and nothing else.
"""

from __future__ import annotations

from dualad._numpy import np

from . import (  # importing a family fills RULES with its rules
    complex,  # noqa: F401 - fills RULES (the FFTs) and the complex tables
    composite,
    eigen,  # noqa: F401 - fills RULES and COMPOSITES
    einsum,
    elementwise,
    factorisations,
    indexing,
    linalg,
    products,
    reductions,
    selection,
    shape,
    statistics,
    update,
)
from ._define import RULES, Rule, func_name
from .composite import COMPOSITES as COMPOSITES  # re-exported for both wrappers' hooks

try:  # scipy is optional: its ufuncs get rules only when it is installed
    from . import special
except ImportError:  # pragma: no cover - exercised only without scipy
    special = None

#: Functions whose result carries no derivative (booleans, integers, shapes): they run on
#: the primal values and return plain arrays.
PRIMAL_ONLY: set = set(elementwise.PRIMAL_ONLY_UFUNCS)

#: Functions deliberately without a rule, each with the reason shown in the error.
UNSUPPORTED: dict = {}

_FAMILIES = (elementwise, shape, indexing, reductions, selection, products, einsum, linalg,
             factorisations, update, composite, statistics, special)  # fmt: skip
for _mod in _FAMILIES:
    PRIMAL_ONLY.update(getattr(_mod, "PRIMAL_ONLY_FUNCS", ()))
    UNSUPPORTED.update(getattr(_mod, "UNSUPPORTED_UFUNCS", {}))
    UNSUPPORTED.update(getattr(_mod, "UNSUPPORTED_FUNCS", {}))


def lookup(func) -> Rule:
    """The rule for ``func``; raises ``NotImplementedError`` naming it when there is none."""
    rule = RULES.get(func)
    if rule is not None:
        return rule
    rule = getattr(func, "_dualad_rule", None)  # a dispatcher (dualad._foreign): its own rule
    if rule is not None:
        return rule
    name = func_name(func)
    why = UNSUPPORTED.get(func)
    if why is not None:
        raise NotImplementedError(f"dualad does not differentiate {name}: {why}")
    raise NotImplementedError(
        f"dualad has no derivative rule for {name}. Add one in dualad/rules/, or call it on "
        "the plain value (d.primal for a Dual, v.value for a tape Variable) if its derivative "
        "is not needed."
    )


_REDUCE = {np.add: np.sum, np.multiply: np.prod, np.maximum: np.max, np.minimum: np.min,
           np.fmax: np.nanmax, np.fmin: np.nanmin}  # fmt: skip
_ACCUMULATE = {np.add: np.cumsum, np.multiply: np.cumprod}


def ufunc_method_target(ufunc, method: str, inputs, kwargs):
    """Map ``ufunc.reduce``/``accumulate``/``outer`` onto functions that have rules."""
    kwargs = dict(kwargs)
    if method == "reduce" and ufunc in _REDUCE:
        kwargs.setdefault("axis", 0)
        return _REDUCE[ufunc], inputs, kwargs
    if method == "accumulate" and ufunc in _ACCUMULATE:
        kwargs.setdefault("axis", 0)
        return _ACCUMULATE[ufunc], inputs, kwargs
    if method == "outer" and len(inputs) == 2:
        a, b = inputs
        a = np.reshape(a, tuple(np.shape(a)) + (1,) * np.ndim(b))
        return ufunc, (a, b), kwargs
    raise NotImplementedError(
        f"dualad has no derivative rule for numpy.{ufunc.__name__}.{method}. Use the matching "
        "function (np.sum, np.cumsum, ...) or call it on d.primal if its derivative is not needed."
    )

"""Scalar kernels: each elementwise rule's function and partials on one Python float.

A kernel is ``(value, partial)`` for a unary ufunc, or ``(value, d/da, d/db)`` for a binary
one. The partials are the rule table's own partial lines (dualad.rules), run on floats over
``_FloatNumPy``, a namespace of ``math`` functions where they round as NumPy's loops do and
NumPy's own loop on the float elsewhere (``loop``, checked against NumPy at import). No
derivative is stated here. Forward mode's packed scalars (dualad._scalar) and the tape's
scalar records (tape._fast) both run these kernels. Imports numpy, math and the rule table.
"""

from __future__ import annotations

import math
import operator
import types

from dualad._numpy import np

from .rules import RULES
from .rules._define import NEG, ONE

#: What Python raises where NumPy would return inf/nan with a warning: fall back to NumPy.
_FALLBACK = (ArithmeticError, ValueError)


# -- scalar kernels: the same function on a Python float --------------------------------------


def _calibration_points():
    """Deterministic probes over many magnitudes, both signs, with the edges of the common
    domains: where math's function and NumPy's loop must agree bit for bit."""
    rng = np.random.default_rng(20261204)
    mags = np.exp(rng.uniform(-40.0, 6.5, 2000))
    pts = np.concatenate([
        rng.uniform(-1.0, 1.0, 2500), rng.uniform(-10.0, 10.0, 2500), mags, -mags,
        rng.uniform(1.0, 20.0, 1000), [0.0, -0.0, 0.5, -0.5, 1.0, -1.0, 2.0, 1e-300, 700.0],
    ])  # fmt: skip
    return pts.tolist()


_POINTS = None
_AGREES: dict = {}


def _agrees(ufunc, fn) -> bool:
    """True when ``fn`` (math's) gives NumPy's bits at every calibration point where NumPy's
    result is finite and math's does not raise (raising is the hand-over, see ``loop``)."""
    global _POINTS
    key = (ufunc, fn)
    if key in _AGREES:
        return _AGREES[key]
    if _POINTS is None:
        _POINTS = _calibration_points()
    _AGREES[key] = ok = _agrees_at(ufunc, fn, _POINTS)
    return ok


def _agrees_at(ufunc, fn, points) -> bool:
    with np.errstate(all="ignore"):
        want = ufunc(np.array(points)).tolist()
    for x, w in zip(points, want):
        if w - w:  # inf or nan in NumPy: math raises there, or must give the same
            continue
        try:
            got = fn(x)
        except (ArithmeticError, ValueError):
            return False  # math refuses a point NumPy computes: not the same function
        if got != w or (got == 0.0 and math.copysign(1.0, got) != math.copysign(1.0, w)):
            return False
    return True


def loop(ufunc, check=None):
    """``ufunc`` on Python floats, rounded by NumPy's own loop. libm's ``math.exp``, ``math.log``,
    ``pow`` ... may differ from NumPy's in the last bit (NumPy 2.4 brings its own exp, log,
    pow, arcsin, sinh, ...; where depends on the CPU): the kernels must give the bits the array
    path gives. ``check``, math's function, runs first: it raises where NumPy would warn (a
    domain error, an overflow), and the caller hands the operation to NumPy's path, which warns
    once: 0.25 us in all, a fifth of NumPy's cost on a 0-d array. Where math's function gives
    NumPy's bits at all of 10,000 probes on this machine (``_agrees``; sin and cos here, with
    NumPy 2.4), it is the kernel itself: 0.04 us."""
    if check is None:

        def kernel(*xs):
            return float(ufunc(*xs))

    elif _agrees(ufunc, check):
        return check
    else:

        def kernel(x):
            check(x)
            return float(ufunc(x))

    kernel.__name__ = ufunc.__name__
    return kernel


m = math
#: NumPy's log and power on floats (partials of powers: ``a ** b log a``, ``b a ** (b - 1)``).
np_log, np_pow, _atan2 = loop(np.log, m.log), loop(np.power), loop(np.arctan2)


def _float_sign(x: float) -> float:
    """np.sign on a float: the sub-gradient 0 at 0 (either zero), and NaN stays NaN."""
    return x if math.isnan(x) else float((x > 0) - (x < 0))


def _float_where(c, x, y):
    """np.where on scalars."""
    return x if c else y


class _FloatNumPy:
    """NumPy's namespace as a rule line sees it, on Python floats: the kernels evaluate the
    table's own partials (``lambda out, x: -1 / np.sqrt(1 - x * x)``) with ``np`` bound to
    this, as ForwardDiff.jl generates its scalar methods from DiffRules' expressions. Each
    function rounds as NumPy's loop (``loop``; sqrt is correctly rounded in both) and raises
    where NumPy would warn (``1 / sqrt(0.0)`` is a ZeroDivisionError here), so the caller hands
    the operation to NumPy's path, which warns once. Anything else is NumPy's own."""

    def __init__(self):
        self.sqrt, self.sign, self.where = m.sqrt, _float_sign, _float_where
        for name, check in [("sin", m.sin), ("cos", m.cos), ("sinh", m.sinh),
                            ("cosh", m.cosh), ("exp", m.exp), ("log", m.log)]:  # fmt: skip
            setattr(self, name, loop(getattr(np, name), check))

    def __getattr__(self, name):
        return getattr(np, name)


_FLOAT_NP = _FloatNumPy()


def _on_floats(part):
    """The rule line ``part`` with ``np`` bound to ``_FLOAT_NP``: the same statement, run on
    Python floats. ``.rule`` names the table's function (test_scalar checks it)."""
    g = dict(part.__globals__)
    g["np"] = _FLOAT_NP
    fn = types.FunctionType(part.__code__, g, part.__name__, part.__defaults__, part.__closure__)
    fn.rule = part
    return fn


#: The partial of a rule whose line returns the output itself (exp's ``lambda out, x: out``):
#: the kernels multiply by the output without calling the line.
OUT = object()


def _is_output(part) -> bool:
    """Whether a rule's partial line is ``lambda out, <args>: out`` (returns its first
    argument as it is)."""
    code = getattr(part, "__code__", None)
    return (
        code is not None
        and code.co_argcount >= 1
        and code.co_code == _IDENTITY.__code__.co_code
        and code.co_consts == _IDENTITY.__code__.co_consts
    )


# The form _is_output compares a rule's line against (no docstring: it would be a constant).
def _IDENTITY(out, x):
    return out


def _float_partial(part):
    """``part`` whose result is made a Python float (a packed tangent stays a float or a
    complex), for a line that calls what ``_FLOAT_NP`` leaves to NumPy."""

    def partial(out, x):
        return float(part(out, x))

    partial.rule = getattr(part, "rule", part)
    return partial


# Only primals are stated here: NumPy's own loop on a float (``loop``, with math's function as
# the domain check) or, for the correctly rounded square root and arithmetic, Python. Every
# partial is the rule table's own line (dualad/rules/elementwise.py), called on floats; the
# lines that call NumPy are wrapped to give a Python float back. Each kernel is (primal,
# partial): partial(out, x), or the ONE/NEG sentinels.
def _kernels():
    table = {
        np.sin: loop(np.sin, m.sin),
        np.cos: loop(np.cos, m.cos),
        np.tan: loop(np.tan, m.tan),
        np.arcsin: loop(np.arcsin, m.asin),
        np.arccos: loop(np.arccos, m.acos),
        np.arctan: loop(np.arctan, m.atan),
        np.sinh: loop(np.sinh, m.sinh),
        np.cosh: loop(np.cosh, m.cosh),
        np.tanh: loop(np.tanh, m.tanh),
        np.arcsinh: loop(np.arcsinh, m.asinh),
        np.arccosh: loop(np.arccosh, m.acosh),
        np.arctanh: loop(np.arctanh, m.atanh),
        np.exp: loop(np.exp, m.exp),
        np.expm1: loop(np.expm1, m.expm1),
        np.log: np_log,
        np.log2: loop(np.log2, m.log2),
        np.log10: loop(np.log10, m.log10),
        np.log1p: loop(np.log1p, m.log1p),
        np.cbrt: loop(np.cbrt, m.cbrt),
        np.exp2: loop(np.exp2, m.exp2),
        np.sqrt: m.sqrt,
        np.square: lambda x: x * x,
        np.reciprocal: lambda x: 1 / x,
        np.negative: operator.neg,
        np.positive: operator.pos,
        np.absolute: abs,
        np.fabs: abs,
    }
    kernels = {}
    with np.errstate(all="ignore"):
        for f, prim in table.items():
            part = RULES[f].partials[0]
            if _is_output(part):
                part = OUT  # the rule's line is ``lambda out, x: out`` (exp): no call needed
            elif part is not ONE and part is not NEG:
                part = _on_floats(part)
                x = 1.5 if f is np.arccosh else 0.5  # a point inside the domain
                if type(part(prim(x), x)) is not float:
                    part = _float_partial(part)
            kernels[f] = (prim, part)
    return kernels


KERNELS = _kernels()


# -- powers with a constant exponent, rounded as NumPy rounds them --------------------------
def numpy_power(a: float, b: float) -> float:
    """``a ** b`` for a constant exponent, rounded as NumPy's power loop rounds it: the
    exponents 2, 0.5 and -1 as a square, a square root and a reciprocal, others by the loop."""
    if b == 2.0:
        return a * a
    if b == 0.5:
        return math.sqrt(a)
    if b == -1.0:
        return 1.0 / a
    out = a**b  # Python's pow: raises on overflow, complex for a negative base
    if type(out) is not float:  # to a fractional power: NumPy's path (NaN and a warning)
        raise ValueError
    return np_pow(a, b)


# -- binary ufuncs on floats: np.maximum(d, 0.0), np.arctan2(y, x) ---------------------------
def _maximum(a: float, b: float) -> float:
    if math.isnan(a) or math.isnan(b):  # NaN: NumPy's own path
        raise ValueError
    return max(b, a)  # equal: b, as NumPy (maximum(0.0, -0.0) is -0.0)


def _minimum(a: float, b: float) -> float:
    if math.isnan(a) or math.isnan(b):
        raise ValueError
    return min(b, a)


def _binary_kernel_of(ufunc, prim):
    """(value, d/da, d/db) of ``ufunc`` on two floats: ``prim`` for the value, the rule
    table's two partial lines (run on floats, see ``_FloatNumPy``) for the derivatives."""
    pa, pb = (_on_floats(p) for p in RULES[ufunc].partials)

    def kernel(a: float, b: float):
        out = prim(a, b)
        return out, float(pa(out, a, b)), float(pb(out, a, b))

    kernel.rules = (pa.rule, pb.rule)
    return kernel


#: (value, d/da, d/db) of a binary ufunc on two floats.
BINARY_KERNELS = {
    np.maximum: _binary_kernel_of(np.maximum, _maximum),
    np.minimum: _binary_kernel_of(np.minimum, _minimum),
    np.arctan2: _binary_kernel_of(np.arctan2, _atan2),
    np.hypot: _binary_kernel_of(np.hypot, loop(np.hypot)),  # math.hypot rounds differently
}

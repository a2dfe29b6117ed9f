"""Elementwise NumPy ufuncs, each stated once by its partial derivatives.

``lambda out, x: ...`` may reuse ``out`` (the primal result) to avoid recomputing it.
Forward, reverse and hyper-dual modes all derive from these lines. Imports numpy only.
"""

from __future__ import annotations

import math

from dualad._numpy import np

from ._define import NEG, ONE, align, defpartials, defrule, defzero, shape_of, unbroadcast

_LN2 = math.log(2.0)  # Python floats: a float32 tangent stays float32 (NEP 50)
_LN10 = math.log(10.0)


# -- arithmetic --------------------------------------------------------------------------


def _power_da(out, a, b):
    # np.power, not **: a Python-float base 0.0 to a negative power raises ZeroDivisionError
    if isinstance(b, (int, float)) and not isinstance(b, bool):
        if b == 2:
            return 2 * a
        if b == 1:
            return np.ones_like(out)
        if b == 0:  # a ** 0 is 1 everywhere, 0 ** 0 included (NumPy's value)
            return np.zeros_like(out)
        return b * np.power(a, b - 1)
    zero = b == 0  # exponent 0: slope 0, and no a ** -1 computed there (it may overflow)
    # (a lazy Dask test is not made: ``if`` would compute the graph; the where form is exact)
    if (type(zero) is np.ndarray or not hasattr(zero, "dask")) and not np.any(zero):
        return b * np.power(a, b - 1)
    return np.where(zero, 0.0, b * np.power(a, np.where(zero, 1.0, b - 1)))


def _power_db(out, a, b):
    # d/db a**b = a**b log a; at a == 0 the limit is 0 (for b > 0), not 0 * -inf
    safe = np.where(a > 0, a, 1.0)
    return out * np.log(safe)


defpartials(np.add, ONE, ONE)
defpartials(np.subtract, ONE, NEG)
defpartials(np.multiply, lambda out, a, b: b, lambda out, a, b: a, finite=True)


def _divide_da(out, a, b):
    # a Python-number divisor stays weak (a float32 tangent stays float32); 0 gives inf, as NumPy
    if type(b) in (float, int) and b != 0:
        return 1 / b
    return np.divide(1.0, b)


defpartials(np.divide, _divide_da, lambda out, a, b: -out / b)
defpartials(np.power, _power_da, _power_db)
defpartials(np.float_power, _power_da, _power_db)
defpartials(np.negative, NEG)
defpartials(np.positive, ONE)
defpartials(np.conjugate, ONE)  # real inputs only: conj is the identity
defpartials(np.absolute, lambda out, x: np.sign(x), finite=True)  # sign(0) == 0: sub-gradient 0
defpartials(np.fabs, lambda out, x: np.sign(x), finite=True)
defpartials(np.sqrt, lambda out, x: 0.5 / out)
defpartials(np.cbrt, lambda out, x: 1 / (3 * out * out))
defpartials(np.square, lambda out, x: 2 * x, finite=True)
defpartials(np.reciprocal, lambda out, x: -(out * out))
defpartials(np.fmod, ONE, lambda out, a, b: -np.trunc(a / b))
defpartials(np.remainder, ONE, lambda out, a, b: -np.floor(a / b))
defpartials(np.ldexp, lambda out, a, b: np.ldexp(np.ones_like(out), b), None)

# -- exponentials and logarithms -----------------------------------------------------------
defpartials(np.exp, lambda out, x: out, finite=True)
defpartials(np.exp2, lambda out, x: out * _LN2, finite=True)
defpartials(np.expm1, lambda out, x: out + 1, finite=True)
defpartials(np.log, lambda out, x: 1 / x)
defpartials(np.log2, lambda out, x: 1 / (x * _LN2))
defpartials(np.log10, lambda out, x: 1 / (x * _LN10))
defpartials(np.log1p, lambda out, x: 1 / (1 + x))
defpartials(
    np.logaddexp, lambda out, a, b: np.exp(a - out), lambda out, a, b: np.exp(b - out), finite=True
)
defpartials(
    np.logaddexp2,
    lambda out, a, b: np.exp2(a - out),
    lambda out, a, b: np.exp2(b - out),
    finite=True,
)

# -- trigonometric -------------------------------------------------------------------------
defpartials(np.sin, lambda out, x: np.cos(x), finite=True)
defpartials(np.cos, lambda out, x: -np.sin(x), finite=True)
defpartials(np.tan, lambda out, x: 1 + out * out, finite=True)
defpartials(np.arcsin, lambda out, x: 1 / np.sqrt(1 - x * x))
defpartials(np.arccos, lambda out, x: -1 / np.sqrt(1 - x * x))
defpartials(np.arctan, lambda out, x: 1 / (1 + x * x), finite=True)
defpartials(
    np.arctan2,
    lambda out, y, x: x / (x * x + y * y),
    lambda out, y, x: -y / (x * x + y * y),
)


def _hypot_partial(out, a, b):
    # at (0, 0) the sub-gradient 0, as for np.linalg.norm: a / 1 there, without 0 / 0
    return a / np.where(out == 0, 1.0, out)


defpartials(np.hypot, _hypot_partial, lambda out, a, b: _hypot_partial(out, b, a), finite=True)
defpartials(np.deg2rad, lambda out, x: np.pi / 180, finite=True)
defpartials(np.rad2deg, lambda out, x: 180 / np.pi, finite=True)
# np.radians is an alias of deg2rad with its own ufunc object
defpartials(np.radians, lambda out, x: np.pi / 180, finite=True)
defpartials(np.degrees, lambda out, x: 180 / np.pi, finite=True)

# -- hyperbolic ----------------------------------------------------------------------------
defpartials(np.sinh, lambda out, x: np.cosh(x), finite=True)
defpartials(np.cosh, lambda out, x: np.sinh(x), finite=True)
defpartials(np.tanh, lambda out, x: 1 - out * out, finite=True)
defpartials(np.arcsinh, lambda out, x: 1 / np.sqrt(x * x + 1), finite=True)
defpartials(np.arccosh, lambda out, x: 1 / np.sqrt(x * x - 1))
defpartials(np.arctanh, lambda out, x: 1 / (1 - x * x))

# -- selection: ties split the derivative evenly, as JAX and PyTorch do ---------------------


def _pick(a, b):
    return (a > b) + 0.5 * (a == b)


def _fpick(a, b):
    # fmax/fmin ignore a NaN operand, so the other one takes the whole derivative
    return (a > b) + 0.5 * (a == b) + np.isnan(b) * ~np.isnan(a)


def _fpick_min(a, b):
    # a's share in fmin(a, b): as _fpick with the order reversed, but the NaN term is still
    # a's (not _fpick(b, a), which hands the whole derivative to the NaN operand)
    return (a < b) + 0.5 * (a == b) + np.isnan(b) * ~np.isnan(a)


defpartials(np.maximum, lambda out, a, b: _pick(a, b), lambda out, a, b: _pick(b, a), finite=True)
defpartials(np.minimum, lambda out, a, b: _pick(b, a), lambda out, a, b: _pick(a, b), finite=True)
defpartials(np.fmax, lambda out, a, b: _fpick(a, b), lambda out, a, b: _fpick(b, a), finite=True)
defpartials(
    np.fmin, lambda out, a, b: _fpick_min(a, b), lambda out, a, b: _fpick_min(b, a), finite=True
)
defpartials(
    np.copysign, lambda out, a, b: np.where(np.signbit(a) == np.signbit(b), 1.0, -1.0), None
)

# -- dtype casts (float to float): linear, the identity up to rounding ---------------------


def astype(x, dtype):
    """``x.astype(dtype)`` as a function, so a cast has a rule like every other primitive."""
    return x.astype(dtype)


defrule(
    astype,
    lambda dots, out, x, dtype: None if dots[0] is None else dots[0].astype(dtype),
    lambda out_bar, out, x, dtype: (out_bar.astype(x.dtype), None),
)

# -- piecewise constant: zero tangent ------------------------------------------------------
for _f in (np.sign, np.floor, np.ceil, np.trunc, np.rint, np.spacing):
    defzero(_f)
defzero(np.floor_divide, nargs=2)
# nextafter(x, y) = x + (one ulp towards y): the step is piecewise constant, so d/dx = 1
defpartials(np.nextafter, ONE, None, finite=True)
# heaviside(x, h0) is 0, h0 or 1: a step in x, and h0 itself where x == 0 (a boolean partial:
# a float32 tangent stays float32)
defpartials(np.heaviside, None, lambda out, x, h0: x == 0, finite=True)

# -- two outputs: a differentiable part and a piecewise-constant part ------------------------


def _modf_jvp(dots, out, x):
    return dots[0], None  # frac = x - trunc(x): slope 1; the integral part is a step


def _modf_vjp(out_bar, out, x):
    return (out_bar[0],)


def _divmod_jvp(dots, out, a, b):
    a_dot, b_dot = dots  # remainder a - floor(a / b) * b; the quotient is a step
    shape = shape_of(out[1])
    nd = len(shape)
    r_dot = None
    if b_dot is not None:  # (out[0] has the broadcast shape: so has the term)
        r_dot = -out[0] * align(b_dot, nd)
    if a_dot is not None:
        a_dot = align(a_dot, nd)
        if r_dot is None:  # a's tangent, broadcast to the remainder's shape
            r_dot = a_dot if a_dot.shape[1:] == shape else a_dot + np.zeros(shape, a_dot.dtype)
        else:
            r_dot = r_dot + a_dot
    return None, r_dot


def _divmod_vjp(out_bar, out, a, b):
    g = out_bar[1]
    if g is None:
        return None, None
    return unbroadcast(g, shape_of(a)), unbroadcast(-g * out[0], shape_of(b))


defrule(np.modf, _modf_jvp, _modf_vjp)
defrule(np.divmod, _divmod_jvp, _divmod_vjp)

#: ufuncs whose results are booleans or integers: they run on the primal, no tangent.
PRIMAL_ONLY_UFUNCS = (
    np.less, np.less_equal, np.greater, np.greater_equal, np.equal, np.not_equal,
    np.isnan, np.isinf, np.isfinite, np.isnat, np.signbit,
    np.logical_and, np.logical_or, np.logical_xor, np.logical_not,
    np.bitwise_and, np.bitwise_or, np.bitwise_xor, np.invert, np.left_shift, np.right_shift,
    np.gcd, np.lcm, np.bitwise_count,
)  # fmt: skip

#: ufuncs deliberately without a rule, each with the reason the error message gives.
UNSUPPORTED_UFUNCS = {
    np.frexp: "its mantissa/exponent split is not differentiable as a pair; use np.log2",
}

"""scipy.special's Python-level functions, restated in calls that have rules.

``logsumexp`` (with ``b=`` and ``return_sign=``), ``softmax``, ``log_softmax``,
``polygamma`` and ``multigammaln`` are Python functions in SciPy (they start with ``np.asarray`` or an array-API
update SciPy treats as read-only). The ufuncs (``entr``, ``poch``, ``gammaln``, ...) have
their rules in ``special.py``; under ``SCIPY_ARRAY_API=1`` SciPy wraps each in a Python
function, restated here as the ufunc itself. Each restatement returns SciPy's value; the shift by the maximum that keeps
``exp`` from overflowing is a constant (it cancels in the derivative). Imports numpy;
scipy.special only inside the restatements.
"""

from __future__ import annotations

from dualad._numpy import np

from .._foreign import restate, target
from .._ops import strip
from .._tracing import decide


def _shift(a, axis, keepdims=True):
    """The maximum of ``a``'s value along ``axis`` as a constant; 0 where it is not finite.
    (A decision from values: dualad.compile makes it again at each call.)"""
    m = decide(np.max, a, axis=axis, keepdims=keepdims)
    return np.where(np.isfinite(m), m, 0.0)


def _logsumexp(a, axis=None, b=None, keepdims=False, return_sign=False):
    if b is not None:
        a, b = np.broadcast_arrays(a, b)
        zero = decide(np.equal, b, 0)
        if np.any(zero):
            a = np.where(zero, -np.inf, a)  # SciPy drops terms with b == 0
    m = _shift(a, axis)
    e = np.exp(a - m)
    s = np.sum(e if b is None else b * e, axis=axis, keepdims=True)
    sign = decide(np.sign, s)
    out = np.log(np.abs(s) if return_sign or b is not None else s) + m
    if not keepdims:
        ax = tuple(range(np.ndim(out))) if axis is None else axis
        out = np.squeeze(out, axis=ax)
        sign = np.squeeze(sign, axis=ax)
    if return_sign:
        return out, sign
    if b is not None:  # a negative sum has no real log: SciPy gives nan
        out = np.where(sign < 0, np.nan, out)
    return out


def _log_softmax(x, axis=None):
    m = _shift(x, axis)
    z = x - m
    return z - np.log(np.sum(np.exp(z), axis=axis, keepdims=True))


def _softmax(x, axis=None):
    e = np.exp(x - _shift(x, axis))
    return e / np.sum(e, axis=axis, keepdims=True)


def _polygamma(n, x):
    import scipy.special as sc

    n = decide(np.asarray, n, dtype=float)  # the order: an integer, no derivative
    if np.any(n != np.floor(n)):
        raise ValueError("scipy.special.polygamma: n must be an integer")
    zeta = sc._ufuncs._zeta  # Hurwitz zeta, the ufunc (with its rule in x)
    fac = (-1.0) ** (n + 1) * sc.gamma(n + 1.0)
    return np.where(n == 0, sc.psi(x), fac * zeta(n + 1, x))


restate("scipy.special.logsumexp", "scipy.special", "logsumexp", _logsumexp)


restate("scipy.special.softmax", "scipy.special", "softmax", _softmax)


restate("scipy.special.log_softmax", "scipy.special", "log_softmax", _log_softmax)


restate("scipy.special.polygamma", "scipy.special", "polygamma", _polygamma)


def _multigammaln(a, d):
    """log of the multivariate gamma function: ``d(d-1)/4 log(pi) + sum_j gammaln(a - j/2)``
    (SciPy's own sum, whose gammaln call on a list of the traced terms no rule can reach)."""
    import scipy.special as sc

    d = decide(np.asarray, d)
    if np.ndim(d) != 0 or int(d) != d or d < 1:
        raise ValueError("scipy.special.multigammaln: d should be a positive integer")
    d = int(d)
    if np.any(decide(np.less_equal, a, 0.5 * (d - 1))):
        raise ValueError(f"condition a ({strip(a)}) > 0.5 * (d-1) ({0.5 * (d - 1)}) not met")
    res = d * (d - 1) * 0.25 * np.log(np.pi)
    for j in range(d):
        res = res + sc.gammaln(a - 0.5 * j)
    return res


restate("scipy.special.multigammaln", "scipy.special", "multigammaln", _multigammaln)


def _as_ufunc(ufunc):
    def make(orig):
        if isinstance(orig, np.ufunc):
            return None  # the ufunc itself: its rule is in special.py
        return "restated", lambda *args, **kwargs: ufunc(*args, **kwargs)

    return make


def _wrapped_ufuncs() -> dict:
    """scipy.special's ufuncs that ``SCIPY_ARRAY_API=1`` wraps in Python functions (whose
    NumPy fallback calls ``np.asarray``): restated as the ufunc, which has its rule."""
    import scipy.special as sc

    out = {}
    for name in getattr(sc, "__all__", ()):
        inner = getattr(getattr(sc, name, None), "__wrapped__", None)
        if isinstance(inner, np.ufunc):
            out[name] = inner
    return out


for _name, _ufunc in _wrapped_ufuncs().items():
    target(f"scipy.special.{_name}", "scipy.special", _name)(_as_ufunc(_ufunc))

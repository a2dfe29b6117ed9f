"""Hyper-dual numbers: ``a + b eps1 + c eps2 + d eps1 eps2``, a Dual of Duals.

A ``HyperDual`` is a ``Dual`` (level eps2) whose primal and tangent are Duals of a lower
level (eps1), so every first-order rule gives exact second derivatives with no rule of its
own. Imports dualad.dual only.
"""

from __future__ import annotations

from dualad._numpy import np

from . import _tags
from ._scalar import meta, unpack
from .dual import Dual, _as_array, _float_dtype
from .rules._define import shape_of

#: Levels of hand-built HyperDuals: every HyperDual(...) shares them, so they interact.
_H1, _H2 = _tags.new_level(), _tags.new_level()


def _directions(e, shape, what):
    """``(k, *shape)`` tangent and whether it was given as one direction."""
    es = shape_of(e)
    if tuple(es) == tuple(shape):
        return e.reshape((1,) + tuple(shape)), True
    if len(es) == len(shape) + 1 and tuple(es[1:]) == tuple(shape):
        return e, False
    raise ValueError(f"{what} shape {tuple(es)} does not match primal shape {tuple(shape)}")


class HyperDual(Dual):
    """Hyper-dual number ``a + b eps1 + c eps2 + d eps1 eps2`` with eps1² = eps2² = 0.

    ``f(HyperDual(x, 1, 1, 0))`` carries ``f''(x)`` in ``eps12``, exactly. It is a Dual (level
    eps2) whose primal and tangent are Duals of a lower level (eps1), so every first-order
    rule serves it. ``eps1``/``eps2`` may carry ``k1``/``k2`` directions on a leading axis; then
    ``eps12`` has shape ``(k1, k2) + primal.shape``.

    >>> import numpy as np, dualad
    >>> h = dualad.HyperDual(np.array(0.5), 1.0, 1.0, 0.0)
    >>> bool(np.sin(h).eps12 == -np.sin(0.5))
    True
    """

    __slots__ = ()

    def __init__(self, primal, eps1=None, eps2=None, eps12=None):
        a = _float_dtype(_as_array(primal, "primal"), "primal")
        shape = tuple(shape_of(a))

        def part(e, what):
            if e is None:
                return np.zeros_like(a)
            e = _float_dtype(_as_array(e, what), what)
            return np.broadcast_to(e, shape) if np.ndim(e) == 0 and shape else e

        e1, s1 = _directions(part(eps1, "eps1"), shape, "eps1")
        e2, s2 = _directions(part(eps2, "eps2"), shape, "eps2")
        k1, k2 = e1.shape[0], e2.shape[0]
        want = (k1, k2) + shape
        lead = (() if s1 else (k1,)) + (() if s2 else (k2,))
        e12 = np.zeros_like(a, shape=lead + shape) if eps12 is None else part(eps12, "eps12")
        if tuple(shape_of(e12)) != lead + shape:
            raise ValueError(f"eps12 shape {tuple(shape_of(e12))} should be {lead + shape}")
        e12 = e12.reshape(want)
        # inside a running transform, two levels above it (see _tags.user_level)
        h1, h2 = _tags.user_levels(_H1, _H2)
        self._p = Dual._new(a, e1, h1, k1, s1)
        self._dot = Dual._new(e2, e12, h1, k1, s1)
        self._m, self._owns, self._pk = meta(h2, k2, s2), False, None

    def _inner(self):
        p = self._p
        return p if isinstance(p, Dual) else None

    @property
    def primal(self):
        """The real part ``a``."""
        p = self._p
        return p._p if isinstance(p, Dual) else p

    @property
    def eps1(self):
        """Coefficient of eps1: the first derivative along the eps1 directions."""
        p = self._inner()
        return p.tangent if p is not None else np.zeros_like(self.primal)

    @property
    def eps2(self):
        """Coefficient of eps2."""
        d = self._dot
        if d is None:
            return np.zeros_like(
                self.primal, shape=(() if self._single else (self._k,)) + self.shape
            )
        d = d._p if isinstance(d, Dual) else d
        d = unpack(d, self._k)
        return d[0] if self._single else d

    @property
    def eps12(self):
        """Coefficient of eps1 eps2: the exact mixed second derivative."""
        p = self._inner()
        k1, s1 = (p._k, p._single) if p is not None else (1, True)
        d = self._dot
        t = d._dot_array() if isinstance(d, Dual) else None
        if t is None:
            t = np.zeros_like(self.primal, shape=(k1, self._k) + self.shape)
        if self._single:
            t = t[:, 0]
        return t[0] if s1 else t

    def __repr__(self) -> str:
        return (
            f"HyperDual(primal={self.primal!r}, eps1={self.eps1!r}, eps2={self.eps2!r}, "
            f"eps12={self.eps12!r})"
        )

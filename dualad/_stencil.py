"""Stencil Jacobians: ``J = dv/dx`` of a vector ``v`` built from slices of the input vector.

``J[a, e] = sum_k w_k[e] [a == start_k + e * step_k]``: each term is one slice of the
identity seed (``x[1:]``, ``x[::-2]``) scaled elementwise. Elementwise steps and slicing keep
that form at O(m) per term, so ``hessian(method="accumulate")`` of stencil objectives
(Rosenbrock, discretised derivatives, chains) adds band entries instead of dense products.
Anything else turns the Jacobian dense. Imports numpy and the rule table only.
"""

from __future__ import annotations

from dualad._numpy import np

from .rules import RULES
from .rules._define import NEG, ONE, getitem

#: More terms than this and the dense form is cheaper to carry.
MAX_TERMS = 4
_GETITEM = RULES[getitem]


class Cols:
    """``J[a, e] = sum_k w_k[e] [a == start_k + e step_k]`` for ``a < n``, ``e < m``."""

    __slots__ = ("m", "n", "terms")

    def __init__(self, terms: list, m: int, n: int):
        self.terms, self.m, self.n = terms, m, n  # terms: [(start, step, w)], w float or (m,)

    @classmethod
    def seed(cls, offset: int, m: int, n: int) -> Cols:
        """Rows ``offset .. offset + m`` of the ``n x n`` identity, transposed: a vector input."""
        return cls([(offset, 1, 1.0)], m, n)

    def _rows(self, start: int, step: int):
        return np.arange(start, start + step * self.m, step) if step else None

    def dense(self, dtype=np.float64):
        """The ``(n, m)`` array."""
        D = np.zeros((self.n, self.m), dtype)
        cols = np.arange(self.m)
        for start, step, w in self.terms:
            D[self._rows(start, step), cols] += w  # one entry per column: no repeated pairs
        return D

    def add_product(self, H, T) -> None:
        """``H += J @ T.T`` for ``T`` of shape ``(n, m)``: scaled rows, no matrix product."""
        for start, step, w in self.terms:
            H[self._rows(start, step)] += (T * w).T

    def add_sandwich(self, H, c) -> None:
        """Add to ``H`` a matrix whose symmetric part is ``J diag(c) J^T`` (the caller
        symmetrises): each term's own entries lie on a strided diagonal, and each pair of
        terms adds its band once, doubled, instead of once on each side."""
        if not H.flags.c_contiguous:
            raise ValueError("add_sandwich needs a C-contiguous H")
        flat = H.reshape(-1)  # a view: flat index r * N + s addresses H[r, s]
        N = H.shape[1]
        d = N + 1
        terms = self.terms
        for start, step, w in terms:
            stop = start + step * self.m
            flat[start * d : stop * d if stop >= 0 else None : step * d] += w * w * c
        for k in range(len(terms) - 1):
            rk, wk = self._rows(terms[k][0], terms[k][1]), terms[k][2]
            wc2, base = 2.0 * wk * c, rk * N
            for sl, tl, wl in terms[k + 1 :]:
                flat[base + self._rows(sl, tl)] += wc2 * wl  # distinct indices per pair


def _merge(terms: list) -> list:
    """Sum the weights of terms on the same slice."""
    merged: dict = {}
    for start, step, w in terms:
        key = (start, step)
        merged[key] = merged[key] + w if key in merged else w
    return [(s, t, w) for (s, t), w in merged.items()]


def jvp(rec, args: list, out, jacs: dict):
    """The output's Jacobian as ``Cols``, or None when this record needs the dense form.

    ``jacs`` maps argument positions of the record's inputs to their (possibly Cols) Jacobians.
    """
    if type(out) is not np.ndarray or out.ndim != 1 or rec.multi:
        return None
    if not all(type(J) is Cols for J in jacs.values()):
        return None
    rule, m = rec.rule, out.shape[0]
    if rule is _GETITEM:
        J, key = jacs.get(0), args[1]
        if J is None or type(key) is not slice or len(jacs) != 1:
            return None
        pick = range(J.m)[key]
        terms = [
            (s + pick.start * t, t * pick.step, w[key] if isinstance(w, np.ndarray) else w)
            for s, t, w in J.terms
        ]
        return Cols(terms, m, J.n)
    if rule.partials is None:
        return None
    terms, n = [], None
    for pos, J in jacs.items():
        p = rule.partials[pos]
        if p is None:
            continue
        if J.m != m:
            return None  # broadcasting: dense
        n = J.n
        if p is ONE:
            terms += J.terms
            continue
        if p is NEG:
            scale = -1.0
        else:
            scale = p(out, *args)
            if isinstance(scale, np.ndarray):
                if scale.shape not in ((m,), ()):
                    return None
            elif not isinstance(scale, (int, float, np.floating)):
                return None
        terms += [(s, t, w * scale) for s, t, w in J.terms]
    if len(jacs) > 1:
        terms = _merge(terms)
    if not terms or len(terms) > MAX_TERMS:
        return None
    return Cols(terms, m, n)

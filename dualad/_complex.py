"""Complex inputs for grad and jacobian: each complex leaf ``z`` runs as two real leaves.

``f`` is differentiated as ``g(x, y) = f(x + iy)`` with the real machinery of either mode,
and the parts are joined by the convention of dualad.rules.complex (JAX's): a real-valued
output gets ``df/dx - i df/dy``; a complex output of a holomorphic ``f`` its complex
derivative ``df/dx`` (checked: ``df/dy`` must equal ``i df/dx``, the Cauchy-Riemann
equations; a non-holomorphic complex map has no complex Jacobian, and raises). Reverse-mode
gradients of complex inputs need none of this (the tape sweeps complex values directly).
Imports numpy and the pytree helpers only.
"""

from __future__ import annotations

from dualad._numpy import np

from ._pytree import flatten, unflatten


def has_complex(xs) -> bool:
    return any(getattr(getattr(v, "dtype", None), "kind", "f") == "c" for v in xs)


def split(f, xs, td, box=None):
    """``(g, parts)``: ``g(parts)`` is ``f`` at the leaves ``xs`` (structure ``td``) with each
    complex leaf given as its real and imaginary parts. With ``box`` (a list), ``g`` returns
    its output's leaves as a tuple and appends the output's structure to ``box``."""
    kinds = [getattr(v, "dtype", np.dtype(float)).kind == "c" for v in xs]
    parts = []
    for v, c in zip(xs, kinds):
        parts.extend((np.real(v).copy(), np.imag(v).copy()) if c else (v,))

    def g(ps):
        it = iter(ps)
        leaves = [next(it) + 1j * next(it) if c else next(it) for c in kinds]
        y = f(unflatten(td, leaves))
        if box is None:
            return y
        ys, ytd = flatten(y)
        box.append(ytd)
        return tuple(ys)

    return g, tuple(parts), kinds


def holomorphic(jx, jy, n_in: int) -> bool:
    """True if the block ``jy`` (``df/dy``) equals ``i jx`` (``i df/dx``) entry by entry.

    Each entry is measured against its own size, not the whole Jacobian's: a non-holomorphic
    entry beside a large holomorphic one must still be caught. Holomorphic code meets the
    equations to rounding only, and the tangent (or cotangent) ``i t`` runs through the same
    complex products and sums as ``t``, so the rounding is relative to the entry; the small
    share of its row's and column's largest entries covers an entry that cancels to ~0.
    ``n_in``: the input leaf's size (the block's trailing axes). Entries where both parts
    are inf or NaN (no derivative exists there, and the result shows it) are not compared.
    """
    size = int(np.size(jx))
    if size == 0:
        return True
    m = np.maximum(np.abs(jx), np.abs(jy)).reshape(size // n_in, n_in)
    err = np.abs(jy - 1j * jx).reshape(m.shape)
    undefined = (~np.isfinite(jx) & ~np.isfinite(jy)).reshape(m.shape)
    finite = np.where(np.isfinite(m), m, 0.0)  # an inf entry sets no other entry's scale
    near = np.minimum(np.max(finite, axis=1, keepdims=True), np.max(finite, axis=0, keepdims=True))
    with np.errstate(invalid="ignore"):  # (inf - inf: the entries not compared)
        ok = err <= 1e-10 * m + 1e-13 * near
    return bool(np.all(ok | undefined))


def join(blocks, kinds, holomorphic_check: bool, sizes=None):
    """Per input leaf, its block from the parts' blocks: ``Jx - i Jy`` for a real output,
    ``Jx`` for a complex one (after checking that ``Jy == i Jx``; ``sizes``: the input
    leaves' sizes)."""
    it = iter(blocks)
    out = []
    for c, n_in in zip(kinds, sizes or [1] * len(kinds)):
        if not c:
            out.append(next(it))
            continue
        jx, jy = next(it), next(it)
        if holomorphic_check:
            if not holomorphic(jx, jy, max(n_in, 1)):
                raise ValueError(
                    "jacobian of a complex output with respect to a complex input needs a "
                    "holomorphic f (df/dy == i df/dx, the Cauchy-Riemann equations), and f is "
                    "not holomorphic here. Differentiate its real and imaginary parts "
                    "(np.real(f(z)), np.imag(f(z))), or pass the real and imaginary parts of "
                    "z as real inputs."
                )
            out.append(jx)
        else:
            out.append(jx - 1j * jy)
    return out


def grad(grad_fn, f, xs, td, mode):
    """``grad`` at leaves with complex ones, by ``grad_fn`` on their real parts."""
    g, parts, kinds = split(f, xs, td)
    gp = grad_fn(g, parts, mode)
    return unflatten(td, join(list(gp), kinds, False))


def jacobian(jacobian_fn, f, xs, td, mode, chunk):
    """``jacobian`` at leaves with complex ones, by ``jacobian_fn`` on their real parts."""
    box: list = []
    g, parts, kinds = split(f, xs, td, box)
    jp = jacobian_fn(g, parts, mode, chunk)  # a tuple (outputs) of tuples (parts)
    ytd = box[-1]
    sizes = [int(np.size(v)) for v in xs]
    rows = []
    for row in jp:  # a complex output has complex blocks
        y_is_complex = any(np.iscomplexobj(b) for b in row)
        rows.append(unflatten(td, join(list(row), kinds, y_is_complex, sizes)))
    return unflatten(ytd, rows)

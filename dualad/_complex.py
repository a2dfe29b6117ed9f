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


def join(blocks, kinds, holomorphic_check: bool):
    """Per input leaf, its block from the parts' blocks: ``Jx - i Jy`` for a real output,
    ``Jx`` for a complex one (after checking that ``Jy == i Jx``)."""
    it = iter(blocks)
    out = []
    for c in kinds:
        if not c:
            out.append(next(it))
            continue
        jx, jy = next(it), next(it)
        if holomorphic_check:
            scale = max(float(np.max(np.abs(jx), initial=0.0)), 1.0)
            if not np.allclose(jy, 1j * jx, rtol=1e-8, atol=1e-10 * scale):
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
    rows = []
    for row in jp:  # a complex output has complex blocks
        y_is_complex = any(np.iscomplexobj(b) for b in row)
        rows.append(unflatten(td, join(list(row), kinds, y_is_complex)))
    return unflatten(ytd, rows)

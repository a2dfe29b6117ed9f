"""First derivatives in any mode: jacobian, grad and value_and_grad, dispatching to forward
mode (``_forward``) or reverse mode (``_reverse``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dualad._numpy import np

from . import _complex, _tags
from ._complex import has_complex
from ._forward import (
    _forward_jacobian,
    _grad_forward_small,
    _grad_numbers,
    _grad_packed,
    _jacobian_packed,
)
from ._intercept import intercepting
from ._mode import _WIDE, clock, costs, key_of, pick, rule
from ._pytree import LEAF, flatten, unflatten
from ._reverse import (
    _grad_numbers_reverse,
    _grad_reverse_array,
    _jacobian_reverse_array,
    _reverse_jacobian,
)
from ._seeding import (
    _F64_DTYPE,
    _PACKED,
    _SMALL,
    _assemble,
    _check_mode,
    _leaves,
    _packable,
    _peel,
    _require_scalar,
    _size,
)


def jacobian(
    f: Callable,
    x: Any,
    mode: str = "auto",
    chunk: int | None = None,
    *,
    intercept: bool = False,
    sparsity: Any = None,
) -> Any:
    """Dense Jacobian of ``f`` at ``x``, shaped ``out.shape + in.shape``.

    Parameters
    ----------
    mode : {"auto", "forward", "reverse", "sparse"}
        "auto" follows :func:`choose_mode`. "sparse" returns a ``scipy.sparse.csr_array``
        of shape ``(f(x).size, x.size)`` (``x`` one array): the pattern (``sparsity=``, or
        :func:`dualad.sparsity`), a coloring of its columns (or rows, when fewer), and one
        compressed forward (or reverse) pass carrying one direction per color; the
        result's ``.coloring`` says which (colors, lower bound, method, mode).
    chunk : int, optional
        Directions per vectorised pass (forward: input columns; reverse: output rows).
        By default chosen from ``MEMORY_BUDGET``.
    intercept : bool
        Run ``f`` under :func:`dualad.intercept`: ``np.asarray``, ``np.array`` and
        ``math.*`` then accept the traced values (see README).

    Examples
    --------
    >>> import numpy as np, dualad
    >>> dualad.jacobian(lambda x: x**2, np.array([1.0, 3.0]))
    array([[2., 0.],
           [0., 6.]])
    """
    f = intercepting(f) if intercept else f
    if mode == "sparse":
        from ._sparse import sparse_jacobian

        return sparse_jacobian(f, x, sparsity)
    if sparsity is not None:
        raise ValueError('sparsity= is for mode="sparse"')
    _check_mode(mode)
    if (
        type(x) is np.ndarray
        and x.dtype is _F64_DTYPE
        and x.ndim == 1
        and 0 < x.size <= _PACKED
        and (mode == "auto" or mode == "forward")
        and chunk is None
    ):  # a vector of one or two numbers: one packed pass, no pytree bookkeeping
        return _jacobian_packed(f, x, x.size)
    if mode == "reverse" and chunk is None and type(x) is np.ndarray and x.dtype is _F64_DTYPE:
        return _jacobian_reverse_array(f, x)  # one float64 array: no pytree bookkeeping
    xs, td = _leaves(x)
    if has_complex(xs):  # on the real and imaginary parts (dualad._complex)
        return _complex.jacobian(jacobian, f, xs, td, mode, chunk)
    c = None
    auto = mode == "auto"
    if auto:
        n_in = sum(_size(v) for v in xs)
        if n_in <= _PACKED:  # forward wins whatever f returns
            mode = "forward"
        else:
            c = costs(f, xs, td)
            if c is None and n_in > _WIDE:  # the output size from one plain evaluation
                ys, _ = flatten(f(unflatten(td, xs)))
                n_out = sum(_size(v) for v in ys)
                c = costs(f, xs, td, n_out)
                mode = rule(n_in, n_out) if c is None else pick(n_in, c)
            else:  # a known function, or one forward pass carrying every direction
                mode = "forward" if c is None else pick(n_in, c)
            t0 = clock()
    if mode == "forward" and td.is_leaf and chunk is None:
        x0 = xs[0]
        if type(x0) is np.ndarray and x0.dtype is _F64_DTYPE and x0.ndim == 1 and 0 < x0.size <= 2:
            return _jacobian_packed(f, x0, x0.size)
    if mode == "reverse":
        prim, ytd, rows = _reverse_jacobian(f, xs, td, chunk)
    else:
        prim, ytd, rows, _ = _forward_jacobian(f, xs, td, chunk)
    res = _assemble(rows, ytd, td)
    if auto and c is None and n_in > _PACKED:  # learned from this call: n_out
        c = costs(f, xs, td, sum(_size(p) for p in prim))
    if c is not None:
        c.observe(mode, clock() - t0)
    return res


def grad(
    f: Callable, x: Any, mode: str = "auto", has_aux: bool = False, *, intercept: bool = False
) -> Any:
    """Gradient of a scalar-valued ``f``; same structure and shapes as ``x``.

    With ``has_aux=True``, ``f`` returns ``(value, aux)`` and this returns ``(grad, aux)``,
    ``aux`` evaluated as plain values (as in JAX).

    ``intercept=True`` runs ``f`` under :func:`dualad.intercept`: ``np.asarray``, ``np.array``
    and ``math.*`` then accept the traced values (see README).

    >>> import numpy as np, dualad
    >>> dualad.grad(lambda x: np.sum(x**2), np.array([1.0, 2.0]))
    array([2., 4.])
    """
    f = intercepting(f) if intercept else f
    if has_aux:
        (_, aux), g = value_and_grad(f, x, mode, has_aux=True)
        return g, aux
    tx = type(x)
    if tx is tuple or tx is dict:  # (x1, x2) or {"a": x1, "b": x2}: no pytree bookkeeping
        _check_mode(mode)
        if len(x) <= _PACKED and mode != "reverse":
            g = _grad_numbers(f, x)
            if g is not None:
                return g
        elif mode == "reverse":
            g = _grad_numbers_reverse(f, x)
            if g is not None:
                return g
    if tx is np.ndarray and x.dtype is _F64_DTYPE:  # no pytree bookkeeping
        n = x.size
        if 0 < n <= _SMALL and (mode == "forward" or (mode == "auto" and n <= _PACKED)):
            return _grad_forward_small(f, x, n)
        if mode == "reverse":
            return _grad_reverse_array(f, x)
        if mode == "auto" and n:  # more than two numbers: by the costs measured for f, if any
            c = costs(f, (x,), LEAF, 1)
            m = "reverse" if c is None else pick(n, c)
            if m == "forward":
                return _timed(c, m, _grad_forward_small, f, x, n)
            return _timed(c, m, _grad_reverse_array, f, x)
    _check_mode(mode)
    xs, td = _leaves(x)
    n = sum(_size(v) for v in xs)
    if has_complex(xs):  # reverse mode sweeps complex values; forward seeds their parts
        if mode == "forward":
            return _complex.grad(grad, f, xs, td, mode)
        return _grad_in(f, xs, td, n, "reverse")
    c = None
    if mode == "auto":  # the rule for one output (no evaluation of f), or measured costs
        c = costs(f, xs, td, 1) if n > _PACKED else None
        mode = "forward" if n <= _PACKED else "reverse" if c is None else pick(n, c)
    return _timed(c, mode, _grad_in, f, xs, td, n, mode)


def _timed(c, mode: str, run, *args):
    """``run(*args)``, its time recorded in the measured costs ``c`` (if any) for ``mode``."""
    if c is None:
        return run(*args)
    t0 = clock()
    res = run(*args)
    c.observe(mode, clock() - t0)
    return res


def _grad_in(f, xs, td, n: int, mode: str):
    """The gradient at the leaves ``xs`` (structure ``td``) in ``mode``."""
    if mode == "reverse" or not xs:  # no leaves (grad(f, [])): the tape answers in kind
        prim, ytd, rows = _reverse_jacobian(f, xs, td, None, scalar=True)
    elif n <= _PACKED and len(xs) == n and all(_packable(v) for v in xs):
        # scalar leaves: one packed pass
        return unflatten(td, _grad_packed(f, xs, lambda ds: unflatten(td, ds), n))
    elif td.is_leaf and type(xs[0]) in (np.ndarray, np.float64) and 0 < np.size(xs[0]) <= _SMALL:
        return _grad_forward_small(f, np.asarray(xs[0]), np.size(xs[0]))
    else:
        prim, ytd, rows, _ = _forward_jacobian(f, xs, td, None)
        _require_scalar(prim, ytd)
    return unflatten(td, rows[0])


def value_and_grad(
    f: Callable, x: Any, mode: str = "auto", has_aux: bool = False, *, intercept: bool = False
):
    """``(f(x), grad(f)(x))`` from one evaluation of ``f``, as an optimisation loop needs them.

    With ``has_aux=True``, ``f`` returns ``(value, aux)`` and this returns
    ``((value, aux), grad)``, as JAX's ``value_and_grad`` does. The value and ``aux`` are plain
    values: derivatives taken inside this call are peeled off, outer ones are kept (so it
    nests inside other transforms).

    ``intercept=True`` runs ``f`` under :func:`dualad.intercept`: ``np.asarray``, ``np.array``
    and ``math.*`` then accept the traced values (see README).

    >>> import numpy as np, dualad
    >>> dualad.value_and_grad(lambda x: np.sum(x**2), np.array([1.0, 2.0]))
    (np.float64(5.0), array([2., 4.]))
    """
    f = intercepting(f) if intercept else f
    if mode == "reverse" and not has_aux and type(x) is np.ndarray and x.dtype is _F64_DTYPE:
        return _grad_reverse_array(f, x, value=True)  # the value is the tape's output's
    mark = _tags.new_level()  # every level this call makes is higher
    box = []

    def f_kept(v):
        out = f(v)
        if has_aux:
            if not (isinstance(out, tuple) and len(out) == 2):
                raise ValueError(
                    "with has_aux=True, f must return a pair (value, aux); it returned "
                    f"{type(out).__name__}"
                )
            out, aux = out
            box.append(aux)
        box.insert(0, out)
        return out

    f_kept._dualad_key = key_of(f)  # auto's measured costs belong to f (see dualad._mode)
    g = grad(f_kept, x, mode)
    value = _peel(box[0], mark)
    if has_aux:
        leaves, td = flatten(box[1])
        return (value, unflatten(td, [_peel(a, mark) for a in leaves])), g
    return value, g

"""Dense Hessians by accumulation over one tape: ``H = sum_records J_u T_u^T``.

``f`` is recorded once on inputs that carry all ``n`` forward directions, so every recorded
value ``u`` is a Dual holding its Jacobian ``J_u = du/dx`` (``n`` rows). One reverse sweep
then runs on plain arrays: first-order adjoints only. A record that is nonlinear in an input
``u`` adds ``J_u @ T_u.T``, where ``T_u`` is the derivative along the ``n`` directions of its
vjp at the fixed adjoint (for an elementwise rule: adjoint * derivative of the partial). An
affine record adds nothing and costs one plain vjp. Forward-over-reverse instead carries
``n`` tangents through every step of the sweep; here the sweep is plain and each nonlinear
step costs one matrix product. Imports numpy, the rule table and Dual; tape on first use.
"""

from __future__ import annotations

import numpy as np

from ._tags import new_level
from .dual import _TRACE, Dual, Trace
from .rules import RULES
from .rules._define import NEG, ONE, align, getitem
from .rules.update import index_update

#: NumPy functions that are affine in all their differentiable arguments: their records add
#: no second-order term, so the sweep runs them on plain arrays. tests/_check.py verifies
#: every entry on every rule case (f(a + t v) is affine in t).
_AFFINE_FUNCS = (
    getitem, index_update, np.sum, np.mean, np.reshape, np.ravel, np.transpose, np.swapaxes,
    np.moveaxis, np.expand_dims, np.squeeze, np.broadcast_to, np.concatenate, np.stack,
    np.hstack, np.vstack, np.column_stack, np.flip, np.roll, np.real, np.copy, np.diff,
    np.cumsum, np.trace, np.diagonal, np.diag, np.take, np.take_along_axis, np.pad, np.tile,
    np.repeat, np.triu, np.tril, np.rot90, np.atleast_1d, np.atleast_2d, np.atleast_3d,
    np.deg2rad, np.rad2deg, np.radians, np.degrees,
)  # fmt: skip
AFFINE = frozenset(f for f in _AFFINE_FUNCS if f in RULES)


def _affine(rule) -> bool:
    parts = rule.partials
    return parts is not None and all(p is None or p is ONE or p is NEG for p in parts)


def _at(v, level: int):
    """``v`` without its Dual of ``level`` (lists and tuples element by element)."""
    if isinstance(v, Dual) and v._level == level:
        return v.primal
    if isinstance(v, (list, tuple)):
        items = [_at(b, level) for b in v]
        return type(v)(*items) if hasattr(v, "_fields") else type(v)(items)
    return v


def _live(v, level: int) -> bool:
    return isinstance(v, Dual) and v._level == level and v._dot is not None


def _outs(out) -> tuple:
    """A record's outputs as a tuple (several for eigh, slogdet; none for a plain result)."""
    if isinstance(out, Dual):
        return (out,)
    return tuple(out) if isinstance(out, (list, tuple)) else ()


def _inputs(args, level: int):
    """``[(path, Dual)]`` of the arguments that depend on x, and the vjp's ``needs``."""
    ins, needs = [], []
    for i, a in enumerate(args):
        if _live(a, level):
            ins.append(((i,), a))
            needs.append(True)
        elif type(a) in (list, tuple) and any(_live(b, level) for b in a):
            ns = tuple(_live(b, level) for b in a)
            ins += [((i, j), b) for j, (b, hit) in enumerate(zip(a, ns)) if hit]
            needs.append(ns)
        else:
            needs.append(False)
    return ins, tuple(needs)


def _jac(v, level: int):
    """The ``(n,) + shape`` tangent of ``v`` at ``level``, or None for a constant."""
    if isinstance(v, Dual) and v._level == level:
        return v._dot_array()
    return None


def _add(H, J, T, n: int, seed=None):
    """``H += J @ T.T`` over the flattened value axes (``J`` broadcast to ``T`` if smaller)."""
    if J.size != T.size:
        J = np.broadcast_to(J, T.shape)
    rows = _seed_columns(J, seed)
    if rows is not None:  # J picks columns of the identity seed (x[1:], x[::2]): no product
        H[rows] += T.reshape(n, -1).T
        return
    H += J.reshape(n, -1) @ T.reshape(n, -1).T


def _seed_columns(J, seed):
    """The slice ``s`` with ``J == seed[:, s]`` when ``J`` is such a view of the identity
    seed (``x[1:]`` of a vector input), else None; then ``J @ T.T`` is ``T.T`` in rows ``s``.
    """
    if seed is None or J.base is not seed or J.ndim != 2 or J.shape[0] != seed.shape[0]:
        return None
    if J.strides[0] != seed.strides[0]:
        return None
    item = seed.itemsize
    off, rem = divmod(J.__array_interface__["data"][0] - seed.__array_interface__["data"][0], item)
    step, rem2 = divmod(J.strides[1], item)
    if rem or rem2 or step == 0 or off >= seed.shape[1]:
        return None
    stop = off + step * J.shape[1]
    return slice(off, stop if stop >= 0 else None, step)


def _second_elementwise(H, rule, args, out, ins, ob, level: int, n: int, seed):
    """Second-order terms of an elementwise record: each partial differentiated by Duals."""
    if len(ins) == 1 and len(ins[0][0]) == 1:
        c = _curvature(rule, args, out, ins[0][0][0], level)
        if c is not None:  # one input depends on x: J_u diag(ob * phi'') J_u^T
            if c is not _CONSTANT:
                _add_diag(H, ins[0][1]._dot_array(), ob[0] * c, n, seed)
            return
    out_ndim = np.ndim(_at(out, level))
    for path, a in ins:
        p = rule.partials[path[0]]
        if p is None or p is ONE or p is NEG:
            continue
        dp = _jac(p(out, *args), level)  # d(partial)/dx along all n directions
        if dp is not None:  # else the partial is constant in x: this input enters linearly
            _add(H, align(a._dot_array(), out_ndim), ob * align(dp, out_ndim), n, seed)


_CONSTANT = object()  # a partial that does not depend on its argument


def _curvature(rule, args, out, i: int, level: int):
    """``d partial_i / d arg_i`` elementwise, when only argument ``i`` depends on x.

    Then the partial's derivative along all n directions is this vector times ``J_u``, so one
    direction (a Dual of a fresh level, on plain arrays) gives it. None when the shapes or
    types do not allow that (the caller then differentiates along all n directions).
    """
    p = rule.partials[i]
    if p is None or p is ONE or p is NEG:
        return _CONSTANT
    vals = [_at(a, level) for a in args]
    u, o = vals[i], _at(out, level)
    if type(u) is not np.ndarray or type(o) is not np.ndarray or u.shape != o.shape:
        return None
    first = p(o, *vals)  # d out / d u, elementwise: the tangent of ``out`` along u's ones
    if not isinstance(first, np.ndarray) or first.shape != o.shape:
        first = np.broadcast_to(first, o.shape)
    lv = new_level()
    vals[i] = Dual._new(u, np.ones_like(u, shape=(1,) + u.shape), lv, 1, False)
    d = p(Dual._new(o, first.reshape((1,) + o.shape), lv, 1, False), *vals)
    if not isinstance(d, Dual) or d._level != lv or d._dot is None:
        return _CONSTANT
    return d._dot_array()[0]


def _add_diag(H, J, c, n: int, seed):
    """``H += J diag(c) J^T`` (J: ``(n,) + shape``, c: ``shape``), symmetric when c keeps a sign."""
    rows = _seed_columns(J, seed)
    c = np.ravel(c)
    if rows is not None:  # J picks columns of the identity: only diagonal entries change
        idx = np.arange(H.shape[0])[rows]
        H[idx, idx] += c
        return
    J = J.reshape(n, -1)
    if c.min() >= 0:  # one product with its own transpose: NumPy uses BLAS syrk, half the work
        S = J * np.sqrt(c)
        H += S @ S.T
    elif c.max() <= 0:
        S = J * np.sqrt(-c)
        H -= S @ S.T
    else:
        H += (J * c) @ J.T


def accumulate(f, duals, td, level: int, n: int, unflatten, flatten, seed=None):
    """The ``(n, n)`` Hessian of scalar ``f`` at ``duals`` (level ``level``, n directions).

    ``seed``: the ``(n, n)`` identity the inputs' tangents are views of, if they are.

    Returns None when ``f`` mutated a Dual in place (the trace then misses a dependency);
    the caller falls back to the tape.
    """
    trace = Trace(level)
    token = _TRACE.set(trace)
    try:
        y = f(unflatten(td, duals))
    finally:
        _TRACE.reset(token)
    if trace.broken:
        return None
    ys, ytd = flatten(y)
    if not ytd.is_leaf or np.shape(_at(ys[0], level)) != ():
        raise ValueError("hessian needs f to return a scalar")
    root = ys[0]
    H = np.zeros((n, n), dtype=np.result_type(_at(root, level), np.float64))
    if not _live(root, level):
        return H
    bars = {id(root): np.ones((1,), dtype=H.dtype)}
    # values some record produced: only their adjoints are ever read (an input's is not)
    made = {id(o) for *_, out in trace.records for o in _outs(out)}
    for rule, args, kwargs, out in reversed(trace.records):
        if isinstance(out, Dual):
            ob = bars.pop(id(out), None)
            if ob is None:
                continue
        else:  # several outputs: zeros for those that received nothing
            obs = [bars.pop(id(o), None) for o in _outs(out)]
            if all(b is None for b in obs):
                continue
            ob = tuple(
                np.zeros((1,) + np.shape(_at(o, level)), H.dtype) if b is None else b
                for b, o in zip(obs, out)
            )
        ins, needs = _inputs(args, level)
        kw = dict(kwargs, needs=needs) if rule.vjp_needs else kwargs
        plain = rule.partials is not None or id(rule) in _AFFINE_RULES
        if plain:  # first order on plain arrays; elementwise second order from the partials
            if rule.partials is not None and not _affine(rule):
                _second_elementwise(H, rule, args, out, ins, ob, level, n, seed)
            ins = [(path, a) for path, a in ins if id(a) in made]
            if not ins:
                continue  # the inputs are x itself: their adjoints are not needed
            res = rule.vjp(ob, _at(out, level), *_at(args, level), **kw)
        else:  # the vjp itself on Duals: its tangent is the second-order term
            res = rule.vjp(ob, out, *args, **kw)
        for path, a in ins:
            g = res[path[0]]
            if len(path) == 2 and g is not None:
                g = g[path[1]]
            if g is None:
                continue
            if not plain and isinstance(g, Dual) and g._level == level:
                T = g._dot_array()
                g = g.primal
                if T is not None:
                    _add(H, a._dot_array(), T, n, seed)  # T: (n, 1) + shape, J: (n,) + shape
            key = id(a)
            bars[key] = bars[key] + g if key in bars else g
    return H


_AFFINE_RULES = frozenset(id(RULES[f]) for f in AFFINE)

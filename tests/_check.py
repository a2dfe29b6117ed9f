"""Shared derivative checks for the rule tests.

``check_rule(func, *args, **kwargs)`` checks one primitive (or any composition of them):

1. forward: Duals with 1 and 3 random directions on every float array argument (also inside
   list/tuple arguments) against a 5-point central difference in float64;
2. reverse, rule level: when ``func`` is in ``RULES``, its vjp satisfies <u, J v> = <J^T u, v>
   for random ``u`` (a batch of 2 cotangents) and the forward ``J v``;
3. reverse, tape level: once ``tape`` exists, the tape gradient equals the forward one;
4. for the functions ``hessian(method="accumulate")`` treats as affine (``AFFINE``): they are.
"""

from __future__ import annotations

import numpy as np

from dualad import Dual
from dualad._accumulate import AFFINE
from dualad.rules import RULES

H = 2e-4


def _slots(args):
    """Paths (i,) or (i, j) of the float array arguments."""
    out = []
    for i, a in enumerate(args):
        if isinstance(a, np.ndarray) and a.dtype.kind == "f":
            out.append((i,))
        elif type(a) in (list, tuple):
            out += [
                (i, j) for j, b in enumerate(a) if isinstance(b, np.ndarray) and b.dtype.kind == "f"
            ]
    return out


def _get(args, p):
    return args[p[0]] if len(p) == 1 else args[p[0]][p[1]]


def _put(args, p, v):
    args = list(args)
    if len(p) == 1:
        args[p[0]] = v
    else:
        seq = list(args[p[0]])
        seq[p[1]] = v
        args[p[0]] = type(args[p[0]])(seq)
    return args


def _leaves(out):
    if type(out) in (tuple, list) or hasattr(out, "_fields"):
        return [o for o in out]
    return [out]


def _shift(func, args, kwargs, slots, vs, t):
    for p, v in zip(slots, vs):
        args = _put(args, p, _get(args, p) + t * v)
    return [np.asarray(o, dtype=float) for o in _leaves(func(*args, **kwargs))]


def central(func, args, kwargs, slots, vs):
    """5-point central difference of ``func`` along the direction ``vs``."""
    fs = [_shift(func, args, kwargs, slots, vs, t * H) for t in (2, 1, -1, -2)]
    return [(-a + 8 * b - 8 * c + d) / (12 * H) for a, b, c, d in zip(*fs)]


def _primal(o):
    return o.primal if isinstance(o, Dual) else o


def _tangent(o, k):
    if isinstance(o, Dual):
        t = o.tangent
        return t if k > 1 else t[None]
    return np.zeros((k,) + np.shape(o))


def forward_check(func, args, kwargs, k, rng, rtol, atol):
    slots = _slots(args)
    assert slots, "check_rule needs at least one float array argument"
    vs = [rng.standard_normal((k,) + _get(args, p).shape) for p in slots]
    dual_args = args
    for p, v in zip(slots, vs):
        dual_args = _put(dual_args, p, Dual(_get(args, p), v if k > 1 else v[0]))
    outs = _leaves(func(*dual_args, **kwargs))
    ref = _leaves(func(*args, **kwargs))
    jvs = []
    for o, r in zip(outs, ref):
        np.testing.assert_allclose(_primal(o), r, rtol=1e-12, atol=1e-12)
        jvs.append(_tangent(o, k))
    for j in range(k):
        fd = central(func, args, kwargs, slots, [v[j] for v in vs])
        for t, want in zip(jvs, fd):
            np.testing.assert_allclose(t[j], want, rtol=rtol, atol=atol, err_msg="forward vs FD")
    return slots, vs, jvs


def vjp_check(func, args, kwargs, slots, vs, jvs, rng, rtol, atol):
    """<u, J v> == <J^T u, v> using the rule's vjp directly."""
    rule = RULES[func]
    outs = _leaves(func(*args, **kwargs))
    multi = type(func(*args, **kwargs)) in (tuple, list) or hasattr(
        func(*args, **kwargs), "_fields"
    )
    k = vs[0].shape[0]
    m = 2
    us = [rng.standard_normal((m,) + np.shape(o)) for o in outs]
    out = func(*args, **kwargs)
    bars = rule.vjp(tuple(us) if multi else us[0], out, *args, **kwargs)
    for i in range(m):
        for j in range(k):
            lhs = sum(np.sum(u[i] * jv[j]) for u, jv in zip(us, jvs))
            rhs = 0.0
            for p, v in zip(slots, vs):
                b = bars[p[0]] if len(p) == 1 else (bars[p[0]] or [None] * 99)[p[1]]
                if b is not None:
                    assert np.shape(b) == (m,) + np.shape(_get(args, p)), (
                        f"vjp shape {np.shape(b)} for input {np.shape(_get(args, p))}"
                    )
                    rhs += np.sum(b[i] * v[j])
            np.testing.assert_allclose(rhs, lhs, rtol=rtol, atol=atol, err_msg="vjp vs jvp")


def _at_slots(func, args, kwargs, slots):
    """``func`` as a function of its float arguments (a tuple), and their values."""

    def g(vals):
        a = args
        for p, v in zip(slots, vals):
            a = _put(a, p, v)
        return func(*a, **kwargs)

    return g, tuple(_get(args, p) for p in slots)


def tape_check(func, args, kwargs, slots, rtol, atol):
    """Reverse mode (the tape) gives the same Jacobian as forward mode: the parity check."""
    from dualad.api import jacobian

    g, point = _at_slots(func, args, kwargs, slots)
    jf = jacobian(g, point, mode="forward")
    jr = jacobian(g, point, mode="reverse")
    for a, b in zip(_tree_leaves(jr), _tree_leaves(jf)):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg="reverse vs forward")


def compile_check(func, args, kwargs, slots, rng, rtol, atol):
    """dualad.compile's NumPy replay, recorded at the point and replayed at a nearby one,
    gives the value and the Jacobian that forward mode gives there."""
    from dualad import compile as dcompile
    from dualad.api import jacobian

    g, point = _at_slots(func, args, kwargs, slots)
    if not point:
        return
    try:
        cf = dcompile(g, point, backend="numpy")
    except NotImplementedError:  # no compiled form (complex steps): the message says why
        return
    near = tuple(v + 1e-3 * rng.standard_normal(np.shape(v)) for v in point)
    for a, b in zip(_tree_leaves(cf(near)), _tree_leaves(g(near))):
        np.testing.assert_allclose(_value(a), _value(b), rtol=1e-12, atol=1e-14,
                                   err_msg="compiled value")  # fmt: skip
    jc, jf = cf.jacobian(near), jacobian(g, near, mode="forward")
    for a, b in zip(_tree_leaves(jc), _tree_leaves(jf)):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg="compiled vs forward")


def pattern_check(func, args, kwargs, slots):
    """dualad.sparsity's pattern holds every nonzero of the dense Jacobian (all float
    arguments at once, as one flat input)."""
    from dualad._pattern import sparsity
    from dualad.api import jacobian
    from dualad.rules import COMPOSITES

    if not (func in RULES or func in COMPOSITES or isinstance(func, np.ufunc)):
        return  # a composition (nested derivatives inside): its parts are checked
    shapes = [np.shape(_get(args, p)) for p in slots]
    sizes = [int(np.prod(s)) for s in shapes]
    x0 = np.concatenate([np.ravel(_get(args, p)) for p in slots])

    def g(v):
        a, start = args, 0
        for p, shape, size in zip(slots, shapes, sizes):
            a = _put(a, p, np.reshape(v[start : start + size], shape))
            start += size
        out = func(*a, **kwargs)
        leaves = [o for o in _tree_leaves(out) if np.asarray(_value(o)).dtype.kind in "fc"]
        flat = [np.ravel(o) for o in leaves]
        return np.concatenate(flat) if len(flat) > 1 else flat[0]

    pattern = sparsity(g, x0).toarray()
    dense = np.asarray(jacobian(g, x0, mode="forward")).reshape(pattern.shape)
    missed = (dense != 0) & ~pattern
    assert not missed.any(), f"sparsity misses {np.argwhere(missed)[:5].tolist()} of {func}"


def _value(o):
    for attr in ("primal", "value"):
        v = getattr(type(o), attr, None)
        if v is not None:
            return getattr(o, attr)
    return o


def _tree_leaves(t):
    from dualad._pytree import flatten

    return flatten(t)[0]


def check_rule(func, *args, rtol=1e-6, atol=1e-8, seed=0, **kwargs):
    """Check ``func``'s derivatives at ``args`` against independent references."""
    rng = np.random.default_rng(seed)
    for k in (1, 3):
        slots, vs, jvs = forward_check(func, list(args), kwargs, k, rng, rtol, atol)
        if func in RULES:
            vjp_check(func, list(args), kwargs, slots, vs, jvs, rng, rtol, atol)
    tape_check(func, list(args), kwargs, _slots(list(args)), rtol, atol)
    compile_check(func, list(args), kwargs, _slots(list(args)), rng, rtol, atol)
    pattern_check(func, list(args), kwargs, _slots(list(args)))
    if func in AFFINE:
        affine_check(func, list(args), kwargs, _slots(list(args)), rng)


def affine_check(func, args, kwargs, slots, rng):
    """Functions hessian(method="accumulate") treats as affine are: f(a + t v) is affine in t."""
    vs = [rng.standard_normal(np.shape(_get(args, p))) for p in slots]
    f0, f1, f2 = (_shift(func, args, kwargs, slots, vs, t) for t in (0.0, 1.0, 2.0))
    for a, b, c in zip(f0, f1, f2):
        np.testing.assert_allclose(a - 2 * b + c, 0.0, atol=1e-12 * (1 + np.abs(b).max(initial=0)))


def central_jacobian(f, x, h=1e-5):
    """Central differences of ``f`` at ``x``, shaped ``x.shape + f(x).shape`` (the gradient
    for a scalar ``f``): the reference the SciPy and custom-rule tests compare with."""
    x = np.asarray(x, dtype=float)
    out = np.zeros(x.shape + np.shape(f(x)))
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = h
        out[i] = (np.asarray(f(x + e)) - np.asarray(f(x - e))) / (2 * h)
    return out

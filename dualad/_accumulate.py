"""Dense Hessians by accumulation over one plain tape: ``H = sum_records J_u T_u^T``.

``f`` is recorded once on plain values. One reverse sweep gives every record its first-order
adjoint. A record that is nonlinear in an input ``u`` then adds ``J_u @ T_u.T``: ``J_u =
du/dx`` (``n`` rows) comes from the records' jvps, computed lazily and only for the values
that feed a nonlinear step; ``T_u`` is the derivative along the ``n`` directions of that
record's vjp at its fixed adjoint. An elementwise step with one input that depends on x
needs only ``J_u diag(adjoint * phi'') J_u^T``, with ``phi''`` from one Dual direction.
Affine records add nothing and cost one plain vjp. Forward-over-reverse instead carries
``n`` tangents through every step of both passes. Imports numpy, the rule table and Dual;
the tape on first use.
"""

from __future__ import annotations

from dualad._numpy import np

from ._stencil import Cols
from ._stencil import jvp as stencil_jvp
from ._tags import new_level
from .dual import Dual
from .rules import RULES
from .rules._define import NEG, ONE, _mul, align, getitem, guarded
from .rules.update import index_update

#: NumPy functions that are affine in all their differentiable arguments: their records add
#: no second-order term. tests/_check.py verifies every entry on every rule case
#: (f(a + t v) is affine in t).
_AFFINE_FUNCS = (
    getitem, index_update, np.sum, np.mean, np.reshape, np.ravel, np.transpose, np.swapaxes,
    np.moveaxis, np.expand_dims, np.squeeze, np.broadcast_to, np.concatenate, np.stack,
    np.hstack, np.vstack, np.column_stack, np.flip, np.roll, np.real, np.copy, np.diff,
    np.cumsum, np.trace, np.diagonal, np.diag, np.take, np.take_along_axis, np.pad, np.tile,
    np.repeat, np.triu, np.tril, np.rot90, np.atleast_1d, np.atleast_2d, np.atleast_3d,
    np.deg2rad, np.rad2deg, np.radians, np.degrees,
)  # fmt: skip
AFFINE = frozenset(f for f in _AFFINE_FUNCS if f in RULES)
_AFFINE_RULES = frozenset(id(RULES[f]) for f in AFFINE)
_CONSTANT = object()  # a partial that does not depend on its argument
#: Elementwise rules linear in argument i when the others are constants (c * x, x / c).
_LINEAR_IN = {id(RULES[np.multiply]): (0, 1), id(RULES[np.divide]): (0,)}


_AFFINE, _ELEMENTWISE, _GENERAL = range(3)
_KINDS: dict[int, int] = {}


def _kind(rule) -> int:
    """How a record of ``rule`` enters: affine, elementwise (by its partials), or general."""
    k = _KINDS.get(id(rule))
    if k is None:
        parts = rule.partials
        if id(rule) in _AFFINE_RULES or (
            parts is not None and all(p is None or p is ONE or p is NEG for p in parts)
        ):
            k = _AFFINE
        else:
            k = _GENERAL if parts is None else _ELEMENTWISE
        _KINDS[id(rule)] = k
    return k


def _np(v):
    """A scalar record's Python float as the 0-d float64 every rule expects."""
    return np.float64(v) if type(v) is float else v


class _Jacobians:
    """``J_v = dv/dx`` of recorded values, ``(n,) + shape``, computed on first request.

    A value's Jacobian is its record's jvp applied to its inputs' Jacobians; the inputs' are
    the seeds. Requests walk the records in tape order, so long chains need no recursion.
    """

    def __init__(self, records, seeds: dict):
        self.known = dict(seeds)
        self.dense_known: dict = {}
        self.maker = {vid: (rec, j) for rec in records for j, vid in enumerate(rec.out_ids)}

    def __call__(self, vid: int):
        """The dense ``(n,) + shape`` Jacobian."""
        J = self.raw(vid)
        if type(J) is not Cols:
            return J
        D = self.dense_known.get(vid)
        if D is None:
            D = self.dense_known[vid] = J.dense()
        return D

    def raw(self, vid: int):
        """The Jacobian as stored: dense, or ``Cols`` for stencil-built vectors."""
        known = self.known
        if vid in known:
            return known[vid]
        todo, stack = {}, [vid]  # the records this request needs, found depth first
        while stack:
            v = stack.pop()
            if v in known:
                continue
            rec = self.maker[v][0]
            if rec.id in todo:
                continue
            todo[rec.id] = rec
            stack.extend(i for _, _, i in rec.inputs if i not in known)
        for rec in sorted(todo.values(), key=lambda r: r.id):
            self._run(rec)
        return known[vid]

    def _run(self, rec) -> None:
        args, out = [_np(a) for a in rec.args], _np(rec.out)  # Python floats: 0-d float64
        jacs = {path[0]: self.known.get(i) for path, _, i in rec.inputs if len(path) == 1}
        if any(type(J) is Cols for J in jacs.values()) and len(jacs) == len(rec.inputs):
            J = stencil_jvp(rec, args, out, jacs)
            if J is not None:
                self.known[rec.out_ids[0]] = J
                return
        dots: list = [None] * len(args)
        for path, _, i in rec.inputs:
            J = self.known.get(i)
            if type(J) is Cols:
                J = self(i)
            if len(path) == 1:
                dots[path[0]] = J
            else:
                seq = list(dots[path[0]] or (None,) * len(args[path[0]]))
                seq[path[1]] = J
                dots[path[0]] = tuple(seq)
        if all(d is None or (type(d) is tuple and all(e is None for e in d)) for d in dots):
            # every input has a zero Jacobian (np.zeros_like(x), floor, ...): so has the
            # output. Rules are called with at least one tangent, as in forward mode.
            for vid in rec.out_ids:
                if vid >= 0:
                    self.known[vid] = None
            return
        out = rec.rule.jvp(tuple(dots), out, *args, **rec.kwargs)
        for vid, d in zip(rec.out_ids, out if rec.multi else (out,)):
            if vid >= 0:
                self.known[vid] = d


def _add(H, J, T, n: int, ob=None, nan: bool = True):
    """``H += J @ T.T`` over the flattened value axes (``J`` broadcast to ``T`` if smaller).
    ``ob``: the adjoint, of T's value shape, where it is known (see ``_off_graph``); ``nan``:
    whether a recorded value is NaN (else no term can hold a marker's NaN: no check)."""
    if J is None:
        return  # a value whose Jacobian is zero (it went through floor, sign, ...)
    marked = nan and (np.isnan(T).any() or (type(J) is not Cols and np.isnan(J).any()))
    if type(J) is Cols:
        if T.size == n * J.m and not marked:
            J.add_product(H, T.reshape(n, J.m))
            return
        J = J.dense()
    if J.size != T.size:
        if J.ndim != T.ndim:  # right-aligning would pair J's direction axis with T's value axes
            raise ValueError(f"Jacobian of shape {J.shape} does not align with {T.shape}")
        J = np.broadcast_to(J, T.shape)
    J, T = J.reshape(n, -1), T.reshape(n, -1)
    if marked:
        J, T = _off_graph(J, T, None if ob is None else np.ravel(ob == 0))
    H += J @ T.T


def _holds_nan(out) -> bool:
    """Whether a record's output (an array, a number, or a tuple of them) holds a NaN."""
    if isinstance(out, (tuple, list)):
        return any(_holds_nan(o) for o in out)
    try:
        return bool(np.isnan(_np(out)).any())
    except TypeError:  # not numbers (an int array's isnan is fine; objects are not)
        return False


def _off_graph(J, T, zero=None):
    """``J`` and ``T`` (or a weight row ``(1, m)``) with 0 at the positions whose term is 0
    whatever they hold there: a Jacobian column of 0, a weight of 0, or an adjoint of 0
    (``zero``). NaN gets in without NumPy's "invalid" firing where a value is NaN already (a
    marker ``nansum`` skips: its adjoint is 0, its partials NaN), and one NaN would spread
    through ``H`` to every entry; ``guarded`` only sees NaN being made."""
    off = ~(J != 0).any(axis=0) | ~(T != 0).any(axis=0)
    if zero is not None:
        off |= np.broadcast_to(zero, off.shape)
    return np.where(off, 0.0, J), np.where(off, 0.0, T)


def _add_diag(H, J, c, n: int, ob=None, nan: bool = True):
    """``H += J diag(c) J^T`` (J: ``(n,) + shape``, c: ``shape``), symmetric when c keeps a sign.
    ``ob`` and ``nan``: as for ``_add``."""
    if J is None:
        return
    c = np.ravel(c)
    marked = nan and (np.isnan(c).any() or (type(J) is not Cols and np.isnan(J).any()))
    if type(J) is Cols:  # a stencil: band entries only
        if not marked:
            J.add_sandwich(H, c)
            return
        J = J.dense()
    J = J.reshape(n, -1)
    if c.size == 0:
        return  # an empty value: no terms
    if marked:
        J, c = _off_graph(J, c[None], None if ob is None else np.ravel(ob == 0))
        c = c[0]
    if c.min() >= 0:  # one product with its own transpose: NumPy uses BLAS syrk, half the work
        S = J * np.sqrt(c)
        H += S @ S.T
    elif c.max() <= 0:
        S = J * np.sqrt(-c)
        H -= S @ S.T
    else:
        H += (J * c) @ J.T


def _second_term(p, out_d, vals, ob, lv: int, ndim: int):
    """``ob`` times the derivative of partial ``p`` along all n directions (``(n,) +
    out.shape``), or None where it is zero. Zero wherever ``ob`` is: the partial may be
    infinite or NaN there (``0 ** 0.5``); as in ``_Curvature.elementwise``, the product is
    redone masked only where "invalid"/"divide" fires."""

    def compute(mul):
        dp = p(out_d, *vals)  # d(partial)/dx along all n directions
        if not (isinstance(dp, Dual) and dp._level == lv and dp._dot is not None):
            return None
        return mul(ob, align(dp._dot_array(), ndim))

    return guarded(compute)


def _curvature(rule, args, out, i: int):
    """``(d partial_i / d arg_i, partial_i)`` elementwise, when only argument ``i`` depends on x.

    Then the partial's derivative along all n directions is this vector times ``J_u``, so one
    direction (a Dual of a fresh level, on plain arrays) gives it. None when the shapes or
    types do not allow that (the caller then differentiates along all n directions). The
    partial itself comes along (None where not computed): it gives the first-order adjoint.
    """
    p = rule.partials[i]
    if p is None or p is ONE or p is NEG or i in _LINEAR_IN.get(id(rule), ()):
        return _CONSTANT, None
    u = args[i]
    tu, to = type(u), type(out)
    if tu is np.float64 and to is np.float64:  # scalar code: 0-d values
        shape = ()
    elif tu is np.ndarray and to is np.ndarray and u.shape == out.shape:
        shape = u.shape
    else:
        return None, None
    first = p(out, *args)  # d out / d u, elementwise: the tangent of ``out`` along u's ones
    if np.shape(first) != shape:
        first = np.broadcast_to(first, shape)
    lv = new_level()
    vals = list(args)
    vals[i] = Dual._new(u, np.ones((1,) + shape), lv, 1, False)
    d = p(Dual._new(out, np.reshape(first, (1,) + shape), lv, 1, False), *vals)
    if not isinstance(d, Dual) or d._level != lv or d._dot is None:
        return _CONSTANT, first
    return d._dot_array()[0], first


class _Curvature:
    """The second-order terms of one record, given its adjoint ``ob`` (batch axis m = 1)."""

    def __init__(self, H, jac: _Jacobians, n: int, nan: bool = True):
        self.H, self.jac, self.n, self.nan = H, jac, n, nan

    def _duals(self, rec, args, lv: int):
        """``args`` with each input carrying its Jacobian as a Dual of level ``lv``."""
        vals = list(args)
        for path, _, i in rec.inputs:
            a = args[path[0]]
            d = Dual._new(_np(a if len(path) == 1 else a[path[1]]), self.jac(i), lv, self.n, False)
            if len(path) == 1:
                vals[path[0]] = d
            else:
                seq = list(vals[path[0]])
                seq[path[1]] = d
                vals[path[0]] = type(vals[path[0]])(seq)
        return vals

    def elementwise(self, rec, args, out, ob):
        """Add the record's second-order terms; return its input's adjoint when that came
        for free (one input of the output's shape), else None."""
        ins = rec.inputs
        if len(ins) == 1 and len(ins[0][0]) == 1:
            # A zero adjoint contributes nothing, even through an infinite partial (sqrt at
            # 0 on a diagonal that never reaches the output): as in the rules' own vjps, the
            # products run with "invalid"/"divide" raising and are redone masked only where
            # one fires (see rules._define._masked). H is not touched before that point.
            # Unary rules with finite partials (square, exp, sin, tanh, ...) have finite
            # second derivatives wherever the value is finite, as have linear steps: no guard.
            rule, i = rec.rule, ins[0][0][0]

            def scaled(mul):
                c, first = _curvature(rule, args, out, i)
                cob = None if c is None or c is _CONSTANT else mul(ob[0], c)
                return c, cob, None if first is None else mul(ob, first)

            if rule.finite and (len(rule.partials) == 1 or i in _LINEAR_IN.get(id(rule), ())):
                c, cob, g = scaled(_mul)
            else:
                c, cob, g = guarded(scaled)
            if c is not None:  # one input depends on x: J_u diag(ob * phi'') J_u^T
                if cob is not None:
                    _add_diag(self.H, self.jac.raw(ins[0][2]), cob, self.n, ob[0], self.nan)
                return g
            # shapes or types _curvature does not take: along all n directions below
        lv = new_level()
        vals = self._duals(rec, args, lv)
        out_d = Dual._new(out, self.jac(rec.out_ids[0]), lv, self.n, False)
        ndim = np.ndim(out)
        for path, _, i in ins:
            p = rec.rule.partials[path[0]]
            if p is None or p is ONE or p is NEG:
                continue
            J = self.jac.raw(i)
            if J is None:  # an input that does not depend on x
                continue
            T = _second_term(p, out_d, vals, ob, lv, ndim)  # (n,) + out.shape
            if T is not None:
                if type(J) is Cols and T.size != self.n * J.m:
                    J = self.jac(i)  # an input broadcast against the output: dense, aligned
                if type(J) is not Cols:
                    J = align(J, ndim)  # leading axes of the broadcast become length 1
                _add(self.H, J, T, self.n, ob, self.nan)
        return None

    def general(self, rec, args, out, ob, kw):
        """The vjp on Duals: first-order adjoints, and its tangent is the second-order term."""
        lv = new_level()
        vals = self._duals(rec, args, lv)
        if rec.multi:
            outs = [
                o if i < 0 else Dual._new(_np(o), self.jac(i), lv, self.n, False)
                for o, i in zip(rec.out, rec.out_ids)
            ]
            out_d = type(rec.out)(*outs) if hasattr(rec.out, "_fields") else type(rec.out)(outs)
        else:
            out_d = Dual._new(out, self.jac(rec.out_ids[0]), lv, self.n, False)
        res = rec.rule.vjp(ob, out_d, *vals, **kw)
        plain = []
        for path, _, i in rec.inputs:
            g = res[path[0]]
            if len(path) == 2 and g is not None:
                g = g[path[1]]
            if isinstance(g, Dual) and g._level == lv:
                T = g._dot_array()
                if T is not None:  # T: (n, 1) + shape, J: (n,) + shape
                    _add(self.H, self.jac.raw(i), T, self.n, None, self.nan)
                g = g.primal
            plain.append(g)
        return plain


def accumulate(f, xs, dots, td, n: int, unflatten, flatten, budget: int | None = None):
    """The ``(n, n)`` Hessian of scalar ``f`` at the leaves ``xs`` (seeds ``dots``).

    ``dots[i]``: the leaf's ``(n,) + shape`` block of the identity, or ``Cols.seed``.
    Returns None, before any Jacobian is formed, when n rows for every recorded value
    would exceed ``budget`` bytes, or when a recorded value is complex: the caller then
    takes forward-over-reverse.
    """
    import tape

    with tape.Tape() as t:
        ws = [t._watch(v) for v in xs]
        y = f(unflatten(td, ws))
    try:
        if budget is not None and n * 8 * _recorded_size(t.records) > budget:
            return None
        if any(_complex_record(r) for r in t.records):
            return None  # complex intermediates: forward-over-reverse states them exactly
        return _accumulate_taped(t, ws, dots, y, n, flatten)
    finally:
        t.close()


def _complex_record(rec) -> bool:
    return any(np.iscomplexobj(o) for o in (rec.out if rec.multi else (rec.out,)))


def _recorded_size(records) -> int:
    """Entries in all recorded outputs: the most the lazy Jacobians can hold, per row."""
    total = 0
    for rec in records:
        for o in rec.out if rec.multi else (rec.out,):
            total += o.size if type(o) is np.ndarray else 1
    return total


def _accumulate_taped(t, ws, dots, y, n, flatten):
    import tape
    from tape.sweep import sweep

    ys, ytd = flatten(y)
    value = tape.value_of(ys[0])
    if not ytd.is_leaf or np.shape(value) != ():
        raise ValueError("hessian needs f to return a scalar")
    root = ys[0]
    H = np.zeros((n, n), dtype=np.result_type(value, np.float64))
    if not isinstance(root, tape.Variable) or root.level != t.level or root.is_leaf:
        return H  # constant, or x itself: no curvature
    records = t.records
    jac = _Jacobians(records, {w.id: d for w, d in zip(ws, dots)})
    step = _Curvature(H, jac, n, any(_holds_nan(r.out) for r in records))
    made = {vid for rec in records for vid in rec.out_ids}

    def visit(rec, ob, bars):
        if rec.multi:
            ob = tuple(
                np.zeros((1,) + np.shape(o), H.dtype) if b is None else b
                for b, o in zip(ob, rec.out)
            )
        rule = rec.rule
        args, out = [_np(a) for a in rec.args], _np(rec.out)  # Python floats: 0-d float64
        kw = rec.kwargs
        if rule.vjp_needs and rec.needs:
            kw = {"needs": rec.needs, **kw} if kw else {"needs": rec.needs}
        kind = _kind(rule)
        if kind != _GENERAL:
            g1 = step.elementwise(rec, args, out, ob) if kind == _ELEMENTWISE else None
            ins = [(path, i) for path, _, i in rec.inputs if i in made]
            if not ins:
                return  # the inputs are x itself: their adjoints are not needed
            if g1 is not None:  # ob * partial, already at hand
                grads = [g1]
                ins = ins[:1]
            else:
                res = rule.vjp(ob, out, *args, **kw)
                grads = []
                for path, _ in ins:
                    g = res[path[0]]
                    grads.append(g[path[1]] if len(path) == 2 and g is not None else g)
        else:
            grads = step.general(rec, args, out, ob, kw)
            ins = [(path, i) for path, _, i in rec.inputs]
        for (_, i), g in zip(ins, grads):
            if g is not None:
                bars[i] = bars[i] + g if i in bars else g

    sweep([root], [np.ones((1,), dtype=H.dtype)], [], records=records, visit=visit)
    return H

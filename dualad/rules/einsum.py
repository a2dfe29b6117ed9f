"""einsum: the subscripts made fully explicit, then the product rule, one einsum per operand.

Reverse mode contracts the cotangent with the other operands into each operand's labels.
Real inputs only. Imports numpy only.
"""

from __future__ import annotations

import string

from dualad._numpy import np

from ._define import defrule, shape_of
from .products import _eye, _plus, _wants

# Subscripts are first made fully explicit: ellipses become letters, and an operand axis of
# length 1 that broadcasts against a longer one gets a private letter, so every letter has
# one length and reverse mode never has to undo broadcasting.

_LETTERS = string.ascii_letters


def _fresh_letters(used):
    return (c for c in _LETTERS if c not in used)


def _einsum_split(args):
    """(positions of the operands, subscript string) for both calling conventions."""
    if isinstance(args[0], str):
        return list(range(1, len(args))), args[0].replace(" ", "")
    pos = list(range(0, len(args) - 1, 2))

    def word(sub):
        return "".join("..." if s is Ellipsis else _LETTERS[s] for s in sub)

    subs = ",".join(word(args[p + 1]) for p in pos)
    if len(args) % 2:
        subs += "->" + word(args[-1])
    return pos, subs


def _einsum_spec(args):
    """(operand positions, explicit per-operand labels, explicit output labels)."""
    pos, subs = _einsum_split(args)
    ins, arrow, outs = subs.partition("->")
    terms = ins.split(",")
    used = set(subs) - set(".,->")
    letters = _fresh_letters(used)
    shapes = [shape_of(args[p]) for p in pos]
    n_ell = [len(s) - len(t.replace("...", "")) if "..." in t else 0 for s, t in zip(shapes, terms)]
    ell = [next(letters) for _ in range(max(n_ell, default=0))]
    labels = []
    for t, n in zip(terms, n_ell):
        left, _, right = t.partition("...")
        labels.append(left + "".join(ell[len(ell) - n :]) + right)
    if arrow:
        out = outs.replace("...", "".join(ell))
    else:  # implicit mode: broadcast axes, then letters seen once, in ASCII order
        once = sorted(c for c in set(ins) - set(".,") if ins.count(c) == 1)
        out = "".join(ell) + "".join(once)
    size: dict = {}
    for lab, s in zip(labels, shapes):
        for c, n in zip(lab, s):
            if size.get(c, 1) == 1:  # a length-1 axis broadcasts against any other
                size[c] = n
    labels = [
        "".join(c if n == size[c] else next(letters) for c, n in zip(lab, s))
        for lab, s in zip(labels, shapes)
    ]
    return pos, labels, out


def einsum_jvp(dots, out, *args, optimize=False, **kwargs):
    pos, labels, res = _einsum_spec(args)
    ops = [args[p] for p in pos]
    k = next(_fresh_letters(set("".join(labels))))
    acc = None
    for i, p in enumerate(pos):  # product rule: one einsum per differentiable operand
        d = dots[p]
        if d is None:
            continue
        subs = ",".join(k + lab if j == i else lab for j, lab in enumerate(labels))
        term = np.einsum(
            subs + "->" + k + res, *ops[:i], d, *ops[i + 1 :], optimize=optimize, **kwargs
        )
        acc = _plus(acc, term)
    return acc


def _einsum_operand_vjp(g, ops, labels, res, i, optimize, kwargs):
    """Cotangent of operand ``i``: contract ``g`` with the other operands into its labels.

    A letter repeated in the operand (a diagonal, ``'ii'``) becomes a fresh letter tied to
    the first by an identity matrix; a letter found in no other input gets a vector of ones.
    """
    used = set("".join(labels)) | set(res)
    fresh = _fresh_letters(used)
    r = next(fresh)
    shape = shape_of(ops[i])
    target, in_subs, in_ops = "", [r + res], [g]
    in_subs += [lab for j, lab in enumerate(labels) if j != i]
    in_ops += [op for j, op in enumerate(ops) if j != i]
    for c, n in zip(labels[i], shape):
        if c in target:
            c2 = next(fresh)
            in_subs.append(c + c2)
            in_ops.append(_eye(g, n))
            c = c2
        target += c
    have = set("".join(in_subs))
    for c, n in zip(target, shape):
        if c not in have:
            in_subs.append(c)
            in_ops.append(np.zeros_like(g, shape=(n,)) + 1)
    return np.einsum(",".join(in_subs) + "->" + r + target, *in_ops, optimize=optimize, **kwargs)


def einsum_vjp(out_bar, out, *args, optimize=False, needs=None, **kwargs):
    pos, labels, res = _einsum_spec(args)
    ops = [args[p] for p in pos]
    bars = [None] * len(args)
    for i, p in enumerate(pos):
        if _wants(needs, p):
            bars[p] = _einsum_operand_vjp(out_bar, ops, labels, res, i, optimize, kwargs)
    return tuple(bars)


defrule(np.einsum, einsum_jvp, einsum_vjp)

# -- outside the tables ----------------------------------------------------------------------

#: Functions whose result carries no derivative: they run on the primal values.
PRIMAL_ONLY_FUNCS = (np.einsum_path,)

"""Functional item assignment: ``index_update(x, key, value)`` is ``x`` with ``x[key] = value``.

Reverse mode records ``out[i] = expr`` on a Variable as this function, so buffer-filling code
differentiates. Linear in (x, value). Imports numpy only.
"""

from __future__ import annotations

import numpy as np

from ._define import align, defrule, shape_of, unbroadcast


def index_update(x, key, value):
    """Copy of ``x`` with ``[key]`` set to ``value``."""
    out = x.copy()
    out[key] = value
    return out


def _tkey(key):
    return (slice(None),) + (key if isinstance(key, tuple) else (key,))


def index_update_jvp(dots, out, x, key, value):
    x_dot, _, v_dot = dots
    if x_dot is None and v_dot is None:
        return None
    k = (x_dot if x_dot is not None else v_dot).shape[0]
    base = np.zeros_like(out, shape=(k,) + tuple(shape_of(out))) if x_dot is None else x_dot
    target_ndim = np.ndim(np.empty(shape_of(x))[key])
    upd = 0.0 if v_dot is None else align(v_dot, target_ndim)
    return index_update(base, _tkey(key), upd)


def index_update_vjp(out_bar, out, x, key, value):
    x_bar = index_update(out_bar, _tkey(key), 0.0)
    v_bar = None
    if hasattr(value, "shape") and getattr(value, "dtype", np.dtype(int)).kind in "fc":
        v_bar = unbroadcast(out_bar[_tkey(key)], shape_of(value))
    return x_bar, None, v_bar


defrule(index_update, index_update_jvp, index_update_vjp)

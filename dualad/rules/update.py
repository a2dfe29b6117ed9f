"""Functional item assignment: ``index_update(x, key, value)`` is ``x`` with ``x[key] = value``.

Reverse mode records ``out[i] = expr`` on a Variable as this function, so buffer-filling code
differentiates. Linear in (x, value). Where a key names an element twice, the last write wins
(NumPy's behaviour), so only that write receives a cotangent. Imports numpy only.
"""

from __future__ import annotations

from dualad._numpy import np

from ._define import defrule, shape_of, unbroadcast


def index_update(x, key, value):
    """Copy of ``x`` with ``[key]`` set to ``value`` (laid out as ``x``: views rebuilt on the
    copy keep NumPy's strides, see tape.alias.AliasGroup)."""
    # (other backends: their own copy, Dask's takes no order; their views are not followed)
    out = x.copy(order="K") if isinstance(x, np.ndarray) else x.copy()
    out[key] = value
    return out


class Distinct(tuple):
    """An index (a tuple) that names no element twice, as the element positions of a view do:
    its writes need no last-write-wins mask."""

    __slots__ = ()


def trailing_key(key) -> tuple:
    """``key`` for an array whose direction axis was moved last (``np.moveaxis(d, 0, -1)``).

    Indexing there never moves the direction axis, whatever advanced indices ``key`` holds.
    """
    items = key if isinstance(key, tuple) else (key,)
    if any(i is Ellipsis for i in items):
        return items + (slice(None),)
    return items + (Ellipsis, slice(None))


def _last_write(shape, key):
    """Boolean mask over ``zeros(shape)[key]``: True where that write is the one that stays."""
    pos = np.asarray(np.arange(int(np.prod(shape, dtype=np.int64))).reshape(shape)[key])
    flat = pos.ravel()
    last = np.full(max(flat.size and int(flat.max()) + 1, 1), -1)
    last[flat] = np.arange(flat.size)
    return (last[flat] == np.arange(flat.size)).reshape(pos.shape)


def index_update_jvp(dots, out, x, key, value):
    x_dot, _, v_dot = dots
    if x_dot is None and v_dot is None:
        return None
    k = (x_dot if x_dot is not None else v_dot).shape[0]
    base = np.zeros_like(out, shape=(k,) + tuple(shape_of(out))) if x_dot is None else x_dot
    upd = 0.0 if v_dot is None else np.moveaxis(v_dot, 0, -1)
    moved = index_update(np.moveaxis(base, 0, -1), trailing_key(key), upd)
    return np.moveaxis(moved, -1, 0)


def index_update_vjp(out_bar, out, x, key, value):
    moved = np.moveaxis(out_bar, 0, -1)
    tkey = trailing_key(key)
    x_bar = np.moveaxis(index_update(moved, tkey, 0.0), -1, 0)
    v_bar = None
    if getattr(value, "dtype", np.dtype(int)).kind in "fc" and hasattr(value, "shape"):
        g = np.moveaxis(moved[tkey], -1, 0)
        if not isinstance(key, Distinct):
            keep = _last_write(shape_of(x), key)
            if not keep.all():
                g = g * keep
        v_bar = unbroadcast(g, shape_of(value))
    return x_bar, None, v_bar


defrule(index_update, index_update_jvp, index_update_vjp)

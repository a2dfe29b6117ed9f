"""NumPy's in-place writers (copyto, put, putmask, place, fill_diagonal, put_along_axis) on
wrapper buffers, as item assignments that both Dual and tape.Variable support.

Each writes into its first argument. Into a wrapper buffer (out = np.zeros_like(x)) that is
an item assignment, ``dst[index] = values``, with NumPy's own index and repetition rules
worked out on plain integers. Into a plain array a wrapper's values cannot land without
losing their derivative: TypeError, saying what to do instead. Imports numpy and
dualad._tags only.
"""

from __future__ import annotations

from dualad._numpy import np

from ._tags import Leveled


def _into_plain(func: str, dst, values) -> None:
    if isinstance(dst, Leveled):
        return
    w = next((v for v in values if isinstance(v, Leveled)), None)
    cls = type(w).__name__ if w is not None else "wrapper"
    hint = ""
    if func == "copyto":
        hint = (
            f" np.full_like(array, fill_value=<{cls}>) writes this way too: use "
            "value * np.ones_like(array) or np.broadcast_to(value, array.shape) instead."
        )
    raise TypeError(
        f"np.{func} would write a {cls} into a plain NumPy array, which cannot hold its "
        f"derivative.{hint} Write into a {cls} buffer instead (out = np.zeros_like(value)), "
        "or build the result with np.where."
    )


def _stacked(values):
    """A list or tuple of values holding wrappers (``[x[0] * x[1], 2.0]``) as one wrapper:
    NumPy's ravel/asarray would convert them."""
    if type(values) in (list, tuple) and any(isinstance(v, Leveled) for v in values):
        return np.stack(values)
    return values


def _flat_write(a, flat, values) -> None:
    """``a.flat[flat] = values``, values repeated cyclically as NumPy's flat writes do."""
    flat = np.asarray(flat, dtype=np.intp).ravel()
    if flat.size == 0:
        return
    vals = np.ravel(_stacked(values))
    n = vals.shape[0]
    if n == 0:
        return
    if n != flat.size:
        vals = np.take(vals, np.arange(flat.size) % n)
    a[np.unravel_index(flat, a.shape)] = vals


def copyto(dst, src, casting="same_kind", where=True):
    """``np.copyto``: ``dst[...] = src`` where ``where`` holds (broadcast as NumPy does)."""
    _into_plain("copyto", dst, (src,))
    if where is not True:
        src = np.where(where, src, dst)
    dst[...] = src


def put(a, ind, v, mode="raise"):
    """``np.put``: ``a.flat[ind] = v`` (``mode`` 'wrap'/'clip' as NumPy)."""
    _into_plain("put", a, (v,))
    ind = np.asarray(ind, dtype=np.intp)
    size = int(np.prod(a.shape))
    if mode == "wrap":
        ind = ind % size
    elif mode == "clip":
        ind = np.clip(ind, 0, size - 1)
    else:
        bad = (ind < -size) | (ind >= size)
        if np.any(bad):
            raise IndexError(f"index {int(ind[bad].ravel()[0])} is out of bounds for size {size}")
        ind = ind % size
    _flat_write(a, ind, v)


def putmask(a, mask, values):
    """``np.putmask``: ``a.flat[n] = values.flat[n % len(values)]`` where ``mask`` holds."""
    _into_plain("putmask", a, (values,))
    hit = np.flatnonzero(np.broadcast_to(mask, a.shape))
    vals = np.ravel(_stacked(values))
    if hit.size and vals.shape[0]:
        a[np.unravel_index(hit, a.shape)] = np.take(vals, hit % vals.shape[0])


def place(arr, mask, vals):
    """``np.place``: the entries where ``mask`` holds take ``vals`` in order, repeated."""
    _into_plain("place", arr, (vals,))
    hit = np.flatnonzero(np.broadcast_to(mask, arr.shape))
    vals = _stacked(vals)
    if hit.size and np.size(vals) == 0:
        raise ValueError("Cannot insert from an empty array!")
    _flat_write(arr, hit, vals)


def fill_diagonal(a, val, wrap=False):
    """``np.fill_diagonal``: the main diagonal (wrapping on tall matrices if asked) takes val."""
    _into_plain("fill_diagonal", a, (val,))
    shape = tuple(a.shape)
    if len(shape) < 2:
        raise ValueError("array must be at least 2-d")
    if len(shape) == 2:
        step, end = shape[1] + 1, None if wrap else shape[1] * shape[1]
    else:
        if len(set(shape)) != 1:
            raise ValueError("All dimensions of input must be of equal length")
        step, end = 1 + int(np.sum(np.cumprod(shape[:-1]))), None
    size = int(np.prod(shape))
    _flat_write(a, np.arange(0, size if end is None else min(end, size), step), val)


def put_along_axis(arr, indices, values, axis):
    """``np.put_along_axis``: ``arr[i, ..., indices[i, ...], ...] = values``, as NumPy pairs them."""
    _into_plain("put_along_axis", arr, (values,))
    shape = tuple(arr.shape)
    indices = np.asarray(indices)
    if axis is None:  # the flattened array, values broadcast against the indices (no cycling)
        flat = indices % max(int(np.prod(shape)), 1)
        arr[np.unravel_index(flat, shape)] = values
        return
    axis = axis % len(shape)
    if indices.ndim != len(shape):
        raise ValueError("`indices` and `arr` must have the same number of dimensions")
    idx = []
    for d, n in enumerate(shape):
        if d == axis:
            idx.append(indices)
        else:
            idx.append(np.arange(n).reshape((1,) * d + (n,) + (1,) * (len(shape) - d - 1)))
    arr[tuple(idx)] = values


#: NumPy's in-place writers, run as item assignments by both wrappers' __array_function__.
IN_PLACE = {
    np.copyto: copyto, np.put: put, np.putmask: putmask, np.place: place,
    np.fill_diagonal: fill_diagonal, np.put_along_axis: put_along_axis,
}  # fmt: skip

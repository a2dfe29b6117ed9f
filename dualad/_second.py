"""Second derivatives of a scalar ``f``: hvp and hessian, by hyper-duals, by accumulation
along the tape, or forward over reverse.

``HYPERDUAL_MAX_N`` lives here; ``MEMORY_BUDGET`` is read from ``_seeding`` at call time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dualad._numpy import np

from . import _jet, _seeding, _tags
from ._accumulate import accumulate
from ._complex import has_complex
from ._first import grad
from ._intercept import active as intercept_active
from ._intercept import intercepting
from ._ops import strip
from ._pytree import flatten, unflatten
from ._seeding import (
    _base,
    _chunk_size,
    _eye,
    _floats,
    _leaves,
    _offsets,
    _one_direction,
    _packable,
    _read,
    _seed,
    _size,
    _split_eye,
    refuse_wrapped_chunks,
)
from ._stencil import Cols
from .dual import Dual


def hvp(
    f: Callable,
    x: Any,
    v: Any,
    method: str = "forward-over-reverse",
    *,
    intercept: bool = False,
) -> Any:
    """Hessian-vector product ``H(x) v`` of a scalar ``f``.

    Parameters
    ----------
    method : {"forward-over-reverse", "forward-over-forward"}
        The default pushes one Dual direction ``v`` through a taped gradient: cost of a few
        function evaluations, independent of n. "forward-over-forward" differentiates the
        forward-mode gradient along ``v`` without a tape (n + 1 directions per pass): the
        fallback for code the tape cannot record, and a cross-check.
    intercept : bool
        Run ``f`` under :func:`dualad.intercept`: ``np.asarray``, ``np.array`` and
        ``math.*`` then accept the traced values (see README).

    >>> import numpy as np, dualad
    >>> dualad.hvp(lambda x: np.sum(x**3), np.array([1.0, 2.0]), np.array([1.0, 0.0]))
    array([6., 0.])
    """
    f = intercepting(f) if intercept else f
    if method not in ("forward-over-reverse", "forward-over-forward"):
        raise ValueError(
            f"method must be 'forward-over-reverse' or 'forward-over-forward', got {method!r}"
        )
    xs, td = _leaves(x)
    dots = _one_direction(xs, td, v, "v")
    if method == "forward-over-forward":
        level = _tags.open_level()
        try:
            try:
                g = grad(f, unflatten(td, _seed(xs, level, dots, True)), mode="forward")
            except NotImplementedError as e:
                if "view" not in str(e):
                    raise
                raise NotImplementedError(
                    f"{e}. hvp's default method, 'forward-over-reverse', follows writes "
                    "through views: call hvp(f, x, v) without method="
                ) from e
            return unflatten(td, [_read(gi, level, 1)[1][0] for gi in flatten(g)[0]])
        finally:
            _tags.close_level(level)
    try:
        g = _grad_of_duals(f, xs, td, dots, single=True)
    except NotImplementedError as e:
        # a write the tape cannot follow (a view of an intercepted buffer taken before its
        # first write, written through later: tape.alias refuses it) may still be followed
        # by forward mode, whose Duals alias as NumPy does; anything else raises as it did
        try:
            return hvp(f, x, v, "forward-over-forward")
        except NotImplementedError:
            raise e from None
    return unflatten(td, [gi[0] for gi in g])


def _grad_of_duals(f, xs, td, dots, single):
    """Reverse gradient of scalar ``f`` at Duals seeded with ``dots``; returns tangents."""
    import tape

    level = _tags.open_level()
    try:
        duals = _seed(xs, level, dots, single)
        k = dots[0].shape[0]
        with tape.Tape() as t:
            ws = [t._watch(d) for d in duals]
            y = f(unflatten(td, ws))
        ys, ytd = flatten(y)
        for yi in ys:
            refuse_wrapped_chunks(yi)
        prim = tape.value_of(ys[0]) if ytd.is_leaf else None
        p0 = prim.primal if isinstance(prim, Dual) else prim
        if not ytd.is_leaf or np.shape(p0) != ():
            raise ValueError("hvp/hessian need f to return a scalar")
        seed = np.ones_like(p0, shape=(1,))
        bars = t.cotangents(ys, [seed], ws, release=True)
        t.close()
        return [_read(b[0], level, k)[1] for b in bars]
    finally:
        _tags.close_level(level)


_HESSIAN_METHODS = ("auto", "hyperdual", "accumulate", "forward-over-reverse")
#: Largest input size for which ``hessian(method="auto")`` uses hyper-duals.
HYPERDUAL_MAX_N = 8  # measured: on par with "accumulate" up to n ~ 10, slower beyond (3x at 16)


def hessian(
    f: Callable,
    x: Any,
    method: str = "auto",
    chunk: int | None = None,
    *,
    intercept: bool = False,
    sparsity: Any = None,
) -> Any:
    """Dense Hessian of a scalar ``f``: ``x.shape + x.shape`` (nested blocks for pytrees).

    Parameters
    ----------
    method : {"auto", "hyperdual", "accumulate", "forward-over-reverse", "sparse"}
        "hyperdual" runs ``f`` once on hyper-duals carrying all n x n second-order
        directions (no tape; memory n² per intermediate value), best for small n.
        "accumulate" tapes one plain evaluation, sweeps first-order adjoints back, and
        adds ``J_u @ T_u.T`` for each nonlinear step, with the Jacobians ``J_u`` (n rows)
        computed only for the values that feed such steps; an elementwise step in one
        variable costs ``J_u diag(c) J_u^T`` (one BLAS syrk), affine steps a plain vjp.
        Memory n per Jacobian kept.
        "forward-over-reverse" tapes one evaluation per ``chunk`` of Hessian directions and
        sweeps tangent-carrying adjoints through every step (the fallback when n
        directions do not fit in ``MEMORY_BUDGET``).
        "auto" uses second-order packed scalars for one or two input numbers (a vector of
        two, 0-d leaves; the hyper-dual answer on Python numbers, dualad._jet; not under
        interception), hyper-duals for n <= ``HYPERDUAL_MAX_N``, else "accumulate" when all n
        directions fit the memory budget (or ``chunk >= n``), else forward-over-reverse.
        "accumulate" itself turns to forward-over-reverse when n rows for every recorded
        value would exceed ``MEMORY_BUDGET`` (a long program on large arrays).
        "accumulate" on inputs that are not plain NumPy arrays (inside another transform,
        on a GPU) runs forward-over-reverse instead.
        "sparse" returns a ``scipy.sparse.csr_array``: the Hessian's pattern (``sparsity=``,
        or found from ``f``: pairs of inputs that meet in one term of a sum), a coloring of
        its columns, and one forward-over-reverse pass carrying one direction per color.
    intercept : bool
        Run ``f`` under :func:`dualad.intercept`: ``np.asarray``, ``np.array`` and
        ``math.*`` then accept the traced values (see README).

    Examples
    --------
    >>> import numpy as np, dualad
    >>> dualad.hessian(lambda x: x[0] ** 2 * x[1], np.array([1.0, 2.0]))
    array([[4., 2.],
           [2., 0.]])
    """
    f = intercepting(f) if intercept else f
    if method == "sparse":
        from ._sparse import sparse_hessian

        return sparse_hessian(f, x, sparsity)
    if sparsity is not None:
        raise ValueError('sparsity= is for method="sparse"')
    if method not in _HESSIAN_METHODS:
        raise ValueError(f"method must be one of {_HESSIAN_METHODS + ('sparse',)}, got {method!r}")
    tx = type(x)
    if (tx is tuple or tx is dict) and method == "auto" and not intercept:
        try:
            H = _hessian_numbers(f, x)  # (x1, x2) or {"a": x1, "b": x2}: no pytree bookkeeping
        except _JetLevels:  # a write the Jets cannot take: hyper-duals, as for n <= 8
            H, method = None, "hyperdual"
        if H is not None:
            return H
    xs, td = _leaves(x)
    if has_complex(xs):
        raise NotImplementedError(
            "hessian at complex inputs: the second derivative of a real-valued f is real-linear, "
            "not complex-linear, in the direction (v -> A v + B conj(v)), so no complex matrix "
            "states it. Use dualad.hvp(f, z, v) for its action on a direction, or pass the real "
            "and imaginary parts as real inputs (hessian(lambda p: f(p[0] + 1j * p[1]), (x, y)))"
        )
    n = sum(_size(v) for v in xs)
    if n == 0:  # no input numbers: an empty Hessian, of a scalar f all the same
        return _blocks(_empty_hessian(f, xs, td), xs, td)
    if method == "auto":
        if n <= 2 and not intercept and not intercept_active():
            # one or two numbers: second-order packed scalars (dualad._jet); interception's
            # buffers and conversions know Duals and Variables only, so not under it
            try:
                H = _hessian_jet(f, xs, td, n)
            except _JetLevels:  # a write the Jets cannot take: hyper-duals below (n <= 8)
                H = None
            if H is not None:  # symmetric as built: (h00, h01, h11)
                return _blocks(H, xs, td)
        fits = _chunk_size(n, 8, chunk) >= n
        small = n <= HYPERDUAL_MAX_N
        method = "hyperdual" if small else "accumulate" if fits else "forward-over-reverse"
    if method == "accumulate" and not all(type(v) is np.ndarray for v in xs):
        # nested inside another transform, or on a non-NumPy backend: H itself must carry
        # wrappers or live on the device, which the in-place accumulation does not do
        method = "forward-over-reverse"
    if method == "hyperdual":
        H = _hessian_hyperdual(f, xs, td, n)
    elif method == "accumulate":
        H = _hessian_accumulate(f, xs, td, n)
        if H is None:  # the Jacobians would not fit MEMORY_BUDGET: n directions in chunks
            H = _hessian_fwd_rev(f, xs, td, n, chunk)
    else:
        H = _hessian_fwd_rev(f, xs, td, n, chunk)
    H = 0.5 * (H + H.T)  # exact up to rounding; make the rounding symmetric too
    return _blocks(H, xs, td)


def _empty_hessian(f, xs, td):
    """The ``(0, 0)`` Hessian at inputs holding no numbers, after checking ``f`` is scalar."""
    ys, ytd = flatten(f(unflatten(td, xs)))
    if not ytd.is_leaf or np.shape(strip(ys[0])) != ():
        raise ValueError("hessian needs f to return a scalar")
    return np.zeros((0, 0), like=_base(xs[0])) if xs else np.zeros((0, 0))


def _blocks(H, xs, td):
    """The ``(n, n)`` Hessian as ``x.shape + x.shape``, or nested blocks for a pytree, in the
    inputs' float type as ``grad`` and ``jacobian`` give theirs (float32 in, float32 out)."""
    dt = np.result_type(*[getattr(v, "dtype", np.float64) for v in xs]) if xs else H.dtype
    if dt.kind == "f" and H.dtype.kind == "f" and dt.itemsize < H.dtype.itemsize:
        H = H.astype(dt)
    if td.is_leaf:
        return H.reshape(tuple(np.shape(xs[0])) * 2)
    if all(v.shape == () for v in xs):  # numbers: each block a 0-d view of H
        rows = [[H[i, j, ...] for j in range(len(xs))] for i in range(len(xs))]
        return unflatten(td, [unflatten(td, r) for r in rows])
    offsets = _offsets(xs)
    rows = [
        [
            H[offsets[i] : offsets[i + 1], offsets[j] : offsets[j + 1]].reshape(
                tuple(np.shape(xi)) + tuple(np.shape(xj))
            )
            for j, xj in enumerate(xs)
        ]
        for i, xi in enumerate(xs)
    ]
    return unflatten(td, [unflatten(td, r) for r in rows])


def _hessian_numbers(f, x):
    """``hessian(f, x)`` at a tuple or dict of one or two Python or NumPy floats, on Jets
    (``_hessian_jet`` without the pytree bookkeeping), laid out as ``_blocks`` lays it out:
    each block a 0-d view of H. None for other inputs (the general path then)."""
    is_dict = type(x) is dict
    vals = list(x.values()) if is_dict else x
    n = len(vals)
    if not 1 <= n <= 2 or intercept_active() or not _floats(vals):
        return None

    def seeded(l1, l2):
        js = _jet.seeds(vals, l1, l2)
        return dict(zip(x, js)) if is_dict else tuple(js)

    H = _on_jets(f, seeded, n, [np.float64(v) for v in vals])
    if is_dict:
        keys = list(x)
        return {a: {b: H[i, j, ...] for j, b in enumerate(keys)} for i, a in enumerate(keys)}
    return tuple(tuple(H[i, j, ...] for j in range(n)) for i in range(n))


def _hessian_jet(f, xs, td, n):
    """The Hessian at one or two float64 numbers (a vector of two, 0-d leaves) on Jets:
    ``hessian(method="hyperdual")``'s answer from Python numbers; None for other inputs."""
    x0 = xs[0]
    if td.is_leaf and type(x0) is np.ndarray and x0.ndim == 1 and x0.dtype == np.float64:
        return _on_jets(f, lambda l1, l2: _jet.JetVector(x0, l1, l2), n, xs)
    if len(xs) == n and all(_packable(v) for v in xs):
        floats = [float(v) for v in xs]
        return _on_jets(f, lambda l1, l2: unflatten(td, _jet.seeds(floats, l1, l2)), n, xs)
    return None


class _JetLevels(Exception):
    """``f`` wrote a Jet into a buffer in the hyper-dual form (``y = x * 1.0; y[0] = x[1]``):
    a Jet's level is above every wrapper's, so the Dual buffer refuses it
    (``_tags.NewerLevelWrite``). The caller then runs ``f`` on hyper-duals, where the value
    and the buffer share their levels."""


def _on_jets(f, seeded, n: int, xs):
    """The ``(n, n)`` Hessian of ``f`` at ``seeded(l1, l2)``, its argument on Jets of two
    fresh levels (``xs``: the input leaves, for the zeros of a constant): a scalar Jet result reads its packed second derivatives, anything else
    (a constant, a 0-d array, a hyper-dual) as ``_hyperdual_read`` reads it."""
    l1, l2 = _tags.open_level(), _tags.open_level()
    try:
        try:
            y = f(seeded(l1, l2))
        except _tags.NewerLevelWrite as e:
            raise _JetLevels from e
        if type(y) is _jet.Jet and y._l2 == l2:  # the common case: no pytree, a scalar
            return y._hess()
        ys, ytd = flatten(y)
        if not ytd.is_leaf or np.shape(strip(ys[0])) != ():
            raise ValueError("hessian needs f to return a scalar")
        return _hyperdual_read(ys[0], n, l1, l2, xs)
    finally:
        _tags.close_level(l1)
        _tags.close_level(l2)


def _hyperdual_read(y, n, l1, l2, xs):
    """d2f / dx_k1 dx_k2 from a hyper-dual result ``y`` (zeros for a constant)."""
    refuse_wrapped_chunks(y)
    if isinstance(y, Dual) and y._level == l2:
        _tags.check_live(y._p)
    else:
        _tags.check_constant(y, l1, l2)
    t = y._dot if isinstance(y, Dual) and y._level == l2 else None
    tt = t._dot_array() if isinstance(t, Dual) and t._level == l1 else None
    if tt is None:
        return np.zeros((n, n), like=_base(xs[0]))
    return tt  # (k1, k2)


def _hessian_hyperdual(f, xs, td, n):
    offsets = _offsets(xs)
    eye = _split_eye(_eye(n, n, 0, xs[0]), xs, offsets, n)
    l1, l2 = _tags.open_level(), _tags.open_level()
    try:
        return _hessian_hyperdual_at(f, xs, td, n, eye, l1, l2)
    finally:
        _tags.close_level(l1)
        _tags.close_level(l2)


def _hessian_hyperdual_at(f, xs, td, n, eye, l1, l2):
    hds = [_jet.hyperdual_seed(v, e, n, l1, l2) for v, e in zip(xs, eye)]
    ys, ytd = flatten(f(unflatten(td, hds)))
    if not ytd.is_leaf or np.shape(strip(ys[0])) != ():
        raise ValueError("hessian needs f to return a scalar")
    return _hyperdual_read(ys[0], n, l1, l2, xs)


class _Traced(Exception):
    """``f`` returned a value of an outer transform: see ``_plain_result``."""


def _plain_result(f):
    """``f``, raising ``_Traced`` when its result carries a wrapper of an outer transform
    (a value it closes over is traced: ``grad(lambda a: hessian(lambda y: a * g(y), x), a0)``).
    The accumulation adds plain arrays in place, so H could not carry that derivative;
    forward-over-reverse can. Its inputs are the accumulating tape's own Variables, the
    highest level, so anything Leveled under them belongs to an outer transform."""

    def checked(x):
        y = f(x)
        ws = flatten(x)[0]
        level = ws[0]._level if ws else None
        for v in flatten(y)[0]:
            refuse_wrapped_chunks(v)
            while level is not None and isinstance(v, _tags.Leveled) and v._level >= level:
                v = v._unwrap()
            if isinstance(v, _tags.Leveled):
                raise _Traced
        return y

    return checked


def _hessian_accumulate(f, xs, td, n):
    """The accumulated Hessian, or None for forward-over-reverse: the Jacobians would not
    fit the memory budget, or ``f`` closes over values an outer transform traces."""
    offsets = _offsets(xs)
    if all(type(v) is np.ndarray and v.ndim == 1 for v in xs):  # vectors: stencil seeds
        dots = [Cols.seed(o, v.size, n) for o, v in zip(offsets, xs)]
    else:
        dots = _split_eye(_eye(n, n, 0, xs[0]), xs, offsets, n)
    try:
        return accumulate(
            _plain_result(f), xs, dots, td, n, unflatten, flatten, _seeding.MEMORY_BUDGET
        )
    except _Traced:
        return None


def _hessian_fwd_rev(f, xs, td, n, chunk):
    k = _chunk_size(n, 8, chunk)
    offsets = _offsets(xs)
    parts = []
    for c0 in range(0, max(n, 1), k):
        kc = min(k, n - c0)
        dots = _split_eye(_eye(kc, n, c0, xs[0]), xs, offsets, kc)
        g = _grad_of_duals(f, xs, td, dots, single=False)
        parts.append(np.concatenate([gi.reshape(kc, -1) for gi in g], axis=1))
    return np.concatenate(parts, axis=0) if len(parts) > 1 else parts[0]

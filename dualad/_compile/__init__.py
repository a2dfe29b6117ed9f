"""``dualad.compile``: record a function once, replay value and derivatives without it.

``compile(f, x_example)`` traces ``f`` at ``x_example`` on the tape (dualad._compile.trace)
and returns a ``Compiled`` object. Each call finds the *variant* for the input's signature
(structure, shapes, dtypes) whose guards hold at the new point, and replays its program:

- backend "numpy": generated straight-line NumPy code (dualad._compile.replay);
- backend "numba": the program lowered to scalar code (one fused loop per array
  expression) and compiled by Numba (dualad._compile.lower); a program it cannot lower runs
  on the "numpy" replay instead, and ``report()`` says why.

A guard that flips (a branch, a loop count, an index computed from the input) makes the
call record ``f`` again at the new point; up to ``max_variants`` variants are kept per
signature. Imports numpy and dualad internals; numba only for backend "numba".
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from dualad._backend import as_float_leaf, host_only
from dualad._numpy import np
from dualad._pytree import flatten, unflatten
from dualad._tags import Leveled

from .replay import Replay, Stale
from .trace import NotCompilable, Ref, trace

BACKENDS = ("numba", "numpy")


def compile(
    f, x_example, backend: str = "numba", *, cache_dir=None, max_variants: int = 8,
    intercept: bool = False,
):  # fmt: skip
    """Record ``f`` at ``x_example`` and return a compiled function with its derivatives.

    Parameters
    ----------
    f : callable
        NumPy code taking ``x`` (an array, a number, or a pytree of them).
    x_example : array or pytree
        A point with the structure, shapes and dtypes of later inputs (another signature
        records a new variant).
    backend : {"numba", "numpy"}
        "numba" (``pip install dualad[numba]``) compiles the recorded program to machine
        code where it can and replays the rest in NumPy; "numpy" replays it as generated
        NumPy code, always available.
    cache_dir : str or path, optional
        Where Numba keeps compiled code between processes (default: Numba's own cache
        beside dualad's generated sources in the user cache directory).
    max_variants : int
        Variants (one per outcome of the recorded branches) kept per input signature.
    intercept : bool
        Record ``f`` under :func:`dualad.intercept`, as ``dualad.grad(f, x, intercept=True)``
        runs it: ``np.asarray``/``np.array`` accept traced values and buffers from
        ``np.zeros`` & co. take them (``out = np.zeros(n); out[0] = x[0] * x[1]``). Calling
        ``compile`` inside ``with dualad.intercept():`` does the same. Either way every
        later recording of ``f`` (a new signature, a flipped branch) runs under it too.

    Returns
    -------
    Compiled
        ``cf(x)``, ``cf.grad``, ``cf.value_and_grad``, ``cf.jvp``, ``cf.vjp``,
        ``cf.jacobian``, ``cf.hessian``, ``cf.hvp``, ``cf.report()``.

    Values taken from the input with ``.value``/``.numpy()`` inside ``f``, random numbers
    and globals are frozen at their recorded values (as in ``jax.jit``).

    >>> import numpy as np, dualad
    >>> cf = dualad.compile(lambda x: np.sum(np.sin(x) * x), np.ones(3), backend="numpy")
    >>> cf.grad(np.array([0.0, 1.0, 2.0]))
    array([0.        , 1.38177329, 0.07700375])
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "numba":
        try:
            import numba  # noqa: F401
        except ImportError as e:
            raise ImportError(
                'dualad.compile(..., backend="numba") needs Numba: pip install dualad[numba] '
                '(or use backend="numpy", always available)'
            ) from e
    from dualad._intercept import active

    return Compiled(f, x_example, backend, cache_dir, max_variants, bool(intercept) or active())


class Variant:
    """One recorded program and its generated code."""

    def __init__(self, program, backend, cache_dir):
        self.program = program
        self.replay = Replay(program)
        self.kernels = None
        self.why = None  # why the numba backend does not run this variant
        self.pattern = False  # the Hessian's sparsity, found on the first hessian call
        self.vg = None  # the direct value-and-gradient call (Kernels.direct_value_and_grad)
        if backend == "numba":
            from .lower import kernels_for

            try:
                self.kernels = kernels_for(program, cache_dir)
            except NotCompilable as e:
                self.why = str(e)


class _Replayed:
    """A variant seen through its NumPy replay only (for inputs that are wrappers)."""

    def __init__(self, var: Variant):
        self.program, self.replay = var.program, var.replay
        self.kernels = self.vg = None
        self.pattern = None
        self.why = "inputs that are Duals or Variables"


def _same(var):
    return var


def _signature(leaves, td):
    return td, tuple((np.shape(v), np.result_type(v).str) for v in leaves)


class Compiled:
    """A function recorded by :func:`dualad.compile`; see there.

    >>> import numpy as np, dualad
    >>> cf = dualad.compile(lambda x: x[0] * x[1], np.ones(2), backend="numpy")
    >>> cf(np.array([2.0, 3.0])), cf.grad(np.array([2.0, 3.0]))
    (np.float64(6.0), array([3., 2.]))
    """

    def __init__(self, f, x_example, backend, cache_dir, max_variants, intercept=False):
        self.f = f
        self.intercept = intercept  # record f under dualad.intercept (see compile)
        self.backend = backend
        self.cache_dir = cache_dir
        self.max_variants = max_variants
        self._variants: dict = {}  # signature -> OrderedDict of variants, newest first
        self._lock = threading.Lock()
        self.records = 0  # how many times f was recorded
        self._fast = None  # (shape, dtype, variant) of the last one-array call
        self._fast_vg = None  # (shape, dtype, vg): a guard-free variant's direct call
        self._fast_numbers = None  # (tuple or list, length, vg) of the last call on numbers
        self._fast_dict = None  # door(x) for the keys of the last call on a dict of numbers
        leaves, td = self._leaves(x_example)
        self._new_variant(leaves, td, _signature(leaves, td))

    # -- variants ------------------------------------------------------------------------------
    @staticmethod
    def _leaves(x):
        leaves, td = flatten(x)
        leaves = [as_float_leaf(v) for v in leaves]
        # recorded programs, their guards and the Numba kernels read values on the host: a
        # Dask or device array would be copied there silently (or refuse it)
        host_only(leaves, "dualad.compile", "the uncompiled dualad.grad, jacobian, jvp, ...")
        return leaves, td

    def _new_variant(self, leaves, td, sig) -> Variant:
        from dualad._intercept import active
        from dualad._ops import strip

        # (recorded on the values: a wrapper input's derivative is the replay's business)
        leaves = [strip(v) if isinstance(v, Leveled) else v for v in leaves]
        program = trace(self.f, leaves, td, self.intercept or active())
        var = Variant(program, self.backend, self.cache_dir)
        with self._lock:
            self.records += 1
            table = self._variants.setdefault(sig, OrderedDict())
            table[id(var)] = var
            table.move_to_end(id(var), last=False)
            while len(table) > self.max_variants:
                table.popitem()
        return var

    def _run(self, x, method: str, *extra):
        if type(x) is np.ndarray:  # one array of the last signature: no pytree, no lookup
            fast = self._fast
            if fast is not None and x.shape == fast[0] and x.dtype is fast[1]:
                try:
                    return getattr(self, method)(fast[2], [x], *extra)
                except Stale:
                    pass
        leaves, td = self._leaves(x)
        sig = _signature(leaves, td)
        # Duals or Variables among the inputs (dualad.grad(cf, x)): the NumPy replay runs the
        # rules on them; the compiled kernels take plain arrays only
        seen = _Replayed if any(isinstance(v, Leveled) for v in leaves) else _same
        for var in list(self._variants.get(sig, {}).values()):
            try:
                res = getattr(self, method)(seen(var), leaves, *extra)
            except Stale:
                continue
            self._remember(x, var)
            return res
        var = self._new_variant(leaves, td, sig)  # a branch flipped, or a new signature
        try:
            res = getattr(self, method)(seen(var), leaves, *extra)
        except Stale:
            res = self._replay_fresh(seen(var), leaves, method, extra)
        self._remember(x, var)
        return res

    def _replay_fresh(self, var, leaves, method, extra):
        """A variant recorded at this very point fails its own guards: its kernels disagree
        with the recording, so it runs on the NumPy replay from now on; a replay that fails
        too means ``f`` does not give the same program twice at one point."""
        if var.kernels is None:
            raise _unstable(self.f)
        var.kernels, var.vg = None, None
        var.why = "its compiled stages did not reproduce the recording (NumPy replay instead)"
        try:
            return getattr(self, method)(var, leaves, *extra)
        except Stale:
            raise _unstable(self.f) from None

    def _remember(self, x, var) -> None:
        if type(x) is np.ndarray and x.dtype.kind == "f":
            self._fast = (x.shape, x.dtype, var)

    def report(self) -> str:
        """Which variants exist, what runs compiled and what runs on the NumPy replay, and why.

        >>> import numpy as np, dualad
        >>> print(dualad.compile(np.sin, np.ones(2), backend="numpy").report().splitlines()[0])
        dualad.compile(sin), backend 'numpy': 1 variant(s), recorded 1 time(s)
        """
        name = getattr(self.f, "__name__", type(self.f).__name__)
        n = sum(len(t) for t in self._variants.values())
        lines = [(f"dualad.compile({name}), backend {self.backend!r}: {n} variant(s), "
                 f"recorded {self.records} time(s)")]  # fmt: skip
        for sig, table in self._variants.items():
            for var in table.values():
                p = var.program
                shapes = ", ".join(f"{s}{d}" for s, d in sig[1])
                lines.append(f"  variant for ({shapes}): {len(p.nodes)} steps, "
                             f"{len(p.guards)} guard(s)")  # fmt: skip
                if self.backend == "numba":
                    if var.kernels is not None:
                        lines.append("    compiled with Numba: " + var.kernels.summary())
                    else:
                        lines.append(f"    NumPy replay (not compiled): {var.why}")
                else:
                    lines.append("    NumPy replay (generated straight-line code)")
        return "\n".join(lines)

    # -- the value ---------------------------------------------------------------------------
    def __call__(self, x):
        return self._run(x, "_value")

    def _value(self, var, leaves):
        if var.kernels is not None:
            outs = var.kernels.value(leaves)
        else:
            outs = var.replay.primal(*leaves)
        return unflatten(var.program.out_td, _fresh(var.program, outs))

    # -- reverse -------------------------------------------------------------------------------
    def value_and_grad(self, x):
        """``(f(x), grad f(x))`` for a scalar ``f``.

        >>> import numpy as np, dualad
        >>> cf = dualad.compile(lambda x: np.sum(x ** 2), np.ones(2), backend="numpy")
        >>> cf.value_and_grad(np.array([1.0, 2.0]))
        (np.float64(5.0), array([2., 4.]))
        """
        tx = type(x)
        if tx is np.ndarray:
            fast = self._fast_vg  # one vector, no guards: straight to the machine code
            if fast is not None and x.shape == fast[0] and x.dtype is fast[1]:
                return fast[2](x)
        elif tx is tuple or tx is list:
            fast = self._fast_numbers
            if fast is not None and fast[0] is tx and len(x) == fast[1]:
                res = fast[2](x)  # None unless every item is a float
                if res is not None:
                    return res
        elif tx is dict:
            door = self._fast_dict  # generated for the keys of the last dict of numbers
            if door is not None:
                res = door(x)
                if res is not None:
                    return res
        return self._run(x, "_value_and_grad")

    def grad(self, x):
        """The gradient of a scalar ``f`` at ``x``, with ``x``'s structure.

        >>> import numpy as np, dualad
        >>> dualad.compile(lambda x: np.sum(x ** 3), np.ones(2), backend="numpy").grad(np.ones(2))
        array([3., 3.])
        """
        if type(x) is np.ndarray:  # minimize(jac=cf.grad): the vector door, one call less
            fast = self._fast_vg
            if fast is not None and x.shape == fast[0] and x.dtype is fast[1]:
                return fast[2](x)[1]
        return self.value_and_grad(x)[1]

    def _value_and_grad(self, var, leaves):
        p = var.program
        _scalar_out(p)
        if var.kernels is not None and var.kernels.scalar_out and var.kernels.ready("grad"):
            if var.vg is None and type(leaves[0]) is np.ndarray and leaves[0].dtype == np.float64:
                var.vg = var.kernels.direct_value_and_grad(leaves[0])
                if var.vg is not None and p.in_td.is_leaf:  # guard-free, x one bare array
                    self._fast_vg = (leaves[0].shape, leaves[0].dtype, var.vg)
            y, gs = var.kernels.value_and_grad(leaves)
            td = p.in_td
            if td.kind in ("tuple", "list", "dict") and all(c.is_leaf for c in td.children):
                kind = tuple if td.kind == "tuple" else list
                vg = var.kernels.direct_value_and_grad_numbers(kind)
                if vg is None:
                    pass
                elif td.kind == "dict":  # keys in this order (another order: another variant)
                    self._fast_dict = var.kernels.direct_value_and_grad_dict(td.meta)
                else:
                    self._fast_numbers = (kind, len(leaves), vg)
        else:
            y = _scalar_out(p)
            fn = var.replay.vjp_fn()
            dt = getattr(p.values.get(y), "dtype", None)  # a float32 f keeps float32 seeds
            dt = dt if dt is not None and dt.kind == "f" else np.float64
            outs, cots = fn(*leaves, np.ones((1,), dtype=dt))
            y = outs[0]
            _check_scalar(y)
            gs = [np.zeros_like(v) if c is None else np.asarray(c[0]) for v, c in zip(leaves, cots)]
        return _fresh(p, [y])[0], unflatten(p.in_td, gs)

    def vjp(self, x, u):
        """``(f(x), u^T J(x))``; ``u`` has the structure and shapes of ``f(x)``.

        >>> import numpy as np, dualad
        >>> cf = dualad.compile(lambda x: x ** 2, np.ones(2), backend="numpy")
        >>> cf.vjp(np.array([1.0, 2.0]), np.array([1.0, 10.0]))[1]
        array([ 2., 40.])
        """
        return self._run(x, "_vjp", u)

    def _vjp(self, var, leaves, u):
        p = var.program
        us = _leaves_of(u, p.out_td, _out_shapes(p), "vjp: u", "f(x)")
        seeds = [np.asarray(ul)[None] for ul in us]
        outs, cots = var.replay.vjp_fn()(*leaves, *seeds)
        gs = [np.zeros_like(v) if c is None else c[0] for v, c in zip(leaves, cots)]
        return unflatten(p.out_td, _fresh(p, outs)), unflatten(p.in_td, gs)

    # -- forward -------------------------------------------------------------------------------
    def jvp(self, x, v):
        """``(f(x), J(x) v)``; ``v`` has the structure and shapes of ``x``.

        >>> import numpy as np, dualad
        >>> cf = dualad.compile(np.sin, np.ones(2), backend="numpy")
        >>> cf.jvp(np.zeros(2), np.array([1.0, 2.0]))[1]
        array([1., 2.])
        """
        return self._run(x, "_jvp", v)

    def _jvp(self, var, leaves, v):
        p = var.program
        vs = _leaves_of(v, p.in_td, [np.shape(lf) for lf in leaves], "jvp: v", "x")
        vs = [np.asarray(a, dtype=np.result_type(a, lf)) for a, lf in zip(vs, leaves)]
        if var.kernels is not None and var.kernels.ready("jvp"):
            outs, tans = var.kernels.jvp(leaves, vs)
        else:
            outs, tans = var.replay.jvp_fn()(*leaves, *[a[None] for a in vs])
            tans = [np.zeros(np.shape(o)) if t is None else t[0] for o, t in zip(outs, tans)]
        return unflatten(p.out_td, _fresh(p, outs)), unflatten(p.out_td, list(tans))

    def jacobian(self, x):
        """The Jacobian, laid out as ``dualad.jacobian``'s (``out.shape + in.shape``).

        >>> import numpy as np, dualad
        >>> dualad.compile(lambda x: x ** 2, np.ones(2), backend="numpy").jacobian(np.ones(2))
        array([[2., 0.],
               [0., 2.]])
        """
        return self._run(x, "_jacobian")

    def _jacobian(self, var, leaves):
        from dualad._seeding import _assemble

        p = var.program
        k = var.kernels
        if k is not None and p.in_td.is_leaf and p.out_td.is_leaf and k.ready("jvp"):
            J = k.jacobian_leaf(leaves)  # one input, one output: one call, all directions
            if J is not None:
                return J
        ins = [np.shape(v) for v in leaves]
        outs0 = [p.values.get(o.id) if hasattr(o, "id") else o for o in p.out_leaves]
        osh = [np.shape(o) for o in outs0]
        n_in = sum(int(np.prod(s)) for s in ins)
        n_out = sum(int(np.prod(s)) for s in osh)
        rows = [[None] * len(ins) for _ in osh]
        # a complex output of real inputs: forward (a reverse sweep keeps the real part only)
        if n_in <= n_out or any(np.iscomplexobj(o) for o in outs0):
            eye = np.eye(n_in)
            dots, off = [], 0
            for s in ins:
                k = int(np.prod(s))
                dots.append(eye[:, off : off + k].reshape((n_in,) + s))
                off += k
            if var.kernels is not None and var.kernels.ready("jvp"):
                _, tans = var.kernels.jvp_many(leaves, dots)
            else:
                _, tans = var.replay.jvp_fn()(*leaves, *dots)
            for i, (t, so) in enumerate(zip(tans, osh)):
                off = 0
                for j, s in enumerate(ins):
                    k = int(np.prod(s))
                    if t is None:
                        blk = np.zeros(so + s)
                    else:
                        blk = np.moveaxis(t[off : off + k].reshape(s + so),
                                          tuple(range(len(s))), tuple(range(len(so), len(so) + len(s))))  # fmt: skip
                    rows[i][j] = np.array(blk, order="C")  # (ascontiguousarray: 0-d to 1-d)
                    off += k
        else:
            eye = np.eye(n_out)
            seeds, off = [], 0
            for s in osh:
                k = int(np.prod(s))
                seeds.append(eye[:, off : off + k].reshape((n_out,) + s))
                off += k
            _, cots = var.replay.vjp_fn()(*leaves, *seeds)
            for j, (c, s) in enumerate(zip(cots, ins)):
                off = 0
                for i, so in enumerate(osh):
                    k = int(np.prod(so))
                    rows[i][j] = np.zeros(so + s) if c is None else c[off : off + k].reshape(so + s)
                    off += k
        return _assemble(rows, p.out_td, p.in_td)

    # -- second order --------------------------------------------------------------------------
    def hessian(self, x, sparse: bool = False):
        """The Hessian of a scalar ``f``, laid out as ``dualad.hessian``'s.

        ``sparse=True`` (``x`` one vector) returns a ``scipy.sparse.csr_array`` of the
        entries in the Hessian's sparsity pattern (``dualad.hessian_sparsity``, found on the
        first call), one compiled sweep per color: for large banded problems.

        >>> import numpy as np, dualad
        >>> dualad.compile(lambda x: x[0] ** 2 * x[1], np.ones(2), backend="numpy").hessian(
        ...     np.array([1.0, 2.0]))
        array([[4., 2.],
               [2., 0.]])
        """
        return self._run(x, "_hessian", sparse)

    def _hessian(self, var, leaves, sparse=False):
        from dualad._second import _blocks

        _scalar_out(var.program)
        if sparse and (len(leaves) != 1 or np.ndim(leaves[0]) != 1):
            raise ValueError("hessian(sparse=True) needs x to be one vector")
        if var.kernels is not None and var.kernels.scalar_out and var.kernels.ready("hvp"):
            if var.pattern is False:
                var.pattern = self._hessian_pattern(leaves)
            H = var.kernels.hessian(leaves, var.pattern, sparse)
            return H if sparse else _blocks(H, leaves, var.program.in_td)
        H = self._hessian_replay(var, leaves)
        if sparse:
            import scipy.sparse as sp

            return sp.csr_array(H)
        return _blocks(H, leaves, var.program.in_td)

    def _hessian_pattern(self, leaves):
        """The Hessian's sparsity for one vector input (colored sweeps), else None (dense)."""
        if len(leaves) != 1 or np.ndim(leaves[0]) != 1 or np.size(leaves[0]) <= 8:
            return None
        from dualad._intercept import active, intercepting
        from dualad._sparse import hessian_sparsity

        f = intercepting(self.f) if self.intercept or active() else self.f
        try:
            return hessian_sparsity(f, leaves[0])
        except (NotImplementedError, TypeError, ValueError):
            return None

    def _flat_grad(self, var, leaves):
        """The gradient as a function of one flat vector, on the generated reverse sweep."""
        from dualad._seeding import _offsets

        shapes = [np.shape(v) for v in leaves]
        offs = _offsets(leaves)
        sizes = np.diff(offs).tolist()
        fn = var.replay.vjp_fn()
        _scalar_out(var.program)

        def g(z):
            parts = [z[a:b].reshape(s) for a, b, s in zip(offs, offs[1:], shapes)]
            _, cots = fn(*parts, np.ones((1,)))
            return np.concatenate(
                [np.zeros(k) if c is None else np.reshape(c[0], (k,)) for c, k in zip(cots, sizes)]
            )

        z = np.concatenate([np.reshape(v, (-1,)) for v in leaves]).astype(np.float64)
        return g, z

    def _hessian_replay(self, var, leaves):
        from dualad._first import jacobian

        g, z = self._flat_grad(var, leaves)
        H = jacobian(g, z, mode="forward")
        return 0.5 * (H + H.T)

    def hvp(self, x, v):
        """``H(x) v`` for a scalar ``f``; ``v`` has the structure of ``x``.

        >>> import numpy as np, dualad
        >>> cf = dualad.compile(lambda x: np.sum(x ** 3), np.ones(2), backend="numpy")
        >>> cf.hvp(np.array([1.0, 2.0]), np.array([1.0, 0.0]))
        array([6., 0.])
        """
        return self._run(x, "_hvp", v)

    def _hvp(self, var, leaves, v):
        from dualad._forward import jvp

        p = var.program
        vs = _leaves_of(v, p.in_td, [np.shape(lf) for lf in leaves], "hvp: v", "x")
        _scalar_out(p)
        if var.kernels is not None and var.kernels.scalar_out and var.kernels.ready("hvp"):
            hv = var.kernels.hvp(leaves, [np.asarray(a, dtype=np.float64) for a in vs])
        else:
            g, z = self._flat_grad(var, leaves)
            w = np.concatenate([np.reshape(np.asarray(a, dtype=np.float64), (-1,)) for a in vs])
            flat = jvp(g, z, w)[1]
            from dualad._seeding import _offsets

            offs = _offsets(leaves)
            hv = [flat[a:b].reshape(np.shape(lf)) for a, b, lf in zip(offs, offs[1:], leaves)]
        return unflatten(p.in_td, hv)


def _leaves_of(tree, td, shapes, what: str, like: str) -> list:
    """The leaves of a direction or cotangent, which must have ``td`` (the structure of
    ``like``) and leaves of ``shapes`` (as the uncompiled API: no broadcasting)."""
    leaves, ttd = flatten(tree)
    host_only(leaves, "dualad.compile", "the uncompiled dualad.jvp, vjp, hvp")
    if ttd != td:
        raise ValueError(f"{what} must have the same structure as {like}")
    for a, shape in zip(leaves, shapes):
        if np.shape(a) != tuple(shape):
            raise ValueError(f"{what} has a leaf of shape {np.shape(a)} where {shape} is needed")
    return leaves


def _out_shapes(p) -> list:
    return [np.shape(p.values.get(o.id) if type(o) is Ref else o) for o in p.out_leaves]


def _fresh(p, outs) -> list:
    """``outs`` with the constant outputs copied: the caller may write into what it gets,
    and the next call must not see it."""
    return [
        o.copy() if type(leaf) is not Ref and isinstance(o, np.ndarray) else o
        for leaf, o in zip(p.out_leaves, outs)
    ]


def _unstable(f) -> RuntimeError:
    name = getattr(f, "__name__", type(f).__name__)
    return RuntimeError(
        f"dualad.compile({name}): f took other branches when replayed at the point it was "
        "just recorded at (random numbers or globals read by a branch?); call it uncompiled"
    )


def _scalar_out(p):
    """The id of ``f``'s one scalar output (None for a constant); ValueError otherwise."""
    from dualad._seeding import _require_real

    o = p.out_leaves[0] if len(p.out_leaves) == 1 and p.out_td.is_leaf else None
    i = getattr(o, "id", None)
    y = p.values.get(i) if i is not None else o
    shape = np.shape(y)
    if o is None or shape != ():
        what = f"shape {shape}" if o is not None else "several outputs"
        raise ValueError(
            f"grad, hessian and hvp need f to return one scalar, got {what}; "
            "use jacobian, jvp or vjp"
        )
    _require_real(y)  # a complex f: no gradient (as dualad.grad), not its real part's
    return i


def _check_scalar(y):
    if np.shape(y) != ():
        raise ValueError(f"grad needs f to return a scalar, got shape {np.shape(y)}")

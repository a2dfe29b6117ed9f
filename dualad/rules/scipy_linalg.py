"""scipy.linalg: the functions users call, differentiated where SciPy calls LAPACK.

Two rules (``solve_triangular``, ``lu_factor``, ``expm``: the primal is SciPy's own) and
restatements in calls that have rules (``solve``, ``cho_factor``/``cho_solve``, ``lu_solve``,
``norm``, ``eigh``). Each is registered as a ``dualad._foreign`` target and installed on
``scipy.linalg`` when interception is on. Rules call SciPy through ungated dispatchers
(``_tri``, ``_expm``), so the derivative of a derivative reaches the same rule. Only 2-D
matrices (SciPy's batched forms raise). Imports numpy; SciPy only through the originals
handed over at installation.
"""

from __future__ import annotations

from dualad._numpy import np

from .._foreign import dispatcher, restate, target
from .._ops import strip
from .._tracing import decide
from ._define import Rule

_SCIPY: dict = {}  # ungated dispatchers the rules call: "solve_triangular", "expm", ...


def _matrix(a, name: str) -> None:
    if len(np.shape(a)) != 2:
        raise NotImplementedError(
            f"scipy.linalg.{name}: dualad differentiates 2-D matrices only (got shape "
            f"{np.shape(a)}); loop over the batch, or use numpy.linalg's batched functions"
        )


def _trans(trans) -> int:
    t = {0: 0, 1: 1, 2: 1, "N": 0, "T": 1, "C": 1}.get(trans)
    if t is None:
        raise ValueError(f"scipy.linalg: trans must be 0, 1, 2, 'N', 'T' or 'C', got {trans!r}")
    return t


def _triangle(a, lower: bool, unit: bool):
    """The part of ``a`` a triangular solve reads (its strict triangle when the diagonal is
    taken as 1)."""
    k = -1 if unit else 0
    return np.tril(a, k) if lower else np.triu(a, -k)


def _batched_solve(a, rhs, b_ndim: int, **kw):
    """Solve for each of the leading ``m`` right-hand sides ``rhs`` (``(m,) + b.shape``) in
    one call: they become extra columns."""
    m, n = rhs.shape[0], rhs.shape[1]
    cols = np.moveaxis(rhs, 0, 1).reshape((n, -1))
    x = _SCIPY["solve_triangular"](a, cols, **kw)
    x = x.reshape((n, m) + tuple(rhs.shape[2:]))
    return np.moveaxis(x, 1, 0)


def _tri_kw(trans=0, lower=False, unit_diagonal=False):
    return {"trans": _trans(trans), "lower": bool(lower), "unit_diagonal": bool(unit_diagonal)}


def _tri_args(a, b, trans=0, lower=False, unit_diagonal=False, *rest, **kwargs):
    if len(rest) > 2 or set(kwargs) - {"overwrite_b", "check_finite"}:
        extra = sorted(set(kwargs) - {"overwrite_b", "check_finite"})
        raise NotImplementedError(f"scipy.linalg.solve_triangular: options {extra} (debug, ...)")
    _matrix(a, "solve_triangular")
    return _tri_kw(trans, lower, unit_diagonal)


def solve_triangular_jvp(dots, x, a, b, *args, **kwargs):
    kw = _tri_args(a, b, *args, **kwargs)
    da = dots[0]
    db = dots[1] if len(dots) > 1 else None
    rhs = None
    if da is not None:
        dt = _triangle(da, kw["lower"], kw["unit_diagonal"])
        if kw["trans"]:
            dt = np.swapaxes(dt, -1, -2)
        rhs = -(dt @ x) if np.ndim(x) == 2 else -(dt @ x[..., None])[..., 0]
    if db is not None:
        rhs = db if rhs is None else rhs + db
    if rhs is None:
        return None
    return _batched_solve(a, rhs, np.ndim(b), **kw)


def solve_triangular_vjp(x_bar, x, a, b, *args, needs=(True, True), **kwargs):
    kw = _tri_args(a, b, *args, **kwargs)
    b_bar = _batched_solve(a, x_bar, np.ndim(b), **{**kw, "trans": 1 - kw["trans"]})
    a_bar = None
    if needs[0]:
        g = -(b_bar @ np.swapaxes(x, -1, -2)) if np.ndim(x) == 2 else -(b_bar[..., None] * x)
        if kw["trans"]:
            g = np.swapaxes(g, -1, -2)
        a_bar = _triangle(g, kw["lower"], kw["unit_diagonal"])
    return (a_bar, b_bar if needs[1] else None) + (None,) * (len(args))


_TRI_RULE = Rule("scipy.linalg.solve_triangular", solve_triangular_jvp, solve_triangular_vjp, True)


@target("scipy.linalg.solve_triangular", "scipy.linalg", "solve_triangular")
def _make_solve_triangular(orig):
    _SCIPY["solve_triangular"] = dispatcher(orig, rule=_TRI_RULE)
    return "rule", _TRI_RULE


def _tri(a, b, trans=0, lower=False, unit_diagonal=False):
    import scipy.linalg

    f = _SCIPY.get("solve_triangular")
    if f is None:  # installed only once scipy.linalg was imported: it is, by now
        _make_solve_triangular(scipy.linalg.solve_triangular)
        f = _SCIPY["solve_triangular"]
    return f(a, b, trans=trans, lower=lower, unit_diagonal=unit_diagonal)


# -- solve: restated per assume_a -------------------------------------------------------------

_SYM = ("sym", "symmetric", "her", "hermitian", "pos", "positive definite")


def _symmetric_from(a, lower: bool):
    """The symmetric matrix SciPy solves with: ``a``'s triangle mirrored."""
    t = np.tril(a) if lower else np.triu(a)
    return t + np.swapaxes(np.tril(a, -1) if lower else np.triu(a, 1), -1, -2)


def _solve(a, b, lower=False, overwrite_a=False, overwrite_b=False, check_finite=True,
           assume_a=None, transposed=False):  # fmt: skip
    _matrix(a, "solve")
    kind = "gen" if assume_a is None else str(assume_a).lower()
    if kind in ("gen", "general"):
        m = a
    elif kind in _SYM:
        m = _symmetric_from(a, lower)
    elif kind in ("diagonal",):
        m = np.diag(np.diagonal(a))
    elif kind in ("tridiagonal",):
        m = np.triu(np.tril(a, 1), -1)
    elif kind in ("upper triangular", "lower triangular"):
        lo = kind.startswith("lower")
        return _tri(a, b, trans=1 if transposed else 0, lower=lo)
    else:
        raise NotImplementedError(f"scipy.linalg.solve with assume_a={assume_a!r}")
    if transposed:
        m = np.swapaxes(m, -1, -2)
    return np.linalg.solve(m, b)


restate("scipy.linalg.solve", "scipy.linalg", "solve", _solve)


# -- Cholesky ---------------------------------------------------------------------------------


def _cho_factor(a, lower=False, overwrite_a=False, check_finite=True):
    _matrix(a, "cho_factor")
    low = np.linalg.cholesky(_symmetric_from(a, lower))
    if lower:  # LAPACK leaves the other triangle as it was
        return low + np.triu(a, 1), True
    return np.swapaxes(low, -1, -2) + np.tril(a, -1), False


def _cho_solve(c_and_lower, b, overwrite_b=False, check_finite=True):
    c, lower = c_and_lower
    _matrix(c, "cho_solve")
    if lower:  # A = L L^T
        return _tri(c, _tri(c, b, lower=True), trans=1, lower=True)
    return _tri(c, _tri(c, b, trans=1), lower=False)  # A = U^T U


restate("scipy.linalg.cho_factor", "scipy.linalg", "cho_factor", _cho_factor)


restate("scipy.linalg.cho_solve", "scipy.linalg", "cho_solve", _cho_solve)


# -- LU ---------------------------------------------------------------------------------------


def _perm(piv) -> np.ndarray:
    """Row order P A = A[perm] from LAPACK's interchanges (row i swapped with piv[i])."""
    piv = np.asarray(strip(piv))
    perm = np.arange(piv.shape[0])
    for i, p in enumerate(piv.tolist()):
        perm[i], perm[p] = perm[p], perm[i]
    return perm


def _l_u(lu):
    n = lu.shape[-1]
    eye = np.eye(n, dtype=strip(lu).dtype)
    return np.tril(lu, -1) + eye, np.triu(lu)


def lu_factor_jvp(dots, out, a, *args, **kwargs):
    _matrix(a, "lu_factor")
    lu, piv = out
    l_, u = _l_u(lu)
    perm = _perm(piv)
    f = np.linalg.solve(l_, dots[0][..., perm, :])  # L^-1 P dA
    f = np.swapaxes(np.linalg.solve(np.swapaxes(u, -1, -2), np.swapaxes(f, -1, -2)), -1, -2)
    return l_ @ np.tril(f, -1) + np.triu(f) @ u, None


def lu_factor_vjp(out_bar, out, a, *args, **kwargs):
    lu, piv = out
    lu_bar = out_bar[0]
    if lu_bar is None:
        return (None,) + (None,) * len(args)
    l_, u = _l_u(lu)
    lt, ut = np.swapaxes(l_, -1, -2), np.swapaxes(u, -1, -2)
    g = np.tril(lt @ np.tril(lu_bar, -1), -1) + np.triu(np.triu(lu_bar) @ ut)
    g = np.linalg.solve(lt, g)  # L^-T G
    g = np.swapaxes(np.linalg.solve(u, np.swapaxes(g, -1, -2)), -1, -2)  # ... U^-T
    inv = np.argsort(_perm(piv))
    return (g[..., inv, :],) + (None,) * len(args)


_LU_RULE = Rule("scipy.linalg.lu_factor", lu_factor_jvp, lu_factor_vjp)


@target("scipy.linalg.lu_factor", "scipy.linalg", "lu_factor")
def _make_lu_factor(orig):
    return "rule", _LU_RULE


def _lu_solve(lu_and_piv, b, trans=0, overwrite_b=False, check_finite=True):
    lu, piv = lu_and_piv
    _matrix(lu, "lu_solve")
    perm = _perm(piv)
    if _trans(trans) == 0:  # A = P^T L U
        y = _tri(lu, b[perm], lower=True, unit_diagonal=True)
        return _tri(lu, y, lower=False)
    y = _tri(lu, b, trans=1, lower=False)  # A^T = U^T L^T P
    z = _tri(lu, y, trans=1, lower=True, unit_diagonal=True)
    return z[np.argsort(perm)]


restate("scipy.linalg.lu_solve", "scipy.linalg", "lu_solve", _lu_solve)


# -- matrix functions: the Frechet derivative as the corner of a block matrix -----------------
# For f analytic on A's spectrum, f([[A, E], [0, A]]) = [[f(A), L_f(A, E)], [0, f(A)]]
# (Higham, Functions of Matrices, 3.2); f with real coefficients has L_f(A, .)^T = L_f(A^T, .).

_MATRIX_FUNCTIONS = ("expm", "logm", "sqrtm", "cosm", "sinm", "tanm", "coshm", "sinhm", "tanhm")


def _frechet(name: str, a, e):
    """L_f(A, E) for each leading E: the upper-right block of f([[A, E], [0, A]])."""
    n = a.shape[-1]
    k = e.shape[0]
    wide = np.broadcast_to(a, (k, n, n))
    top = np.concatenate([wide, e], axis=-1)
    bottom = np.concatenate([0 * e, wide], axis=-1)
    big = np.concatenate([top, bottom], axis=-2)
    return np.stack([_SCIPY[name](big[j])[:n, n:] for j in range(k)])


def _matrix_function_rule(name: str) -> Rule:
    def check(a, kwargs):
        _matrix(a, name)
        if kwargs.get("disp", True) is not True:
            raise NotImplementedError(f"scipy.linalg.{name} with disp=False")

    def jvp(dots, out, a, *args, **kwargs):
        check(a, kwargs)
        return None if dots[0] is None else _frechet(name, a, dots[0])

    def vjp(out_bar, out, a, *args, **kwargs):
        check(a, kwargs)
        return (_frechet(name, np.swapaxes(a, -1, -2), out_bar),) + (None,) * len(args)

    return Rule(f"scipy.linalg.{name}", jvp, vjp)


def _matrix_function_target(name: str) -> None:
    rule = _matrix_function_rule(name)

    def make(orig):
        _SCIPY[name] = dispatcher(orig, rule=rule)
        return "rule", rule

    target(f"scipy.linalg.{name}", "scipy.linalg", name)(make)


for _name in _MATRIX_FUNCTIONS:
    _matrix_function_target(_name)


# -- factorisations and inverses: NumPy's, which have rules ------------------------------------


def _det(a, overwrite_a=False, check_finite=True):
    _matrix(a, "det")
    return np.linalg.det(a)


def _inv(a, overwrite_a=False, check_finite=True, **kwargs):
    _matrix(a, "inv")
    if kwargs.get("assume_a") not in (None, "general", "gen"):
        raise NotImplementedError(f"scipy.linalg.inv with assume_a={kwargs['assume_a']!r}")
    return np.linalg.inv(a)


def _cholesky(a, lower=False, overwrite_a=False, check_finite=True):
    _matrix(a, "cholesky")
    low = np.linalg.cholesky(_symmetric_from(a, lower))
    return low if lower else np.swapaxes(low, -1, -2)


def _first(orig, *args, **kwargs):
    return orig(*args, **kwargs)[0]


def _second(orig, *args, **kwargs):
    return orig(*args, **kwargs)[1]


def _signs(mine, ref):
    """The sign (+-1) per column that turns ``mine``'s vectors into ``ref``'s."""
    return np.where(np.sum(ref * mine, axis=0) < 0, -1.0, 1.0)


def _make_svd(orig):
    def svd(a, full_matrices=True, compute_uv=True, overwrite_a=False, check_finite=True,
            lapack_driver="gesdd"):  # fmt: skip
        _matrix(a, "svd")
        if not compute_uv:
            return np.linalg.svd(a, compute_uv=False)
        u, s, vh = np.linalg.svd(a, full_matrices=full_matrices)
        # SciPy's own vectors may differ in sign (another driver): take its signs
        k = s.shape[-1]
        if u.shape[1] != k or vh.shape[0] != k:
            return u, s, vh  # the extra columns are not unique: differentiating them raises
        # (decisions from values: under dualad.compile made again at each call)
        ref_u = decide(_first, orig, a, full_matrices=full_matrices, lapack_driver=lapack_driver)
        sign = decide(_signs, u, ref_u)
        return u * sign, s, vh * sign[:, None]

    return svd


def _svdvals(a, overwrite_a=False, check_finite=True):
    _matrix(a, "svdvals")
    return np.linalg.svd(a, compute_uv=False)


def _qr(a, overwrite_a=False, lwork=None, mode="full", pivoting=False, check_finite=True):
    _matrix(a, "qr")
    if pivoting or mode == "raw":
        raise NotImplementedError(
            f"scipy.linalg.qr with {'pivoting=True' if pivoting else 'mode=raw'}"
        )
    if mode == "r":
        return (np.linalg.qr(a, mode="r"),)
    return np.linalg.qr(a, mode="complete" if mode == "full" else "reduced")


def _pinv(a, *, atol=None, rtol=None, return_rank=False, check_finite=True):
    _matrix(a, "pinv")
    if atol is not None or rtol is not None or return_rank:
        raise NotImplementedError("scipy.linalg.pinv with atol=, rtol= or return_rank=")
    return np.linalg.pinv(a)


for _name, _impl in (("det", _det), ("inv", _inv), ("cholesky", _cholesky),
                     ("svdvals", _svdvals), ("qr", _qr), ("pinv", _pinv)):  # fmt: skip
    restate(f"scipy.linalg.{_name}", "scipy.linalg", _name, _impl)
target("scipy.linalg.svd", "scipy.linalg", "svd")(lambda orig: ("restated", _make_svd(orig)))


# -- norm and eigh: restated ------------------------------------------------------------------


def _norm(a, ord=None, axis=None, keepdims=False, check_finite=True):
    return np.linalg.norm(a, ord=ord, axis=axis, keepdims=keepdims)


restate("scipy.linalg.norm", "scipy.linalg", "norm", _norm)


def _make_eigh_impl(orig):
    def eigh(a, b=None, *, lower=True, eigvals_only=False, overwrite_a=False,
             overwrite_b=False, type=1, check_finite=True, subset_by_index=None,
             subset_by_value=None, driver=None):  # fmt: skip
        _matrix(a, "eigh")
        if type != 1 or subset_by_value is not None:
            opt = "type" if type != 1 else "subset_by_value"
            raise NotImplementedError(f"scipy.linalg.eigh with {opt}= (only type=1 and "
                                      "subset_by_index)")  # fmt: skip
        uplo = "L" if lower else "U"
        if b is None:
            w, v = np.linalg.eigh(a, UPLO=uplo)
        else:
            low = np.linalg.cholesky(_symmetric_from(b, lower))
            inner = np.linalg.solve(low, np.swapaxes(np.linalg.solve(low, a), -1, -2))
            w, u = np.linalg.eigh(inner, UPLO=uplo)
            v = np.linalg.solve(np.swapaxes(low, -1, -2), u)
        if subset_by_index is not None:
            lo, hi = subset_by_index
            w, v = w[lo : hi + 1], v[:, lo : hi + 1]
        if eigvals_only:
            return w
        # SciPy's own eigenvectors may differ in sign (another LAPACK driver): take its signs
        ref = decide(_second, orig, a, b, lower=lower, subset_by_index=subset_by_index,
                     driver=driver)  # fmt: skip
        sign = decide(_signs, v, ref)
        return w, v * sign

    return eigh


@target("scipy.linalg.eigh", "scipy.linalg", "eigh")
def _make_eigh(orig):
    return "restated", _make_eigh_impl(orig)


@target("scipy.linalg.eigvalsh", "scipy.linalg", "eigvalsh")
def _make_eigvalsh(orig):
    eigh = _make_eigh_impl(None)  # values only: no eigenvector signs to match
    return "restated", lambda a, b=None, **kwargs: eigh(a, b, eigvals_only=True, **kwargs)

"""scipy.spatial.distance: the functions users call, restated in NumPy calls that have rules.

``pdist`` and ``cdist`` (SciPy's C loops) become one vectorised computation over the pairs:
``X[i] - X[j]`` for the upper triangle (pdist), ``XA[:, None] - XB[None]`` (cdist), reduced
along the feature axis per metric: euclidean, sqeuclidean, cityblock, minkowski (``p=``),
chebyshev, cosine, correlation, seuclidean (``V=``, by default the variances of the points,
differentiated too), mahalanobis (``VI=``, by default the inverse covariance of the points),
braycurtis and canberra, each with SciPy's optional weights ``w=`` where SciPy takes them;
a callable metric is called per pair and the results stacked. Other metrics (the boolean
ones, jensenshannon) raise ``NotImplementedError``. ``squareform`` (C, needing ``.base``)
becomes a gather. Of the vector functions, SciPy's own NumPy code already differentiates
all but two points: ``mahalanobis`` (``np.sqrt`` of 0 at ``u == v``) and ``canberra``
(``nansum`` of 0/0 where ``|u_i| + |v_i| == 0``, NaN in reverse mode): both restated.

Where a distance is 0 (coincident points) its derivative is the sub-gradient 0, as for
``np.linalg.norm`` and ``np.abs``: the norms go through ``np.linalg.norm``, the square roots
through ``_safe_sqrt``. Imports numpy; SciPy only through the originals handed over at
installation.
"""

from __future__ import annotations

import sys

from dualad._numpy import np

from .._foreign import restate
from .._ops import strip
from .._tags import Leveled
from .._tracing import decide

_MODULE = "scipy.spatial.distance"

# SciPy's aliases (distance._METRIC_INFOS) of the metrics restated here
_ALIASES = {
    "braycurtis": ("braycurtis",),
    "canberra": ("canberra",),
    "chebyshev": ("chebychev", "chebyshev", "cheby", "cheb", "ch"),
    "cityblock": ("cityblock", "cblock", "cb", "c"),
    "correlation": ("correlation", "co"),
    "cosine": ("cosine", "cos"),
    "euclidean": ("euclidean", "euclid", "eu", "e"),
    "mahalanobis": ("mahalanobis", "mahal", "mah"),
    "minkowski": ("minkowski", "mi", "m", "pnorm"),
    "seuclidean": ("seuclidean", "se", "s"),
    "sqeuclidean": ("sqeuclidean", "sqe", "sqeuclid"),
}
_CANONICAL = {a: name for name, aka in _ALIASES.items() for a in aka}
# the keyword arguments each metric takes (SciPy raises TypeError for others)
_OPTIONS = {name: {"w"} for name in _ALIASES}
_OPTIONS.update(minkowski={"w", "p"}, seuclidean={"V"}, mahalanobis={"VI"})


def _scipy():
    return sys.modules[_MODULE]


def _is_valid_dm(X) -> bool:
    return bool(_scipy().is_valid_dm(X))


def _holds(x) -> bool:
    return isinstance(x, Leveled) or (
        type(x) in (list, tuple) and any(isinstance(b, Leveled) for b in x)
    )


def _array(x, dtype=None):
    """``x`` as an array: a wrapper as it is (cast to ``dtype`` if given and different), a
    list holding wrappers stacked, anything else through ``np.asarray``."""
    if isinstance(x, Leveled):
        return x if dtype is None or x.dtype == dtype else x.astype(dtype)
    if _holds(x):
        return _array(np.stack([_array(b) for b in x]), dtype)
    return np.asarray(x, dtype=dtype)


def _float(x):
    """SciPy computes distances in double: ``x`` as float64 (wrappers included)."""
    return _array(x, np.float64)


def _vector(u, dtype=None):
    u = _array(u, dtype)
    if u.ndim != 1:
        raise ValueError("Input vector should be 1-D.")
    return u


def _weights(w, n=None):
    w = _vector(w, np.float64)
    if n is not None and w.shape[0] != n:
        raise ValueError(f"Weights must have same size as input vector. {w.shape[0]} vs. {n}")
    if np.any(decide(np.less, w, 0)):
        raise ValueError("Input weights should be all non-negative")
    return w


def _safe_sqrt(q):
    """sqrt(q), whose derivative at q == 0 is the sub-gradient 0 (not 0 * inf)."""
    zero = decide(np.equal, q, 0)  # (under dualad.compile: again at each call)
    return np.where(zero, 0.0, np.sqrt(np.where(zero, 1.0, q)))


def _safe_divide(num, den):
    """num / den, and 0 (with derivative 0) where den == 0."""
    zero = decide(np.equal, den, 0)
    return np.where(zero, 0.0, num / np.where(zero, 1.0, den))


# -- the metrics: u and v broadcast against each other, features on the last axis ------------


def _euclidean(u, v, w=None):
    d = u - v
    return np.linalg.norm(d if w is None else np.sqrt(w) * d, axis=-1)


def _sqeuclidean(u, v, w=None):
    d = u - v
    return np.sum(d * d if w is None else w * d * d, axis=-1)


def _cityblock(u, v, w=None):
    a = np.abs(u - v)
    return np.sum(a if w is None else w * a, axis=-1)


def _minkowski(u, v, w=None, p=2.0):
    if p <= 0:
        raise ValueError("p must be greater than 0")
    d = u - v
    if w is not None:  # SciPy's weighting: sum(w |d|^p)^(1/p)
        if p == 1:
            root = w
        elif p == 2:
            root = np.sqrt(w)
        elif p == np.inf:
            root = decide(np.not_equal, w, 0)
        else:
            root = np.power(w, 1.0 / p)
        d = root * d
    return np.linalg.norm(d, ord=p, axis=-1)


def _chebyshev(u, v, w=None):
    a = np.abs(u - v)
    if w is not None:  # SciPy's weights only select the coordinates
        a = decide(np.greater, w, 0) * a
    return np.max(a, axis=-1)


def _correlation(u, v, w=None, centered=True):
    if w is not None:
        w = w / np.sum(w)
    if centered:
        if w is None:
            u = u - np.mean(u, axis=-1, keepdims=True)
            v = v - np.mean(v, axis=-1, keepdims=True)
        else:
            u = u - np.sum(u * w, axis=-1, keepdims=True)
            v = v - np.sum(v * w, axis=-1, keepdims=True)
    uw, vw = (u, v) if w is None else (u * w, v * w)
    uv = np.sum(u * vw, axis=-1)
    uu = np.sum(u * uw, axis=-1)
    vv = np.sum(v * vw, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):  # a zero vector: NaN, as SciPy
        dist = 1.0 - uv / np.sqrt(uu * vv)
    return np.clip(dist, 0.0, 2.0)


def _cosine(u, v, w=None):
    return _correlation(u, v, w, centered=False)


def _seuclidean(u, v, V):
    return np.linalg.norm((u - v) / np.sqrt(V), axis=-1)


def _mahalanobis(u, v, VI):
    d = u - v
    return _safe_sqrt(np.sum((d @ VI) * d, axis=-1))


def _braycurtis(u, v, w=None):
    a, s = np.abs(u - v), np.abs(u + v)
    if w is not None:
        a, s = w * a, w * s
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sum(a, axis=-1) / np.sum(s, axis=-1)


def _canberra(u, v, w=None):
    d = _safe_divide(np.abs(u - v), np.abs(u) + np.abs(v))  # 0/0 terms: dropped, as SciPy
    if w is not None:
        d = w * d
    return np.nansum(d, axis=-1)


_METRICS = {
    "braycurtis": _braycurtis,
    "canberra": _canberra,
    "chebyshev": _chebyshev,
    "cityblock": _cityblock,
    "correlation": _correlation,
    "cosine": _cosine,
    "euclidean": _euclidean,
    "mahalanobis": _mahalanobis,
    "minkowski": _minkowski,
    "seuclidean": _seuclidean,
    "sqeuclidean": _sqeuclidean,
}


# -- pdist / cdist ----------------------------------------------------------------------------


def _metric_name(metric, func: str) -> str:
    """The canonical name of a metric string; unknown ones raise as SciPy does, known but not
    restated ones ``NotImplementedError``."""
    if not isinstance(metric, str):
        raise TypeError("2nd argument metric must be a string identifier or a function.")
    mstr = metric.lower()
    name = _CANONICAL.get(mstr)
    if name is not None:
        return name
    scipy_knows = mstr in getattr(_scipy(), "_METRIC_ALIAS", {}) or mstr.startswith("test_")
    if scipy_knows:
        raise NotImplementedError(
            f"scipy.spatial.distance.{func} with metric={metric!r}: dualad differentiates "
            f"the metrics {', '.join(sorted(_ALIASES))} and callables"
        )
    raise ValueError(f"Unknown Distance Metric: {mstr}")


def _complete(name: str, points: tuple, n: int, kwargs: dict) -> dict:
    """SciPy's validation of the keyword arguments of metric ``name``, with its defaults:
    ``V`` the variances and ``VI`` the inverse covariance of all the points."""
    kwargs = dict(kwargs)
    if kwargs.get("w") is not None:
        kwargs["w"] = _weights(kwargs["w"], n)
    else:
        kwargs.pop("w", None)
    if name == "minkowski":
        kwargs.setdefault("p", 2.0)
        if kwargs["p"] <= 0:
            raise ValueError("p must be greater than 0")
    elif name == "seuclidean":
        if kwargs.get("V") is None:
            allx = points[0] if len(points) == 1 else np.vstack(points)
            kwargs["V"] = np.var(allx, axis=0, ddof=1)
        else:
            V = _float(kwargs["V"])
            if V.ndim != 1:
                raise ValueError("Variance vector V must be one-dimensional.")
            if V.shape[0] != n:
                raise ValueError(
                    "Variance vector V must be of the same dimension as the vectors on "
                    "which the distances are computed."
                )
            kwargs["V"] = V
    elif name == "mahalanobis":
        if kwargs.get("VI") is None:
            allx = points[0] if len(points) == 1 else np.vstack(points)
            m = allx.shape[0]
            if m <= n:
                raise ValueError(
                    f"The number of observations ({m}) is too small; the covariance matrix "
                    f"is singular. For observations with {n} dimensions, at least {n + 1} "
                    "observations are required."
                )
            kwargs["VI"] = np.swapaxes(np.linalg.inv(np.atleast_2d(np.cov(allx.T))), 0, 1)
        else:
            kwargs["VI"] = np.atleast_2d(_float(kwargs["VI"]))
    return kwargs


def _check_options(name: str, func: str, kwargs: dict) -> None:
    extra = sorted(set(kwargs) - _OPTIONS[name])
    if extra:
        raise TypeError(
            f"scipy.spatial.distance.{func}: metric {name!r} got unexpected keyword "
            f"argument(s) {extra}"
        )


def _no_out(out, func: str) -> None:
    if out is not None:
        raise NotImplementedError(
            f"scipy.spatial.distance.{func} with out=: dualad returns a new array (assign "
            "the result instead)"
        )


def _double(d):
    return d if d.dtype == np.float64 else d.astype(np.float64)


def _callable_kwargs(metric, points: tuple, n: int, kwargs: dict) -> tuple:
    """SciPy validates the points and fills the defaults when a callable is one of its own
    distance functions (by ``__name__``)."""
    mstr = getattr(metric, "__name__", "")
    if mstr in _CANONICAL:
        points = tuple(_float(p) for p in points)
        kwargs = _complete(_CANONICAL[mstr], points, n, kwargs)
    return points, kwargs


def _stacked(values, shape):
    if not values:
        return np.zeros(shape)
    return _double(np.reshape(np.stack(values), shape))


def _pdist(X, metric="euclidean", *, out=None, **kwargs):
    _no_out(out, "pdist")
    X = _array(X)
    if X.ndim != 2:
        raise ValueError(f"A 2-dimensional array must be passed. (Shape was {X.shape}).")
    m, n = X.shape
    kwargs = {k: v for k, v in kwargs.items() if not (k in ("w", "V", "VI") and v is None)}
    if callable(metric):
        (X,), kwargs = _callable_kwargs(metric, (X,), n, kwargs)
        pairs = [(i, j) for i in range(m - 1) for j in range(i + 1, m)]
        return _stacked([metric(X[i], X[j], **kwargs) for i, j in pairs], (len(pairs),))
    name = _metric_name(metric, "pdist")
    X = _float(X)
    kwargs = _complete(name, (X,), n, kwargs)
    _check_options(name, "pdist", kwargs)
    i, j = np.triu_indices(m, 1)
    return _double(_METRICS[name](X[i], X[j], **kwargs))


def _cdist(XA, XB, metric="euclidean", *, out=None, **kwargs):
    _no_out(out, "cdist")
    XA, XB = _array(XA), _array(XB)
    if XA.ndim != 2:
        raise ValueError("XA must be a 2-dimensional array.")
    if XB.ndim != 2:
        raise ValueError("XB must be a 2-dimensional array.")
    if XA.shape[1] != XB.shape[1]:
        raise ValueError("XA and XB must have the same number of columns (i.e. feature dimension.)")
    ma, mb, n = XA.shape[0], XB.shape[0], XA.shape[1]
    if callable(metric):
        (XA, XB), kwargs = _callable_kwargs(metric, (XA, XB), n, kwargs)
        values = [metric(XA[i], XB[j], **kwargs) for i in range(ma) for j in range(mb)]
        return _stacked(values, (ma, mb))
    name = _metric_name(metric, "cdist")
    XA, XB = _float(XA), _float(XB)
    kwargs = _complete(name, (XA, XB), n, kwargs)
    _check_options(name, "cdist", kwargs)
    return _double(_METRICS[name](XA[:, None, :], XB[None, :, :], **kwargs))


restate("scipy.spatial.distance.pdist", _MODULE, "pdist", _pdist)


restate("scipy.spatial.distance.cdist", _MODULE, "cdist", _cdist)


# -- squareform: a gather ---------------------------------------------------------------------


def _squareform(X, force="no", checks=True):
    X = _array(X)
    s = X.shape
    if force.lower() == "tomatrix" and len(s) != 1:
        raise ValueError("Forcing 'tomatrix' but input X is not a distance vector.")
    if force.lower() == "tovector" and len(s) != 2:
        raise ValueError("Forcing 'tovector' but input X is not a distance matrix.")
    if len(s) == 1:
        k = s[0]
        if k == 0:
            return np.zeros((1, 1), dtype=X.dtype)
        d = int(np.ceil(np.sqrt(k * 2)))
        if d * (d - 1) != k * 2:
            raise ValueError(
                "Incompatible vector size. It must be a binomial coefficient n choose 2 for "
                "some integer n >= 2."
            )
        idx = np.full((d, d), k)  # the diagonal reads the appended 0
        i, j = np.triu_indices(d, 1)
        idx[i, j] = idx[j, i] = np.arange(k)
        return np.concatenate([X, np.zeros(1, dtype=X.dtype)])[idx]
    if len(s) == 2:
        if s[0] != s[1]:
            raise ValueError("The matrix argument must be square.")
        if checks and not decide(_is_valid_dm, X):  # (a guard under dualad.compile)
            _scipy().is_valid_dm(strip(X), throw=True, name="X")
        d = s[0]
        if d <= 1:
            return np.array([], dtype=X.dtype)
        i, j = np.triu_indices(d, 1)
        return X[i, j]
    raise ValueError(
        "The first argument must be one or two dimensional array. A "
        f"{len(s)}-dimensional array is not permitted"
    )


restate("scipy.spatial.distance.squareform", _MODULE, "squareform", _squareform)


# -- the vector functions whose NumPy code has no derivative at some points -------------------


def _mahalanobis_vector(u, v, VI):
    u, v = _vector(u), _vector(v)
    VI = np.atleast_2d(_array(VI))
    delta = u - v
    return _safe_sqrt(np.dot(np.dot(delta, VI), delta))  # SciPy's np.sqrt, 0 at u == v


def _canberra_vector(u, v, w=None):
    u, v = _vector(u), _vector(v, np.float64)
    w = None if w is None else _weights(w)
    return _canberra(u, v, w)


restate("scipy.spatial.distance.mahalanobis", _MODULE, "mahalanobis", _mahalanobis_vector)


restate("scipy.spatial.distance.canberra", _MODULE, "canberra", _canberra_vector)

"""scipy.spatial.distance under interception (dualad.rules.scipy_spatial).

pdist and cdist for every restated metric (with weights, p, V, VI, and a callable metric),
squareform both ways, and the vector distances (those SciPy's NumPy code already
differentiates and the two restated): values equal SciPy's own, gradients in forward and
reverse mode equal central differences of the plain SciPy call, Hessians equal central
differences of the gradient; at coincident points the derivative is the sub-gradient 0
(no NaN); plain calls reach SciPy; metrics not restated raise.
"""

from __future__ import annotations

import numpy as np
import pytest

import dualad
import tape
from tests._check import central_jacobian

dist = pytest.importorskip("scipy.spatial.distance")

rng = np.random.default_rng(11)
X0 = rng.standard_normal((5, 3))
XB = rng.standard_normal((2, 3))
W = np.array([0.5, 1.5, 2.0])
V = np.array([1.0, 2.0, 3.0])
_A = rng.standard_normal((3, 3))
VI = _A @ _A.T + np.eye(3)
C10 = rng.standard_normal(10)  # weights of pdist's 10 distances
C52 = rng.standard_normal((5, 2))  # of cdist's 5 x 2
Y = np.array([1.0, 0.2, -0.3])


def central(f, x, h=1e-5):
    return central_jacobian(f, x, h)


def _sq(x):
    """Positive weights depending on x (so the weights are differentiated too)."""
    return W + x[0] ** 2


METRICS = {
    "euclidean": {},
    "sqeuclidean": {},
    "cityblock": {},
    "minkowski_p3": {"p": 3},
    "minkowski_p1.5": {"p": 1.5},
    "chebyshev": {},
    "cosine": {},
    "correlation": {},
    "seuclidean": {},
    "seuclidean_V": {"V": V},
    "mahalanobis": {},
    "mahalanobis_VI": {"VI": VI},
    "braycurtis": {},
    "canberra": {},
    "euclidean_w": {"w": W},
    "sqeuclidean_w": {"w": W},
    "cityblock_w": {"w": W},
    "minkowski_w": {"p": 3, "w": W},
    "minkowski_inf_w": {"p": np.inf, "w": np.array([1.0, 0.0, 2.0])},
    "chebyshev_w": {"w": np.array([1.0, 0.0, 1.0])},
    "cosine_w": {"w": W},
    "correlation_w": {"w": W},
    "braycurtis_w": {"w": W},
    "canberra_w": {"w": W},
}


def _metric(key):
    return key.split("_")[0]


PAIRWISE = {}
for _key, _kw in METRICS.items():
    _m = _metric(_key)
    PAIRWISE[f"pdist-{_key}"] = lambda x, m=_m, kw=_kw: dist.pdist(x, m, **kw) @ C10
    PAIRWISE[f"cdist-{_key}"] = lambda x, m=_m, kw=_kw: (dist.cdist(x, XB, m, **kw) * C52).sum()
PAIRWISE.update(
    {
        "pdist-alias": lambda x: dist.pdist(x, "SQEuclid") @ C10,
        "pdist-callable": lambda x: dist.pdist(x, lambda u, v: np.sum((u - v) ** 4)) @ C10,
        "cdist-callable": lambda x: (dist.cdist(x, XB, lambda u, v: u @ v * u[0]) * C52).sum(),
        "pdist-scipy_function": lambda x: dist.pdist(x, dist.seuclidean) @ C10,
        "pdist-w_depends_on_x": lambda x: dist.pdist(x, "cityblock", w=W + x[0] ** 2) @ C10,
        "cdist-both_sides": lambda x: (dist.cdist(x, x[::-1] * 0.7, "euclidean") ** 3).sum(),
        "cdist-VI_depends_on_x": lambda x: dist.cdist(x, XB, "mahalanobis", VI=VI + x.T @ x)[0, 1],
        "squareform_to_matrix": lambda x: (dist.squareform(dist.pdist(x)) * np.arange(25.0).reshape(5, 5)).sum(),
        "squareform_to_vector": lambda x: dist.squareform(x[:3, :] @ x[:3, :].T - np.diag(np.sum(x[:3, :] ** 2, 1)), checks=False) @ Y,
    }
)  # fmt: skip

VECTOR = {
    "euclidean": lambda x: dist.euclidean(x[0], Y),
    "euclidean_w": lambda x: dist.euclidean(Y, x[1], w=_sq(x)),
    "sqeuclidean": lambda x: dist.sqeuclidean(x[0], x[1]),
    "sqeuclidean_w": lambda x: dist.sqeuclidean(x[0], Y, w=_sq(x)),
    "cityblock": lambda x: dist.cityblock(x[0], Y),
    "cityblock_w": lambda x: dist.cityblock(x[0], x[2], w=_sq(x)),
    "minkowski": lambda x: dist.minkowski(x[0], Y, 3),
    "minkowski_w": lambda x: dist.minkowski(x[0], Y, 1.5, w=_sq(x)),
    "chebyshev": lambda x: dist.chebyshev(x[0], Y),
    "chebyshev_w": lambda x: dist.chebyshev(x[0], Y, w=np.array([1.0, 0.0, 1.0])),
    "cosine": lambda x: dist.cosine(x[0], x[1]),
    "cosine_w": lambda x: dist.cosine(x[0], Y, w=_sq(x)),
    "correlation": lambda x: dist.correlation(x[0], Y),
    "correlation_w": lambda x: dist.correlation(x[0], x[3], w=_sq(x)),
    "braycurtis": lambda x: dist.braycurtis(x[0], Y),
    "braycurtis_w": lambda x: dist.braycurtis(x[0], Y, w=_sq(x)),
    "canberra": lambda x: dist.canberra(x[0], Y),
    "canberra_w": lambda x: dist.canberra(x[1], Y, w=_sq(x)),
    "seuclidean": lambda x: dist.seuclidean(x[0], Y, V + x[1] ** 2),
    "mahalanobis": lambda x: dist.mahalanobis(x[0], Y, VI + np.diag(x[1] ** 2)),
}

CASES = {**PAIRWISE, **{f"vector-{k}": f for k, f in VECTOR.items()}}


@pytest.fixture(autouse=True)
def _intercepting():
    with dualad.intercept():
        yield


@pytest.mark.parametrize("name", sorted(CASES))
def test_value_is_scipys(name):
    f = CASES[name]
    with dualad.intercept(False):
        plain = f(X0)
    d = dualad.Dual(X0, np.ones(X0.shape))
    np.testing.assert_allclose(f(d).primal, plain, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("mode", ["forward", "reverse"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_gradient(name, mode):
    f = CASES[name]
    g = dualad.grad(f, X0, mode=mode, intercept=True)
    np.testing.assert_allclose(g, central(f, X0), rtol=1e-6, atol=1e-8)


def _call(func, metric, kw, x):
    return dist.pdist(x, metric, **kw) if func == "pdist" else dist.cdist(x, XB, metric, **kw)


@pytest.mark.parametrize("func", ["pdist", "cdist"])
@pytest.mark.parametrize("key", sorted(METRICS))
def test_pairwise_arrays_are_scipys(func, key):
    # the whole array, not a reduction of it: same values, shape and dtype
    kw = METRICS[key]
    plain = _call(func, _metric(key), kw, X0)
    for x in (dualad.Dual(X0, np.ones(X0.shape)), tape.Variable(X0.copy())):
        got = _call(func, _metric(key), kw, x)
        assert got.shape == plain.shape and got.dtype == plain.dtype == np.float64
        np.testing.assert_allclose(dualad._ops.strip(got), plain, rtol=1e-12, atol=1e-12)


def test_pdist_jacobian_both_modes():
    f = lambda x: dist.pdist(x, "correlation")
    ref = np.moveaxis(central(f, X0), -1, 0)
    for mode in ("forward", "reverse"):
        np.testing.assert_allclose(
            dualad.jacobian(f, X0, mode=mode, intercept=True), ref, rtol=1e-6, atol=1e-8
        )
    x = tape.Variable(X0.copy(), requires_grad=True)
    (dist.pdist(x, "sqeuclidean") @ C10).backward()
    np.testing.assert_allclose(x.grad, central(PAIRWISE["pdist-sqeuclidean"], X0), rtol=1e-6)


HESSIAN_CASES = [
    "pdist-euclidean",
    "cdist-mahalanobis",
    "pdist-cosine_w",
    "pdist-seuclidean",
    "cdist-minkowski_p3",
    "vector-mahalanobis",
    "squareform_to_matrix",
]


@pytest.mark.parametrize("name", HESSIAN_CASES)
def test_hessian(name):
    f = CASES[name]
    h = dualad.hessian(f, X0, intercept=True)
    ref = central(lambda y: dualad.grad(f, y, mode="reverse", intercept=True), X0)
    np.testing.assert_allclose(h, ref, rtol=1e-5, atol=1e-7)


# -- coincident points: the sub-gradient 0, as np.linalg.norm and np.abs ----------------------

XD = np.concatenate([X0[:3], X0[:1], np.zeros((1, 3))])  # row 3 repeats row 0; row 4 is 0
MASK = np.array([1.0, 0.0, 1.0])

COINCIDENT = {
    "pdist-euclidean": lambda x: dist.pdist(x) @ C10,
    "pdist-minkowski": lambda x: dist.pdist(x, "minkowski", p=3) @ C10,
    "pdist-seuclidean": lambda x: dist.pdist(x, "seuclidean", V=V) @ C10,
    "pdist-mahalanobis": lambda x: dist.pdist(x, "mahalanobis", VI=VI) @ C10,
    "pdist-cityblock": lambda x: dist.pdist(x, "cityblock") @ C10,
    "pdist-chebyshev": lambda x: dist.pdist(x, "chebyshev") @ C10,
    "pdist-canberra": lambda x: dist.pdist(x[:3] * MASK, "canberra") @ C10[:3],  # 0/0 terms
    "cdist-euclidean": lambda x: (dist.cdist(x, x[:2], "euclidean") * C52).sum(),
    "vector-euclidean": lambda x: dist.euclidean(x[0], x[3]),
    "vector-seuclidean": lambda x: dist.seuclidean(x[0], x[3], V),
    "vector-mahalanobis": lambda x: dist.mahalanobis(x[0], x[3], VI),
    "vector-canberra": lambda x: dist.canberra(x[0] * MASK, x[1] * MASK),
}


@pytest.mark.parametrize("mode", ["forward", "reverse"])
@pytest.mark.parametrize("name", sorted(COINCIDENT))
def test_coincident_points(name, mode):
    # central differences of |d| at d = 0 are 0 too: the sub-gradient is what they see
    f = COINCIDENT[name]
    g = dualad.grad(f, XD, mode=mode, intercept=True)
    assert np.all(np.isfinite(g))
    np.testing.assert_allclose(g, central(f, XD), rtol=1e-6, atol=1e-8)


def test_coincident_euclidean_is_zero_subgradient():
    for mode in ("forward", "reverse"):
        g = dualad.grad(lambda x: dist.pdist(x)[2], XD, mode=mode, intercept=True)  # rows 0, 3
        np.testing.assert_array_equal(g, np.zeros_like(XD))
        g = dualad.grad(lambda u: dist.mahalanobis(u, XD[0], VI), XD[0], mode=mode, intercept=True)
        np.testing.assert_array_equal(g, np.zeros(3))


# -- squareform, plain calls, what raises -----------------------------------------------------


def test_squareform_round_trip():
    v = dualad.Dual(dist.pdist(X0), np.ones(10))
    m = dist.squareform(v)
    np.testing.assert_array_equal(m.primal, dist.squareform(dist.pdist(X0)))
    np.testing.assert_array_equal(dist.squareform(m).primal, dist.pdist(X0))
    np.testing.assert_array_equal(dist.squareform(m, force="tovector").primal, dist.pdist(X0))
    with pytest.raises(ValueError, match="Incompatible vector size"):
        dist.squareform(dualad.Dual(np.ones(4), np.ones(4)))
    with pytest.raises(ValueError, match="symmetric"):
        dist.squareform(dualad.Dual(np.arange(4.0).reshape(2, 2), np.ones((2, 2))))


def test_plain_calls_untouched():
    originals = dualad._foreign.ORIGINALS
    for name in ("pdist", "cdist", "squareform", "mahalanobis", "canberra"):
        assert getattr(getattr(dist, name), "_dualad_original", None) is not None, name
        assert originals[f"scipy.spatial.distance.{name}"] is not getattr(dist, name)
    got = dist.pdist(X0, "cosine")
    assert type(got) is np.ndarray
    np.testing.assert_array_equal(got, originals["scipy.spatial.distance.pdist"](X0, "cosine"))
    got = dist.cdist(X0, XB, "mahalanobis")
    ref = originals["scipy.spatial.distance.cdist"](X0, XB, "mahalanobis")
    np.testing.assert_array_equal(got, ref)
    assert dist.mahalanobis(X0[0], Y, VI) == originals["scipy.spatial.distance.mahalanobis"](
        X0[0], Y, VI
    )


def test_unsupported_metrics_raise():
    d = dualad.Dual(X0, np.ones(X0.shape))
    for metric in ("hamming", "jensenshannon", "test_euclidean"):
        with pytest.raises(NotImplementedError, match=metric):
            dist.pdist(d, metric)
        with pytest.raises(NotImplementedError, match=metric):
            dist.cdist(d, XB, metric)
    with pytest.raises(ValueError, match="Unknown Distance Metric: nosuch"):
        dist.pdist(d, "nosuch")
    with pytest.raises(NotImplementedError, match="out="):
        dist.pdist(d, out=np.empty(10))
    with pytest.raises(TypeError, match="unexpected"):
        dist.pdist(d, "euclidean", p=3)
    with pytest.raises(ValueError, match="too small"):
        dist.pdist(d[:3], "mahalanobis")
    with pytest.raises(ValueError, match="non-negative"):
        dist.cdist(d, XB, "cityblock", w=-W)


def test_no_pairs():
    d = dualad.Dual(X0[:1], np.ones((1, 3)))
    assert dist.pdist(d).shape == (0,)
    assert dist.pdist(d, lambda u, v: u @ v).shape == (0,)
    assert dist.cdist(d, np.zeros((0, 3)), lambda u, v: u @ v).shape == (1, 0)

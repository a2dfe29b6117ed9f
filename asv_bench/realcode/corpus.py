# ruff: noqa: BLE001, C408
"""The real-code corpus: third-party numerical functions nobody in this project wrote.

Every entry wraps one function from a pinned PyPI package (see ``PACKAGES`` and the
``realcode`` extra in pyproject.toml) as a callable of one float64 array ``x``.
The wrappers only adapt the calling convention (instantiate a benchmark class at a small
dimension, fix the non-differentiated arguments, pick the first objective of a
``(value,)`` tuple); they never rewrite the package's code. A wrapper must not call
dualad, and must not convert ``x`` itself.

``build()`` returns the list of ``Entry``s; a package that fails to import contributes
one ``Entry`` whose ``import_error`` is set, so the report shows it instead of hiding it.
Test points are drawn by ``Entry.candidates()``: seeded by the entry's name, inside the
declared domain (10% away from its edges), with fall-back boxes for functions whose
declared domain is too wide (overflow) or absent.
"""

from __future__ import annotations

import collections
import collections.abc
import inspect
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# The pinned versions; the `realcode` extra in pyproject.toml must say the same.
PACKAGES = {
    "opfunu": "1.0.4",
    "benchmark-functions": "1.1.4",
    "landscapes": "0.0.13",
    "deap": "1.4.4",
    "niapy": "2.7.1",
    "numpy-ml": "0.1.2",
    "optproblems": "1.3",
    "diversipy": "0.9",  # optproblems' undeclared dependency (multi-objective problems)
    "scipy": "1.17.1",
}


#: Functions whose finite differences agree with each other and still miss the derivative:
#: Weierstrass terms (cos(2 pi 3^k x), k <= 20) alias every usable step the same way. Their
#: dualad derivative was checked against the closed form instead (tests/test_buffers.py has
#: the Weierstrass check); a disagreement with finite differences is reported "unverified".
FD_UNRELIABLE = {
    "opfunu.cec_based.F292014.evaluate": (
        "contains opfunu's weierstrass_func (via F19 2014), whose dualad derivative equals the "
        "closed form sum_k a^k 2 pi b^k (-sin(2 pi b^k (x + 0.5))) to the last digit"
    ),
}


@dataclass
class Entry:
    package: str
    name: str  # qualified name, e.g. "opfunu.cec_based.F12017.evaluate"
    fn: Callable[[np.ndarray], Any] | None
    lb: Any = -2.0  # domain: scalars or arrays, broadcast to `shape`
    ub: Any = 2.0
    shape: tuple = (2,)
    x0: np.ndarray | None = None  # an explicit point overrides the domain
    note: str = ""
    import_error: str | None = None
    fallback: bool = True  # also try the generic boxes when the domain gives no finite value
    tags: tuple = field(default_factory=tuple)

    @property
    def dim(self) -> int:
        return int(np.prod(self.x0.shape if self.x0 is not None else self.shape))

    def candidates(self, tries: int = 3):
        """Test points: deterministic, seeded by the name, strictly inside the domain."""
        seed = zlib.crc32(self.name.encode())
        if self.x0 is not None:
            yield np.array(self.x0, dtype=np.float64)
        boxes = [(self.lb, self.ub)]
        if self.fallback:
            boxes += [(-2.0, 2.0), (0.1, 2.0), (0.1, 0.9)]
        for b, (lb, ub) in enumerate(boxes):
            lb = np.broadcast_to(np.asarray(lb, dtype=np.float64), self.shape)
            ub = np.broadcast_to(np.asarray(ub, dtype=np.float64), self.shape)
            for t in range(tries):
                rng = np.random.default_rng([seed, b, t])
                w = ub - lb
                if b == 0 and t > 0:  # a wide domain overflows: shrink towards its centre
                    c = (lb + ub) / 2
                    lb, ub = c - w / 8, c + w / 8
                    w = ub - lb
                yield rng.uniform(lb + 0.1 * w, ub - 0.1 * w)


def _with(f, *args, **kw):
    """x -> f(x, *args, **kw): the non-differentiated arguments fixed."""
    return lambda x: f(x, *args, **kw)


def _err(package, e):
    return [Entry(package, package, None, import_error=f"{type(e).__name__}: {e}")]


def _members(mod, pred):
    return [
        (n, o)
        for n, o in inspect.getmembers(mod, pred)
        if getattr(o, "__module__", "") == mod.__name__
    ]


# -- opfunu: ~300 benchmark classes, NumPy code (np.array(x).ravel() in the CEC helpers) ---


def _opfunu():
    try:
        import opfunu
    except Exception as e:  # pragma: no cover - reported
        return _err("opfunu", e)
    out = []
    for cname, cls in opfunu.FUNC_DATABASE:
        if cname in opfunu.EXCLUDES:
            continue
        try:
            p = cls()
        except Exception as e:
            out.append(Entry("opfunu", f"opfunu.name_based.{cname}", None, import_error=repr(e)))
            continue
        out.append(
            Entry(
                "opfunu",
                f"opfunu.name_based.{cname}.evaluate",
                p.evaluate,
                lb=p.lb,
                ub=p.ub,
                shape=(p.ndim,),
            )
        )
    for cname, cls in opfunu.CEC_DATABASE:
        if cname in opfunu.EXCLUDES:
            continue
        p = None
        params = inspect.signature(cls.__init__).parameters
        kws = (
            [dict(ndim=10, m_group=2)] if "m_group" in params else [dict(ndim=10), dict(ndim=2), {}]
        )
        for kw in kws:
            try:
                p = cls(**kw)
                break
            except Exception:
                p = None
        if p is None:
            out.append(
                Entry(
                    "opfunu",
                    f"opfunu.cec_based.{cname}",
                    None,
                    import_error="cannot instantiate at ndim 10 or 2",
                )
            )
            continue
        out.append(
            Entry(
                "opfunu",
                f"opfunu.cec_based.{cname}.evaluate",
                p.evaluate,
                lb=p.lb,
                ub=p.ub,
                shape=(p.ndim,),
            )
        )
    return out


# -- benchmark-functions: pure Python (pow, math.*, loops over the point) ------------------


def _benchmark_functions():
    try:
        import benchmark_functions as bf
    except Exception as e:
        return _err("benchmark-functions", e)
    out = []
    for cname, cls in inspect.getmembers(bf, inspect.isclass):
        if inspect.isabstract(cls) or not issubclass(cls, bf.BenchmarkFunction):
            continue
        kw = {"n_dimensions": 3} if "n_dimensions" in inspect.signature(cls).parameters else {}
        try:
            p = cls(**kw)
            lb, ub = p.suggested_bounds()
        except Exception as e:
            out.append(
                Entry(
                    "benchmark-functions",
                    f"benchmark_functions.{cname}",
                    None,
                    import_error=repr(e),
                )
            )
            continue
        n = p.n_dimensions()
        # validate=False: the validator requires every coordinate to be a float/int object
        out.append(
            Entry(
                "benchmark-functions",
                f"benchmark_functions.{cname}.__call__",
                _with(p, validate=False),
                lb=np.array(lb, float),
                ub=np.array(ub, float),
                shape=(n,),
                note="called with validate=False",
            )
        )
    return out


# -- landscapes: pure Python, `from math import cos, exp, ...` bound at import -------------

_LANDSCAPES_DIMS = {"xy": 2, "xyz": 3, "x": 3}
_LANDSCAPES_FIXED = {"colville": 4}  # takes `xy` but reads four coordinates


def _landscapes():
    try:
        import landscapes.single_objective as L
    except Exception as e:
        return _err("landscapes", e)
    out = []
    for fname, f in _members(L, inspect.isfunction):
        params = list(inspect.signature(f).parameters)
        n = _LANDSCAPES_FIXED.get(fname) or _LANDSCAPES_DIMS.get(params[0], 2)
        doc = f.__doc__ or ""
        lb, ub = -2.0, 2.0
        m = re.search(r"bounds:\s*(-?[\d.]+)\s*<=\s*[\w, ]+<=\s*(-?[\d.]+)", doc)
        if m:
            lb, ub = float(m.group(1)), float(m.group(2))
        out.append(
            Entry("landscapes", f"landscapes.single_objective.{fname}", f, lb=lb, ub=ub, shape=(n,))
        )
    return out


# -- deap.benchmarks: Python loops, math.*, functions return tuples -----------------------


def _deap():
    try:
        from deap import benchmarks as B
        from deap.benchmarks import gp
    except Exception as e:
        return _err("deap", e)

    def first(f):  # single objective: the fitness tuple (value,)
        return lambda x: f(x)[0]

    A = [[0.5, 0.5, 0.5], [0.25, 0.25, 0.7], [0.25, 0.75, 0.3], [0.75, 0.25, 0.2]]
    C = [0.002, 0.005, 0.005, 0.005]
    single = [  # name, callable, n, lb, ub
        ("rand", first(B.rand), 3, -2, 2),
        ("plane", first(B.plane), 3, -2, 2),
        ("sphere", first(B.sphere), 4, -2, 2),
        ("cigar", first(B.cigar), 4, -2, 2),
        ("rosenbrock", first(B.rosenbrock), 4, -2, 2),
        ("h1", first(B.h1), 2, -20, 20),
        ("ackley", first(B.ackley), 4, -15, 30),
        ("bohachevsky", first(B.bohachevsky), 4, -15, 15),
        ("griewank", first(B.griewank), 4, -60, 60),
        ("rastrigin", first(B.rastrigin), 4, -5.12, 5.12),
        ("rastrigin_scaled", first(B.rastrigin_scaled), 4, -5.12, 5.12),
        ("rastrigin_skew", first(B.rastrigin_skew), 4, -5.12, 5.12),
        ("schaffer", first(B.schaffer), 4, -100, 100),
        ("schwefel", first(B.schwefel), 4, -500, 500),
        ("himmelblau", first(B.himmelblau), 2, -6, 6),
        ("shekel", lambda x: B.shekel(x, A, C)[0], 3, 0, 1),
    ]
    multi = [
        ("kursawe", B.kursawe, 3, -5, 5),
        ("schaffer_mo", B.schaffer_mo, 1, -10, 10),
        ("zdt1", B.zdt1, 5, 0, 1),
        ("zdt2", B.zdt2, 5, 0, 1),
        ("zdt3", B.zdt3, 5, 0, 1),
        ("zdt4", B.zdt4, 5, 0, 1),
        ("zdt6", B.zdt6, 5, 0, 1),
        ("dtlz1", lambda x: B.dtlz1(x, 3), 5, 0, 1),
        ("dtlz2", lambda x: B.dtlz2(x, 3), 5, 0, 1),
        ("dtlz3", lambda x: B.dtlz3(x, 3), 5, 0, 1),
        ("dtlz4", lambda x: B.dtlz4(x, 3, 100), 5, 0, 1),
        ("dtlz5", lambda x: B.dtlz5(x, 3), 5, 0, 1),
        ("dtlz6", lambda x: B.dtlz6(x, 3), 5, 0, 1),
        ("dtlz7", lambda x: B.dtlz7(x, 3), 5, 0, 1),
        ("fonseca", B.fonseca, 3, -4, 4),
        ("poloni", B.poloni, 2, -3, 3),
        ("dent", B.dent, 2, -1.5, 1.5),
    ]
    gps = [
        ("kotanchek", gp.kotanchek, 2, -1, 7),
        ("salustowicz_1d", gp.salustowicz_1d, 1, 0, 10),
        ("salustowicz_2d", gp.salustowicz_2d, 2, 0, 7),
        ("unwrapped_ball", gp.unwrapped_ball, 3, -2, 8),
        ("rational_polynomial", gp.rational_polynomial, 3, 1, 2),
        ("sin_cos", gp.sin_cos, 2, 0, 6),
        ("ripple", gp.ripple, 2, -5, 5),
        ("rational_polynomial2", gp.rational_polynomial2, 2, 0, 6),
    ]
    out = []
    for name, f, n, lb, ub in single:
        out.append(
            Entry(
                "deap",
                f"deap.benchmarks.{name}",
                f,
                lb=lb,
                ub=ub,
                shape=(n,),
                note="[0] of the fitness tuple",
            )
        )
    for name, f, n, lb, ub in multi:
        out.append(
            Entry(
                "deap",
                f"deap.benchmarks.{name}",
                f,
                lb=lb,
                ub=ub,
                shape=(n,),
                note="multi-objective: tuple/list of objectives",
            )
        )
    for name, f, n, lb, ub in gps:
        out.append(Entry("deap", f"deap.benchmarks.gp.{name}", f, lb=lb, ub=ub, shape=(n,)))
    return out


# -- niapy.problems: NumPy, Problem.evaluate checks x.shape -------------------------------


def _niapy():
    try:
        import niapy.problems as P
    except Exception as e:
        return _err("niapy", e)
    out = []
    for cname in sorted(dir(P)):
        cls = getattr(P, cname)
        if not (inspect.isclass(cls) and issubclass(cls, P.Problem)) or cls is P.Problem:
            continue
        try:
            p = cls(dimension=4)
        except Exception as e:
            out.append(Entry("niapy", f"niapy.problems.{cname}", None, import_error=repr(e)))
            continue
        out.append(
            Entry(
                "niapy",
                f"niapy.problems.{cname}.evaluate",
                p.evaluate,
                lb=p.lower,
                ub=p.upper,
                shape=(p.dimension,),
            )
        )
    return out


# -- numpy-ml: activations, losses, kernels, conv utilities, layers, DSP -----------------


def _numpy_ml():
    # numpy-ml 0.1.2 imports collections.Hashable (removed in Python 3.10): alias it back
    for n in ("Hashable", "Iterable", "Mapping", "MutableMapping", "Sequence", "Callable"):
        if not hasattr(collections, n):
            setattr(collections, n, getattr(collections.abc, n))
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from numpy_ml.neural_nets import activations as A
            from numpy_ml.neural_nets import layers as LY
            from numpy_ml.neural_nets import losses as LS
            from numpy_ml.neural_nets.utils import utils as U
            from numpy_ml.preprocessing import dsp
            from numpy_ml.utils import distance_metrics as DM
            from numpy_ml.utils import kernels as K
    except Exception as e:
        return _err("numpy-ml", e)
    P = "numpy-ml"
    out = []
    rng = np.random.default_rng(1234)

    def add(name, f, x0=None, **kw):
        out.append(Entry(P, name, f, x0=x0, **kw))

    for cname in (
        "Sigmoid",
        "ReLU",
        "LeakyReLU",
        "Tanh",
        "Affine",
        "Identity",
        "ELU",
        "Exponential",
        "SELU",
        "HardSigmoid",
        "SoftPlus",
    ):
        act = getattr(A, cname)()
        for meth in ("fn", "grad", "grad2"):
            add(
                f"numpy_ml.activations.{cname}.{meth}",
                getattr(act, meth),
                lb=-2,
                ub=2,
                shape=(5,),
                fallback=False,
            )

    y = np.eye(3)[[0, 2, 1, 2]]  # one-hot labels, 4 examples x 3 classes
    add(
        "numpy_ml.losses.SquaredError.loss",
        lambda x: LS.SquaredError.loss(y, x),
        lb=-1,
        ub=2,
        shape=(4, 3),
    )
    # y_pred must be row-stochastic (asserted), so differentiate through numpy-ml's own softmax
    soft = LY.Softmax()
    add(
        "numpy_ml.losses.CrossEntropy.loss",
        lambda z: LS.CrossEntropy.loss(y, soft.forward(z)),
        lb=-2,
        ub=2,
        shape=(4, 3),
        note="y_pred = numpy_ml Softmax layer(z)",
    )
    add(
        "numpy_ml.losses.CrossEntropy.grad",
        lambda z: LS.CrossEntropy.grad(y, soft.forward(z)),
        lb=-2,
        ub=2,
        shape=(4, 3),
        note="y_pred = numpy_ml Softmax layer(z)",
    )
    tanh = A.Tanh()
    z0 = rng.normal(size=(4, 3))
    add(
        "numpy_ml.losses.SquaredError.grad[z]",
        lambda z: LS.SquaredError.grad(y, tanh(z), z, tanh),
        x0=z0,
    )
    yb = (rng.uniform(size=(3, 4)) > 0.5).astype(float)

    def vae(x, meth):
        y_pred, mu, logvar = x[:12].reshape(3, 4), x[12:15].reshape(3, 1), x[15:18].reshape(3, 1)
        return getattr(LS.VAELoss, meth)(yb, y_pred, mu, logvar)

    x_vae = np.concatenate(
        [rng.uniform(0.1, 0.9, 12), rng.normal(size=3), rng.normal(size=3) * 0.3]
    )
    add("numpy_ml.losses.VAELoss.loss", lambda x: vae(x, "loss"), x0=x_vae)
    add(
        "numpy_ml.losses.VAELoss.grad",
        lambda x: vae(x, "grad")[0],
        x0=x_vae,
        note="first of the returned gradient tuple",
    )

    Y = rng.normal(size=(2, 3))
    for kname, kern in (
        ("LinearKernel", K.LinearKernel()),
        ("PolynomialKernel", K.PolynomialKernel(d=3)),
        ("RBFKernel", K.RBFKernel(sigma=1.3)),
    ):
        add(f"numpy_ml.kernels.{kname}.__call__", _with(kern, Y), x0=rng.normal(size=(3, 3)))
    add(
        "numpy_ml.kernels.pairwise_l2_distances",
        lambda X: K.pairwise_l2_distances(X, Y),
        x0=rng.normal(size=(3, 3)),
    )
    yv = rng.normal(size=4)
    for dname in ("euclidean", "manhattan", "chebyshev"):
        add(
            f"numpy_ml.distance_metrics.{dname}",
            _with(getattr(DM, dname), yv),
            x0=yv + rng.normal(size=4),
        )
    add(
        "numpy_ml.distance_metrics.minkowski",
        lambda x: DM.minkowski(x, yv, 3),
        x0=yv + rng.normal(size=4),
    )

    W2 = rng.normal(size=(2, 2, 2, 3))  # (kr, kc, in_ch, out_ch)
    X2 = rng.normal(size=(1, 4, 4, 2))
    W1 = rng.normal(size=(2, 2, 3))  # (kw, in_ch, out_ch)
    X1 = rng.normal(size=(1, 5, 2))
    add("numpy_ml.nn_utils.conv2D[X]", lambda X: U.conv2D(X, W2, 1, 1), x0=X2)
    add("numpy_ml.nn_utils.conv2D[W]", lambda W: U.conv2D(X2, W, 1, 1), x0=W2)
    add("numpy_ml.nn_utils.conv2D_naive[X]", lambda X: U.conv2D_naive(X, W2, 1, 0), x0=X2)
    add("numpy_ml.nn_utils.deconv2D_naive[X]", lambda X: U.deconv2D_naive(X, W2, 1, 0), x0=X2)
    add("numpy_ml.nn_utils.conv1D[X]", lambda X: U.conv1D(X, W1, 1, 1), x0=X1)
    add("numpy_ml.nn_utils.pad2D", lambda X: U.pad2D(X, 1)[0], x0=X2)
    add("numpy_ml.nn_utils.pad1D", lambda X: U.pad1D(X, 1)[0], x0=X1)
    add("numpy_ml.nn_utils.dilate", lambda X: U.dilate(X, 1), x0=X2)
    add("numpy_ml.nn_utils.im2col", lambda X: U.im2col(X, W2.shape, 1, 1)[0], x0=X2)
    cols, p4 = U.im2col(X2, W2.shape, 1, 1)
    add("numpy_ml.nn_utils.col2im", lambda C: U.col2im(C, X2.shape, W2.shape, p4, 1), x0=cols)

    def layer(cls, *a, seed=0, call="forward", **kw):
        def f(X):
            np.random.seed(seed)  # the layers draw their weights from the global generator
            lay = cls(*a, **kw)
            return getattr(lay, call)(X)

        return f

    Xb = rng.normal(size=(3, 4))
    for name, f, x0 in (
        ("FullyConnected(tanh)", layer(LY.FullyConnected, 3, act_fn="Tanh"), Xb),
        ("FullyConnected(sigmoid)", layer(LY.FullyConnected, 2, act_fn="Sigmoid"), Xb),
        ("Softmax", layer(LY.Softmax), Xb),
        ("LayerNorm1D", layer(LY.LayerNorm1D), Xb),
        ("BatchNorm1D", layer(LY.BatchNorm1D), Xb),
        ("LayerNorm2D", layer(LY.LayerNorm2D), X2),
        ("BatchNorm2D", layer(LY.BatchNorm2D), X2),
        ("Conv1D", layer(LY.Conv1D, out_ch=2, kernel_width=2, pad="same"), X1),
        ("Conv2D", layer(LY.Conv2D, out_ch=2, kernel_shape=(2, 2), pad="same"), X2),
        ("Deconv2D", layer(LY.Deconv2D, out_ch=2, kernel_shape=(2, 2)), X2),
        ("Pool2D(max)", layer(LY.Pool2D, (2, 2), stride=2, mode="max"), X2),
        ("Pool2D(average)", layer(LY.Pool2D, (2, 2), stride=2, mode="average"), X2),
        ("Flatten", layer(LY.Flatten), X2),
        ("RNNCell", layer(LY.RNNCell, 3), Xb),
        ("LSTMCell", layer(LY.LSTMCell, 3), Xb),
    ):
        add(
            f"numpy_ml.layers.{name}.forward",
            f,
            x0=x0,
            note="fresh layer per call, weights from np.random.seed(0)",
        )

    sig = np.sin(np.linspace(0, 7, 16)) + 0.3 * rng.normal(size=16)
    add("numpy_ml.dsp.DCT", lambda x: dsp.DCT(x), x0=sig[:8])
    add("numpy_ml.dsp.autocorrelate1D", dsp.autocorrelate1D, x0=sig[:8])
    add("numpy_ml.dsp.preemphasis", lambda x: dsp.preemphasis(x, 0.95), x0=sig[:8])
    add(
        "numpy_ml.dsp.cepstral_lifter",
        lambda x: dsp.cepstral_lifter(x, 3),
        x0=sig[:12].reshape(3, 4),
    )
    add("numpy_ml.dsp.magnitude_spectrum", dsp.magnitude_spectrum, x0=sig.reshape(2, 8))
    add("numpy_ml.dsp.power_spectrum", dsp.power_spectrum, x0=sig.reshape(2, 8))
    add("numpy_ml.dsp.hz2mel", dsp.hz2mel, lb=50, ub=8000, shape=(4,), fallback=False)
    add("numpy_ml.dsp.mel2hz", dsp.mel2hz, lb=50, ub=2000, shape=(4,), fallback=False)
    img = rng.normal(size=(4, 4, 1))
    xs, ys = np.array([0.3, 1.7, 2.2]), np.array([1.4, 0.6, 2.5])
    add(
        "numpy_ml.dsp.bilinear_interpolate[X]",
        lambda X: dsp.bilinear_interpolate(X, xs, ys),
        x0=img,
    )
    add("numpy_ml.dsp.batch_resample", lambda X: dsp.batch_resample(X, (3, 3)), x0=X2)
    add(
        "numpy_ml.dsp.mel_spectrogram",
        lambda x: dsp.mel_spectrogram(
            x, fs=400, window_duration=0.02, stride_duration=0.01, n_filters=3
        ),
        x0=np.sin(np.linspace(0, 20, 32)) + 0.2 * rng.normal(size=32),
    )
    return out


# -- optproblems: pure Python test problems, CEC 2005, ZDT, DTLZ, WFG --------------------


def _optproblems():
    try:
        import optproblems.cec2005 as cec
        import optproblems.continuous as C
    except Exception as e:
        return _err("optproblems", e)
    P = "optproblems"
    out = []

    def add(name, prob, n=None):
        n = n or prob.num_variables
        lb = np.asarray(getattr(prob, "min_bounds", None) or [-2.0] * n, float)
        ub = np.asarray(getattr(prob, "max_bounds", None) or [2.0] * n, float)
        out.append(Entry(P, name, prob.objective_function, lb=lb, ub=ub, shape=(n,)))

    specs = [
        ("Ackley", dict(num_variables=4)),
        ("DoubleSum", dict(num_variables=4)),
        ("Ellipsoid", dict(num_variables=4)),
        ("FletcherPowell", dict(num_variables=4)),
        ("Griewank", dict(num_variables=4)),
        ("Himmelblau", {}),
        ("LunacekTwoRastrigins", dict(num_variables=4)),
        ("LunacekTwoSpheres", dict(num_variables=4)),
        ("ModifiedRastrigin", dict(num_variables=4)),
        ("Rastrigin", dict(num_variables=4)),
        ("Rosenbrock", dict(num_variables=4)),
        ("Schaffer6", {}),
        ("Schaffer7", {}),
        ("Schwefel", dict(num_variables=4)),
        ("SixHumpCamelback", {}),
        ("Sphere", dict(num_variables=4)),
        ("Vincent", dict(num_variables=4)),
        ("Weierstrass", dict(num_variables=4)),
        ("Shekel", dict(num_optima=5)),
        ("Hartman3", {}),
        ("Hartman6", {}),
        ("Branin", {}),
        ("GoldsteinPrice", {}),
    ]
    for cname, kw in specs:
        try:
            prob = getattr(C, cname)(**kw)
            n = getattr(prob, "num_variables", None) or {
                "Himmelblau": 2,
                "Schaffer6": 2,
                "Schaffer7": 2,
                "SixHumpCamelback": 2,
                "Branin": 2,
                "GoldsteinPrice": 2,
                "Hartman3": 3,
                "Hartman6": 6,
                "Shekel": 4,
            }.get(cname, 2)
            add(f"optproblems.continuous.{cname}.objective_function", prob, n)
        except Exception as e:
            out.append(Entry(P, f"optproblems.continuous.{cname}", None, import_error=repr(e)))
    for i in range(1, 26):
        try:
            prob = getattr(cec, f"F{i}")(num_variables=10)
            add(f"optproblems.cec2005.F{i}.objective_function", prob, 10)
        except Exception as e:
            out.append(Entry(P, f"optproblems.cec2005.F{i}", None, import_error=repr(e)))
    try:
        import optproblems.dtlz as D
        import optproblems.wfg as W
        import optproblems.zdt as Z
    except Exception as e:
        out += _err(P + " (multi-objective)", e)
        return out
    mo = [
        (f"zdt.ZDT{i}", lambda i=i: getattr(Z, f"ZDT{i}")(num_variables=5)) for i in (1, 2, 3, 4, 6)
    ]
    mo += [(f"dtlz.DTLZ{i}", lambda i=i: getattr(D, f"DTLZ{i}")(3, 5)) for i in range(1, 8)]
    mo += [(f"wfg.WFG{i}", lambda i=i: getattr(W, f"WFG{i}")(2, 6, 2)) for i in range(1, 10)]
    for name, make in mo:
        try:
            prob = make()
            add(f"optproblems.{name}.objective_function", prob, prob.num_variables)
            out[-1].note = "multi-objective: list of objectives"
        except Exception as e:
            out.append(Entry(P, f"optproblems.{name}", None, import_error=repr(e)))
    return out


# -- scipy: optimize/special/stats/spatial/linalg/integrate/signal -----------------------


def _scipy():
    try:
        import scipy.integrate as si
        import scipy.linalg as sl
        import scipy.optimize as so
        import scipy.signal as ss
        import scipy.spatial.distance as sd
        import scipy.special as sp
        import scipy.stats as st
    except Exception as e:
        return _err("scipy", e)
    P = "scipy"
    out = []
    rng = np.random.default_rng(99)

    def add(name, f, x0=None, **kw):
        out.append(Entry(P, name, f, x0=x0, **kw))

    add("scipy.optimize.rosen", so.rosen, lb=-2, ub=2, shape=(4,))
    add("scipy.optimize.rosen_der", so.rosen_der, lb=-2, ub=2, shape=(4,))
    add("scipy.optimize.rosen_hess", so.rosen_hess, lb=-2, ub=2, shape=(4,))
    pv = rng.normal(size=4)
    add(
        "scipy.optimize.rosen_hess_prod",
        lambda x: so.rosen_hess_prod(x, pv),
        lb=-2,
        ub=2,
        shape=(4,),
    )
    for fname in ("logsumexp", "softmax", "log_softmax"):
        add(f"scipy.special.{fname}", getattr(sp, fname), lb=-3, ub=3, shape=(5,))
    add(
        "scipy.special.logsumexp[b=]",
        lambda x: sp.logsumexp(x, b=np.arange(1.0, 6.0)),
        lb=-3,
        ub=3,
        shape=(5,),
    )
    for fname, lb, ub in (
        ("expit", -4, 4),
        ("logit", 0.05, 0.95),
        ("erf", -2, 2),
        ("erfc", -2, 2),
        ("erfinv", -0.9, 0.9),
        ("gammaln", 0.2, 5),
        ("digamma", 0.2, 5),
        ("gamma", 0.2, 4),
        ("ndtr", -3, 3),
        ("ndtri", 0.05, 0.95),
        ("log_ndtr", -3, 3),
        ("entr", 0.05, 3),
        ("j0", -5, 5),
        ("j1", -5, 5),
        ("i0", -3, 3),
        ("log1p", -0.5, 3),
        ("expm1", -2, 2),
        ("sindg", -80, 80),
        ("cbrt", 0.2, 3),
        ("exp2", -2, 2),
        ("spence", 0.1, 3),
        ("erfcx", -1, 3),
        ("log_expit", -4, 4),
        ("xlogy", 0.1, 3),
    ):
        f = getattr(sp, fname)
        if fname == "xlogy":
            add("scipy.special.xlogy", lambda x: sp.xlogy(x, x + 1.0), lb=lb, ub=ub, shape=(4,))
        else:
            add(f"scipy.special.{fname}", f, lb=lb, ub=ub, shape=(4,), fallback=False)
    q = rng.uniform(0.2, 1.0, 4)
    add("scipy.special.rel_entr", lambda x: sp.rel_entr(x, q), lb=0.1, ub=2, shape=(4,))
    add("scipy.special.kl_div", lambda x: sp.kl_div(x, q), lb=0.1, ub=2, shape=(4,))
    add("scipy.special.huber", lambda x: sp.huber(1.0, x), lb=-3, ub=3, shape=(4,))
    add("scipy.special.pseudo_huber", lambda x: sp.pseudo_huber(1.0, x), lb=-3, ub=3, shape=(4,))
    add("scipy.special.beta", lambda x: sp.beta(x[:2], x[2:]), lb=0.3, ub=3, shape=(4,))
    add("scipy.special.boxcox", lambda x: sp.boxcox(x, 0.3), lb=0.2, ub=3, shape=(4,))

    for dname, args, lb, ub in (
        ("norm", (), -3, 3),
        ("t", (3.0,), -3, 3),
        ("gamma", (2.0,), 0.2, 5),
        ("expon", (), 0.1, 4),
        ("beta", (2.0, 3.0), 0.05, 0.95),
        ("logistic", (), -3, 3),
        ("cauchy", (), -3, 3),
        ("lognorm", (0.7,), 0.2, 4),
        ("laplace", (), 0.1, 3),
    ):
        dist = getattr(st, dname)
        for meth in ("logpdf", "pdf", "cdf"):
            add(
                f"scipy.stats.{dname}.{meth}",
                _with(getattr(dist, meth), *args),
                lb=lb,
                ub=ub,
                shape=(3,),
                fallback=False,
            )
    add(
        "scipy.stats.norm.logpdf[loc,scale]",
        lambda x: st.norm.logpdf(1.3, loc=x[0], scale=x[1]),
        lb=[-1, 0.5],
        ub=[1, 2],
        shape=(2,),
        fallback=False,
    )
    mean = rng.normal(size=3)
    M = rng.normal(size=(3, 3))
    cov = M @ M.T + 3 * np.eye(3)
    add(
        "scipy.stats.multivariate_normal.logpdf",
        lambda x: st.multivariate_normal.logpdf(x, mean, cov),
        lb=-2,
        ub=2,
        shape=(3,),
    )
    add(
        "scipy.stats.multivariate_normal.pdf",
        lambda x: st.multivariate_normal.pdf(x, mean, cov),
        lb=-2,
        ub=2,
        shape=(3,),
    )
    add(
        "scipy.stats.multivariate_normal.logpdf[mean]",
        lambda m: st.multivariate_normal.logpdf(np.array([0.3, -0.2, 0.5]), m, cov),
        lb=-2,
        ub=2,
        shape=(3,),
    )
    for fname, lb, ub in (
        ("zscore", -3, 3),
        ("skew", -3, 3),
        ("kurtosis", -3, 3),
        ("gmean", 0.2, 4),
        ("hmean", 0.2, 4),
        ("variation", 0.5, 4),
        ("sem", -3, 3),
        ("entropy", 0.1, 2),
        ("moment", -3, 3),
    ):
        add(f"scipy.stats.{fname}", getattr(st, fname), lb=lb, ub=ub, shape=(6,), fallback=False)

    yq = rng.normal(size=4)
    for fname in (
        "euclidean",
        "sqeuclidean",
        "cosine",
        "correlation",
        "cityblock",
        "chebyshev",
        "braycurtis",
        "canberra",
        "minkowski",
    ):
        add(
            f"scipy.spatial.distance.{fname}",
            _with(getattr(sd, fname), yq),
            x0=yq + rng.uniform(0.5, 1.5, 4) * rng.choice([-1, 1], 4),
        )
    add(
        "scipy.spatial.distance.mahalanobis",
        lambda x: sd.mahalanobis(x, yq[:3], np.linalg.inv(cov)),
        x0=mean + 0.5,
    )
    add("scipy.spatial.distance.pdist", lambda X: sd.pdist(X), x0=rng.normal(size=(3, 2)))
    add(
        "scipy.spatial.distance.cdist",
        lambda X: sd.cdist(X, yq.reshape(2, 2)),
        x0=rng.normal(size=(3, 2)),
    )

    A0 = rng.normal(size=(3, 3)) + 3 * np.eye(3)
    b0 = rng.normal(size=3)
    add("scipy.linalg.det", sl.det, x0=A0)
    add("scipy.linalg.inv", sl.inv, x0=A0)
    add("scipy.linalg.solve[A]", lambda A: sl.solve(A, b0), x0=A0)
    add("scipy.linalg.solve[b]", lambda b: sl.solve(A0, b), x0=b0)
    add("scipy.linalg.expm", sl.expm, x0=A0 * 0.3)
    add("scipy.linalg.norm", sl.norm, x0=A0)
    add("scipy.linalg.cho_solve[b]", lambda b: sl.cho_solve(sl.cho_factor(cov), b), x0=b0)
    add("scipy.linalg.logm[sym]", lambda A: sl.logm(A @ A.T + np.eye(3)).real, x0=A0 * 0.3)

    yy = np.sin(np.linspace(0, 3, 7)) + 0.1 * rng.normal(size=7)
    add("scipy.integrate.trapezoid", si.trapezoid, x0=yy)
    add("scipy.integrate.simpson", si.simpson, x0=yy)
    add("scipy.integrate.cumulative_trapezoid", si.cumulative_trapezoid, x0=yy)
    add("scipy.signal.convolve", lambda x: ss.convolve(x, [0.2, 0.5, 0.3]), x0=yy)
    add("scipy.signal.lfilter", lambda x: ss.lfilter([0.3, 0.2], [1.0, -0.4], x), x0=yy)
    add("scipy.signal.savgol_filter", lambda x: ss.savgol_filter(x, 5, 2), x0=yy)
    return out


BUILDERS = {
    "opfunu": _opfunu,
    "benchmark-functions": _benchmark_functions,
    "landscapes": _landscapes,
    "deap": _deap,
    "niapy": _niapy,
    "numpy-ml": _numpy_ml,
    "optproblems": _optproblems,
    "scipy": _scipy,
}


def build(packages=None) -> list[Entry]:
    out = []
    for name, builder in BUILDERS.items():
        if packages and name not in packages:
            continue
        out += builder()
    return out


if __name__ == "__main__":  # python asv_bench/realcode/corpus.py: list the corpus
    es = build()
    for e in es:
        print(f"{e.package:20s} {e.name:60s} dim={e.dim}", e.import_error or "")
    print(len(es), "entries;", sum(e.fn is not None for e in es), "callable")

"""A value that escapes the transform that made it (kept in a global, a cache or a closure)
raises when used again, in both modes, as JAX's leaked tracers: its derivative belongs to a
call that has returned, and mixing it into a later call would silently treat it as a
constant."""

import numpy as np
import pytest

import dualad

X = np.array([0.3, 0.7, 1.1])


def leak(mode, scalar=False, **kw):
    """Run a transform whose function stores its traced intermediate; return that value."""
    box = []

    def f(x):
        y = np.sin(x[0]) * x[1] if scalar else np.sin(x) * 2.0
        box.append(y)
        return np.sum(y)

    dualad.grad(f, X, mode=mode, **kw)
    return box[0]


@pytest.mark.parametrize("mode", ["forward", "reverse"])
@pytest.mark.parametrize("scalar", [False, True])
def test_a_leaked_value_used_in_a_later_gradient_raises(mode, scalar):
    old = leak(mode, scalar)

    def g(x):
        return np.sum(np.cos(old) * x)

    for later in ("forward", "reverse"):
        with pytest.raises(RuntimeError, match="finished|no longer recording"):
            dualad.grad(g, X, mode=later)
        with pytest.raises(RuntimeError, match="finished|no longer recording"):
            dualad.jacobian(lambda x: old * x, X, mode=later)


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_a_leaked_array_raises_at_top_level(mode):
    old = leak(mode)
    with pytest.raises(RuntimeError, match="finished|no longer recording"):
        np.exp(old)
    with pytest.raises(RuntimeError, match="finished|no longer recording"):
        np.sum(old)


def test_a_leaked_value_returned_by_a_later_transform_raises():
    old = leak("forward", scalar=True)
    for mode in ("forward", "reverse"):
        with pytest.raises(RuntimeError, match="finished|no longer recording"):
            dualad.grad(lambda x: old + np.sum(x), X, mode=mode)


def test_leaks_from_jvp_hessian_and_hvp_raise():
    box = []

    def f(x):
        y = x**3
        box.append(y)
        return np.sum(y)

    dualad.jvp(f, X, np.ones(3))
    dualad.hessian(f, X, method="hyperdual")
    dualad.hessian(f, X, method="accumulate")
    dualad.hvp(f, X, np.ones(3), method="forward-over-forward")
    dualad.hvp(f, X, np.ones(3))
    dualad.value_and_grad(f, X, mode="forward")
    dualad.value_and_grad(lambda d: f(d["a"]), {"a": X}, mode="forward")
    dualad.jacobian(lambda x: x * np.sum(f(x)), np.linspace(0.1, 1, 200), mode="forward")
    dualad.derivative(lambda x: f(x) + 0.0 * x, X)  # (derivative: elementwise outputs)
    assert len(box) == 9
    for old in box:
        with pytest.raises(RuntimeError, match="finished|no longer recording"):
            dualad.grad(lambda x, old=old: np.sum(np.sin(old) * x), X, mode="forward")
        with pytest.raises(RuntimeError, match="finished|no longer recording"):
            dualad.grad(lambda x, old=old: np.sum(old * x), X, mode="reverse")


def test_nested_transforms_keep_the_outer_value_live():
    # the inner grad closes its own level only: the outer Dual it captured stays usable
    def outer(x):
        def inner(y):
            return np.sum(x * y**2)

        return np.sum(dualad.grad(inner, x, mode="forward"))

    h = dualad.grad(outer, X, mode="forward")
    np.testing.assert_allclose(h, 2 * X + 2 * X, rtol=1e-12)  # d/dx sum(2 x * x) = 4 x


def test_hand_built_duals_never_expire():
    d = dualad.Dual(np.array([1.0, 2.0]), np.array([1.0, 0.0]))
    dualad.grad(lambda x: np.sum(x**2), X)
    np.testing.assert_allclose(np.sin(d).tangent, [np.cos(1.0), 0.0])
    t = dualad.Dual(np.array([1.0]), np.array([1.0]), tag=7)
    np.testing.assert_allclose(np.exp(t).tangent, [np.e])


def test_the_primal_of_a_leak_is_an_ordinary_array():
    old = leak("forward")
    np.testing.assert_allclose(old.primal, np.sin(X) * 2.0)

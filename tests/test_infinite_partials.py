"""A zero tangent or cotangent contributes zero through an infinite partial (sqrt at 0).

Found on third-party code (opfunu's Cola: pairwise distances sqrt(d**2), diagonal dropped
by np.tril): reverse mode returned NaN everywhere where the gradient is finite.
"""

import numpy as np
import pytest

import dualad


def pairwise(x):
    d = x[:, None] - x[None, :]
    return np.sum(np.tril(np.sqrt(d**2), -1))


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_dropped_entries_with_infinite_partials(mode):
    x = np.array([0.3, 1.1, 2.0])
    # sum over i > j of |x_i - x_j|: d/dx = (#smaller - #larger) per entry
    np.testing.assert_array_equal(dualad.grad(pairwise, x, mode=mode), [-2.0, 0.0, 2.0])


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_tril_of_sqrt_with_zeros(mode):
    X = np.array([[0.0, 1.0], [4.0, 0.0]])
    g = dualad.grad(lambda X: np.sum(np.tril(np.sqrt(X), -1)), X, mode=mode)
    np.testing.assert_array_equal(g, [[0.0, 0.0], [0.25, 0.0]])


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_other_columns_stay_zero(mode):
    J = dualad.jacobian(np.sqrt, np.array([0.0, 1.0]), mode=mode)
    assert J[0, 0] == np.inf  # the derivative itself is infinite there
    np.testing.assert_array_equal([J[0, 1], J[1, 0], J[1, 1]], [0.0, 0.0, 0.5])


def test_hessian_of_pairwise_distances():
    x = np.array([0.3, 1.1, 2.0])
    np.testing.assert_array_equal(dualad.hessian(pairwise, x), np.zeros((3, 3)))

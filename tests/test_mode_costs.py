"""mode="auto" by measured cost (issue 10, item 5): the schedule, the answers, the reasons."""

import numpy as np
import pytest

import dualad
from dualad import _first, _mode
from dualad._seeding import _leaves


def _costs(f, x):
    xs, td = _leaves(x)
    return _mode.costs(f, xs, td)


class FakeClock:
    """A clock whose calls cost what ``price[mode]`` says, for the mode the tuner picked."""

    def __init__(self, price):
        self.price, self.now, self.mode = price, 0.0, None

    def __call__(self):
        self.now += self.price[self.mode] if self.mode else 0.0
        return self.now


def _run(monkeypatch, f, x, price, calls, call=dualad.grad):
    clock = FakeClock(price)
    monkeypatch.setattr(_first, "clock", clock)
    real_pick = _mode.pick

    def pick(n_in, c):
        clock.mode = real_pick(n_in, c)
        return clock.mode

    monkeypatch.setattr(_first, "pick", pick)
    picked = []
    for _ in range(calls):
        clock.mode = None
        call(f, x)
        picked.append(clock.mode)
    return picked


def test_auto_settles_on_the_mode_measured_cheaper(monkeypatch):
    def f(x):  # 10 inputs, 1 output: reverse by sizes
        return np.sum(np.sin(x) * x)

    x = np.linspace(0.1, 1.0, 10)
    picked = _run(monkeypatch, f, x, {"forward": 1.0, "reverse": 3.0}, 40)
    assert picked[:6] == ["reverse"] * 3 + ["forward"] * 3  # the rule's first, then the other
    assert picked[6:].count("forward") >= 26  # then mostly the cheaper one
    assert picked.count("reverse") <= 3 + 2 * 4  # re-measured in pairs, exponentially rarely
    reason = dualad.choose_mode(f, x).reason
    assert "measured" in reason and "forward 1000000.0 us" in reason


def test_auto_keeps_the_rule_where_it_measures_cheaper(monkeypatch):
    def f(x):
        return np.sum(np.cos(x) ** 2)

    x = np.linspace(0.1, 1.0, 12)
    picked = _run(monkeypatch, f, x, {"forward": 5.0, "reverse": 1.0}, 40)
    assert picked[6:].count("reverse") >= 26


def test_an_implausible_mode_is_never_tried(monkeypatch):
    def f(x):  # 200 inputs, 1 output: forward would carry 200 directions
        return np.sum(x**2)

    x = np.linspace(0.1, 1.0, 200)
    picked = _run(monkeypatch, f, x, {"forward": 0.1, "reverse": 1.0}, 20)
    assert set(picked) == {"reverse"}
    assert "forward not tried" in dualad.choose_mode(f, x).reason


def test_jacobian_learns_its_output_size_without_an_extra_evaluation():
    calls = []

    def f(x):
        calls.append(1)
        return np.outer(x, x)[:2].ravel()  # 10 inputs, 20 outputs

    x = np.linspace(0.1, 1.0, 10)
    J = dualad.jacobian(f, x)
    assert len(calls) == 1  # one forward pass carrying all 10 directions, nothing else
    assert _costs(f, x).n_out == 20
    np.testing.assert_allclose(J, dualad.jacobian(f, x, mode="reverse"), rtol=1e-14)


@pytest.mark.parametrize("door", ["grad", "value_and_grad", "jacobian", "tuple", "intercept"])
def test_every_auto_door_gives_the_same_answer_on_every_call(door):
    def f(x):
        v = x if not isinstance(x, tuple) else np.stack(x)
        return np.sum(np.exp(v) * v[::-1])

    x = np.linspace(0.1, 0.9, 6)
    want = np.exp(x) * x[::-1] + np.exp(x)[::-1]  # d/dx_i of sum_j e^x_j x_(n-1-j)
    for _ in range(30):  # through the tries of both modes and past them
        if door == "grad":
            g = dualad.grad(f, x)
        elif door == "value_and_grad":
            g = dualad.value_and_grad(f, x)[1]
        elif door == "jacobian":
            g = dualad.jacobian(f, x)
        elif door == "tuple":
            g = np.array(dualad.grad(f, tuple(x)))
        else:
            g = dualad.grad(f, x, intercept=True)
        np.testing.assert_allclose(g, want, rtol=1e-13)
    key = f
    assert _mode._COSTS[id(key)][1]  # the wrappers' costs belong to f


def test_functions_without_weak_references_take_the_rule():
    x = np.linspace(0.1, 1.0, 5)
    np.testing.assert_allclose(dualad.jacobian(np.sin, x), np.diag(np.cos(x)), rtol=1e-15)
    assert _costs(np.sin, x) is None
    assert dualad.choose_mode(np.sin, x).mode == "forward"


def test_interleaved_calls_without_warm_samples_never_break_the_choice():
    # calls of one function from nested or concurrent grads interleave: no streak forms
    c = _mode.Costs(1)
    for _ in range(10):
        c.observe("forward", 1e-5)
        c.observe("reverse", 2e-5)
        assert _mode.pick(10, c) in ("forward", "reverse")

    def f(x):  # grad of f inside f's own gradient: the same key, nested
        return np.sum(np.sin(x) * dualad.grad(lambda y: np.sum(y**2), x * 1.0))

    x = np.linspace(0.1, 1.0, 5)
    for _ in range(10):
        g = dualad.grad(f, x)
    np.testing.assert_allclose(g, np.cos(x) * 2 * x + 2 * np.sin(x), rtol=1e-13)


def test_bound_methods_keep_their_measured_costs():
    class Model:
        def __init__(self):
            self.w = np.linspace(0.5, 1.5, 6)

        def loss(self, x):
            return np.sum(np.sin(self.w * x))

        def other(self, x):
            return np.sum(np.cos(self.w * x))

    m = Model()
    x = np.linspace(0.1, 0.6, 6)
    for _ in range(8):
        g = dualad.grad(m.loss, x)  # m.loss is a new bound-method object each time
    np.testing.assert_allclose(g, m.w * np.cos(m.w * x), rtol=1e-14)
    c = _costs(m.loss, x)
    assert c is not None and sum(c.calls.values()) == 8
    assert _costs(m.other, x) is None  # another method of the same instance: its own entry

"""The rule tables: disjoint groups, every rule usable in both modes, errors name functions."""

import inspect

import numpy as np
import pytest

from dualad.rules import COMPOSITES, PRIMAL_ONLY, RULES, UNSUPPORTED, lookup


def test_groups_are_disjoint():
    r, p, u, c = set(RULES), set(PRIMAL_ONLY), set(UNSUPPORTED), set(COMPOSITES)
    assert not (r & p), f"in RULES and PRIMAL_ONLY: {r & p}"
    assert not (r & u), f"in RULES and UNSUPPORTED: {r & u}"
    assert not (p & u), f"in PRIMAL_ONLY and UNSUPPORTED: {p & u}"
    assert not (c & (r | p | u)), f"composites also in another table: {c & (r | p | u)}"


def test_composites_keep_numpys_signatures():
    # NumPy passes the caller's arguments through unchanged: a composite must accept the
    # same parameter names, or a keyword argument would fail only on a wrapper
    for func, impl in COMPOSITES.items():
        want = inspect.signature(func).parameters
        have = inspect.signature(impl).parameters
        assert list(have) == list(want), f"{func.__name__}: {list(have)} vs {list(want)}"


def test_every_rule_has_forward_and_reverse():
    # forward/reverse parity: one table serves both modes, so a rule without either half
    # would be a mode that silently lacks the operation
    for func, rule in RULES.items():
        assert callable(rule.jvp), f"{rule.name} has no jvp"
        assert callable(rule.vjp), f"{rule.name} has no vjp"
        assert rule.name, func


def test_vjp_signatures_accept_the_numpy_arguments():
    for rule in RULES.values():
        params = inspect.signature(rule.vjp).parameters
        assert len(params) >= 2, f"{rule.name}: vjp(out_bar, out, *args) expected"


def test_unsupported_entries_give_reasons():
    for func, why in UNSUPPORTED.items():
        assert isinstance(why, str) and len(why) > 10, func
        with pytest.raises(NotImplementedError, match="does not differentiate"):
            lookup(func)


def test_lookup_names_the_function():
    with pytest.raises(NotImplementedError, match=r"numpy\.intersect1d"):
        lookup(np.intersect1d)


def test_every_numpy_ufunc_is_classified():
    ufuncs = {getattr(np, n) for n in dir(np) if isinstance(getattr(np, n), np.ufunc)}
    missing = ufuncs - set(RULES) - set(PRIMAL_ONLY) - set(UNSUPPORTED)
    assert not missing, sorted(u.__name__ for u in missing)


def test_tape_and_dual_see_the_same_table():
    import dualad.dual
    import tape.variable

    assert tape.variable.lookup is dualad.dual.lookup
    assert tape.variable.PRIMAL_ONLY is dualad.dual.PRIMAL_ONLY
    assert tape.variable.COMPOSITES is dualad.dual.COMPOSITES


def test_every_dispatched_numpy_function_is_classified():
    # every function NumPy hands to __array_function__ (in np, np.linalg, np.fft) has a rule,
    # a restatement, a primal-only or unsupported entry, or is an in-place writer: none falls
    # through to the generic "no derivative rule" error
    from dualad._numpy import np as numpy_as_imported  # interception's wrappers left out
    from dualad._writers import IN_PLACE

    known = set(RULES) | set(PRIMAL_ONLY) | set(UNSUPPORTED) | set(COMPOSITES) | set(IN_PLACE)
    known.add(np.block)
    missing = []
    for mod, prefix in ((numpy_as_imported, "np."), (np.linalg, "np.linalg."), (np.fft, "np.fft.")):
        for name in dir(mod):
            f = getattr(mod, name)
            dispatched = type(f).__name__ == "_ArrayFunctionDispatcher"
            if not name.startswith("_") and dispatched and f not in known:
                missing.append(prefix + name)
    assert not missing, missing

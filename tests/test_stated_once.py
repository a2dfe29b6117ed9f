"""Each derivative is stated once, in dualad/rules/ (issue 10, item 1).

The scalar kernels (dualad._kernels, run by dualad._scalar) and the tape's scalar records (tape._fast) run
the rule table's own partial lines on Python floats (``_on_floats`` binds their ``np`` to
a float namespace), so their partials *are* the table's functions. What is still restated
beside the table is this explicit skip list, each with its reason; adding another
restatement fails here.
"""

import ast
import importlib
import inspect
import textwrap

import numpy as np
import pytest

import tape._fast as tv
from dualad import _kernels, _scalar
from dualad.rules import RULES
from dualad.rules._define import NEG, ONE

#: restated beside the table, and why (each is also compared numerically with the table's
#: rule: tests/test_scalar.py, tests/test_dual.py, tests/tape/test_scalar_path.py)
SKIP = {
    # + - * / inline in one generated method per operator: a call per partial would cost
    # about a third of scalar code's time (ForwardDiff.jl inlines these the same way)
    "_scalar.OPERATOR_RULES": "inline operator templates",
    "_scalar.UNARY_RULES": "inline -d, +d, abs(d)",
    "_scalar._sign": "abs(d)'s template: np.sign on a float",
    # NumPy's power loop rounds the exponents 2, 0.5 and -1 as square, sqrt and reciprocal:
    # the scalar paths take the same route, in the value and in b * a ** (b - 1) alike
    "_scalar._power": "power's rounding",
    "_scalar.power_method": "power's rounding",
    "_scalar.rpower_method": "power's rounding",
    "tape._fast._power_constant_exponent": "power's rounding",
    "tape._fast._power_constant_base": "power's rounding",
    "tape._fast._power_variables": "power's rounding",
    # not a derivative: math.log(x, base) under interception is log(x) / log(base)
    "dualad._intercept._log": "a primal, math.log with a base",
}


@pytest.mark.parametrize("f", sorted(_scalar.KERNELS, key=lambda f: f.__name__), ids=str)
def test_every_unary_kernel_partial_is_the_tables_line(f):
    _, part = _scalar.KERNELS[f]
    rule = RULES[f].partials[0]
    if rule is ONE or rule is NEG:
        assert part is rule
    elif part is _scalar.OUT:  # the line returns the output itself: multiplied inline
        assert _kernels._is_output(rule) and rule(2.5, 0.3) == 2.5
    else:
        assert part.rule is rule  # the same statement, run on floats
        if hasattr(part, "__code__") and part.__code__ is not None and part.__name__ != "partial":
            assert part.__code__ is rule.__code__


@pytest.mark.parametrize("f", list(_scalar.BINARY_KERNELS), ids=str)
def test_every_binary_kernel_partial_is_the_tables_line(f):
    assert _scalar.BINARY_KERNELS[f].rules == tuple(RULES[f].partials)


def test_the_tape_scalar_records_use_the_same_kernels():
    # tape._fast imports the kernel tables rather than stating partials of its own
    assert tv.KERNELS is _scalar.KERNELS and tv.BINARY_KERNELS is _scalar.BINARY_KERNELS


#: what a restated partial looks like in code: a derivative formula of a library function
_PATTERNS = ("m.cos(", "m.sin(", "math.cos(", "math.sin(", "np.cos(", "np.sin(", "m.cosh(",
             "m.sinh(", "/ m.sqrt(", "/ math.sqrt(", "sign(pa)", "math.log(", "np_log(")  # fmt: skip


def _code_of(fn) -> str:
    """``fn``'s source without its docstring (prose may name functions freely)."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    node = tree.body[0]
    body = getattr(node, "body", None)  # a lambda's line parses as the statement it is in
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        node.body = body[1:] or [ast.Pass()]
    return ast.unparse(tree)


def _derivative_like(fn) -> bool:
    code = _code_of(fn)
    return any(p in code for p in _PATTERNS)


def test_no_partial_is_restated_outside_the_skip_list():
    found = set()
    mods = {"_scalar": _scalar, "_kernels": _kernels, "tape._fast": tv}
    for prefix, mod in mods.items():
        for name, obj in vars(mod).items():
            if inspect.isfunction(obj) and obj.__module__ == mod.__name__ and _derivative_like(obj):
                found.add(f"{prefix}.{name}")
    assert found <= set(SKIP), found - set(SKIP)
    for name in SKIP:
        mod, attr = name.rsplit(".", 1)
        module = mods.get(mod) or importlib.import_module(mod)
        assert hasattr(module, attr), name  # the list stays true


def _modules():
    """Every module of dualad and tape outside dualad.rules (where derivatives belong)."""
    import pkgutil

    import dualad
    import tape

    for pkg in (dualad, tape):
        for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
            if not m.name.startswith("dualad.rules"):
                yield importlib.import_module(m.name)


def _origin(fn) -> str:
    """Where ``fn`` is written: its module and the top-level function or class it is in
    (a closure made by a factory is the factory's), without the ``dualad.`` prefix."""
    top = fn.__qualname__.split(".<locals>")[0]
    name = f"{fn.__module__}.{top}"
    return name[len("dualad.") :] if name.startswith("dualad._") else name


def test_no_module_outside_the_rules_restates_a_partial():
    # the same search over every function and method of every other module (the compiled
    # backend's graph transforms included): what looks like a derivative formula is on the
    # skip list, under the name of the function (or factory) that writes it
    found = []
    for mod in _modules():
        for obj in vars(mod).values():
            fns = []
            if inspect.isfunction(obj) and obj.__module__ == mod.__name__:
                fns.append(obj)
            elif inspect.isclass(obj) and obj.__module__ == mod.__name__:
                fns += [v for v in vars(obj).values() if inspect.isfunction(v)]
            for fn in fns:
                if _origin(fn) in SKIP or f"dualad.{_origin(fn)}" in SKIP:
                    continue
                try:
                    if _derivative_like(fn):
                        found.append(f"{fn.__module__}.{fn.__qualname__}")
                except (OSError, TypeError):
                    pass  # no source to read (generated code)
    assert not found, found


def test_kernels_run_the_rule_on_floats_bit_for_bit():
    # the float namespace rounds as NumPy: each partial equals the rule's on a 0-d array
    for f, (prim, part) in _scalar.KERNELS.items():
        if part is ONE or part is NEG or part is _scalar.OUT:
            continue
        x = 1.7 if f is np.arccosh else 0.4
        out = prim(x)
        want = RULES[f].partials[0](np.array(out), np.array(x))
        assert np.float64(part(out, x)).tobytes() == np.float64(want).tobytes(), f


@pytest.mark.parametrize("f", sorted(_scalar.KERNELS, key=lambda f: f.__name__), ids=str)
def test_every_kernel_gives_numpys_bits_at_fresh_points(f):
    # math's function is the kernel only where it matched NumPy at every calibration probe;
    # fresh points (another seed) check that choice
    prim, _ = _scalar.KERNELS[f]
    rng = np.random.default_rng(99)
    xs = np.concatenate([rng.uniform(-3, 3, 4000), np.exp(rng.uniform(-20, 5, 2000))])
    with np.errstate(all="ignore"):
        want = f(xs)
    for x, w in zip(xs.tolist(), want.tolist()):
        if w - w:
            continue
        try:
            got = prim(x)
        except (ArithmeticError, ValueError):
            continue  # the hand-over to NumPy's path
        assert np.float64(got).tobytes() == np.float64(w).tobytes(), (f, x, got, w)


def test_exps_line_is_recognised_as_the_output():
    # exp's rule line is ``lambda out, x: out``: the kernels multiply by the output inline
    assert _scalar.KERNELS[np.exp][1] is _scalar.OUT
    assert not _kernels._is_output(RULES[np.sin].partials[0])

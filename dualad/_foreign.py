"""Functions NumPy does not dispatch, made differentiable: dispatchers and where they go.

NumPy hands a Dual or Variable to dualad through ``__array_ufunc__``/``__array_function__``;
a function of SciPy or of the user's own (a C extension, ``scipy.integrate.quad``) never
does. A *dispatcher* stands in for such a function: called with plain values it calls the
function untouched; called with a wrapper it either runs a restatement in NumPy calls (which
differentiate themselves) or hands the call to the wrapper's own ``__array_function__`` with
itself as the function, so forward mode, reverse mode and every nesting level treat it as
one primitive with its rule (kept on the dispatcher, where ``rules.lookup`` finds it). Lower levels reach the
dispatcher again when the rule evaluates the primal on their wrappers, which is what makes
nested derivatives and Hessians work.

SciPy's dispatchers (``FOREIGN``: the rule families in ``dualad.rules.scipy_*``) replace
module attributes and class methods of SciPy when interception is switched on, and only
act while it is on: ``install`` puts them in place for the SciPy modules imported so far
and again whenever more have been imported. Imports numpy, ``_tags`` and ``rules``; the
wrapper types are reached through their hooks, never imported.
"""

from __future__ import annotations

import functools
import importlib
import importlib.abc
import importlib.util
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass

from ._tags import call_level
from .rules import Rule

_LOCK = threading.Lock()


def holds_wrapper(args, kwargs) -> bool:
    """True when an argument (or an item of a list/tuple argument) is a wrapper or a
    sparsity tracer (both have a ``_level``)."""
    for a in args:
        if hasattr(a, "_level"):
            return True
        if type(a) in (list, tuple):
            for b in a:
                if hasattr(b, "_level"):
                    return True
    for a in kwargs.values():
        if hasattr(a, "_level"):
            return True
    return False


def dispatcher(
    func: Callable,
    *,
    rule: Rule | None = None,
    restated: Callable | None = None,
    active: Callable[[], bool] | None = None,
    name: str | None = None,
) -> Callable:
    """A function that calls ``func`` on plain values and differentiates it on wrappers.

    Exactly one of ``rule`` (kept on the dispatcher as ``_dualad_rule``) and ``restated``
    (called with the same arguments as ``func``, wrappers included) is given. ``active``
    (for SciPy's dispatchers: "is interception on?") gates the differentiating path; when it
    says no, ``func`` runs as it would without dualad.
    """
    if (rule is None) == (restated is None):
        raise TypeError("dispatcher: give exactly one of rule= and restated=")

    @functools.wraps(func)
    def call(*args, **kwargs):
        if holds_wrapper(args, kwargs) and (active is None or active()):
            if restated is not None:
                return restated(*args, **kwargs)
            _, owner = call_level(args, kwargs)
            if owner is None:  # a sparsity tracer: no statement of its own, so dense
                from ._pattern_kinds import _dense

                return _dense(call, args, kwargs)
            return type(owner).__array_function__(owner, call, (), args, kwargs)
        return func(*args, **kwargs)

    call._dualad_original = func
    if rule is not None:  # kept on the dispatcher (not in RULES): it lives as long as it does
        call._dualad_rule = rule if name is None else Rule(name, rule.jvp, rule.vjp, rule.vjp_needs)
    return call


# -- SciPy: where each dispatcher goes --------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One SciPy function or method dualad differentiates.

    ``module`` is imported by the user, never by dualad; ``owner`` names the attribute path
    below it that holds ``attr`` (``""`` for the module itself, ``"norm_gen"`` for the class
    of ``scipy.stats.norm``, reached as ``type(module.norm)``); ``make(original)`` builds the
    restatement or the ``Rule`` from the original callable (so no SciPy import happens before
    the user's).
    """

    name: str  # what users call it: "scipy.linalg.solve", "scipy.stats.norm.logpdf"
    module: str
    owner: str
    attr: str
    make: Callable  # original -> ("restated", callable) | ("rule", Rule)


#: Every SciPy target, by ``Target.name``; filled by the ``dualad.rules.scipy_*`` families.
FOREIGN: dict[str, Target] = {}
#: The installed dispatchers by target name, and the originals they replaced.
INSTALLED: dict[str, Callable] = {}
ORIGINALS: dict[str, Callable] = {}
_seen_modules = -1


def target(name: str, module: str, attr: str, owner: str = ""):
    """Register the decorated ``make(original)`` for ``name`` (see ``Target``)."""

    def register(make: Callable) -> Callable:
        FOREIGN[name] = Target(name, module, owner, attr, make)
        return make

    return register


def restate(name: str, module: str, attr: str, impl: Callable, owner: str = "") -> None:
    """Register ``impl`` as the restatement of ``name`` (one that needs nothing from the
    original function)."""
    target(name, module, attr, owner)(lambda orig: ("restated", impl))


def _owner_of(t: Target, mod):
    obj = mod
    for part in filter(None, t.owner.split(".")):
        if part.startswith("type:"):
            obj = type(getattr(obj, part[5:]))
        else:
            obj = getattr(obj, part)
    return obj


def install(active: Callable[[], bool]) -> None:
    """Put the dispatchers in place for the SciPy modules imported so far (cheap to repeat:
    it does nothing until ``sys.modules`` has grown)."""
    if len(sys.modules) != _seen_modules and "scipy" in sys.modules:
        _install_now(active)


def _install_now(active: Callable[[], bool]) -> None:
    global _seen_modules
    with _LOCK:
        seen = len(sys.modules)
        _load_families()
        for t in FOREIGN.values():
            if t.name in INSTALLED or t.module not in sys.modules:
                continue
            try:
                owner = _owner_of(t, sys.modules[t.module])
                orig = getattr(owner, t.attr)
            except AttributeError:  # a SciPy without this function
                continue
            if getattr(orig, "_dualad_original", None) is not None:
                continue  # already ours (a second dualad import)
            made = t.make(orig)
            if made is None:  # nothing to do here (a ufunc that has its rule already)
                continue
            kind, impl = made
            if kind == "restated":
                w = dispatcher(orig, restated=impl, active=active)
            else:
                w = dispatcher(orig, rule=impl, active=active, name=t.name)
            # pickle finds a function by module and qualified name: point them at the
            # dispatcher's own place, so pickling scipy.linalg.solve (multiprocessing) works
            if isinstance(owner, type):
                w.__module__, w.__qualname__ = owner.__module__, f"{owner.__qualname__}.{t.attr}"
            else:
                w.__module__, w.__qualname__ = t.module, t.attr
            setattr(owner, t.attr, w)
            INSTALLED[t.name], ORIGINALS[t.name] = w, orig
        _seen_modules = seen


class _Finder(importlib.abc.MetaPathFinder):
    """Installs the dispatchers as soon as a SciPy module that has targets is imported, so
    that names taken from it afterwards (``from scipy.linalg import solve``, a bound method
    ``norm.logpdf``) are already the dispatchers."""

    def __init__(self, active: Callable[[], bool]):
        self.active = active
        self.modules = frozenset(t.module for t in FOREIGN.values())

    def find_spec(self, name, path, target=None):
        if name not in self.modules:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _Loader(spec.loader, self.active)
        return spec


class _Loader(importlib.abc.Loader):
    def __init__(self, loader, active):
        self.loader, self.active = loader, active

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        self.loader.exec_module(module)
        _install_now(self.active)

    def __getattr__(self, name):  # get_resource_reader, is_package, ...
        return getattr(self.loader, name)


def watch(active: Callable[[], bool]) -> None:
    """At ``import dualad``: the dispatchers (dormant until ``active()``) for the SciPy
    modules imported so far, and for those imported later as they are."""
    if importlib.util.find_spec("scipy") is None:
        return
    _load_families()
    if "scipy" in sys.modules:
        _install_now(active)
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder(active))


_families_loaded = False


def _load_families() -> None:
    global _families_loaded
    if not _families_loaded:
        for fam in ("scipy_linalg", "scipy_special", "scipy_stats", "scipy_spatial"):
            importlib.import_module(f"dualad.rules.{fam}")
        _families_loaded = True

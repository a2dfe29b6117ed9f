"""Pytrees: nested tuples, lists, dicts and namedtuples whose leaves are arrays or scalars.
``None`` is an empty subtree, as in JAX: it holds no leaf and comes back as ``None`` (an
input ``None`` is passed through untouched and gets a ``None`` gradient).

``flatten`` returns the leaves in a fixed order and a ``TreeDef`` that ``unflatten`` uses to
rebuild the same structure. Imports nothing from dualad.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TreeDef:
    """How leaves were nested: ``kind`` in leaf/none/tuple/list/dict/namedtuple."""

    kind: str
    children: tuple = ()
    meta: Any = None

    @property
    def is_leaf(self) -> bool:
        return self.kind == "leaf"

    @property
    def n_leaves(self) -> int:
        return 1 if self.is_leaf else sum(c.n_leaves for c in self.children)


LEAF = TreeDef("leaf")
NONE = TreeDef("none")  # None: a subtree with no leaves


def flatten(tree) -> tuple[list, TreeDef]:
    """Leaves of ``tree`` in order, and its structure."""
    leaves: list = []
    return leaves, _flatten(tree, leaves)


def _flatten(tree, leaves) -> TreeDef:
    if tree is None:
        return NONE
    if isinstance(tree, tuple) and hasattr(tree, "_fields"):
        return TreeDef("namedtuple", tuple(_flatten(t, leaves) for t in tree), type(tree))
    if type(tree) is tuple or type(tree) is list:
        return TreeDef(type(tree).__name__, tuple(_flatten(t, leaves) for t in tree))
    if isinstance(tree, dict):
        keys = tuple(tree)
        return TreeDef("dict", tuple(_flatten(tree[k], leaves) for k in keys), keys)
    leaves.append(tree)
    return LEAF


def flatten_like(tree, td: TreeDef) -> list | None:
    """Leaves of ``tree`` in the order of the structure ``td``, where ``tree`` has that
    structure up to the order of dict keys (a dict ``{"b": .., "a": ..}`` for one made as
    ``{"a": .., "b": ..}``); None where the structures differ otherwise."""
    leaves: list = []
    return leaves if _like(tree, td, leaves) else None


def _like(tree, td: TreeDef, leaves) -> bool:
    if td.kind == "leaf":
        if tree is None or isinstance(tree, (tuple, list, dict)):
            return False
        leaves.append(tree)
        return True
    if td.kind == "none":
        return tree is None
    if td.kind == "dict":
        if not isinstance(tree, dict) or set(tree) != set(td.meta) or len(tree) != len(td.meta):
            return False
        return all(_like(tree[k], c, leaves) for k, c in zip(td.meta, td.children))
    if td.kind == "namedtuple":
        ok = type(tree) is td.meta
    else:
        ok = type(tree).__name__ == td.kind and not hasattr(tree, "_fields")
    return (
        ok
        and len(tree) == len(td.children)
        and all(_like(t, c, leaves) for t, c in zip(tree, td.children))
    )


def unflatten(treedef: TreeDef, leaves) -> Any:
    """Rebuild the structure ``treedef`` from ``leaves`` (any iterable, consumed in order)."""
    return _unflatten(treedef, iter(leaves))


def _unflatten(td: TreeDef, it):
    if td.kind == "leaf":
        return next(it)
    if td.kind == "none":
        return None
    kids = [_unflatten(c, it) for c in td.children]
    if td.kind == "namedtuple":
        return td.meta(*kids)
    if td.kind == "dict":
        return dict(zip(td.meta, kids))
    return tuple(kids) if td.kind == "tuple" else kids

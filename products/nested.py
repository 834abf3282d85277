"""Classifications declared inside nested columns: ODCS ``properties`` of an ``object``,
an array's ``items``, a map's ``key`` and ``value``, at any depth.

A contract says ``contact.email`` is pii by giving the ``contact`` column
``logicalType: object`` and, among its ``properties``, ``{name: email, classification:
pii}``; governance decides each such field as it decides a column, and the rewrite masks
it inside its struct (:mod:`federation.governance.masks`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ITEMS = "[]"
"""A path step into the elements of an array (ODCS ``items``)."""
MAP_KEY, MAP_VALUE = "{key}", "{value}"
"""Path steps into a map's keys and values (ODCS ``map.key`` / ``map.value``)."""


@dataclass(frozen=True)
class NestedField:
    """A classification declared below a column: on a property of an ``object``, on an
    array's ``items`` or a map's key or value, at any depth."""

    path: tuple[str, ...]
    """Steps from the column down: field names, :data:`ITEMS`, :data:`MAP_KEY`/``VALUE``."""
    classification: str

    def describe(self, column: str) -> str:
        """``s.email``, ``l[].email``: the path as people write it."""
        return ".".join([column, *self.path]).replace(".[]", "[]")


def nested_fields(prop: dict[str, Any], path: tuple[str, ...] = ()) -> tuple[NestedField, ...]:
    """Every classification declared inside ``prop`` (not on ``prop`` itself)."""
    out: list[NestedField] = []
    children: list[tuple[Any, Any]] = []
    if isinstance(prop.get("properties"), list):
        children += [(f.get("name"), f) for f in prop["properties"] if isinstance(f, dict)]
    if isinstance(prop.get("items"), dict):
        children.append((ITEMS, prop["items"]))
    if isinstance(prop.get("map"), dict):
        children += [(step, prop["map"].get(k)) for k, step in
                     (("key", MAP_KEY), ("value", MAP_VALUE))]
    for step, child in children:
        if not isinstance(child, dict) or not isinstance(step, str):
            continue
        label = child.get("classification")
        if label is not None:
            out.append(NestedField((*path, step), str(label).lower()))
        out += nested_fields(child, (*path, step))
    return tuple(out)

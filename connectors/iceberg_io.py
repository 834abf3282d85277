"""pyiceberg's fsspec FileIO, reading a table's files under the mesh's own warehouse.

pyiceberg's SQL catalog records absolute locations — metadata, manifest lists, manifests
and data files, ``file:///home/ana/demo-mesh/iceberg/warehouse/marketing/campaigns/…``.
A mesh copied, moved or cloned elsewhere would read the old folder (or fail).  With a
mesh-relative ``warehouse``, every location of the table (``…/<namespace>/<table>/…``,
the layout pyiceberg gives tables under a warehouse) is read from the same place under the
mesh's warehouse as it is now: a documented rewrite on open, nothing written.

Loaded by name through pyiceberg's ``py-io-impl`` property (see :mod:`connectors.iceberg`),
so pyiceberg is imported only when an Iceberg product is read.
"""

from __future__ import annotations

from typing import Any

from pyiceberg.io import InputFile, OutputFile
from pyiceberg.io.fsspec import FsspecFileIO, FsspecInputFile, FsspecOutputFile

TABLE = "duckmesh.relocate.table"
"""Property: ``<namespace>/<table>``, the table's part of every location."""
TARGET = "duckmesh.relocate.to"
"""Property: the mesh's warehouse URI (``file:///…/iceberg/warehouse``)."""


def relocate(location: str, properties: dict[str, Any]) -> str:
    """``location`` under the mesh's warehouse when it is one of the table's own: its
    part from ``/<namespace>/<table>/`` (pyiceberg's layout; ``<namespace>.db`` in some
    versions) on, under the warehouse instead of wherever it was written."""
    table, target = str(properties.get(TABLE) or ""), str(properties.get(TARGET) or "")
    if not table or not target:
        return location
    target = target.rstrip("/")
    namespace, name = table.split("/", 1)
    for anchor in (f"/{namespace}/{name}", f"/{namespace}.db/{name}"):
        if location.startswith(target + anchor + "/") or location == target + anchor:
            return location
        if anchor + "/" in location:
            return target + anchor + "/" + location.rsplit(anchor + "/", 1)[1]
        if location.endswith(anchor):
            return target + anchor
    return location


class RelocatingFileIO(FsspecFileIO):
    """FsspecFileIO whose every location goes through :func:`relocate` first."""

    def new_input(self, location: str) -> FsspecInputFile:
        return super().new_input(relocate(location, self.properties))

    def new_output(self, location: str) -> FsspecOutputFile:
        return super().new_output(relocate(location, self.properties))

    def delete(self, location: str | InputFile | OutputFile) -> None:
        if isinstance(location, str):
            location = relocate(location, self.properties)
        super().delete(location)

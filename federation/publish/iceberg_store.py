"""Materialise a derived product as an Iceberg table: one snapshot per publication.

The table goes into the catalog the mesh's Iceberg products already use (the first
Iceberg server found, the product's own domain first), under the domain's first Iceberg
namespace, at the catalog's default location — which must lie under the domain's storage
roots (duckmesh.yaml), as every product's data must.  Each publication overwrites the
table in one commit: readers see the previous snapshot or the new one, and older
snapshots stay readable with ``--as-of``.
"""

from __future__ import annotations

import contextlib
from typing import Any

import pyarrow as pa

from connectors.iceberg import STORAGE_OR_VALUE_ERRORS, open_catalog
from federation.errors import StorageError, UsageError
from federation.mesh import Mesh
from products.ownership import PlaceError, domain_roots, place

SERVER_KEYS = ("catalog", "catalogUrl", "warehouse")


def template(mesh: Mesh, domain: str) -> dict[str, Any]:
    """The Iceberg server settings (catalog, URL, warehouse) to publish ``domain``'s
    table with, and its namespace."""
    servers = sorted((p for p in mesh.catalog if p.server.type == "iceberg"),
                     key=lambda p: (p.domain != domain, p.fqn))
    if not servers:
        raise UsageError("no Iceberg catalog in this mesh to publish into",
                         hint="publish with --format parquet, or add an Iceberg product")
    options = servers[0].server.options
    roots = domain_roots(mesh.settings, domain, mesh.root)
    if not roots.iceberg_namespaces:
        raise UsageError(f"domain {domain} has no Iceberg namespace (duckmesh.yaml domains)")
    return {"server": "lake", "type": "iceberg",
            **{k: options[k] for k in SERVER_KEYS if k in options},
            "namespace": roots.iceberg_namespaces[0]}


def publish_snapshot(mesh: Mesh, fqn: str, server: dict[str, Any], table: pa.Table, *,
                     first: bool) -> tuple[int, int]:
    """Write ``table`` as the product's new snapshot, creating the Iceberg table on the
    ``first`` publication (refused if one exists: it is not ours); ``(snapshot_id, rows)``."""
    from pyiceberg.exceptions import NoSuchTableError

    domain, name = fqn.split(".", 1)
    identifier = f"{server['namespace']}.{name}"
    try:
        catalog = open_catalog(server, mesh.root, mesh.settings.storage)
        catalog.create_namespace_if_not_exists(server["namespace"])
        if first:
            if catalog.table_exists(identifier):
                raise UsageError(f"Iceberg table {identifier} already exists in the catalog;"
                                 " a new product needs a new table", product=fqn)
            iceberg = catalog.create_table(identifier, schema=table.schema)
            _check_location(mesh, domain, iceberg.location(), catalog, identifier)
        else:
            try:
                iceberg = catalog.load_table(identifier)
            except NoSuchTableError:
                raise StorageError(f"Iceberg table {identifier} is gone from the catalog",
                                   product=fqn) from None
        _replace(iceberg, table)
        snapshot = iceberg.current_snapshot()
    except (UsageError, StorageError):
        raise
    except STORAGE_OR_VALUE_ERRORS as exc:
        raise StorageError(f"cannot publish Iceberg table {identifier}: "
                           f"{type(exc).__name__}: {str(exc)[:200]}", product=fqn) from None
    return int(snapshot.snapshot_id), table.num_rows


def _replace(iceberg: Any, table: pa.Table) -> None:
    """Replace every data file with ``table``'s in ONE overwrite snapshot.  pyiceberg's
    ``Table.overwrite`` commits a delete snapshot and then an append snapshot; a
    publication is one version, so it is built here as a single snapshot instead."""
    from pyiceberg.io.pyarrow import _check_pyarrow_schema_compatible, _dataframe_to_data_files

    # The checks pyiceberg's own writes make: the new data must fit the table's schema.
    _check_pyarrow_schema_compatible(iceberg.schema(), provided_schema=table.schema,
                                     format_version=iceberg.format_version)
    old_files = [task.file for task in iceberg.scan().plan_files()] \
        if iceberg.current_snapshot() is not None else []
    with iceberg.transaction() as tx, tx.update_snapshot().overwrite() as snapshot:
        for data_file in old_files:
            snapshot.delete_data_file(data_file)
        for data_file in _dataframe_to_data_files(table_metadata=tx.table_metadata, df=table,
                                                  io=iceberg.io,
                                                  write_uuid=snapshot.commit_uuid):
            snapshot.append_data_file(data_file)


def _check_location(mesh: Mesh, domain: str, location: str, catalog: Any,
                    identifier: str) -> None:
    """Drop a just-created table whose location is not the domain's to use."""
    roots = domain_roots(mesh.settings, domain, mesh.root)
    try:
        inside = roots.holds(place(location.removeprefix("file://"), mesh.root))
    except PlaceError:
        inside = False
    if not inside:
        catalog.drop_table(identifier)
        raise UsageError(f"Iceberg table {identifier} would live at {location}, outside "
                         f"domain {domain}'s storage roots",
                         hint="add the warehouse's namespace folder to the domain's roots "
                              "in duckmesh.yaml")


def columns(mesh: Mesh, fqn: str, server: dict[str, Any], table: pa.Table) -> list[Any]:
    """The published table's columns as Iceberg stores them (DuckDB spelling), with the
    null counts of what was written."""
    from connectors.footers import ColumnFacts
    from connectors.iceberg import plan_iceberg

    plan = plan_iceberg(fqn, server, mesh.root, storage=mesh.settings.storage)
    return [ColumnFacts(c.name, c.type, table.column(c.name).null_count)
            for c in plan.columns]


def drop(mesh: Mesh, server: dict[str, Any], fqn: str) -> None:
    """Remove the table of a first publication that could not be completed."""
    # Best effort: the publication has already failed, and says why.
    with contextlib.suppress(Exception):
        open_catalog(server, mesh.root, mesh.settings.storage).drop_table(
            f"{server['namespace']}.{fqn.split('.', 1)[1]}")

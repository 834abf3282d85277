"""Answers about the catalog, for the authenticated caller: Flight SQL's metadata commands
and duckmesh's own JSON calls (``duckmesh.products`` actions, ``GET /v1/products``).

Listing the catalog (names, owners, descriptions, schemas with each column's decision
for the caller) is discovery, as ``duckmesh products`` is embedded; Flight SQL's table
list holds only the products the caller may read, with the columns they see.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from federation.errors import UsageError
from federation.server import flightsql as sql
from federation.server.auth import Identity
from federation.server.browse import access_of, column_decisions, like, readable, visible_schema
from federation.server.service import Service


def _none_if_catalog(fields: dict[str, Any], key: str = "catalog") -> bool:
    """True if the request names a catalog: duckmesh has none, so nothing matches."""
    return bool(fields.get(key))


def metadata_table(service: Service, identity: Identity, name: str,
                   fields: dict[str, Any]) -> pa.Table:
    """The answer to one Flight SQL metadata command, for ``identity``."""
    mesh = service.mesh
    if name == "CommandGetSqlInfo":
        return sql.sql_info_table(service.version, list(fields.get("info", [])))
    if name == "CommandGetTableTypes":
        return pa.Table.from_pylist([{"table_type": "TABLE"}], schema=sql.TABLE_TYPES_SCHEMA)
    if name == "CommandGetCatalogs":
        return sql.CATALOGS_SCHEMA.empty_table()
    if name in ("CommandGetExportedKeys", "CommandGetImportedKeys",
                "CommandGetCrossReference"):
        return sql.KEYS_SCHEMA.empty_table()
    if name == "CommandGetXdbcTypeInfo":
        return sql.XDBC_TYPE_INFO_SCHEMA.empty_table()
    products = readable(mesh, identity.principal)
    if name == "CommandGetDbSchemas":
        pattern = like(fields.get("db_schema_filter_pattern"))
        domains = sorted({a.product.domain for a in products})
        rows = [{"catalog_name": None, "db_schema_name": d} for d in domains
                if not _none_if_catalog(fields) and (pattern is None or pattern.match(d))]
        return pa.Table.from_pylist(rows, schema=sql.DB_SCHEMAS_SCHEMA)
    if name == "CommandGetTables":
        schema_pattern = like(fields.get("db_schema_filter_pattern"))
        table_pattern = like(fields.get("table_name_filter_pattern"))
        types = [t.upper() for t in fields.get("table_types", [])]
        include = bool(fields.get("include_schema"))
        rows = []
        for access in sorted(products, key=lambda a: (a.product.domain, a.product.name)):
            product = access.product
            if _none_if_catalog(fields) or (types and "TABLE" not in types) or \
                    (schema_pattern and not schema_pattern.match(product.domain)) or \
                    (table_pattern and not table_pattern.match(product.name)):
                continue
            row: dict[str, Any] = {"catalog_name": None, "db_schema_name": product.domain,
                                   "table_name": product.name, "table_type": "TABLE"}
            if include:
                row["table_schema"] = sql.serialize_schema(visible_schema(access))
            rows.append(row)
        schema = sql.TABLES_WITH_SCHEMA if include else sql.TABLES_SCHEMA
        return pa.Table.from_pylist(rows, schema=schema)
    if name == "CommandGetPrimaryKeys":
        keyed: list[dict[str, Any]] = []
        for access in products:
            product = access.product
            if _none_if_catalog(fields) or product.name != fields.get("table") or \
                    (fields.get("db_schema") and product.domain != fields["db_schema"]):
                continue
            keys = [c for c in access.columns if c.visible and c.column.primary_key]
            keyed += [{"catalog_name": None, "db_schema_name": product.domain,
                      "table_name": product.name, "column_name": c.column.name,
                      "key_name": None, "key_sequence": i + 1} for i, c in enumerate(keys)]
        return pa.Table.from_pylist(keyed, schema=sql.PRIMARY_KEYS_SCHEMA)
    raise UsageError(f"Flight SQL command {name} is not supported")


def products(service: Service, identity: Identity) -> list[dict[str, Any]]:
    """The catalog, each product marked readable or not for the caller."""
    can_read = {a.product.fqn for a in readable(service.mesh, identity.principal)}
    return [{"product": p.fqn, "version": p.version, "status": p.status, "owner": p.owner,
             "columns": len(p.columns), "description": p.description,
             "readable": p.fqn in can_read} for p in service.mesh.catalog]


def product(service: Service, identity: Identity, name: str) -> dict[str, Any]:
    """One product: contract facts, live facts, and each column's decision for the
    caller."""
    found = service.mesh.catalog.get(name)
    info = service.mesh.describe(found.fqn)
    access = access_of(service.mesh, identity.principal, found)
    info["readable"] = access is not None
    decisions = {d["name"]: d for d in column_decisions(access, found)}
    for column in info["columns"]:
        decision = decisions.get(column["name"], {})
        column.update(access=decision.get("access"), reason=decision.get("reason"))
    if access is not None and access.row_filter is not None:
        info["row_filter"] = access.row_filter.sql(dialect="duckdb")
    return info


def search(service: Service, identity: Identity, text: str) -> list[dict[str, Any]]:
    """Products matching ``text``, best first (as ``duckmesh products search``)."""
    del identity  # discovery is the same for everyone; reading is not
    return [{"product": m.product.fqn, "score": m.score, "matched": list(m.reasons),
             "description": m.product.description} for m in service.mesh.search(text)]


def json_action(service: Service, identity: Identity, kind: str, body: dict[str, Any],
                purpose: str | None) -> Any:
    """duckmesh's own Flight actions (what :mod:`federation.server.client` calls)."""
    if not isinstance(body, dict):
        raise UsageError("the action body must be a JSON object")
    if kind == "duckmesh.explain":
        return service.explain(identity, str(body.get("sql", "")), body.get("params"),
                               body.get("purpose") or purpose)
    if kind == "duckmesh.products":
        return products(service, identity)
    if kind == "duckmesh.product":
        return product(service, identity, str(body.get("name", "")))
    if kind == "duckmesh.search":
        return search(service, identity, str(body.get("text", "")))
    raise UsageError(f"unknown action {kind!r}")

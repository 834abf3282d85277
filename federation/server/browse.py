"""What a caller may browse: domains, the products they may read, the columns they see.

Answers come from governance's own decision (:func:`federation.governance.access.evaluate`)
for the authenticated principal, never from the caller's word: a product without a grant
for them is not listed as a table, a hidden column is not in its schema, a masked column
has the type its mask produces.  Used by Flight SQL's metadata commands and the HTTP
product pages; nothing here reads data.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import duckdb
import pyarrow as pa
from sqlglot import exp
from sqlglot.errors import ParseError

from federation.errors import AccessDenied
from federation.governance.access import ProductAccess, evaluate
from federation.mesh import Mesh
from products.contract import Product

TEXT_MASKS = {"hash", "redact", "partial"}
"""Masks whose output is text whatever the column's type (``null``/``year`` keep it)."""


@functools.lru_cache(maxsize=512)
def arrow_type(duckdb_type: str) -> pa.DataType:
    """The Arrow type DuckDB returns for a column of ``duckdb_type``."""
    try:
        canonical = exp.DataType.build(duckdb_type, dialect="duckdb").sql(dialect="duckdb")
    except (ParseError, ValueError):
        return pa.utf8()
    con = duckdb.connect(":memory:", config={"enable_external_access": False,
                                              "autoload_known_extensions": False,
                                              "autoinstall_known_extensions": False})
    try:
        # ``canonical`` is sqlglot's rendering of a parsed type, not text from a caller.
        table = con.sql(f"SELECT CAST(NULL AS {canonical}) AS c").to_arrow_table()
        return table.schema.field(0).type
    except duckdb.Error:
        return pa.utf8()
    finally:
        con.close()


def readable(mesh: Mesh, principal: str) -> list[ProductAccess]:
    """The products ``principal`` may read, with their access, in catalog order."""
    who = mesh.governance.principal(principal)
    out = []
    for product in mesh.catalog:
        try:
            out.append(evaluate(mesh.governance, who, product))
        except AccessDenied:
            continue
    return out


def access_of(mesh: Mesh, principal: str, product: Product) -> ProductAccess | None:
    """``principal``'s access to ``product``, or None if they may not read it."""
    try:
        return evaluate(mesh.governance, mesh.governance.principal(principal), product)
    except AccessDenied:
        return None


def visible_schema(access: ProductAccess) -> pa.Schema:
    """The columns of ``access.product`` the caller sees, typed as a query returns them,
    with the Flight SQL column metadata BI tools read."""
    fields = []
    product = access.product
    for col in access.columns:
        if not col.visible:
            continue
        type_name = "VARCHAR" if col.method in TEXT_MASKS else col.column.type
        metadata = {"ARROW:FLIGHT:SQL:DB_SCHEMA_NAME": product.domain,
                    "ARROW:FLIGHT:SQL:TABLE_NAME": product.name,
                    "ARROW:FLIGHT:SQL:TYPE_NAME": type_name,
                    "ARROW:FLIGHT:SQL:IS_READ_ONLY": "1",
                    "ARROW:FLIGHT:SQL:IS_SEARCHABLE": "1",
                    "ARROW:FLIGHT:SQL:IS_AUTO_INCREMENT": "0",
                    "ARROW:FLIGHT:SQL:IS_CASE_SENSITIVE": "0"}
        if col.column.description:
            metadata["ARROW:FLIGHT:SQL:REMARKS"] = col.column.description
        fields.append(pa.field(col.column.name, arrow_type(type_name), metadata=metadata))
    return pa.schema(fields)


def like(pattern: str | None) -> re.Pattern[str] | None:
    """A Flight SQL filter pattern (``%`` any text, ``_`` one character) as a regex."""
    if pattern is None:
        return None
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.compile(f"(?s:{regex})\\Z", re.IGNORECASE)


def column_decisions(access: ProductAccess | None, product: Product) -> list[dict[str, Any]]:
    """Each column of ``product`` with the caller's decision (allow, mask:METHOD, hidden,
    or no grant) and the rule behind it."""
    out = []
    for column in product.columns:
        decision: dict[str, Any] = {"name": column.name, "type": column.type,
                                    "classification": column.classification,
                                    "description": column.description}
        col = access.column(column.name) if access is not None else None
        if col is None:
            decision.update(access="no grant", reason=None)
        else:
            action = f"mask:{col.method}" if col.action == "mask" else \
                "hidden" if col.action == "deny" else "allow"
            decision.update(access=action, reason=col.reason)
        out.append(decision)
    return out

"""``meta.audit``: the audit log as a data product, governed like every other.

duckmesh adds the product to every mesh's catalog.  Its data is the compacted audit
log (``duckmesh audit --compact``; a reader's query of it compacts first, see
``Mesh.sql``); its only grant is to the roles of ``audit.readers`` in
duckmesh.yaml (default admin), so everyone else is denied by default.  The domain name
``meta`` is reserved: a mesh cannot define it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from federation.audit.compact import SCHEMA
from federation.audit.log import AuditLog
from federation.errors import ConfigError
from federation.governance.model import DomainFile, DomainGovernance, Governance, Grant
from products.catalog import Catalog
from products.config import MESH_FILE
from products.contract import Product, product_from_document
from products.ownership import DomainRoots, place
from products.yamlio import YamlDocument

DOMAIN = "meta"
PRODUCT = "audit"
FQN = f"{DOMAIN}.{PRODUCT}"
_TYPES = {"string": "VARCHAR", "timestamp[us]": "TIMESTAMP", "int64": "BIGINT",
          "double": "DOUBLE", "bool": "BOOLEAN"}
_LOGICAL = {"VARCHAR": "string", "TIMESTAMP": "timestamp", "BIGINT": "integer",
            "DOUBLE": "number", "BOOLEAN": "boolean"}
_DESCRIPTIONS = {
    "record_id": "Unique id of the record",
    "timestamp": "When the query started, UTC",
    "user": "Who ran it",
    "roles": "The user's roles (JSON list)",
    "purpose": "Why, if given (report:NAME, notebook, --purpose)",
    "sql": "The SQL text as written",
    "governed_sql_sha256": "Hash of the SQL that ran",
    "products": "Products read (JSON list)",
    "columns": "Columns read per product (JSON)",
    "decisions": "Policy decisions applied (JSON)",
    "rows": "Rows returned",
    "bytes_scanned": "Estimated bytes scanned",
    "duration_ms": "Duration in milliseconds",
    "outcome": "ok, denied, rejected, failed or interrupted",
    "error_class": "Error class, if any",
    "error": "Error message, if any",
    "denied": "The denied product and column, if denied (JSON)",
    "engine": "The engine, when not the default (duckdb)",
    "authenticated": "True when duckmesh serve verified the user (token, OIDC); false "
                     "when the caller named themselves (embedded --user)",
    "session": "A served query's session: auth method, token id or subject, client "
               "address, protocol (JSON)",
}


def contract(audit: AuditLog) -> dict[str, Any]:
    """The ODCS contract of meta.audit."""
    properties = [{
        "name": field.name, "physicalType": _TYPES[str(field.type)],
        "logicalType": _LOGICAL[_TYPES[str(field.type)]],
        "description": _DESCRIPTIONS.get(field.name, field.name),
        "classification": "internal",
    } for field in SCHEMA]
    return {
        "apiVersion": "v3.1.0", "kind": "DataContract", "id": "urn:duckmesh:meta:audit",
        "name": FQN, "version": "1.0.0", "status": "active", "domain": DOMAIN,
        "dataProduct": PRODUCT, "tags": ["audit", "governance"],
        "description": {"purpose": "Every query run through duckmesh: who read what, under "
                                   "which decisions, with what outcome (records not yet compacted "
                                   "are compacted when a reader queries it)."},
        "team": {"name": "duckmesh"},
        "servers": [{"server": "local", "type": "local", "format": "parquet",
                     "path": audit.compacted_uri} if audit.store.is_local else
                    {"server": "s3", "type": "s3", "format": "parquet",
                     "location": audit.compacted_uri + "/"}],
        "schema": [{"name": PRODUCT, "physicalType": "table", "properties": properties}],
    }


def audit_product(root: Path, audit: AuditLog) -> Product:
    doc = YamlDocument(root / "<built-in>" / "meta" / "audit.odcs.yaml", contract(audit), {})
    return product_from_document(doc, DOMAIN, PRODUCT)


def with_meta(root: Path, catalog: Catalog, governance: Governance,
              audit: AuditLog) -> tuple[Catalog, Governance]:
    """The catalog and governance with ``meta.audit`` and its one grant added."""
    if DOMAIN in governance.domains or any(p.domain == DOMAIN for p in catalog):
        raise ConfigError(f"the domain name {DOMAIN!r} is reserved for duckmesh's own "
                          "products (meta.audit)", file=str(root / "domains" / DOMAIN))
    product = audit_product(root, audit)
    products = {**catalog.products, FQN: product}
    # Its storage is where duckmesh.yaml audit.path puts the log, nowhere else.
    roots = {**catalog.roots, DOMAIN: DomainRoots(
        DOMAIN, (place(product.server.location, root),), ())}
    grant = Grant(products=[PRODUCT], roles=list(audit.readers))
    domain = DomainGovernance(
        DOMAIN, DomainFile(owner="duckmesh", description="duckmesh's own products",
                           grants=[grant]),
        YamlDocument(root / "<built-in>" / "meta" / "domain.yaml", {}, {}), (None,),
        source=f"{MESH_FILE} audit.readers")
    return (dataclasses.replace(catalog, products=products, roots=roots),
            Governance(governance.principals, governance.policies,
                       {**governance.domains, DOMAIN: domain}))

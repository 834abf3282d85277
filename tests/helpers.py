"""Build small custom meshes for tests, file by file, the way a domain team would."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import yaml


def write_yaml(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def contract(domain: str, name: str, columns: list[dict[str, Any]],
             path: str | None = None, **extra: Any) -> dict[str, Any]:
    """A minimal valid ODCS v3 contract."""
    return {
        "apiVersion": "v3.1.0", "kind": "DataContract", "id": f"{domain}-{name}",
        "version": "1.0.0", "status": "active", "domain": domain,
        "servers": [{"server": "local", "type": "local", "format": "parquet",
                     "path": path or f"data/{domain}/{name}"}],
        "schema": [{"name": name, "properties": columns}],
        **extra,
    }


def col(name: str, type_: str = "VARCHAR", classification: str | None = None,
        **extra: Any) -> dict[str, Any]:
    logical = {"BIGINT": "integer", "INTEGER": "integer", "DATE": "date", "DOUBLE": "number",
               "TIMESTAMP": "timestamp", "BOOLEAN": "boolean"}.get(type_, "string")
    out: dict[str, Any] = {"name": name, "logicalType": logical, "physicalType": type_}
    if classification:
        out["classification"] = classification
    out.update(extra)
    return out


def make_mesh(root: Path, *, products: dict[str, tuple[list[dict[str, Any]], str]],
              users: dict[str, Any], rules: list[dict[str, Any]],
              grants: dict[str, list[dict[str, Any]]], secret: str = "test-secret") -> Path:
    """A mesh whose products are given as {fqn: (columns, SQL that makes the data)}."""
    write_yaml(root / "duckmesh.yaml", {"name": "test", "secret": secret,
                                        "engine": {"timeout_seconds": 30}})
    write_yaml(root / "governance/principals.yaml", {"users": users})
    write_yaml(root / "governance/policies.yaml", policies(rules))
    con = duckdb.connect()
    try:
        for fqn, (columns, sql) in products.items():
            domain, name = fqn.split(".")
            write_yaml(root / "domains" / domain / f"{name}.odcs.yaml",
                       contract(domain, name, columns))
            target = root / "data" / domain / name
            target.mkdir(parents=True, exist_ok=True)
            # Cast to the declared types, as a producer honouring its contract would.
            casts = ", ".join(f'CAST("{c["name"]}" AS {c["physicalType"]}) AS "{c["name"]}"'
                              for c in columns)
            con.sql(sql).project(casts).write_parquet(str(target / "part-0.parquet"))
    finally:
        con.close()
    for domain, domain_grants in grants.items():
        write_yaml(root / "domains" / domain / "domain.yaml", {"grants": domain_grants})
    return root


STANDARD_LABELS = ("public", "internal", "confidential", "pii", "pci", "restricted",
                   "sensitive")
"""The labels test meshes declare: those their rules govern, the rest allowed."""


def policies(rules: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    """A policies.yaml with a closed vocabulary around ``rules`` (see docs/mesh-format.md)."""
    ruled = {r["classification"] for r in rules}
    labels = [*STANDARD_LABELS, *sorted(ruled - set(STANDARD_LABELS))]
    return {"default_classification": "internal",
            "classifications": [{"name": n, **({} if n in ruled else {"allow": True})}
                                for n in labels],
            "rules": rules, **extra}

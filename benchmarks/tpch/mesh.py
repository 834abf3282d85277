"""TPC-H as a governed mesh of three domains, generated with ``tpchgen-cli``.

``sales`` owns orders and lineitem, ``customers`` owns customer, nation and region,
``supply`` owns part, partsupp and supplier.  Every table is a data product with an
ODCS v3 contract whose schema is read from the generated Parquet.  Governance:

- ``adam`` (admin) reads everything unmasked: the admin runs measure federation alone;
- ``ana`` (analyst) sees ``c_phone`` and ``c_address`` hashed (classification pii), never
  ``c_acctbal`` (denied by the customers domain), and no customers of the nations whose
  data must stay in the country (a row filter on ``c_nationkey``).

The mesh is built in a staging folder beside the target and renamed into place, so an
interrupted build leaves nothing half-written.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import duckdb
import yaml

DOMAINS: dict[str, dict[str, str]] = {
    "sales": {
        "orders": "One row per customer order: status, total price, date and priority.",
        "lineitem": "One row per order line: part, supplier, quantity, price, dates.",
    },
    "customers": {
        "customer": "One row per customer: name, contact details, segment, balance.",
        "nation": "The 25 nations customers and suppliers live in.",
        "region": "The 5 regions nations belong to.",
    },
    "supply": {
        "part": "One row per part sold: name, brand, type, size, container, price.",
        "partsupp": "Which supplier offers which part, at what cost and availability.",
        "supplier": "One row per supplier: name, address, nation, phone, balance.",
    },
}
TABLE_DOMAIN = {table: domain for domain, tables in DOMAINS.items() for table in tables}
PII = ("c_phone", "c_address")
DENIED_FOR_ANALYST = ("c_acctbal",)
# Customers of these nations (CHINA, VIETNAM, RUSSIA) stay out of the analyst's reach:
# a data-residency rule, so the analyst's runs pay for a row filter that keeps most rows.
RESIDENCY_NATIONS = (18, 21, 22)
ANALYST_ROW_FILTER = f"c_nationkey NOT IN ({', '.join(map(str, RESIDENCY_NATIONS))})"
ADMIN, ANALYST = "adam", "ana"

PRIMARY_KEYS = {"c_custkey", "o_orderkey", "p_partkey", "s_suppkey", "n_nationkey", "r_regionkey"}
LOGICAL = {"BIGINT": "integer", "INTEGER": "integer", "DATE": "date", "VARCHAR": "string"}


def tpchgen_binary() -> str:
    """The ``tpchgen-cli`` installed beside this Python (the bench extra), or on PATH."""
    beside = Path(sys.executable).parent / "tpchgen-cli"
    found = str(beside) if beside.exists() else shutil.which("tpchgen-cli")
    if not found:
        raise SystemExit("tpchgen-cli is not installed: pip install -e '.[bench]'")
    return found


def generate(out: Path, scale_factor: float, parts: int = 1) -> None:
    """Run tpchgen-cli: one Parquet file per table (``parts`` files per table if > 1)."""
    command = [tpchgen_binary(), "parquet", "-s", str(scale_factor), "-o", str(out)]
    if parts > 1:
        command += ["--parts", str(parts)]
    subprocess.run(command, check=True, capture_output=True)


def _columns(files: list[Path]) -> list[tuple[str, str]]:
    con = duckdb.connect()
    try:
        rows = con.execute("DESCRIBE SELECT * FROM read_parquet($files)",
                           {"files": [str(f) for f in files]}).fetchall()
    finally:
        con.close()
    return [(str(r[0]), str(r[1])) for r in rows]


def _property(table: str, name: str, type_: str) -> dict[str, Any]:
    classification = "pii" if name in PII else (
        "confidential" if name in DENIED_FOR_ANALYST else "internal")
    logical = "number" if type_.startswith("DECIMAL") else LOGICAL.get(type_, "string")
    prop: dict[str, Any] = {"name": name, "logicalType": logical, "physicalType": type_,
                            "classification": classification, "required": True}
    if name in PRIMARY_KEYS:
        prop["primaryKey"] = True
    return prop


def contract(domain: str, table: str, columns: list[tuple[str, str]]) -> dict[str, Any]:
    """The ODCS v3 contract of one TPC-H table."""
    return {
        "apiVersion": "v3.1.0", "kind": "DataContract",
        "id": f"urn:duckmesh:tpch:{domain}:{table}", "name": f"{domain}.{table}",
        "version": "1.0.0", "status": "active", "domain": domain, "dataProduct": table,
        "tags": ["tpch", domain],
        "description": {"purpose": DOMAINS[domain][table]},
        "team": {"name": f"{domain}-team"},
        "servers": [{"server": "local", "type": "local", "format": "parquet",
                     "path": f"data/{domain}/{table}"}],
        "schema": [{"name": table, "physicalType": "table",
                    "description": DOMAINS[domain][table],
                    "properties": [_property(table, n, t) for n, t in columns]}],
    }


def governance() -> dict[str, dict[str, Any]]:
    """principals.yaml, policies.yaml and each domain.yaml, keyed by relative path."""
    files: dict[str, dict[str, Any]] = {
        "governance/principals.yaml": {"users": {
            ADMIN: {"roles": ["admin"]},
            ANALYST: {"roles": ["analyst"]},
        }},
        "governance/policies.yaml": {
            "default_classification": "internal",
            "classifications": [{"name": "public", "allow": True},
                                {"name": "internal", "allow": True},
                                {"name": "confidential", "allow": True}, {"name": "pii"}],
            "rules": [
                {"classification": "pii", "action": "mask", "method": "hash",
                 "unless_roles": ["admin"], "description": "Contact details are pseudonymised"},
            ]},
    }
    for domain in DOMAINS:
        grants: list[dict[str, Any]] = [{"products": ["*"], "roles": ["admin"]}]
        if domain == "customers":
            grants.append({"products": ["customer"], "roles": ["analyst"],
                           "row_filter": ANALYST_ROW_FILTER,
                           "deny_columns": list(DENIED_FOR_ANALYST)})
        grants.append({"products": ["*"], "roles": ["analyst"]})
        files[f"domains/{domain}/domain.yaml"] = {
            "owner": f"{domain}-team", "description": f"TPC-H {domain} domain",
            "grants": grants}
    return files


def _dump(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False, width=100), encoding="utf-8")


def build(target: Path, scale_factor: float, parts: int = 1) -> Path:
    """Generate TPC-H at ``scale_factor`` and write the mesh into ``target`` (new folder)."""
    target = target.resolve()
    if target.exists():
        raise SystemExit(f"{target} already exists; remove it or choose another folder")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".tpch-", dir=target.parent))
    try:
        raw = staging / "generated"
        generate(raw, scale_factor, parts)
        for table, domain in TABLE_DOMAIN.items():
            folder = staging / "data" / domain / table
            folder.mkdir(parents=True)
            sources = [raw / f"{table}.parquet"] if (raw / f"{table}.parquet").exists() \
                else sorted((raw / table).glob("*.parquet"))
            for source in sources:
                source.rename(folder / source.name)
            _dump(staging / "domains" / domain / f"{table}.odcs.yaml",
                  contract(domain, table, _columns(sorted(folder.glob("*.parquet")))))
        shutil.rmtree(raw)
        _dump(staging / "duckmesh.yaml", {
            "name": f"tpch-sf{scale_factor:g}", "description": "TPC-H as a governed mesh",
            "secret_file": ".duckmesh/secret"})
        secret = staging / ".duckmesh" / "secret"
        secret.parent.mkdir()
        secret.write_text(secrets.token_hex(32) + "\n")
        for relative, data in governance().items():
            _dump(staging / relative, data)
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def raw_views(root: Path) -> list[tuple[str, str, list[str]]]:
    """(schema, table, files) for every product: the raw side reads exactly these files."""
    return [(domain, table, sorted(str(f) for f in
                                   (root / "data" / domain / table).glob("*.parquet")))
            for table, domain in TABLE_DOMAIN.items()]

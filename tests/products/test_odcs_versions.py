"""ODCS version fidelity (issue 14, item 7): a contract is validated against the schema
of the version it declares, and datacontract-cli (an independent linter) agrees with
every contract the demo writes and every draft ``init`` writes."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from connectors.errors import ConfigError
from products.bootstrap import HEADER, draft_contract
from products.contract import load_contract
from tests.helpers import col, contract, write_yaml

ICEBERG = {"server": "lake", "type": "iceberg", "catalog": "mesh", "catalogUrl": "sqlite:///iceberg/catalog.db",
           "namespace": "crm", "warehouse": "iceberg/warehouse"}


def _write(tmp_path: Path, version: str, **changes: Any) -> Path:
    data = contract("crm", "people", [col("id", "BIGINT"), col("at", "TIMESTAMP")])
    data.update(apiVersion=version, **changes)
    return write_yaml(tmp_path / "domains/crm/people.odcs.yaml", data)


def test_a_field_of_a_later_version_is_an_error_in_an_earlier_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"does not follow ODCS v3\.1\.0") as info:
        load_contract(_write(tmp_path, "v3.1.0", servers=[ICEBERG]), "crm")
    assert info.value.field is not None and info.value.field.startswith("servers")
    assert load_contract(_write(tmp_path, "v3.2.0", servers=[ICEBERG]), "crm").server.type \
        == "iceberg"
    # logicalType timestamp came with v3.1.0.
    with pytest.raises(ConfigError, match=r"ODCS v3\.0\.2"):
        load_contract(_write(tmp_path, "v3.0.1"), "crm")
    assert load_contract(_write(tmp_path, "v3.1.0"), "crm").columns[1].type == "TIMESTAMP"


def test_an_unknown_version_is_an_error(tmp_path: Path) -> None:
    for version in ("v3.2.1", "v3.3.0", "v2.2.2"):
        with pytest.raises(ConfigError, match="not a version duckmesh validates"):
            load_contract(_write(tmp_path, version), "crm")


def test_the_demo_declares_the_versions_its_fields_need(demo_root: Path) -> None:
    versions = {p.stem.removesuffix(".odcs"): yaml.safe_load(p.read_text())["apiVersion"]
                for p in (demo_root / "domains").glob("*/*.odcs.yaml")}
    assert versions.pop("campaigns") == "v3.2.0"  # the iceberg server type
    assert set(versions.values()) == {"v3.1.0"}


def _lint(path: Path) -> subprocess.CompletedProcess[str]:
    linter = Path(sys.executable).with_name("datacontract")
    return subprocess.run([str(linter), "lint", str(path)], capture_output=True, text=True,
                          timeout=300, check=False)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("datacontract",
                                 path=str(Path(sys.executable).parent)) is None,
                    reason="datacontract-cli is in the dev extra")
def test_datacontract_cli_accepts_every_demo_contract_and_init_draft(
        demo_root: Path, tmp_path: Path) -> None:

    files = sorted((demo_root / "domains").glob("*/*.odcs.yaml"))
    drafts = tmp_path / "drafts"
    drafts.mkdir()
    sources = {"customers.people": demo_root / "data/customers/profiles",
               "bookings.trips": demo_root / "data/bookings/reservations",
               "payments.cards": demo_root / "data/payments/transactions",
               "lab.typed": _typed_data(tmp_path)}
    for fqn, source in sources.items():
        draft = draft_contract(fqn, str(source), tmp_path)
        target = drafts / f"{fqn.replace('.', '_')}.odcs.yaml"
        target.write_text(HEADER + yaml.safe_dump(draft, sort_keys=False))
        files.append(target)
    failures = {str(f): (r.stdout + r.stderr)[-600:] for f in files
                if (r := _lint(f)).returncode != 0}
    assert failures == {}


def _typed_data(tmp_path: Path) -> Path:
    import duckdb

    from tests.lab import TYPES, TYPES_SQL

    folder = tmp_path / "typed"
    folder.mkdir()
    casts = ", ".join(f'CAST("{c["name"]}" AS {c["physicalType"]}) AS "{c["name"]}"'
                      for c in TYPES)
    con = duckdb.connect()
    try:
        con.execute(f"COPY (SELECT {casts} FROM ({TYPES_SQL})) TO "
                    f"'{folder / 'part-0.parquet'}'")
    finally:
        con.close()
    return folder

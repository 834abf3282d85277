"""CSV and JSON-lines products: read with the contract's types, governed like Parquet."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from connectors import filesystems
from federation.cli import cli
from products.config import S3Settings, StorageSettings
from tests.connectors.test_s3 import COLUMNS, governance
from tests.helpers import contract, write_yaml
from tests.s3 import FaultProxy

CSV_ROWS = ["id,email,region,score", "1,a@example.org,EU,1.5", "2,b@example.org,NA,2.5",
            "3,c@example.org,EU,3.5"]
JSON_ROWS = [{"id": 1, "email": "a@example.org", "region": "EU", "score": 1.5},
             {"id": 2, "email": "b@example.org", "region": "NA", "score": 2.5},
             {"id": 3, "email": None, "region": "EU", "score": 3.5}]


def _mesh(root: Path, server: dict[str, object], storage: dict[str, object] | None = None) -> Path:
    governance(root, storage)
    data = contract("crm", "people", COLUMNS)
    data["servers"] = [server]
    write_yaml(root / "domains/crm/people.odcs.yaml", data)
    return root


def dm(root: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--mesh", str(root), *args])


@pytest.fixture
def csv_mesh(tmp_path: Path) -> Path:
    folder = tmp_path / "mesh/data/people"
    folder.mkdir(parents=True)
    (folder / "a.csv").write_text("\n".join(CSV_ROWS[:3]) + "\n")
    (folder / "b.csv").write_text("\n".join([CSV_ROWS[0], CSV_ROWS[3]]) + "\n")
    return _mesh(tmp_path / "mesh", {"server": "local", "type": "local", "format": "csv",
                                     "path": "data/people"})


def test_csv_governed(csv_mesh: Path) -> None:
    rows = json.loads(dm(csv_mesh, "query", "-u", "ana", "--format", "json",
                         "SELECT id, email, score FROM crm.people ORDER BY id").stdout)
    assert [r["id"] for r in rows] == [1, 3]  # row filter region = EU
    assert all(len(r["email"]) == 32 for r in rows) and rows[0]["score"] == 1.5
    explain = dm(csv_mesh, "explain", "-u", "root", "SELECT id FROM crm.people").stdout
    assert "READ_CSV" in explain and "BIGINT" in explain
    assert dm(csv_mesh, "check").exit_code == 0


def test_csv_bad_value_is_a_clean_error(csv_mesh: Path) -> None:
    (csv_mesh / "data/people/c.csv").write_text(CSV_ROWS[0] + "\nnot-a-number,"
                                                "zed@example.org,EU,1\n")
    result = dm(csv_mesh, "query", "-u", "root", "SELECT sum(id) FROM crm.people")
    assert result.exit_code == 1
    assert "not-a-number" not in result.stderr and "zed@" not in result.stderr


def test_csv_missing_declared_column(csv_mesh: Path) -> None:
    for f in (csv_mesh / "data/people").iterdir():
        lines = f.read_text().splitlines()
        f.write_text("\n".join(",".join(line.split(",")[:3]) for line in lines) + "\n")
    result = dm(csv_mesh, "query", "-u", "root", "SELECT sum(score) FROM crm.people")
    assert result.exit_code == 4 and "score" in result.stderr


def test_json_lines_on_s3(tmp_path: Path, s3: FaultProxy) -> None:
    fs = filesystems.filesystem("s3", StorageSettings(s3=S3Settings(endpoint_url=s3.url,
                                                                    path_style=True)))
    fs.mkdir("lines")
    with fs.open("lines/people/part-0.jsonl", "wb") as f:
        f.write(("\n".join(json.dumps(r) for r in JSON_ROWS) + "\n").encode())
    root = _mesh(tmp_path / "mesh", {"server": "s3", "type": "s3", "format": "json",
                                     "location": "s3://lines/people/"},
                 {"s3": {"endpoint_url": s3.url, "path_style": True}})
    rows = json.loads(dm(root, "query", "-u", "root", "--format", "json",
                         "SELECT id, email FROM crm.people ORDER BY id").stdout)
    assert rows == [{"id": 1, "email": "a@example.org"}, {"id": 2, "email": "b@example.org"},
                    {"id": 3, "email": None}]
    info = json.loads(dm(root, "products", "show", "crm.people", "--format", "json").stdout)
    assert info["facts"]["files"] == 1 and info["facts"]["rows"] is None

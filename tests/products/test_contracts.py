"""ODCS contracts, mesh settings and the catalog: good files load, bad ones say where."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import yaml

from connectors.errors import ConfigError, UsageError
from products.catalog import Catalog
from products.config import find_mesh_root, load_settings, mask_secret
from products.contract import load_contract
from products.demo import write_demo
from tests.helpers import col, contract, write_yaml


def test_demo_contracts_model(demo_root: Path) -> None:
    catalog = Catalog.load(demo_root)
    profiles = catalog.get("Customers.Profiles")
    assert profiles.fqn == "customers.profiles"
    assert profiles.owner == "customer-data-team" and profiles.version == "1.0.0"
    email = profiles.column("EMAIL")
    assert email is not None and email.classification == "pii" and email.type == "VARCHAR"
    assert profiles.server.type == "local" and profiles.server.format == "parquet"
    assert catalog.domains() == ["bookings", "customers", "flights", "marketing", "payments"]
    with pytest.raises(UsageError, match="unknown product 'customers.nope'"):
        catalog.get("customers.nope")


def _write(tmp_path: Path, data: object) -> Path:
    return write_yaml(tmp_path / "domains" / "crm" / "people.odcs.yaml", data)


def test_schema_violation_names_field_and_line(tmp_path: Path) -> None:
    data = contract("crm", "people", [col("id", "BIGINT")])
    data["apiVersion"] = "v9"
    path = _write(tmp_path, data)
    with pytest.raises(ConfigError) as info:
        load_contract(path, "crm")
    assert info.value.field == "apiVersion" and info.value.line == 1
    assert "people.odcs.yaml:1: apiVersion: does not follow ODCS v3" in str(info.value)


def test_missing_required_field(tmp_path: Path) -> None:
    data = contract("crm", "people", [col("id", "BIGINT")])
    del data["version"]
    with pytest.raises(ConfigError, match="'version' is a required property"):
        load_contract(_write(tmp_path, data), "crm")


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda d: d["schema"][0]["properties"][0].update(physicalType="NOPE"), "unknown type"),
    (lambda d: d["schema"][0]["properties"].append(col("ID", "BIGINT")), "declared twice"),
    (lambda d: d["schema"][0].update(name="other"), "file names product 'people'"),
    (lambda d: d.update(domain="sales"), "contract says domain 'sales'"),
    (lambda d: d["servers"][0].update(type="custom"), "server type 'custom' is not supported"),
    (lambda d: d["servers"][0].update(format="avro"), "format 'avro' is not supported"),
    (lambda d: d.update(servers=[]), "needs a server"),
])
def test_contract_model_errors(tmp_path: Path, mutate: object, message: str) -> None:
    data = contract("crm", "people", [col("id", "BIGINT")])
    mutate(data)  # type: ignore[operator]
    with pytest.raises(ConfigError, match=message) as info:
        load_contract(_write(tmp_path, data), "crm")
    assert "people.odcs.yaml" in str(info.value)


def test_malformed_yaml_and_wrong_top_level(tmp_path: Path) -> None:
    path = tmp_path / "domains/crm/people.odcs.yaml"
    path.parent.mkdir(parents=True)
    path.write_text("a: [1,\n")
    with pytest.raises(ConfigError, match="malformed YAML") as info:
        load_contract(path, "crm")
    assert info.value.line == 2
    path.write_text("- just\n- a list\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_contract(path, "crm")


def test_settings_unknown_field_is_named(tmp_path: Path) -> None:
    write_yaml(tmp_path / "duckmesh.yaml", {"name": "m", "engine": {"thread": 2}})
    with pytest.raises(ConfigError) as info:
        load_settings(tmp_path)
    assert "engine.thread: unknown field" in str(info.value) and info.value.line == 3


def test_secret_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "key").write_text("from-file\n")
    write_yaml(tmp_path / "duckmesh.yaml", {"name": "m", "secret": "inline",
                                            "secret_file": "key"})
    settings = load_settings(tmp_path)
    assert mask_secret(tmp_path, settings) == b"from-file"
    assert "inline" not in repr(settings)
    monkeypatch.setenv("DUCKMESH_SECRET", "from-env")
    assert mask_secret(tmp_path, settings) == b"from-env"


def test_find_mesh_root_walks_up(demo_root: Path) -> None:
    assert find_mesh_root(demo_root / "domains" / "customers") == demo_root
    assert find_mesh_root(Path("/")) is None


def test_bad_domain_folder_name(tmp_path: Path) -> None:
    write_yaml(tmp_path / "domains" / "Bad-Name" / "x.odcs.yaml",
               contract("Bad-Name", "x", [col("id")]))
    with pytest.raises(ConfigError, match="domain name 'Bad-Name'"):
        Catalog.load(tmp_path)


def _digest(root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted((root / "data").rglob("*.parquet")):
        import pyarrow.parquet as pq

        h.update(str(path.relative_to(root)).encode())
        h.update(pq.read_table(path).to_string(preview_cols=0).encode())
        h.update(str(pq.read_table(path).to_pylist()[:50]).encode())
    return h.hexdigest()


def test_demo_is_deterministic_and_secret_is_not(tmp_path: Path) -> None:
    a = write_demo(tmp_path / "a", scale=0.002)
    b = write_demo(tmp_path / "b", scale=0.002)
    assert _digest(a) == _digest(b)
    assert (a / ".duckmesh/secret").read_text() != (b / ".duckmesh/secret").read_text()
    assert oct((a / ".duckmesh/secret").stat().st_mode & 0o777) == "0o600"
    policies = yaml.safe_load((a / "governance/policies.yaml").read_text())
    assert [r["classification"] for r in policies["rules"]] == [
        "pci", "pii", "restricted", "unclassified"]  # unlabelled columns are denied



def test_storage_cache_size(tmp_path: Path) -> None:
    write_yaml(tmp_path / "duckmesh.yaml", {"name": "m", "storage": {"cache": "1GiB"}})
    assert load_settings(tmp_path).storage.cache_bytes == 2**30
    write_yaml(tmp_path / "duckmesh.yaml", {"name": "m", "storage": {"cache": 0}})
    assert load_settings(tmp_path).storage.cache_bytes == 0
    for bad in ("lots", "-1MB", -5, "1PB"):
        write_yaml(tmp_path / "duckmesh.yaml", {"name": "m", "storage": {"cache": bad}})
        with pytest.raises(ConfigError) as info:
            load_settings(tmp_path)
        assert ("storage" in str(info.value) and "e.g. 500MB or 2GiB" in str(info.value)) \
            or "negative" in str(info.value), str(info.value)

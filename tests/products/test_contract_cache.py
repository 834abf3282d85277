"""The cache of validated contracts (products.contract_cache) only ever skips work for
bytes that passed before: an edited, broken or swapped contract is checked again, and a
corrupt, stale or foreign cache is ignored."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from products.catalog import Catalog
from products.contract import load_contract
from products.contract_cache import CACHE_DIR, CACHE_FILE, decode, digest, encode

PROFILES = Path("domains/customers/profiles.odcs.yaml")


@pytest.fixture
def mesh_root(demo_root: Path, tmp_path: Path) -> Path:
    """The demo's contracts and settings (no data: loading the catalog reads none)."""
    root = tmp_path / "mesh"
    root.mkdir()
    shutil.copy(demo_root / "duckmesh.yaml", root / "duckmesh.yaml")
    shutil.copytree(demo_root / "domains", root / "domains")
    return root


def cache_file(root: Path) -> Path:
    return root / CACHE_DIR / CACHE_FILE


def snapshot(catalog: Catalog) -> dict[str, tuple[object, ...]]:
    return {p.fqn: (p, p.raw) for p in catalog}


def rewrite_same_size_and_mtime(path: Path, old: str, new: str) -> None:
    """Change ``path``'s bytes, keeping its size and modification time."""
    assert len(old.encode()) == len(new.encode())
    before = path.stat()
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)


def test_a_warm_load_equals_a_cold_one(mesh_root: Path) -> None:
    cold = Catalog.load(mesh_root)
    stored = json.loads(cache_file(mesh_root).read_text())
    assert PROFILES.as_posix() in stored["contracts"]
    warm = Catalog.load(mesh_root)
    assert snapshot(warm) == snapshot(cold)
    assert not warm.broken


def test_warm_load_skips_schema_validation_and_type_parsing(mesh_root: Path) -> None:
    code = ("import sys; from pathlib import Path; from products.catalog import Catalog\n"
            f"c = Catalog.load(Path({str(mesh_root)!r})); assert len(c) > 3 and not c.broken\n"
            "print(*sorted(m for m in ('jsonschema', 'sqlglot') if m in sys.modules))")

    def run() -> str:
        return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              check=True).stdout.strip()

    assert run() == "jsonschema sqlglot"  # cold: every contract validated
    assert run() == ""  # warm: nothing to validate


def test_invalid_edit_keeping_size_and_mtime_is_refused(mesh_root: Path) -> None:
    Catalog.load(mesh_root)
    # logicalType "integer" -> "integex": not an ODCS logical type.
    rewrite_same_size_and_mtime(mesh_root / PROFILES, "logicalType: integer",
                                "logicalType: integex")
    catalog = Catalog.load(mesh_root)
    assert "customers.profiles" in catalog.broken
    assert "customers.profiles" not in catalog.products
    assert "logicalType" in str(catalog.broken["customers.profiles"])
    # and stays refused: a failed contract is never cached
    assert "customers.profiles" in Catalog.load(mesh_root).broken


def test_meaningful_edit_keeping_size_and_mtime_is_read_anew(mesh_root: Path) -> None:
    before = Catalog.load(mesh_root).get("customers.profiles")
    assert before.column("email") is not None
    assert before.column("email").classification == "pii"  # type: ignore[union-attr]
    text = (mesh_root / PROFILES).read_text()
    email_at = text.index("- name: email")
    pii_at = text.index("classification: pii", email_at) - email_at
    # Same length, same mtime: email's classification becomes pci (deny, not mask).
    new_text = text[:email_at + pii_at] + "classification: pci" + \
        text[email_at + pii_at + len("classification: pii"):]
    stat = (mesh_root / PROFILES).stat()
    (mesh_root / PROFILES).write_text(new_text)
    os.utime(mesh_root / PROFILES, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    after = Catalog.load(mesh_root).get("customers.profiles")
    assert after.column("email").classification == "pci"  # type: ignore[union-attr]


def test_a_type_error_is_caught_after_the_cache_was_filled(mesh_root: Path) -> None:
    Catalog.load(mesh_root)
    rewrite_same_size_and_mtime(mesh_root / PROFILES, "physicalType: BIGINT",
                                "physicalType: BIGWHY")
    error = Catalog.load(mesh_root).broken["customers.profiles"]
    assert "unknown type 'BIGWHY'" in str(error)
    assert error.line is not None  # checked in full again, so the error names its line


@pytest.mark.parametrize("garbage", [b"", b"\x00\xff not json", b'{"fingerprint": 1',
                                     b"[]", b'{"fingerprint": "x", "contracts": []}',
                                     b"[" * 100_000 + b"]" * 100_000])
def test_a_corrupt_cache_is_ignored_and_rebuilt(mesh_root: Path, garbage: bytes) -> None:
    cold = Catalog.load(mesh_root)
    cache_file(mesh_root).write_bytes(garbage)
    assert snapshot(Catalog.load(mesh_root)) == snapshot(cold)
    assert json.loads(cache_file(mesh_root).read_text())["contracts"]


def test_an_entry_with_the_right_digest_but_another_fingerprint_is_not_trusted(
        mesh_root: Path) -> None:
    """A cache from other code (or forged without the fingerprint) claiming that the
    current bytes mean something else is ignored."""
    Catalog.load(mesh_root)
    stored = json.loads(cache_file(mesh_root).read_text())
    entry = stored["contracts"][PROFILES.as_posix()]
    assert entry["sha256"] == digest((mesh_root / PROFILES).read_bytes())
    entry["data"]["schema"][0]["properties"] = [
        {"name": "everything", "logicalType": "string", "physicalType": "VARCHAR"}]
    stored["fingerprint"] = "0" * 64
    cache_file(mesh_root).write_text(json.dumps(stored))
    product = Catalog.load(mesh_root).get("customers.profiles")
    assert product.column("everything") is None
    assert product.column("email") is not None


def test_an_entry_for_other_bytes_is_not_used(mesh_root: Path) -> None:
    Catalog.load(mesh_root)
    stored = json.loads(cache_file(mesh_root).read_text())
    entry = stored["contracts"][PROFILES.as_posix()]
    entry["data"]["schema"][0]["properties"] = [
        {"name": "everything", "logicalType": "string", "physicalType": "VARCHAR"}]
    entry["sha256"] = digest(b"some other contract")
    cache_file(mesh_root).write_text(json.dumps(stored))
    assert Catalog.load(mesh_root).get("customers.profiles").column("everything") is None


@pytest.mark.parametrize("damage", [
    lambda data: data.pop("id"),
    lambda data: data.__setitem__("schema", "not a list"),
    lambda data: data["schema"][0].__setitem__("properties", [{"no": "name"}]),
    lambda data: data.__setitem__("servers", [None]),
    lambda data: data.__setitem__("tags", {"\u0000date": "not a date"}),
])
def test_a_damaged_entry_for_the_right_bytes_is_not_used(mesh_root: Path,
                                                         damage: object) -> None:
    """An entry whose digest matches but whose data is damaged (a disk or an editor, not
    an attacker: whoever can write .duckmesh/ can replace the mesh secret too) is
    ignored, and the contract is read from its file."""
    cold = Catalog.load(mesh_root)
    stored = json.loads(cache_file(mesh_root).read_text())
    entry = stored["contracts"][PROFILES.as_posix()]
    damage(entry["data"])  # type: ignore[operator]
    entry["plain"] = False  # so that the tagged value is decoded too
    cache_file(mesh_root).write_text(json.dumps(stored))
    warm = Catalog.load(mesh_root)
    assert not warm.broken
    assert snapshot(warm) == snapshot(cold)


def test_a_removed_contract_leaves_the_cache(mesh_root: Path) -> None:
    Catalog.load(mesh_root)
    (mesh_root / PROFILES).unlink()
    catalog = Catalog.load(mesh_root)
    assert "customers.profiles" not in catalog.products
    assert PROFILES.as_posix() not in json.loads(cache_file(mesh_root).read_text())["contracts"]


def test_dates_come_back_as_dates(mesh_root: Path) -> None:
    path = mesh_root / PROFILES
    # A quality rule's bound may be any value: YAML reads these as a date and a datetime.
    path.write_text(path.read_text().replace(
        "    - metric: nullValues\n      mustBe: 0\n",
        "    - metric: nullValues\n      mustBe: 0\n"
        "    - metric: nullValues\n      mustBe: 2026-11-30\n"
        "    - metric: nullValues\n      mustBe: 2026-11-30T10:00:00+01:00\n", 1))
    expected = load_contract(path, "customers").raw
    Catalog.load(mesh_root)
    warm = Catalog.load(mesh_root).get("customers.profiles")
    assert warm.raw == expected
    rules = warm.column("email").quality  # type: ignore[union-attr]
    assert type(rules[1]["mustBe"]) is dt.date
    assert type(rules[2]["mustBe"]) is dt.datetime
    stored = json.loads(cache_file(mesh_root).read_text())["contracts"]
    assert stored[PROFILES.as_posix()]["plain"] is False


def test_a_mesh_where_the_cache_cannot_be_written_still_loads(mesh_root: Path) -> None:
    (mesh_root / CACHE_DIR).parent.mkdir(parents=True, exist_ok=True)
    (mesh_root / CACHE_DIR).write_text("a file where the cache folder would be")
    assert len(Catalog.load(mesh_root)) == len(Catalog.load(mesh_root)) > 0


def test_concurrent_loads_leave_one_complete_cache(mesh_root: Path) -> None:
    expected = snapshot(Catalog.load(mesh_root))
    cache_file(mesh_root).unlink()
    errors: list[BaseException] = []

    def load() -> None:
        try:
            assert snapshot(Catalog.load(mesh_root)) == expected
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=load) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(json.loads(cache_file(mesh_root).read_text())["contracts"]) == len(expected)
    assert not [p for p in cache_file(mesh_root).parent.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("value", [{1: "int key"}, {"\x00date": "2026-01-01"}, {1, 2},
                                   b"bytes", ("a", "tuple")])
def test_values_json_cannot_keep_are_not_encoded(value: object) -> None:
    with pytest.raises(ValueError):
        encode({"x": [value]})


def test_encode_round_trips_yaml_values() -> None:
    value = {"a": [1, 2.5, True, None, "s", dt.date(2026, 1, 2),
                   dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=1)))],
             "b": {"c": dt.datetime(2026, 1, 2, 3, 4, 5)}}
    assert decode(json.loads(json.dumps(encode(value)))) == value

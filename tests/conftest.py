"""Shared fixtures: an isolated environment, a small demo mesh, a raw-data oracle."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from federation import Mesh
from products.demo import write_demo

pytest_plugins = ["tests.s3"]

DEMO_SCALE = 0.01  # 10,000 bookings, 1,000 customers: fast, and every code path is hit


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true",
                     help="rewrite the expected side of golden SQL fixtures")


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Keep the developer's own mesh, user and secret out of every test."""
    for name in ("DUCKMESH_MESH", "DUCKMESH_USER", "DUCKMESH_SECRET", "DUCKMESH_WORKER"):
        monkeypatch.delenv(name, raising=False)
    # No developer's warm worker (`duckmesh worker start`) may run the tests' commands:
    # each test has its own (empty) worker folder.
    monkeypatch.setenv("DUCKMESH_RUNTIME_DIR", str(tmp_path / "rt"))
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def demo_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo mesh shared by the tests that only read it."""
    return write_demo(tmp_path_factory.mktemp("mesh") / "demo", scale=DEMO_SCALE)


@pytest.fixture
def demo_copy(demo_root: Path, tmp_path: Path) -> Path:
    """A private copy of the demo mesh, for tests that change files."""
    target = tmp_path / "mesh"
    # Other tests query the shared mesh and so write its audit log: start a copy clean.
    shutil.copytree(demo_root, target, ignore=shutil.ignore_patterns("audit"))
    return target


@pytest.fixture(scope="session")
def mesh(demo_root: Path) -> Mesh:
    return Mesh.open(demo_root)


@pytest.fixture(scope="session")
def raw_secrets(demo_root: Path) -> frozenset[str]:
    """Every raw pii/pci/restricted text value of the demo, read straight from the files.

    Governed output for the analyst must contain none of them.
    """
    con = duckdb.connect()
    try:
        values: set[str] = set()
        profiles = str(demo_root / "data/customers/profiles/**/*.parquet")
        payments = str(demo_root / "data/payments/transactions/*.parquet")
        for (name, email, phone, passport) in con.execute(
                "SELECT full_name, email, phone, passport_number FROM read_parquet($p)",
                {"p": profiles}).fetchall():
            values.update((email, phone, passport))
            values.add(name)
        values.update(r[0] for r in con.execute(
            "SELECT DISTINCT card_number FROM read_parquet($p)", {"p": payments}).fetchall())
        return frozenset(values)
    finally:
        con.close()


@pytest.fixture(scope="session")
def non_eu_customer_emails(demo_root: Path) -> frozenset[str]:
    con = duckdb.connect()
    try:
        rows = con.execute(
            "SELECT email FROM read_parquet($p, hive_partitioning = true) WHERE region <> 'EU'",
            {"p": str(demo_root / "data/customers/profiles/**/*.parquet")}).fetchall()
        return frozenset(r[0] for r in rows)
    finally:
        con.close()


def leaked(text: str, secrets: frozenset[str]) -> list[str]:
    """The raw values found in ``text`` (an empty list means nothing leaked)."""
    return [s for s in secrets if s and s in text]


@pytest.fixture
def fresh_demo(tmp_path: Path) -> Iterator[Path]:
    """A demo mesh of its own (for tests that must start from a clean mesh)."""
    yield write_demo(tmp_path / "fresh", scale=DEMO_SCALE)

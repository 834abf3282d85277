"""Issue 16's acceptance, as a user runs it from a fresh clone: `duckmesh demo`,
`duckmesh tokens issue ana`, `duckmesh serve`; an ADBC Flight SQL client with that token
gets ana's governed answer to the demo query (the Makefile's DEMO_SQL), identical to
`duckmesh query --user ana`; without a token it is refused; `duckmesh audit` shows the
query under `ana (authenticated)`, the embedded one under plain `ana`."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import adbc_driver_manager
import pytest
from click.testing import CliRunner

from federation.cli import cli
from tests.federation.server.conftest import adbc

MAKEFILE = Path(__file__).resolve().parents[3] / "Makefile"


def demo_sql() -> str:
    found = re.search(r"^DEMO_SQL := (.+)$", MAKEFILE.read_text(), re.MULTILINE)
    assert found is not None
    return found[1].strip()


def env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("DUCKMESH_")}


def duckmesh(mesh: Path, *args: str, user: str | None = None) -> str:
    """A CLI command in this process (``user``: $DUCKMESH_USER, the audit's reader)."""
    result = CliRunner(env={"DUCKMESH_USER": user}).invoke(cli, ["--mesh", str(mesh), *args])
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture(params=[pytest.param(["--scale", "0.02"], id="small"),
                        pytest.param([], id="default-scale", marks=pytest.mark.slow)])
def serving(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[Path, str, str]]:
    """The fresh-clone steps: a demo mesh, a token for ana, `duckmesh serve` running.
    (`duckmesh demo` at its default scale writes 1M bookings: that run is in the slow
    suite; the same steps on a small demo run in `make test`.)"""
    mesh = tmp_path / "demo-mesh"
    assert CliRunner().invoke(cli, ["demo", *request.param, str(mesh)]).exit_code == 0
    token = duckmesh(mesh, "tokens", "issue", "ana").strip().splitlines()[-1]
    log = tempfile.TemporaryFile()  # noqa: SIM115 - open as long as the server runs
    server = subprocess.Popen([sys.executable, "-m", "federation.cli", "serve", "--port", "0",
                               "--http-port", "0"], cwd=mesh, env=env(), stderr=log)
    # (as `cd demo-mesh && duckmesh serve`: the mesh is the folder it runs in)
    try:
        url = ""
        deadline = time.monotonic() + 60
        while not url and time.monotonic() < deadline and server.poll() is None:
            time.sleep(0.1)
            log.seek(0)
            for line in log.read().decode().splitlines():
                if '"server.start"' in line:
                    url = json.loads(line)["flight"]
        assert url, "duckmesh serve did not start"
        yield mesh, token, url
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def _fetch(conn: Any, sql: str) -> list[dict[str, Any]]:
    cur = conn.cursor()
    try:
        cur.execute(sql)
        return list(cur.fetch_arrow_table().to_pylist())
    finally:
        cur.close()


def _as_json(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Arrow values as `duckmesh query --format json` writes them (decimals as numbers)."""
    return [{k: float(v) if isinstance(v, Decimal) else v for k, v in row.items()}
            for row in rows]


def test_fresh_clone_acceptance(serving: tuple[Path, str, str]) -> None:
    mesh, token, url = serving
    sql = demo_sql()
    conn = adbc(url, token)
    try:
        remote = _fetch(conn, sql)
    finally:
        conn.close()
    embedded = json.loads(duckmesh(mesh, "query", "--user", "ana", "--format", "json", sql))
    assert remote and _as_json(remote) == embedded
    assert all("@" not in row["sample_email"] for row in remote)  # ana's: emails masked
    anonymous = adbc(url, None)
    try:
        with pytest.raises(adbc_driver_manager.Error, match="UNAUTHENTICATED"):
            _fetch(anonymous, sql)
    finally:
        anonymous.close()
    records = [r for r in json.loads(duckmesh(mesh, "audit", "--format", "json",
                                                         user="adam"))
               if r["sql"] == sql]
    assert [(r["user"], r["authenticated"], r["outcome"]) for r in records] == [
        ("ana", True, "ok"), ("ana", False, "ok")]  # served, then embedded
    assert records[0]["session"]["auth"] == "token"
    assert records[0]["session"]["protocol"] == "flight-sql"
    table = duckmesh(mesh, "audit", user="adam")
    assert "ana (authenticated)" in table
    assert re.search(r"│ ana\s+│", table)  # the embedded query: a claim, not verified

"""One time zone (issue 14, item 3): a query's answer does not depend on the time zone
of the host it runs on; it runs in ``engine.timezone`` (default UTC)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from federation import Mesh
from federation.errors import ConfigError
from tests.helpers import write_yaml
from tests.lab import make_lab, raw

ROOT = Path(__file__).resolve().parents[3]
ON_NEW_YEARS_DAY = "SELECT count(*) AS n FROM lab.types WHERE tstz::DATE = DATE '2024-01-01'"
HOST_ZONES = ("UTC", "America/New_York", "Asia/Kolkata")

PROBE = """
import datetime as dt, json, sys
from federation import Mesh
from federation.reports.schedule import latest_slot
from federation.reports.spec import ReportSpec
out = {}
sql = sys.stdin.readline()
for root in sys.argv[1:]:
    mesh = Mesh.open(root)
    n = mesh.sql(sql, user="adam").arrow().column(0)[0].as_py()
    table = mesh.sql("SELECT tstz, tstz::DATE AS day, tstz::VARCHAR AS text FROM lab.types "
                     "ORDER BY id LIMIT 3", user="adam").arrow()
    out[root] = {"n": n, "zone": table.schema.field("tstz").type.tz,
                 "rows": [[str(v) for v in r.values()] for r in table.to_pylist()]}
spec = ReportSpec(schedule="0 6 * * *", timezone="Europe/Madrid", run_as="adam",
                  destination="out/x.parquet")
at = dt.datetime(2024, 3, 31, 12, tzinfo=dt.UTC)
out["slot"] = latest_slot(spec, at).isoformat()
print(json.dumps(out))
"""


def _run_under(zone: str, roots: list[Path], sql: str) -> dict[str, object]:
    env = {**os.environ, "TZ": zone}
    proc = subprocess.run([sys.executable, "-c", PROBE, *map(str, roots)], input=sql + "\n",
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=120,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    result: dict[str, object] = json.loads(proc.stdout)
    return result


def test_results_are_the_same_whatever_the_host_time_zone(tmp_path: Path) -> None:
    utc = make_lab(tmp_path / "utc")
    kolkata = make_lab(tmp_path / "kolkata", timezone="Asia/Kolkata")
    seen = {zone: _run_under(zone, [utc, kolkata], ON_NEW_YEARS_DAY) for zone in HOST_ZONES}
    first = seen["UTC"]
    assert all(answer == first for answer in seen.values()), seen
    # The oracle: plain DuckDB over the same file, in the declared zone.
    oracle = ON_NEW_YEARS_DAY.replace("lab.types", "lab_types")
    for root, zone in ((utc, "UTC"), (kolkata, "Asia/Kolkata")):
        answer = first[str(root)]
        assert answer["n"] == raw(root, oracle, zone)[0][0]  # type: ignore[index]
        assert answer["zone"] == zone  # type: ignore[index]
    assert (first[str(utc)]["n"], first[str(kolkata)]["n"]) == (44, 41)  # type: ignore[index]
    # 22:00 UTC on 31 December is 03:30 on New Year's Day in Kolkata.
    assert first[str(utc)]["rows"][0][1:] == [  # type: ignore[index]
        "2023-12-31", "2023-12-31 22:00:00+00"]
    assert first[str(kolkata)]["rows"][0][1:] == [  # type: ignore[index]
        "2024-01-01", "2024-01-01 03:30:00+05:30"]
    assert first["slot"] == "2024-03-31T04:00:00+00:00"  # 06:00 in Madrid, summer time


def test_an_unknown_time_zone_is_a_configuration_error(tmp_path: Path) -> None:
    root = make_lab(tmp_path / "lab")
    write_yaml(root / "duckmesh.yaml", {"name": "lab", "engine": {"timezone": "Mars/Olympus"}})
    with pytest.raises(ConfigError, match="timezone"):
        Mesh.open(root)

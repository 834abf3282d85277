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


def _run_under(zones: tuple[str, ...], roots: list[Path],
               sql: str) -> dict[str, dict[str, object]]:
    """The probe's answers in one process per host time zone, run side by side."""
    procs = {zone: subprocess.Popen([sys.executable, "-c", PROBE, *map(str, roots)],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True, cwd=ROOT,
                                    env={**os.environ, "TZ": zone}) for zone in zones}
    out = {}
    for zone, proc in procs.items():
        stdout, stderr = proc.communicate(sql + "\n", timeout=120)
        assert proc.returncode == 0, stderr
        out[zone] = json.loads(stdout)
    return out


def test_results_are_the_same_whatever_the_host_time_zone(tmp_path: Path) -> None:
    utc = make_lab(tmp_path / "utc")
    kolkata = make_lab(tmp_path / "kolkata", timezone="Asia/Kolkata")
    seen = _run_under(HOST_ZONES, [utc, kolkata], ON_NEW_YEARS_DAY)
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

"""Scheduled reports: slots, governed output, atomic publication, idempotence, S3."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import boto3
import openpyxl
import pyarrow.parquet as pq
import pytest
import yaml
from click.testing import CliRunner

from federation import Mesh
from federation.cli import cli
from federation.errors import ConfigError
from federation.reports.history import History
from federation.reports.runner import due, run_report
from federation.reports.schedule import latest_slot, slots_between
from federation.reports.spec import ReportSpec, load_report
from tests.conftest import leaked
from tests.s3 import FaultProxy

NOW = "2026-11-22T08:00:00+00:00"
DAILY = "out/reports/daily_revenue_eu/2026-11-22.parquet"


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def write_report(root: Path, name: str, **fields: object) -> Path:
    path = root / "reports" / f"{name}.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(yaml.safe_dump(fields))
    return path


def invoke(root: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["--mesh", str(root), *args])
    return result.exit_code, result.stdout, result.stderr


def spec(**fields: object) -> ReportSpec:
    base: dict[str, object] = {"name": "r", "sql": "SELECT 1", "run_as": "ana",
                               "schedule": "0 6 * * *", "destination": "out/{slot:%Y}.csv"}
    return ReportSpec.model_validate({**base, **fields})


# -- schedule -----------------------------------------------------------------------------

def test_latest_slot_counts_a_slot_exactly_now_as_arrived() -> None:
    daily = spec()
    assert latest_slot(daily, utc("2026-11-22T06:00:00+00:00")) == utc("2026-11-22T06:00:00+00:00")
    assert latest_slot(daily, utc("2026-11-22T05:59:59+00:00")) == utc("2026-11-21T06:00:00+00:00")


def test_slots_follow_the_report_time_zone() -> None:
    paris = spec(timezone="Europe/Paris")
    # 06:00 in Paris is 05:00 UTC in winter.
    assert latest_slot(paris, utc(NOW)) == utc("2026-11-22T05:00:00+00:00")


def test_catch_up_is_bounded_and_oldest_first() -> None:
    daily = spec()
    last = utc("2026-11-18T06:00:00+00:00")
    assert slots_between(daily, last, utc(NOW), 10) == [
        utc(f"2026-11-{d}T06:00:00+00:00") for d in (19, 20, 21, 22)]
    assert slots_between(daily, last, utc(NOW), 2) == [
        utc(f"2026-11-{d}T06:00:00+00:00") for d in (21, 22)]
    assert slots_between(daily, None, utc(NOW), 10) == [utc("2026-11-22T06:00:00+00:00")]
    assert slots_between(daily, utc("2026-11-22T06:00:00+00:00"), utc(NOW), 10) == []


# -- spec validation ----------------------------------------------------------------------

@pytest.mark.parametrize(("fields", "message"), [
    ({"schedule": "every day"}, "schedule"),
    ({"timezone": "Mars/Olympus"}, "timezone"),
    ({"destination": "out/{slot.__class__}.csv"}, "destination"),
    ({"destination": "out/{user}.csv"}, "destination"),
    ({"format": "pdf"}, "format"),
    ({"surprise": 1}, "surprise"),
    ({"sql_file": "x.sql"}, "sql"),
    ({"chart": {"x": "a", "y": "b"}}, "chart"),
])
def test_bad_report_specs_name_the_file_and_field(demo_copy: Path, fields: dict[str, object],
                                                  message: str) -> None:
    base = {"sql": "SELECT 1", "run_as": "ana", "schedule": "0 6 * * *",
            "destination": "out/x.csv", "format": "csv"}
    write_report(demo_copy, "bad", **{**base, **fields})
    with pytest.raises(ConfigError) as info:
        load_report(demo_copy, "bad")
    assert "reports/bad.yaml" in str(info.value) and message in str(info.value)


def test_malformed_yaml_is_one_clear_line(demo_copy: Path) -> None:
    (demo_copy / "reports" / "broken.yaml").write_text("sql: [unclosed\n")
    code, _, err = invoke(demo_copy, "reports", "run", "broken", "--at", NOW)
    assert code == 1
    assert err.count("\n") == 1 and "reports/broken.yaml" in err and "malformed YAML" in err


# -- running ------------------------------------------------------------------------------

def test_daily_report_lands_once_per_slot_with_masked_pii(
        demo_copy: Path, raw_secrets: frozenset[str]) -> None:
    code, out, _ = invoke(demo_copy, "reports", "due", "--now", NOW)
    assert code == 0, out
    table = pq.read_table(demo_copy / DAILY)
    assert table.num_rows > 0
    emails = table.column("email").to_pylist()
    assert all(len(e) == 32 for e in emails)  # hashed for the analyst
    assert leaked(json.dumps(table.to_pylist(), default=str), raw_secrets) == []
    meta = json.loads(table.schema.metadata[b"duckmesh.report"])
    assert meta["run_as"] == "ana" and "customers.profiles" in meta["stamp"]["products"]
    # The same minute again: nothing to do, one file per slot.
    code, out, _ = invoke(demo_copy, "reports", "due", "--now", NOW)
    assert code == 0 and "ok" not in out
    outputs = sorted(p.name for p in (demo_copy / DAILY).parent.iterdir())
    assert outputs == ["2026-11-22.parquet"]
    runs = list(History(demo_copy, "daily_revenue_eu").entries())
    assert [e["outcome"] for e in runs] == ["ok"]


def test_the_output_is_governed_for_the_report_principal(demo_copy: Path) -> None:
    write_report(demo_copy, "as_fiona", sql="SELECT email FROM customers.profiles LIMIT 5",
                 run_as="fiona", schedule="0 6 * * *", format="csv",
                 destination="out/fiona-{slot:%Y-%m-%d}.csv")
    write_report(demo_copy, "as_ana", sql="SELECT email FROM customers.profiles LIMIT 5",
                 run_as="ana", schedule="0 6 * * *", format="csv",
                 destination="out/ana-{slot:%Y-%m-%d}.csv")
    mesh = Mesh.open(demo_copy)
    for name in ("as_fiona", "as_ana"):
        assert run_report(mesh, load_report(demo_copy, name), utc(NOW)).outcome == "ok"
    fiona = (demo_copy / "out/fiona-2026-11-22.csv").read_text()
    ana = (demo_copy / "out/ana-2026-11-22.csv").read_text()
    assert "@" in fiona and "@" not in ana


def test_runs_are_audited_with_their_purpose(demo_copy: Path) -> None:
    mesh = Mesh.open(demo_copy)
    run_report(mesh, load_report(demo_copy, "daily_revenue_eu"), utc(NOW))
    records = [r for r in mesh.audit.records() if r.get("purpose")]
    assert [(r["user"], r["purpose"], r["outcome"]) for r in records] == [
        ("ana", "report:daily_revenue_eu", "ok")]


def test_a_failure_exits_non_zero_is_recorded_and_retried_by_the_next_due(
        demo_copy: Path) -> None:
    path = write_report(demo_copy, "fragile", sql="SELECT card_number FROM payments.transactions",
                        run_as="ana", schedule="0 6 * * *", format="csv",
                        destination="out/fragile-{slot:%Y-%m-%d}.csv")
    code, _, err = invoke(demo_copy, "reports", "due", "--now", NOW)
    assert code == 3 and "fragile" in err and "denied" in err
    assert not (demo_copy / "out/fragile-2026-11-22.csv").exists()
    assert [e["outcome"] for e in History(demo_copy, "fragile").entries()] == ["failed"]
    # The owner fixes the report; the next call completes the slot it failed.
    path.write_text(path.read_text().replace("card_number", "card_brand"))
    code, out, _ = invoke(demo_copy, "reports", "due", "--now", NOW)
    assert code == 0 and "fragile 2026-11-22T06:00:00+00:00: ok" in out
    assert (demo_copy / "out/fragile-2026-11-22.csv").exists()


def test_run_twice_for_one_slot_produces_one_output(demo_copy: Path) -> None:
    mesh = Mesh.open(demo_copy)
    report = load_report(demo_copy, "daily_revenue_eu")
    first = run_report(mesh, report, utc(NOW))
    second = run_report(mesh, report, utc("2026-11-22T23:59:00+00:00"))
    assert (first.outcome, second.outcome) == ("ok", "skipped")
    assert "already succeeded" in second.line()
    forced = run_report(mesh, report, utc(NOW), force=True)
    assert forced.outcome == "ok"
    assert sorted(p.name for p in (demo_copy / DAILY).parent.iterdir()) == ["2026-11-22.parquet"]


def test_a_second_scheduler_skips_a_report_whose_lock_is_held(demo_copy: Path) -> None:
    mesh = Mesh.open(demo_copy)
    report = load_report(demo_copy, "daily_revenue_eu")
    with History(demo_copy, "daily_revenue_eu").lock() as held:
        assert held
        outcome = run_report(mesh, report, utc(NOW))
    assert outcome.outcome == "skipped" and "lock" in outcome.line()
    assert not (demo_copy / DAILY).exists()


def test_xlsx_and_html_outputs(demo_copy: Path) -> None:
    write_report(demo_copy, "sheet", sql="SELECT channel, count(*) AS n FROM "
                 "bookings.reservations GROUP BY channel ORDER BY channel",
                 run_as="ana", schedule="0 6 * * *", format="xlsx",
                 destination="out/sheet-{slot:%Y-%m-%d}.xlsx")
    mesh = Mesh.open(demo_copy)
    assert run_report(mesh, load_report(demo_copy, "sheet"), utc(NOW)).outcome == "ok"
    book = openpyxl.load_workbook(demo_copy / "out/sheet-2026-11-22.xlsx")
    rows = list(book["report"].values)
    assert rows[0] == ("channel", "n") and len(rows) == 5
    assert "stamp" in [r[0] for r in book["about"].values]
    weekly = load_report(demo_copy, "weekly_channels")
    outcome = run_report(mesh, weekly, utc(NOW))
    page = (demo_copy / "out/reports/weekly_channels/2026-11-16.html").read_text()
    assert outcome.outcome == "ok" and "<svg" in page and "<table" in page
    assert "bookings.reservations" in page and "policy decisions" in page


def test_a_chart_naming_a_missing_column_fails_cleanly(demo_copy: Path) -> None:
    write_report(demo_copy, "chart", sql="SELECT channel FROM bookings.reservations LIMIT 1",
                 run_as="ana", schedule="0 6 * * *", format="html",
                 chart={"x": "channel", "y": "nope"},
                 destination="out/chart-{slot:%Y-%m-%d}.html")
    code, _, err = invoke(demo_copy, "reports", "run", "chart", "--at", NOW)
    assert code == 1 and "nope" in err and "Traceback" not in err
    assert not (demo_copy / "out/chart-2026-11-22.html").exists()
    assert list((demo_copy / "out").glob(".*")) == []


def test_a_run_killed_mid_write_leaves_no_output_and_due_completes_it(demo_copy: Path) -> None:
    # Big enough (bookings × flights) that the write takes a while: kill it during the write.
    write_report(demo_copy, "big", sql="SELECT b.booking_id, f.flight_id, f.carrier "
                 "FROM bookings.reservations b, flights.schedule f LIMIT 200000",
                 run_as="ana", schedule="0 6 * * *", format="csv",
                 destination="out/big/{slot:%Y-%m-%d}.csv")
    folder = demo_copy / "out" / "big"
    env = {**os.environ, "DUCKMESH_MESH": str(demo_copy)}
    proc = subprocess.Popen([sys.executable, "-m", "federation.cli", "reports", "run", "big",
                             "--at", NOW], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not list(folder.glob(".*.partial")):
        assert proc.poll() is None, "the run ended before it was killed"
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert list(folder.glob("*.csv")) == []  # nothing visible under the final name
    assert History(demo_copy, "big").last_success() is None
    code, out, _ = invoke(demo_copy, "reports", "due", "--now", NOW)
    assert code == 0 and "big 2026-11-22T06:00:00+00:00: ok" in out
    assert [p.name for p in folder.iterdir()] == ["2026-11-22.csv"]  # stale partial removed
    with (folder / "2026-11-22.csv").open() as handle:
        assert sum(1 for _ in handle) > 1000


def test_reports_list(demo_copy: Path) -> None:
    code, out, _ = invoke(demo_copy, "reports", "list", "--format", "json")
    rows = {r["name"]: r for r in json.loads(out)}
    assert code == 0 and rows["daily_revenue_eu"]["run_as"] == "ana"
    assert rows["daily_revenue_eu"]["last_success"] is None


def test_reports_on_s3(demo_copy: Path, s3: FaultProxy) -> None:
    boto3.client("s3", endpoint_url=s3.url).create_bucket(Bucket="reports")
    settings = yaml.safe_load((demo_copy / "duckmesh.yaml").read_text())
    settings["storage"] = {"s3": {"endpoint_url": s3.url, "path_style": True,
                                  "max_attempts": 2}}
    settings["reports"] = {"destinations": ["out/", "s3://reports/"]}  # may write there
    (demo_copy / "duckmesh.yaml").write_text(yaml.safe_dump(settings))
    write_report(demo_copy, "to_s3", sql="SELECT channel, count(*) AS n FROM "
                 "bookings.reservations GROUP BY channel",
                 run_as="ana", schedule="0 6 * * *", format="parquet",
                 destination="s3://reports/daily/{slot:%Y-%m-%d}.parquet")
    mesh = Mesh.open(demo_copy)
    outcomes = due(mesh, utc(NOW))
    assert {o.report: o.outcome for o in outcomes}["to_s3"] == "ok"
    client = boto3.client("s3", endpoint_url=s3.url)
    keys = [o["Key"] for o in client.list_objects_v2(Bucket="reports")["Contents"]]
    assert keys == ["daily/2026-11-22.parquet"]
    body = client.get_object(Bucket="reports", Key=keys[0])["Body"].read()
    assert body[:4] == b"PAR1" and body[-4:] == b"PAR1"
    assert [o.outcome for o in due(mesh, utc(NOW))] == []
    # A denied upload fails the slot with one clear line and leaves nothing behind.
    s3.faults.deny = True
    write_report(demo_copy, "to_s3_denied", sql="SELECT 1 AS x FROM bookings.reservations "
                 "LIMIT 1", run_as="ana", schedule="0 6 * * *", format="csv",
                 destination="s3://reports/denied/{slot:%Y-%m-%d}.csv")
    failed = run_report(mesh, load_report(demo_copy, "to_s3_denied"), utc(NOW))
    s3.faults.deny = False
    assert failed.outcome == "failed" and "s3://reports/denied/2026-11-22.csv" in failed.line()
    assert "Contents" not in client.list_objects_v2(Bucket="reports", Prefix="denied/")


def test_validate_checks_reports(demo_copy: Path) -> None:
    code, out, _ = invoke(demo_copy, "validate")
    assert code == 0, out
    write_report(demo_copy, "ghost", sql="SELECT 1", run_as="nobody", schedule="0 6 * * *",
                 destination="out/x.csv", format="csv")
    write_report(demo_copy, "nofile", sql_file="reports/missing.sql", run_as="ana",
                 schedule="0 6 * * *", destination="out/y.csv", format="csv")
    code, out, err = invoke(demo_copy, "validate")
    text = out + err
    assert code == 1
    assert "reports/ghost.yaml" in text and "run_as" in text and "nobody" in text
    assert "reports/missing.sql" in text


def test_attempts_at_one_slot_list_in_the_order_they_ran(tmp_path: Path) -> None:
    # Record names held the slot and a uuid only: two attempts at one slot (a failure,
    # then the retry that worked) listed in random order.
    history = History(tmp_path, "retried")
    slot = "2030-01-01T05:00:00+00:00"
    outcomes = ["failed", "failed", "ok", "failed", "ok"] * 4
    for number, outcome in enumerate(outcomes):
        history.record({"slot": slot, "outcome": outcome, "attempt": number})
    assert [e["attempt"] for e in history.entries()] == list(range(len(outcomes)))

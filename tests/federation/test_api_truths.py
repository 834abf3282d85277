"""Small API truths (issue 14, item 12): batch sizes are maxima, Arrow-backed pandas
dtypes on request, ``-o FILE`` says the format, and killed writers leave nothing behind."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from connectors.writers import atomic_file
from federation import Mesh
from federation.cli import cli

SQL = ("SELECT booking_id, fare_amount, booked_at::DATE AS day, booked_at::TIME AS at "
       "FROM bookings.reservations")


def dm(*args: str, mesh: Path) -> object:
    return CliRunner().invoke(cli, ["--mesh", str(mesh), *args])


@pytest.mark.parametrize("size", [2000, 999, 1])
def test_batches_never_exceed_the_size_asked_for(mesh: Mesh, size: int) -> None:
    limit = "" if size > 1 else " LIMIT 5"
    result = mesh.sql(f"SELECT booking_id FROM bookings.reservations{limit}", user="adam")
    batches = list(result.batches(rows_per_batch=size))
    assert max(b.num_rows for b in batches) <= size
    assert sum(b.num_rows for b in batches) == (10_000 if size > 1 else 5)
    # Read again from the cached table: the same promise.
    result.arrow()
    assert max(b.num_rows for b in result.batches(rows_per_batch=size)) <= size


def test_df_offers_arrow_backed_dtypes(mesh: Mesh) -> None:
    result = mesh.sql(SQL + " LIMIT 10", user="adam")
    plain = result.df()
    assert plain["fare_amount"].dtype == object  # pandas has no decimal: Python objects
    typed = result.df(dtype_backend="pyarrow")
    for name, arrow_type in (("fare_amount", pa.decimal128(12, 2)), ("day", pa.date32()),
                             ("at", pa.time64("us")), ("booking_id", pa.int64())):
        assert typed[name].dtype == pd.ArrowDtype(arrow_type), name
    assert typed["fare_amount"].iloc[0] == plain["fare_amount"].iloc[0]


@pytest.mark.parametrize(("name", "reader"), [
    ("out.parquet", lambda p: pq.read_table(p).num_rows),
    ("out.csv", lambda p: len(p.read_text().splitlines()) - 1),
    ("out.json", lambda p: p.read_text().count('"flight_id"')),
])
def test_output_format_follows_the_extension(demo_root: Path, tmp_path: Path, name: str,
                                             reader: object) -> None:
    target = tmp_path / name
    result = dm("query", "-u", "ana", "-o", str(target),
                "SELECT flight_id FROM flights.schedule LIMIT 7", mesh=demo_root)
    assert result.exit_code == 0, result.stderr  # type: ignore[attr-defined]
    assert reader(target) == 7  # type: ignore[operator]


def test_output_format_that_cannot_be_told_is_one_line(demo_root: Path, tmp_path: Path) -> None:
    result = dm("query", "-u", "ana", "-o", str(tmp_path / "out.txt"),
                "SELECT flight_id FROM flights.schedule LIMIT 7", mesh=demo_root)
    assert result.exit_code == 1  # type: ignore[attr-defined]
    assert "--format" in result.stderr  # type: ignore[attr-defined]
    result = dm("query", "-u", "ana", "--format", "table", "-o", str(tmp_path / "out.csv"),
                "SELECT flight_id FROM flights.schedule LIMIT 7", mesh=demo_root)
    assert result.exit_code == 1  # type: ignore[attr-defined]


KILLED_WRITER = """
import os, signal, sys
from pathlib import Path
from connectors.writers import atomic_file
with atomic_file(Path(sys.argv[1])) as handle:
    handle.write(b"half a file")
    handle.flush()
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_killed_writer_leaves_a_partial_the_next_write_removes(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    proc = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(target)],
                          cwd=Path(__file__).resolve().parents[2], check=False)
    assert proc.returncode == -signal.SIGKILL
    left = list(tmp_path.glob(".out.csv.*.partial"))
    assert len(left) == 1 and not target.exists()
    # A writer that is still alive keeps its file.
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        alive = left[0].with_name(left[0].name.replace(
            left[0].name.split("~")[1], str(sleeper.pid)))
        alive.write_bytes(b"in progress")
        with atomic_file(target, sweep=True) as handle:
            handle.write(b"a,b\n")
        assert target.read_bytes() == b"a,b\n"
        assert sorted(tmp_path.glob(".out.csv.*.partial")) == [alive]
    finally:
        sleeper.kill()
        sleeper.wait()


def test_query_output_removes_what_a_killed_query_left(demo_root: Path, tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    proc = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(target)],
                          cwd=Path(__file__).resolve().parents[2], check=False)
    assert proc.returncode == -signal.SIGKILL and list(tmp_path.glob(".out.csv.*.partial"))
    result = dm("query", "-u", "ana", "-o", str(target),
                "SELECT flight_id FROM flights.schedule LIMIT 3", mesh=demo_root)
    assert result.exit_code == 0, result.stderr  # type: ignore[attr-defined]
    assert not list(tmp_path.glob(".out.csv.*.partial"))

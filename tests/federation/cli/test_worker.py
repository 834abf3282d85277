"""The warm worker (``duckmesh worker start``): ``query`` and ``explain`` run in it give
exactly what a cold run gives — output, errors, exit codes, files, audit — with the
caller's environment and folder; Ctrl-C, SIGTERM and a killed caller stop the query as
in a cold run; and it is never used when it should not be: another user, a folder others
can enter, a busy worker, changed code.  The oracle of every answer is the cold run
(``DUCKMESH_WORKER=off``), itself checked against DuckDB by the rest of the suite."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from federation import Mesh
from federation.cli.warm import command_of, send_frame, socket_path

ROOT = Path(__file__).resolve().parents[3]
ENDLESS = "SELECT sum(a.range * b.range) AS s FROM range(1000000) a, range(1000000) b"
"""A query that runs until it is stopped (10^12 rows)."""


def duckmesh(*args: str, env: dict[str, str] | None = None, stdin: str | None = None,
             cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "federation.cli", *args], input=stdin,
                          capture_output=True, text=True, env=env or dict(os.environ),
                          cwd=cwd, timeout=120, check=False)


def status() -> dict[str, int] | None:
    """pid and served/refused counts of the running worker, or None."""
    out = duckmesh("worker", "status")
    if out.returncode != 0:
        return None
    found = re.search(r"pid (\d+), .* (\d+) commands served, (\d+) refused", out.stdout)
    assert found, out.stdout
    return {"pid": int(found[1]), "served": int(found[2]), "refused": int(found[3])}


@pytest.fixture(scope="module")
def shared_folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One worker for the tests that leave it running (starting one takes seconds)."""
    folder = tmp_path_factory.mktemp("rt")
    folder.chmod(0o700)
    env = {**os.environ, "DUCKMESH_RUNTIME_DIR": str(folder)}
    started = duckmesh("worker", "start", "--idle-minutes", "10", env=env)
    assert started.returncode == 0, started.stderr
    assert "worker started" in started.stdout
    yield folder
    duckmesh("worker", "stop", env=env)


@pytest.fixture
def worker(shared_folder: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """The shared worker's pid and counts before the test."""
    monkeypatch.setenv("DUCKMESH_RUNTIME_DIR", str(shared_folder))
    now = status()
    assert now is not None
    return now


@pytest.fixture
def own_worker() -> Iterator[dict[str, int]]:
    """A worker of the test's own, for tests that stop or break it."""
    started = duckmesh("worker", "start", "--idle-minutes", "10")
    assert started.returncode == 0, started.stderr
    now = status()
    assert now is not None and now["served"] == 0
    yield now
    duckmesh("worker", "stop")
    assert status() is None


def cold_env() -> dict[str, str]:
    return {**os.environ, "DUCKMESH_WORKER": "off"}


CASES = [
    ("masked email as ana", ["query", "--user", "ana", "SELECT customer_id, email FROM "
                             "customers.profiles ORDER BY customer_id LIMIT 3"], None),
    ("denied card number", ["query", "--user", "ana", "SELECT card_number FROM "
                            "payments.transactions"], None),
    ("column typo", ["query", "--user", "adam", "SELECT fare_amout FROM "
                     "bookings.reservations"], None),
    ("parse error", ["query", "--user", "adam", "SELECT FROM WHERE"], None),
    ("unknown product", ["query", "--user", "adam", "SELECT 1 FROM customer.profile"], None),
    ("json and a parameter", ["query", "--user", "adam", "--format", "json", "--param",
                              "tier=gold", "SELECT count(*) AS n FROM customers.profiles "
                              "WHERE loyalty_tier = $tier"], None),
    ("sql from stdin", ["query", "--user", "adam", "-"],
     "-- a comment first\nSELECT region, count(*) AS n FROM customers.profiles "
     "GROUP BY region ORDER BY region;\n"),
    ("explain", ["explain", "--user", "nick", "SELECT email, region FROM "
                 "customers.profiles"], None),
    ("help of query", ["query", "--help"], None),
]


@pytest.mark.parametrize(("name", "args", "stdin"), CASES, ids=[c[0] for c in CASES])
def test_the_worker_answers_as_a_cold_run(worker: dict[str, int], demo_root: Path,
                                          name: str, args: list[str],
                                          stdin: str | None) -> None:
    argv = ["--mesh", str(demo_root), *args]
    warm = duckmesh(*argv, stdin=stdin)
    cold = duckmesh(*argv, stdin=stdin, env=cold_env())
    assert (warm.returncode, warm.stdout, warm.stderr) == \
        (cold.returncode, cold.stdout, cold.stderr)
    now = status()
    assert now is not None and now["pid"] == worker["pid"]
    # --help is answered in the caller's process: it imports nothing heavy anyway.
    assert now["served"] - worker["served"] == (0 if "--help" in args else 1)


def test_callers_environment_folder_and_files(worker: dict[str, int], demo_root: Path,
                                              tmp_path: Path) -> None:
    sql = "SELECT email FROM customers.profiles ORDER BY customer_id LIMIT 1"
    as_ana = duckmesh("--mesh", str(demo_root), "query", "--format", "csv", sql,
                      env={**os.environ, "DUCKMESH_USER": "ana"})
    as_adam = duckmesh("--mesh", str(demo_root), "query", "--format", "csv", sql,
                       env={**os.environ, "DUCKMESH_USER": "adam"})
    assert as_ana.returncode == as_adam.returncode == 0
    assert "@" in as_adam.stdout and "@" not in as_ana.stdout  # clear vs masked
    # A relative --mesh and -o FILE are the caller's: its working folder.
    out = tmp_path / "work"
    out.mkdir()
    (out / "mesh").symlink_to(demo_root)
    wrote = duckmesh("--mesh", "mesh", "query", "--user", "adam", "-o", "regions.csv",
                     "SELECT DISTINCT region FROM customers.profiles ORDER BY region",
                     cwd=out)
    assert wrote.returncode == 0, wrote.stderr
    cold = duckmesh("--mesh", "mesh", "query", "--user", "adam", "--format", "csv",
                    "SELECT DISTINCT region FROM customers.profiles ORDER BY region",
                    cwd=out, env=cold_env())
    assert (out / "regions.csv").read_text() == cold.stdout
    now = status()
    assert now is not None and now["served"] - worker["served"] == 3


def _start_endless(demo: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "federation.cli", "--mesh", str(demo), "query", "--user",
         "adam", ENDLESS], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=env)


def _wait_until_running(demo: Path) -> None:
    """Until DuckDB runs the endless query (its audit record is written as it starts)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        records = Mesh.open(demo).audit.records()
        if any(r["sql"] == ENDLESS and r["outcome"] == "running" for r in records):
            time.sleep(0.5)  # past the first moments of execution
            return
        time.sleep(0.1)
    pytest.fail("the query never started")


def _audited(demo: Path) -> list[dict[str, object]]:
    out = duckmesh("--mesh", str(demo), "audit", "--user", "adam", "--format", "json",
                   env=cold_env())
    assert out.returncode == 0, out.stderr
    records: list[dict[str, object]] = json.loads(out.stdout)
    return [r for r in records if r["sql"] == ENDLESS]


@pytest.mark.parametrize(("mode", "signum", "code", "line"), [
    ("warm", signal.SIGINT, 130, "duckmesh: error: interrupted"),
    pytest.param("warm", signal.SIGTERM, 143, "duckmesh: error: interrupted (SIGTERM)",
                 marks=pytest.mark.slow),
    pytest.param("cold", signal.SIGINT, 130, "duckmesh: error: interrupted",
                 marks=pytest.mark.slow),
    pytest.param("cold", signal.SIGTERM, 143, "duckmesh: error: interrupted (SIGTERM)",
                 marks=pytest.mark.slow),
])
def test_ctrl_c_and_sigterm_stop_the_query(demo_copy: Path, mode: str, signum: int,
                                           code: int, line: str,
                                           request: pytest.FixtureRequest) -> None:
    before = request.getfixturevalue("worker") if mode == "warm" else None
    proc = _start_endless(demo_copy, dict(os.environ) if mode == "warm" else cold_env())
    _wait_until_running(demo_copy)
    proc.send_signal(signum)
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("the query did not stop")
    assert proc.returncode == code, err
    assert err.strip().splitlines()[0].startswith(line), err
    assert [r["outcome"] for r in _audited(demo_copy)] == ["interrupted"]
    if before is not None:
        now = status()
        assert now is not None and now["served"] - before["served"] == 1
        again = duckmesh("--mesh", str(demo_copy), "query", "--user", "adam",
                         "SELECT 1 AS one")  # and it still serves
        assert again.returncode == 0 and "1" in again.stdout


@pytest.mark.slow
def test_a_killed_caller_stops_its_query_in_the_worker(worker: dict[str, int],
                                                       demo_copy: Path) -> None:
    proc = _start_endless(demo_copy, dict(os.environ))
    _wait_until_running(demo_copy)
    proc.kill()
    proc.communicate()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        records = _audited(demo_copy)
        if records and records[0]["outcome"] != "running":
            break
        time.sleep(0.2)
    assert [r["outcome"] for r in _audited(demo_copy)] == ["interrupted"]
    again = duckmesh("--mesh", str(demo_copy), "query", "--user", "adam", "SELECT 2 AS two")
    assert again.returncode == 0 and "2" in again.stdout
    now = status()
    assert now is not None and now["served"] - worker["served"] == 2


@pytest.mark.slow
def test_a_busy_worker_leaves_the_next_command_to_its_own_process(
        worker: dict[str, int], demo_copy: Path) -> None:
    proc = _start_endless(demo_copy, dict(os.environ))
    try:
        _wait_until_running(demo_copy)
        other = duckmesh("--mesh", str(demo_copy), "query", "--user", "adam",
                         "SELECT count(*) AS n FROM customers.profiles")
        assert other.returncode == 0, other.stderr
        now = status()
        assert now is not None and now["refused"] - worker["refused"] == 1
        assert now["served"] == worker["served"]
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)


def test_a_folder_others_can_enter_is_never_used(own_worker: dict[str, int],
                                                 demo_root: Path) -> None:
    folder = socket_path().parent
    folder.chmod(0o755)
    try:
        ran = duckmesh("--mesh", str(demo_root), "query", "--user", "adam", "SELECT 1 AS x")
        assert ran.returncode == 0
        refused = duckmesh("worker", "start")
        assert refused.returncode == 1
        assert refused.stderr.startswith("duckmesh: error: the worker folder ")
        assert "not private" in refused.stderr and len(refused.stderr.splitlines()) == 1
    finally:
        folder.chmod(0o700)
    now = status()
    assert now is not None and now["served"] == 0  # the query ran in its own process


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to become another user")
def test_another_user_gets_nothing_even_through_open_permissions(
        demo_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A folder another user can reach (pytest's own are private to root).
    monkeypatch.setenv("DUCKMESH_RUNTIME_DIR", tempfile.mkdtemp(prefix="dm-", dir="/tmp"))
    assert duckmesh("worker", "start").returncode == 0
    path = socket_path()
    path.parent.chmod(0o711)  # as if the owner had opened it up by mistake
    path.chmod(0o666)
    try:
        read, write = os.pipe()
        child = os.fork()
        if child == 0:  # pragma: no cover - runs in the forked child
            os.close(read)
            answer = b"?"
            try:
                os.setgid(65534)
                os.setuid(65534)
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.settimeout(10)
                sock.connect(str(path))
                send_frame(sock, {"argv": ["--mesh", str(demo_root), "query", "--user",
                                           "adam", "SELECT 1"], "cwd": "/", "env": {},
                                  "umask": 0o22}, fds=(0, 1, 2))
                answer = b"closed" if sock.recv(100) == b"" else b"answered"
            except (ConnectionResetError, BrokenPipeError):
                answer = b"closed"  # hung up on before it could even send
            except OSError as exc:
                answer = f"error {exc}".encode()
            os.write(write, answer)
            os._exit(0)
        os.close(write)
        os.waitpid(child, 0)
        answer = os.read(read, 200)
        os.close(read)
    finally:
        path.chmod(0o600)
        path.parent.chmod(0o700)
        now = status()
        duckmesh("worker", "stop")
        shutil.rmtree(path.parent, ignore_errors=True)
    assert answer == b"closed"
    assert now is not None and now["served"] == 0 and now["refused"] == 0


def test_changed_code_stops_the_worker(own_worker: dict[str, int], demo_root: Path) -> None:
    source = ROOT / "federation" / "cli" / "worker_loop.py"
    before = source.stat()
    os.utime(source, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_000))
    try:
        ran = duckmesh("--mesh", str(demo_root), "query", "--user", "adam",
                       "SELECT 3 AS three")
    finally:
        os.utime(source, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert ran.returncode == 0 and "3" in ran.stdout  # run in its own process instead
    deadline = time.monotonic() + 30
    while status() is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert status() is None


@pytest.mark.slow
def test_start_twice_and_stop_without_a_worker() -> None:
    assert duckmesh("worker", "stop").stdout.strip() == "no worker running"
    assert duckmesh("worker", "status").returncode == 1
    assert duckmesh("worker", "start", "--idle-minutes", "0.1").returncode == 0
    try:
        again = duckmesh("worker", "start")
        assert again.returncode == 0 and "already running" in again.stdout
        deadline = time.monotonic() + 60  # idle for 6 s: it stops by itself
        while status() is not None and time.monotonic() < deadline:
            time.sleep(0.5)
        assert status() is None
        assert not socket_path().exists()
    finally:
        duckmesh("worker", "stop")


@pytest.mark.parametrize(("argv", "command"), [
    (["query", "SELECT 1"], "query"),
    (["--mesh", "m", "--debug", "explain", "x"], "explain"),
    (["--mesh=m", "query", "-"], "query"),
    (["--debug", "shell"], "shell"),
    (["query", "--help"], None),
    (["--version"], None),
    ([], None),
])
def test_which_command_a_command_line_runs(argv: list[str], command: str | None) -> None:
    assert command_of(argv) == command

"""The warm worker under attack: crafted requests, foreign sockets, other groups, one
caller's credentials or signals reaching the next.  Each test is a hole that was open;
the invariant is test_worker.py's: a warm run is a cold run (``DUCKMESH_WORKER=off``),
never more, and nothing of one command outlives it."""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import tests.connectors.test_s3 as s3suite
from federation.cli.warm import limits, recv_frame, send_frame, socket_path
from tests.federation.cli.test_worker import (
    _audited,
    _start_endless,
    _wait_until_running,
    cold_env,
    duckmesh,
    status,
)
from tests.helpers import contract, write_yaml
from tests.s3 import FaultProxy

ROOT = Path(__file__).resolve().parents[3]
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to change credentials")


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One worker for this module's tests (each checks it still serves afterwards)."""
    path = tmp_path_factory.mktemp("rt-redteam")
    path.chmod(0o700)
    env = {**os.environ, "DUCKMESH_RUNTIME_DIR": str(path)}
    started = duckmesh("worker", "start", "--idle-minutes", "10", env=env)
    assert started.returncode == 0, started.stderr
    yield path
    duckmesh("worker", "stop", env=env)


@pytest.fixture
def worker(folder: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    monkeypatch.setenv("DUCKMESH_RUNTIME_DIR", str(folder))
    now = status()
    assert now is not None
    return now


def _released(read: int) -> bool:
    """True once every writer of the pipe ``read`` is closed (EOF within 10 s)."""
    ready, _, _ = select.select([read], [], [], 10)
    return bool(ready) and os.read(read, 65536) == b""


def _request(payload: bytes, fds: tuple[int, ...]) -> dict[str, Any] | None:
    """Send raw bytes (with ``fds``) as a client would; the answer, None if hung up on."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(30)
    try:
        sock.connect(str(socket_path()))
        socket.send_fds(sock, [payload[:4]], list(fds)) if fds else sock.sendall(payload[:4])
        sock.sendall(payload[4:])
        answer, _ = recv_frame(sock)
        if answer.get("accepted"):
            answer = recv_frame(sock)[0]  # its exit code
            answer["accepted"] = True
        return answer
    except (ConnectionError, BrokenPipeError):
        return None
    finally:
        sock.close()


def _frame(message: object) -> bytes:
    body = json.dumps(message).encode()
    return struct.pack(">I", len(body)) + body


def _good(demo: Path, **change: object) -> dict[str, object]:
    return {"argv": ["--mesh", str(demo), "query", "--user", "adam", "SELECT 1 AS one"],
            "cwd": "/", "env": dict(os.environ), "umask": 0o22,
            "streams": [["utf-8", "strict"]] * 2 + [["utf-8", "backslashreplace"]],
            "flags": list(sys.flags), "limits": limits(), **change}


CRAFTED = {
    "cwd that cannot be entered": lambda d: _frame(_good(d, cwd="/nonexistent/dm")),
    "relative cwd": lambda d: _frame(_good(d, cwd="tmp")),
    "umask beyond C int": lambda d: _frame(_good(d, umask=2**70)),
    "negative umask": lambda d: _frame(_good(d, umask=-1)),
    "umask true": lambda d: _frame(_good(d, umask=True)),
    "NUL in environment": lambda d: _frame(_good(d, env={**os.environ, "A": "x\0y"})),
    "= in a variable name": lambda d: _frame(_good(d, env={**os.environ, "A=B": "x"})),
    "number in environment": lambda d: _frame(_good(d, env={**os.environ, "A": 1})),
    "unknown encoding": lambda d: _frame(_good(d, streams=[["klingon", "strict"]] * 3)),
    "no encodings": lambda d: _frame(_good(d, streams=None)),
    "control with descriptors": lambda _: _frame({"control": "status"}),
    "another command": lambda d: _frame(_good(d, argv=["worker", "stop"])),
    "help": lambda d: _frame(_good(d, argv=["query", "--help"])),
    "argv not a list": lambda d: _frame(_good(d, argv="query x")),
    "not an object": lambda d: _frame(["query"]),
    "deeply nested": lambda _: struct.pack(">I", 200_000) + b"[" * 200_000,
    "not UTF-8": lambda _: struct.pack(">I", 4) + b"\xff\xfe\xfd\xfc",
    "huge length": lambda _: struct.pack(">I", 2**31) + b"{}",
}


@pytest.mark.parametrize("name", list(CRAFTED))
def test_a_crafted_request_is_refused_and_keeps_nothing(worker: dict[str, int],
                                                        demo_root: Path, name: str) -> None:
    read, write = os.pipe()
    try:
        answer = _request(CRAFTED[name](demo_root), (0, write, write))
        os.close(write)
        write = -1
        assert not (answer or {}).get("accepted"), answer
        assert _released(read), "the worker kept the caller's descriptors"
    finally:
        os.close(read)
        if write >= 0:
            os.close(write)
    now = status()
    assert now is not None and now["pid"] == worker["pid"] and now["served"] == worker["served"]
    again = duckmesh("--mesh", str(demo_root), "query", "--user", "adam", "SELECT 7 AS seven")
    assert again.returncode == 0 and "7" in again.stdout
    after = status()
    assert after is not None and after["served"] == worker["served"] + 1


@as_root
def test_the_client_sends_nothing_to_a_socket_of_another_user(
        demo_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A socket planted in (or swapped into) the private folder by another user: the
    client checks whose it is before its environment (secrets) goes out."""
    private = tmp_path / "rt-planted"
    private.mkdir(mode=0o700)
    monkeypatch.setenv("DUCKMESH_RUNTIME_DIR", str(private))
    open_dir = Path(tempfile.mkdtemp(prefix="dm-open-"))
    open_dir.chmod(0o777)
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the other user, in the forked child
        os.close(read)
        got = b""
        try:
            os.setgid(65534)
            os.setuid(65534)
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            listener.bind(str(open_dir / "planted.sock"))
            listener.listen(1)
            os.write(write, b"R")
            listener.settimeout(60)
            conn, _ = listener.accept()
            conn.settimeout(5)
            with contextlib.suppress(OSError):
                while chunk := conn.recv(65536):
                    got += chunk
        finally:
            os.write(write, got)
            os._exit(0)
    os.close(write)
    try:
        assert os.read(read, 1) == b"R"
        (open_dir / "planted.sock").rename(socket_path())
        ran = duckmesh("--mesh", str(demo_root), "query", "--user", "adam", "SELECT 5 AS five",
                       env={**os.environ, "DUCKMESH_SECRET": "topsecret-value"})
        assert ran.returncode == 0 and "5" in ran.stdout, ran.stderr  # run cold
    finally:
        with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX) as unblock:
            unblock.connect(str(socket_path()))  # the child's accept, if nobody came
        os.waitpid(child, 0)
        received = b"".join(iter(lambda: os.read(read, 65536), b""))
        os.close(read)
        shutil.rmtree(open_dir, ignore_errors=True)
    assert b"topsecret" not in received and received == b""


@as_root
def test_a_caller_with_other_groups_is_not_served(worker: dict[str, int],
                                                  demo_root: Path) -> None:
    """Same user, other groups (`sg`, a group removed since): a cold run could not open
    the group's files, so the worker's rights must not lend them."""
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the forked child
        os.close(read)
        answer: object = "error"
        try:
            os.setgroups([*os.getgroups(), 12345])
            answer = _request(_frame(_good(demo_root)), (0, 1, 2))
        finally:
            os.write(write, json.dumps(answer).encode())
            os._exit(0)
    os.close(write)
    os.waitpid(child, 0)
    answer = json.loads(os.read(read, 4096) or b'"nothing"')
    os.close(read)
    assert answer is None  # hung up on, not served
    now = status()
    assert now is not None and now["served"] == worker["served"]


def test_one_callers_s3_credentials_never_serve_the_next(
        worker: dict[str, int], s3: FaultProxy, tmp_path: Path) -> None:
    """S3 clients were kept per process, built with the first caller's credentials: a
    later caller without any then read the bucket anyway."""
    root = tmp_path / "mesh"
    server = s3suite.TestS3Parquet().publish(root, s3suite.people_table(), s3)
    s3suite.governance(root, {"s3": {"endpoint_url": s3.url, "path_style": True,
                                     "max_attempts": 1, "read_timeout": 2,
                                     "connect_timeout": 2}})
    data = contract("crm", "people", s3suite.COLUMNS)
    data["servers"] = [server]
    write_yaml(root / "domains/crm/people.odcs.yaml", data)
    argv = ["--mesh", str(root), "query", "-u", "root", "SELECT count(*) AS n FROM crm.people"]
    with_keys = duckmesh(*argv)
    assert with_keys.returncode == 0 and str(s3suite.ROWS) in with_keys.stdout
    none = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    none |= {"AWS_EC2_METADATA_DISABLED": "true", "HOME": str(tmp_path),
             "AWS_CONFIG_FILE": str(tmp_path / "none"),
             "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none")}
    warm = duckmesh(*argv, env=none)
    cold = duckmesh(*argv, env={**none, "DUCKMESH_WORKER": "off"})
    assert cold.returncode != 0
    assert (warm.returncode, warm.stdout, warm.stderr) == \
        (cold.returncode, cold.stdout, cold.stderr)
    now = status()
    assert now is not None and now["served"] == worker["served"] + 2


def test_output_is_encoded_as_the_callers_own(worker: dict[str, int], demo_root: Path) -> None:
    """PYTHONIOENCODING or the locale sets how a cold run encodes its output (the
    worker now encodes as the caller's own streams, and leaves PYTHON* setups cold)."""
    argv = [sys.executable, "-m", "federation.cli", "--mesh", str(demo_root), "query",
            "--user", "adam", "SELECT 'café' AS word"]
    env = {**os.environ, "PYTHONIOENCODING": "latin-1"}
    warm = subprocess.run(argv, capture_output=True, env=env, timeout=60, check=False)
    cold = subprocess.run(argv, capture_output=True, env={**env, "DUCKMESH_WORKER": "off"},
                          timeout=60, check=False)
    assert cold.returncode == 0 and "café".encode("latin-1") in cold.stdout, cold.stderr
    assert (warm.returncode, warm.stdout, warm.stderr) == \
        (cold.returncode, cold.stdout, cold.stderr)


@pytest.mark.parametrize("variable", ["PYTHONPATH", "PYTHONHASHSEED", "PYTHONOPTIMIZE"])
def test_another_python_setup_runs_cold(worker: dict[str, int], demo_root: Path,
                                        tmp_path: Path, variable: str) -> None:
    """PYTHONPATH may name other code, PYTHONOPTIMIZE drops asserts, ...: a cold run
    would run that; the worker's interpreter is not it."""
    value = str(tmp_path) if variable == "PYTHONPATH" else "1"
    ran = duckmesh("--mesh", str(demo_root), "query", "--user", "adam", "SELECT 4 AS four",
                   env={**os.environ, variable: value})
    assert ran.returncode == 0 and "4" in ran.stdout, ran.stderr
    now = status()
    assert now is not None and now["served"] == worker["served"]


def test_other_resource_limits_run_cold(worker: dict[str, int], demo_root: Path) -> None:
    """`ulimit -f` / `-v` bound a cold run; the worker's own limits are not the caller's."""
    import resource

    def lower() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (10_000_000, resource.RLIM_INFINITY))

    ran = subprocess.run([sys.executable, "-m", "federation.cli", "--mesh", str(demo_root),
                          "query", "--user", "adam", "SELECT 6 AS six"], capture_output=True,
                         text=True, timeout=60, check=False, preexec_fn=lower)
    assert ran.returncode == 0 and "6" in ran.stdout, ran.stderr
    now = status()
    assert now is not None and now["served"] == worker["served"]


def test_lineage_events_are_sent_before_the_exit_as_in_a_cold_run(
        worker: dict[str, int], demo_copy: Path) -> None:
    """A cold run waits at exit for its OpenLineage events (and tells their failures on
    its stderr); in the worker they went on after the command, onto the next one's."""
    settings = yaml.safe_load((demo_copy / "duckmesh.yaml").read_text())
    settings["lineage"] = {"openlineage": {"transport": {
        "type": "http", "url": "http://127.0.0.1:9", "timeout": 0.5, "retry": {"total": 0}}}}
    (demo_copy / "duckmesh.yaml").write_text(yaml.safe_dump(settings))
    argv = ["--mesh", str(demo_copy), "query", "--user", "adam", "SELECT 1 AS one"]
    warm, cold = duckmesh(*argv), duckmesh(*argv, env=cold_env())
    assert "OpenLineage event not sent" in cold.stderr
    assert (warm.returncode, warm.stdout, sorted(warm.stderr.splitlines())) == \
        (cold.returncode, cold.stdout, sorted(cold.stderr.splitlines()))
    now = status()
    assert now is not None and now["served"] == worker["served"] + 1


CLEARED: set[str] = set()
"""Caches the worker drops before each command (with filesystems', footers' and
localpaths', which are no decorated functions)."""
PURE = {"connectors/storage.py:_parsed", "products/ownership.py:_parsed",
        "federation/pipeline/authorize.py:_schema", "connectors/types.py:normalize_type",
        "connectors/types.py:type_key", "products/contract.py:_validator",
        "federation/pipeline/output_names.py:_cached_names",
        "federation/theme/__init__.py:stylesheet", "federation/server/browse.py:*"}
"""Functions of their arguments alone (or of duckmesh's own files, or server-only)."""


def test_every_process_wide_cache_is_dropped_or_pure() -> None:
    """A cache filled by one caller (its credentials, its view of files) is a leak to
    the next; a new one must be added to the worker's list or proved pure here."""
    found = set()
    for package in ("federation", "connectors", "products"):
        for path in (ROOT / package).rglob("*.py"):
            text = path.read_text()
            for match in re.finditer(r"@(?:functools\.)?(?:lru_)?cache\b[^\n]*\n(?:@[^\n]*\n)*"
                                     r"def (\w+)", text):
                rel = path.relative_to(ROOT).as_posix()
                found.add(f"{rel}:*" if rel == "federation/server/browse.py"
                          else f"{rel}:{match[1]}")
    assert found == CLEARED | PURE


@pytest.mark.slow
def test_a_late_ctrl_c_of_a_finished_caller_stops_no_other_query(
        worker: dict[str, int], demo_copy: Path) -> None:
    """A guard more than a proof: the race (a Ctrl-C read just after the command ended)
    lasted microseconds; a signal is now acted on only while its own command runs."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(str(socket_path()))
    read, write = os.pipe()
    send_frame(sock, _good(demo_copy), fds=(0, write, write))
    assert recv_frame(sock)[0] == {"accepted": True}
    assert recv_frame(sock)[0] == {"exit": 0}
    os.close(write)
    os.close(read)
    proc = _start_endless(demo_copy, dict(os.environ))
    try:
        _wait_until_running(demo_copy)
        send_frame(sock, {"signal": "INT"})  # the finished caller's Ctrl-C, late
        time.sleep(3)
        assert proc.poll() is None, proc.communicate()
    finally:
        sock.close()
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)
    assert [r["outcome"] for r in _audited(demo_copy)] == ["interrupted"]


@pytest.mark.slow
def test_sigterm_to_a_busy_worker_stops_it(demo_copy: Path) -> None:
    """A logout's SIGTERM met the query's own handler: the query stopped, the worker
    served on."""
    assert duckmesh("worker", "start").returncode == 0
    before = status()
    assert before is not None
    proc = _start_endless(demo_copy, dict(os.environ))
    try:
        _wait_until_running(demo_copy)
        os.kill(before["pid"], signal.SIGTERM)
        proc.communicate(timeout=60)
        deadline = time.monotonic() + 30
        while status() is not None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert status() is None
    finally:
        proc.kill()
        duckmesh("worker", "stop")


@pytest.mark.slow
def test_modules_planted_where_the_worker_was_started_are_never_imported(
        demo_copy: Path, tmp_path: Path) -> None:
    """`python -m` puts its working folder first on sys.path: a worker started in a
    cloned repository imported that folder's modules later (a cold `duckmesh` never)."""
    plant = tmp_path / "clone"
    (plant / "openlineage").mkdir(parents=True)
    marker = tmp_path / "planted-code-ran"
    (plant / "openlineage" / "__init__.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    settings = yaml.safe_load((demo_copy / "duckmesh.yaml").read_text())
    settings["lineage"] = {"openlineage": {"transport": {
        "type": "file", "log_file_path": ".duckmesh/openlineage.jsonl"}}}
    (demo_copy / "duckmesh.yaml").write_text(yaml.safe_dump(settings))
    assert duckmesh("worker", "start", cwd=plant).returncode == 0
    try:
        ran = duckmesh("--mesh", str(demo_copy), "query", "--user", "adam", "SELECT 1 AS one")
        now = status()
    finally:
        duckmesh("worker", "stop")
    assert ran.returncode == 0, ran.stderr
    assert now is not None and now["served"] == 1
    assert not marker.exists()


@pytest.mark.slow
def test_a_spark_application_started_for_one_caller_serves_no_other(
        demo_root: Path, tmp_path: Path) -> None:
    """Spark runs one application per process, started with the first caller's
    environment and mesh settings: a later caller got it (or, with another master, an
    error its cold run does not give).  A worker that started Spark retires."""
    other = tmp_path / "other"
    shutil.copytree(demo_root, other, ignore=shutil.ignore_patterns("audit"))
    settings = yaml.safe_load((other / "duckmesh.yaml").read_text())
    settings.setdefault("engine", {}).setdefault("spark", {})["master"] = "local[1]"
    (other / "duckmesh.yaml").write_text(yaml.safe_dump(settings))
    sql = "SELECT count(*) AS n FROM customers.profiles"
    assert duckmesh("worker", "start").returncode == 0
    try:
        first = duckmesh("--mesh", str(demo_root), "query", "--engine", "spark", "--user",
                         "adam", sql)
        assert first.returncode == 0, first.stderr
        second = duckmesh("--mesh", str(other), "query", "--engine", "spark", "--user",
                          "adam", sql)
        cold = duckmesh("--mesh", str(other), "query", "--engine", "spark", "--user",
                        "adam", sql, env=cold_env())
        assert cold.returncode == 0, cold.stderr
        assert (second.returncode, second.stdout) == (cold.returncode, cold.stdout)
    finally:
        duckmesh("worker", "stop")

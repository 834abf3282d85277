"""``duckmesh worker start|stop|status``: this user's warm worker, which runs ``query``
and ``explain`` without paying Python's imports each time (docs/cli.md, "Fast repeat
queries").  The serving loop is :mod:`federation.cli.worker_loop`; the client side,
used by every ``duckmesh`` call, is :mod:`federation.cli.warm`."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import click

from federation.cli.warm import (
    WARM_COMMANDS,
    peer_credentials,
    private_dir,
    recv_frame,
    send_frame,
    socket_path,
)
from federation.errors import UsageError

START_TIMEOUT = 60.0
PACKAGES = ("federation", "connectors", "products")


def code_snapshot() -> dict[str, int]:
    """Modification times of every source file of duckmesh's packages."""
    root = Path(__file__).resolve().parents[2]
    snapshot: dict[str, int] = {}
    for package in PACKAGES:
        for path in (root / package).rglob("*.py"):
            with contextlib.suppress(OSError):
                snapshot[str(path)] = path.stat().st_mtime_ns
    return snapshot


def warm_up() -> None:
    """Import what ``query`` and ``explain`` need, once."""
    from federation.cli import load_command

    for name in sorted(WARM_COMMANDS):
        load_command(name)
    import federation.cli.render
    import federation.mesh  # noqa: F401


def _control(command: str) -> dict[str, Any] | None:
    """The worker's answer to a control command, or None if no worker answers."""
    path = socket_path()
    if not private_dir(path.parent):
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(5)
    try:
        sock.connect(str(path))
        if peer_credentials(sock)[1] != os.geteuid():
            return None  # not this user's worker, whatever it would answer
        send_frame(sock, {"control": command})
        answer, _ = recv_frame(sock)
    except (OSError, ValueError):
        return None
    finally:
        sock.close()
    return answer


def _prepare_folder() -> None:
    folder = socket_path().parent
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create the worker folder {folder}: {exc.strerror}") from None
    if not private_dir(folder):
        raise UsageError(f"the worker folder {folder} is not private to this user (it must "
                         "be a folder owned by you with mode 0700)",
                         hint="remove it, or set DUCKMESH_RUNTIME_DIR to a private folder")


@click.group("worker")
def worker() -> None:
    """A warm process that runs this user's query and explain commands fast."""


@worker.command("start")
@click.option("--idle-minutes", type=click.FloatRange(min=0.1), default=30.0,
              show_default=True, help="stop after this long without a command")
def start(idle_minutes: float) -> None:
    """Start the worker (in the background); query and explain then run in it.

    It serves only this operating-system user, one command at a time (a second command
    meanwhile runs in its own process, as without a worker), and stops after
    --idle-minutes without a command, on `duckmesh worker stop`, or as soon as
    duckmesh's code changes.  DUCKMESH_WORKER=off makes a call ignore it.
    """
    status = _control("status")
    if status is not None and not status.get("stopping"):
        click.echo(f"worker already running (pid {status['pid']})")
        return
    _prepare_folder()
    path = socket_path()
    log = path.with_suffix(".log")
    with open(log, "ab") as err:  # noqa: PTH123 - handed to the child as its stderr
        log.chmod(0o600)
        # `-m` puts the working folder first on sys.path: not this one (a cloned
        # repository's modules would be imported later), but duckmesh's own root.
        child = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "federation.cli", "worker", "run",
             "--idle-minutes", str(idle_minutes)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
            start_new_session=True, close_fds=True, cwd=Path(__file__).resolve().parents[2],
            env={**os.environ, "DUCKMESH_RUNTIME_DIR": str(path.parent.absolute())})
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        status = _control("status")
        if status is not None and status.get("pid") == child.pid:
            click.echo(f"worker started (pid {child.pid}); query and explain run in it "
                       f"until {idle_minutes:g} minutes without a command")
            return
        if child.poll() is not None:
            raise UsageError(f"the worker stopped at start (exit {child.returncode})",
                             hint=f"see {log}")
        time.sleep(0.05)
    child.terminate()
    raise UsageError(f"the worker did not start within {START_TIMEOUT:g} s",
                     hint=f"see {log}")


@worker.command("stop")
def stop() -> None:
    """Stop the worker (after the command it runs now, if any)."""
    status = _control("stop")
    if status is None:
        click.echo("no worker running")
        return
    deadline = time.monotonic() + START_TIMEOUT
    while _control("status") is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    click.echo(f"worker stopped (pid {status['pid']}, {status['served']} commands served)")


@worker.command("status")
def status_cmd() -> None:
    """Whether the worker runs: its pid, age and the commands it served (exit 1 if none)."""
    status = _control("status")
    if status is None:
        click.echo(f"no worker running (socket {socket_path()})")
        sys.exit(1)
    started = dt.datetime.fromtimestamp(status["started"], dt.UTC)
    click.echo(f"worker pid {status['pid']}, started {started:%Y-%m-%d %H:%M:%S} UTC, "
               f"{status['served']} commands served, {status['refused']} refused"
               f"{', busy' if status['busy'] else ''}; socket {status['socket']}")


@worker.command("run", hidden=True)
@click.option("--idle-minutes", type=click.FloatRange(min=0.1), default=30.0)
def run(idle_minutes: float) -> None:
    """Serve in this process (what `worker start` runs in the background)."""
    from federation.cli.worker_loop import Worker

    _prepare_folder()
    warm_up()
    server = Worker(socket_path(), idle_minutes * 60)
    try:
        server.bind()
    except OSError as exc:
        raise UsageError(f"worker: {exc}") from None
    server.serve()

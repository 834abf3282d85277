"""The warm worker's process: it serves ``query`` and ``explain`` to this user's other
``duckmesh`` processes (the client side is :mod:`federation.cli.warm`).

One command at a time, in the main thread, exactly as a cold run: the caller's stdin,
stdout and stderr become file descriptors 0, 1 and 2, its environment, working folder
and umask become the process's, and the click command runs; then all of it is put back.
The mesh is opened afresh by the command itself (contracts through the usual cache), so
governance files edited a second ago apply to the next command, as in a cold run.  What
stays warm is only what was imported.

Refused (the caller then runs the command itself): a caller of another user (checked
with the socket's peer credentials, beyond the folder's permissions), a command while
another runs, any command once duckmesh's own source files changed since the worker
started (it stops then: the next ``worker start`` runs the new code).
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import queue
import signal
import socket
import struct
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from federation.cli.warm import WARM_COMMANDS, command_of, private_dir, recv_frame, send_frame

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


def peer_uid(conn: socket.socket) -> int:
    """The user id of the process at the other end of a Unix socket (Linux)."""
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return int(uid)


@dataclasses.dataclass
class _State:
    started: float = dataclasses.field(default_factory=time.time)
    served: int = 0
    refused: int = 0
    busy: bool = False
    running: bool = False
    """A command is in click's hands: an interrupt may stop it."""
    interrupted: bool = False
    """The caller asked to stop the command (it may not have started yet)."""
    stopping: bool = False
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)


@dataclasses.dataclass
class _Saved:
    """What a command changes in the process, to put back afterwards."""

    fds: list[int]
    streams: tuple[TextIO, TextIO, TextIO]
    env: dict[str, str]
    cwd: str
    umask: int
    restored: bool = False


class Worker:
    """The serving loop: accept in a thread, run commands in the main thread."""

    def __init__(self, path: Path, idle_seconds: float) -> None:
        self.path = path
        self.idle_seconds = idle_seconds
        self.state = _State()
        self.snapshot = code_snapshot()
        self.requests: queue.Queue[tuple[socket.socket, dict[str, Any], list[int]]] = \
            queue.Queue()
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)

    # -- listening ---------------------------------------------------------------------
    def bind(self) -> None:
        """Listen on the socket (0600 in a private folder); a stale socket file left by a
        killed worker is replaced, a live worker's is not."""
        if not private_dir(self.path.parent):
            raise OSError(f"{self.path.parent} is not a folder private to this user")
        if self.path.exists():
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                probe.connect(str(self.path))
            except OSError:
                self.path.unlink()
            else:
                raise FileExistsError(f"a worker already listens on {self.path}")
            finally:
                probe.close()
        old = os.umask(0o177)
        try:
            self.listener.bind(str(self.path))
        finally:
            os.umask(old)
        self.listener.listen(16)

    def _accept_loop(self) -> None:
        while not self.state.stopping:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._admit, args=(conn,), daemon=True).start()

    def _admit(self, conn: socket.socket) -> None:
        """Read one request; hand a command to the main thread, or answer at once."""
        fds: list[int] = []
        try:
            conn.settimeout(10)
            if peer_uid(conn) != os.getuid():
                conn.close()  # not even a reason: another user learns nothing
                return
            message, fds = recv_frame(conn, max_fds=3)
            conn.settimeout(None)
            control = message.get("control")
            if control is not None:
                self._control(conn, str(control))
                return
            reason = self._refusal(message, fds)
            if reason is not None:
                with self.state.lock:
                    self.state.refused += 1
                send_frame(conn, {"accepted": False, "reason": reason})
                raise ConnectionError(reason)
            self.requests.put((conn, message, fds))
            fds = []
        except (OSError, ValueError):
            for fd in fds:
                with contextlib.suppress(OSError):
                    os.close(fd)
            conn.close()

    def _refusal(self, message: dict[str, Any], fds: list[int]) -> str | None:
        argv = message.get("argv")
        if (not isinstance(argv, list) or not all(isinstance(a, str) for a in argv)
                or command_of(argv) not in WARM_COMMANDS or len(fds) != 3
                or not isinstance(message.get("env"), dict)
                or not isinstance(message.get("cwd"), str)
                or not isinstance(message.get("umask"), int)):
            return "not a command the worker runs"
        if code_snapshot() != self.snapshot:
            self.stop()
            return "duckmesh's code changed since the worker started"
        with self.state.lock:
            if self.state.busy or self.state.stopping:
                return "busy"
            self.state.busy = True
        return None

    def _control(self, conn: socket.socket, control: str) -> None:
        if control == "stop":
            self.stop()
        with self.state.lock:
            send_frame(conn, {"pid": os.getpid(), "started": self.state.started,
                              "served": self.state.served, "refused": self.state.refused,
                              "busy": self.state.busy, "socket": str(self.path),
                              "idle_seconds": self.idle_seconds,
                              "stopping": self.state.stopping})
        conn.close()

    def stop(self) -> None:
        """Stop after the command running now (the main loop checks every second)."""
        self.state.stopping = True

    # -- serving -----------------------------------------------------------------------
    def serve(self) -> None:
        """Serve until stopped or idle for ``idle_seconds``; the socket file goes with it."""
        signal.signal(signal.SIGINT, self._on_interrupt)
        signal.signal(signal.SIGTERM, self._on_terminate)
        threading.Thread(target=self._accept_loop, daemon=True).start()
        idle_since = time.monotonic()
        try:
            while not self.state.stopping:
                try:
                    conn, message, fds = self.requests.get(timeout=1)
                except queue.Empty:
                    if time.monotonic() - idle_since > self.idle_seconds:
                        break
                    continue
                except KeyboardInterrupt:
                    continue  # an interrupt meant for a command that already ended
                self._serve_one(conn, message, fds)
                idle_since = time.monotonic()
        finally:
            self.state.stopping = True
            with contextlib.suppress(OSError):
                self.path.unlink()
            self.listener.close()

    def _on_interrupt(self, _signum: int, _frame: object) -> None:
        if self.state.running:
            raise KeyboardInterrupt

    def _on_terminate(self, _signum: int, _frame: object) -> None:
        """SIGTERM to the worker (a logout, a service manager): stop, and stop the running
        command as SIGTERM stops a cold run: interrupted, audited as such."""
        self.stop()
        if self.state.running:
            from federation.engines.duckdb import interrupt_all

            interrupt_all()

    def _serve_one(self, conn: socket.socket, message: dict[str, Any],
                   fds: list[int]) -> None:
        finished = threading.Event()
        self.state.interrupted = False
        saved: _Saved | None = None
        code = 1
        try:
            send_frame(conn, {"accepted": True})
            threading.Thread(target=self._watch, args=(conn, finished), daemon=True).start()
            saved = _enter(message, fds)
            code = self._run(message["argv"])
        except (OSError, ValueError):
            pass  # the caller went away before the command started
        except KeyboardInterrupt:
            code = 130
        finally:
            self.state.running = False
            finished.set()
            if saved is not None:
                _leave(saved)
            for fd in fds:
                with contextlib.suppress(OSError):
                    os.close(fd)
            with self.state.lock:
                self.state.busy = False
                self.state.served += 1
        with contextlib.suppress(OSError):
            send_frame(conn, {"exit": code})
        conn.close()

    def _run(self, argv: Sequence[str]) -> int:
        """The click command's exit code, as a cold process would end with it."""
        from federation.cli import cli
        from federation.engines.duckdb import TERMINATING

        TERMINATING.clear()
        self.state.running = True
        try:
            if self.state.interrupted:  # Ctrl-C came before the command started
                raise KeyboardInterrupt
            cli.main(args=list(argv), prog_name="duckmesh")
        except SystemExit as exc:
            if exc.code is None or isinstance(exc.code, int):
                return exc.code or 0
            sys.stderr.write(f"{exc.code}\n")
            return 1
        except KeyboardInterrupt:
            sys.stderr.write("duckmesh: error: interrupted\n")
            return 130
        except Exception as exc:  # noqa: BLE001 - as the CLI's own last line of defence
            sys.stderr.write(f"duckmesh: error: internal error ({type(exc).__name__})\n")
            return 1
        finally:
            self.state.running = False
            _close_unfinished()
        return 0

    def _query_stops_on_sigterm(self) -> bool:
        """True while the running query has its own SIGTERM handler
        (render.sigterm_interrupts): a forwarded SIGTERM then ends it as SIGTERM ends a
        cold run (exit 143, audited as interrupted)."""
        handler = signal.getsignal(signal.SIGTERM)
        return callable(handler) and handler != self._on_terminate

    def _watch(self, conn: socket.socket, finished: threading.Event) -> None:
        """Pass the caller's Ctrl-C and SIGTERM on; a caller gone (killed) is a Ctrl-C."""
        insisting = False
        while not finished.is_set():
            try:
                message, _ = recv_frame(conn)
            except (OSError, ValueError):
                message = {"signal": "INT"}
                if finished.is_set():
                    return
                conn_gone = True
            else:
                conn_gone = False
            if message.get("signal") in ("INT", "TERM"):
                self.state.interrupted = True
            if message.get("signal") == "TERM" and self._query_stops_on_sigterm():
                signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGTERM)
            elif message.get("signal") in ("INT", "TERM") and self.state.running:
                # A real SIGINT to the main thread, not interrupt_main(): while DuckDB
                # computes, its own handler is the one that must see it.
                signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)
            if message.get("signal") in ("INT", "TERM") and not insisting:
                insisting = True
                threading.Thread(target=_insist, args=(finished,), daemon=True).start()
            if conn_gone:
                return


def _insist(finished: threading.Event) -> None:
    """A stop the command missed is repeated on DuckDB's connections until it ends: a
    signal that lands while DuckDB answers a small planning lookup ends that lookup, which
    planning may survive, and the query would then run on (a cold run has the same race;
    its user presses Ctrl-C again).  Such a query ends as interrupted, audited so."""
    from federation.engines.duckdb import interrupt_all

    while not finished.wait(1.0):
        interrupt_all()


def _close_unfinished() -> None:
    """Results a command left unread are closed and audited now, as at a cold run's exit."""
    from federation.engines import duckdb as engine

    engine._close_unfinished()


def _stream(fd: int, mode: str) -> TextIO:
    binary: Any = io.FileIO(fd, mode, closefd=False)
    tty = os.isatty(fd)
    binary = io.BufferedReader(binary) if mode == "r" else io.BufferedWriter(binary)
    # As Python sets up its own: stderr never fails on a character, stdout line-buffered
    # on a terminal only.
    return io.TextIOWrapper(binary, encoding="utf-8",
                            errors="backslashreplace" if fd == 2 else "strict",
                            line_buffering=tty or fd == 2, write_through=fd == 2)


def _enter(message: dict[str, Any], fds: list[int]) -> _Saved:
    """Become the caller: its stdio, environment, working folder and umask."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    saved = _Saved(fds=[os.dup(0), os.dup(1), os.dup(2)],
                   streams=(sys.stdin, sys.stdout, sys.stderr),
                   env=dict(os.environ), cwd=str(Path.cwd()), umask=os.umask(message["umask"]))
    for source, target in zip(fds, (0, 1, 2), strict=True):
        os.dup2(source, target)
    sys.stdin, sys.stdout, sys.stderr = _stream(0, "r"), _stream(1, "w"), _stream(2, "w")
    os.environ.clear()
    os.environ.update({str(k): str(v) for k, v in message["env"].items()})
    time.tzset()
    os.chdir(message["cwd"])
    return saved


def _leave(saved: _Saved) -> None:
    """Put the worker's own stdio, environment, folder and umask back (idempotent)."""
    if saved.restored:
        return
    saved.restored = True
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    sys.stdin, sys.stdout, sys.stderr = saved.streams
    for source, target in zip(saved.fds, (0, 1, 2), strict=True):
        os.dup2(source, target)
        os.close(source)
    os.environ.clear()
    os.environ.update(saved.env)
    time.tzset()
    os.chdir(saved.cwd)
    os.umask(saved.umask)


def warm_up() -> None:
    """Import what ``query`` and ``explain`` need, once."""
    from federation.cli import load_command

    for name in sorted(WARM_COMMANDS):
        load_command(name)
    import federation.cli.render
    import federation.mesh  # noqa: F401

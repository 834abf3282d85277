"""The warm worker's process: it serves ``query`` and ``explain`` to this user's other
``duckmesh`` processes (the client side is :mod:`federation.cli.warm`).

One command at a time, in the main thread, exactly as a cold run: the caller's folder,
environment, umask and stdio (as descriptors 0, 1, 2) become the process's, caches an
earlier caller filled are dropped, the click command runs, then all is put back.  What
stays warm is only what was imported.

Refused (the caller then runs the command itself): a caller whose credentials, groups
or namespaces differ (kernel peer credentials, beyond the folder's permissions), one
whose folder or environment cannot be taken on, a command while another runs, any
command once duckmesh's source files changed since the worker started (it stops then).
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import queue
import signal
import socket
import sys
import threading
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from federation.cli import warm
from federation.cli.worker import code_snapshot


def _python(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k.startswith("PYTHON")}


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
    term_forwarded: bool = False
    """The caller's SIGTERM was passed on (else a 143 means the worker got one)."""
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
    made: list[TextIO] = dataclasses.field(default_factory=list)
    """The caller's streams: closed after the command, so that nothing buffered in them
    can ever be flushed onto the next caller's descriptors."""


class Worker:
    """The serving loop: accept in a thread, run commands in the main thread."""

    def __init__(self, path: Path, idle_seconds: float) -> None:
        self.path = path
        self.idle_seconds = idle_seconds
        self.state = _State()
        self.snapshot = code_snapshot()
        self.environ = dict(os.environ)
        self.requests: queue.Queue[tuple[socket.socket, dict[str, Any], list[int]]] = \
            queue.Queue()
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)

    # -- listening ---------------------------------------------------------------------
    def bind(self) -> None:
        """Listen on the socket (0600 in a private folder); a stale socket file left by a
        killed worker is replaced, a live worker's is not."""
        if not warm.private_dir(self.path.parent):
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
            if not warm.same_credentials(conn):
                conn.close()  # not even a reason: another user learns nothing
                return
            message, fds = warm.recv_frame(conn, max_fds=3)
            conn.settimeout(None)
            control = message.get("control")
            if control is not None:
                self._control(conn, str(control))
                return
            reason = self._refusal(message, fds)
            if reason is not None:
                with self.state.lock:
                    self.state.refused += 1
                warm.send_frame(conn, {"accepted": False, "reason": reason})
                raise ConnectionError(reason)
            self.requests.put((conn, message, fds))
            fds = []
        except Exception:  # noqa: BLE001 - any malformed request: dropped, nothing kept
            conn.close()
        finally:
            for fd in fds:
                with contextlib.suppress(OSError):
                    os.close(fd)

    def _refusal(self, message: dict[str, Any], fds: list[int]) -> str | None:
        if not warm.well_formed(message) or len(fds) != 3:
            return "not a command the worker runs"
        if (message.get("flags") != list(sys.flags) or message.get("limits") != warm.limits()
                or _python(message["env"]) != _python(self.environ)):
            return "another setup (PYTHON* variables, interpreter options, limits)"
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
            warm.send_frame(conn, {"pid": os.getpid(), "started": self.state.started,
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
        self.state.interrupted = self.state.term_forwarded = False
        saved: _Saved | None = None
        code = 1
        try:
            try:
                saved = _enter(message, fds)
            except Exception as exc:  # noqa: BLE001 - its folder, its environment: undone
                with self.state.lock:
                    self.state.refused += 1
                warm.send_frame(conn, {"accepted": False, "reason": f"cannot run it here: {exc}"})
                conn.close()
                return
            warm.send_frame(conn, {"accepted": True})
            threading.Thread(target=self._watch, args=(conn, finished), daemon=True).start()
            code = self._run(message["argv"])
        except OSError:
            pass  # the caller went away before the command started
        except KeyboardInterrupt:
            code = 130
        finally:
            with self.state.lock:  # no signal of this caller's reaches the next command
                self.state.running = False
                finished.set()
            if saved is not None:
                _leave(saved)
            for fd in fds:
                with contextlib.suppress(OSError):
                    os.close(fd)
            with self.state.lock:
                self.state.busy = False
                self.state.served += saved is not None
        if code == 143 and not self.state.term_forwarded:
            self.stop()  # the query's own handler took a SIGTERM meant for the worker
        with contextlib.suppress(OSError):
            warm.send_frame(conn, {"exit": code})
        conn.close()

    def _run(self, argv: Sequence[str]) -> int:
        """The click command's exit code, as a cold process would end with it."""
        from federation.cli import cli
        from federation.engines import duckdb as engine

        engine.TERMINATING.clear()
        _forget_caches()
        self.state.running = True
        try:
            if self.state.interrupted:  # Ctrl-C came before the command started
                raise KeyboardInterrupt
            with warnings.catch_warnings():  # its filters, and "once" is once per command
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
            engine._close_unfinished()  # unread results: closed and audited, as at exit
            lineage = sys.modules.get("federation.audit.openlineage")
            if lineage is not None:  # its events sent (or their failures told) as at exit
                lineage.flush(lineage.FLUSH_AT_EXIT_SECONDS)
            spark = sys.modules.get("federation.engines.spark_session")
            if spark is not None and spark._STATE:
                self.stop()  # its JVM has this caller's environment and settings: retire
        return 0

    def _query_stops_on_sigterm(self) -> bool:
        """True while the query has its own SIGTERM handler (render.sigterm_interrupts):
        a forwarded SIGTERM then ends it as in a cold run (143, audited interrupted)."""
        handler = signal.getsignal(signal.SIGTERM)
        return callable(handler) and handler != self._on_terminate

    def _watch(self, conn: socket.socket, finished: threading.Event) -> None:
        """Pass the caller's Ctrl-C and SIGTERM on; a caller gone (killed) is a Ctrl-C."""
        insisting = False
        main = threading.main_thread().ident or 0
        while not finished.is_set():
            try:
                message, _ = warm.recv_frame(conn)
            except Exception:  # noqa: BLE001 - gone, or nonsense: taken as Ctrl-C
                message = {"signal": "INT"}
                conn_gone = True
            else:
                conn_gone = False
            if message.get("signal") not in ("INT", "TERM"):
                continue
            with self.state.lock:  # the command may have ended meanwhile: then nothing
                if finished.is_set():
                    return
                self.state.interrupted = True
                if message["signal"] == "TERM" and self._query_stops_on_sigterm():
                    self.state.term_forwarded = True
                    signal.pthread_kill(main, signal.SIGTERM)
                elif self.state.running:
                    # A real SIGINT to the main thread, not interrupt_main(): while DuckDB
                    # computes, its own handler is the one that must see it.
                    signal.pthread_kill(main, signal.SIGINT)
            if not insisting:
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


def _forget_caches() -> None:
    """A cold run starts without caches: drop those that hold what an earlier caller's
    environment or files gave (S3 clients built with its credentials, symlinks resolved
    then, file footers read with its rights)."""
    from connectors import filesystems, footers, localpaths

    filesystems.clear()
    footers.clear_caches()
    localpaths.clear()


def _stream(fd: int, encoding: str, errors: str) -> TextIO:
    """Descriptor ``fd`` as the caller's own ``sys.stdin``/``stdout``/``stderr`` was:
    its encoding and error handler; stdout line-buffered on a terminal only."""
    binary: Any = io.FileIO(fd, "r" if fd == 0 else "w", closefd=False)
    binary = io.BufferedReader(binary) if fd == 0 else io.BufferedWriter(binary)
    return io.TextIOWrapper(binary, encoding=encoding, errors=errors,
                            line_buffering=os.isatty(fd) or fd == 2, write_through=fd == 2)


def _enter(message: dict[str, Any], fds: list[int]) -> _Saved:
    """Become the caller: its working folder, environment, umask and stdio.  All or
    nothing: a step that fails (a folder the worker cannot enter) undoes the others."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    umask = os.umask(0o077)
    os.umask(umask)
    saved = _Saved(fds=[os.dup(0), os.dup(1), os.dup(2)],
                   streams=(sys.stdin, sys.stdout, sys.stderr),
                   env=dict(os.environ), cwd=str(Path.cwd()), umask=umask)
    try:
        os.chdir(message["cwd"])
        os.environ.clear()
        os.environ.update(message["env"])
        time.tzset()
        os.umask(message["umask"])
        for source, target in zip(fds, (0, 1, 2), strict=True):
            os.dup2(source, target)
        saved.made = [_stream(fd, *pair) for fd, pair in enumerate(message["streams"])]
        sys.stdin, sys.stdout, sys.stderr = saved.made
    except BaseException:
        _leave(saved)
        raise
    return saved


def _leave(saved: _Saved) -> None:
    """Put the worker's own stdio, environment, folder and umask back."""
    for stream in saved.made:
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    sys.stdin, sys.stdout, sys.stderr = saved.streams
    for source, target in zip(saved.fds, (0, 1, 2), strict=True):
        os.dup2(source, target)
        os.close(source)
    for stream in saved.made:  # what could not be flushed is dropped, now onto /dev/null
        with contextlib.suppress(OSError, ValueError):
            stream.close()
    os.environ.clear()
    os.environ.update(saved.env)
    time.tzset()
    os.chdir(saved.cwd)
    os.umask(saved.umask)

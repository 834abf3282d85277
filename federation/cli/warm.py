"""Hand a ``duckmesh query`` to this user's warm worker, if one runs (the client side).

A cold ``duckmesh query`` spends most of its time importing: DuckDB, sqlglot, pyarrow,
pydantic and rich take about as long as the raw DuckDB query they govern, twice over
(docs/benchmarks.md, "CLI latency").  ``duckmesh worker start`` starts a process that
has imported them once; while it runs, ``query`` and ``explain`` are run *inside* it:
this module sends the worker the command line, the working directory, the environment,
the umask and the process's own stdin, stdout and stderr (file descriptors passed over
a Unix socket), and waits for the exit code.  The worker runs the very same click
command on them, so output, errors, exit codes, governance and audit are those of a
cold run; only the imports are already done.

Fail-safe: whenever the worker cannot be used — none runs, its socket folder is not
private to this user, it is busy with another query, its code is older than the
installed code, anything unexpected — the command runs in this process as before.

Kept to the standard library's lightest modules: it runs before anything else.
"""

from __future__ import annotations

import codecs
import contextlib
import json
import os
import signal
import socket
import stat
import struct
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeGuard

WARM_COMMANDS = frozenset({"query", "explain"})
"""Commands a worker runs: the ones an analyst repeats, which read no terminal input."""
OFF_VALUES = frozenset({"0", "off", "no", "false"})
_HEADER = struct.Struct(">I")
MAX_FRAME = 64 * 1024 * 1024


class WorkerUnavailable(Exception):
    """The worker cannot take the command: run it here instead."""


def runtime_dir() -> Path:
    """Where this user's worker sockets live: ``$DUCKMESH_RUNTIME_DIR``, else
    ``$XDG_RUNTIME_DIR/duckmesh``, else ``/tmp/duckmesh-<uid>``."""
    explicit = os.environ.get("DUCKMESH_RUNTIME_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg:
        return Path(xdg) / "duckmesh"
    return Path("/tmp") / f"duckmesh-{os.getuid()}"  # noqa: S108 - checked private below


def private_dir(path: Path) -> bool:
    """True if ``path`` is a real folder owned by this user that nobody else may enter
    (a socket in a folder others can write could be someone else's)."""
    try:
        info = os.lstat(path)
    except OSError:
        return False
    return (stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid()
            and info.st_mode & 0o077 == 0)


def peer_credentials(sock: socket.socket) -> tuple[int, int, int]:
    """The pid, user id and group id of the process at the other end of a connected Unix
    socket, as the kernel saw them at connect (or listen) time (Linux)."""
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    pid, uid, gid = struct.unpack("3i", creds)
    return int(pid), int(uid), int(gid)


SO_PEERGROUPS = getattr(socket, "SO_PEERGROUPS", 59)  # Linux >= 4.13


def same_credentials(conn: socket.socket) -> bool:
    """True if the peer is this user with the very same groups, filesystem root and
    namespaces: a cold run of the peer could open exactly the files this process can
    (a caller that dropped a group, or runs in a sandbox, is not served)."""
    try:
        pid, uid, gid = peer_credentials(conn)
        raw = conn.getsockopt(socket.SOL_SOCKET, SO_PEERGROUPS, 1024)  # 256 groups
        groups = sorted(struct.unpack(f"{len(raw) // 4}I", raw))
        if (uid, gid, groups) != (os.geteuid(), os.getegid(), sorted(os.getgroups())):
            return False
        return all(_identity(f"/proc/{pid}/{part}") == _identity(f"/proc/self/{part}")
                   for part in ("root", "ns/mnt", "ns/user", "ns/pid"))
    except OSError:
        return False  # unknown: fail closed (the caller runs the command itself)


def _identity(path: str) -> tuple[int, int]:
    info = Path(path).stat()
    return info.st_dev, info.st_ino


def socket_path() -> Path:
    """The socket of the worker for this installation of duckmesh and this Python: a
    worker started from other code never serves this one."""
    import hashlib

    here = Path(__file__).resolve().parent
    key = hashlib.sha256(f"{sys.executable}\0{here}\0{sys.version}".encode()).hexdigest()
    return runtime_dir() / f"worker-{key[:16]}.sock"


def send_frame(sock: socket.socket, message: dict[str, Any],
               fds: Sequence[int] = ()) -> None:
    """One length-prefixed JSON message; ``fds`` travel with its header."""
    body = json.dumps(message).encode()
    header = _HEADER.pack(len(body))
    if fds:
        socket.send_fds(sock, [header], list(fds))
    else:
        sock.sendall(header)
    sock.sendall(body)


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    chunks, left = [], size
    while left:
        chunk = sock.recv(min(left, 1 << 20))
        if not chunk:
            raise ConnectionError("connection closed mid-message")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def recv_frame(sock: socket.socket, max_fds: int = 0) -> tuple[dict[str, Any], list[int]]:
    """The next message and the file descriptors that came with it; ConnectionError when
    the peer closed the connection."""
    fds: list[int] = []
    if max_fds:
        header, fds, _, _ = socket.recv_fds(sock, _HEADER.size, max_fds)
        if len(header) < _HEADER.size:
            for fd in fds:
                os.close(fd)
            if not header:
                raise ConnectionError("connection closed")
            fds = []
            header += _recv_exact(sock, _HEADER.size - len(header))
        try:
            return _recv_body(sock, header), fds
        except BaseException:  # a malformed message keeps none of the descriptors
            for fd in fds:
                os.close(fd)
            raise
    return _recv_body(sock, _recv_exact(sock, _HEADER.size)), fds


def _recv_body(sock: socket.socket, header: bytes) -> dict[str, Any]:
    (size,) = _HEADER.unpack(header)
    if size > MAX_FRAME:
        raise ConnectionError(f"message of {size} bytes refused")
    message = json.loads(_recv_exact(sock, size))
    if not isinstance(message, dict):
        raise ConnectionError("malformed message")
    return message


def command_of(argv: Sequence[str]) -> str | None:
    """The command ``argv`` runs (after the group's own ``--mesh``/``--debug``), or None
    when it asks for help or the version (cheap in this process anyway)."""
    args = iter(argv)
    for arg in args:
        if arg in ("-h", "--help", "--version"):
            return None
        if arg == "--mesh":
            next(args, None)
        elif arg.startswith("--mesh=") or arg == "--debug":
            continue
        else:
            if any(a in ("-h", "--help") for a in argv):
                return None
            return arg
    return None


def well_formed(message: dict[str, Any]) -> bool:
    """True if ``message`` is a command for the worker as :func:`run_in_worker` sends it."""
    argv, env, cwd, umask = (message.get(k) for k in ("argv", "env", "cwd", "umask"))
    return (_strings(argv) and command_of(argv) in WARM_COMMANDS
            and isinstance(env, dict) and _strings([*env, *env.values()])
            and isinstance(cwd, str) and Path(cwd).is_absolute()
            and type(umask) is int and 0 <= umask <= 0o777
            and _codecs(message.get("streams")))


def _strings(values: object) -> TypeGuard[list[str]]:
    return isinstance(values, list) and all(isinstance(v, str) for v in values)


def _codecs(streams: object) -> bool:
    """Three [encoding, errors] pairs that Python knows (the caller's stdio's own)."""
    try:
        return (isinstance(streams, list) and len(streams) == 3
                and all(_strings(pair) and len(pair) == 2 and codecs.lookup(pair[0])
                        and codecs.lookup_error(pair[1]) for pair in streams))
    except LookupError:
        return False


def run_in_worker(argv: Sequence[str]) -> int:
    """Run ``duckmesh ARGV`` in the worker; its exit code.

    WorkerUnavailable before the worker accepted the command (nothing has run: the
    caller runs it here).  After it accepted, Ctrl-C and SIGTERM are passed on to the
    worker, which stops the query as a cold run would and answers with the exit code.
    """
    path = socket_path()
    if not private_dir(path.parent):
        raise WorkerUnavailable("no private worker folder")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        try:
            sock.connect(str(path))
            # The folder was private when checked, but only the kernel can say whose
            # socket this is now: the environment below may hold secrets.
            if peer_credentials(sock)[1] != os.geteuid():
                raise WorkerUnavailable("the worker socket is another user's")
            send_frame(sock, {"argv": list(argv), "cwd": str(Path.cwd()),
                              "env": dict(os.environ), "umask": _umask(), "flags": list(sys.flags),
                              "limits": limits(),
                              "streams": [[getattr(s, "encoding", None), getattr(s, "errors", None)]
                                          for s in (sys.stdin, sys.stdout, sys.stderr)]},
                       fds=(0, 1, 2))
            answer, _ = recv_frame(sock)
        except (OSError, ValueError) as exc:
            raise WorkerUnavailable(str(exc)) from None
        if not answer.get("accepted"):
            raise WorkerUnavailable(str(answer.get("reason", "refused")))
        return _wait(sock)
    finally:
        sock.close()


def limits() -> list[list[int]]:
    """This process's resource limits that bound a query (memory, file size, CPU time,
    open files): a worker with others would not run it as this process would."""
    import resource

    return [list(resource.getrlimit(getattr(resource, name))) for name in
            ("RLIMIT_AS", "RLIMIT_DATA", "RLIMIT_FSIZE", "RLIMIT_CPU", "RLIMIT_NOFILE")]


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _wait(sock: socket.socket) -> int:
    """Pass Ctrl-C and SIGTERM on until the worker sends the exit code."""

    def forward(signum: int, _frame: object) -> None:
        with contextlib.suppress(OSError):
            send_frame(sock, {"signal": "INT" if signum == signal.SIGINT else "TERM"})

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while True:
            try:
                message, _ = recv_frame(sock)
            except InterruptedError:
                continue
            except (OSError, ValueError):
                sys.stderr.write("duckmesh: error: the worker stopped during the command "
                                 "(`duckmesh worker status`); run it again\n")
                return 1
            if "exit" in message:
                return int(message["exit"])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def maybe_run(argv: Sequence[str]) -> int | None:
    """The exit code of ``argv`` run by the worker, or None to run it here: the command
    is not one a worker runs, ``DUCKMESH_WORKER`` is off, or no worker can take it."""
    if os.environ.get("DUCKMESH_WORKER", "").lower() in OFF_VALUES:
        return None
    if command_of(argv) not in WARM_COMMANDS:
        return None
    try:
        return run_in_worker(argv)
    except WorkerUnavailable:
        return None

"""Records of queries still running, and what becomes of them when their process dies.

A query's record is written when it starts (outcome ``running``) and completed when it
ends, under the same name.  A process killed outright (SIGKILL, a crash, the machine lost)
leaves the ``running`` record behind: readers show it as ``interrupted`` once its process
is known to be gone — on the same host, its pid no longer runs; on any host, its time
limit (every query is stopped at ``engine.timeout_seconds``) plus a grace has passed —
and compaction keeps it as ``interrupted``.  A record that may still complete is left
alone.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from typing import Any

RUNNING = "running"
INTERRUPTED = "interrupted"
GRACE = dt.timedelta(minutes=1)
"""Past its time limit by this much, a running record's query cannot still be running."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True  # another user's process, or not a pid we can ask about: assume alive
    return True


def abandoned(record: dict[str, Any], now: dt.datetime | None = None) -> bool:
    """True if ``record`` says ``running`` but its query can no longer complete it."""
    if record.get("outcome") != RUNNING:
        return False
    pid = record.get("pid")
    if record.get("host") == socket.gethostname() and isinstance(pid, int) \
            and pid != os.getpid() and not _alive(pid):
        return True
    try:
        started = dt.datetime.fromisoformat(str(record["timestamp"]))
        limit = dt.timedelta(seconds=float(record.get("time_limit") or 0))
    except (KeyError, TypeError, ValueError):
        return False
    if not limit:
        return False
    return (now or dt.datetime.now(dt.UTC)) - started > limit + GRACE


def settled(record: dict[str, Any], now: dt.datetime | None = None) -> dict[str, Any]:
    """``record`` as readers show it: an abandoned running record is ``interrupted``."""
    if not abandoned(record, now):
        return record
    return {**record, "outcome": INTERRUPTED, "error_class": "Interrupted",
            "error": "the process running the query ended before it completed its record "
                     "(killed or crashed)"}

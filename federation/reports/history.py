"""Report run history and locks, kept in the mesh under ``.duckmesh/reports/<name>/``.

Each attempt is one JSON file written under a temporary name and renamed into place
(like the audit log), so a run killed at any point leaves either a whole record or
none.  A slot counts as done once a record with outcome ``ok`` exists for it.  A lock
file held with ``flock`` keeps two schedulers from running the same report at once.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from connectors.writers import atomic_file

STATE_DIR = ".duckmesh/reports"


def slot_key(slot: dt.datetime) -> str:
    return slot.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


class History:
    """The run records of one report."""

    def __init__(self, root: Path, name: str, state_dir: str = STATE_DIR) -> None:
        self.folder = root / state_dir / name

    def record(self, entry: dict[str, Any]) -> Path:
        """Write one attempt's record atomically."""
        self.folder.mkdir(parents=True, exist_ok=True)
        # Slot, then the moment of writing (ns), so that attempts at one slot list in the
        # order they ran (a uuid alone ordered them at random); the uuid keeps names apart.
        name = (f"{slot_key(dt.datetime.fromisoformat(entry['slot']))}-"
                f"{time.time_ns():020d}-{uuid.uuid4().hex}.json")
        with atomic_file(self.folder / name) as handle:
            handle.write(json.dumps(entry, default=str).encode())
        return self.folder / name

    def entries(self) -> list[dict[str, Any]]:
        """Every complete record, oldest slot first; one slot's attempts in the order
        they were recorded."""
        out = []
        for path in sorted(self.folder.glob("*.json")) if self.folder.is_dir() else []:
            with contextlib.suppress(OSError, ValueError):
                out.append(json.loads(path.read_text(encoding="utf-8")))
        return out

    def succeeded(self, slot: dt.datetime) -> dict[str, Any] | None:
        """The successful record of ``slot``, if any."""
        key = slot.isoformat()
        return next((e for e in self.entries()
                     if e.get("slot") == key and e.get("outcome") == "ok"), None)

    def last_success(self) -> dt.datetime | None:
        """The newest slot with a successful run."""
        done = [dt.datetime.fromisoformat(e["slot"]) for e in self.entries()
                if e.get("outcome") == "ok"]
        return max(done) if done else None

    @contextlib.contextmanager
    def lock(self) -> Iterator[bool]:
        """Hold the report's lock; yields False (without waiting) when another run has it."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with (self.folder / ".lock").open("a") as handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

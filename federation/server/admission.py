"""How many queries run at once: a global limit, a per-user limit, a bounded FIFO queue.

A query that cannot start waits its turn (first come, first served among those whose
user is under the per-user limit), at most ``timeout`` seconds, and only while fewer
than ``queue`` others wait; otherwise it is refused at once with ServerUnavailable, which
clients see as "busy, retry later".  Closing admission (shutdown) refuses everyone.
"""

from __future__ import annotations

import threading
import time
from collections import Counter

from federation.errors import ServerUnavailable


class Admission:
    """Slots for running queries."""

    def __init__(self, limit: int, queue: int, per_user: int, timeout: float) -> None:
        self.limit = limit
        self.queue = queue
        self.per_user = per_user
        self.timeout = timeout
        self._cond = threading.Condition()
        self._running: Counter[str] = Counter()
        self._waiting: list[tuple[object, str]] = []
        self._closed = False

    @property
    def running(self) -> int:
        return sum(self._running.values())

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def _can_run(self, user: str) -> bool:
        return self.running < self.limit and self._running[user] < self.per_user

    def _next(self) -> object | None:
        """The first waiter that could start now."""
        return next((t for t, u in self._waiting if self._can_run(u)), None)

    def acquire(self, user: str) -> None:
        """Wait for a slot for ``user``; ServerUnavailable if none comes in time."""
        with self._cond:
            if self._closed:
                raise ServerUnavailable("the server is shutting down")
            if not self._waiting and self._can_run(user):
                self._running[user] += 1
                return
            if len(self._waiting) >= self.queue:
                raise ServerUnavailable(
                    f"the server is busy ({self.running} queries running, "
                    f"{len(self._waiting)} waiting)", hint="retry later")
            ticket = object()
            self._waiting.append((ticket, user))
            deadline = time.monotonic() + self.timeout
            try:
                while True:
                    if self._closed:
                        raise ServerUnavailable("the server is shutting down")
                    if self._next() is ticket:
                        self._running[user] += 1
                        return
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise ServerUnavailable(
                            f"the server is busy: no query slot became free in "
                            f"{self.timeout:g} s", hint="retry later")
                    self._cond.wait(remaining)
            finally:
                self._waiting = [(t, u) for t, u in self._waiting if t is not ticket]
                self._cond.notify_all()

    def release(self, user: str) -> None:
        with self._cond:
            self._running[user] -= 1
            if self._running[user] <= 0:
                del self._running[user]
            self._cond.notify_all()

    def close(self) -> None:
        """Refuse every waiting and future query."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no query runs (at most ``timeout`` s); True if none runs."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self.running:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

"""Schedule slots: the instants a report's cron expression names, in its time zone."""

from __future__ import annotations

import datetime as dt
from typing import Protocol
from zoneinfo import ZoneInfo

from croniter import croniter


class Scheduled(Protocol):
    """Anything run on a cron schedule in a time zone (a report, a derived product)."""

    @property
    def schedule(self) -> str: ...

    @property
    def zone(self) -> ZoneInfo: ...


def latest_slot(spec: Scheduled, at: dt.datetime) -> dt.datetime:
    """The most recent slot at or before ``at`` (UTC-aware result)."""
    local = at.astimezone(spec.zone)
    # croniter's get_prev is strictly before; step a microsecond past `at` so a slot
    # exactly at `at` counts as arrived.
    it = croniter(spec.schedule, local + dt.timedelta(microseconds=1))
    slot: dt.datetime = it.get_prev(dt.datetime)
    return slot.astimezone(dt.UTC)


def previous_slot(spec: Scheduled, slot: dt.datetime) -> dt.datetime:
    """The slot before ``slot``: a report's data window is (previous slot, slot]."""
    it = croniter(spec.schedule, slot.astimezone(spec.zone))
    before: dt.datetime = it.get_prev(dt.datetime)
    return before.astimezone(dt.UTC)


def slots_between(spec: Scheduled, after: dt.datetime | None, until: dt.datetime,
                  limit: int) -> list[dt.datetime]:
    """Slots in (``after``, ``until``], oldest first, at most the ``limit`` newest.

    With no ``after`` (never succeeded) only the latest slot: a new report does not
    backfill its whole history.
    """
    last = latest_slot(spec, until)
    if after is None:
        return [last]
    out: list[dt.datetime] = []
    it = croniter(spec.schedule, last.astimezone(spec.zone) + dt.timedelta(microseconds=1))
    while len(out) < limit:
        slot = it.get_prev(dt.datetime).astimezone(dt.UTC)
        if slot <= after:
            break
        out.append(slot)
    return sorted(out)


def parse_instant(text: str) -> dt.datetime:
    """An ISO 8601 date or timestamp; naive values are UTC."""
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not an ISO 8601 timestamp: {text!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)

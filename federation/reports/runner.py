"""Run a report for one slot, or every report whose slot has arrived (``reports due``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlglot import exp

from federation.errors import ConfigError, DuckmeshError
from federation.mesh import Mesh
from federation.pipeline.parse import parse
from federation.reports.audience import audience_principal, check_destination
from federation.reports.history import History
from federation.reports.publish import destination, publish
from federation.reports.schedule import latest_slot, previous_slot, slots_between
from federation.reports.spec import ReportSpec, load_reports, report_sql


@dataclass(frozen=True)
class RunOutcome:
    """What happened to one report slot."""

    report: str
    slot: dt.datetime
    outcome: str
    """``ok``, ``skipped`` (already done, or another run holds the lock) or ``failed``."""
    destination: str | None = None
    rows: int | None = None
    error: DuckmeshError | None = None
    note: str | None = None

    def line(self) -> str:
        head = f"{self.report} {self.slot.isoformat()}: {self.outcome}"
        if self.note:
            head += f" ({self.note})"
        if self.outcome == "ok":
            return f"{head}, {self.rows} rows -> {self.destination}"
        if self.error is not None:
            return f"{head}: {self.error}"
        return head


def _context(spec: ReportSpec, slot: dt.datetime, principal: str) -> dict[str, Any]:
    return {"report": spec.name, "slot": slot.isoformat(),
            "slot_local": slot.astimezone(spec.zone), "run_as": principal,
            "audience": spec.readers.describe()}


def slot_params(spec: ReportSpec, sql: str, slot: dt.datetime) -> dict[str, object]:
    """``$slot_start`` and ``$slot_end`` where the SQL uses them: bound, never pasted
    into the text."""
    values = {"slot_start": previous_slot(spec, slot), "slot_end": slot}
    used = {str(p.name) for p in parse(sql).find_all(exp.Placeholder)}
    return {k: v for k, v in values.items() if k in used}


def run_slot(mesh: Mesh, spec: ReportSpec, slot: dt.datetime, *,
             force: bool = False) -> RunOutcome:
    """Run ``spec`` for ``slot`` unless that slot already succeeded (or ``force``)."""
    history = History(mesh.root, spec.name)
    with history.lock() as held:
        if not held:
            return RunOutcome(spec.name, slot, "skipped", note="another run holds the lock")
        done = history.succeeded(slot)
        if done is not None and not force:
            return RunOutcome(spec.name, slot, "skipped", done.get("destination"),
                              done.get("rows"), note="this slot already succeeded")
        started = dt.datetime.now(dt.UTC)
        entry: dict[str, Any] = {"report": spec.name, "slot": slot.isoformat(),
                                 "audience": spec.readers.describe(),
                                 "started": started.isoformat()}
        target = None
        try:
            sql = report_sql(mesh.root, spec)
            params = slot_params(spec, sql, slot)
            # Governed as its audience: refused unless every member sees the same.
            principal = audience_principal(mesh, spec, sql, params)
            context = _context(spec, slot, principal)
            target = entry["destination"] = destination(spec, context)
            check_destination(mesh, target)
            entry["run_as"] = principal
            result = mesh.sql(sql, user=principal, purpose=spec.purpose,
                              label=f"report:{spec.name}", params=params or None,
                              engine=spec.engine)
            rows = publish(result, spec, target, mesh.root, mesh.settings.storage,
                           {k: v for k, v in context.items() if k != "slot_local"})
        except DuckmeshError as exc:
            history.record({**entry, "outcome": "failed", "error": str(exc),
                            "error_class": type(exc).__name__,
                            "ended": dt.datetime.now(dt.UTC).isoformat()})
            return RunOutcome(spec.name, slot, "failed", target, error=exc)
        history.record({**entry, "outcome": "ok", "rows": rows, "stamp": result.stamp,
                        "ended": dt.datetime.now(dt.UTC).isoformat()})
        return RunOutcome(spec.name, slot, "ok", target, rows)


def run_report(mesh: Mesh, spec: ReportSpec, at: dt.datetime, *,
               force: bool = False) -> RunOutcome:
    """Run the slot of ``spec`` current at ``at``."""
    return run_slot(mesh, spec, latest_slot(spec, at), force=force)


def due(mesh: Mesh, now: dt.datetime) -> list[RunOutcome]:
    """Run every report slot that has arrived since the report's last success.

    Oldest first, at most ``max_catchup`` slots a report; a failed slot is retried by the
    next call.  One report failing does not stop the others.
    """
    outcomes: list[RunOutcome] = []
    for spec in load_reports(mesh.root):
        if isinstance(spec, ConfigError):
            # One malformed report never stops the others.
            outcomes.append(RunOutcome(_report_name(spec), now, "failed", error=spec))
            continue
        last = History(mesh.root, spec.name).last_success()
        for slot in slots_between(spec, last, now, spec.max_catchup):
            outcome = run_slot(mesh, spec, slot)
            outcomes.append(outcome)
            if outcome.outcome == "failed":
                break  # keep order: later slots wait until this one succeeds
    return outcomes


def _report_name(error: ConfigError) -> str:
    """The report a load error is about (its file's stem)."""
    return Path(error.file).stem if error.file else "?"

"""A page per scheduled report, for its audience: what it is, when it runs, and every
published slot — with the published file itself when it is on this server's disk.

Only members of a report's audience see it (the report was governed as them); a report
name is matched against the mesh's reports before anything is read, and a slot's file is
served only from the destination its own run recorded, inside the declared report
destinations, with a sandboxing Content-Security-Policy.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

from federation.errors import ConfigError, DuckmeshError
from federation.reports.audience import check_destination, members
from federation.reports.history import History, slot_key
from federation.reports.spec import ReportSpec, load_reports
from federation.server.web.app import NotFound, Web, finish

NAME = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
SLOT = re.compile(r"^\d{8}T\d{6}Z$")
MEDIA = {"html": "text/html; charset=utf-8", "csv": "text/csv; charset=utf-8",
         "parquet": "application/vnd.apache.parquet",
         "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
SANDBOX = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox"


def _mine(web: Web, user: str) -> list[ReportSpec]:
    out = []
    for spec in load_reports(web.mesh.root):
        if not isinstance(spec, ReportSpec):
            continue
        try:
            if user in members(spec, web.mesh.governance):
                out.append(spec)
        except ConfigError:
            continue
    return out


def _slots(web: Web, spec: ReportSpec) -> list[dict[str, Any]]:
    import datetime as dt

    out = []
    for entry in reversed(History(web.mesh.root, spec.name).entries()):
        if entry.get("outcome") != "ok":
            continue
        slot = dt.datetime.fromisoformat(entry["slot"])
        out.append({"slot": entry["slot"], "key": slot_key(slot), "rows": entry.get("rows"),
                    "destination": entry.get("destination"), "ended": entry.get("ended"),
                    "local": _local(web, entry.get("destination")) is not None})
    return out


def _local(web: Web, destination: Any) -> Path | None:
    """The published file on this disk, if ``destination`` is a local path inside the
    declared report destinations."""
    if not isinstance(destination, str) or "://" in destination:
        return None
    try:
        check_destination(web.mesh, destination)
    except DuckmeshError:
        return None
    path = (web.mesh.root / destination).resolve()
    return path if path.is_file() else None


def register(app: FastAPI, web: Web) -> None:
    """``/reports``, ``/reports/{name}`` and the published slots."""

    def report_of(request: Request, name: str) -> tuple[Any, ReportSpec]:
        caller = web.caller(request)
        assert caller is not None
        if NAME.match(name):
            for spec in _mine(web, caller.name):
                if spec.name == name:
                    return caller, spec
        raise NotFound(f"no report {name!r} for you")

    @app.get("/reports", include_in_schema=False)
    def reports_page(request: Request) -> Response:
        caller = web.caller(request)
        assert caller is not None
        mine = [{"spec": s, "slots": _slots(web, s)[:1]} for s in _mine(web, caller.name)]
        return web.page(request, "reports.html.j2", caller, reports=mine, title="Reports")

    @app.get("/reports/{name}", include_in_schema=False)
    def report_page(request: Request, name: str) -> Response:
        caller, spec = report_of(request, name)
        return web.page(request, "report_page.html.j2", caller, spec=spec,
                        slots=_slots(web, spec), audience=members(spec, web.mesh.governance),
                        title=f"Report {spec.name}")

    @app.get("/reports/{name}/slots/{key}", include_in_schema=False)
    def report_file(request: Request, name: str, key: str) -> Response:
        _, spec = report_of(request, name)
        slot = next((s for s in _slots(web, spec) if SLOT.match(key) and s["key"] == key),
                    None)
        path = _local(web, slot["destination"]) if slot else None
        if path is None:
            raise NotFound(f"no published slot {key!r} of report {name} on this server")
        response = finish(Response(path.read_bytes(), media_type=MEDIA[spec.format]))
        response.headers["Content-Security-Policy"] = SANDBOX
        if spec.format != "html":
            response.headers["Content-Disposition"] = \
                f'attachment; filename="{spec.name}-{key}.{spec.format}"'
        return response

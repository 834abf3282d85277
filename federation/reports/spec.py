"""``reports/<name>.yaml``: what a scheduled report runs, for whom, when, and where to.

```yaml
description: Daily revenue by country, as the EU analyst sees it
sql: SELECT ...                 # or sql_file: reports/revenue.sql (inside the mesh);
                                # $slot_start and $slot_end are bound to the slot
audience:                       # who reads it: users and/or roles; every member must
  users: [ana]                  # get the same governed view, or the report is refused
purpose: analytics              # a purpose declared in governance/policies.yaml
schedule: "0 6 * * *"           # cron; slots are computed in `timezone` (default UTC)
timezone: UTC
format: parquet                 # parquet, csv, xlsx or html
chart: {kind: bar, x: country, y: revenue}   # html only, optional
destination: out/revenue/{slot:%Y-%m-%d}.parquet   # under duckmesh.yaml reports.destinations
max_catchup: 3                  # `reports due` runs at most this many missed slots
engine: spark                   # optional: duckdb, spark or auto (default engine.default)
```
"""

from __future__ import annotations

import string
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from federation.errors import ConfigError, UsageError
from products.config import pydantic_error
from products.yamlio import load_yaml

REPORTS_DIR = "reports"
SUFFIX = ".yaml"
FORMATS = ("parquet", "csv", "xlsx", "html")
TEMPLATE_FIELDS = frozenset({"slot", "name"})


class Chart(BaseModel):
    """An optional chart drawn above an HTML report's table."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["bar", "line"] = "bar"
    x: str
    y: str


class Audience(BaseModel):
    """Who a report is for: named users and/or every user holding one of the roles."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    users: list[str] = Field(default_factory=list)
    roles: list[str] = Field(default_factory=list)

    def model_post_init(self, _context: object) -> None:
        if not self.users and not self.roles:
            raise ValueError("an audience needs users or roles")

    def describe(self) -> str:
        """``ana, role analyst``."""
        return ", ".join([*self.users, *(f"role {r}" for r in self.roles)])


class ReportSpec(BaseModel):
    """One report, as written in ``reports/<name>.yaml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(default="", exclude=True)
    description: str | None = None
    sql: str | None = None
    sql_file: str | None = None
    audience: Audience | None = None
    run_as: str | None = Field(default=None, description="shorthand for an audience of "
                               "one user: audience: {users: [NAME]}")
    purpose: str | None = None
    schedule: str
    timezone: str = "UTC"
    format: Literal["parquet", "csv", "xlsx", "html"] = "parquet"
    chart: Chart | None = None
    destination: str
    max_catchup: int = Field(default=1, ge=1, le=1000)
    engine: Literal["duckdb", "spark", "auto"] | None = Field(
        default=None, description="where the report's query runs (default: engine.default "
        "of duckmesh.yaml); see docs/spark.md")

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        if not croniter.is_valid(value):
            raise ValueError(f"not a cron expression: {value!r}")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @field_validator("destination")
    @classmethod
    def _template(cls, value: str) -> str:
        # Only {slot[:strftime]} and {name}: no attribute or index access in a template.
        for _, field, _, _ in string.Formatter().parse(value):
            if field is not None and field not in TEMPLATE_FIELDS:
                raise ValueError(f"unknown placeholder {{{field}}} (use {{slot:%Y-%m-%d}} "
                                 "or {name})")
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def readers(self) -> Audience:
        """The audience, with ``run_as`` read as an audience of one."""
        if self.audience is not None:
            return self.audience
        assert self.run_as is not None
        return Audience(users=[self.run_as])


def load_report(root: Path, name: str) -> ReportSpec:
    """The report ``name`` of the mesh at ``root``."""
    path = root / REPORTS_DIR / f"{name}{SUFFIX}"
    if not path.is_file():
        known = ", ".join(report_names(root)) or "none"
        raise UsageError(f"unknown report {name!r}", hint=f"reports in this mesh: {known}")
    errors = report_errors(root, name)
    if errors:
        raise errors[0]
    return ReportSpec.model_validate({**load_yaml(path).data, "name": name})


def report_errors(root: Path, name: str) -> list[ConfigError]:
    """Every problem of ``reports/<name>.yaml`` at once (validate reports them all)."""
    path = root / REPORTS_DIR / f"{name}{SUFFIX}"
    doc = load_yaml(path, allow_empty=False)
    try:
        spec = ReportSpec.model_validate({**doc.data, "name": name})
    except ValidationError as exc:
        return [pydantic_error(doc, exc, index=i) for i in range(exc.error_count())]
    errors: list[ConfigError] = []
    if (spec.sql is None) == (spec.sql_file is None):
        errors.append(doc.error(["sql"], "give exactly one of sql and sql_file"))
    if (spec.audience is None) == (spec.run_as is None):
        errors.append(doc.error(["audience"], "give exactly one of audience and run_as"))
    if spec.chart is not None and spec.format != "html":
        errors.append(doc.error(["chart"], "a chart needs format: html"))
    if spec.sql_file is not None and _outside(root, spec.sql_file):
        errors.append(doc.error(["sql_file"], "sql_file must be a path inside the mesh"))
    if Path(spec.destination).is_absolute() or ".." in Path(spec.destination).parts:
        errors.append(doc.error(["destination"], "destination must be relative to the mesh "
                                "(or an object-store URI), without '..'"))
    return errors


def _outside(root: Path, text: str) -> bool:
    path = Path(text)
    if path.is_absolute():
        return True
    resolved, top = (root / path).resolve(), root.resolve()
    return resolved != top and top not in resolved.parents


def report_names(root: Path) -> list[str]:
    folder = root / REPORTS_DIR
    return sorted(p.name[: -len(SUFFIX)] for p in folder.glob(f"*{SUFFIX}")) \
        if folder.is_dir() else []


def load_reports(root: Path) -> list[ReportSpec | ConfigError]:
    """Every report of the mesh, by name; a broken one as its error, so one malformed
    report never stops the others."""
    out: list[ReportSpec | ConfigError] = []
    for name in report_names(root):
        try:
            out.append(load_report(root, name))
        except ConfigError as exc:
            out.append(exc)
    return out


def report_sql(root: Path, spec: ReportSpec) -> str:
    """The report's SQL text: inline, or read from ``sql_file``."""
    if spec.sql is not None:
        return spec.sql
    assert spec.sql_file is not None
    if _outside(root, spec.sql_file):
        raise ConfigError("sql_file must be a path inside the mesh", field="sql_file",
                          file=str(root / REPORTS_DIR / f"{spec.name}{SUFFIX}"))
    path = root / spec.sql_file
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the report's SQL: {type(exc).__name__}",
                          file=str(path), field="sql_file") from None

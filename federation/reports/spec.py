"""``reports/<name>.yaml``: what a scheduled report runs, as whom, when, and where to.

```yaml
description: Daily revenue by country, as the EU analyst sees it
sql: SELECT ...                 # or sql_file: reports/revenue.sql (relative to the mesh)
run_as: ana                     # the principal: the output is governed for this user
schedule: "0 6 * * *"           # cron; slots are computed in `timezone` (default UTC)
timezone: UTC
format: parquet                 # parquet, csv, xlsx or html
chart: {kind: bar, x: country, y: revenue}   # html only, optional
destination: out/revenue/{slot:%Y-%m-%d}.parquet   # mesh-relative path or s3://…
max_catchup: 3                  # `reports due` runs at most this many missed slots
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


class ReportSpec(BaseModel):
    """One report, as written in ``reports/<name>.yaml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(default="", exclude=True)
    description: str | None = None
    sql: str | None = None
    sql_file: str | None = None
    run_as: str
    schedule: str
    timezone: str = "UTC"
    format: Literal["parquet", "csv", "xlsx", "html"] = "parquet"
    chart: Chart | None = None
    destination: str
    max_catchup: int = Field(default=1, ge=1, le=1000)

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


def load_report(root: Path, name: str) -> ReportSpec:
    """The report ``name`` of the mesh at ``root``."""
    path = root / REPORTS_DIR / f"{name}{SUFFIX}"
    if not path.is_file():
        known = ", ".join(report_names(root)) or "none"
        raise UsageError(f"unknown report {name!r}", hint=f"reports in this mesh: {known}")
    doc = load_yaml(path)
    try:
        spec = ReportSpec.model_validate({**doc.data, "name": name})
    except ValidationError as exc:
        raise pydantic_error(doc, exc) from None
    if (spec.sql is None) == (spec.sql_file is None):
        raise ConfigError("give exactly one of sql and sql_file", file=str(path), field="sql")
    if spec.chart is not None and spec.format != "html":
        raise ConfigError("a chart needs format: html", file=str(path), field="chart")
    return spec


def report_names(root: Path) -> list[str]:
    folder = root / REPORTS_DIR
    return sorted(p.name[: -len(SUFFIX)] for p in folder.glob(f"*{SUFFIX}")) \
        if folder.is_dir() else []


def load_reports(root: Path) -> list[ReportSpec]:
    """Every report of the mesh, by name."""
    return [load_report(root, name) for name in report_names(root)]


def report_sql(root: Path, spec: ReportSpec) -> str:
    """The report's SQL text: inline, or read from ``sql_file``."""
    if spec.sql is not None:
        return spec.sql
    assert spec.sql_file is not None
    path = Path(spec.sql_file)
    path = path if path.is_absolute() else root / path
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the report's SQL: {type(exc).__name__}",
                          file=str(path), field="sql_file") from None

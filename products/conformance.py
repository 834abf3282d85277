"""Does the data match its contract?  Schema conformance and SLA freshness.

Used twice: by ``duckmesh check`` for the whole contract, and before every query for
just the columns it reads (from Parquet footers, cached per file version), so a product
whose files drifted stops a query with a contract error instead of wrong data.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any, Literal

from connectors.footers import DataFacts
from connectors.types import is_nested, normalize_type, same_type, type_key
from products.contract import Column, Product

Status = Literal["passed", "failed", "warning", "error", "skipped"]
INTEGER_TYPES = {type_key(t) for t in ("TINYINT", "SMALLINT", "INTEGER", "BIGINT",
                                       "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
                                       "UBIGINT")}


@dataclass(frozen=True)
class Finding:
    """One check's outcome for one product (and column, if it is about one)."""

    product: str
    check: str
    status: Status
    message: str
    column: str | None = None
    observed: Any = None

    def as_dict(self) -> dict[str, Any]:
        """For JSON output."""
        return {"product": self.product, "check": self.check, "column": self.column,
                "status": self.status, "message": self.message, "observed": self.observed}


def type_matches(column: Column, actual: str, partition: bool) -> bool:
    """True if data of type ``actual`` satisfies the declared type of ``column``."""
    if same_type(column.type, actual):
        return True
    # Hive partition values carry no type: DuckDB infers BIGINT for digits, and any value
    # can be read as text.
    declared, found = type_key(column.type), type_key(actual)
    return partition and ((declared in INTEGER_TYPES and found in INTEGER_TYPES)
                          or declared == "VARCHAR")


def column_findings(product: Product, facts: DataFacts,
                    columns: list[Column] | None = None) -> list[Finding]:
    """Missing columns, type mismatches and nullability of ``columns`` (default: all)."""
    out = []
    for column in columns if columns is not None else list(product.columns):
        actual = facts.columns.get(column.name.lower())
        name = f"schema.{column.name}"
        if actual is None:
            out.append(Finding(product.fqn, name, "failed",
                               f"column {column.name} is declared but missing from the data",
                               column.name))
            continue
        if not type_matches(column, actual.type, actual.partition):
            out.append(Finding(product.fqn, name, "failed",
                               f"column {column.name} is {actual.type} in the data but "
                               f"{normalize_type(column.type)} in the contract", column.name,
                               actual.type))
            continue
        if column.required and not facts.nulls_known:
            out.append(Finding(product.fqn, name, "passed",
                               f"column {column.name} is present; nulls in text formats are "
                               "measured by a nullValues rule", column.name))
        elif column.required and actual.null_count is None and is_nested(actual.type):
            out.append(Finding(product.fqn, name, "warning",
                               f"column {column.name} is required; the files' statistics "
                               "cannot tell its own nulls from those of the fields inside "
                               "it (measure them with a nullValues rule)", column.name))
        elif column.required and actual.null_count is None:
            out.append(Finding(product.fqn, name, "error",
                               f"column {column.name} is required but the files have no null "
                               "counts to check it", column.name))
        elif column.required and actual.null_count:
            out.append(Finding(product.fqn, name, "failed",
                               f"column {column.name} is required but has "
                               f"{actual.null_count} nulls", column.name, actual.null_count))
        else:
            out.append(Finding(product.fqn, name, "passed",
                               f"column {column.name} is {actual.type}", column.name))
    return out


def extra_columns(product: Product, facts: DataFacts) -> list[Finding]:
    """Columns in the data that the contract does not declare (invisible to SQL)."""
    return [Finding(product.fqn, f"schema.{c.name}", "warning",
                    f"column {c.name} is in the data but not in the contract", c.name)
            for key, c in facts.columns.items() if product.column(key) is None]


_UNITS = {"d": "days", "day": "days", "days": "days", "h": "hours", "hr": "hours",
          "hour": "hours", "hours": "hours", "m": "minutes", "min": "minutes",
          "minute": "minutes", "minutes": "minutes", "w": "weeks", "week": "weeks",
          "weeks": "weeks", "y": "years", "yr": "years", "year": "years", "years": "years"}


def freshness_limit(product: Product) -> dt.timedelta | None:
    """The contract's freshness SLA (``slaProperties: [{property: freshness, …}]``)."""
    for sla in product.sla:
        if str(sla.get("property", "")).lower() not in ("freshness", "latency"):
            continue
        value, unit = sla.get("value"), str(sla.get("unit") or "d").lower()
        if not isinstance(value, int | float) or unit not in _UNITS:
            m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-z]+)\s*", str(value))
            if not m or m.group(2) not in _UNITS:
                return None
            value, unit = float(m.group(1)), m.group(2)
        kind = _UNITS[unit]
        if kind == "years":
            return dt.timedelta(days=365 * float(value))
        return dt.timedelta(**{kind: float(value)})
    return None


def freshness_policy(product: Product) -> str:
    """``warn`` (default) or ``refuse``: contract ``customProperties`` ``duckmesh.freshness``."""
    for prop in product.raw.get("customProperties") or []:
        if isinstance(prop, dict) and prop.get("property") == "duckmesh.freshness":
            return "refuse" if str(prop.get("value")).lower() == "refuse" else "warn"
    return "warn"


def human(delta: dt.timedelta) -> str:
    """``1d 2h``, ``3h 5m``, ``45m``: a duration as people write it."""
    minutes = int(delta.total_seconds() // 60)
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    parts = [f"{days}d" if days else "", f"{hours}h" if hours else "",
             f"{mins}m" if mins and not days else ""]
    return " ".join(p for p in parts if p) or "0m"


def freshness_finding(product: Product, facts: DataFacts,
                      now: dt.datetime | None = None) -> Finding | None:
    """Whether the newest file is within the freshness SLA; None if there is no SLA."""
    limit = freshness_limit(product)
    if limit is None:
        return None
    newest = facts.last_modified
    now = now or dt.datetime.now(dt.UTC)
    if newest is None:
        return Finding(product.fqn, "sla.freshness", "error", "no files to date")
    age = now - newest
    observed = human(age)
    if age > limit:
        return Finding(product.fqn, "sla.freshness", "failed",
                       f"data is {observed} old, past the freshness SLA of {human(limit)}",
                       observed=observed)
    return Finding(product.fqn, "sla.freshness", "passed",
                   f"data is {observed} old, within the SLA of {human(limit)}",
                   observed=observed)

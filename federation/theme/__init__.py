"""The HTML look shared by the web catalog and HTML reports: one Jinja2 environment
(autoescaping everything), the base layout, the stylesheet, readable number formats and
SVG charts drawn without a plotting library.

Every page and report is rendered through :func:`environment`: text from contracts,
descriptions and data is escaped wherever it lands (HTML and SVG alike), so a
``<script>`` in a description renders as text.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import jinja2

SUFFIXES = ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k"))


def short(value: Any) -> str:
    """A number as a reader scans it on an axis: ``488.6 M``, ``12.5 k``, ``950``."""
    if value is None:
        return ""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if not math.isfinite(number):
        return str(number)
    for size, suffix in SUFFIXES:
        if abs(number) >= size:
            text = f"{number / size:.1f}".removesuffix(".0")
            return f"{text} {suffix}"
    return f"{number:.2f}".rstrip("0").rstrip(".") if number % 1 else f"{number:.0f}"


def number(value: Any, digits: int | None = None) -> str:
    """Thousands separators, and at most two decimals: ``488,554,749.08``."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float | decimal.Decimal):
        if isinstance(value, float) and not math.isfinite(value):
            return str(value)
        places = 2 if digits is None else digits
        exponent = value.as_tuple().exponent if isinstance(value, decimal.Decimal) else None
        if isinstance(exponent, int) and digits is None:
            places = min(max(-exponent, 0), 2)
        return f"{value:,.{places}f}"
    return str(value)


def cell(value: Any) -> str:
    """A value in a table cell: numbers formatted, times readable, None empty."""
    if value is None:
        return ""
    if isinstance(value, int | float | decimal.Decimal) and not isinstance(value, bool):
        return number(value)
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    return str(value)


def size(value: Any) -> str:
    """Bytes for people: ``1.2 MB``."""
    if not isinstance(value, int | float):
        return ""
    amount = float(value)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(amount) < 1000 or unit == "TB":
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1000
    return f"{amount:.1f} TB"


def is_number(value: Any) -> bool:
    return isinstance(value, int | float | decimal.Decimal) and not isinstance(value, bool)


@cache
def stylesheet() -> str:
    """The one stylesheet (served at /static/duckmesh.css; embedded in reports)."""
    return resources.files("federation.theme").joinpath("static", "duckmesh.css").read_text(
        encoding="utf-8")


def environment(*packages: str) -> jinja2.Environment:
    """A Jinja2 environment over the templates of ``packages`` (first wins) and the
    theme's own, autoescaping every template, with the number filters."""
    import jinja2

    loaders: list[jinja2.BaseLoader] = [jinja2.PackageLoader(p, "templates") for p in packages]
    loaders.append(jinja2.PackageLoader("federation.theme", "templates"))
    env = jinja2.Environment(loader=jinja2.ChoiceLoader(loaders), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True,
                             lstrip_blocks=True)
    env.filters.update(short=short, number=number, cell=cell, size=size)
    env.tests["number"] = is_number
    env.globals["stylesheet"] = stylesheet
    return env


__all__ = ["cell", "environment", "is_number", "number", "short", "size", "stylesheet"]

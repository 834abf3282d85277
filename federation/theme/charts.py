"""Bar and line charts as SVG data for the templates: readable axes (``488.6 M``, never
``1e8``), no plotting library, nothing but numbers and escaped labels.

:func:`chart` returns a plain structure (bars or points, ticks, sizes); the template
``chart.svg.j2`` draws it, so every label goes through the template's autoescaping.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from federation.theme import short

WIDTH, HEIGHT = 760, 320
LEFT, RIGHT, TOP, BOTTOM = 72, 16, 16, 64


@dataclass(frozen=True)
class Chart:
    """A chart laid out in SVG user units."""

    kind: str
    x_label: str
    y_label: str
    width: int = WIDTH
    height: int = HEIGHT
    bars: list[dict[str, Any]] = field(default_factory=list)
    points: str = ""
    ticks: list[dict[str, Any]] = field(default_factory=list)
    labels: list[dict[str, Any]] = field(default_factory=list)
    plot: dict[str, float] = field(default_factory=dict)


def nice_ticks(top: float, count: int = 5) -> list[float]:
    """Round tick values from 0 to at least ``top``: 0, 100 M, 200 M, …"""
    if top <= 0:
        return [0.0, 1.0]
    raw = top / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    ticks, value = [], 0.0
    while value < top + step / 2:
        ticks.append(value)
        value += step
    return ticks


def chart(kind: str, xs: list[Any], ys: list[Any], x_label: str, y_label: str) -> Chart:
    """The layout of a ``bar`` or ``line`` chart of ``ys`` over ``xs`` (at most 60 shown)."""
    xs, ys = xs[:60], ys[:60]
    values = [float(y) if isinstance(y, int | float) or _numeric(y) else 0.0 for y in ys]
    low = min([0.0, *values])
    ticks = nice_ticks(max([0.0, *values]))
    if low < 0:
        ticks = [-t for t in reversed(nice_ticks(-low))][:-1] + ticks
    bottom_value, top_value = ticks[0], ticks[-1]
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def y_at(value: float) -> float:
        span = (top_value - bottom_value) or 1.0
        return TOP + plot_h * (1 - (value - bottom_value) / span)

    out = Chart(kind, x_label, y_label,
                plot={"x": LEFT, "y": TOP, "w": plot_w, "h": plot_h, "zero": y_at(0.0)})
    for tick in ticks:
        out.ticks.append({"y": round(y_at(tick), 1), "label": short(tick)})
    slot = plot_w / max(len(values), 1)
    every = max(1, math.ceil(len(values) / 20))
    points = []
    for i, (x, value) in enumerate(zip(xs, values, strict=True)):
        middle = LEFT + slot * (i + 0.5)
        if kind == "bar":
            top, base = sorted((y_at(value), y_at(0.0)))
            out.bars.append({"x": round(middle - slot * 0.35, 1), "y": round(top, 1),
                             "w": round(slot * 0.7, 1), "h": round(max(base - top, 0.5), 1),
                             "title": f"{x}: {short(value)}"})
        points.append(f"{middle:.1f},{y_at(value):.1f}")
        if i % every == 0:
            out.labels.append({"x": round(middle, 1), "y": TOP + plot_h + 14, "text": str(x)})
    if kind == "line":
        object.__setattr__(out, "points", " ".join(points))
    return out


def _numeric(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True

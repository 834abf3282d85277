"""Write a benchmark run as ``<date>-sf<N>.json`` plus a markdown table beside it."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.tpch.harness import Report
from connectors.writers import atomic_file


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:,.1f}"


def _ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}×"


def markdown(report: Report) -> str:
    """The run as a markdown table with its summary and setting."""
    s = report.summary
    with_df = any(q.datafusion_ms is not None for q in report.queries)
    head = ["query", "rows", "raw DuckDB ms", "admin ms", "admin ×", "analyst ms",
            "analyst ×", "plan p50 ms", "plan p99 ms", "admin = raw"]
    if with_df:
        head.insert(7, "DataFusion ms")
    lines = [
        f"### TPC-H SF{report.scale_factor:g}, {report.started}",
        "",
        f"- admin overhead, geometric mean of per-query median pair ratios: "
        f"**{_ratio(s['admin_geomean'])}**",
        f"- analyst (masks, denied column, row filter), same measure over "
        f"{s['analyst_queries']} queries: **{_ratio(s['analyst_geomean'])}**"
        + (f" (denied by policy, as intended: "
           f"{', '.join(f'q{n:02}' for n in s['analyst_denied'])})"
           if s["analyst_denied"] else ""),
        f"- planning (parse → governed SQL, files listed), all queries: "
        f"p50 **{s['plan_p50_ms']:.2f} ms**, p99 **{s['plan_p99_ms']:.2f} ms**",
        "- admin results equal raw DuckDB's: "
        + ("all" if not s["incorrect"] else
           "NOT for " + ", ".join(f"q{n:02}" for n in s["incorrect"])),
        f"- {report.runs} alternating runs per variant after a warm-up, medians; "
        f"{report.plan_iterations} planning iterations per query",
        f"- machine: {report.machine['cpu']}, {report.machine['cores']} cores, "
        f"{report.machine['memory']}, Python {report.machine['python']}",
        "- versions: " + ", ".join(f"{k} {v}" for k, v in report.versions.items()),
        "",
        "| " + " | ".join(head) + " |",
        "|" + "|".join("---:" for _ in head) + "|",
    ]
    for q in report.queries:
        cells = [f"q{q.query:02}", str(q.rows), _ms(q.raw_ms), _ms(q.admin_ms),
                 _ratio(q.admin_ratio),
                 "denied" if q.analyst_denied else _ms(q.analyst_ms),
                 _ratio(q.analyst_ratio), f"{q.plan_p50_ms:.2f}", f"{q.plan_p99_ms:.2f}",
                 "yes" if q.correct else f"**no**: {q.mismatch}"]
        if with_df:
            cells.insert(7, _ms(q.datafusion_ms))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _atomic_write(path: Path, text: str) -> None:
    with atomic_file(path) as handle:
        handle.write(text.encode("utf-8"))


def write(report: Report, folder: Path) -> tuple[Path, Path]:
    """Write ``<date>-sf<N>.json`` and ``.md`` into ``folder``; return both paths."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{report.started[:10]}-sf{report.scale_factor:g}"
    json_path, md_path = folder / f"{stem}.json", folder / f"{stem}.md"
    _atomic_write(json_path, json.dumps(report.to_json(), indent=2) + "\n")
    _atomic_write(md_path, markdown(report))
    return json_path, md_path

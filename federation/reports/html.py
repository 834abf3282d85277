"""HTML reports in the catalog's look: the theme's templates and stylesheet (embedded,
so the file stands alone), readable numbers (``488,554,749.08`` in cells, ``488.6 M`` on
axes), an SVG chart drawn without a plotting library, and the governance footer the
catalog's product pages carry."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from federation.errors import UsageError
from federation.pipeline.query import to_jsonable
from federation.reports.spec import ReportSpec
from federation.result import Result
from federation.theme import environment
from federation.theme.charts import chart


def render_html(table: pa.Table, spec: ReportSpec, result: Result,
                context: dict[str, Any]) -> str:
    """The report page of ``table`` (the governed result of ``spec`` for one slot)."""
    drawn = None
    if spec.chart is not None:
        for column in (spec.chart.x, spec.chart.y):
            if column not in table.column_names:
                raise UsageError(f"chart column {column!r} is not in the report's result",
                                 column=column)
        drawn = chart(spec.chart.kind, table.column(spec.chart.x).to_pylist(),
                      table.column(spec.chart.y).to_pylist(), spec.chart.x, spec.chart.y)
    rows = [list(r.values()) for r in table.to_pylist()]
    template = environment().get_template("report.html.j2")
    return template.render(
        title=spec.description or spec.name, name=spec.name, slot=str(context["slot"]),
        audience=str(context.get("audience", "")), run_as=str(context.get("run_as", "")),
        columns=table.column_names, rows=rows, truncated=False, total=len(rows),
        chart=drawn, products=list(result.products),
        decisions=[to_jsonable(d) for d in result.decisions]) + "\n"

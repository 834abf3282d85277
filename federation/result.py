"""The result of a governed query: Arrow, pandas, polars, batches, and its explanation."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from federation.pipeline.query import Decision, GovernedQuery, to_jsonable

if TYPE_CHECKING:
    import pandas
    import polars

__all__ = ["Result", "pretty_sql", "render_explain", "to_jsonable", "to_polars"]

Opener = Callable[[], pa.RecordBatchReader]


class Result:
    """A governed query, planned and authorized; it runs when you first read it.

    >>> result = mesh.sql("SELECT country, count(*) FROM customers.profiles GROUP BY 1",
    ...                   user="ana")                                      # doctest: +SKIP
    >>> result.arrow()                                                     # doctest: +SKIP
    """

    def __init__(self, query: GovernedQuery, opener: Opener, *,
                 stamp: dict[str, Any] | None = None, warnings: list[str] | None = None) -> None:
        self.query = query
        self._open = opener
        self._table: pa.Table | None = None
        self.stamp: dict[str, Any] = stamp or {}
        """Contract versions and exact files read (see federation.pipeline.stamp)."""
        self.warnings: list[str] = warnings or []
        """Non-fatal findings, e.g. a product past its freshness SLA."""

    @property
    def governed_sql(self) -> str:
        """The SQL that runs (mask key shown only as a parameter name)."""
        return self.query.governed_sql

    @property
    def decisions(self) -> list[Decision]:
        """Every policy decision applied to this query."""
        return self.query.decisions

    @property
    def products(self) -> tuple[str, ...]:
        """The products the query reads."""
        return self.query.products

    def reader(self, rows_per_batch: int = 100_000) -> pa.RecordBatchReader:
        """Stream the result as Arrow record batches of at most ``rows_per_batch`` rows
        (runs the query again each call)."""
        if rows_per_batch < 1:
            from federation.errors import UsageError
            raise UsageError(f"rows_per_batch must be at least 1, not {rows_per_batch}")
        if self._table is not None:
            return pa.RecordBatchReader.from_batches(
                self._table.schema, self._table.to_batches(rows_per_batch))
        raw = self._open()
        return pa.RecordBatchReader.from_batches(raw.schema, _at_most(raw, rows_per_batch))

    def batches(self, rows_per_batch: int = 100_000) -> Iterator[pa.RecordBatch]:
        """Iterate over Arrow record batches of at most ``rows_per_batch`` rows, without
        holding the whole result."""
        yield from self.reader(rows_per_batch)

    def arrow(self) -> pa.Table:
        """The whole result as an Arrow table (computed once, then cached)."""
        if self._table is None:
            self._table = self._open().read_all()
        return self._table

    def df(self, dtype_backend: str = "numpy") -> pandas.DataFrame:
        """The result as a pandas DataFrame.

        ``dtype_backend="pyarrow"`` keeps every column Arrow-backed (``pd.ArrowDtype``):
        DECIMAL, DATE, TIME, nested and unsigned columns keep their types instead of
        becoming ``object`` columns of Python values (the default, numpy, does that).
        """
        if dtype_backend == "pyarrow":
            import pandas

            return self.arrow().to_pandas(types_mapper=pandas.ArrowDtype)
        if dtype_backend != "numpy":
            from federation.errors import UsageError
            raise UsageError(f"dtype_backend is 'numpy' or 'pyarrow', not {dtype_backend!r}")
        return self.arrow().to_pandas()

    def pl(self) -> polars.DataFrame:
        """The result as a polars DataFrame (needs ``pip install polars``)."""
        return to_polars(self.arrow())

    def lineage(self) -> list[Any]:
        """For each output column: source product columns, transformation, classification."""
        from federation.audit.lineage import lineage

        return lineage(self.query)

    def explain(self) -> str:
        """The governed SQL and every decision, as text."""
        return render_explain(self.query)

    def __repr__(self) -> str:
        return f"<Result products={list(self.products)}>"


def _at_most(batches: Iterable[pa.RecordBatch], rows: int) -> Iterator[pa.RecordBatch]:
    """``batches`` cut into slices of at most ``rows`` rows (slices share the memory)."""
    for batch in batches:
        if batch.num_rows <= rows:
            yield batch
            continue
        for start in range(0, batch.num_rows, rows):
            yield batch.slice(start, rows)


def render_explain(query: GovernedQuery) -> str:
    """Human-readable explanation: products, decisions, governed SQL."""
    lines = ["-- products: " + ", ".join(query.products)]
    for d in query.decisions:
        target = d.product + (f".{d.column}" if d.column else "")
        detail = f" [{d.detail}]" if d.detail else ""
        lines.append(f"-- {d.action:<13} {target}{detail}  <- {d.reason}")
    lines.append(pretty_sql(query))
    return "\n".join(lines)


def pretty_sql(query: GovernedQuery) -> str:
    """The governed SQL, formatted for reading."""
    return query.expression.sql(dialect="duckdb", pretty=True)


def to_polars(table: pa.Table) -> polars.DataFrame:
    """``table`` as a polars DataFrame; a clear error when polars is not installed."""
    try:
        import polars
    except ImportError:
        from federation.errors import UsageError
        raise UsageError("polars is not installed", hint="pip install polars") from None
    frame = polars.from_arrow(table)
    assert isinstance(frame, polars.DataFrame)
    return frame

"""Run a sealed governed query on Apache Spark, with DuckDB's answer.

The engine reads nothing the DuckDB engine would not: each product becomes a DataFrame
over exactly the planned files (Parquet, CSV and JSON with the types DuckDB reads them
with, hive partition columns, Iceberg data files by field id, or the pyiceberg fallback
table), registered as a temporary view under an unguessable name in a session of its
own.  The governed tree is transpiled by :mod:`federation.engines.spark_sql` (refused if
Spark would not compute it exactly as DuckDB); the hash mask's key is bound with
``spark.sql(..., args=...)``.

The result is DuckDB's: the types and column names DuckDB gives the same governed query
(bound, never run, in the same sandbox as :mod:`federation.engines.duckdb`) are imposed
on Spark's Arrow result, so ``avg`` is a DOUBLE and ``sum`` a DECIMAL(38, s) on both.
Spark's errors quote SQL and values: they are rebuilt from their error class alone.
"""

from __future__ import annotations

import contextlib
import re
import secrets
import threading
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
from sqlglot import exp
from sqlglot.errors import SqlglotError

from connectors.scan import TEXT_READERS, ScanPlan
from federation.engines.duckdb import DoneCallback, ProgressCallback, connect
from federation.engines.spark_qualify import refuse
from federation.engines.spark_session import arrow_batches, query_session, release
from federation.engines.spark_sql import to_spark
from federation.errors import DuckmeshError, QueryFailed, QueryTimeout, StorageError
from federation.pipeline.query import GovernedQuery
from products.config import EngineSettings

VIEW_PREFIX = "duckmesh_view_"
EXACT_TEXT = ("VARCHAR", "BIGINT", "INTEGER", "SMALLINT", "TINYINT", "DATE", "BOOLEAN",
              "DECIMAL")
"""Column types whose text (the hash and partial masks hash or cut it) Spark writes
exactly as DuckDB does."""
SPARK_BATCH_ROWS = 10_000
"""Rows per Arrow batch Spark sends (its default): what Python holds of a result."""
_CONDITION = re.compile(r"^[A-Z][A-Z0-9_.]{2,80}$")


@dataclass(frozen=True)
class Shapes:
    """What DuckDB says about a query without running it."""

    scans: dict[str, pa.Schema]
    """Per product: the columns (and types) DuckDB reads from its scan."""
    types: dict[str, dict[str, str]]
    """Per product: column → DuckDB type (for the cast checks)."""
    result: pa.Schema
    """The result's columns and types."""


def shapes(query: GovernedQuery, engine: EngineSettings, root: Path) -> Shapes:
    """Bind (never run) the governed query and each scan in a sandboxed DuckDB
    connection: their columns and types, as Arrow schemas."""
    con = connect(query, engine, root)
    try:
        scans: dict[str, pa.Schema] = {}
        types: dict[str, dict[str, str]] = {}
        for fqn, scan in query.scans.items():
            relation = con.sql(exp.select("*").from_(scan.to_expression()).sql("duckdb"))
            types[fqn] = {c: str(t) for c, t in zip(relation.columns, relation.types,
                                                   strict=True)}
            scans[fqn] = _arrow_schema(con, relation)
        result = con.sql(query.governed_sql, params=query.params or None)
        schema = _arrow_schema(con, result)
    finally:
        con.close()
    return Shapes(scans, types, schema)


def _arrow_schema(con: Any, relation: Any) -> pa.Schema:
    """The Arrow schema of a bound relation, from a one-row relation of NULLs of its
    types (``LIMIT 0`` can still run an aggregate over all the data)."""
    columns = []
    for name, kind in zip(relation.columns, relation.types, strict=True):
        try:
            to = exp.DataType.build(str(kind), dialect="duckdb")
        except (SqlglotError, ValueError):
            raise refuse(f"a result column of type {kind}") from None
        columns.append(exp.alias_(exp.Cast(this=exp.Null(), to=to), name, quoted=True))
    if not columns:
        raise QueryFailed("internal: a query without columns")
    table = con.sql(exp.select(*columns).sql("duckdb")).to_arrow_table()
    return table.schema


def check_masks(query: GovernedQuery) -> None:
    """QueryRejected if a hash or partial mask would read a column whose text Spark
    writes differently from DuckDB (floating point, timestamps, nested values)."""
    for fqn, access in query.access.items():
        read = {c.lower() for c in query.columns_read.get(fqn, ())}
        for decision in access.columns:
            if decision.action != "mask" or decision.method not in ("hash", "partial") \
                    or decision.column.name.lower() not in read:
                continue
            if not decision.column.type.upper().startswith(EXACT_TEXT):
                raise refuse(f"the {decision.method} mask of a "
                             f"{decision.column.type} column ({fqn}.{decision.column.name})")


def spark_sql(query: GovernedQuery, views: dict[str, str],
              types: dict[str, dict[str, str]] | None = None, *, pretty: bool = False) -> str:
    """The Spark SQL of ``query`` over ``views`` (product → view name); ``pretty`` for
    people (explain, golden fixtures): the same tree on several lines."""
    check_masks(query)
    schema = {views[fqn]: cols for fqn, cols in (types or {}).items() if fqn in views}
    return to_spark(query.expression, views, schema, pretty=pretty)


def display_views(query: GovernedQuery) -> dict[str, str]:
    """Stable stand-ins for the views' names (``explain``; each run uses random ones)."""
    return {fqn: VIEW_PREFIX + fqn.replace(".", "__") for fqn in query.scans}


def _spark_schema(schema: pa.Schema) -> Any:
    from pyspark.sql.pandas.types import from_arrow_schema

    try:
        return from_arrow_schema(schema)
    except Exception:  # noqa: BLE001 - pyspark raises several kinds for one meaning
        raise refuse("a column of a type Spark cannot read like DuckDB (e.g. unsigned "
                     "integers)") from None


def frame(session: Any, scan: ScanPlan, schema: pa.Schema) -> Any:
    """A DataFrame over exactly the planned files of ``scan``, typed as DuckDB reads it."""
    if scan.fallback is not None:
        return session.createDataFrame(scan.fallback.select(schema.names).cast(schema))
    struct = _spark_schema(schema)
    if scan.field_ids:
        from pyspark.sql.types import StructField, StructType

        ids = {name: field_id for field_id, name, _ in scan.field_ids}
        struct = StructType([StructField(f.name, f.dataType, f.nullable,
                                         {"parquet.field.id": ids[f.name]}
                                         if f.name in ids else {}) for f in struct.fields])
    reader = session.read.schema(struct)
    if scan.hive_partitioning:
        reader = reader.option("basePath", scan.location.directory)
    paths = [f.path for f in scan.files]
    if scan.format == "csv":
        return reader.options(header=True, mode="FAILFAST").csv(paths)
    if scan.format == "json":
        return reader.options(mode="FAILFAST").json(paths)
    if scan.format not in ("parquet", *TEXT_READERS):
        raise refuse(f"the {scan.format} format")
    return reader.parquet(*paths)


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Spark's result with DuckDB's column names and types (values cast safely)."""
    if table.num_columns != len(schema):
        raise QueryFailed("internal: the spark engine returned another number of columns")
    columns = []
    for column, target in zip(table.columns, schema, strict=True):
        try:
            columns.append(column if column.type == target.type
                           else column.cast(target.type, safe=True))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            raise QueryFailed(f"internal: the spark engine returned column {target.name!r} as "
                              f"{column.type}, not {target.type}") from None
    return pa.Table.from_arrays(columns, schema=schema)


def sanitize(exc: BaseException, query: GovernedQuery, timeout: float,
             timed_out: bool) -> DuckmeshError:
    """A DuckmeshError for a Spark failure, from its error class only (never its text)."""
    if isinstance(exc, DuckmeshError):
        return exc
    if timed_out:
        return QueryTimeout(f"the query ran longer than the limit of {timeout:g} s and was "
                            "stopped", hint="raise engine.timeout_seconds in duckmesh.yaml")
    condition = ""
    getter = getattr(exc, "getCondition", None) or getattr(exc, "getErrorClass", None)
    if getter is not None:
        with contextlib.suppress(Exception):
            condition = str(getter() or "")
    if not _CONDITION.match(condition):
        condition = ""
    product = next(iter(query.scans)) if len(query.scans) == 1 else None
    if condition.startswith(("FAILED_READ_FILE", "PATH_NOT_FOUND")) or \
            type(exc).__name__ in ("FileNotFoundException",):
        what = f"the data of {product}" if product else "a product's data"
        return StorageError(f"could not read {what}", product=product)
    if condition.startswith(("ARITHMETIC_OVERFLOW", "CAST_OVERFLOW", "NUMERIC_VALUE_OUT")):
        return QueryFailed("a value was out of range for its type (the value is not shown)")
    if condition.startswith(("DIVIDE_BY_ZERO", "REMAINDER_BY_ZERO", "INTERVAL_DIVIDED")):
        return QueryFailed("a division by zero (the value is not shown)")
    if condition.startswith("CAST_INVALID_INPUT"):
        return QueryFailed("a value could not be converted to the requested type (the value "
                           "is not shown)", hint="use TRY_CAST to get NULL instead")
    kind = condition or type(exc).__name__.removesuffix("Exception") or "Unknown"
    return QueryFailed(f"the spark engine could not run the governed query ({kind} error)",
                       hint="run `duckmesh explain --engine spark` to see the Spark SQL")


class _Interrupter:
    """What a server holds to stop a running query: ``interrupt()`` (as DuckDB's)."""

    def __init__(self, execution: SparkExecution) -> None:
        self._execution = execution

    def interrupt(self) -> None:
        self._execution.interrupt()


class SparkExecution:
    """One governed query running on Spark: a stream of Arrow batches, one partition of
    the result at a time, then released; same interface as the DuckDB engine's
    Execution."""

    def __init__(self, query: GovernedQuery, engine: EngineSettings, root: Path,
                 progress: ProgressCallback | None = None,
                 on_done: DoneCallback | None = None, *,
                 time_left: float | None = None) -> None:
        del progress  # Spark's progress is its UI's; the CLI shows none for it
        self.query = query
        self.engine = engine
        self.root = root
        self._on_done = on_done
        self._reported = False
        self._rows = 0
        self.timeout = engine.timeout_seconds
        self.time_left = self.timeout if time_left is None else max(time_left, 0.001)
        self._timed_out = threading.Event()
        self._closed = threading.Event()
        self._tag = "duckmesh-" + secrets.token_hex(8)
        self._session: Any = None
        self._views: list[str] = []
        self._timer = threading.Timer(self.time_left, self._expire)
        self._timer.daemon = True
        self.con = _Interrupter(self)

    def _expire(self) -> None:
        # Again and again until the query ends: a job started just after an interrupt
        # (the query was still being planned) is stopped by the next one.
        self._timed_out.set()
        while not self._closed.is_set():
            self.interrupt()
            self._closed.wait(0.5)

    def interrupt(self) -> None:
        """Cancel the query's Spark jobs (the stream then fails)."""
        session = self._session
        if session is None:
            return
        with contextlib.suppress(Exception):
            if self.engine.spark.remote is None:
                session.sparkContext.cancelJobGroup(self._tag)
            else:
                session.interruptTag(self._tag)

    def dataframe(self) -> Any:
        """The governed query as a Spark DataFrame in a session of its own (views
        registered); :meth:`close` releases them."""
        shaped = shapes(self.query, self.engine, self.root)
        views = {fqn: VIEW_PREFIX + secrets.token_hex(16) for fqn in self.query.scans}
        sql = spark_sql(self.query, views, shaped.types)
        self._session = session = query_session(self.engine.spark, self.engine.timezone)
        if self.engine.spark.remote is None:
            # A job group, not a tag: the Arrow collection runs in a JVM thread of its
            # own, which inherits the group (local properties) but not the session's tags.
            session.sparkContext.setJobGroup(self._tag, "duckmesh query",
                                             interruptOnCancel=True)
        else:
            session.addTag(self._tag)
        for fqn, scan in self.query.scans.items():
            frame(session, scan, shaped.scans[fqn]).createTempView(views[fqn])
            self._views.append(views[fqn])
        args = {name: bytearray(value) for name, value in self.query.params.items()}
        self._result_schema = shaped.result
        return session.sql(sql, args=args or None)

    def reader(self, rows_per_batch: int = 100_000) -> pa.RecordBatchReader:
        """Run the query; its result as a stream of Arrow batches (one partition of the
        result on the driver, one batch in Python at a time), errors sanitized.  The
        first batch is read here, so a query that fails at once fails in this call."""
        self._timer.start()
        try:
            batches = arrow_batches(self.dataframe(), min(rows_per_batch, SPARK_BATCH_ROWS))
            first = next(batches, None)
        except BaseException as exc:  # noqa: BLE001 - released, reported and re-raised
            raise self._fail(exc) from None
        return pa.RecordBatchReader.from_batches(self._result_schema,
                                                 self._stream(first, batches))

    def _fail(self, exc: BaseException) -> BaseException:
        """Release everything and report ``exc``; what to raise (sanitized)."""
        error: BaseException = exc
        if isinstance(exc, Exception):
            error = sanitize(exc, self.query, self.timeout, self._timed_out.is_set())
        self.interrupt()  # a stream given up while Spark still computes the next partition
        self.close()
        self._report(None, error)
        return error

    def _stream(self, first: Any, rest: Iterator[Any]) -> Generator[pa.RecordBatch, None, None]:
        batch = first
        try:
            while batch is not None:
                conformed = conform(pa.Table.from_batches([batch]), self._result_schema)
                for out in conformed.to_batches():
                    self._rows += out.num_rows
                    yield out
                batch = next(rest, None)
        except GeneratorExit:
            self._fail(QueryFailed("the result was not read to the end: its reader stopped"))
            raise
        except BaseException as exc:  # noqa: BLE001 - released, reported and re-raised
            raise self._fail(exc) from None
        self.close()
        self._report(self._rows, None)

    def _report(self, rows: int | None, error: BaseException | None) -> None:
        if self._on_done is not None and not self._reported:
            self._reported = True
            self._on_done(rows, error)

    def close(self) -> None:
        """Stop the timer, drop the views, release the session (idempotent)."""
        self._closed.set()
        self._timer.cancel()
        session, self._session = self._session, None
        if session is not None:
            if self.engine.spark.remote is not None:
                with contextlib.suppress(Exception):
                    session.removeTag(self._tag)
            release(session, self._views, self.engine.spark)
            self._views = []

"""Step 7: execute a governed query in a fresh, sandboxed DuckDB connection.

Hardening, in the order DuckDB accepts it (see shared/FACTS.md): no extension install
or autoload, no Python replacement scans, no temp directory unless spilling is
configured; the mesh's one time zone; then exactly the products' directories allowed,
external access off, configuration locked.  A timer interrupts a query that runs past the limit.
"""

from __future__ import annotations

import atexit
import contextlib
import threading
import time
import weakref
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from connectors.listing import strip_scheme
from federation.engines.sanitize import sanitize
from federation.errors import ConfigError, QueryFailed, QueryInterrupted
from federation.pipeline.query import GovernedQuery
from products.config import EngineSettings

ProgressCallback = Callable[[float], None]
DoneCallback = Callable[[int | None, BaseException | None], None]
"""Called once when a query ends: rows streamed (None if it never started), error."""


_UNFINISHED: weakref.WeakSet[Generator[pa.RecordBatch, None, None]] = weakref.WeakSet()
"""Result streams not yet read to the end (entries go when a stream is collected)."""
_RUNNING: weakref.WeakSet[Execution] = weakref.WeakSet()
TERMINATING = threading.Event()
"""Set when the process was asked to stop (SIGTERM): queries ending now were interrupted."""


def interrupt_all() -> None:
    """Stop every running query of this process (SIGTERM): each ends, and is audited, as
    interrupted."""
    TERMINATING.set()
    for execution in list(_RUNNING):
        with contextlib.suppress(duckdb.Error):
            execution.con.interrupt()


@atexit.register
def _close_unfinished() -> None:
    """Close the results a program never read to the end before the interpreter goes.

    Their connections are released (DuckDB's bindings otherwise print a report of objects
    still alive at exit) and their audit records written ("not read to the end").
    """
    for stream in list(_UNFINISHED):
        with contextlib.suppress(Exception):
            stream.close()


def connect(query: GovernedQuery, engine: EngineSettings, root: Path, *,
            progress: bool = False, deadline: float | None = None) -> duckdb.DuckDBPyConnection:
    """A new connection that can read exactly the directories of ``query``'s products.

    ``progress`` turns DuckDB's progress tracking on (for :meth:`query_progress`);
    ``deadline`` (``time.monotonic``) ends every remote read DuckDB makes.
    """
    config: dict[str, Any] = {
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
        "python_enable_replacements": False,
        "temp_directory": "",
    }
    if engine.threads:
        config["threads"] = engine.threads
    if engine.memory_limit:
        config["memory_limit"] = engine.memory_limit
    allowed = sorted({d for scan in query.scans.values() for d in scan.allowed_directories})
    if engine.spill_directory:
        spill = Path(engine.spill_directory)
        spill = spill if spill.is_absolute() else root / spill
        spill.mkdir(parents=True, exist_ok=True)
        config["temp_directory"] = str(spill)
        allowed.append(str(spill).rstrip("/") + "/")
    con = duckdb.connect(":memory:", config=config)
    try:
        # Remote files are read by DuckDB's own Parquet reader through fsspec, via a view
        # that reuses the footers planning already fetched (connectors.tailcache).
        remote: dict[int, tuple[Any, dict[str, tuple[int, int, str]]]] = {}
        for scan in query.scans.values():
            if scan.filesystem is not None:
                _, files = remote.setdefault(id(scan.filesystem), (scan.filesystem, {}))
                files.update({strip_scheme(f.path): f.version for f in scan.files})
        if remote:
            # Imported here: fsspec is for remote products only (connectors.tailfs).
            from connectors.tailfs import TailCachingFileSystem

            for fs, files in remote.values():
                con.register_filesystem(TailCachingFileSystem(fs, files, deadline))
        for scan in query.scans.values():
            if scan.fallback is not None:
                con.register(scan.fallback_name, scan.fallback)
        if remote:
            # Measured (benchmarks/s3_bytes.py): the external file cache fetched whole small
            # files, several times, for a scan needing a few column chunks; and with a
            # fresh connection per query it never serves a second query anyway.
            con.execute("SET enable_external_file_cache = false")
        _progress_settings(con, progress)
        _time_zone(con, engine.timezone)
        con.execute("SET allowed_directories = $dirs", {"dirs": allowed})
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
    except BaseException:
        con.close()
        raise
    return con


def _time_zone(con: duckdb.DuckDBPyConnection, zone: str) -> None:
    """Every query runs in the mesh's one time zone (``engine.timezone``), never the
    host's: casts of TIMESTAMPTZ values to DATE, ``now()`` and the zone Arrow results are
    labelled with do not depend on where the query runs."""
    try:
        con.execute("SET TimeZone = $zone", {"zone": zone})
    except duckdb.Error:
        raise ConfigError(f"DuckDB does not know the time zone {zone!r}",
                          field="engine.timezone", hint="use an IANA name such as UTC or "
                          "Europe/Madrid") from None


def _progress_settings(con: duckdb.DuckDBPyConnection, progress: bool) -> None:
    """Never let DuckDB draw a progress bar (it would write into our output); track
    progress only when asked for."""
    try:
        con.execute("SET enable_progress_bar_print = false")
        con.execute(f"SET enable_progress_bar = {'true' if progress else 'false'}")
    except duckdb.InvalidInputException:
        # Under Jupyter without ipywidgets, DuckDB refuses any progress-bar setting; it
        # draws nothing there either, and progress callbacks are a terminal feature.
        pass


def _exportable(relation: duckdb.DuckDBPyRelation) -> duckdb.DuckDBPyRelation:
    """The result with UHUGEINT columns cast to HUGEINT.

    DuckDB exports both to Arrow as 128-bit decimals, and a UHUGEINT above 2^127 comes
    out wrapped (2^128 - 1 as -1): a wrong answer, silently.  Cast, a value that does not
    fit is an error instead; every other value is exact.
    """
    kinds = [str(kind) for kind in relation.types]
    if "UHUGEINT" not in kinds or len(set(relation.columns)) != len(relation.columns):
        return relation
    return relation.project(*[
        duckdb.ColumnExpression(name).cast(duckdb.sqltype("HUGEINT")).alias(name)
        if kind == "UHUGEINT" else duckdb.ColumnExpression(name)
        for name, kind in zip(relation.columns, kinds, strict=True)])


def result_schema(query: GovernedQuery, engine: EngineSettings, root: Path) -> pa.Schema:
    """The Arrow schema of ``query``'s result without reading its data: DuckDB binds the
    governed SQL under ``LIMIT 0`` (binding reads only metadata, e.g. Parquet footers),
    in the same sandbox and with the same time limit as a run; errors sanitized."""
    con = connect(query, engine, root)
    timer = threading.Timer(engine.timeout_seconds, con.interrupt)
    timer.daemon = True
    timer.start()
    try:
        relation = _exportable(con.sql(query.governed_sql, params=query.params or None))
        return relation.limit(0).to_arrow_table().schema
    except duckdb.Error as exc:
        raise sanitize(exc, query, engine.timeout_seconds) from None
    finally:
        timer.cancel()
        con.close()


def _ctrl_c(exc: BaseException) -> BaseException:
    """Ctrl-C while DuckDB runs: DuckDB answers Python's pending KeyboardInterrupt with
    ``RuntimeError("Query interrupted")``; it is the Ctrl-C again (exit 130, audited as
    interrupted), not an internal error."""
    if type(exc) is RuntimeError and str(exc) == "Query interrupted":
        return KeyboardInterrupt()
    return exc


class Execution:
    """One running governed query: a stream of Arrow record batches, then closed."""

    def __init__(self, query: GovernedQuery, engine: EngineSettings, root: Path,
                 progress: ProgressCallback | None = None,
                 on_done: DoneCallback | None = None, *,
                 time_left: float | None = None) -> None:
        """``time_left``: seconds of the query's time limit that planning left (default:
        all of ``engine.timeout_seconds``)."""
        self.query = query
        self._on_done = on_done
        self._rows = 0
        self._reported = False
        self.timeout = engine.timeout_seconds
        self.time_left = self.timeout if time_left is None else max(time_left, 0.001)
        self._timed_out = threading.Event()
        self._done = threading.Event()
        # Storage reads stop at the same moment the timer interrupts DuckDB: a read the
        # store stalls cannot keep the query past its limit.
        self.deadline = time.monotonic() + self.time_left
        self.con = connect(query, engine, root, progress=progress is not None,
                           deadline=self.deadline)
        _RUNNING.add(self)
        self._timer = threading.Timer(self.time_left, self._interrupt)
        self._timer.daemon = True
        self._progress_thread: threading.Thread | None = None
        if progress is not None:
            self._progress_thread = threading.Thread(
                target=self._poll_progress, args=(progress,), daemon=True)

    def _interrupt(self) -> None:
        self._timed_out.set()
        with contextlib.suppress(duckdb.Error):
            self.con.interrupt()

    def _poll_progress(self, callback: ProgressCallback) -> None:
        while not self._done.wait(0.2):
            with contextlib.suppress(duckdb.Error):
                value = self.con.query_progress()
                if value >= 0:
                    callback(float(value))

    def reader(self, rows_per_batch: int = 100_000) -> pa.RecordBatchReader:
        """Start the query; its result as a stream of Arrow batches, errors sanitized.

        The connection closes when the stream is exhausted, fails or is closed.
        """
        self._timer.start()
        if self._progress_thread is not None:
            self._progress_thread.start()
        try:
            params = self.query.params or None
            relation = _exportable(self.con.sql(self.query.governed_sql, params=params))
            raw = relation.to_arrow_reader(rows_per_batch)
        except duckdb.Error as exc:
            error: BaseException = self._sanitized(exc)
            self.close()
            self._report(None, error)
            raise error from None
        except BaseException as exc:
            self.close()
            # SIGTERM's handler ran inside DuckDB, which swallowed its exit: interrupted.
            error = self._sanitized(exc) if TERMINATING.is_set() and \
                isinstance(exc, RuntimeError) else _ctrl_c(exc)
            self._report(None, error)
            if error is exc:
                raise
            raise error from None
        stream = self._stream(raw)
        _UNFINISHED.add(stream)
        # A stream closed or dropped before its first batch never runs its ``finally``;
        # this closes the connection when the stream goes away, whatever happened.
        weakref.finalize(stream, self.close)
        return pa.RecordBatchReader.from_batches(raw.schema, stream)

    def _stream(self, raw: pa.RecordBatchReader) -> Generator[pa.RecordBatch, None, None]:
        error: BaseException | None = None
        try:
            for batch in raw:
                self._rows += batch.num_rows
                yield batch
        except (duckdb.Error, pa.ArrowException) as exc:
            error = self._sanitized(exc)
            raise error from None
        except GeneratorExit:
            # Closed before its end: the caller stopped reading (`| head`, a break), or the
            # process is stopping (SIGTERM).
            error = QueryInterrupted("the query was interrupted (the process was asked to "
                                     "stop)") if TERMINATING.is_set() else \
                QueryFailed("the result was not read to the end: its reader stopped")
            raise
        except BaseException as exc:
            error = QueryInterrupted("the query was interrupted (the process was asked to "
                                     "stop)") if TERMINATING.is_set() else _ctrl_c(exc)
            if error is exc or TERMINATING.is_set():
                raise
            raise error from None
        finally:
            self.close()
            self._report(self._rows, error)

    def _report(self, rows: int | None, error: BaseException | None) -> None:
        if self._on_done is not None and not self._reported:
            self._reported = True
            self._on_done(rows, error)

    def _sanitized(self, exc: BaseException) -> Exception:
        if TERMINATING.is_set() and not self._timed_out.is_set():
            return QueryInterrupted("the query was interrupted (the process was asked to "
                                    "stop)")
        if self._timed_out.is_set():
            exc = duckdb.InterruptException("interrupted")
        return sanitize(exc, self.query, self.timeout)

    def close(self) -> None:
        """Stop the timer and progress poller and close the connection (idempotent)."""
        self._done.set()
        self._timer.cancel()
        self.con.close()

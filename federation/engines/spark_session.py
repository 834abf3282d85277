"""The Spark application a process shares, and a session of its own for each query.

One SparkContext per process (starting one costs 5-16 s, shared/FACTS.md), or a Spark
Connect client when ``engine.spark.remote`` is set; each query gets a new session
(``newSession()``: the shared context, its own temporary views and SQL settings).

What every session is given, whatever the cluster's defaults:

- ANSI mode (overflow is an error, as in DuckDB), the mesh's one time zone, Parquet
  columns read by field id (Iceberg), no SQL on file paths (``parquet.`/path```);
- ``spark.sql.redaction.string.regex`` that redacts long binary literals: the mask key's
  pads are bound as parameters, and Spark prints bound values in plans (EXPLAIN, the
  UI's SQL tab) unless redacted.

A SparkContext started here binds its driver to 127.0.0.1 in local mode, shows no UI
unless configured, and writes the JVM's output (log4j, warnings) to a private log file,
never to the caller's terminal: Spark's messages quote SQL and values.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import tempfile
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from federation.errors import ConfigError, UsageError
from products.config import SparkSettings
from products.sizes import parse_size

REDACT_BINARY = r"(?i)(0x|X')[0-9a-f]{64,}"
"""Binary literals of 32 bytes and more: the mask key's pads (64 bytes) among them."""

_LOCK = threading.Lock()
_STATE: dict[str, Any] = {}


def _quiet() -> None:
    """Keep pyspark's own messages off the caller's terminal: its loggers of query errors
    print the failing SQL and the offending value (data), and it warns on every Arrow
    conversion that it does not yet support pandas 3."""
    from pyspark.logger.logger import PySparkLogger

    for name in ("SQLQueryContextLogger", "DataFrameQueryContextLogger"):
        PySparkLogger.getLogger(name).disabled = True
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas",
                            category=FutureWarning)


def require_pyspark() -> None:
    """UsageError with the install hint unless pyspark can be imported."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        raise UsageError("the spark engine needs pyspark",
                         hint="pip install 'duckmesh[spark]' (and Java 17)") from None


def session_conf(timezone: str) -> dict[str, str]:
    """The SQL settings every query's session gets (see the module docstring)."""
    return {
        "spark.sql.ansi.enabled": "true",
        "spark.sql.session.timeZone": timezone,
        "spark.sql.parquet.fieldId.read.enabled": "true",
        "spark.sql.runSQLOnFiles": "false",
        # ${env:…}, ${system:…} and ${conf} in SQL text are read as variables, inside
        # strings too: a caller's '${env:SECRET}' would return the service's environment
        # (the generated text is also refused with '${', engines/spark_sql.py).
        "spark.sql.variable.substitute": "false",
        "spark.sql.redaction.string.regex": REDACT_BINARY,
        "spark.sql.execution.arrow.pyspark.enabled": "true",
    }


def _context_conf(settings: SparkSettings, private: Path) -> dict[str, str]:
    local = settings.master.startswith("local")
    conf = {
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.driver.maxResultSize": str(parse_size(settings.max_result_bytes,
                                                     "engine.spark.max_result_bytes")),
        "spark.local.dir": str(private / "local"),
        "spark.sql.redaction.string.regex": REDACT_BINARY,
        "spark.sql.ansi.enabled": "true",
    }
    if local:
        conf["spark.driver.bindAddress"] = "127.0.0.1"
        conf["spark.driver.host"] = "127.0.0.1"
    conf.update(settings.conf)
    return conf


def root_session(settings: SparkSettings) -> Any:
    """The process's Spark session for ``settings`` (started on first use).

    A process runs one Spark application: asking for another master or server than the
    one running is a ConfigError.
    """
    require_pyspark()
    _quiet()
    key = settings.remote or settings.master
    with _LOCK:
        running = _STATE.get("key")
        if running is not None:
            if running != key:
                raise ConfigError(f"this process already runs Spark on {running!r}, not "
                                  f"{key!r}", field="engine.spark")
            return _STATE["session"]
        session = _connect(settings) if settings.remote else _start(settings)
        _STATE.update(key=key, session=session)
        return session


def _start(settings: SparkSettings) -> Any:
    from pyspark import SparkConf, SparkContext
    from pyspark.java_gateway import launch_gateway
    from pyspark.sql import SparkSession

    private = Path(tempfile.mkdtemp(prefix="duckmesh-spark-"))
    atexit.register(shutil.rmtree, private, ignore_errors=True)
    conf = SparkConf().setMaster(settings.master).setAppName(settings.app_name)
    for name, value in _context_conf(settings, private).items():
        conf.set(name, value)
    log = (private / "spark.log").open("ab")
    env_before = os.environ.pop("PYSPARK_GATEWAY_PORT", None)
    try:
        gateway = launch_gateway(conf, popen_kwargs={"stdout": log, "stderr": log})
        context = SparkContext(conf=conf, gateway=gateway)
    except Exception as exc:  # noqa: BLE001 - Java missing, bad master: one clear line
        raise ConfigError(f"could not start Spark on {settings.master!r} "
                          f"({type(exc).__name__})", field="engine.spark.master",
                          hint=f"Java 17 must be installed; see {private / 'spark.log'}"
                          ) from None
    finally:
        log.close()  # the JVM holds its own descriptor of the log
        if env_before is not None:
            os.environ["PYSPARK_GATEWAY_PORT"] = env_before
    context.setLogLevel("ERROR")
    return SparkSession(context)


def _connect(settings: SparkSettings) -> Any:
    from pyspark.sql import SparkSession

    assert settings.remote is not None
    try:
        return SparkSession.builder.remote(settings.remote).create()
    except Exception as exc:  # noqa: BLE001 - a missing extra, a bad URL: one clear line
        raise ConfigError(f"could not reach the Spark Connect server ({type(exc).__name__})",
                          field="engine.spark.remote",
                          hint="pip install 'duckmesh[spark]'; check the sc:// address"
                          ) from None


def query_session(settings: SparkSettings, timezone: str) -> Any:
    """A new session for one query: the shared application, views and settings its own."""
    root = root_session(settings)
    if settings.remote is not None:
        from pyspark.sql import SparkSession

        session = SparkSession.builder.remote(settings.remote).create()
    else:
        session = root.newSession()
    for name, value in session_conf(timezone).items():
        session.conf.set(name, value)
    return session


def release(session: Any, views: list[str], settings: SparkSettings) -> None:
    """Drop a query's views; a Spark Connect session is closed on the server too."""
    for view in views:
        with contextlib.suppress(Exception):
            session.catalog.dropTempView(view)
    if settings.remote:
        with contextlib.suppress(Exception):
            session.stop()


def stop() -> None:
    """Stop the process's Spark application (tests; the JVM also ends with the process)."""
    with _LOCK:
        session = _STATE.pop("session", None)
        _STATE.pop("key", None)
    if session is not None:
        with contextlib.suppress(Exception):
            session.stop()


def arrow_batches(frame: Any, rows_per_batch: int) -> Iterator[Any]:
    """The result of ``frame`` as Arrow record batches, one partition at a time.

    ``toArrow()`` holds the whole result in Python (and ``collect`` on the driver); here
    the driver computes one partition of the result (and prefetches the next) and Python
    holds one batch of at most ``rows_per_batch`` rows, in the result's order.  Classic
    Spark: the DataFrame's Arrow batches (the same conversion ``toArrow`` uses) served by
    a local iterator; Spark Connect: the server's stream of Arrow batches.
    """
    import pyarrow as pa

    session = frame.sparkSession
    session.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(rows_per_batch))
    if hasattr(frame, "_jdf"):
        from pyspark.serializers import NoOpSerializer
        from pyspark.sql.pandas.types import to_arrow_schema
        from pyspark.util import _local_iterator_from_socket

        large = session.conf.get("spark.sql.execution.arrow.useLargeVarTypes") == "true"
        schema = to_arrow_schema(frame.schema, error_on_duplicated_field_names_in_struct=True,
                                 timezone="UTC", prefers_large_types=large)
        jvm = session.sparkContext._jvm
        served = jvm.PythonRDD.toLocalIteratorAndServe(frame._jdf.toArrowBatchRdd(), True)
        for message in _local_iterator_from_socket(served, NoOpSerializer()):
            yield pa.ipc.read_record_batch(pa.py_buffer(message), schema)
        return
    client = frame._session.client
    plan = frame._plan
    for item in client.to_table_as_iterator(plan.to_proto(client), plan.observations):
        if isinstance(item, pa.Table):
            yield from item.to_batches(rows_per_batch)

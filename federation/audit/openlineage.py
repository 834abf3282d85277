"""OpenLineage run events for governed queries, through the openlineage-python client.

Configured in duckmesh.yaml (off when absent)::

    lineage:
      openlineage:
        transport: {type: file, log_file_path: .duckmesh/openlineage.jsonl}
        # transport: {type: http, url: http://marquez:5000, endpoint: api/v1/lineage}
        namespace: duckmesh://travel-agency    # default: duckmesh://<mesh name>
        include_sql: false                     # the SQL can quote literals; off by default

Each query that runs emits START, then COMPLETE or FAIL, with the products read as input
datasets (schema facet: the columns read) and the result as an output dataset carrying
the column-lineage facet.  The job is the query's purpose (``report:NAME``, ``notebook``,
or ``adhoc/<user>``).  Queries refused before running (denied, rejected) are in the audit
log only.  Emission never fails or slows a query: events are sent from a worker thread,
a process waits at most 5 s at exit for unsent ones, and an error building or sending an
event is logged and the event dropped.
"""

from __future__ import annotations

import atexit
import dataclasses
import datetime as dt
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from federation.audit.lineage import lineage
from federation.errors import ConfigError, DuckmeshError
from federation.pipeline.query import GovernedQuery
from products.config import OpenLineageSettings

log = logging.getLogger("duckmesh.openlineage")
FLUSH_AT_EXIT_SECONDS = 5.0
"""How long a finishing process waits for unsent events (the CLI exits right after a query)."""


# One queue and one sender thread per process, whatever the number of meshes opened.
_QUEUE: queue.Queue[tuple[Any, Callable[[], Any]]] = queue.Queue()
_SENDER: list[threading.Thread] = []
_SENDER_LOCK = threading.Lock()


def _send_loop() -> None:
    while True:
        client, build = _QUEUE.get()
        try:
            client.emit(build())
        except Exception as exc:  # noqa: BLE001 - lineage must never fail a query
            log.warning("OpenLineage event not sent: %s", type(exc).__name__)
        finally:
            _QUEUE.task_done()


def _enqueue(client: Any, build: Callable[[], Any]) -> None:
    with _SENDER_LOCK:
        if not _SENDER:
            sender = threading.Thread(target=_send_loop, daemon=True,
                                      name="duckmesh-openlineage")
            sender.start()
            _SENDER.append(sender)
    _QUEUE.put((client, build))


def flush(timeout: float = 10.0) -> bool:
    """Wait up to ``timeout`` seconds for queued events to be sent; True if all were."""
    deadline = time.monotonic() + timeout
    while _QUEUE.unfinished_tasks:
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)
    return True


atexit.register(flush, FLUSH_AT_EXIT_SECONDS)


class LineageEmitter:
    """Emits the OpenLineage events of one mesh's queries."""

    def __init__(self, settings: OpenLineageSettings, root: Path, mesh_name: str) -> None:
        try:
            from openlineage.client import OpenLineageClient
        except ImportError:
            raise ConfigError("lineage.openlineage needs the openlineage-python package",
                              file=str(root / "duckmesh.yaml"), field="lineage.openlineage",
                              hint="pip install 'duckmesh[openlineage]'") from None
        transport = dict(settings.transport)
        path = transport.get("log_file_path")
        if transport.get("type") == "file" and isinstance(path, str) \
                and not Path(path).is_absolute():
            transport["log_file_path"] = str(root / path)
            (root / path).parent.mkdir(parents=True, exist_ok=True)
        if transport.get("type") == "file":
            transport.setdefault("append", True)  # one JSON event per line, never rewritten
        try:
            self.client = OpenLineageClient(config={"transport": transport})
        except Exception as exc:  # noqa: BLE001 - the client raises many kinds on bad config
            raise ConfigError(f"bad OpenLineage transport: {type(exc).__name__}",
                              file=str(root / "duckmesh.yaml"),
                              field="lineage.openlineage.transport") from None
        self.namespace = settings.namespace or f"duckmesh://{mesh_name}"
        self.include_sql = settings.include_sql

    def start(self, query: GovernedQuery, *, user: str, purpose: str | None) -> str:
        """Emit START for a query about to run; returns its run id."""
        run_id = str(uuid.uuid4())
        self._emit("START", run_id, query, user=user, purpose=purpose)
        return run_id

    def finish(self, run_id: str, query: GovernedQuery, *, user: str, purpose: str | None,
               rows: int | None, error: BaseException | None) -> None:
        """Emit COMPLETE (with column lineage) or FAIL for the run."""
        self._emit("FAIL" if error is not None else "COMPLETE", run_id, query, user=user,
                   purpose=purpose, rows=rows, error=error)

    def _emit(self, state: str, run_id: str, query: GovernedQuery, **info: Any) -> None:
        # Built and sent by the worker thread: column lineage (sqlglot) costs milliseconds
        # and a slow or unreachable endpoint retries with backoff; neither may hold up the
        # query.  The event keeps the time it happened.
        at = dt.datetime.now(dt.UTC)
        if state == "COMPLETE" and query.qualified is not None:
            # sqlglot's lineage qualifies the tree it is given in place; the worker gets a
            # copy (taken here, cheaply) so it never races the caller's Result.lineage().
            query = dataclasses.replace(query, qualified=query.qualified.copy())
        _enqueue(self.client, partial(self.event, state, run_id, query, at=at, **info))

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait up to ``timeout`` seconds for queued events to be sent; True if all were."""
        return flush(timeout)

    def event(self, state: str, run_id: str, query: GovernedQuery, *, user: str,
              purpose: str | None, rows: int | None = None,
              error: BaseException | None = None, at: dt.datetime | None = None) -> Any:
        """The RunEvent, built from the client's own model."""
        from openlineage.client.event_v2 import (
            InputDataset,
            Job,
            OutputDataset,
            Run,
            RunEvent,
            RunState,
        )
        from openlineage.client.facet_v2 import (
            column_lineage_dataset,
            datasource_dataset,
            error_message_run,
            schema_dataset,
            sql_job,
        )

        job_name = purpose or f"adhoc/{user}"
        inputs = []
        for fqn in query.products:
            product = query.access[fqn].product
            read = {c.lower() for c in query.columns_read.get(fqn, ())}
            fields = [schema_dataset.SchemaDatasetFacetFields(name=c.name, type=c.type,
                                                              description=c.description)
                      for c in product.columns if c.name.lower() in read]
            facets: dict[str, Any] = {
                "schema": schema_dataset.SchemaDatasetFacet(fields=fields),
                "dataSource": datasource_dataset.DatasourceDatasetFacet(
                    name=fqn, uri=product.server.location)}
            inputs.append(InputDataset(namespace=self.namespace, name=fqn, facets=facets))
        outputs = []
        if state == "COMPLETE":
            columns = {
                c.output: column_lineage_dataset.Fields(
                    inputFields=[column_lineage_dataset.InputField(
                        namespace=self.namespace, name=s.product, field=s.column)
                        for s in c.sources],
                    transformationDescription=c.transformation,
                    transformationType="IDENTITY" if len(c.sources) == 1 and
                    c.transformation == c.sources[0].column else "TRANSFORMED")
                for c in lineage(query)}
            outputs.append(OutputDataset(
                namespace=self.namespace, name=f"{job_name}/result",
                facets={"columnLineage": column_lineage_dataset.ColumnLineageDatasetFacet(
                    fields=columns)}))
        run_facets: dict[str, Any] = {}
        if error is not None:
            # Our own errors are written to be shown; anything else may quote data.
            text = str(error) if isinstance(error, DuckmeshError) else "see the audit log"
            run_facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
                message=f"{type(error).__name__}: {text}"[:1000],
                programmingLanguage="python")
        job_facets: dict[str, Any] = {}
        if self.include_sql:
            job_facets["sql"] = sql_job.SQLJobFacet(query=query.sql, dialect="duckdb")
        return RunEvent(
            eventType=getattr(RunState, state),
            eventTime=(at or dt.datetime.now(dt.UTC)).isoformat(),
            run=Run(runId=run_id, facets=run_facets),
            job=Job(namespace=self.namespace, name=job_name, facets=job_facets),
            inputs=inputs, outputs=outputs,
            producer="https://github.com/duckmesh/duckmesh")

"""The Python API: open a mesh, run governed SQL.

>>> from federation import Mesh                                       # doctest: +SKIP
>>> mesh = Mesh.open("demo-mesh")                                     # doctest: +SKIP
>>> mesh.sql("SELECT email FROM customers.profiles", user="ana").df() # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
import getpass
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from connectors.tailcache import RANGES
from federation.audit.log import AuditLog, outcome_of
from federation.audit.log import record as audit_record
from federation.audit.meta import FQN as META_AUDIT
from federation.audit.meta import with_meta
from federation.engines.choose import choose
from federation.engines.duckdb import Execution, ProgressCallback
from federation.errors import ConfigError, DuckmeshError, StorageError, UsageError
from federation.governance.derived import source_columns, tighten
from federation.governance.model import Governance, Principal
from federation.governance.policies import suggest
from federation.pipeline import DECIDE, GUARDS, PLAN, STEPS, run
from federation.pipeline.limits import Limits, gc_paused
from federation.pipeline.params import Params, bind
from federation.pipeline.query import Context, GovernedQuery
from federation.result import Result
from products.catalog import Catalog
from products.config import MESH_FILE, MeshSettings, find_mesh_root, load_settings, mask_secret
from products.discovery import Match, describe, search

if TYPE_CHECKING:
    import pyarrow as pa

    from federation.audit.openlineage import LineageEmitter


def default_user() -> str:
    """``$DUCKMESH_USER``, else the operating-system user."""
    return os.environ.get("DUCKMESH_USER") or getpass.getuser()


@dataclass(frozen=True)
class Mesh:
    """A loaded mesh folder: settings, catalog of products, governance."""

    root: Path
    settings: MeshSettings
    catalog: Catalog
    governance: Governance
    audit: AuditLog
    lineage_events: LineageEmitter | None = None
    """OpenLineage emission, when duckmesh.yaml configures it."""

    @staticmethod
    def locate(path: str | os.PathLike[str] | None = None) -> Path:
        """The mesh folder: ``path``, else ``$DUCKMESH_MESH``, else the nearest folder
        upwards holding ``duckmesh.yaml``."""
        if path is None:
            env = os.environ.get("DUCKMESH_MESH")
            found = Path(env) if env else find_mesh_root()
            if found is None:
                raise ConfigError(f"no {MESH_FILE} found here or in any parent folder",
                                  hint="pass --mesh PATH or set DUCKMESH_MESH")
            path = found
        root = Path(path).resolve()
        if not (root / MESH_FILE).is_file():
            raise ConfigError(f"not a mesh folder (no {MESH_FILE})", file=str(root))
        return root

    @classmethod
    def open(cls, path: str | os.PathLike[str] | None = None) -> Mesh:
        """Load the mesh at :meth:`locate` ``(path)``: settings, catalog, governance."""
        root = cls.locate(path)
        settings = load_settings(root)
        RANGES.resize(settings.storage.cache_bytes)
        events = None
        if settings.lineage.openlineage is not None:
            # Imported only here: with sqlglot's lineage, ~3 ms of every start-up.
            from federation.audit.openlineage import LineageEmitter

            events = LineageEmitter(settings.lineage.openlineage, root, settings.name)
        audit = AuditLog.for_mesh(root, settings.audit, settings.storage)
        governance = Governance.load(root)
        # Derived products' labels follow their sources' current labels (never lower).
        catalog = tighten(Catalog.load(root, settings), governance.policies)
        catalog, governance = with_meta(root, catalog, governance, audit)
        # Grants at a derived product's sources follow its columns (access.evaluate).
        governance = replace(governance, derived_sources=source_columns(catalog))
        return cls(root, settings, catalog, governance, audit, events)

    def context(self, user: str | Principal | None = None, as_of: str | None = None,
                purpose: str | None = None) -> Context:
        """The pipeline context for ``user`` (default: :func:`default_user`); a
        :class:`Principal` is taken as it is (duckmesh's own identities, e.g. checks)."""
        principal = user if isinstance(user, Principal) else \
            self.governance.principal(user or default_user())
        return Context(self.root, self.catalog, self.governance, principal,
                       mask_key=mask_secret(self.root, self.settings),
                       storage=self.settings.storage, as_of=as_of, purpose=purpose,
                       limits=Limits.of(self.settings.engine))

    def check_purpose(self, purpose: str | None) -> None:
        """UsageError unless ``purpose`` is None or declared in policies.yaml."""
        declared = self.governance.policies.purpose_names
        if purpose is None or purpose in declared:
            return
        raise UsageError(f"unknown purpose {purpose!r}" + suggest(purpose, declared),
                         hint="declared purposes: " + (", ".join(declared) or "none (see "
                                                       "governance/policies.yaml purposes)"))

    def govern(self, sql: str, user: str | Principal | None = None, *,
               as_of: str | None = None, purpose: str | None = None,
               params: Params | None = None) -> GovernedQuery:
        """Plan ``sql`` for ``user``: rejected, denied, or the governed query."""
        self.check_purpose(purpose)
        return run(bind(sql, params), self.context(user, as_of, purpose), STEPS)

    def sql(self, sql: str, user: str | Principal | None = None, *,
            progress: ProgressCallback | None = None, as_of: str | None = None,
            purpose: str | None = None, label: str | None = None,
            params: Params | None = None,
            on_start: Callable[[Execution], None] | None = None,
            engine: str | None = None) -> Result:
        """Govern ``sql`` for ``user`` and check the contracts of what it reads, now; run it
        when the result is first read.

        ``purpose`` must be declared in policies.yaml: rules may release data only for
        some purposes.  The audit records it, else ``label`` (``report:NAME``,
        ``notebook``: what ran the query, which grants nothing).

        ``params`` are bound into ``sql`` (:func:`federation.pipeline.params.bind`);
        ``on_start`` receives the execution as it starts (a server interrupts it with it).

        ``engine``: ``duckdb``, ``spark`` or ``auto`` (default: ``engine.default`` of
        duckmesh.yaml); the same governed query, the same answer (docs/spark.md).

        The stages (:mod:`federation.pipeline`): decide what the caller may read, refresh
        ``meta.audit`` if the query reads it, plan and seal, guard; every outcome audited.
        """
        ctx = self.context(user, as_of, purpose)
        started = dt.datetime.now(dt.UTC)
        planned: GovernedQuery | None = None
        purpose = purpose or label
        try:
            self.check_purpose(ctx.purpose)
            self.audit.ensure_seed()  # meta.audit is plannable before the first record
            # One pause of the garbage collector for the whole planning: turned on between
            # stages, it would walk every node made so far (0.3 s at 100,000) each time.
            with gc_paused():
                decided = run(bind(sql, params), ctx, DECIDE)
                notes = self._refresh_meta(decided)
                planned = run(decided, ctx, PLAN)
                for guard in GUARDS:  # one at a time: a refusal is audited with the estimate
                    planned = guard(planned, ctx)
            chosen = choose(engine, self.settings.engine, planned.scan_bytes)
        except DuckmeshError as exc:
            # Refused before running: denied, rejected or broken input — audited all the same.
            self.audit.write(audit_record(planned, sql=sql, user=ctx.principal.name,
                                          roles=ctx.principal.roles, started=started,
                                          outcome=outcome_of(exc), error=exc,
                                          scanned=planned.scan_bytes if planned else 0,
                                          purpose=purpose))
            raise
        return self._result(planned, ctx, started, notes, progress, purpose, on_start,
                            chosen)

    def _refresh_meta(self, query: GovernedQuery) -> list[str]:
        """meta.audit shows every record up to now: a reader it is granted to (the grant is
        decided) compacts the records written since the last compaction before its scan is
        planned.  What could not be done comes back as warnings."""
        if META_AUDIT not in query.access:
            return []
        try:
            self.audit.compact()
        except (UsageError, StorageError) as exc:
            return [f"{META_AUDIT}: records since the last compaction are not shown ({exc})"]
        return []

    def _result(self, query: GovernedQuery, ctx: Context, started: dt.datetime,
                notes: list[str], progress: ProgressCallback | None,
                purpose: str | None,
                on_start: Callable[[Execution], None] | None = None,
                engine: str = "duckdb") -> Result:
        """The lazy result of a guarded query: it runs, and is audited, when first read."""
        who, roles = ctx.principal.name, ctx.principal.roles
        events = self.lineage_events
        run_ids: list[str] = []

        def done(rows: int | None, error: BaseException | None) -> None:
            outcome = "ok" if error is None else outcome_of(error)
            record = audit_record(query, sql=query.sql, user=who, roles=roles,
                                  started=started, outcome=outcome, rows=rows, error=error,
                                  scanned=query.scan_bytes, purpose=purpose)
            # Only a non-default engine is recorded: meta.audit's compacted columns do not
            # hold it yet (a record must read the same before and after compaction).
            self.audit.write({**record, "engine": engine} if engine != "duckdb" else record)
            if events is not None and run_ids:
                events.finish(run_ids[-1], query, user=who, purpose=purpose, rows=rows,
                              error=error)

        # The time limit covers the whole query: execution gets what planning left of it.
        time_left = ctx.limits.remaining()

        def opener() -> pa.RecordBatchReader:
            # Recorded as it starts, before it delivers a row; `done` completes the record.
            # A process killed meanwhile leaves it `running`: shown as interrupted.
            self.audit.start(audit_record(
                query, sql=query.sql, user=who, roles=roles, started=started,
                outcome="running", scanned=query.scan_bytes, purpose=purpose,
                time_limit=self.settings.engine.timeout_seconds))
            if events is not None:
                run_ids.append(events.start(query, user=who, purpose=purpose))
            if engine == "spark":
                # Imported here: pyspark stays off the import path of every other query.
                from federation.engines.spark import SparkExecution

                spark = SparkExecution(query, self.settings.engine, self.root, progress,
                                       done, time_left=time_left)
                if on_start is not None:
                    on_start(spark)  # type: ignore[arg-type]  # same interrupt() via .con
                return spark.reader()
            execution = Execution(query, self.settings.engine, self.root, progress, done,
                                  time_left=time_left)
            if on_start is not None:
                on_start(execution)
            return execution.reader()

        return Result(query, opener, stamp=query.stamp or {},
                      warnings=notes + list(query.warnings))

    def search(self, text: str) -> list[Match]:
        """Products whose names, descriptions, tags or columns match ``text``, best first."""
        return search(self.catalog, text)

    def describe(self, product: str) -> dict[str, Any]:
        """A product's contract facts plus live facts from storage (rows, size, freshness)."""
        return describe(self.catalog.get(product), self.root, self.settings.storage)

    def explain(self, sql: str, user: str | None = None) -> str:
        """The governed SQL and every policy decision for ``user``."""
        return self.sql(sql, user).explain()

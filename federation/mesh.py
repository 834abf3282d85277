"""The Python API: open a mesh, run governed SQL.

>>> from federation import Mesh                                       # doctest: +SKIP
>>> mesh = Mesh.open("demo-mesh")                                     # doctest: +SKIP
>>> mesh.sql("SELECT email FROM customers.profiles", user="ana").df() # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
import getpass
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from connectors.errors import ConfigError, DuckmeshError, StorageError, UsageError
from connectors.tailcache import RANGES
from federation.audit import AuditLog, outcome_of
from federation.audit import record as audit_record
from federation.budget import check_budget, estimate_bytes
from federation.enforce import enforce_contracts
from federation.execute import Execution, ProgressCallback
from federation.governance import Governance
from federation.meta import FQN as META_AUDIT
from federation.meta import with_meta
from federation.openlineage import LineageEmitter
from federation.pipeline import govern
from federation.plan import Context, GovernedQuery
from federation.result import Result
from federation.stamp import build_stamp
from products.catalog import Catalog
from products.config import MESH_FILE, MeshSettings, find_mesh_root, load_settings, mask_secret
from products.discovery import Match, describe, search


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
            events = LineageEmitter(settings.lineage.openlineage, root, settings.name)
        audit = AuditLog.for_mesh(root, settings.audit, settings.storage)
        catalog, governance = with_meta(root, Catalog.load(root), Governance.load(root), audit)
        return cls(root, settings, catalog, governance, audit, events)

    def context(self, user: str | None = None, as_of: str | None = None) -> Context:
        """The pipeline context for ``user`` (default: :func:`default_user`)."""
        principal = self.governance.principal(user or default_user())
        return Context(self.root, self.catalog, self.governance, principal,
                       mask_key=mask_secret(self.root, self.settings),
                       storage=self.settings.storage, as_of=as_of)

    def govern(self, sql: str, user: str | None = None, *,
               as_of: str | None = None) -> GovernedQuery:
        """Plan ``sql`` for ``user``: rejected, denied, or the governed query."""
        return govern(sql, self.context(user, as_of))

    def sql(self, sql: str, user: str | None = None, *,
            progress: ProgressCallback | None = None, as_of: str | None = None,
            purpose: str | None = None) -> Result:
        """Govern ``sql`` for ``user`` and check the contracts of what it reads, now; run it
        when the result is first read.  ``purpose`` is recorded in the audit log."""
        ctx = self.context(user, as_of)
        who, roles = ctx.principal.name, ctx.principal.roles
        started = dt.datetime.now(dt.UTC)
        planned: GovernedQuery | None = None
        estimate = 0
        try:
            self.audit.ensure_seed()  # meta.audit is plannable before the first record
            planned = govern(sql, ctx)
            notes: list[str] = []
            if META_AUDIT in planned.scans:
                # meta.audit shows every record up to now: a reader it is granted to
                # compacts the records written since the last compaction, then re-plans
                # to list the new file.
                notes = self._compact_audit()
                planned = govern(sql, ctx)
            warnings = notes + enforce_contracts(planned)
            estimate = estimate_bytes(planned)
            check_budget(estimate, self.governance, ctx.principal)
            stamp = build_stamp(planned, who)
        except DuckmeshError as exc:
            # Refused before running: denied, rejected or broken input — audited all the same.
            self.audit.write(audit_record(planned, sql=sql, user=who, roles=roles,
                                          started=started, outcome=outcome_of(exc), error=exc,
                                          scanned=estimate, purpose=purpose))
            raise
        query = planned
        events = self.lineage_events
        run: list[str] = []

        def done(rows: int | None, error: BaseException | None) -> None:
            outcome = "ok" if error is None else outcome_of(error)
            self.audit.write(audit_record(query, sql=sql, user=who, roles=roles,
                                          started=started, outcome=outcome, rows=rows,
                                          error=error, scanned=estimate, purpose=purpose))
            if events is not None and run:
                events.finish(run[-1], query, user=who, purpose=purpose, rows=rows,
                              error=error)

        def opener() -> pa.RecordBatchReader:
            if events is not None:
                run.append(events.start(query, user=who, purpose=purpose))
            return Execution(query, self.settings.engine, self.root, progress, done).reader()

        return Result(query, opener, stamp=stamp, warnings=warnings)

    def _compact_audit(self) -> list[str]:
        """Compact the audit log for a meta.audit query; what it could not do, as warnings."""
        try:
            self.audit.compact()
        except (UsageError, StorageError) as exc:
            return [f"{META_AUDIT}: records since the last compaction are not shown ({exc})"]
        return []

    def search(self, text: str) -> list[Match]:
        """Products whose names, descriptions, tags or columns match ``text``, best first."""
        return search(self.catalog, text)

    def describe(self, product: str) -> dict[str, Any]:
        """A product's contract facts plus live facts from storage (rows, size, freshness)."""
        return describe(self.catalog.get(product), self.root, self.settings.storage)

    def explain(self, sql: str, user: str | None = None) -> str:
        """The governed SQL and every policy decision for ``user``."""
        return self.sql(sql, user).explain()

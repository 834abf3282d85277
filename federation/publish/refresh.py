"""``products refresh`` and ``products due``: a derived product's next version.

A refresh re-runs the product's recorded SQL as its publisher (who must still own the
domain), after checking that every upstream column it is computed from still exists with
the type recorded at publication — a breaking upstream change stops it, naming the
upstream column.  The result must keep the contract's schema: a refresh never changes
what the contract promises.  ``due`` runs each scheduled product once per schedule slot
(like ``reports due``): under a lock, skipping slots already done, retrying a failed
slot on the next call, one product's failure never stopping the others.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from connectors.scan import plan_scan
from federation.errors import ContractError, DuckmeshError
from federation.governance.derived import sensitivity
from federation.mesh import Mesh
from federation.pipeline.lifecycle import STATUSES, status_of
from federation.publish import derive, iceberg_store, store
from federation.publish.lifecycle import edit_contract
from federation.publish.publisher import (
    Publication,
    _history,
    _lineage,
    _record,
    check_owner,
    check_upstream,
    classify,
    data_folder,
    derived_spec,
)
from federation.reports.schedule import latest_slot, slots_between
from products.contract import Product


@dataclass(frozen=True)
class Scheduled:
    """A derived product's schedule (the shape :mod:`federation.reports.schedule` takes)."""

    schedule: str
    timezone: str = "UTC"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True)
class RefreshOutcome:
    """What happened to one product for one slot."""

    product: str
    slot: dt.datetime
    outcome: str
    """``ok``, ``skipped`` or ``failed``."""
    publication: Publication | None = None
    error: DuckmeshError | None = None
    note: str | None = None

    def line(self) -> str:
        """One line for the terminal."""
        head = f"{self.product} {self.slot.isoformat()}: {self.outcome}"
        if self.publication is not None:
            return f"{head}, version {self.publication.version}, {self.publication.rows:,} rows"
        if self.error is not None:
            return f"{head}: {self.error}"
        return f"{head} ({self.note})" if self.note else head


def refresh(mesh: Mesh, fqn: str, *, user: str | None = None,
            slot: dt.datetime | None = None) -> Publication:
    """Publish the next version of derived product ``fqn`` (as ``user``, default: its
    publisher)."""
    product = mesh.catalog.get(fqn)
    derived = derived_spec(product)
    runner = user or str(derived.get("publishedBy") or "")
    check_owner(mesh, product.domain, runner)
    check_upstream(mesh, product)
    _sync_labels(product)
    result = mesh.sql(derived["sql"], user=runner, label=f"refresh:{product.fqn}")
    query = result.query
    upstream = derive.upstream_versions(query.access[p].product for p in query.products)
    record = _record(product.fqn, runner, upstream, result.stamp)
    _same_schema(product, result.arrow().schema.names)
    _same_labels(mesh, product, result)
    when = (slot or dt.datetime.now(dt.UTC)).isoformat()
    if product.server.type == "iceberg":
        server = dict(product.server.options)
        snapshot, rows = iceberg_store.publish_snapshot(mesh, product.fqn, server,
                                                        result.arrow(), first=False)
        _history(mesh.root, product.fqn).record({**record, "outcome": "ok", "rows": rows,
                                                 "version": snapshot, "slot": when})
        return Publication(product.fqn, snapshot, rows,
                           f"{server.get('namespace')}.{product.name} snapshot {snapshot}",
                           product.contract_path, upstream)
    location_text, folder = data_folder(mesh, product.domain, product.name)
    staged = store.stage(folder, result.reader(), record)
    try:
        _check_written(mesh, product, str(staged.path))
    except BaseException:
        store.abandon(staged)
        raise
    store.commit(staged)
    version, rows = staged.version, staged.rows
    entry: dict[str, Any] = {**record, "outcome": "ok", "version": version, "rows": rows,
                             "slot": when}
    _history(mesh.root, product.fqn).record(entry)
    return Publication(product.fqn, version, rows, f"{location_text}/v{version:06d}",
                       product.contract_path, upstream)


def _sync_labels(product: Product) -> None:
    """Write into the contract the labels its sources now give its columns (the mesh
    already governs by them, see federation.governance.derived): the file tells the
    truth before a new version is published under it."""
    labels = {c.name: c.classification for c in product.columns}

    def change(data: Any) -> None:
        for prop in data["schema"][0]["properties"]:
            label = labels.get(str(prop.get("name")))
            if label is not None and prop.get("classification") != label:
                prop["classification"] = label

    on_file = product.raw["schema"][0].get("properties") or []
    if any(labels.get(str(p.get("name"))) not in (None, p.get("classification"))
           for p in on_file):
        edit_contract(product.contract_path, product.domain, change)


def _same_labels(mesh: Mesh, product: Product, result: Any) -> None:
    """The SQL as run now gives no column a label stricter than its contract's, nor a
    source its lineage does not record (the SQL in the contract may have been edited
    since publication): stop, naming the column, rather than publish under stale labels."""
    policies = mesh.governance.policies
    names = [c.name for c in product.columns]
    inherited, _, lineage_of = classify(mesh, result, names)
    for column in product.columns:
        fresh = inherited[column.name]
        own = column.classification or policies.default_classification
        recorded = {(str(s.get("product")), str(s.get("column")).lower())
                    for s in _lineage(product, column.name)}
        unrecorded = [f"{s.product}.{s.column}" for s in lineage_of[column.name]
                      if (s.product, s.column.lower()) not in recorded]
        if sensitivity(policies, fresh.label) > sensitivity(policies, own) \
                or unrecorded:
            why = (f"is computed from {', '.join(unrecorded)}, which its contract's "
                   "lineage does not record" if unrecorded
                   else f"would be {fresh.label} ({fresh.reason}); its contract says {own}")
            raise ContractError(
                f"{product.fqn}.{column.name} {why}: was the SQL in its contract edited?",
                product=product.fqn, column=column.name,
                hint="publish the new SQL as a new product (docs/publishing.md)")


def _same_schema(product: Product, names: list[str]) -> None:
    promised = [c.name for c in product.columns]
    if [n.lower() for n in names] != [n.lower() for n in promised]:
        raise ContractError(f"the refreshed result's columns ({', '.join(names)}) differ from "
                            f"{product.fqn}'s contract ({', '.join(promised)})",
                            product=product.fqn, hint="publish a new version of the product")


def _check_written(mesh: Mesh, product: Product, location: str) -> None:
    """The new version's column types are the contract's (else the contract's data
    checks would fail for every reader): stop here, naming the column."""
    facts = plan_scan(product.fqn, location, "parquet", root=mesh.root,
                      partitioned=False).facts
    for column in product.columns:
        found = facts.columns.get(column.name.lower()) or facts.columns.get(column.name)
        if found is not None and found.type != column.type:
            raise ContractError(f"{product.fqn}.{column.name} is now {found.type}, its "
                                f"contract says {column.type}", product=product.fqn,
                                column=column.name)


def scheduled(mesh: Mesh) -> list[tuple[Product, Scheduled]]:
    """Every derived product with a schedule that is not retired."""
    out = []
    for product in mesh.catalog:
        derived = product.custom(derive.DERIVED)
        if isinstance(derived, dict) and derived.get("schedule") and \
                status_of(product) != "retired":
            out.append((product, Scheduled(str(derived["schedule"]),
                                           str(derived.get("timezone") or "UTC"))))
    return out


def run_slot(mesh: Mesh, product: Product, slot: dt.datetime) -> RefreshOutcome:
    """Refresh ``product`` for ``slot`` unless that slot already succeeded."""
    history = _history(mesh.root, product.fqn)
    with history.lock() as held:
        if not held:
            return RefreshOutcome(product.fqn, slot, "skipped",
                                  note="another run holds the lock")
        if history.succeeded(slot) is not None:
            return RefreshOutcome(product.fqn, slot, "skipped",
                                  note="this slot already succeeded")
        try:
            publication = refresh(mesh, product.fqn, slot=slot)
        except DuckmeshError as exc:
            history.record({"product": product.fqn, "slot": slot.isoformat(),
                            "outcome": "failed", "error": str(exc),
                            "error_class": type(exc).__name__})
            return RefreshOutcome(product.fqn, slot, "failed", error=exc)
        return RefreshOutcome(product.fqn, slot, "ok", publication)


def due(mesh: Mesh, now: dt.datetime) -> list[RefreshOutcome]:
    """Refresh every scheduled product whose slot has arrived since its last success:
    the latest slot only (a data product holds the newest data, not one per slot)."""
    outcomes = []
    for product, schedule in scheduled(mesh):
        status = status_of(product)
        if status not in STATUSES:
            # As readers are refused: a status duckmesh does not know is neither skipped
            # as if retired nor refreshed as if active.
            error = ContractError(f"{product.fqn}: unknown status {status!r}",
                                  product=product.fqn,
                                  hint="status is one of " + ", ".join(STATUSES))
            outcomes.append(RefreshOutcome(product.fqn, now, "failed", error=error))
            continue
        last = _history(mesh.root, product.fqn).last_success()
        try:
            slots = slots_between(schedule, last, now, limit=1)
        except (ValueError, LookupError) as exc:  # a schedule or zone edited by hand
            error = ContractError(f"{product.fqn}: its schedule {schedule.schedule!r} "
                                  f"({schedule.timezone}) cannot be read: "
                                  f"{type(exc).__name__}", product=product.fqn)
            outcomes.append(RefreshOutcome(product.fqn, now, "failed", error=error))
            continue
        if slots and (last is None or slots[-1] > last):
            outcomes.append(run_slot(mesh, product, slots[-1]))
    return outcomes


__all__ = ["RefreshOutcome", "Scheduled", "due", "latest_slot", "refresh", "scheduled"]

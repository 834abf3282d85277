"""``products publish`` and ``products refresh``: a governed query becomes a product.

Publishing is done by one of the domain's owners (checked), governed as that owner: the
derived product holds exactly what the owner's own query may read — masked where the
owner sees masks, only the rows the owner's row filters let through — and its contract
says where each column comes from and inherits its sources' labels (see
:mod:`federation.publish.derive`), so readers of the new product meet the same global
rules as readers of its sources.  The contract starts as a ``draft`` (readable only by
the domain's owners) until they make it active.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from connectors.footers import ColumnFacts
from connectors.scan import plan_scan
from connectors.storage import resolve_location
from connectors.writers import atomic_file
from federation.errors import (
    AccessDenied,
    ConfigError,
    ContractError,
    StorageError,
    UsageError,
)
from federation.governance.derived import lineage_of
from federation.mesh import Mesh
from federation.publish import derive, iceberg_store, store
from federation.reports.history import History
from products.bootstrap import check_draft
from products.contract import CONTRACT_SUFFIX, Product

STATE_DIR = ".duckmesh/publications"
HEADER = ("# Written by `duckmesh products publish`: a derived product. Its SQL, upstream\n"
          "# products and each column's lineage are under customProperties; classifications\n"
          "# are inherited from the sources. Edit descriptions freely; republish to change\n"
          "# the SQL. `duckmesh products status {fqn} active` publishes it to readers.\n")
_NAME_OK = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")


@dataclass(frozen=True)
class Publication:
    """One materialised version of a derived product."""

    product: str
    version: int
    rows: int
    location: str
    contract: Path
    upstream: list[dict[str, Any]]

    def line(self) -> str:
        """One line for the terminal."""
        return (f"{self.product}: version {self.version}, {self.rows:,} rows -> "
                f"{self.location} (contract {self.contract})")


def check_owner(mesh: Mesh, domain: str, user: str) -> None:
    """AccessDenied unless ``user`` is one of ``domain``'s owners."""
    owners = mesh.governance.owners(domain)
    if user not in owners:
        raise AccessDenied(f"only the owners of domain {domain} publish its products "
                           f"({', '.join(owners) or 'none: domain.yaml names no owner'}); "
                           f"{user} is not one", hint="run as an owner with --user")


def _split(fqn: str, mesh: Mesh) -> tuple[str, str]:
    domain, _, name = fqn.lower().partition(".")
    if not name or "." in name or not set(name) <= _NAME_OK or not name[0].isalpha():
        raise UsageError(f"name the product DOMAIN.NAME with a lower-case SQL name, not {fqn!r}")
    if domain not in mesh.governance.domains:
        raise UsageError(f"unknown domain {domain!r}", hint="domains are the folders under "
                         "domains/ (see `duckmesh products list`)")
    return domain, name


def data_folder(mesh: Mesh, domain: str, name: str) -> tuple[str, Path]:
    """The product's folder under the domain's first local storage root: as the contract
    writes it (relative to the mesh), and as a path."""
    declared = mesh.settings.domains.get(domain)
    roots = declared.roots if declared else [f"data/{domain}/"]
    for root in roots:
        location = resolve_location(root.rstrip("/"), mesh.root)
        if location.is_local:
            text = f"{root.rstrip('/')}/{name}"
            return text, _inside(Path(location.path), name, domain)
    raise UsageError(f"domain {domain} has no local storage root to publish into",
                     hint="publishing to object storage is not supported yet (docs/"
                          "publishing.md); add a local root in duckmesh.yaml domains")


def _inside(base: Path, name: str, domain: str) -> Path:
    """``base/name``, refused if a link there would send the data outside ``base`` (a
    link planted in the data folder, to another domain's data or out of the mesh)."""
    folder = base / name
    if folder.is_symlink() or (folder.exists() and not folder.resolve().is_relative_to(
            base.resolve())):
        raise StorageError(f"{folder} is a link out of domain {domain}'s storage root; a "
                           "product's data is written only under its domain's root",
                           hint="remove the link")
    return folder


def publish(mesh: Mesh, fqn: str, sql: str, *, user: str, description: str | None = None,
            schedule: str | None = None, timezone: str = "UTC",
            fmt: str = "parquet") -> Publication:
    """Publish ``sql``'s governed result as the new draft product ``fqn``, stored as
    ``parquet`` (versioned folders) or ``iceberg`` (one snapshot per publication)."""
    domain, name = _split(fqn, mesh)
    check_owner(mesh, domain, user)
    # One publication of a name at a time: two racing ones could leave one's data under
    # the other's contract (and its labels).
    with _history(mesh.root, f"{domain}.{name}").lock() as held:
        if not held:
            raise UsageError(f"another publication of {domain}.{name} is running",
                             product=f"{domain}.{name}")
        return _publish(mesh, domain, name, sql, user=user, description=description,
                        schedule=schedule, timezone=timezone, fmt=fmt)


def _publish(mesh: Mesh, domain: str, name: str, sql: str, *, user: str,
             description: str | None, schedule: str | None, timezone: str,
             fmt: str) -> Publication:
    fqn = f"{domain}.{name}"
    contract_path = mesh.root / "domains" / domain / f"{name}{CONTRACT_SUFFIX}"
    if contract_path.exists() or fqn in mesh.catalog.broken:
        raise UsageError(f"{fqn} already exists", product=fqn,
                         hint=f"`duckmesh products refresh {fqn}` makes a new version")
    if schedule is not None:
        _check_schedule(schedule, timezone)
    if fmt not in ("parquet", "iceberg"):
        raise UsageError(f"--format {fmt!r}: a product is stored as parquet or iceberg")
    if fmt == "iceberg":
        server = iceberg_store.template(mesh, domain)
    else:
        location_text, folder = data_folder(mesh, domain, name)
        server = {"server": "local", "type": "local", "format": "parquet",
                  "path": f"{location_text}/{store.CURRENT}"}
    result = mesh.sql(sql, user=user, label=f"publish:{fqn}")
    query = result.query
    upstream = derive.upstream_versions(query.access[p].product for p in query.products)
    derived: dict[str, Any] = {
        "sql": sql.strip(), "publishedBy": user, "format": fmt,
        "upstream": upstream, "rowFilters": derive.row_filters(query.access)}
    if schedule is not None:
        derived |= {"schedule": schedule, "timezone": timezone}
    record = _record(fqn, user, upstream, result.stamp)
    text = description or f"Derived from {', '.join(query.products)}."
    if fmt == "iceberg":
        table = result.arrow()
        _unique_names(fqn, table.schema.names)
        version, rows = iceberg_store.publish_snapshot(mesh, fqn, server, table, first=True)
        try:
            columns = iceberg_store.columns(mesh, fqn, server, table)
            contract = _contract(mesh, fqn, result, derived, columns, server, text)
            _write_contract(contract, contract_path, domain, name)
        except BaseException:
            iceberg_store.drop(mesh, server, fqn)
            raise
        where = f"{server['namespace']}.{name} snapshot {version}"
    else:
        store.check_unused(folder)
        created = not folder.exists()
        try:
            reader = result.reader()
            _unique_names(fqn, reader.schema.names)
            staged = store.stage(folder, reader, record)
            version, rows = staged.version, staged.rows
            columns = list(plan_scan(fqn, str(staged.path), "parquet", root=mesh.root,
                                     partitioned=False).facts.columns.values())
            contract = _contract(mesh, fqn, result, derived, columns, server, text)
            check_draft(contract, contract_path, domain, name)
            store.commit(staged)
            _write_contract(contract, contract_path, domain, name)
        except BaseException:
            store.discard(folder, created)
            raise
        where = f"{location_text}/v{version:06d}"
    publication = Publication(fqn, version, rows, where, contract_path, upstream)
    _history(mesh.root, fqn).record({**record, "slot": dt.datetime.now(dt.UTC).isoformat(),
                                     "outcome": "ok", "version": version, "rows": rows})
    return publication


def _unique_names(fqn: str, names: list[str]) -> None:
    """UsageError if two result columns share a name but for case: DuckDB and Parquet
    readers take them as one, so the contract would describe one and the file hold two
    (the second unlisted, under whichever label the first got)."""
    seen: dict[str, str] = {}
    for name in names:
        if name.lower() in seen:
            called = repr(name) if seen[name.lower()] == name \
                else f"{seen[name.lower()]!r} and {name!r}"
            raise UsageError(f"two result columns are called {called}: alias each column "
                             "of a product's query uniquely (names are case-insensitive)",
                             product=fqn)
        seen[name.lower()] = name


def _record(fqn: str, user: str, upstream: list[dict[str, Any]],
            stamp: dict[str, Any]) -> dict[str, Any]:
    """What a publication read: upstream contract versions and exact files/snapshots."""
    read = {p: {k: v for k, v in facts.items() if k in ("snapshot_id", "files")}
            for p, facts in (stamp.get("products") or {}).items()}
    return {"product": fqn, "published_by": user,
            "published_at": dt.datetime.now(dt.UTC).isoformat(),
            "upstream": upstream, "read": read}


def _write_contract(contract: dict[str, Any], path: Path, domain: str, name: str) -> None:
    """Write a checked contract atomically (it must load before it is written)."""
    check_draft(contract, path, domain, name)
    with atomic_file(path) as handle:
        text = HEADER.format(fqn=contract["name"]) + yaml.safe_dump(
            contract, sort_keys=False, allow_unicode=True)
        handle.write(text.encode("utf-8"))


def _contract(mesh: Mesh, fqn: str, result: Any, derived: dict[str, Any],
              columns: list[ColumnFacts], server: dict[str, Any],
              description: str) -> dict[str, Any]:
    """The contract of ``result``, whose stored ``columns`` are these, read from ``server``."""
    names = [c.name for c in columns]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise UsageError(f"two result columns are called {dupes[0]!r}: alias each column "
                         "of a product's query uniquely", product=fqn)
    inherited, transformations, lineage_of = classify(mesh, result, names)
    owner = mesh.governance.owner(fqn.split(".")[0])
    return derive.derived_contract(
        fqn=fqn, owner=owner, description=description, version="1.0.0", server=server,
        columns=columns, inherited=inherited, transformations=transformations,
        lineage_of=lineage_of, derived=derived)


def classify(mesh: Mesh, result: Any, names: list[str]) -> tuple[
        dict[str, derive.Inherited], dict[str, str], dict[str, list[derive.Source]]]:
    """Each output column of ``result``: its inherited label, its transformation and its
    source columns (every column read, when its lineage cannot be traced)."""
    query = result.query
    policies = mesh.governance.policies
    read = derive.everything_read(query.columns_read, query.access, policies)
    everything = [s.label for s in read]
    inherited: dict[str, derive.Inherited] = {}
    transformations: dict[str, str] = {}
    lineage_of: dict[str, list[derive.Source]] = {}
    qualified = query.qualified if query.qualified is not None else query.expression
    why_not = derive.untraceable(qualified)
    traced = {} if why_not else {entry.output: entry for entry in result.lineage()}
    pivot = derive.pivot_problem(policies, query.expression, {
        str(entry.output).lower(): derive.sources_of(entry, query.access, policies)
        for entry in traced.values()})
    if pivot:
        raise UsageError(pivot, hint="pivot on a public or internal column, or publish "
                         "without PIVOT")
    for column in names:
        entry = traced.get(column)
        if entry is None:
            inherited[column] = derive.inherit(policies, (), traced=False,
                                               everything_read=everything, why=why_not)
            lineage_of[column] = read  # untraced: it may come from anything read
            continue
        sources = derive.sources_of(entry, query.access, policies)
        ok = bool(sources) or not derive.references_columns(entry.transformation)
        inherited[column] = derive.inherit(policies, sources, traced=ok,
                                           everything_read=everything)
        transformations[column] = entry.transformation
        lineage_of[column] = sources if ok else read
    # Every column choosing the rows goes into each output's lineage, a freely readable
    # one too: a source's grant may mask it to a reader (mask_columns), and that reader
    # must not learn it from which rows exist (`WHERE signup_date = …`, `count(*)`).
    choosing = derive.choosing(qualified, read)
    protected = derive.chosen_by(policies, choosing)
    for column in names:
        if protected:
            inherited[column] = derive.also_chosen_by(policies, inherited[column], protected)
        lineage_of[column] = [*lineage_of[column],
                              *(s for s in choosing if s not in lineage_of[column])]
    return inherited, transformations, lineage_of


def _history(root: Path, fqn: str) -> History:
    return History(root, fqn, STATE_DIR)


def _check_schedule(schedule: str, timezone: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from croniter import croniter

    if not croniter.is_valid(schedule):
        raise UsageError(f"--schedule {schedule!r} is not a cron expression "
                         "(minute hour day month weekday)")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(f"unknown time zone {timezone!r}") from None


def derived_spec(product: Product) -> dict[str, Any]:
    """The ``duckmesh.derived`` block of a derived product's contract."""
    derived = product.custom(derive.DERIVED)
    if not isinstance(derived, dict) or not isinstance(derived.get("sql"), str):
        raise UsageError(f"{product.fqn} is not a derived product (its contract has no "
                         f"{derive.DERIVED} with the SQL)", product=product.fqn)
    return derived


def check_upstream(mesh: Mesh, product: Product) -> None:
    """ContractError naming the upstream column when a source a derived column reads was
    removed or retyped since publication (or its product retired)."""
    for column in product.columns:
        for source in _lineage(product, column.name):
            upstream = mesh.catalog.find(*source["product"].split(".", 1))
            if upstream is None:
                raise ContractError(f"upstream product {source['product']} (read by "
                                    f"{product.fqn}.{column.name}) no longer exists",
                                    product=product.fqn, column=column.name)
            found = upstream.column(source["column"])
            if found is None:
                raise ContractError(
                    f"upstream column {source['product']}.{source['column']} was removed; "
                    f"{product.fqn}.{column.name} is computed from it", product=product.fqn,
                    column=column.name, hint="change the SQL and publish a new version")
            if source.get("type") and found.type != source["type"]:
                raise ContractError(
                    f"upstream column {source['product']}.{source['column']} changed type "
                    f"from {source['type']} to {found.type}; {product.fqn}.{column.name} is "
                    "computed from it", product=product.fqn, column=column.name)


def _lineage(product: Product, column: str) -> list[dict[str, Any]]:
    """The recorded sources of a derived column; a malformed record is refused."""
    sources = lineage_of(product, column)
    if sources is None:
        raise ConfigError(f"{product.fqn}.{column}: {derive.COLUMN_LINEAGE} is not "
                          "a list", product=product.fqn, column=column)
    return sources

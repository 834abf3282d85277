"""The contract of a derived product, from its query: pure functions, no I/O.

Each column's classification is inherited from its lineage: the most sensitive label of
the source columns it is computed from, in the order policies.yaml declares them (least
to most sensitive; a label it does not declare outranks every declared one).  A source
the publisher saw masked keeps its label — a hashed email is still personal data —
unless policies.yaml ``declassify`` names that label and mask method, which the column
then records.  A column whose lineage cannot be traced takes the most sensitive label of
everything the query read (fail closed); one computed from no column at all (``count(*)``,
a literal) takes ``internal`` when the vocabulary has it, else the default label.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlglot import exp

from connectors.footers import ColumnFacts
from federation.audit.lineage import untraceable as untraceable
from federation.governance.access import ProductAccess
from federation.governance.derived import COLUMN_LINEAGE as COLUMN_LINEAGE
from federation.governance.derived import DERIVED as DERIVED
from federation.governance.derived import column_label, declassified_to, most_sensitive
from federation.governance.policies import PoliciesFile
from products.bootstrap import column_shape
from products.contract import LATEST_API_VERSION, Product

COLUMN_TRANSFORM = "duckmesh.transformation"


@dataclass(frozen=True)
class Source:
    """One source column of an output, as the publisher saw it."""

    product: str
    column: str
    label: str
    seen: str
    """``allow`` or ``mask:<method>``: what the publisher's query read of it."""
    type: str | None = None
    """The source column's type in its contract (a refresh stops if it changes)."""


@dataclass(frozen=True)
class Inherited:
    """An output column's classification, and why."""

    label: str
    reason: str
    declassified: tuple[dict[str, str], ...] = ()


def inherit(policies: PoliciesFile, sources: Iterable[Source], *, traced: bool,
            everything_read: Iterable[str], why: str | None = None) -> Inherited:
    """The classification of an output computed from ``sources``.

    ``traced`` is False when the output references columns whose lineage could not be
    followed (``why``, if known); ``everything_read`` are the labels of every column the
    query read.
    """
    if not traced:
        label = most_sensitive(policies, everything_read) or policies.default_classification
        return Inherited(label, f"lineage could not be traced ({why or 'not followed'}): "
                                "the most sensitive label the query read")
    sources = list(sources)
    if not sources:
        fallback = "internal" if "internal" in policies.labels \
            else policies.default_classification
        return Inherited(fallback, "computed from no product column")
    effective: list[str] = []
    lowered: list[dict[str, str]] = []
    for source in sources:
        to = declassified_to(policies, source.label, source.seen)
        if to is None:
            effective.append(source.label)
            continue
        effective.append(to)
        lowered.append({"source": f"{source.product}.{source.column}", "from": source.label,
                        "to": to, "mask": source.seen})
    strictest = most_sensitive(policies, effective)
    label = strictest if strictest is not None else policies.default_classification
    names = ", ".join(f"{s.product}.{s.column} ({s.label}"
                      f"{', seen ' + s.seen if s.seen != 'allow' else ''})" for s in sources)
    return Inherited(label, f"inherited from {names}", tuple(lowered))


def sources_of(entry: Any, access: dict[str, ProductAccess],
               policies: PoliciesFile) -> list[Source]:
    """The :class:`Source` of each product column a lineage entry names, with what the
    publisher saw of it."""
    out = []
    for src in entry.sources:
        decision = access[src.product].column(src.column)
        seen = "allow"
        if decision is not None and decision.action == "mask":
            seen = f"mask:{decision.method}"
        label = column_label(policies, decision.column) if decision is not None \
            else src.classification or policies.default_classification
        out.append(Source(src.product, src.column, label, seen,
                          decision.column.type if decision is not None else None))
    return out


def everything_read(columns_read: dict[str, Any], access: dict[str, ProductAccess],
                    policies: PoliciesFile) -> list[Source]:
    """A :class:`Source` for every product column the query read: the recorded lineage
    of an output whose own lineage cannot be traced, so a source's label made stricter
    later still reaches it (federation.governance.derived)."""
    out = []
    for fqn in sorted(columns_read):
        for name in sorted(columns_read[fqn]):
            decision = access[fqn].column(name)
            if decision is None:
                continue
            seen = f"mask:{decision.method}" if decision.action == "mask" else "allow"
            out.append(Source(fqn, decision.column.name, column_label(policies, decision.column),
                              seen, decision.column.type))
    return out


_CHOOSING = (exp.Where, exp.Having, exp.Qualify, exp.Group, exp.Order)


def choosing_names(tree: exp.Expr) -> tuple[set[str], set[str]]:
    """The names of the columns that choose which rows exist and how many (``WHERE``,
    ``JOIN … ON``/``USING``, ``GROUP BY``, ``HAVING``, ``QUALIFY``, ``ORDER BY``,
    ``DISTINCT ON``), followed
    through the select-list aliases they name; and the names aliases define."""
    names: set[str] = set()
    for node in tree.find_all(*_CHOOSING, exp.Join, exp.Distinct, exp.SetOperation):
        if isinstance(node, exp.Join):
            parts = [x for x in (node.args.get("on"), *(node.args.get("using") or []))
                     if x is not None]
        elif isinstance(node, exp.Distinct):
            parts = _distinct_parts(node)
        elif isinstance(node, exp.SetOperation):
            # INTERSECT/EXCEPT (ALL too) keep a row by comparing every column of both
            # sides, UNION (not ALL) drops duplicates: each column there chooses rows
            # (`SELECT id, d … INTERSECT SELECT id, DATE '…'` spelled out d through id).
            choosing = not isinstance(node, exp.Union) or bool(node.args.get("distinct"))
            parts = [node] if choosing else []
        else:
            parts = [node]
        for part in parts:
            if isinstance(part, exp.Identifier):
                names.add(part.name.lower())
            names |= {c.name.lower() for c in part.find_all(exp.Column)}
    aliases: dict[str, set[str]] = {}
    for alias in tree.find_all(exp.Alias):
        aliases.setdefault(alias.alias.lower(), set()).update(
            c.name.lower() for c in alias.this.find_all(exp.Column))
    todo = list(names)
    while todo:
        for name in aliases.get(todo.pop(), ()):
            if name not in names:
                names.add(name)
                todo.append(name)
    return names, set(aliases)


def _distinct_parts(node: exp.Distinct) -> list[exp.Expr]:
    """What a ``DISTINCT`` compares: ``DISTINCT ON (…)``'s keys; a ``SELECT DISTINCT``'s
    whole select list (how many rows survive depends on each column of it); nothing
    for ``count(DISTINCT x)`` (x is that output's own source)."""
    if node.args.get("on") is not None:
        return [node.args["on"]]
    parent = node.parent
    if isinstance(parent, exp.Select) and parent.args.get("distinct") is node:
        return list(parent.expressions)
    return []


def choosing(tree: exp.Expr, read: list[Source]) -> list[Source]:
    """Every column read that chooses the result's rows (:func:`choosing_names`), whatever
    its label: each output's lineage records them, so that a grant at the source that
    masks or denies one to a reader follows it (a label that anyone may read freely can
    still be masked to someone by a domain's grant; see
    :func:`federation.governance.access.evaluate`)."""
    names, defined = choosing_names(tree)
    # A name neither a product column nor an alias (a subquery's column list): any column.
    unknown = names - defined - {s.column.lower() for s in read}
    return [s for s in read if s.column.lower() in names or unknown]


def chosen_by(policies: PoliciesFile, choosing_rows: list[Source]) -> list[Source]:
    """Of the columns that choose the result's rows (:func:`choosing`), those that carry
    a label no one may read freely (``allow: true`` labels cannot leak): every output
    inherits them too, since the rows, their number and their order can spell out a
    value (``JOIN range … ON ascii(substr(email, 1, 1)) >= n`` then ``count(*)`` gave
    each customer the code of their email's first letter, labelled internal)."""
    free = {c.name for c in policies.classifications if c.allow}
    out = []
    for source in choosing_rows:
        label = declassified_to(policies, source.label, source.seen) or source.label
        if label not in free:
            out.append(source)
    return out


def also_chosen_by(policies: PoliciesFile, got: Inherited,
                   choosing: list[Source]) -> Inherited:
    """``got`` raised to the labels of the columns that chose the rows, if stricter."""
    labels = [declassified_to(policies, s.label, s.seen) or s.label for s in choosing]
    label = most_sensitive(policies, [got.label, *labels]) or got.label
    if label == got.label:
        return got
    names = ", ".join(f"{s.product}.{s.column} ({s.label})" for s in choosing)
    return Inherited(label, f"{got.reason}; its rows are chosen by {names}", got.declassified)


def pivot_problem(policies: PoliciesFile, statement: exp.Expr,
                  lineage: dict[str, list[Source]]) -> str | None:
    """Why a ``PIVOT … ON c`` statement cannot be published, or None: its result's column
    *names* are ``c``'s values, and a contract's column names are read by everyone (the
    file, ``products show``, ``DESCRIBE``), so ``c`` must come from freely readable
    (``allow: true``) columns only.  ``lineage`` maps the pivoted query's outputs to their
    sources."""
    if not isinstance(statement, exp.Pivot) or statement.args.get("unpivot"):
        return None
    free = {c.name for c in policies.classifications if c.allow}
    for on in statement.args.get("expressions") or []:
        for column in on.find_all(exp.Column):
            sources = lineage.get(column.name.lower())
            if sources is None:
                return f"PIVOT ON {column.name}: where its values come from cannot be traced"
            for source in sources:
                label = declassified_to(policies, source.label, source.seen) or source.label
                if label not in free:
                    return (f"PIVOT ON {column.name} would make {source.product}."
                            f"{source.column}'s values ({label}) the product's column names, "
                            "which everyone reads in its contract")
    return None


def references_columns(transformation: str) -> bool:
    """True if an output's SQL names a column (so it must have traceable sources)."""
    try:
        tree: exp.Expr = exp.maybe_parse(transformation, dialect="duckdb")
    except Exception:  # noqa: BLE001 - unparsable: assume it does (fail closed)
        return True
    return any(True for _ in tree.find_all(exp.Column))


def row_filters(access: dict[str, ProductAccess]) -> list[dict[str, str]]:
    """Every row filter the publisher's view had: the derived product holds only those
    rows, and its contract must say so."""
    return [{"product": fqn, "filter": a.row_filter.sql(dialect="duckdb"),
             "reason": a.row_filter_reason or ""}
            for fqn, a in sorted(access.items()) if a.row_filter is not None]


def derived_contract(*, fqn: str, owner: str | None, description: str, version: str,
                     server: dict[str, Any], columns: list[ColumnFacts],
                     inherited: dict[str, Inherited], transformations: dict[str, str],
                     lineage_of: dict[str, list[Source]], derived: dict[str, Any]
                     ) -> dict[str, Any]:
    """The ODCS v3 contract document of a derived product (status ``draft``)."""
    domain, _, name = fqn.partition(".")
    properties = []
    for col in columns:
        if col.partition:
            continue
        got = inherited[col.name]
        custom: list[dict[str, Any]] = [
            {"property": COLUMN_TRANSFORM, "value": transformations.get(col.name, col.name)},
            {"property": COLUMN_LINEAGE, "value": [
                {"product": s.product, "column": s.column, "classification": s.label,
                 "seen": s.seen, "type": s.type} for s in lineage_of.get(col.name, [])]},
            {"property": "duckmesh.classificationReason", "value": got.reason},
        ]
        if got.declassified:
            custom.append({"property": "duckmesh.declassified",
                           "value": list(got.declassified)})
        properties.append({"name": col.name, **column_shape(col.type),
                           "required": col.null_count == 0,
                           "description": f"Derived: {transformations.get(col.name, col.name)}",
                           "classification": got.label, "customProperties": custom})
    filtered = derived.get("rowFilters") or []
    text = description
    if filtered:
        text += (" Published from a row-filtered view ("
                 + "; ".join(f"{f['product']}: {f['filter']}" for f in filtered)
                 + "): it holds only those rows.")
    contract: dict[str, Any] = {
        "apiVersion": LATEST_API_VERSION, "kind": "DataContract",
        "id": f"urn:duckmesh:{domain}:{name}", "name": fqn, "version": version,
        "status": "draft", "domain": domain, "dataProduct": name,
        "description": {"purpose": text},
        "servers": [server],
        "schema": [{"name": name, "physicalType": "table", "description": text,
                    "properties": properties}],
        "customProperties": [{"property": DERIVED, "value": derived}],
    }
    if owner:
        contract["team"] = {"name": owner}
    return contract


def upstream_versions(products: Iterable[Product]) -> list[dict[str, str]]:
    """``[{product, contractVersion}]`` of the products a query read."""
    return [{"product": p.fqn, "contractVersion": p.version}
            for p in sorted(products, key=lambda p: p.fqn)]

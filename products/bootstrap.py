"""``duckmesh products init``: a draft ODCS contract from existing Parquet data.

Schema, types and nullability come from the files' footers; classifications are
*suggested* from column names and from value patterns in a sample (emails, phone
numbers, card numbers that pass the Luhn check, national ids).  Each suggestion is
marked in the property's ``customProperties`` for the owner to confirm.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from connectors.errors import ConfigError, UsageError
from connectors.footers import ColumnFacts
from connectors.scan import plan_scan
from products.contract import product_from_document, schema_errors
from products.yamlio import parse_yaml

SAMPLE_ROWS = 2000
MATCH_SHARE = 0.8  # share of non-null sampled values that must match a pattern

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
PHONE = re.compile(r"^\+?[\d\s\-().]{7,20}$")
SSN = re.compile(r"^\d{3}-\d{2}-\d{4}$")
PASSPORT = re.compile(r"^[A-Z]{1,2}\d{6,9}$")
IBAN = re.compile(r"^[A-Z]{2}\d{2}[A-Z0-9]{11,30}$")

NAME_HINTS: tuple[tuple[re.Pattern[str], str, str], ...] = (
    (re.compile(r"(card_?(number|no|num)|^pan$|cc_?num|credit_?card)"), "pci", "card number"),
    (re.compile(r"(iban|account_?number|routing)"), "pci", "bank account"),
    (re.compile(r"(ssn|social_?security|national_?id|passport|tax_?id)"), "restricted",
     "national id"),
    (re.compile(r"(e_?mail)"), "pii", "email"),
    (re.compile(r"(phone|mobile|msisdn|^tel)"), "pii", "phone number"),
    (re.compile(r"(birth|^dob$)"), "pii", "date of birth"),
    (re.compile(r"(first_?name|last_?name|full_?name|surname|^name$)"), "pii", "person name"),
    (re.compile(r"(address|street|postcode|zip_?code|ip_?addr)"), "pii", "address"),
)


@dataclass(frozen=True)
class Suggestion:
    """A suggested classification and why."""

    classification: str
    reason: str


def luhn_ok(digits: str) -> bool:
    """True if ``digits`` passes the Luhn checksum (card numbers do)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _share(values: list[str], test: Any) -> float:
    return sum(1 for v in values if test(v)) / len(values) if values else 0.0


def _is_card(value: str) -> bool:
    digits = re.sub(r"[\s-]", "", value)
    return digits.isdigit() and 13 <= len(digits) <= 19 and luhn_ok(digits)


ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")


def _is_phone(value: str) -> bool:
    return bool(PHONE.match(value)) and sum(c.isdigit() for c in value) >= 7 \
        and not value.strip().isdigit() and not ISO_DATE.match(value)


def suggest(name: str, values: Iterable[Any], *, text: bool = True) -> Suggestion | None:
    """The classification a column called ``name`` with these sample values suggests.

    Value patterns are tried only on text columns (``text``); names always count.
    """
    texts = [str(v) for v in values if v is not None and str(v).strip()] if text else []
    patterns = (
        ("pci", "values pass the Luhn check of card numbers", _is_card),
        ("pii", "values look like email addresses", lambda v: bool(EMAIL.match(v))),
        ("restricted", "values look like national ids (SSN)", lambda v: bool(SSN.match(v))),
        ("restricted", "values look like passport numbers", lambda v: bool(PASSPORT.match(v))),
        ("pci", "values look like IBANs", lambda v: bool(IBAN.match(v))),
        ("pii", "values look like phone numbers", _is_phone),
    )
    for classification, reason, test in patterns:
        if texts and _share(texts, test) >= MATCH_SHARE:
            return Suggestion(classification, reason)
    lowered = name.lower()
    for pattern, classification, what in NAME_HINTS:
        if pattern.search(lowered):
            return Suggestion(classification, f"column name suggests {what}")
    return None


_LOGICAL = (("BIGINT", "integer"), ("INTEGER", "integer"), ("SMALLINT", "integer"),
            ("TINYINT", "integer"), ("HUGEINT", "integer"), ("DOUBLE", "number"),
            ("FLOAT", "number"), ("DECIMAL", "number"), ("BOOLEAN", "boolean"),
            ("TIMESTAMP", "timestamp"), ("DATE", "date"), ("TIME", "time"),
            ("VARCHAR", "string"))


def logical_type(duckdb_type: str) -> str:
    """The ODCS logical type of a DuckDB type."""
    upper = duckdb_type.upper()
    return next((logical for prefix, logical in _LOGICAL if upper.startswith(prefix)), "string")


def _samples(files: list[str]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for path in files:
        if sum(len(v) for v in out.values()) >= SAMPLE_ROWS * max(len(out), 1):
            break
        parquet = pq.ParquetFile(path)
        for batch in parquet.iter_batches(batch_size=SAMPLE_ROWS):
            for name, column in zip(batch.schema.names, batch.columns, strict=True):
                out.setdefault(name.lower(), []).extend(column.to_pylist()[:SAMPLE_ROWS])
            break
    return out


def _property(col: ColumnFacts, samples: dict[str, list[Any]]) -> dict[str, Any]:
    prop: dict[str, Any] = {
        "name": col.name, "logicalType": logical_type(col.type), "physicalType": col.type,
        "required": col.null_count == 0,
        "description": "TODO: describe this column",
    }
    if col.partition:
        prop["partitioned"] = True
    hint = suggest(col.name, samples.get(col.name.lower(), []),
                   text=logical_type(col.type) == "string")
    prop["classification"] = hint.classification if hint else "internal"
    prop["customProperties"] = [
        {"property": "duckmesh.classificationSuggested", "value": True},
        {"property": "duckmesh.classificationReason",
         "value": hint.reason if hint else "no sign of personal or card data; confirm"},
    ]
    return prop


def draft_contract(fqn: str, source: str, mesh_root: Path) -> dict[str, Any]:
    """A draft ODCS v3 contract for product ``fqn`` from the Parquet data at ``source``."""
    domain, _, name = fqn.lower().partition(".")
    if not name or "." in name:
        raise UsageError(f"name the product as DOMAIN.PRODUCT, not {fqn!r}")
    plan = plan_scan(fqn, source, "parquet", root=Path.cwd(), partitioned=True)
    facts = plan.facts
    samples = _samples([f.path for f in plan.files[:8]])
    location = Path(plan.location.path)
    try:
        path_text = location.relative_to(mesh_root.resolve()).as_posix()
    except ValueError:
        path_text = str(location)
    return {
        "apiVersion": "v3.1.0", "kind": "DataContract", "id": f"urn:duckmesh:{domain}:{name}",
        "name": fqn.lower(), "version": "0.1.0", "status": "draft", "domain": domain,
        "dataProduct": name,
        "description": {"purpose": "TODO: what this product is for"},
        "servers": [{"server": "local", "type": "local", "format": "parquet",
                     "path": path_text}],
        "schema": [{"name": name, "physicalType": "table",
                    "properties": [_property(c, samples) for c in facts.columns.values()]}],
    }


HEADER = ("# Draft written by `duckmesh products init`. Classifications are suggestions\n"
          "# (see each column's customProperties): confirm them, describe the columns, set\n"
          "# the owner team, then set status: active.\n")


def check_draft(contract: dict[str, Any], label: Path, domain: str, name: str) -> None:
    """Raise if the draft would not load as a contract (a bug, never the user's fault)."""
    import yaml

    doc = parse_yaml(yaml.safe_dump(contract), label)
    errors = schema_errors(doc)
    if errors:
        raise ConfigError(f"internal: the draft contract is invalid: {errors[0]}")
    product_from_document(doc, domain, name)

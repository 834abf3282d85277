"""``duckmesh products init``: a draft ODCS contract from existing Parquet data.

Schema, types and nullability come from the files' footers, in DuckDB's own spelling
(``BIGINT[]``, ``STRUCT(a BIGINT, b VARCHAR)``, ``MAP(VARCHAR, BIGINT)``, ``UUID``…) with
the ODCS logical type beside it (``array`` with ``items``, ``object`` with
``properties``, ``map``).  Classifications are *suggested* from value patterns in a
sample — card numbers that pass the Luhn check (pci, text or integer columns), IBANs
that pass their check digits, emails, phone numbers (pii), national ids and passport
numbers (restricted) — and from column names.  Each suggestion, and why (how many
sampled values matched, never the values), is marked in the property's
``customProperties`` for the owner to confirm.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from sqlglot import exp
from sqlglot.errors import ParseError

from connectors.errors import ConfigError, UsageError
from connectors.footers import ColumnFacts
from connectors.scan import plan_scan
from connectors.types import normalize_type
from products.contract import LATEST_API_VERSION, product_from_document, schema_errors
from products.yamlio import parse_yaml

SAMPLE_ROWS = 2000
MATCH_SHARE = 0.8  # share of non-null sampled values that must match a pattern

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
PHONE = re.compile(r"^\+?[\d\s\-().]{7,20}$")
SSN = re.compile(r"^(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}$")
NINO = re.compile(r"^(?![DFIQUV])[A-Z](?![DFIQUVO])[A-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]$")
DNI = re.compile(r"^([XYZ]|\d)\d{7}-?[A-Z]$")
PASSPORT = re.compile(r"^[A-Z]{1,2}\d{6,9}$")
IBAN = re.compile(r"^[A-Z]{2}\d{2}[A-Z0-9]{11,30}$")

NAME_HINTS: tuple[tuple[re.Pattern[str], str, str], ...] = (
    (re.compile(r"(card_?(number|no|num|pan)|(^|_)pan($|_)|cc_?num|credit_?card)"), "pci",
     "card number"),
    (re.compile(r"(iban|account_?number|routing)"), "pii", "bank account"),
    (re.compile(r"(ssn|social_?security|national_?id|passport|tax_?id|(^|_)nino($|_)|"
                r"(^|_)dni($|_))"), "restricted", "national id"),
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


def iban_ok(text: str) -> bool:
    """True if ``text`` is an IBAN whose check digits are right (ISO 13616, mod 97)."""
    compact = text.replace(" ", "").upper()
    if not IBAN.match(compact):
        return False
    moved = compact[4:] + compact[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def _dni_ok(text: str) -> bool:
    compact = text.replace("-", "").upper()
    if not DNI.match(compact):
        return False
    number = "XYZ".index(compact[0]) if compact[0] in "XYZ" else int(compact[0])
    value = int(str(number) + compact[1:8])
    return "TRWAGMYFPDXBNJZSQVHLCKE"[value % 23] == compact[-1]


def _is_card(value: str) -> bool:
    digits = re.sub(r"[\s-]", "", value)
    return digits.isdigit() and 13 <= len(digits) <= 19 and digits[0] in "23456" \
        and luhn_ok(digits)


ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")


def _is_phone(value: str) -> bool:
    return bool(PHONE.match(value)) and sum(c.isdigit() for c in value) >= 7 \
        and not value.strip().isdigit() and not ISO_DATE.match(value)


Pattern = tuple[str, str, Callable[[str], bool]]

TEXT_PATTERNS: tuple[Pattern, ...] = (
    ("pci", "pass the Luhn check of card numbers", _is_card),
    ("pii", "look like email addresses", lambda v: bool(EMAIL.match(v))),
    ("restricted", "look like US social security numbers", lambda v: bool(SSN.match(v))),
    ("restricted", "look like UK national insurance numbers", lambda v: bool(NINO.match(v))),
    ("restricted", "are Spanish DNI/NIE numbers with a valid check letter", _dni_ok),
    ("restricted", "look like passport numbers", lambda v: bool(PASSPORT.match(v))),
    ("pii", "are IBANs with valid check digits", iban_ok),
    ("pii", "look like phone numbers", _is_phone),
)
NUMBER_PATTERNS: tuple[Pattern, ...] = (TEXT_PATTERNS[0],)
"""Card numbers are often stored as integers; the other patterns need text."""


def suggest(name: str, values: Iterable[Any], *, text: bool = True,
            number: bool = False) -> Suggestion | None:
    """The classification a column called ``name`` with these sample values suggests.

    Value patterns are tried on text columns (``text``) and, for card numbers, on
    integer columns (``number``); names always count.  The reason says how many sampled
    values matched, never which.
    """
    patterns = TEXT_PATTERNS if text else NUMBER_PATTERNS if number else ()
    texts = [str(v).strip() for v in values if v is not None and str(v).strip()] \
        if patterns else []
    for classification, what, test in patterns:
        matched = sum(1 for v in texts if test(v))
        if texts and matched / len(texts) >= MATCH_SHARE:
            return Suggestion(classification, f"{matched:,} of {len(texts):,} sampled values "
                                              f"{what}")
    lowered = name.lower()
    for pattern, classification, kind in NAME_HINTS:
        if pattern.search(lowered):
            return Suggestion(classification, f"column name suggests {kind}")
    return None


_LOGICAL = (("UTINYINT", "integer"), ("USMALLINT", "integer"), ("UINTEGER", "integer"),
            ("UBIGINT", "integer"), ("UHUGEINT", "integer"), ("BIGINT", "integer"),
            ("INTEGER", "integer"), ("SMALLINT", "integer"), ("TINYINT", "integer"),
            ("HUGEINT", "integer"), ("DOUBLE", "number"), ("FLOAT", "number"),
            ("REAL", "number"), ("DECIMAL", "number"), ("BOOLEAN", "boolean"),
            ("TIMESTAMP", "timestamp"), ("DATE", "date"), ("TIME", "time"))


def logical_type(duckdb_type: str) -> str:
    """The ODCS logical type of a DuckDB type (``string`` for text, UUID, BLOB, JSON,
    INTERVAL; ``array``, ``object`` and ``map`` for the nested ones)."""
    upper = normalize_type(duckdb_type).upper()
    if upper.endswith("]"):
        return "array"
    if upper.startswith("STRUCT("):
        return "object"
    if upper.startswith("MAP("):
        return "map"
    return next((logical for prefix, logical in _LOGICAL if upper.startswith(prefix)), "string")


def column_shape(duckdb_type: str) -> dict[str, Any]:
    """``logicalType`` and ``physicalType`` of a type, with its nested ``items``,
    ``properties`` or ``map`` (ODCS v3.2)."""
    spelled = normalize_type(duckdb_type)
    out: dict[str, Any] = {"logicalType": logical_type(spelled), "physicalType": spelled}
    try:
        parsed = exp.DataType.build(spelled, dialect="duckdb")
    except (ParseError, ValueError):
        return out
    inner = [e for e in parsed.expressions if isinstance(e, exp.DataType | exp.ColumnDef)]
    if out["logicalType"] == "array" and inner:
        out["items"] = column_shape(_spelled(inner[0]))
    elif out["logicalType"] == "object":
        out["properties"] = [{"name": f.name, **column_shape(_spelled(f))} for f in inner
                             if isinstance(f, exp.ColumnDef)]
    elif out["logicalType"] == "map" and len(inner) == 2:
        out["map"] = {"key": column_shape(_spelled(inner[0])),
                      "value": column_shape(_spelled(inner[1]))}
    return out


def _spelled(node: exp.Expr) -> str:
    kind = node.args.get("kind") if isinstance(node, exp.ColumnDef) else node
    return kind.sql(dialect="duckdb") if isinstance(kind, exp.Expr) else "VARCHAR"


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
    shape = column_shape(col.type)
    prop: dict[str, Any] = {
        "name": col.name, **shape, "required": col.null_count == 0,
        "description": "TODO: describe this column",
    }
    if col.partition:
        prop["partitioned"] = True
    logical = shape["logicalType"]
    hint = suggest(col.name, samples.get(col.name.lower(), []), text=logical == "string",
                   number=logical in ("integer", "number"))
    prop["classification"] = hint.classification if hint else "internal"
    prop["customProperties"] = [
        {"property": "duckmesh.classificationSuggested", "value": True},
        {"property": "duckmesh.classificationReason",
         "value": hint.reason if hint else "no sign of personal or card data in "
                                           f"{len(samples.get(col.name.lower(), [])):,} "
                                           "sampled values; confirm"},
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
        "apiVersion": LATEST_API_VERSION, "kind": "DataContract",
        "id": f"urn:duckmesh:{domain}:{name}",
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

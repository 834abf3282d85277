"""``products init`` on the types analysts meet (issue 14, items 4 and 5): DuckDB's own
type spellings with ODCS logical types (nested ones described), and classifications
suggested from values — card numbers stored as integers too — with the reason."""

from __future__ import annotations

import random
from pathlib import Path

import duckdb
import pytest

from products.bootstrap import check_draft, draft_contract, iban_ok, suggest
from products.conformance import column_findings
from products.contract import product_from_document
from products.locate import plan_product
from products.yamlio import parse_yaml
from tests.lab import TYPES, TYPES_SQL


def _luhn_complete(body: str) -> str:
    for check in "0123456789":
        digits = body + check
        total = sum(int(d) if i % 2 == 0 else (2 * int(d) - 9 if int(d) > 4 else 2 * int(d))
                    for i, d in enumerate(reversed(digits)))
        if total % 10 == 0:
            return digits
    raise AssertionError


def _iban(rng: random.Random) -> str:
    bban = "".join(str(rng.randrange(10)) for _ in range(20))
    moved = bban + "ES00"
    check = 98 - int("".join(str(int(c, 36)) for c in moved)) % 97
    return f"ES{check:02d}{bban}"


def _dni(rng: random.Random) -> str:
    number = rng.randrange(10**8)
    return f"{number:08d}{'TRWAGMYFPDXBNJZSQVHLCKE'[number % 23]}"


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("init") / "data"
    folder.mkdir()
    rng = random.Random(14)
    con = duckdb.connect()
    try:
        casts = ", ".join(f'CAST("{c["name"]}" AS {c["physicalType"]}) AS "{c["name"]}"'
                          for c in TYPES)
        con.execute(f"CREATE TABLE types AS SELECT {casts} FROM ({TYPES_SQL})")
        con.execute("CREATE TABLE extra (card_pan BIGINT, iban VARCHAR, mail VARCHAR, "
                    "doc VARCHAR, score DOUBLE)")
        con.executemany("INSERT INTO extra VALUES (?, ?, ?, ?, ?)", [
            (int(_luhn_complete("4" + "".join(str(rng.randrange(10)) for _ in range(14)))),
             _iban(rng), f"someone{i}@example.org", _dni(rng), rng.random()) for i in range(48)])
        con.execute("COPY (SELECT * FROM types POSITIONAL JOIN extra) TO "
                    f"'{folder / 'part-0.parquet'}'")
    finally:
        con.close()
    return folder


def test_init_drafts_duckdb_types_with_nested_logical_types(data: Path, tmp_path: Path) -> None:
    draft = draft_contract("lab.typed", str(data), tmp_path)
    check_draft(draft, tmp_path / "typed.odcs.yaml", "lab", "typed")
    props = {p["name"]: p for p in draft["schema"][0]["properties"]}
    expect = {"l": ("BIGINT[]", "array"), "s": ("STRUCT(a BIGINT, b VARCHAR)", "object"),
              "m": ("MAP(VARCHAR, BIGINT)", "map"), "u": ("UUID", "string"),
              "ut": ("UTINYINT", "integer"), "ub": ("UBIGINT", "integer"),
              "f": ("FLOAT", "number"), "t": ("TIME", "time"),
              "ts_ns": ("TIMESTAMP_NS", "timestamp"), "bl": ("BLOB", "string"),
              "dec": ("DECIMAL(38, 10)", "number"), "tstz": ("TIMESTAMPTZ", "timestamp")}
    assert {n: (props[n]["physicalType"], props[n]["logicalType"]) for n in expect} == expect
    assert props["l"]["items"] == {"logicalType": "integer", "physicalType": "BIGINT"}
    assert props["s"]["properties"] == [
        {"name": "a", "logicalType": "integer", "physicalType": "BIGINT"},
        {"name": "b", "logicalType": "string", "physicalType": "VARCHAR"}]
    assert props["m"]["map"]["value"] == {"logicalType": "integer", "physicalType": "BIGINT"}
    # The draft, as a contract, matches the data it was drafted from.
    import yaml

    product = product_from_document(parse_yaml(yaml.safe_dump(draft), tmp_path / "x.yaml"),
                                    "lab", "typed")
    product = type(product)(**{**product.__dict__, "servers": (
        type(product.server)("local", str(data), "parquet"),)})
    findings = column_findings(product, plan_product(product, tmp_path).facts)
    assert [f.message for f in findings if f.status != "passed"] == []


def test_init_suggests_card_data_stored_as_integers(data: Path, tmp_path: Path) -> None:
    draft = draft_contract("lab.typed", str(data), tmp_path)
    props = {p["name"]: p for p in draft["schema"][0]["properties"]}

    def reason(name: str) -> str:
        return next(c["value"] for c in props[name]["customProperties"]
                    if c["property"] == "duckmesh.classificationReason")

    assert props["card_pan"]["classification"] == "pci"
    assert reason("card_pan") == "48 of 48 sampled values pass the Luhn check of card numbers"
    assert props["iban"]["classification"] == "pii" and "IBAN" in reason("iban")
    assert props["mail"]["classification"] == "pii" and "email" in reason("mail")
    assert props["doc"]["classification"] == "restricted" and "DNI" in reason("doc")
    assert props["score"]["classification"] == "internal"
    # No sampled value is ever written into the draft's reasons.
    assert all(str(v) not in reason(n) for n in props for v in ("someone1@", "ES"))


def test_value_patterns() -> None:
    rng = random.Random(5)
    assert iban_ok("GB82 WEST 1234 5698 7654 32") and not iban_ok("GB82WEST12345698765433")
    ibans = [_iban(rng) for _ in range(50)]
    assert suggest("x", ibans).classification == "pii"  # type: ignore[union-attr]
    cards = [int(_luhn_complete("4" + f"{rng.randrange(10**14):014d}")) for _ in range(50)]
    assert suggest("x", cards, text=False, number=True).classification == "pci"  # type: ignore[union-attr]
    assert suggest("x", cards, text=False) is None  # integers: only when asked
    ninos = [f"AB{rng.randrange(10**6):06d}C" for _ in range(50)]
    assert suggest("x", ninos).classification == "restricted"  # type: ignore[union-attr]
    assert suggest("card_pan", []).classification == "pci"  # type: ignore[union-attr]
    assert suggest("x", [f"{i:016d}" for i in range(50)]) is None  # digits, not cards

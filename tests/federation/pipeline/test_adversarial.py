"""Adversarial queries: each tries to get around governance and must fail to.

Every query runs through the real CLI against the demo mesh.  Each case asserts either
that it is refused (exit 1 or 3, one line on stderr) or that it runs and no raw
pii/pci/restricted value appears anywhere: stdout, stderr or the exception.  The raw
values come from reading the Parquet files directly (the oracle in conftest).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from federation.cli import cli
from federation.governance.masks import reference_hash
from tests.conftest import leaked

REJECT = "reject"  # exit 1: the allow-list or resolver refuses the query
DENY = "deny"  # exit 3: governance refuses it
SAFE = "safe"  # runs; nothing raw comes out


@dataclass(frozen=True)
class Attack:
    name: str
    sql: str
    expect: str
    user: str = "ana"


ATTACKS = [
    # -- file paths used as tables
    Attack("single-quoted parquet path", "SELECT * FROM 'data/customers/profiles/*/*.parquet'",
           REJECT),
    Attack("double-quoted parquet path",
           'SELECT * FROM "data/payments/transactions/part-0.parquet"', REJECT),
    Attack("absolute glob", "SELECT * FROM '/**/*.parquet'", REJECT),
    Attack("path as a two-part name", 'SELECT * FROM "data"."payments.parquet"', REJECT),
    # -- table functions
    Attack("read_parquet", "SELECT * FROM read_parquet('data/payments/transactions/*.parquet')",
           REJECT),
    Attack("parquet_scan", "SELECT * FROM parquet_scan('data/*/*/*.parquet')", REJECT),
    Attack("read_csv_auto", "SELECT * FROM read_csv_auto('/etc/passwd')", REJECT),
    Attack("glob", "SELECT * FROM glob('**')", REJECT),
    Attack("parquet_metadata", "SELECT * FROM parquet_metadata('data/x.parquet')", REJECT),
    Attack("read_text in a subquery",
           "SELECT (SELECT content FROM read_text('.duckmesh/secret'))", REJECT),
    Attack("table function in a join",
           "SELECT * FROM flights.schedule JOIN read_blob('x') ON true", REJECT),
    # -- JSON: the scalar functions are allowed, reading JSON files is not
    Attack("read_json", "SELECT * FROM read_json('data/x.json')", REJECT),
    Attack("read_json_auto in a subquery",
           "SELECT (SELECT count(*) FROM read_json_auto('.duckmesh/audit/records/*.json'))",
           REJECT),
    Attack("json path on a masked column", "SELECT email->>'$.a' AS x FROM customers.profiles",
           "error-clean"),
    Attack("json on a denied column",
           "SELECT json_extract_string(card_number, '$') FROM payments.transactions", DENY),
    Attack("json wildcard path", "SELECT email->'$[*]' FROM customers.profiles", REJECT),
    Attack("json_keys on a masked column", "SELECT json_keys(email) FROM customers.profiles",
           "error-clean"),
    Attack("json_type on a denied column",
           "SELECT json_type(card_number) FROM payments.transactions", DENY),
    Attack("json_keys on a denied column in WHERE", "SELECT count(*) FROM payments.transactions "
           "WHERE len(json_keys(card_number)) > 0", DENY),
    # -- query() and query_table()
    Attack("query()", "SELECT * FROM query('SELECT * FROM read_parquet(''x'')')", REJECT),
    Attack("query_table()", "SELECT * FROM query_table('duckdb_settings')", REJECT),
    # -- introspection and settings
    Attack("duckdb_settings()", "SELECT * FROM duckdb_settings()", REJECT),
    Attack("current_setting", "SELECT current_setting('allowed_directories')", REJECT),
    Attack("current_query()", "SELECT current_query() FROM customers.profiles", REJECT),
    Attack("information_schema", "SELECT * FROM information_schema.tables", REJECT),
    Attack("getvariable", "SELECT getvariable('duckmesh_mask_ipad')", REJECT),
    Attack("mask key parameter", "SELECT $duckmesh_mask_ipad", REJECT),
    Attack("positional parameter", "SELECT ? FROM customers.profiles", REJECT),
    # -- statements other than SELECT
    Attack("create table", "CREATE TABLE x AS SELECT * FROM customers.profiles", REJECT),
    Attack("copy to", "COPY (SELECT * FROM customers.profiles) TO 'leak.csv'", REJECT),
    Attack("attach", "ATTACH 'other.db'", REJECT),
    Attack("set external access", "SET enable_external_access = true", REJECT),
    Attack("pragma", "PRAGMA table_info('x')", REJECT),
    Attack("explain", "EXPLAIN SELECT * FROM customers.profiles", REJECT),
    Attack("call", "CALL pragma_version()", REJECT),
    Attack("install", "INSTALL httpfs", REJECT),
    Attack("create macro", "CREATE MACRO m(x) AS x", REJECT),
    # -- several statements and comment tricks
    Attack("second statement", "SELECT 1; SELECT passport_number FROM customers.profiles",
           REJECT),
    Attack("statement after comment", "SELECT 1 /* ; */; DROP TABLE x", REJECT),
    Attack("line comment hiding a column",
           "SELECT email -- */, passport_number\nFROM customers.profiles", SAFE),
    Attack("block comment inside name", "SELECT * FROM customers./**/profiles", SAFE),
    # -- quoting and case variants of product names
    Attack("upper-case product", "SELECT * FROM CUSTOMERS.PROFILES", SAFE),
    Attack("quoted product", 'SELECT * FROM "customers"."profiles"', SAFE),
    Attack("quoted mixed case denied column",
           'SELECT "PASSPORT_NUMBER" FROM "Customers"."Profiles"', DENY),
    Attack("dotted quoted name", 'SELECT * FROM "customers.profiles"', REJECT),
    Attack("homoglyph product name", "SELECT * FROM customers.prоfiles", REJECT),
    # -- CTE shadowing and the internal alias
    Attack("CTE named like the product",
           "WITH profiles AS (SELECT * FROM customers.profiles) SELECT * FROM profiles", SAFE),
    Attack("CTE named like a domain",
           "WITH customers AS (SELECT 1 AS x) SELECT * FROM customers.profiles", SAFE),
    Attack("internal alias reaching a denied column",
           "SELECT duckmesh_src.passport_number FROM customers.profiles", DENY),
    Attack("internal alias reaching a raw masked column",
           "SELECT duckmesh_src.email FROM customers.profiles", REJECT),
    Attack("CTE shadowing duckmesh's own scan name",
           "WITH duckmesh_scan_customers__profiles AS (SELECT 1 AS email) "
           "SELECT email FROM customers.profiles", REJECT),
    Attack("internal alias reused by the caller",
           "SELECT duckmesh_src.* FROM customers.profiles AS duckmesh_src", REJECT),
    # -- lateral and subquery reads
    Attack("scalar subquery of a masked column",
           "SELECT (SELECT max(email) FROM customers.profiles) AS e", SAFE),
    Attack("lateral over a product",
           "SELECT l.e FROM flights.schedule f, LATERAL (SELECT c.email AS e FROM "
           "customers.profiles c WHERE c.customer_id = f.flight_id) l", SAFE),
    Attack("denied column in EXISTS",
           "SELECT count(*) FROM bookings.reservations b WHERE EXISTS (SELECT 1 FROM "
           "payments.transactions p WHERE p.booking_id = b.booking_id AND "
           "p.card_number > '5')", DENY),
    Attack("denied column in a lateral",
           "SELECT * FROM bookings.reservations b, LATERAL (SELECT p.card_number FROM "
           "payments.transactions p WHERE p.booking_id = b.booking_id) l", DENY),
    # -- time travel
    Attack("AT VERSION", "SELECT * FROM customers.profiles AT (VERSION => 1)", REJECT),
    Attack("AT TIMESTAMP",
           "SELECT * FROM customers.profiles AT (TIMESTAMP => TIMESTAMP '2020-01-01')", REJECT),
    # -- whole-row casts, json, structs
    Attack("whole row to json", "SELECT to_json(c) FROM customers.profiles c", REJECT),
    # -- lists, structs and maps: field access, UNNEST and list functions see only what the
    # secured relation holds
    Attack("unnest of a denied column", "SELECT unnest([card_number]) FROM payments.transactions",
           DENY),
    Attack("field access on a denied column",
           "SELECT card_number.x FROM payments.transactions", DENY),
    Attack("unnest in FROM over a denied column",
           "SELECT x FROM payments.transactions p, unnest([p.card_number]) u(x)", DENY),
    Attack("unnest of a subquery reading a denied column",
           "SELECT x FROM unnest((SELECT list(card_number) FROM payments.transactions)) t(x)",
           DENY),
    Attack("unnest alias named like a denied column",
           "SELECT u.card_number FROM payments.transactions, unnest([1]) AS u(card_number)",
           SAFE),
    Attack("struct star of a masked column", "SELECT email.* FROM customers.profiles",
           "error-clean"),
    Attack("list of a masked column", "SELECT to_json(list(email)) FROM customers.profiles",
           SAFE),
    Attack("map literal of a denied column",
           "SELECT map_keys(MAP {card_number: 1}) FROM payments.transactions", DENY),
    Attack("method call on a function that is not allowed",
           "SELECT email.current_setting() FROM customers.profiles", REJECT),
    Attack("whole row cast", "SELECT CAST(c AS VARCHAR) FROM customers.profiles c", REJECT),
    Attack("struct_pack star", "SELECT struct_pack(*) FROM customers.profiles", REJECT),
    Attack("struct literal", "SELECT {'p': passport_number} FROM customers.profiles", DENY),
    Attack("row of star", "SELECT row(c.*) FROM customers.profiles c", REJECT),
    Attack("columns regex", "SELECT COLUMNS('pass.*') FROM customers.profiles", REJECT),
    Attack("star replace", "SELECT * REPLACE (email AS phone) FROM customers.profiles", SAFE),
    # -- value leaks through errors (as admin, who may see raw values: errors must not)
    Attack("cast error echo", "SELECT CAST(email AS INTEGER) FROM customers.profiles",
           SAFE, user="adam"),
    Attack("strptime error echo", "SELECT strptime(email, '%Y-%m-%d') FROM customers.profiles",
           "error-clean", user="adam"),
    Attack("date cast echo", "SELECT email::DATE FROM customers.profiles", SAFE, user="adam"),
    Attack("error()", "SELECT error(email) FROM customers.profiles", REJECT, user="adam"),
    Attack("regex error", "SELECT regexp_matches(email, '(') FROM customers.profiles",
           "error-clean", user="adam"),
    # -- hashing a guess, predicates that try to see filtered rows
    Attack("sha256 of a guess",
           "SELECT count(*) AS n FROM customers.profiles WHERE email = sha256(email) OR "
           "email = left(sha256('customer1@mail.example'), 32)", "zero"),
    Attack("md5 of a guess",
           "SELECT count(*) AS n FROM customers.profiles WHERE email = md5('customer2@inbox"
           ".example')", "zero"),
    Attack("other regions by predicate",
           "SELECT count(*) AS n FROM customers.profiles WHERE region <> 'EU'", "zero"),
    Attack("OR true does not widen the filter",
           "SELECT count(*) AS n FROM customers.profiles WHERE true OR region = 'NA'",
           "eu-only"),
    Attack("distinct regions", "SELECT DISTINCT region FROM customers.profiles", "eu-only"),
]


def run(user: str, sql: str, demo_root: Path) -> Result:
    return CliRunner().invoke(cli, ["--mesh", str(demo_root), "query", "--user", user,
                                    "--format", "json", sql])


def test_attack_list_is_broad() -> None:
    assert len({a.sql for a in ATTACKS}) >= 40


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda a: a.name.replace(" ", "_"))
def test_attack(attack: Attack, demo_root: Path, raw_secrets: frozenset[str],
                non_eu_customer_emails: frozenset[str]) -> None:
    result = run(attack.user, attack.sql, demo_root)
    everything = result.stdout + result.stderr + repr(result.exception)
    if attack.user == "adam":
        # adam may read raw values, so only what failed must be clean.
        if result.exit_code != 0:
            assert not leaked(result.stderr, raw_secrets)
        assert "duckmesh_src" not in result.stderr and "read_parquet" not in result.stderr.lower()
    else:
        assert not leaked(everything, raw_secrets)
    assert "Traceback" not in result.stderr
    if attack.expect == REJECT:
        assert result.exit_code == 1, result.stdout
        assert result.stderr.startswith("duckmesh: error: ")
        assert result.stderr.count("\n") == 1
    elif attack.expect == DENY:
        assert result.exit_code == 3, result.stdout
        assert "denied" in result.stderr
    elif attack.expect == "error-clean":
        assert result.exit_code == 1
        assert str(demo_root) not in result.stderr
    else:
        assert result.exit_code == 0, result.stderr
        rows = json.loads(result.stdout)
        if attack.expect == "zero":
            assert rows == [{"n": 0}]
        elif attack.expect == "eu-only":
            if "n" in rows[0]:
                eu = run("ana", "SELECT count(*) AS n FROM customers.profiles WHERE region = 'EU'",
                         demo_root)
                assert rows == json.loads(eu.stdout)
            else:
                assert rows == [{"region": "EU"}]
        if attack.user == "ana":
            assert not leaked(result.stdout, non_eu_customer_emails)


def test_masked_value_is_the_keyed_hash_not_a_plain_one(demo_root: Path) -> None:
    """A hash the caller can compute (sha256, md5) never equals the mask."""
    import hashlib

    admin = json.loads(run("adam", "SELECT email FROM customers.profiles WHERE region = 'EU' "
                                   "ORDER BY customer_id LIMIT 1", demo_root).stdout)
    analyst = json.loads(run("ana", "SELECT email FROM customers.profiles "
                                    "ORDER BY customer_id LIMIT 1", demo_root).stdout)
    raw, masked = admin[0]["email"], analyst[0]["email"]
    key = (demo_root / ".duckmesh/secret").read_bytes().strip()
    assert masked == reference_hash(key, raw)
    assert masked not in (hashlib.sha256(raw.encode()).hexdigest()[:32],
                          hashlib.md5(raw.encode()).hexdigest())
    assert masked != reference_hash(b"another-mesh", raw)


def test_explain_never_shows_the_mask_key(demo_root: Path) -> None:
    key = (demo_root / ".duckmesh/secret").read_text().strip()
    result = CliRunner().invoke(cli, ["--mesh", str(demo_root), "explain", "--user", "ana",
                                      "SELECT email FROM customers.profiles"])
    assert result.exit_code == 0
    assert key not in result.stdout and "$duckmesh_mask_ipad" in result.stdout
    as_json = CliRunner().invoke(cli, ["--mesh", str(demo_root), "explain", "--user", "ana",
                                       "--format", "json", "SELECT email FROM customers.profiles"])
    assert key not in as_json.stdout

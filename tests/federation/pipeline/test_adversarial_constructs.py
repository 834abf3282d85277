"""Adversarial queries for the constructs issue 15 allowed: each tries to use the new
construct to get around governance (a hidden column, a masked value in clear, rows a row
filter removes, a file, an error that quotes what it should not) and must fail to.

ana (analyst, region EU) reads customers.profiles with names, emails, phones and birth
dates masked, passport_number hidden, and only EU rows; payments.transactions without
card_number.  sam reads customers.profiles only.  Every case runs through the real CLI
and is checked against raw values read from the files (``raw_secrets``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from federation.cli import cli
from tests.conftest import leaked

REJECT = "reject"  # exit 1, one clear line: the allow-list refuses it
DENY = "deny"  # exit 3: governance refuses it
SAFE = "safe"  # runs, nothing raw comes out
CLEAN = "error-clean"  # exit 1, and the error names nothing it must not
EU = "eu-only"  # runs; every region in the result is EU (or NULL, a subtotal)
SAFE_OR_REFUSED = "safe-or-refused"


@dataclass(frozen=True)
class Attack:
    name: str
    sql: str
    expect: str
    user: str = "ana"
    absent: tuple[str, ...] = ()
    """Words that must not appear in stdout or stderr (hidden columns, products)."""


ATTACKS = [
    # -- UNNEST of lists and structs holding masked or hidden columns
    Attack("unnest list of masked", "SELECT unnest([email, full_name]) AS v FROM "
           "customers.profiles", SAFE),
    Attack("unnest struct of masked", "SELECT unnest({'e': email, 'p': phone}) FROM "
           "customers.profiles", SAFE),
    Attack("unnest list of hidden", "SELECT unnest([passport_number]) FROM customers.profiles",
           DENY),
    Attack("unnest in FROM over hidden", "SELECT u.x FROM customers.profiles c, "
           "unnest([c.passport_number]) AS u(x)", DENY),
    Attack("lateral unnest of hidden", "SELECT u.x FROM customers.profiles c, LATERAL "
           "unnest([c.passport_number]) AS u(x)", DENY),
    Attack("lateral unnest of masked", "SELECT u.x FROM customers.profiles c, LATERAL "
           "unnest([c.email]) AS u(x)", SAFE),
    Attack("unnest of a subquery list of hidden", "SELECT * FROM unnest((SELECT "
           "list(passport_number) FROM customers.profiles))", DENY),
    Attack("unnest of a subquery list of masked", "SELECT * FROM unnest((SELECT list(email) "
           "FROM customers.profiles))", SAFE),
    Attack("unnest recursive of a struct of masked", "SELECT unnest({'a': {'b': email}}, "
           "recursive := true) FROM customers.profiles", SAFE),
    # -- PIVOT / UNPIVOT
    Attack("pivot on a hidden column", "PIVOT customers.profiles ON passport_number USING "
           "count(*)", DENY),
    Attack("pivot using a hidden column", "PIVOT payments.transactions ON card_brand USING "
           "max(card_number)", DENY),
    Attack("pivot grouped by a hidden column", "PIVOT customers.profiles ON region USING "
           "count(*) GROUP BY passport_number", DENY),
    Attack("pivot on a masked column: names are masked", "PIVOT customers.profiles ON email "
           "USING count(*) GROUP BY loyalty_tier", REJECT),
    Attack("pivot on a masked column with values", "PIVOT customers.profiles ON email IN "
           "('customer1@mail.example') USING count(*) GROUP BY loyalty_tier", SAFE),
    Attack("pivot of masked columns from the data", "PIVOT customers.profiles ON loyalty_tier "
           "USING count(*)", REJECT),
    Attack("pivot on the row-filter column", "PIVOT customers.profiles ON region USING "
           "count(*) GROUP BY loyalty_tier", SAFE, absent=("NA", "APAC", "LATAM")),
    Attack("unpivot masked columns", "UNPIVOT customers.profiles ON full_name, email INTO NAME "
           "k VALUE v", SAFE),
    Attack("unpivot a hidden column", "UNPIVOT customers.profiles ON passport_number, email "
           "INTO NAME k VALUE v", DENY),
    Attack("pivot of a join (unqualified columns)", "PIVOT (SELECT c.email, p.status FROM "
           "customers.profiles c JOIN payments.transactions p USING (customer_id)) ON status "
           "USING count(*)", REJECT),
    Attack("pivot of a file", "PIVOT (SELECT * FROM read_parquet('data/x.parquet')) ON a "
           "USING count(*)", REJECT),
    Attack("standard pivot on a hidden column", "SELECT * FROM customers.profiles PIVOT "
           "(count(*) FOR passport_number IN ('x'))", DENY),
    Attack("standard pivot keeps the row filter", "SELECT * FROM customers.profiles PIVOT "
           "(count(*) FOR region IN ('EU', 'NA') GROUP BY loyalty_tier)", SAFE),
    Attack("standard unpivot of a hidden column", "SELECT * FROM customers.profiles UNPIVOT "
           "(v FOR k IN (email, passport_number))", DENY),
    Attack("standard unpivot with an option it would lose", "SELECT * FROM customers.profiles "
           "UNPIVOT INCLUDE NULLS (v FOR k IN (email, phone))", REJECT),
    Attack("standard pivot inside a bigger query", "SELECT region FROM customers.profiles "
           "PIVOT (count(*) FOR passport_number IN ('x'))", REJECT),
    Attack("pivot using a subquery of hidden", "PIVOT customers.profiles ON region USING "
           "max((SELECT max(passport_number) FROM customers.profiles)) GROUP BY loyalty_tier",
           REJECT),
    Attack("pivot grouped by a subquery", "PIVOT customers.profiles ON region USING count(*) "
           "GROUP BY (SELECT 1 FROM payments.transactions LIMIT 1)", REJECT),
    Attack("pivot inside a query", "SELECT * FROM (PIVOT customers.profiles ON region USING "
           "count(*))", REJECT),
    # -- ROLLUP, CUBE, GROUPING SETS
    Attack("rollup of a hidden column", "SELECT passport_number, count(*) FROM "
           "customers.profiles GROUP BY ROLLUP (passport_number)", DENY),
    Attack("cube keeps the row filter", "SELECT region, loyalty_tier, count(*) FROM "
           "customers.profiles GROUP BY CUBE (region, loyalty_tier)", EU),
    Attack("grouping sets of a hidden column", "SELECT count(*) FROM customers.profiles GROUP "
           "BY GROUPING SETS ((region), (passport_number))", DENY),
    Attack("grouping sets of a masked column", "SELECT email, count(*) FROM "
           "customers.profiles GROUP BY GROUPING SETS ((email), ())", SAFE),
    # -- lists, structs, maps, lambdas
    Attack("map literal keyed by masked", "SELECT MAP {email: 1} AS m FROM customers.profiles",
           SAFE),
    Attack("struct_pack of hidden", "SELECT struct_pack(p := passport_number) FROM "
           "customers.profiles", DENY),
    Attack("lambda reading a hidden column", "SELECT list_transform([1], lambda x: "
           "passport_number) FROM customers.profiles", DENY),
    Attack("lambda parameter named like a hidden column", "SELECT list_transform([1, 2], "
           "lambda passport_number: passport_number + 1) AS l FROM customers.profiles",
           SAFE_OR_REFUSED),
    Attack("list comprehension over masked", "SELECT [x FOR x IN [email, phone]] AS l FROM "
           "customers.profiles", SAFE),
    Attack("list aggregate of masked", "SELECT list(email) AS l FROM customers.profiles", SAFE),
    # -- ordered-set aggregates
    Attack("within group over a hidden column", "SELECT percentile_disc(0.5) WITHIN GROUP "
           "(ORDER BY passport_number) FROM customers.profiles", DENY),
    Attack("within group over a masked column", "SELECT mode() WITHIN GROUP (ORDER BY email) "
           "AS m FROM customers.profiles", SAFE),
    # -- ASOF and POSITIONAL joins keep row filters on both sides
    Attack("asof join keeps the row filter", "SELECT DISTINCT c.region FROM customers.profiles "
           "c ASOF JOIN bookings.reservations r ON c.customer_id = r.customer_id AND "
           "c.signup_date <= r.booked_at", EU),
    Attack("asof join from the other side", "SELECT DISTINCT c.region FROM "
           "bookings.reservations r ASOF JOIN customers.profiles c ON c.customer_id = "
           "r.customer_id AND r.booked_at >= c.signup_date", EU),
    Attack("positional join keeps the row filter", "SELECT DISTINCT b.region FROM "
           "flights.schedule a POSITIONAL JOIN customers.profiles b", EU),
    Attack("positional join of two filtered sides", "SELECT DISTINCT a.region AS region, "
           "b.region AS r2 FROM customers.profiles a POSITIONAL JOIN customers.profiles b",
           EU),
    Attack("positional join to a hidden column", "SELECT b.passport_number FROM "
           "flights.schedule a POSITIONAL JOIN customers.profiles b", DENY),
    # -- table functions that read no data
    Attack("range over a subquery", "SELECT * FROM range((SELECT count(*) FROM "
           "customers.profiles))", REJECT),
    Attack("generate_series over a column", "SELECT * FROM customers.profiles c, "
           "generate_series(1, c.customer_id)", REJECT),
    Attack("read_csv beside range", "SELECT * FROM range(3), read_csv('/etc/passwd')", REJECT),
    Attack("glob as a table function", "SELECT * FROM glob('*')", REJECT),
    Attack("range column named like a hidden one", "SELECT * FROM generate_series(1, 3) AS "
           "t(passport_number)", SAFE),
    Attack("range beside a lateral read of hidden", "SELECT * FROM range(3) r, LATERAL "
           "(SELECT passport_number FROM customers.profiles) x", DENY),
    # -- WITH RECURSIVE
    Attack("recursive CTE reading a hidden column", "WITH RECURSIVE r(p, n) AS (SELECT "
           "passport_number, 0 FROM customers.profiles UNION ALL SELECT p, n + 1 FROM r WHERE "
           "n < 1) SELECT * FROM r", DENY),
    Attack("recursive CTE keeps the row filter", "WITH RECURSIVE r(region, n) AS (SELECT "
           "region, 0 FROM customers.profiles UNION ALL SELECT region, n + 1 FROM r WHERE "
           "n < 2) SELECT DISTINCT region FROM r", EU),
    Attack("recursion without end", "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 "
           "FROM t) SELECT count(*) FROM t", CLEAN),
    Attack("forging the depth counter", "WITH RECURSIVE t(n, duckmesh_depth) AS (SELECT 1, "
           "-1000000000 UNION ALL SELECT n + 1, duckmesh_depth - 1 FROM t) SELECT count(*) "
           "FROM t", REJECT),
    Attack("recursion by UNION", "WITH RECURSIVE t(n) AS (SELECT 1 UNION SELECT n + 1 FROM t "
           "WHERE n < 5) SELECT count(*) FROM t", REJECT),
    Attack("recursion in a subquery", "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 "
           "FROM t WHERE n < (SELECT max(n) FROM t)) SELECT count(*) FROM t", REJECT),
    # -- COLUMNS()
    Attack("columns regex for a hidden column", "SELECT COLUMNS('pass.*') FROM "
           "customers.profiles", REJECT),
    Attack("columns star skips hidden columns", "SELECT COLUMNS(*) FROM customers.profiles",
           SAFE, absent=("passport_number",)),
    Attack("columns over a join skips hidden columns", "SELECT COLUMNS('.*') FROM "
           "customers.profiles c JOIN payments.transactions p USING (customer_id)", SAFE,
           absent=("card_number", "passport_number")),
    Attack("columns in an aggregate over hidden", "SELECT max(COLUMNS('.*_number')) FROM "
           "customers.profiles", REJECT),
    Attack("columns over a subquery", "SELECT COLUMNS('email') FROM (SELECT * FROM "
           "customers.profiles)", REJECT),
    Attack("columns in WHERE", "SELECT count(*) FROM customers.profiles WHERE "
           "COLUMNS('pass.*') IS NOT NULL", REJECT),
    Attack("columns with a lambda", "SELECT COLUMNS(lambda c: c LIKE 'pass%') FROM "
           "customers.profiles", REJECT),
    # -- samples cannot change row filters
    Attack("sample of all rows keeps the row filter", "SELECT DISTINCT region FROM "
           "customers.profiles USING SAMPLE 100%", EU),
    Attack("tablesample keeps the row filter", "SELECT DISTINCT region FROM "
           "customers.profiles TABLESAMPLE 100%", EU),
    Attack("sample with a subquery size", "SELECT * FROM customers.profiles USING SAMPLE "
           "(SELECT 5) ROWS", REJECT),
    # -- JSON constructors
    Attack("to_json of a whole row", "SELECT to_json(c) FROM customers.profiles c", REJECT),
    Attack("json_object of hidden", "SELECT json_object('p', passport_number) FROM "
           "customers.profiles", DENY),
    Attack("json_group_array of masked", "SELECT json_group_array(email) AS j FROM "
           "customers.profiles", SAFE),
    # -- date/time and string/regex families on masked and hidden columns
    Attack("regex over hidden", "SELECT regexp_extract(passport_number, '.') FROM "
           "customers.profiles", DENY),
    Attack("regex guessing a masked value", "SELECT count(*) AS n FROM customers.profiles "
           "WHERE regexp_matches(email, 'customer1@')", SAFE),
    Attack("date function on a masked date", "SELECT strftime(birth_date, '%Y') FROM "
           "customers.profiles", CLEAN),
    # -- DESCRIBE, SUMMARIZE, SHOW TABLES
    Attack("describe lists visible columns only", "DESCRIBE customers.profiles", SAFE,
           absent=("passport_number",)),
    Attack("describe a hidden column", "DESCRIBE SELECT passport_number FROM "
           "customers.profiles", DENY),
    Attack("summarize never shows masked values in clear", "SUMMARIZE customers.profiles",
           SAFE, absent=("passport_number",)),
    Attack("summarize a hidden column", "SUMMARIZE SELECT passport_number FROM "
           "customers.profiles", DENY),
    Attack("summarize a file", "SUMMARIZE 'data/customers/profiles/region=NA/data_0.parquet'",
           REJECT),
    Attack("describe a table function", "DESCRIBE read_parquet('data/x.parquet')", REJECT),
    Attack("describe inside a query", "SELECT * FROM (DESCRIBE customers.profiles)", REJECT),
    Attack("show all tables", "SHOW ALL TABLES", REJECT),
    Attack("show a product's columns", "SHOW customers.profiles", SAFE,
           absent=("passport_number",)),
    Attack("show a file", "SHOW 'data/customers/profiles/region=NA/data_0.parquet'", REJECT),
    Attack("show tables of a domain the caller cannot read", "SHOW TABLES FROM payments", SAFE,
           user="sam", absent=("transactions",)),
    Attack("show tables from a file", "SHOW TABLES FROM 'x.parquet'", REJECT),
    Attack("show tables lists only readable products", "SHOW TABLES", SAFE, user="sam",
           absent=("payments", "bookings", "flights", "marketing")),
    # -- errors never leak hidden columns, unreadable products, values or paths
    Attack("typo near a hidden column", "SELECT passport_numbr FROM customers.profiles", CLEAN,
           absent=("passport_number",)),
    Attack("typo of a product the caller cannot read", "SELECT * FROM payments.transaction",
           CLEAN, user="sam", absent=("payments.transactions",)),
    Attack("one-part typo of a product the caller cannot read", "SELECT * FROM transactions",
           CLEAN, user="sam", absent=("payments.transactions",)),
    Attack("type error on a masked column", "SELECT sum(email) FROM customers.profiles", CLEAN),
    Attack("type error as admin quotes no value", "SELECT email + 1 FROM customers.profiles",
           CLEAN, user="adam"),
    Attack("strptime error on a masked value", "SELECT strptime(email, '%Y-%m-%d') FROM "
           "customers.profiles", CLEAN),
    Attack("conversion error on a masked value", "SELECT email::INTEGER + 1 AS x FROM "
           "customers.profiles", SAFE),
    Attack("function typo", "SELECT sume(customer_id) FROM customers.profiles", REJECT),
    # -- dollar-quoted strings are literals, never SQL
    Attack("dollar string holding a query", "SELECT $t$' UNION SELECT passport_number FROM "
           "customers.profiles --$t$ AS s FROM customers.profiles", SAFE),
    Attack("dollar string as a column name", "SELECT count(*) AS n FROM customers.profiles "
           "WHERE $$passport_number$$ IS NOT NULL", SAFE),
    Attack("dollar string closing early", "SELECT $$a$$ || passport_number || $$b$$ AS s FROM "
           "customers.profiles", DENY),
    # -- AT TIME ZONE over masked and hidden columns, a zone taken from a masked value
    Attack("at time zone of a hidden column", "SELECT passport_number AT TIME ZONE 'UTC' "
           "FROM customers.profiles", DENY),
    Attack("at time zone named by a hidden column", "SELECT signup_date::TIMESTAMP AT TIME "
           "ZONE passport_number FROM customers.profiles", DENY),
    Attack("at time zone of a masked date", "SELECT birth_date::TIMESTAMP AT TIME ZONE "
           "'America/New_York' AS t FROM customers.profiles", SAFE_OR_REFUSED),
    Attack("at time zone named by a masked value", "SELECT TIMESTAMP '2024-01-01' AT TIME "
           "ZONE email AS t FROM customers.profiles", CLEAN),
    Attack("at time zone keeps the row filter", "SELECT DISTINCT region, signup_date::"
           "TIMESTAMP AT TIME ZONE 'Asia/Kolkata' IS NOT NULL AS k FROM customers.profiles",
           EU),
    # -- LIKE … ESCAPE
    Attack("like escape over a hidden column", "SELECT count(*) FROM customers.profiles "
           "WHERE passport_number LIKE 'X!_%' ESCAPE '!'", DENY),
    Attack("like escape guessing a masked value", "SELECT count(*) AS n FROM "
           "customers.profiles WHERE email NOT ILIKE '%!_%' ESCAPE '!'", SAFE),
    Attack("escape that is a column", "SELECT count(*) FROM customers.profiles WHERE email "
           "LIKE 'a' ESCAPE passport_number", REJECT),
    Attack("escape of two characters", "SELECT count(*) FROM customers.profiles WHERE email "
           "LIKE 'a' ESCAPE 'ab'", CLEAN),
    Attack("similar to with escape", "SELECT count(*) FROM customers.profiles WHERE email "
           "SIMILAR TO 'a' ESCAPE '!'", REJECT),
    # -- COLLATE
    Attack("collate a hidden column", "SELECT passport_number COLLATE nocase FROM "
           "customers.profiles", DENY),
    Attack("order by a hidden column collated", "SELECT email FROM customers.profiles ORDER "
           "BY passport_number COLLATE noaccent.nocase", DENY),
    Attack("collation named like a hidden column", "SELECT email COLLATE passport_number "
           "FROM customers.profiles", REJECT),
    Attack("collation as a qualified hidden column", "SELECT c.email FROM customers.profiles "
           "c ORDER BY c.email COLLATE c.passport_number", REJECT),
    Attack("collate a masked column", "SELECT count(*) AS n FROM customers.profiles WHERE "
           "email COLLATE nocase = 'CUSTOMER1@MAIL.EXAMPLE'", SAFE),
    Attack("ICU collation", "SELECT email COLLATE de FROM customers.profiles", REJECT),
    # -- E'' escape strings are literals, never SQL
    Attack("escape string holding a query", "SELECT E'\\'; SELECT passport_number FROM "
           "customers.profiles --' AS s", SAFE),
    Attack("escape string closing early", "SELECT count(*) FROM customers.profiles WHERE "
           "region = E'EU\\' OR region <> \\'x'", SAFE),
    Attack("escape string hex quote", "SELECT E'\\x27) UNION SELECT passport_number FROM "
           "customers.profiles --' AS s", SAFE),
    Attack("escape string as a file", "SELECT * FROM E'data/customers/profiles/x.parquet'",
           REJECT),
    Attack("escape string invalid utf-8", "SELECT E'\\xff' AS s", REJECT),
    # -- <-> and <@
    Attack("distance over hidden", "SELECT [len(passport_number)] <-> [1] FROM "
           "customers.profiles", DENY),
    Attack("contained by over masked", "SELECT [email] <@ [email, phone] AS c FROM "
           "customers.profiles", SAFE),
    Attack("contained by next to arithmetic", "SELECT [email] <@ [email] || [phone] AS c FROM "
           "customers.profiles", REJECT),
    Attack("postfix factorial", "SELECT customer_id! FROM customers.profiles", REJECT),
]


def run(user: str, sql: str, root: Path) -> Result:
    return CliRunner().invoke(cli, ["--mesh", str(root), "query", "--user", user,
                                    "--format", "json", sql])


def test_every_construct_has_an_attack() -> None:
    text = " ".join(a.sql.upper() for a in ATTACKS)
    for construct in ("UNNEST", "PIVOT", "UNPIVOT", "ROLLUP", "CUBE", "GROUPING SETS", "MAP",
                      "LAMBDA", "WITHIN GROUP", "ASOF", "POSITIONAL", "RANGE(",
                      "GENERATE_SERIES", "WITH RECURSIVE", "COLUMNS(", "USING SAMPLE",
                      "TABLESAMPLE", "JSON_OBJECT", "TO_JSON", "STRFTIME", "REGEXP",
                      "DESCRIBE", "SUMMARIZE", "SHOW TABLES", "$$", "AT TIME ZONE",
                      "ESCAPE", "ILIKE", "COLLATE", "E'", "<->", "<@", "!"):
        assert construct in text, construct


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda a: a.name.replace(" ", "_"))
def test_attack(attack: Attack, demo_root: Path, raw_secrets: frozenset[str]) -> None:
    result = run(attack.user, attack.sql, demo_root)
    everything = result.stdout + result.stderr + repr(result.exception)
    assert "Traceback" not in result.stderr
    if attack.user != "adam" or result.exit_code != 0:
        assert not leaked(result.stderr if attack.user == "adam" else everything, raw_secrets)
    assert str(demo_root) not in result.stderr and "duckmesh_src" not in result.stderr
    for word in attack.absent:
        assert word not in result.stdout and word not in result.stderr, word
    if attack.expect == REJECT:
        assert result.exit_code == 1, result.stdout
        assert result.stderr.startswith("duckmesh: error: ")
    elif attack.expect == DENY:
        assert result.exit_code == 3, (result.stdout, result.stderr)
        assert "denied" in result.stderr
    elif attack.expect == CLEAN:
        assert result.exit_code == 1, result.stdout
        assert result.stderr.count("\n") == 1
        assert not re.search(r"[0-9a-f]{32}", result.stderr)  # no masked value either
    elif attack.expect == SAFE_OR_REFUSED:
        assert result.exit_code in (0, 1), result.stderr
    else:
        assert result.exit_code == 0, result.stderr
        rows = json.loads(result.stdout)
        if attack.expect == EU:
            regions = {r.get(k) for r in rows for k in ("region", "r2") if k in r}
            assert regions <= {"EU", None} and "EU" in regions


def test_summarize_counts_only_the_rows_the_caller_may_read(demo_root: Path) -> None:
    summary = json.loads(run("ana", "SUMMARIZE customers.profiles", demo_root).stdout)
    eu = json.loads(run("ana", "SELECT count(*) AS n FROM customers.profiles", demo_root).stdout)
    assert {r["count"] for r in summary} == {eu[0]["n"]}
    assert "passport_number" not in {r["column_name"] for r in summary}


def test_describe_shows_the_masked_type(demo_root: Path) -> None:
    ana = {r["column_name"]: r["column_type"]
           for r in json.loads(run("ana", "DESCRIBE customers.profiles", demo_root).stdout)}
    adam = {r["column_name"]: r["column_type"]
            for r in json.loads(run("adam", "DESCRIBE customers.profiles", demo_root).stdout)}
    assert adam["birth_date"] == "DATE" and ana["birth_date"] == "VARCHAR"  # hashed
    assert "passport_number" in adam and "passport_number" not in ana


def test_did_you_mean_suggests_only_what_the_caller_sees(demo_root: Path) -> None:
    column = run("ana", "SELECT r.fare_amout FROM bookings.reservations r", demo_root)
    assert "column fare_amout not found in bookings.reservations; did you mean " \
        "fare_amount?" in column.stderr
    product = run("ana", "SELECT * FROM customer.profile", demo_root)
    assert "did you mean customers.profiles?" in product.stderr
    function = run("ana", "SELECT sume(fare_amount) FROM bookings.reservations", demo_root)
    assert "did you mean sum()?" in function.stderr
    hidden = run("ana", "SELECT passport_numbr FROM customers.profiles", demo_root)
    assert "did you mean" not in hidden.stderr
    cte = run("ana", "WITH c AS (SELECT fare_amount FROM bookings.reservations) "
                     "SELECT c.fare_amout FROM c", demo_root)
    assert "column fare_amout not found in c; did you mean fare_amount?" in cte.stderr


def test_errors_in_duckdbs_words(demo_root: Path) -> None:
    typed = run("ana", "SELECT sum(channel) FROM bookings.reservations", demo_root)
    assert "sum() takes a number, channel is VARCHAR" in typed.stderr
    qualify = run("ana", "SELECT channel, count(*) FROM bookings.reservations GROUP BY ALL "
                         "QUALIFY count(*) > 1", demo_root)
    assert "DuckDB does not support QUALIFY with GROUP BY ALL" in qualify.stderr
    unnest = run("ana", "SELECT * FROM customers.profiles WHERE unnest([1]) = 1", demo_root)
    assert "explode" not in unnest.stderr.lower()
    parse = run("ana", "SELECT channel,\n  count(*) FROM bookings.reservations WHERE AND 1",
                demo_root)
    lines = parse.stderr.splitlines()
    assert lines[0].startswith("duckmesh: error: could not parse the query at line 2")
    assert 'syntax error at or near "AND"' in lines[0]
    assert lines[1].strip().startswith("count(*) FROM") and lines[2].strip() == "^"
    assert lines[1].index("AND") == lines[2].index("^")


@pytest.mark.parametrize("predicate", [
    "COLUMNS('.*') IS NOT NULL",
    "region IN (WITH x AS (SELECT 'EU' AS r) SELECT r FROM x)",
    "region IN (SELECT region FROM customers.profiles USING SAMPLE 10%)",
])
def test_a_row_filter_cannot_use_what_only_the_callers_query_may(predicate: str) -> None:
    """COLUMNS() in a grant's row filter would be expanded by DuckDB over the raw columns
    below the masks (hidden ones included): the pipeline expands it only in queries."""
    import sqlglot

    from federation.errors import QueryRejected
    from federation.pipeline.allowlist import check_predicate

    with pytest.raises(QueryRejected):
        check_predicate(sqlglot.parse_one(predicate, read="duckdb"))

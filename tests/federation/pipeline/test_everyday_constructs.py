"""AT TIME ZONE, LIKE … ESCAPE, COLLATE, E'' strings, <-> and <@ against raw DuckDB as the
oracle: the same SQL text over the same file, in the same TimeZone, answers the same.
The attacks on them are in test_adversarial_constructs.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner
from sqlglot import exp

from federation import Mesh
from federation.cli import cli
from federation.errors import QueryRejected
from federation.pipeline.allowlist import check
from federation.pipeline.parse import parse
from federation.pipeline.spellings import COLLATIONS, decode_escape
from tests.lab import make_lab

ZONES = ("UTC", "America/New_York", "Asia/Kolkata")

# Strings with LIKE's wildcards, backslashes, quotes and accents, made from the data.
WORDS = ("WITH w AS (SELECT id, s.b || CASE id % 6 WHEN 0 THEN '_x' WHEN 1 THEN '%y' "
         "WHEN 2 THEN '\\z' WHEN 3 THEN 'Ábc' WHEN 4 THEN 'it''s' ELSE 'ABC' END AS v "
         "FROM lab.types) ")

TIME_ZONE_SQL = [
    "SELECT id, ts AT TIME ZONE 'America/New_York' AS a, tstz AT TIME ZONE "
    "'America/New_York' AS b, tstz AT TIME ZONE 'UTC' AS c, ts AT TIME ZONE 'Asia/Kolkata' "
    "AS d, timezone('America/New_York', ts) AS e FROM lab.types ORDER BY id",
    "SELECT count(*) AS n FROM lab.types WHERE (tstz AT TIME ZONE 'America/New_York')::DATE "
    "= DATE '2024-01-01'",
    "SELECT date_trunc('day', tstz AT TIME ZONE 'Asia/Kolkata') AS day, count(*) AS n "
    "FROM lab.types GROUP BY ALL ORDER BY day",
    "SELECT id, (ts AT TIME ZONE 'Europe/Madrid')::VARCHAR AS t, tstz AT TIME ZONE "
    "CASE WHEN id % 2 = 0 THEN 'UTC' ELSE 'Asia/Tokyo' END AS z FROM lab.types ORDER BY id",
]

ORACLE_SQL = [
    WORDS + "SELECT id, v, v LIKE '%!_x' ESCAPE '!' AS a, v LIKE '%\\%y' ESCAPE '\\' AS b, "
    "v NOT LIKE '%\\\\z' ESCAPE '\\' AS c, v ILIKE '%áBC' ESCAPE '!' AS d, "
    "v NOT ILIKE 'B1#%%' ESCAPE '#' AS e FROM w ORDER BY id",
    WORDS + "SELECT count(*) AS n FROM w WHERE v LIKE 'b1!_%' ESCAPE '!' OR v LIKE '%''s' "
    "ESCAPE '$'",
    WORDS + "SELECT id, v COLLATE nocase = 'B0ABC' AS a, v COLLATE noaccent.nocase = "
    "s_abc AS b, v COLLATE NOCASE LIKE 'b%' AS c FROM (SELECT *, 'b' || id || 'abc' AS "
    "s_abc FROM w) ORDER BY id",
    WORDS + "SELECT v FROM w ORDER BY v COLLATE nocase, id",
    WORDS + "SELECT v COLLATE noaccent AS k, count(*) AS n FROM w GROUP BY ALL ORDER BY k "
    "COLLATE nfc",
    "SELECT 'Á' COLLATE noaccent.nocase = 'a' AS a, 'a' COLLATE 'nocase' = 'A' AS b, "
    "'a' COLLATE \"NOCASE\" = 'A' AS c",
    "SELECT E'a\\nb' AS a, E'it\\'s' AS b, E'it''s' AS c, E'back\\\\slash' AS d, "
    "E'\\x41\\x7e' AS e, E'\\u00e9' AS f, E'\\t\\r\\b\\f' AS g, E'\\101\\1234' AS h, "
    "E'\\q\\x\\xg' AS i, E'caf\\xc3\\xa9 \\xF0\\x9F\\x98\\x80' AS j, e'é€' AS k, E'' AS l, "
    "E'\\'; SELECT 1 --' AS m, E'\\\\'' OR 1=1 --' AS n",
    "SELECT id, s.b || E'\\n' AS a, s.b LIKE E'b\\x31%' AS b FROM lab.types "
    "WHERE s.b <> E'\\'' ORDER BY id",
    # Unaliased: the column names are DuckDB's own too.
    "SELECT E'a\\nb', E'it''s', ts AT TIME ZONE 'UTC', s.b LIKE 'b!_' ESCAPE '!', "
    "s.b COLLATE nocase, l <-> [1, 2, 3], [id] <@ l FROM lab.types ORDER BY id LIMIT 3",
    "SELECT id, l <-> [1, 2, 3] AS d, [id] <@ l AS c, (l <-> l) * 2 AS e, "
    "[1] <@ l AND id > 2 AS f, NOT [id] <@ l AS g FROM lab.types ORDER BY id",
]


def _raw(root: Path, sql: str, zone: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = $zone", {"zone": zone})
        path = (root / "data/lab/types/part-0.parquet").as_posix().replace("'", "''")
        con.execute(f"CREATE VIEW lab_types AS SELECT * FROM read_parquet('{path}')")
        table = con.sql(sql.replace("lab.types", "lab_types")).arrow().read_all()
        return table.schema.names, [tuple(r.values()) for r in table.to_pylist()]
    finally:
        con.close()


def _governed(root: Path, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    table = Mesh.open(root).sql(sql, user="adam").arrow()
    return table.schema.names, [tuple(r.values()) for r in table.to_pylist()]


@pytest.fixture(scope="module")
def labs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("labs")
    return {zone: make_lab(base / zone.replace("/", "_"), timezone=zone) for zone in ZONES}


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize("sql", TIME_ZONE_SQL)
def test_at_time_zone_is_raw_duckdbs_answer_in_the_mesh_zone(labs: dict[str, Path],
                                                            zone: str, sql: str) -> None:
    assert _governed(labs[zone], sql) == _raw(labs[zone], sql, zone)


@pytest.mark.parametrize("zone", ZONES)
def test_at_time_zone_equals_timezone(labs: dict[str, Path], zone: str) -> None:
    names, rows = _governed(labs[zone], TIME_ZONE_SQL[0])
    assert names[1] == "a" and all(r[1] == r[5] for r in rows)  # a: AT TIME ZONE, e: timezone()
    assert len({r[1] for r in rows}) == len(rows)


@pytest.mark.parametrize("sql", ORACLE_SQL)
def test_like_escape_collate_escape_strings_and_list_operators(labs: dict[str, Path],
                                                               sql: str) -> None:
    root = labs["UTC"]
    assert _governed(root, sql) == _raw(root, sql, "UTC")


def test_the_collations_are_duckdbs_built_in_ones() -> None:
    con = duckdb.connect()
    try:
        listed = {r[0] for r in con.execute("SELECT * FROM pragma_collations()").fetchall()}
    finally:
        con.close()
    assert listed >= COLLATIONS


@pytest.mark.parametrize(("sql", "message"), [
    ("SELECT 'a' COLLATE de = 'A'", "unknown or unsupported collation 'de'"),
    ("SELECT 'a' COLLATE noaccent.icu_noaccent", "collation 'icu_noaccent'"),
    ("SELECT 'a' COLLATE x.y.z.w", "collation 'x'"),
    ("SELECT 'a' COLLATE 'nocase; DROP'", "collation 'nocase; DROP'"),
    ("SELECT 4!", "postfix factorial (n!) is not supported: write factorial(n)"),
    ("SELECT (2 + 2)! AS f", "factorial(n)"),
    ("SELECT E'\\xff'", "not valid UTF-8"),
    ("SELECT E'\\xe2\\x82'", "not valid UTF-8"),
    ("SELECT E'\\0'", "NUL"),
    ("SELECT E'a\\400'", "NUL"),
    ("SELECT [1, 2] <-> [3, 4] * 2", "parentheses around the <-> operator"),
    ("SELECT 1 + [1, 2] <-> [3, 4]", "<->"),
    ("SELECT [1] <@ [1] || [2]", "parentheses around the <@ operator"),
    ("SELECT [1, 2] <-> [3, 4] <-> [1]", "<->"),
    ("SELECT 'a' SIMILAR TO 'a' ESCAPE '!'", "ESCAPE except after LIKE"),
    ("SELECT 'a' GLOB 'a' ESCAPE '!'", "ESCAPE except after LIKE"),
    ("SELECT 'a' LIKE ANY ('a') ESCAPE '!'", "ESCAPE except after LIKE"),
])
def test_refused_in_one_line(sql: str, message: str) -> None:
    with pytest.raises(QueryRejected) as caught:
        check(parse(sql))
    assert message in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize("body", [
    "a\\nb", "it\\'s", "it''s", "\\\\", "\\x41\\x7e", "\\u00e9", "\\101\\1234", "\\q\\x\\xg",
    "caf\\xc3\\xa9", "é€😀", "\\t\\r\\b\\f", "\\x7F\\x01", "a\\\nb", "\\\\'' OR 1=1 --",
])
def test_escape_strings_decode_as_duckdb_decodes_them(body: str) -> None:
    con = duckdb.connect()
    try:
        expected = con.execute(f"SELECT E'{body}'").fetchone()
    finally:
        con.close()
    assert expected is not None
    assert decode_escape(body).decode("utf-8") == expected[0]
    literal = check(parse(f"SELECT E'{body}' AS x")).find(exp.Literal)
    assert literal is not None and literal.is_string and literal.this == expected[0]


def test_an_escape_string_is_an_ordinary_literal_in_the_generated_sql() -> None:
    tree = check(parse("SELECT E'\\'; DROP TABLE x; --' AS x, E'a\\nb' AS y"))
    assert tree.sql(dialect="duckdb") == "SELECT '''; DROP TABLE x; --' AS x, 'a\nb' AS y"


def test_a_collation_is_never_a_column() -> None:
    tree = check(parse("SELECT name FROM t ORDER BY name COLLATE noaccent.nocase"))
    assert [c.name for c in tree.find_all(exp.Column)] == ["name", "name"]
    collate = tree.find(exp.Collate)
    assert collate is not None and isinstance(collate.expression, exp.Var)


@pytest.mark.parametrize("where", [
    "email LIKE 'customer1%!_%' ESCAPE '!' OR email LIKE 'customer2%' ESCAPE '!'",
    "email NOT ILIKE 'CUSTOMER1%' ESCAPE '#'",
    "email COLLATE nocase LIKE 'CUSTOMER3%'",
    "(signup_date::TIMESTAMP AT TIME ZONE 'America/New_York')::DATE < DATE '2023-01-01'",
])
def test_on_a_masked_column_the_admin_matches_the_raw_rows_and_the_analyst_the_masked(
        demo_root: Path, where: str) -> None:
    """adam reads email in clear: his count is raw DuckDB's over the files.  ana reads it
    masked and only EU rows: her count is of masked values within EU rows, never a count
    over the stored emails."""
    sql = f"SELECT count(*) AS n FROM customers.profiles WHERE {where}"
    mesh = Mesh.open(demo_root)
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        profiles = (demo_root / "data/customers/profiles/**/*.parquet").as_posix()
        con.execute("CREATE TABLE p AS SELECT * FROM read_parquet($p, hive_partitioning = "
                    "true)", {"p": profiles})
        raw_all = con.execute(sql.replace("customers.profiles", "p")).fetchone()
        raw_eu = con.execute(sql.replace("customers.profiles", "p") +
                             " AND region = 'EU'").fetchone()
    finally:
        con.close()
    assert raw_all is not None and raw_eu is not None
    admin = mesh.sql(sql, user="adam").arrow().column(0)[0].as_py()
    analyst = mesh.sql(sql, user="ana").arrow().column(0)[0].as_py()
    assert admin == raw_all[0]
    if "email" in where:
        masked = mesh.sql("SELECT email FROM customers.profiles", user="ana").arrow()
        assert not any(str(e).lower().startswith("customer") for e in
                       masked.column(0).to_pylist())
        assert analyst == (0 if "NOT" not in where else masked.num_rows)
    else:
        assert analyst == raw_eu[0]  # signup_date is not masked: the row filter applies


@pytest.mark.parametrize(("sql", "params"), [
    ("SELECT $$a;b$$, $t$it's \\ $$ ? $1$t$ AS x, ? AS p", [5]),
    ("SELECT $$x FROM y$$, 1 + 1, $q$$q$ AS e", None),
])
def test_dollar_quoted_strings_are_the_strings_duckdb_reads(
        sql: str, params: list[int] | None, demo_root: Path) -> None:
    """Names and values as raw DuckDB gives them; a `?` inside one is no parameter."""
    got = Mesh.open(demo_root).sql(sql, user="adam", params=params).arrow()
    con = duckdb.connect()
    try:
        con.execute(sql, params)
        names, rows = [d[0] for d in con.description], con.fetchall()
    finally:
        con.close()
    assert got.column_names == names
    assert [tuple(r.values()) for r in got.to_pylist()] == rows


@pytest.mark.parametrize(("sql", "message"), [
    # A column named like a part: sqlglot wrote date_trunc('MONTH', …), DuckDB reads the
    # column (its value 'year'): the governed answer differed from the raw one.
    ("WITH t AS (SELECT 'year' AS month, signup_date FROM customers.profiles) "
     "SELECT date_trunc(month, signup_date) AS v FROM t",
     "date_trunc() takes the part as a string: write date_trunc('month', …)"),
    ("WITH t AS (SELECT 'year' AS \"day\", signup_date FROM customers.profiles) "
     "SELECT datediff(\"day\", signup_date, signup_date + 400) AS v FROM t",
     "datediff() takes the part as a string: write datediff('day', …)"),
    ("SELECT date_trunc(signup_date, 'month') AS v FROM customers.profiles",
     "date_trunc() takes the part first: write date_trunc('month', signup_date)"),
])
def test_a_bare_name_as_a_date_part_is_refused_not_reread(
        sql: str, message: str, demo_root: Path) -> None:
    result = CliRunner().invoke(cli, ["--mesh", str(demo_root), "query", "--user", "adam",
                                      "--format", "json", sql])
    assert result.exit_code == 1 and message in result.stderr, result.stderr

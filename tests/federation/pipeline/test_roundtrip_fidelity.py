"""sqlglot's parse → generate round trip keeps the meaning of the caller's DuckDB SQL.

DuckDB itself is the oracle: each query runs raw, and as the governed pipeline writes it
(``Mesh.govern(...).governed_sql``, what the engine runs), on one plain connection; the
two answers (values and column types) must be the same, or the governed path must
refuse the query in its own words.  Three sweeps:

- DuckDB's documented examples (``duckdb_functions().examples``) of every function the
  allow-list lets through, aggregates and windows over a small table;
- every signature of those functions (``parameter_types``) called with values of its
  types, then with one argument NULL, negative numbers and strings with quotes and
  backslashes (slow: about 3,500 queries);
- shapes sqlglot is known to special-case (corpus/roundtrip_shapes.txt): bare names where
  a part or unit is expected, operators, slices, casts with precision, intervals,
  lambdas, literals of lists, structs and maps, regexp flags, date formats...

Two kinds of difference are not wrong answers and are counted apart: the documented
``CAST`` → ``TRY_CAST`` of the rewrite (docs/security.md: a conversion error must not tell
about rows the caller may not see), and queries DuckDB refuses that sqlglot's tree
answers anyway (:data:`ACCEPTED_BEYOND_DUCKDB`, each listed so a new one is noticed).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pytest

from federation import Mesh
from federation.errors import DuckmeshError, QueryRejected
from federation.pipeline.functions import ALLOWED

SHAPES = Path(__file__).parent / "corpus" / "roundtrip_shapes.txt"
USER = "adam"  # admin: no product is read, so no mask or filter shapes the answer

# Names a bare column could be confused with (parts, units), and values of every kind.
TABLE = (
    "WITH t AS (SELECT 'year' AS month, 'day' AS year, 'hour' AS day, 'minute' AS hour, "
    "'second' AS minute, 'quarter' AS second, 'week' AS week, 'dow' AS dow, "
    "TIMESTAMP '2024-02-29 13:14:15.123456' AS ts, TIMESTAMP '2023-01-15 01:02:03' AS ts2, "
    "DATE '2024-02-29' AS d, 'it''s \\ %x_' AS s, 7 AS n, -7 AS neg, 2.5 AS x, "
    "[1, 2, 3] AS l, {'a': 1, 'b': 'two'} AS st, MAP {'k': 1} AS m, "
    "'{\"a\": [1, {\"b\": 2}]}'::JSON AS j, '%Y' AS fmt, 'i' AS flags, 'UTC' AS tz, "
    "'milliseconds' AS ms, 'Abc' AS pat) ")

# The columns DuckDB's aggregate and window examples name (A, B, x, y, event, points...).
EXAMPLE_TABLES = [
    "WITH t AS (SELECT * FROM (VALUES (1, 10, 1.5, 2.0, 'ann', 'e1', 3, 'c1', 1, "
    "DATE '2024-01-01', 1), (2, 20, 2.5, 4.5, 'bob', 'e1', 5, 'c1', 2, DATE '2024-02-01', 2), "
    "(3, 5, NULL, 1.0, 'cid', 'e2', 4, 'c2', 3, DATE '2024-03-01', 3)) "
    "v(A, B, x, y, athlete, event, points, client, month, date, i)) ",
    "WITH t AS (SELECT * FROM (VALUES (true, false), (true, true), (NULL, false)) v(A, B)) ",
    "WITH t AS (SELECT union_value(k := 'hello') AS s) ",
]

NONDETERMINISTIC = frozenset({
    "random", "uuid", "gen_random_uuid", "uuidv4", "uuidv7", "now", "get_current_timestamp",
    "transaction_timestamp", "current_timestamp", "get_current_time", "current_time",
    "current_localtimestamp", "current_localtime", "current_date", "today",
    "reservoir_quantile", "approx_quantile", "approx_count_distinct", "ago"})

ACCEPTED_BEYOND_DUCKDB = frozenset({
    # DuckDB refuses these; sqlglot's tree gives them a meaning of another dialect.
    "rpad('abc', 6)",  # the pad defaults to ' '
    "bool_and(n)", "bool_and(x)",  # cast to BOOLEAN first
    "array_to_string([1, NULL], ',', 'N')",  # a NULL replacement
    "first(n IGNORE NULLS)",  # any_value(n)
    "'a' 'b'",  # adjacent literals concatenated
    "s LIKE ANY ('it%', 'x%')", "s ILIKE ANY ('IT%')", "s LIKE ALL ('it%', '%x%')",
    "s NOT LIKE ANY ('zz%')",
    "regexp_replace('aaa', 'a', 'b', flags)",  # non-constant options dropped
    "initcap('hello world')",  # DuckDB 2.0 has no initcap; sqlglot expands it
    # struct_pack of unnamed literals: DuckDB wants names, sqlglot names them _0, _1
    "struct_pack('x', 'x')", "struct_pack(NULL, 'x')", "struct_pack('x', NULL)",
})

SAME_VALUE_OTHER_TYPE = frozenset({
    ".5",  # written back as 0.5: DECIMAL(2,1) where DuckDB reads DECIMAL(1,1)
})


@dataclass
class Tally:
    """Outcomes of one sweep, by kind."""

    same: int = 0
    both_fail: int = 0
    refused: list[str] = field(default_factory=list)
    try_cast: list[str] = field(default_factory=list)
    accepted: list[str] = field(default_factory=list)
    differs: list[str] = field(default_factory=list)

    def report(self) -> str:
        return (f"{self.same} same, {self.both_fail} failing both ways, {len(self.refused)} "
                f"refused, {len(self.try_cast)} CAST→TRY_CAST, {len(self.accepted)} accepted "
                f"beyond DuckDB, {len(self.differs)} different")


def _run(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[Any, ...]:
    try:
        relation = con.execute(sql)
        types = [str(d[1]) for d in relation.description or []]
        return ("ok", types, sorted(map(repr, relation.fetchall())))
    except duckdb.Error as exc:
        return ("error", type(exc).__name__)


class Oracle:
    """One query raw and governed, on one plain connection."""

    def __init__(self, mesh: Mesh) -> None:
        self.mesh = mesh
        self.con = duckdb.connect()
        self.con.execute("SET TimeZone = 'UTC'")

    def close(self) -> None:
        self.con.close()

    def compare(self, sql: str, tally: Tally, label: str | None = None,
                deterministic: bool = True) -> None:
        label = label or sql
        raw = _run(self.con, sql)
        try:
            governed = self.mesh.govern(sql, USER).governed_sql
        except DuckmeshError:
            tally.refused.append(label)
            return
        answer = _run(self.con, governed)
        if raw[0] == answer[0] == "error":
            tally.both_fail += 1
        elif raw == answer or (not deterministic and raw[:2] == answer[:2]):
            tally.same += 1
        elif raw == ("error", "ConversionException") and "TRY_CAST" in governed:
            tally.try_cast.append(label)
        elif raw[0] == "error":
            tally.accepted.append(label)
        else:
            tally.differs.append(f"{label}\n    governed: {governed}\n    raw: {raw}\n"
                                 f"    answer: {answer}")


@pytest.fixture(scope="module")
def oracle(mesh: Mesh) -> Iterator[Oracle]:
    found = Oracle(mesh)
    yield found
    found.close()


def _governed(mesh: Mesh, sql: str) -> str:
    return mesh.govern(sql, USER).governed_sql


def _same(oracle: Oracle, sql: str) -> Tally:
    tally = Tally()
    oracle.compare(sql, tally)
    return tally


# -- the differences the sweep found, one test each --------------------------------------

@pytest.mark.parametrize("expression", [
    # sqlglot writes list_reduce(l, 100, lambda): the initial value and the lambda swapped
    "reduce([1, 2, 3], lambda a, b: a + b, 100)",
    "reduce(l, lambda a, b: a * 10 + b, 5)",
    # the third argument is DuckDB's score cutoff, read as a case-insensitivity flag
    "jaro_winkler_similarity('martha', 'marhta', 0.99)",
    "jaro_winkler_similarity('Martha', 'marhta', 0.5)",
    "jaro_winkler_similarity(s, 'it', NULL)",
    # DuckDB's date_add macro is date + n (a DATE); sqlglot wrote d + INTERVAL n DAY
    "date_add(d, 3)",
    "date_add(d, n)",
    "date_add(d, 3)::VARCHAR",
    "date_add(ts, INTERVAL '1 month 2 days')",
    "date_add(d, INTERVAL 1 MONTH)",
])
def test_calls_sqlglot_rewrote_are_kept_as_written(oracle: Oracle, expression: str) -> None:
    tally = _same(oracle, TABLE + f"SELECT {expression} FROM t")
    assert tally.same == 1, tally.report() + "".join(tally.differs)


@pytest.mark.parametrize(("expression", "message"), [
    ("decode('\\xA0'::BLOB, 'ignore')", r"decode\(\) takes only the blob"),
    ("decode('\\xA0'::BLOB, 'replace')", r"decode\(\) takes only the blob"),
    ("[1.0, 2.0] <=> [2.0, 3.0]", r"<=> operator is DuckDB's cosine distance"),
    ("[1.0, 2.0]::DOUBLE[2] <=> [2.0, 3.0]::DOUBLE[2]", r"list_cosine_distance\(a, b\)"),
    ("n <=> 7", r"<=> operator"),
    ("position('hello', 'l')", r"position\(needle IN haystack\)"),
])
def test_shapes_sqlglot_cannot_keep_are_refused(mesh: Mesh, expression: str,
                                                message: str) -> None:
    """decode's error option is dropped (an error where DuckDB answers); DuckDB's <=> is
    the cosine distance of two lists, sqlglot's null-safe equality; DuckDB cannot parse
    position(a, b), sqlglot ran strpos(b, a)."""
    with pytest.raises(QueryRejected, match=message):
        _governed(mesh, TABLE + f"SELECT {expression} FROM t")


def test_what_the_refusals_point_to_is_the_same_answer(oracle: Oracle) -> None:
    con = oracle.con
    assert con.execute("SELECT [1.0, 2.0] <=> [2.0, 3.0]").fetchone() == con.execute(
        "SELECT list_cosine_distance([1.0, 2.0], [2.0, 3.0])").fetchone()
    for sql in ("SELECT list_cosine_distance([1.0, 2.0], [2.0, 3.0])",
                "SELECT decode('abc'::BLOB)", "SELECT position('l' IN 'hello')",
                "SELECT strpos('hello', 'l')", "SELECT 1 IS NOT DISTINCT FROM NULL",
                "SELECT decode(CAST(x AS BLOB)) FROM (SELECT 'a, b' AS x)",
                "SELECT position(',' IN 'a,b'), strpos('a,b', ',')"):
        tally = _same(oracle, sql)
        assert tally.same == 1, (sql, tally.report(), tally.differs)


def test_date_add_keeps_its_type(mesh: Mesh) -> None:
    """The reproduction: a DATE plus a number of days stays a DATE."""
    sql = TABLE + "SELECT date_add(d, 3) AS e, date_add(d, INTERVAL 1 DAY) AS i FROM t"
    governed = _governed(mesh, sql)
    assert "DATE_ADD(t.d, 3)" in governed and "INTERVAL" in governed
    con = duckdb.connect()
    try:
        assert con.execute(governed).fetchall() == con.execute(sql).fetchall()
    finally:
        con.close()


# -- the sweeps ------------------------------------------------------------------------

def _examples() -> list[tuple[str, str]]:
    con = duckdb.connect()
    try:
        rows = con.execute(
            "SELECT DISTINCT function_name, unnest(examples) FROM duckdb_functions() "
            "WHERE len(examples) > 0 ORDER BY ALL").fetchall()
    finally:
        con.close()
    return [(str(name), str(example).strip().rstrip(";")) for name, example in rows]


def test_duckdbs_documented_examples(oracle: Oracle) -> None:
    """Every documented example of an allowed function, as written (with a table for the
    columns aggregate and window examples name)."""
    tally = Tally()
    skipped = 0
    for name, example in _examples():
        if name.lower() not in ALLOWED:
            skipped += 1  # refused by name: nothing to compare
            continue
        sql = example if re.match(r"(?i)(select|from|with)\b", example) else \
            f"SELECT {example}"
        if _run(oracle.con, sql)[0] == "error" and "FROM" not in sql.upper():
            for table in EXAMPLE_TABLES:  # the columns it names, from a table
                candidate = f"{table}{sql} FROM t"
                if _run(oracle.con, candidate)[0] == "ok":
                    sql = candidate
                    break
        oracle.compare(sql, tally, deterministic=name.lower() not in NONDETERMINISTIC)
    print(f"examples: {skipped} of functions not allowed skipped; {tally.report()}")
    assert tally.differs == []
    assert set(tally.accepted) <= ACCEPTED_BEYOND_DUCKDB
    assert tally.same > 400
    # Refused: lambda-first calls sqlglot cannot parse (apply, reduce without an initial
    # value), postfix factorial 4!, and decode's error option.
    assert len(tally.refused) <= 8, tally.refused


def test_shapes_sqlglot_special_cases(oracle: Oracle) -> None:
    tally = Tally()
    for line in SHAPES.read_text().splitlines():
        expression = line.strip()
        if not expression or expression.startswith("#"):
            continue
        oracle.compare(TABLE + f"SELECT {expression} FROM t", tally, label=expression)
    print(f"shapes: {tally.report()}")
    differs = [d for d in tally.differs if d.split("\n")[0] not in SAME_VALUE_OTHER_TYPE]
    assert differs == []
    assert set(tally.accepted) <= ACCEPTED_BEYOND_DUCKDB, \
        set(tally.accepted) - ACCEPTED_BEYOND_DUCKDB
    assert tally.same > 800


_BASE = {
    "VARCHAR": "'Hello, World'", "BIGINT": "3", "INTEGER": "3", "SMALLINT": "3",
    "TINYINT": "3", "HUGEINT": "3", "UBIGINT": "3", "UINTEGER": "3", "USMALLINT": "3",
    "UTINYINT": "3", "UHUGEINT": "3", "DOUBLE": "2.5", "FLOAT": "2.5", "DECIMAL": "2.55",
    "BOOLEAN": "true", "DATE": "DATE '2024-02-29'",
    "TIMESTAMP": "TIMESTAMP '2024-02-29 13:14:15.123456'",
    "TIMESTAMP WITH TIME ZONE": "TIMESTAMPTZ '2024-02-29 13:14:15.123456+02'",
    "TIMESTAMP_NS": "TIMESTAMP_NS '2024-02-29 13:14:15.123456789'",
    "TIMESTAMPTZ_NS": "'2024-02-29 13:14:15.123456789+02'::TIMESTAMPTZ_NS",
    "TIMESTAMP_S": "TIMESTAMP_S '2024-02-29 13:14:15'",
    "TIMESTAMP_MS": "TIMESTAMP_MS '2024-02-29 13:14:15.123'",
    "TIME": "TIME '13:14:15.5'", "TIME WITH TIME ZONE": "'13:14:15+02'::TIMETZ",
    "TIME_NS": "'13:14:15.123456789'::TIME_NS",
    "INTERVAL": "INTERVAL '1 month 2 days 03:04:05'", "BLOB": "'\\xA0\\x41B'::BLOB",
    "VARCHAR[]": "['a', 'b''c', NULL]", "ANY[]": "[3, 1, NULL, 2]", "T[]": "[3, 1, NULL, 2]",
    "DOUBLE[]": "[1.0, 2.0, 3.0]", "FLOAT[]": "[1.0, 2.0, 3.0]", "BIGINT[]": "[1, 2, 3]",
    "BOOLEAN[]": "[true, false]", "DOUBLE[3]": "[1.0, 2.0, 3.0]::DOUBLE[3]",
    "FLOAT[3]": "[1.0, 2.0, 3.0]::FLOAT[3]", "FLOAT[ANY]": "[1.0, 2.0, 3.0]::FLOAT[3]",
    "DOUBLE[ANY]": "[1.0, 2.0, 3.0]::DOUBLE[3]",
    "JSON": "'{\"a\": [1, 2], \"b\": \"x\"}'::JSON",
    "UUID": "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::UUID", "ANY": "'x'", "T": "2",
    "MAP(K, V)": "MAP {'a': 1, 'b': 2}", "K": "'a'", "V": "1",
    "STRUCT": "{'a': 1, 'b': 'x'}", "MAP(VARCHAR, VARCHAR)": "MAP {'a': 'b'}",
    "BIT": "'0101'::BIT", "LAMBDA": "lambda x: x", "UNION": "union_value(k := 'hi')",
}
# A VARCHAR parameter's name says what it holds: a part, a format, a pattern...
_BY_NAME = [("part", "'month'"), ("format", "'%Y-%m-%d %H'"), ("regex", "'l+'"),
            ("pattern", "'l+'"), ("option", "'i'"), ("timezone", "'Europe/Berlin'"),
            ("json", "'{\"a\": [1, 2]}'"), ("path", "'$.a'"), ("charset", "'utf-8'"),
            ("error", "'ignore'"), ("delimiter", "','"), ("separator", "','"),
            ("characters", "'Hd'"), ("string_to_search", "'Hello'"), ("search", "'l'")]
_NUMBERS = frozenset({"BIGINT", "INTEGER", "SMALLINT", "TINYINT", "HUGEINT", "DOUBLE",
                      "FLOAT", "DECIMAL"})


def _value(name: str, kind: str, variant: str) -> str | None:
    if variant == "null":
        return "NULL"
    if kind == "VARCHAR":
        for part, value in _BY_NAME:
            if part in name.lower():
                return value
        if variant == "quote":
            return "'it''s a \\ back\\slash'"
    if variant == "negative" and kind in _NUMBERS:
        return "-" + _BASE[kind]
    return _BASE.get(kind)


def _signature_calls() -> Iterator[tuple[str, str]]:
    con = duckdb.connect()
    try:
        signatures = con.execute(
            "SELECT function_name, function_type, parameters, parameter_types, varargs "
            "FROM duckdb_functions() WHERE function_type IN ('scalar', 'aggregate') "
            "ORDER BY ALL").fetchall()
    finally:
        con.close()
    seen: set[str] = set()
    for name, kind, params, types, varargs in signatures:
        if name.lower() not in ALLOWED or not re.match(r"^[a-z_][a-z0-9_]*$", name):
            continue
        if varargs and not types:
            types, params = [varargs] * 2, ["a", "b"]
        variants = [("base", None), ("negative", None), ("quote", None)] + \
            [("null", i) for i in range(min(len(types), 3))]
        for variant, slot in variants:
            args = [_value(p or "", t, variant if slot in (None, i) else "base")
                    for i, (p, t) in enumerate(zip(params, types, strict=True))]
            if any(a is None for a in args):
                continue
            sql = f"SELECT {name}({', '.join(str(a) for a in args)})"
            if kind == "aggregate":
                sql += " FROM range(3)"
            if sql not in seen:
                seen.add(sql)
                yield name, sql


@pytest.mark.slow
def test_every_signature_of_every_allowed_function(oracle: Oracle) -> None:
    tally = Tally()
    for name, sql in _signature_calls():
        oracle.compare(sql, tally, label=sql.removeprefix("SELECT ").removesuffix(
            " FROM range(3)"), deterministic=name.lower() not in NONDETERMINISTIC)
    print(f"signatures: {tally.report()}")
    assert tally.differs == []
    assert set(tally.accepted) <= ACCEPTED_BEYOND_DUCKDB, \
        set(tally.accepted) - ACCEPTED_BEYOND_DUCKDB
    assert tally.same > 2900

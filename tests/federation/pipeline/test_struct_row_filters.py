"""Row filters on struct fields: a grant's ``row_filter`` may name a field inside a
struct column (``s.region = :region``, ``addr.country = :country``, quoted field names,
``s['k']``, ``struct_extract``, list elements), evaluated on the stored value below every
mask, as flat-column filters are.

sqlglot reads ``s.region`` as column ``region`` of a table ``s``: the rewrite made it
``duckmesh_src.region`` and the grant never applied.  Here every form is checked against
an independent oracle (plain DuckDB over the same file, the filter written by hand, the
masks computed by hand with a Python HMAC), for every query shape a caller might use to
see rows outside the filter or the hidden field's value; a filter naming a field the
contract lacks is refused in one line naming the file, the grant and the field.
The rewrite's SQL is in tests/fixtures/golden/rewrite_struct_filters.sql.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
import sqlglot
from click.testing import CliRunner
from sqlglot import exp

from federation import Mesh
from federation.cli import cli
from federation.errors import AccessDenied, DuckmeshError
from federation.governance.filter_fields import as_field_access
from federation.governance.masks import reference_hash
from federation.pipeline import DECIDE, run
from federation.pipeline.parse import parse
from federation.pipeline.pushdown import pushable
from federation.pipeline.query import GovernedQuery
from tests.federation.pipeline.test_golden import check_rewrite_case, load_cases
from tests.helpers import col, make_mesh, write_yaml

STRUCT = ('STRUCT(region VARCHAR, "Post Code" VARCHAR, "order" BIGINT, card VARCHAR, '
          '"inner" STRUCT(country VARCHAR))')
COLUMNS: list[dict[str, Any]] = [
    col("id", "BIGINT"),
    col("s", STRUCT, logicalType="object", properties=[
        # The field every filter of ana's grant reads is itself left out of the struct.
        {"name": "region", "logicalType": "string", "classification": "restricted"},
        {"name": "Post Code", "logicalType": "string"},
        {"name": "order", "logicalType": "integer"},
        {"name": "card", "logicalType": "string", "classification": "pci"},
        # eve's and dee's filters read a field hashed inside s.
        {"name": "inner", "logicalType": "object", "properties": [
            {"name": "country", "logicalType": "string", "classification": "pii"}]}]),
    # The whole column is pii: hashed for every reader but the admin.
    col("addr", "STRUCT(country VARCHAR, city VARCHAR)", classification="pii",
        logicalType="object", properties=[{"name": "country", "logicalType": "string"},
                                          {"name": "city", "logicalType": "string"}]),
    col("l", "STRUCT(k VARCHAR)[]", logicalType="array",
        items={"logicalType": "object", "properties": [{"name": "k", "logicalType": "string"}]}),
]


def _row(i: int, region: str | None, code: str, order: int, country: str | None,
         addr_country: str, l_key: str | None) -> str:
    s = "NULL" if region == "<null struct>" else (
        f"{{'region': {_lit(region)}, 'Post Code': '{code}', 'order': {order}, "
        f"'card': 'CARDSECRET{i}', 'inner': {{'country': {_lit(country)}}}}}")
    lst = "NULL" if l_key is None else f"[{{'k': '{l_key}'}}, {{'k': 'z{i}'}}]"
    return f"({i}, {s}, {{'country': '{addr_country}', 'city': 'CITY{i}'}}, {lst})"


def _lit(value: str | None) -> str:
    return "NULL" if value is None else f"'{value}'"


ROWS = [
    _row(1, "EU", "75001", 1, "FR", "DE", "a"),
    _row(2, "EU", "75002", 2, "DE", "FR", "b"),
    _row(3, "US", "10001", 3, "FR", "DE", "a"),
    _row(4, "eu", "75003", 4, "FR", "US", None),
    _row(5, None, "75004", 5, None, "DE", "a"),
    _row(6, "<null struct>", "", 0, None, "FR", "c"),
    _row(7, "APAC", "2000", 2, "AU", "AU", "b"),
    _row(8, "EU", "1010", 3, "AT", "DE", "a"),
]
DATA = "SELECT * FROM (VALUES " + ",\n".join(ROWS) + ") t(id, s, addr, l)"

USERS = {
    "ana": ("r_region", {"region": "EU"}),
    "bob": ("r_addr", {"country": "DE"}),
    "cy": ("r_quoted", {"prefix": "75%"}),
    "dee": ("r_denied", {"country": "FR"}),
    "eve": ("r_forms", {"region": "US", "country": "FR"}),
    "gus": ("r_list", {"k": "a"}),
}
"""user -> (role, attributes): one grant, one form of struct filter each."""

GRANTS: list[dict[str, Any]] = [
    {"products": ["people"], "roles": ["r_region"], "row_filter": "s.region = :region"},
    {"products": ["people"], "roles": ["r_addr"], "row_filter": "addr.country = :country"},
    {"products": ["people"], "roles": ["r_quoted"],
     "row_filter": 's."Post Code" LIKE :prefix AND s."order" >= 2'},
    {"products": ["people"], "roles": ["r_denied"], "deny_columns": ["s"],
     "row_filter": 's."inner".country = :country'},
    {"products": ["people"], "roles": ["r_forms"],
     "row_filter": "struct_extract(s, 'REGION') = :region OR s['inner']['country'] = :country"
                   ' OR "S"."Region" IS NULL'},
    {"products": ["people"], "roles": ["r_list"], "row_filter": "l[1].k = :k"},
    {"products": ["people"], "roles": ["admin"]},
]

ORACLE_FILTERS = {
    "ana": "s.region = 'EU'",
    "bob": "addr.country = 'DE'",
    "cy": "s['Post Code'] LIKE '75%' AND s['order'] >= 2",
    "dee": "s['inner'].country = 'FR'",
    "eve": "s.region = 'US' OR s['inner'].country = 'FR' OR s.region IS NULL",
    "gus": "l[1].k = 'a'",
}
"""Each user's filter written by hand, in other spellings than the grants'."""


def build(root: Path) -> Path:
    users = {u: {"roles": [role], "attributes": attrs} for u, (role, attrs) in USERS.items()}
    users["adam"] = {"roles": ["admin"]}
    make_mesh(root, products={"crm.people": (COLUMNS, DATA)}, users=users,
              rules=[{"classification": "pii", "action": "mask", "method": "hash",
                      "unless_roles": ["admin"]},
                     {"classification": "pci", "action": "deny", "unless_roles": ["admin"]},
                     {"classification": "restricted", "action": "deny",
                      "unless_roles": ["admin"]}],
              grants={"crm": GRANTS})
    return root


def data_file(root: Path) -> str:
    return (root / "data/crm/people/part-0.parquet").as_posix()


def oracle(root: Path, key: bytes, user: str) -> duckdb.DuckDBPyConnection:
    """Plain DuckDB holding what ``user`` may see as table ``people``: the file read
    raw, the user's filter written by hand, region and card left out of ``s`` and
    ``s.inner.country`` and ``addr`` hashed (a Python HMAC of DuckDB's text of them)."""
    con = duckdb.connect()
    con.create_function("py_hmac", lambda v: reference_hash(key, v), ["VARCHAR"], "VARCHAR")
    s = "" if user == "dee" else (
        "CASE WHEN s IS NULL THEN NULL ELSE {'Post Code': s['Post Code'], "
        "'order': s['order'], 'inner': CASE WHEN s['inner'] IS NULL THEN NULL ELSE "
        "{'country': py_hmac(s['inner']['country'])} END} END AS s, ")
    con.execute(f"CREATE TABLE people AS SELECT id, {s}py_hmac(CAST(addr AS VARCHAR)) AS "
                f"addr, l FROM read_parquet('{data_file(root)}') WHERE "
                f"{ORACLE_FILTERS[user]}")
    return con


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("structfilters") / "mesh")


@pytest.fixture(scope="module")
def oracles(root: Path) -> Iterator[dict[str, duckdb.DuckDBPyConnection]]:
    key = Mesh.open(root).context("ana").mask_key
    assert key is not None
    cons = {user: oracle(root, key, user) for user in USERS}
    yield cons
    for con in cons.values():
        con.close()


def _bag(rows: list[dict[str, Any]]) -> list[str]:
    return sorted(repr(tuple(r.values())) for r in rows)


def _leaks(text: str, user: str, root: Path) -> list[str]:
    """Values the user may never see: cards, cities (addr is hashed), s.region, and the
    ids of the rows their filter drops."""
    con = duckdb.connect()
    try:
        kept = {r[0] for r in con.sql(f"SELECT id FROM read_parquet('{data_file(root)}') "
                                      f"WHERE {ORACLE_FILTERS[user]}").fetchall()}
    finally:
        con.close()
    markers = ["CARDSECRET", "CITY", "region", "APAC"]
    markers += [f"z{i}'" for i in range(1, 9) if i not in kept]
    return [m for m in markers if m in text]


# Every query shape a caller might use to see rows outside the filter: each must give the
# oracle's answer (or, where the oracle itself cannot run it, be refused).
SHAPES = [
    "SELECT id FROM {t}",
    "SELECT * FROM {t}",
    "SELECT s FROM {t}",
    "SELECT s.* FROM {t}",
    "SELECT id, s.\"Post Code\", s['order'], s.inner.country FROM {t}",
    "SELECT id, to_json(s), CAST(s AS VARCHAR), unnest(s) FROM {t}",
    "SELECT addr FROM {t}",
    "SELECT id FROM {t} WHERE addr IS NULL OR id > 0",
    "SELECT count(*), sum(id), min(id), max(id), count(DISTINCT id) FROM {t}",
    "SELECT count(*) FILTER (WHERE id > 2) AS n FROM {t}",
    "SELECT s IS NULL AS nothing, count(*) FROM {t} GROUP BY ALL",
    "SELECT id FROM {t} WHERE id IN (SELECT id FROM {t})",
    "SELECT (SELECT count(*) FROM {t}) AS n",
    "SELECT id FROM {t} AS a WHERE EXISTS (SELECT 1 FROM {t} AS b WHERE b.id = a.id + 1)",
    "SELECT id, (SELECT max(b.id) FROM {t} AS b WHERE b.id < a.id) FROM {t} AS a",
    "WITH c AS (SELECT * FROM {t}) SELECT id FROM c",
    "WITH c AS (SELECT id FROM {t}), d AS (SELECT id FROM c WHERE id > 0) "
    "SELECT count(*) FROM d",
    "SELECT a.id, b.id FROM {t} AS a JOIN {t} AS b ON a.id < b.id",
    "SELECT a.id, b.id FROM {t} AS a FULL OUTER JOIN {t} AS b ON a.id = b.id + 1",
    "SELECT a.id FROM {t} AS a CROSS JOIN (SELECT count(*) AS n FROM {t}) AS c",
    "SELECT id, x.k FROM {t}, unnest(l) AS u(x)",
    "SELECT id, unnest(l) FROM {t}",
    "SELECT * FROM (SELECT id, unnest(l) AS x FROM {t}) AS q",
    "SELECT id, row_number() OVER (ORDER BY id), count(*) OVER (), "
    "lag(id) OVER (ORDER BY id) FROM {t}",
    "SELECT id, sum(id) OVER (ORDER BY id ROWS BETWEEN UNBOUNDED PRECEDING AND "
    "UNBOUNDED FOLLOWING) FROM {t}",
    "SELECT id, count(*) OVER (PARTITION BY s.inner.country) FROM {t}",
    # Comparing a hashed field with a guess matches nothing, as over the oracle's hash.
    "SELECT id FROM {t} WHERE s.inner.country = 'FR' OR s.\"Post Code\" = '75001'",
    "SELECT id FROM {t} UNION ALL SELECT id FROM {t}",
    "SELECT id FROM {t} EXCEPT SELECT id FROM {t} WHERE id > 3",
    "SELECT id FROM {t} ORDER BY id DESC LIMIT 2 OFFSET 1",
    "SELECT string_agg(CAST(id AS VARCHAR), ',' ORDER BY id) FROM {t}",
    "SELECT list(s ORDER BY id), list(l ORDER BY id) FROM {t}",
]

USERS_AND_SHAPES = [(u, s) for u in USERS for s in SHAPES]


@pytest.mark.parametrize(("user", "sql"), USERS_AND_SHAPES)
def test_every_query_shape_sees_only_the_filtered_rows(
        root: Path, oracles: dict[str, duckdb.DuckDBPyConnection], user: str, sql: str) -> None:
    try:
        want = oracles[user].sql(sql.format(t="people")).arrow().read_all().to_pylist()
    except duckdb.Error:
        # The oracle has no such column for this user (dee's s is denied): refused.
        with pytest.raises(DuckmeshError) as err:
            Mesh.open(root).sql(sql.format(t="crm.people"), user=user).arrow()
        assert _leaks(str(err.value), user, root) == []
        return
    got = Mesh.open(root).sql(sql.format(t="crm.people"), user=user).arrow().to_pylist()
    assert _bag(got) == _bag(want)
    assert _leaks(str(got), user, root) == []


def test_the_oracle_filters_something_for_every_user(
        oracles: dict[str, duckdb.DuckDBPyConnection]) -> None:
    """Each user sees some rows and misses others, so every shape above tests the filter."""
    for user, con in oracles.items():
        (n,) = con.execute("SELECT count(*) FROM people").fetchall()[0]
        assert 0 < n < len(ROWS), user


@pytest.mark.parametrize("sql", [
    "SELECT s.region FROM crm.people",
    "SELECT s['region'] FROM crm.people",
    "SELECT struct_extract(s, 'region') FROM crm.people",
    "SELECT s.REGION FROM crm.people",
    "SELECT id FROM crm.people WHERE s.region <> 'EU'",
    "SELECT count(*) FROM crm.people GROUP BY s.region",
    "SELECT s.card FROM crm.people",
])
def test_the_filtered_field_stays_hidden(root: Path, sql: str) -> None:
    """ana's filter reads s.region, which her rules leave out of s: named, it is refused
    naming the field; no query reaches it."""
    with pytest.raises(AccessDenied, match=r"field crm\.people\.s\.(region|card) is denied"):
        Mesh.open(root).sql(sql, user="ana").arrow()


@pytest.mark.parametrize("sql", [
    "SELECT addr.country FROM crm.people",
    "SELECT addr['country'] FROM crm.people",
    "SELECT id FROM crm.people WHERE struct_extract(addr, 'country') = 'US'",
])
def test_a_masked_struct_cannot_be_read_through_its_fields(root: Path, sql: str) -> None:
    """bob's filter reads addr.country; addr reaches him hashed, a string without fields."""
    with pytest.raises(DuckmeshError) as err:
        Mesh.open(root).sql(sql, user="bob").arrow()
    assert _leaks(str(err.value), "bob", root) == []


@pytest.mark.parametrize(("row_filter", "problem"), [
    ("s.regoin = :region", "crm.people has no field 's.regoin' (the fields of s are: "
                           "region, Post Code, order, card, inner)"),
    ("s['regoin'] = :region", "crm.people has no field 's.regoin'"),
    ("struct_extract(s, 'regoin') = :region", "crm.people has no field 's.regoin'"),
    ('s."Post code " = :region', "crm.people has no field 's.Post code '"),
    ("s.inner.contry = :region", "crm.people has no field 's.inner.contry'"),
    ("addr.country.code = :region", "crm.people.addr.country is TEXT: it has no field 'code'"),
    ("id.region = :region", "crm.people.id is BIGINT: it has no field 'region'"),
    ("s[1] = :region", "crm.people.s is STRUCT("),
    ("l.k = :region", "crm.people.l is STRUCT(k TEXT)[]: it has no field 'k'"),
    ("people.region = :region", "crm.people has no column 'people'"),
    ("s.* IS NOT NULL", "row_filter cannot read 's.*'"),
])
def test_a_filter_naming_a_missing_field_is_refused_in_one_line(
        tmp_path: Path, row_filter: str, problem: str) -> None:
    root = build(tmp_path / "mesh")
    grants = [dict(g) for g in GRANTS]
    grants[0]["row_filter"] = row_filter
    write_yaml(root / "domains/crm/domain.yaml", {"grants": grants})
    with pytest.raises(AccessDenied) as err:
        Mesh.open(root).sql("SELECT id FROM crm.people", user="ana").arrow()
    message = str(err.value)
    assert "\n" not in message
    assert "domains/crm/domain.yaml grant 1 row_filter: " in message
    assert problem in message and "the grant does not apply" in message
    # Other grants of the domain keep working.
    assert Mesh.open(root).sql("SELECT id FROM crm.people", user="bob").arrow().num_rows
    out = CliRunner().invoke(cli, ["--mesh", str(root), "validate"])
    assert out.exit_code == 1
    lines = [line for line in out.output.splitlines() if "row_filter" in line]
    assert len(lines) == 1 and "grants[0].row_filter" in lines[0] and problem in lines[0], \
        out.output
    assert "domain.yaml" in lines[0]


def test_the_mesh_validates(root: Path) -> None:
    out = CliRunner().invoke(cli, ["--mesh", str(root), "validate"])
    assert out.exit_code == 0, out.output


def test_the_admin_sees_every_row(root: Path) -> None:
    got = Mesh.open(root).sql("SELECT id FROM crm.people", user="adam").arrow()
    assert got.num_rows == len(ROWS)


def test_struct_field_filters_are_never_pushed_down(root: Path) -> None:
    """A field predicate compared with a top-level column's statistics (``region``)
    would prune the wrong files: only plain columns of the filter are pushed."""
    mesh = Mesh.open(root)
    for user in USERS:
        sql = "SELECT id FROM crm.people WHERE id > 0"
        query = run(GovernedQuery(sql, parse(sql)), mesh.context(user), DECIDE)
        table = next(t for t in query.expression.find_all(exp.Table) if t.db)
        assert [p[0] for p in pushable(table, query.access["crm.people"])] == ["id"], user


def test_spark_refuses_a_struct_field_filter_rather_than_dropping_it(root: Path) -> None:
    """The Spark transpiler does not take struct_extract (yet): fail closed, never the
    query without its filter."""
    with pytest.raises(DuckmeshError, match="struct_extract"):
        Mesh.open(root).sql("SELECT id FROM crm.people", user="ana", engine="spark").arrow()


def test_explain_shows_the_bound_field_filter(root: Path) -> None:
    decisions = Mesh.open(root).sql("SELECT id FROM crm.people", user="ana").decisions
    filters = [d for d in decisions if d.action == "row_filter"]
    assert len(filters) == 1 and "STRUCT_EXTRACT(s, 'region') = 'EU'" in str(filters[0])


@pytest.mark.parametrize(("text", "expected"), [
    ("s.region = 1", "STRUCT_EXTRACT(s, 'region') = 1"),
    ('s."Post Code" = 1', "STRUCT_EXTRACT(s, 'Post Code') = 1"),
    ('"S"."Order" = 1', "STRUCT_EXTRACT(\"S\", 'Order') = 1"),
    ("a.b.c = 1", "STRUCT_EXTRACT(STRUCT_EXTRACT(a, 'b'), 'c') = 1"),
    ("a.b.c.d.e.f = 1", "STRUCT_EXTRACT(STRUCT_EXTRACT(STRUCT_EXTRACT(STRUCT_EXTRACT("
                        "STRUCT_EXTRACT(a, 'b'), 'c'), 'd'), 'e'), 'f') = 1"),
    ("s['x'].y = 1", "STRUCT_EXTRACT(s['x'], 'y') = 1"),
    ("l[1].k = 1", "STRUCT_EXTRACT(l[1], 'k') = 1"),
    ("(s).x = 1", "STRUCT_EXTRACT((s), 'x') = 1"),
    ("s.x", "STRUCT_EXTRACT(s, 'x')"),
    # A quote in a field name is escaped in the literal; a dot inside quotes is one name.
    ('s."o\'k" = 1', "STRUCT_EXTRACT(s, 'o''k') = 1"),
    ('s."a.b" = 1', "STRUCT_EXTRACT(s, 'a.b') = 1"),
    ("region = 1", "region = 1"),
])
def test_dotted_names_become_struct_extract(text: str, expected: str) -> None:
    result = as_field_access(sqlglot.parse_one(text, read="duckdb"))
    assert isinstance(result, exp.Expr) and result.sql(dialect="duckdb") == expected


GOLDEN = Path(__file__).parents[2] / "fixtures" / "golden" / "rewrite_struct_filters.sql"


@pytest.mark.parametrize("index", range(len(load_cases(GOLDEN))))
def test_golden_rewrite(root: Path, index: int, request: pytest.FixtureRequest) -> None:
    """The secured relation with a struct-field row filter, as SQL
    (tests/fixtures/golden/rewrite_struct_filters.sql; ``--update-golden`` rewrites it)."""
    check_rewrite_case(GOLDEN, index, Mesh.open(root), request)

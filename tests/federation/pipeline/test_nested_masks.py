"""Classifications on nested fields (issue 14, item 4): a pii field inside a struct or a
list of structs is masked inside it, for every way a query can reach it.

The oracle is independent of the rewrite: the analyst's rows are masked in Python
(HMAC from :mod:`hmac`, years by hand) from the raw file, and plain DuckDB answers each
query over them.  The rewrite's SQL is in tests/fixtures/golden/rewrite_nested.sql."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest
import yaml
from click.testing import CliRunner
from sqlglot import exp

from federation import Mesh
from federation.cli import cli
from federation.errors import AccessDenied, DuckmeshError
from federation.governance.masks import NotRebuildable, nested_mask, reference_hash
from federation.pipeline import DECIDE, run
from federation.pipeline.parse import parse
from federation.pipeline.pushdown import pushable
from federation.pipeline.query import GovernedQuery
from products.contract import ITEMS, MAP_VALUE, Column, nested_fields
from tests.federation.pipeline.test_golden import check_rewrite_case, load_cases
from tests.helpers import col, make_mesh, write_yaml

STRUCT = ("STRUCT(name VARCHAR, email VARCHAR, card VARCHAR, born DATE, "
          "home STRUCT(phone VARCHAR, city VARCHAR))")
LIST = "STRUCT(email VARCHAR, note VARCHAR, n BIGINT)[]"
COLUMNS: list[dict[str, Any]] = [
    col("id", "BIGINT"),
    col("s", STRUCT, logicalType="object", properties=[
        {"name": "name", "logicalType": "string"},
        {"name": "email", "logicalType": "string", "classification": "pii"},
        {"name": "card", "logicalType": "string", "classification": "pci"},
        {"name": "born", "logicalType": "date", "classification": "sensitive"},
        {"name": "home", "logicalType": "object", "properties": [
            {"name": "phone", "logicalType": "string", "classification": "PII"},
            {"name": "city", "logicalType": "string"}]}]),
    col("l", LIST, logicalType="array", items={"logicalType": "object", "properties": [
        {"name": "email", "logicalType": "string", "classification": "pii"},
        {"name": "note", "logicalType": "string", "classification": "pci"},
        {"name": "n", "logicalType": "integer"}]}),
    col("tags", "VARCHAR[]", logicalType="array",
        items={"logicalType": "string", "classification": "pii"}),
    # A classification inside a MAP cannot be rebuilt, and one at a path the type lacks
    # cannot be found: both columns are denied (fail closed).
    col("m", "MAP(VARCHAR, VARCHAR)", logicalType="map",
        map={"key": {"logicalType": "string"},
             "value": {"logicalType": "string", "classification": "pii"}}),
    col("bad", "STRUCT(a VARCHAR)", logicalType="object",
        properties=[{"name": "b", "logicalType": "string", "classification": "pii"}]),
]
DATA = """
SELECT * FROM (VALUES
 (1, {'name': 'Ann', 'email': 'ann@secret.example', 'card': '4111111111111111',
      'born': DATE '1980-05-17', 'home': {'phone': '+44 20 7946 0958', 'city': 'Leeds'}},
     [{'email': 'ann.l@secret.example', 'note': 'CARDNOTE1', 'n': 1},
      {'email': NULL, 'note': 'CARDNOTE2', 'n': 2}, NULL],
     ['ann-tag@secret.example'], MAP {'k': 'mapsecret1'}, {'a': 'badsecret1'}),
 (2, {'name': 'Bob', 'email': NULL, 'card': '5500000000000004', 'born': NULL, 'home': NULL},
     [], NULL, MAP {'k': 'mapsecret2'}, {'a': 'badsecret2'}),
 (3, NULL, NULL, ['t1secret@secret.example', NULL], NULL, NULL),
 (4, {'name': 'Cy', 'email': 'cy@secret.example', 'card': NULL, 'born': DATE '1999-12-31',
      'home': {'phone': NULL, 'city': NULL}},
     [{'email': 'cy.l@secret.example', 'note': NULL, 'n': 3}], [], NULL, NULL)
) t(id, s, l, tags, m, bad)
"""
SECRETS = ("secret.example", "4111111111111111", "5500000000000004", "CARDNOTE",
           "7946", "mapsecret", "badsecret", "1980-05-17", "1999-12-31")
"""Raw values no masked output may hold (hashes are hex; years become 1 January)."""

MASKED_TYPES = pa.schema([
    ("id", pa.int64()),
    ("s", pa.struct([("name", pa.string()), ("email", pa.string()), ("born", pa.date32()),
                     ("home", pa.struct([("phone", pa.string()), ("city", pa.string())]))])),
    ("l", pa.list_(pa.struct([("email", pa.string()), ("n", pa.int64())]))),
    ("tags", pa.list_(pa.string())),
])
"""What the analyst may see of ``crm.nested``: m and bad denied, card and note left out."""


def build(root: Path) -> Path:
    """The mesh: ``ana`` (analyst) is governed by the rules, ``adam`` (admin) is not."""
    make_mesh(root, products={"crm.nested": (COLUMNS, DATA)},
              users={"ana": {"roles": ["analyst"]}, "adam": {"roles": ["admin"]}},
              rules=[{"classification": "pii", "action": "mask", "method": "hash",
                      "unless_roles": ["admin"]},
                     {"classification": "pci", "action": "deny", "unless_roles": ["admin"]},
                     {"classification": "sensitive", "action": "mask", "method": "year",
                      "unless_roles": ["admin"]}],
              grants={"crm": [{"products": ["*"], "roles": ["analyst", "admin"]}]})
    path = root / "domains/crm/nested.odcs.yaml"
    spec = yaml.safe_load(path.read_text())
    spec["apiVersion"] = "v3.2.0"  # map properties came with ODCS v3.2.0
    write_yaml(path, spec)
    return root


def data_file(root: Path) -> str:
    return (root / "data/crm/nested/part-0.parquet").as_posix()


def masked_rows(root: Path, key: bytes) -> list[dict[str, Any]]:
    """The analyst's rows, masked in Python (HMAC from :mod:`hmac`) from the raw file."""
    con = duckdb.connect()
    try:
        raw = con.sql("SELECT * FROM read_parquet($p) ORDER BY id",
                      params={"p": data_file(root)}).arrow().read_all().to_pylist()
    finally:
        con.close()

    def h(value: str | None) -> str | None:
        return None if value is None else reference_hash(key, value)

    def year(value: dt.date | None) -> dt.date | None:
        return None if value is None else dt.date(value.year, 1, 1)

    out = []
    for row in raw:
        s, home = row["s"], (row["s"] or {}).get("home")
        out.append({
            "id": row["id"],
            "s": None if s is None else {
                "name": s["name"], "email": h(s["email"]), "born": year(s["born"]),
                "home": None if home is None else {"phone": h(home["phone"]),
                                                   "city": home["city"]}},
            "l": None if row["l"] is None else [
                None if e is None else {"email": h(e["email"]), "n": e["n"]}
                for e in row["l"]],
            "tags": None if row["tags"] is None else [h(t) for t in row["tags"]],
        })
    return out


def oracle(root: Path, key: bytes) -> duckdb.DuckDBPyConnection:
    """Plain DuckDB holding the expected masked rows as table ``nested``."""
    con = duckdb.connect()
    expected = pa.Table.from_pylist(masked_rows(root, key), schema=MASKED_TYPES)
    con.register("expected_rows", expected)
    con.execute("CREATE TABLE nested AS SELECT * FROM expected_rows")
    con.unregister("expected_rows")
    return con


# ---------------------------------------------------------------------------- the tests


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("nested") / "mesh")


@pytest.fixture(scope="module")
def expected(root: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    key = Mesh.open(root).context("ana").mask_key
    assert key is not None
    con = oracle(root, key)
    yield con
    con.close()


def _rows(table: pa.Table) -> list[tuple[Any, ...]]:
    return [tuple(r.values()) for r in table.to_pylist()]


def _leaks(text: str) -> list[str]:
    return [s for s in SECRETS if s in text]


# Every way of reaching a governed field that the allow-list accepts today: each must
# answer exactly what plain DuckDB answers over the independently masked rows.
REACH = [
    "SELECT id, s FROM {t} ORDER BY id",
    "SELECT s.* FROM {t} ORDER BY id",
    "SELECT * FROM {t} ORDER BY id",
    "SELECT id, s.email, s.home.phone, s.born, s.name FROM {t} ORDER BY id",
    "SELECT id, to_json(s), to_json(l), to_json(tags) FROM {t} ORDER BY id",
    "SELECT unnest(s), id FROM {t} ORDER BY id",
    "SELECT id, struct_extract(s, 'email'), struct_extract(struct_extract(s, 'home'), 'phone')"
    " FROM {t} ORDER BY id",
    "SELECT id, s['email'], s['home']['phone'], s['EMAIL'] FROM {t} ORDER BY id",
    "SELECT * FROM (SELECT id, unnest(l) AS x FROM {t}) AS q ORDER BY id, q.x.n",
    "SELECT x.email, x.n FROM (SELECT unnest(l) AS x FROM {t}) AS q ORDER BY x.n",
    "SELECT id, u.x.email FROM {t} AS t, unnest(t.l) AS u(x) ORDER BY id, u.x.n",
    "SELECT id, unnest(tags) AS tag FROM {t} ORDER BY id, tag",
    "SELECT id, l[1].email, l[2], tags[1], l[1]['email'] FROM {t} ORDER BY id",
    "SELECT id, CAST(s AS VARCHAR), l::VARCHAR, tags::VARCHAR, s.home::VARCHAR FROM {t} "
    "ORDER BY id",
    "WITH c AS (SELECT id, s, l FROM {t}) SELECT c.s.email, c.l FROM c ORDER BY c.id",
    "SELECT id FROM {t} WHERE s.email = 'ann@secret.example' "
    "OR list_contains(tags, 'ann-tag@secret.example') OR s.home.phone LIKE '%7946%'",
    "SELECT count(DISTINCT s.email), max(s.home.phone), min(s.born) FROM {t}",
    "SELECT s.email, count(*) FROM {t} GROUP BY s.email ORDER BY 1 NULLS LAST",
    "SELECT id, len(l), list_contains(tags, NULL) FROM {t} ORDER BY id",
    "SELECT COLUMNS(*) FROM {t} ORDER BY id",
    "SELECT COLUMNS('s|l') FROM {t} ORDER BY id",
    "SELECT id, list_transform(l, lambda x: x), list_transform(l, lambda x: x.email) FROM {t} "
    "ORDER BY id",
    "SELECT id, [x.email FOR x IN l], [x FOR x IN tags] FROM {t} ORDER BY id",
    "SELECT id, list_extract(l, 1), list_extract(tags, 1) FROM {t} ORDER BY id",
    "SELECT id, CAST(s AS JSON), json_extract_string(to_json(s), '$.email') FROM {t} "
    "ORDER BY id",
    "SELECT id, struct_insert(s, x := 1) FROM {t} ORDER BY id",
    "SELECT id, flatten([l]), array_to_string(tags, ',') FROM {t} ORDER BY id",
    "SELECT unnest(l, recursive := true) FROM {t}",
    "SELECT id, json_object('e', s.email) FROM {t} ORDER BY id",
    "SELECT id, list_aggregate(tags, 'string_agg', ',') FROM {t} ORDER BY id",
    "SELECT id, map_from_entries([{{'k': 'e', 'v': s.email}}]) FROM {t} ORDER BY id",
    "SELECT id, struct_pack(e := s.email), row(s.email, s.name) FROM {t} ORDER BY id",
    "SELECT id, {{'e': s.email, 'l': l}} FROM {t} ORDER BY id",
]

# Ways in the allow-list refuses today (whole-row references, DuckDB's old lambda arrow,
# EXCLUDE on a struct): either refused, or, once allowed, the same answer as the oracle.
# Masking at the source must hold either way.
MAY_REFUSE = [
    "SELECT t FROM {t} AS t ORDER BY id",
    "SELECT to_json(t) FROM {t} AS t ORDER BY id",
    "SELECT id, list_transform(l, x -> x.email) FROM {t} ORDER BY id",
    "SELECT id, s.* EXCLUDE (name) FROM {t} ORDER BY id",
]


@pytest.mark.parametrize("sql", REACH)
def test_every_way_in_sees_the_masked_value(root: Path, expected: duckdb.DuckDBPyConnection,
                                            sql: str) -> None:
    got = Mesh.open(root).sql(sql.format(t="crm.nested"), user="ana").arrow()
    assert _leaks(str(got.to_pylist())) == []
    assert _rows(got) == _rows(expected.sql(sql.format(t="nested")).arrow().read_all())


@pytest.mark.parametrize("sql", MAY_REFUSE)
def test_ways_in_the_allow_list_may_refuse_are_refused_or_masked(
        root: Path, expected: duckdb.DuckDBPyConnection, sql: str) -> None:
    try:
        got = Mesh.open(root).sql(sql.format(t="crm.nested"), user="ana").arrow()
    except DuckmeshError as exc:
        assert _leaks(str(exc)) == []
        return
    assert _leaks(str(got.to_pylist())) == []
    assert _rows(got) == _rows(expected.sql(sql.format(t="nested")).arrow().read_all())


@pytest.mark.parametrize("sql", [
    "SELECT s.card FROM {t}",
    "SELECT s['card'] FROM {t}",
    "SELECT struct_extract(s, 'card') FROM {t}",
    "SELECT l[1].note FROM {t}",
    "SELECT x.note FROM (SELECT unnest(l) AS x FROM {t}) AS q",
    "SELECT id FROM {t} WHERE s.card LIKE '4%'",
    "SELECT m FROM {t}",
    "SELECT m['k'] FROM {t}",
    "SELECT bad FROM {t}",
    "SELECT bad.a FROM {t}",
])
def test_a_field_left_out_cannot_be_reached(root: Path, sql: str) -> None:
    with pytest.raises(DuckmeshError) as err:
        Mesh.open(root).sql(sql.format(t="crm.nested"), user="ana").arrow()
    assert _leaks(str(err.value)) == []
    if "card" in sql or "l[1].note" in sql:  # named directly: refused, naming field and rule
        assert isinstance(err.value, AccessDenied)
        assert "crm.nested.s.card" in str(err.value) or "crm.nested.l[].note" in str(err.value)
        assert "pci: deny" in str(err.value)


def test_columns_whose_classifications_cannot_be_enforced_are_denied(root: Path) -> None:
    access = Mesh.open(root).sql("SELECT * FROM crm.nested", user="ana")
    decisions = {d.column: (d.action, d.reason) for d in access.decisions if d.column}
    assert decisions["m"][0] == "hidden" and "MAP" in decisions["m"][1]
    assert decisions["bad"][0] == "hidden" and "bad.b is not a field" in decisions["bad"][1]
    assert decisions["s.email"][0] == "mask:hash"
    assert decisions["s.home.phone"][0] == "mask:hash"  # labels are case-insensitive
    assert decisions["s.card"][0] == decisions["l[].note"][0] == "hidden"
    assert decisions["s.born"][0] == "mask:year"
    assert decisions["tags[]"][0] == "mask:hash"
    with pytest.raises(AccessDenied, match="crm.nested.m is denied"):
        Mesh.open(root).sql("SELECT m FROM crm.nested", user="ana")


def test_an_admin_reads_every_field_raw(root: Path) -> None:
    got = Mesh.open(root).sql("SELECT * FROM crm.nested ORDER BY id", user="adam").arrow()
    con = duckdb.connect()
    try:
        raw = con.sql("SELECT * FROM read_parquet($p) ORDER BY id",
                      params={"p": data_file(root)}).arrow().read_all()
    finally:
        con.close()
    assert _rows(got) == _rows(raw)


def test_cli_output_holds_no_raw_field(root: Path) -> None:
    for fmt in ("csv", "json", "table"):
        out = CliRunner().invoke(cli, ["--mesh", str(root), "query", "--user", "ana",
                                       "--format", fmt, "SELECT * FROM crm.nested"])
        assert out.exit_code == 0, out.output
        assert _leaks(out.output) == [] and "Ann" in out.output


def test_a_governed_struct_is_never_pushed_down(root: Path) -> None:
    mesh = Mesh.open(root)
    sql = "SELECT id FROM crm.nested WHERE s IS NULL AND tags IS NULL AND id = 1"
    query = run(GovernedQuery(sql, parse(sql)), mesh.context("ana"), DECIDE)
    table = next(t for t in query.expression.find_all(exp.Table) if t.db)
    assert [p[0] for p in pushable(table, query.access["crm.nested"])] == ["id"]


def test_nested_classifications_are_read_from_odcs() -> None:
    found = nested_fields(COLUMNS[1]) + nested_fields(COLUMNS[2]) + nested_fields(COLUMNS[3])
    assert [(f.path, f.classification) for f in found] == [
        (("email",), "pii"), (("card",), "pci"), (("born",), "sensitive"),
        (("home", "phone"), "pii"), ((ITEMS, "email"), "pii"), ((ITEMS, "note"), "pci"),
        ((ITEMS,), "pii")]
    assert nested_fields(COLUMNS[4])[0].path == (MAP_VALUE,)
    assert found[3].describe("s") == "s.home.phone" and found[4].describe("l") == "l[].email"


@pytest.mark.parametrize(("type_", "path", "problem"), [
    ("STRUCT(a VARCHAR)", ("b",), "c.b is not a field of the struct c"),
    ("STRUCT(a VARCHAR)[]", ("a",), "c is a list: its fields are under c[]"),
    ("MAP(VARCHAR, VARCHAR)", (MAP_VALUE,), "c is a MAP"),
    ("VARCHAR", ("a",), "c is a TEXT"),
    ("STRUCT(a STRUCT(b MAP(VARCHAR, STRUCT(x INT))))", ("a", "b", MAP_VALUE, "x"),
     "c.a.b is a MAP"),
])
def test_what_cannot_be_rebuilt_is_named(type_: str, path: tuple[str, ...],
                                         problem: str) -> None:
    with pytest.raises(NotRebuildable, match=re.escape(problem)):
        nested_mask(exp.column("c"), Column("c", type_), {path: ("mask", "redact")})


def test_nothing_left_is_none() -> None:
    rules = {("a",): ("deny", None), ("b", ITEMS): ("deny", None)}
    assert nested_mask(exp.column("c"), Column("c", "STRUCT(a INT, b INT[])"), rules) is None


GOLDEN = Path(__file__).parents[2] / "fixtures" / "golden" / "rewrite_nested.sql"


@pytest.mark.parametrize("index", range(len(load_cases(GOLDEN))))
def test_golden_rewrite(root: Path, index: int, request: pytest.FixtureRequest) -> None:
    """The secured relation of nested masks, as SQL (tests/fixtures/golden/rewrite_nested.sql;
    ``--update-golden`` rewrites it)."""
    check_rewrite_case(GOLDEN, index, Mesh.open(root), request)


def test_lists_of_lists_and_deep_structs_are_rebuilt() -> None:
    column = Column("c", "STRUCT(a STRUCT(b VARCHAR, k BIGINT)[][], d DATE)")
    rules = {("a", ITEMS, ITEMS, "b"): ("mask", "redact"), ("d",): ("mask", "null")}
    rebuilt = nested_mask(exp.column("c"), column, rules)
    assert rebuilt is not None
    con = duckdb.connect()
    try:
        got = con.sql(f"SELECT {rebuilt.sql(dialect='duckdb')} FROM (SELECT "
                      "{'a': [[{'b': 'x', 'k': 1}, NULL], NULL, []], 'd': DATE '2020-02-02'} "
                      "AS c UNION ALL SELECT NULL) ORDER BY 1 NULLS LAST").fetchall()
    finally:
        con.close()
    assert got == [({"a": [[{"b": "[REDACTED]", "k": 1}, None], None, []], "d": None},),
                   (None,)]


def test_validate_names_classifications_it_cannot_enforce(root: Path) -> None:
    from federation.checks.validate import validate_mesh

    errors, _ = validate_mesh(root)
    text = [str(e) for e in errors]
    assert any("column m: m is a MAP" in t and "cannot be enforced" in t for t in text)
    assert any("column bad: bad.b is not a field of the struct bad" in t for t in text)
    assert not any("column s:" in t or "column l:" in t for t in text)

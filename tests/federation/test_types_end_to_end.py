"""Nested and wide types end to end (issue 14, item 4): contracts, conformance by leaf
column, queries (field access, UNNEST), CSV/JSON/table output, Arrow, pandas and polars,
each checked against plain DuckDB or polars reading the same files."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from federation import Mesh
from federation.checks.data import check
from federation.cli import cli
from federation.errors import QueryFailed
from products.conformance import column_findings
from products.locate import plan_product
from tests.helpers import col, contract, write_yaml
from tests.lab import make_lab, raw


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = make_lab(tmp_path_factory.mktemp("lab") / "lab")
    # A CSV product: text formats are read with the declared types, HUGEINT included.
    data = root / "data/lab/wide"
    data.mkdir(parents=True)
    (data / "part-0.csv").write_text(
        "id,h,uh\n1,170141183460469231731687303715884105727,340282366920938463463374607431768211455\n"
        "2,-170141183460469231731687303715884105728,0\n")
    spec = contract("lab", "wide", [col("id", "BIGINT"), col("h", "HUGEINT"),
                                     col("uh", "UHUGEINT")])
    spec["servers"][0]["format"] = "csv"
    write_yaml(root / "domains/lab/wide.odcs.yaml", spec)
    return root


def test_every_declared_type_matches_the_data(lab: Path) -> None:
    mesh = Mesh.open(lab)
    findings = check(mesh, ["lab.types", "lab.wide"])
    assert [f for f in findings if f.status in ("failed", "error")] == []


def test_a_required_column_after_a_struct_is_checked_on_its_own_nulls(lab: Path) -> None:
    mesh = Mesh.open(lab)
    product = mesh.catalog.get("lab.after_struct")
    facts = plan_product(product, lab).facts
    note = [f for f in column_findings(product, facts) if f.column == "note"]
    assert note[0].status == "failed" and note[0].observed == 5


QUERIES = {
    "SELECT id, s.a, s.b, l[1], len(l), m['k'], l[2:3] FROM {t} ORDER BY id":
        "SELECT id, s.a, s.b, l[1], len(l), m['k'], l[2:3] FROM lab_types ORDER BY id",
    "SELECT id, unnest(l) AS x FROM {t} ORDER BY id, x":
        "SELECT id, unnest(l) AS x FROM lab_types ORDER BY id, x",
    "SELECT t.id, u.x FROM {t} t, unnest(t.l) AS u(x) ORDER BY 1, 2":
        "SELECT t.id, u.x FROM lab_types t, unnest(t.l) AS u(x) ORDER BY 1, 2",
    "SELECT s.*, id FROM {t} ORDER BY id": "SELECT s.*, id FROM lab_types ORDER BY id",
    "SELECT unnest(s), to_json(s) FROM {t} ORDER BY id":
        "SELECT unnest(s), to_json(s) FROM lab_types ORDER BY id",
    "SELECT sum(ub)::HUGEINT AS h, max(dec), min(u), max(f), max(ts_ns), max(t), max(bl) "
    "FROM {t}": "SELECT sum(ub)::HUGEINT AS h, max(dec), min(u), max(f), max(ts_ns), max(t), "
                "max(bl) FROM lab_types",
    "SELECT list_sum(l), map_keys(m), element_at(m, 'j'), array_length(l) FROM {t} "
    "ORDER BY id": "SELECT list_sum(l), map_keys(m), element_at(m, 'j'), array_length(l) "
                   "FROM lab_types ORDER BY id",
}


@pytest.mark.parametrize("sql", list(QUERIES))
def test_nested_queries_answer_as_duckdb_does(lab: Path, sql: str) -> None:
    got = Mesh.open(lab).sql(sql.format(t="lab.types"), user="adam").arrow()
    expected = raw(lab, QUERIES[sql])
    assert [tuple(r.values()) for r in got.to_pylist()] == expected


def test_results_load_into_arrow_pandas_and_polars(lab: Path) -> None:
    result = Mesh.open(lab).sql("SELECT * FROM lab.types ORDER BY id", user="adam")
    frame = result.pl()
    oracle = pl.read_parquet(lab / "data/lab/types/part-0.parquet").sort("id")
    for name in ("id", "l", "s", "m", "ut", "us", "ui", "ub", "f", "dec", "ts_ns", "d", "t",
                 "bl"):
        assert frame[name].to_list() == oracle[name].to_list(), name
    assert result.df().shape == (48, 17)
    assert result.df(dtype_backend="pyarrow")["s"].iloc[0] == {"a": 0, "b": "b0"}


def test_nested_values_in_csv_json_and_tables(lab: Path) -> None:
    def run(*args: str) -> str:
        out = CliRunner().invoke(cli, ["--mesh", str(lab), "query", "-u", "adam", *args,
                                       "SELECT id, l, s, m, bl, u FROM lab.types ORDER BY id "
                                       "LIMIT 2"])
        assert out.exit_code == 0, out.stderr
        return out.stdout

    rows = list(csv.DictReader(io.StringIO(run("--format", "csv"))))
    assert json.loads(rows[1]["l"]) == [1, 2, 3]
    assert json.loads(rows[1]["s"]) == {"a": 1, "b": "b1"}
    assert json.loads(rows[1]["m"]) == [["k", 1], ["j", 2]]
    assert rows[1]["bl"] == b"bytes1".hex()
    assert rows[1]["u"] == "00000000-0000-0000-0000-000000000001"
    first = json.loads(run("--format", "json"))[1]
    assert first["s"] == {"a": 1, "b": "b1"} and first["l"] == [1, 2, 3]
    assert '{"a": 1, "b": "b1"}' in run("--format", "table")


def test_wide_integers_from_text_products(lab: Path) -> None:
    mesh = Mesh.open(lab)
    rows = mesh.sql("SELECT h FROM lab.wide ORDER BY id", user="adam").arrow().to_pylist()
    assert rows == [{"h": 2**127 - 1}, {"h": -(2**127)}]
    small = mesh.sql("SELECT uh FROM lab.wide WHERE id = 2", user="adam").arrow()
    assert small.to_pylist() == [{"uh": 0}]
    # Above 2^127 DuckDB's Arrow export wraps a UHUGEINT (2^128 - 1 became -1): an error
    # instead of a wrong answer.
    with pytest.raises(QueryFailed, match="converted"):
        mesh.sql("SELECT uh FROM lab.wide", user="adam").arrow()

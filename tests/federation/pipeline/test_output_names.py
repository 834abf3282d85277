"""Result-column names through duckmesh equal DuckDB's for the same query run raw."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
import sqlglot

from federation import Mesh
from federation.errors import QueryRejected
from federation.pipeline.output_names import duckdb_names
from tests.helpers import col, make_mesh

EXPRESSIONS = [
    "count(*)",
    "COUNT(*)",
    "sum(amount)",
    "SUM( amount )",
    "count(DISTINCT city)",
    "amount + 1",
    "t.amount * 2",
    "CAST(amount AS VARCHAR)",
    "amount::VARCHAR",
    "substring(city FROM 1 FOR 2)",
    "CASE WHEN amount > 1 THEN 'big' END",
    "upper(city) || '\"quoted\"'",
    "extract(year FROM day)",
    "DATE '2020-01-01'",
    "42",
    "coalesce(city, 'none')",
    "(SELECT max(amount) FROM shop.orders)",
    "row_number() OVER (PARTITION BY city ORDER BY amount DESC)",
]


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("names")
    return make_mesh(
        root,
        products={"shop.orders": (
            [col("id", "BIGINT"), col("city"), col("amount", "BIGINT"), col("day", "DATE")],
            "SELECT range AS id, 'city' || (range % 3) AS city, range * 10 AS amount, "
            "DATE '2024-01-01' + range::INTEGER AS day FROM range(20)")},
        users={"adam": {"roles": ["admin"]}}, rules=[],
        grants={"shop": [{"products": ["*"], "roles": ["admin"]}]})


def raw_names(root: Path, sql: str) -> list[str]:
    con = duckdb.connect()
    try:
        con.execute("CREATE SCHEMA shop")
        con.read_parquet(str(root / "data/shop/orders/part-0.parquet")).to_view("orders_raw")
        con.execute("CREATE VIEW shop.orders AS SELECT * FROM orders_raw")
        return con.sql(sql).columns
    finally:
        con.close()


@pytest.mark.parametrize("expression", EXPRESSIONS)
def test_unaliased_columns_are_named_as_duckdb_names_them(shop: Path, expression: str) -> None:
    sql = f"SELECT {expression} FROM shop.orders t"
    governed = Mesh.open(shop).sql(sql, user="adam").arrow()
    assert governed.column_names == raw_names(shop, sql)


def test_ordinals_still_refer_to_renamed_columns(shop: Path) -> None:
    sql = "SELECT amount + 1, count(*) FROM shop.orders GROUP BY 1 ORDER BY 1 DESC LIMIT 2"
    governed = Mesh.open(shop).sql(sql, user="adam").arrow()
    assert governed.column_names == raw_names(shop, sql) == ["(amount + 1)", "count_star()"]
    assert governed.column("(amount + 1)").to_pylist() == [191, 181]


def test_a_shape_sqlglot_cannot_qualify_is_rejected_cleanly(shop: Path) -> None:
    sql = "SELECT (SELECT max(amount) FROM shop.orders) FROM shop.orders ORDER BY 1"
    with pytest.raises(QueryRejected, match="could not be resolved"):
        Mesh.open(shop).sql(sql, user="adam")


def test_names_follow_the_leftmost_branch_of_a_set_operation(shop: Path) -> None:
    sql = "SELECT amount + 1, city FROM shop.orders UNION ALL SELECT 1, 'x'"
    governed = Mesh.open(shop).sql(sql, user="adam").arrow()
    assert governed.column_names == raw_names(shop, sql)


def test_aliases_and_stars_keep_their_own_names() -> None:
    assert duckdb_names("SELECT a AS b, *, t.c, sum(d) FROM t") == ("b", "*", "t.c", "sum(d)")


def test_text_duckdb_cannot_parse_gives_no_names() -> None:
    assert duckdb_names("SELECT FROM WHERE") is None


def test_a_name_cannot_break_out_of_its_identifier(shop: Path) -> None:
    """The name is the caller's own text; it becomes a quoted alias, never SQL."""
    sql = "SELECT upper(city) || '\"; DROP TABLE x; --' FROM shop.orders LIMIT 1"
    result = Mesh.open(shop).sql(sql, user="adam")
    names = raw_names(shop, sql)
    assert result.arrow().column_names == names
    statements = sqlglot.parse(result.governed_sql, dialect="duckdb")
    assert len(statements) == 1
    assert statements[0].selects[0].alias == names[0]

"""The list of what a governed query may use is generated from the allow-list, and the
committed page is that list."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import sqlglot
from click.testing import CliRunner

from federation.cli import cli
from federation.pipeline.allowlist import check
from federation.pipeline.features import features, markdown
from federation.pipeline.functions import ALLOWED, FAMILIES, duckdb_name

DOC = Path(__file__).parents[3] / "docs" / "sql-features.md"


def test_the_committed_page_is_the_generated_one() -> None:
    assert DOC.read_text() == markdown(), "run: duckmesh sql-features > docs/sql-features.md"


def test_the_cli_prints_it() -> None:
    result = CliRunner().invoke(cli, ["sql-features"])
    assert result.exit_code == 0 and result.stdout == markdown()
    as_json = CliRunner().invoke(cli, ["sql-features", "--format", "json"])
    assert json.loads(as_json.stdout)["functions"] == features()["functions"]


def test_every_listed_function_is_a_duckdb_function() -> None:
    con = duckdb.connect()
    try:
        known = {r[0].lower() for r in con.execute(
            "SELECT DISTINCT function_name FROM duckdb_functions()").fetchall()}
    finally:
        con.close()
    # Syntax DuckDB parses itself (extract, coalesce, try_cast…), not catalog functions.
    assert {n for names in FAMILIES.values() for n in names} - known <= {
        "extract", "grouping", "grouping_id", "try_cast", "current_time", "current_timestamp",
        "coalesce", "ifnull"}


def test_functions_are_named_as_duckdb_names_them() -> None:
    """sqlglot's own words never reach a message: unnest, not explode; time_bucket, not
    date_bin; list literals, not array()."""
    for sql, name in [("SELECT unnest([1])", "unnest"),
                      ("SELECT time_bucket(INTERVAL 1 DAY, x)", "time_bucket"),
                      ("SELECT [0.9, 0.99]", "list literal [...]"),
                      ("SELECT list_has_any(a, b)", "list_has_any"),
                      ("SELECT strftime(x, '%Y')", "strftime")]:
        node = sqlglot.parse_one(sql, read="duckdb").expressions[0]
        assert duckdb_name(node) == name
        check(sqlglot.parse_one(sql, read="duckdb"))
    assert "explode" not in ALLOWED and "date_bin" not in ALLOWED

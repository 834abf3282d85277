"""The analyst's command line (issue 15): SQL from files, stdin and with leading comments,
bound parameters, denials that say whom to ask, ``products profile``, output formats
inferred from the file name, and did-you-mean for commands and options."""

from __future__ import annotations

import json
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner, Result

from federation import Mesh
from federation.cli import cli
from federation.cli.params import param_value


def dm(mesh: Path, *args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, ["--mesh", str(mesh), *args], input=input)


# -- SQL from anywhere --------------------------------------------------------------------


def test_sql_from_a_file_from_stdin_and_with_a_leading_comment(demo_root: Path,
                                                               tmp_path: Path) -> None:
    sql = "-- revenue by country\nSELECT 42 AS answer, '--x' AS s"
    script = tmp_path / "report.sql"
    script.write_text(sql + ";\n")
    for args, stdin in ((["-f", str(script)], None), (["-"], sql), ([sql], None),
                        (["-f", "-"], sql)):
        result = dm(demo_root, "query", "-u", "ana", "--format", "json", *args, input=stdin)
        assert result.exit_code == 0, (args, result.stderr)
        assert json.loads(result.stdout) == [{"answer": 42, "s": "--x"}]
    explained = dm(demo_root, "explain", "-u", "ana", "-- why\nSELECT country FROM "
                                                      "customers.profiles")
    assert explained.exit_code == 0 and "row_filter" in explained.stdout


def test_sql_source_mistakes_are_one_line(demo_root: Path, tmp_path: Path) -> None:
    both = dm(demo_root, "query", "-f", str(tmp_path / "x.sql"), "SELECT 1")
    assert both.exit_code == 1 and "not both" in both.stderr
    missing = dm(demo_root, "query", "-f", str(tmp_path / "nope.sql"))
    assert missing.exit_code == 1 and "no SQL file" in missing.stderr
    empty = dm(demo_root, "query", "-", input="  \n")
    assert empty.exit_code == 1 and "the SQL is empty" in empty.stderr


def test_an_option_value_with_spaces_is_still_a_value(demo_root: Path, tmp_path: Path) -> None:
    """Only arguments in the SQL's place are read as SQL: an option's value stays its."""
    out = tmp_path / "a file.csv"
    result = dm(demo_root, "query", "-u", "ana", "-o", str(out), "SELECT 1 AS a")
    assert result.exit_code == 0 and out.read_text().splitlines() == ['"a"', "1"]
    spaced = dm(demo_root, "query", "-u", "ana", "--format", "csv", "--param=v=a b",
                "--param", "w=c d", "SELECT $v AS v, $w AS w")
    assert spaced.exit_code == 0 and spaced.stdout.splitlines() == ['"v","w"', '"a b","c d"']


@pytest.mark.parametrize(("text", "value"), [
    ("42", 42), ("-7", -7), ("007", "007"), ("2.50", __import__("decimal").Decimal("2.50")),
    ("1e3", 1000.0), ("true", True), ("FALSE", False), ("null", None), ("'42'", "42"),
    ("2024-01-31", "2024-01-31"), ("FR", "FR"), ("", ""),
])
def test_param_values_are_typed_by_their_spelling(text: str, value: object) -> None:
    assert param_value(text) == value and type(param_value(text)) is type(value)


def test_params_are_bound_never_spliced(demo_root: Path) -> None:
    result = dm(demo_root, "query", "-u", "ana", "--format", "json",
                "--param", "country=FR", "--param", "n=2", "--param", "evil=x' OR '1'='1",
                "SELECT country, $evil AS evil FROM customers.profiles "
                "WHERE country = $country ORDER BY customer_id LIMIT $n")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == [{"country": "FR", "evil": "x' OR '1'='1"}] * 2
    wrong = dm(demo_root, "query", "-u", "ana", "--param", "x", "SELECT $x")
    assert wrong.exit_code == 1 and "--param takes NAME=VALUE" in wrong.stderr
    unused = dm(demo_root, "query", "-u", "ana", "--param", "y=1", "SELECT 1")
    assert unused.exit_code == 1 and "no parameter $y" in unused.stderr


# -- denials, --user, profile ---------------------------------------------------------


def test_a_denial_names_the_owner_and_the_request_command(demo_root: Path) -> None:
    result = dm(demo_root, "query", "-u", "ana", "--purpose", "analytics",
                "SELECT card_number FROM payments.transactions")
    assert result.exit_code == 3
    assert result.stderr.rstrip().endswith(
        "(ask finance-team: `duckmesh access request payments.transactions --columns "
        "card_number --purpose analytics --reason TEXT`)")
    no_grant = dm(demo_root, "query", "-u", "nobody", "SELECT 1 FROM flights.schedule")
    assert no_grant.exit_code == 3 and "grants live in" in no_grant.stderr
    assert "duckmesh access request flights.schedule --purpose PURPOSE" in no_grant.stderr


def test_products_profile_is_governed_and_audited(demo_copy: Path) -> None:
    result = dm(demo_copy, "products", "profile", "customers.profiles", "-u", "ana",
                "--format", "json")
    assert result.exit_code == 0, result.stderr
    found = json.loads(result.stdout)
    columns = {r["name"]: r for r in found["rows"]}
    assert "passport_number" not in columns  # hidden from ana
    assert columns["email"]["clear"] is False and columns["email"]["min"] is None
    assert columns["email"]["top"] == [] and columns["email"]["distinct"] > 0
    assert columns["region"]["top"] == [["EU", found["total"]]]  # ana's rows only
    assert columns["country"]["min"] is not None
    records = list(Mesh.open(demo_copy).audit.records())
    assert records and {r["user"] for r in records} == {"ana"}
    assert {r["purpose"] for r in records} == {"profile"}
    table = dm(demo_copy, "products", "profile", "customers.profiles", "-u", "ana")
    assert "masked (hash)" in table.stdout and "as ana may see them" in table.stdout


# -- output formats -------------------------------------------------------------------


def test_output_format_follows_the_extension(demo_root: Path, tmp_path: Path) -> None:
    sql = "SELECT flight_id, origin FROM flights.schedule ORDER BY flight_id LIMIT 3"
    md, xlsx = tmp_path / "out.md", tmp_path / "out.xlsx"
    assert dm(demo_root, "query", "-u", "ana", "-o", str(md), sql).exit_code == 0
    lines = md.read_text().splitlines()
    assert lines[0] == "| flight_id | origin |" and lines[1] == "|---:|---|" and len(lines) == 5
    assert dm(demo_root, "query", "-u", "ana", "-o", str(xlsx), sql).exit_code == 0
    sheet = openpyxl.load_workbook(xlsx).active
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    assert rows[0] == ["flight_id", "origin"] and rows[1][0] == 1 and len(rows) == 4
    hostile = dm(demo_root, "query", "-u", "ana", "--format", "markdown",
                 "SELECT 'a|b' || chr(10) || '| c' AS \"x|y\"")
    assert hostile.stdout.splitlines() == ["| x\\|y |", "|---|", "| a\\|b<br>\\| c |"]
    unknown = dm(demo_root, "query", "-u", "ana", "-o", str(tmp_path / "x.txt"), sql)
    assert unknown.exit_code == 1 and ".md or .xlsx" in unknown.stderr


def test_xlsx_never_turns_data_into_formulas(demo_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "f.xlsx"
    assert dm(demo_root, "query", "-u", "ana", "-o", str(out),
              "SELECT '=HYPERLINK(\"http://x\")' AS f").exit_code == 0
    cell = openpyxl.load_workbook(out).active["A2"]
    assert cell.data_type == "s" and cell.value == '=HYPERLINK("http://x")'


def test_line_format_keeps_a_hundred_columns_readable(demo_root: Path) -> None:
    sql = "SELECT " + ", ".join(f"{i} AS column_{i}" for i in range(100))
    result = dm(demo_root, "query", "-u", "ana", "--format", "line", sql)
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert len(lines) == 100 and lines[0] == " column_0 = 0" and lines[99] == "column_99 = 99"


# -- did-you-mean ---------------------------------------------------------------------


@pytest.mark.parametrize(("args", "suggestion"), [
    (["qeury", "SELECT 1"], "No such command 'qeury'. Did you mean 'query'?"),
    (["products", "proflie"], "No such command 'proflie'. Did you mean 'profile'?"),
    (["query", "--fromat", "json", "SELECT 1"], "Did you mean '--format'?"),
    (["audit", "--buy", "x"], "Did you mean '--by'?"),
])
def test_commands_and_options_suggest(demo_root: Path, args: list[str], suggestion: str) -> None:
    result = dm(demo_root, *args)
    assert result.exit_code == 1 and suggestion in result.stderr

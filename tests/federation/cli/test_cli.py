"""Every CLI command through click's CliRunner: output, formats and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner, Result

from federation.cli import cli

REVENUE = ("SELECT c.country, p.card_brand, count(*) AS bookings, sum(p.amount) AS revenue, "
           "min(c.email) AS sample_email FROM bookings.reservations b JOIN customers.profiles c "
           "ON c.customer_id = b.customer_id JOIN payments.transactions p "
           "ON p.booking_id = b.booking_id GROUP BY ALL ORDER BY revenue DESC LIMIT 10")


def dm(*args: str, mesh: Path | None = None) -> Result:
    prefix = ["--mesh", str(mesh)] if mesh else []
    return CliRunner().invoke(cli, [*prefix, *args])


def test_query_table_shows_masked_emails_and_eu_only(demo_root: Path) -> None:
    result = dm("query", "--user", "ana", REVENUE, mesh=demo_root)
    assert result.exit_code == 0, result.stderr
    assert "sample_email" in result.stdout and "@" not in result.stdout
    assert "rows)" in result.stderr


def test_query_json_is_one_array_of_objects(demo_root: Path) -> None:
    result = dm("query", "-u", "ana", "--format", "json", REVENUE, mesh=demo_root)
    rows = json.loads(result.stdout)
    assert isinstance(rows, list) and len(rows) == 10
    assert set(rows[0]) == {"country", "card_brand", "bookings", "revenue", "sample_email"}
    assert all(len(r["sample_email"]) == 32 for r in rows)
    countries = {r["country"] for r in rows}
    assert countries <= {"ES", "FR", "DE", "IT", "NL", "PL", "GB", "SE"}


def test_query_empty_json(demo_root: Path) -> None:
    result = dm("query", "-u", "ana", "--format", "json",
                "SELECT country FROM customers.profiles WHERE false", mesh=demo_root)
    assert result.exit_code == 0 and json.loads(result.stdout) == []


def test_query_csv_and_parquet_outputs(demo_root: Path, tmp_path: Path) -> None:
    sql = "SELECT flight_id, origin FROM flights.schedule ORDER BY flight_id LIMIT 7"
    csv_out = tmp_path / "out.csv"
    result = dm("query", "-u", "ana", "--format", "csv", "-o", str(csv_out), sql, mesh=demo_root)
    assert result.exit_code == 0, result.stderr
    assert pacsv.read_csv(csv_out).num_rows == 7
    pq_out = tmp_path / "out.parquet"
    dm("query", "-u", "ana", "--format", "parquet", "-o", str(pq_out), sql, mesh=demo_root)
    assert pq.read_table(pq_out).column_names == ["flight_id", "origin"]
    assert not list(tmp_path.glob("*.partial"))


def test_query_csv_to_stdout(demo_root: Path) -> None:
    result = dm("query", "-u", "ana", "--format", "csv",
                "SELECT 1 AS a, 'x' AS b", mesh=demo_root)
    assert result.stdout.splitlines() == ['"a","b"', '1,"x"']


def test_failed_query_leaves_no_output_file(demo_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    result = dm("query", "-u", "adam", "--format", "json", "-o", str(out),
                "SELECT strptime(email, '%Y') FROM customers.profiles", mesh=demo_root)
    assert result.exit_code == 1
    assert not out.exists() and not list(tmp_path.glob("*.partial"))


def test_denied_card_number_exits_3_naming_column_and_rule(demo_root: Path) -> None:
    result = dm("query", "--user", "ana", "SELECT card_number FROM payments.transactions",
                mesh=demo_root)
    assert result.exit_code == 3
    assert result.stderr.count("\n") == 1
    assert "card_number" in result.stderr and "policies.yaml rule 1" in result.stderr
    assert "pci" in result.stderr


def test_fraud_investigator_reads_card_numbers(demo_root: Path) -> None:
    result = dm("query", "-u", "fiona", "--format", "json",
                "SELECT card_number FROM payments.transactions LIMIT 3", mesh=demo_root)
    assert result.exit_code == 0
    cards = [r["card_number"] for r in json.loads(result.stdout)]
    assert len(cards) == 3 and all(c.isdigit() and len(c) == 16 for c in cards)


def test_explain_shows_governed_sql_and_decisions(demo_root: Path) -> None:
    result = dm("explain", "-u", "ana", REVENUE, mesh=demo_root)
    assert result.exit_code == 0
    for text in ("mask:hash", "row_filter", "region = 'EU'", "hidden", "card_number",
                 "policies.yaml rule 1", "governed SQL", "READ_PARQUET"):
        assert text in result.stdout, text


def test_explain_json(demo_root: Path) -> None:
    result = dm("explain", "-u", "ana", "--format", "json",
                "SELECT email FROM customers.profiles", mesh=demo_root)
    doc = json.loads(result.stdout)
    assert doc["products"] == ["customers.profiles"]
    assert doc["columns_read"] == {"customers.profiles": ["email"]}
    actions = {(d["column"], d["action"]) for d in doc["decisions"]}
    assert ("email", "mask:hash") in actions and (None, "row_filter") in actions


def test_explain_of_a_denied_query_exits_3(demo_root: Path) -> None:
    assert dm("explain", "-u", "ana", "SELECT passport_number FROM customers.profiles",
              mesh=demo_root).exit_code == 3


def test_user_from_environment(demo_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DUCKMESH_USER", "fiona")
    result = dm("query", "--format", "json", "SELECT count(card_number) AS n FROM "
                "payments.transactions", mesh=demo_root)
    assert result.exit_code == 0 and json.loads(result.stdout)[0]["n"] > 0


def test_mesh_found_from_environment_and_from_cwd(demo_root: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DUCKMESH_MESH", str(demo_root))
    assert dm("products", "list").exit_code == 0
    monkeypatch.delenv("DUCKMESH_MESH")
    monkeypatch.chdir(demo_root / "domains" / "customers")
    assert "customers.profiles" in dm("products", "list").stdout


def test_no_mesh_found_is_one_line_exit_1(tmp_path: Path) -> None:
    result = dm("products", "list")
    assert result.exit_code == 1
    assert result.stderr.startswith("duckmesh: error:") and "duckmesh.yaml" in result.stderr


def test_usage_error_exits_1(demo_root: Path) -> None:
    result = dm("query", "--bogus", mesh=demo_root)
    assert result.exit_code == 1 and "No such option" in result.stderr


def test_rejected_sql_exits_1_without_traceback(demo_root: Path) -> None:
    result = dm("query", "-u", "ana", "DROP TABLE x", mesh=demo_root)
    assert result.exit_code == 1
    assert "Traceback" not in result.stderr and "only SELECT" in result.stderr


def test_debug_adds_a_traceback(demo_root: Path) -> None:
    result = dm("--debug", "query", "-u", "ana", "DROP TABLE x", mesh=demo_root)
    assert result.exit_code == 1 and "Traceback" in result.stderr


def test_unknown_product_exits_1(demo_root: Path) -> None:
    result = dm("query", "-u", "ana", "SELECT * FROM sales.orders", mesh=demo_root)
    assert result.exit_code == 1 and "unknown product 'sales.orders'" in result.stderr


def test_products_list_table_and_json(demo_root: Path) -> None:
    listed = json.loads(dm("products", "list", "--format", "json", mesh=demo_root).stdout)
    assert [p["product"] for p in listed] == [
        "bookings.reservations", "customers.profiles", "flights.schedule",
        "marketing.campaigns", "marketing.touchpoints", "meta.audit", "payments.transactions"]
    assert "customer-data-team" in dm("products", "list", mesh=demo_root).stdout


def test_validate_ok(demo_root: Path) -> None:
    result = dm("validate", mesh=demo_root)
    assert result.exit_code == 0 and "6 products" in result.stdout


def test_validate_reports_every_problem_with_file_and_field(demo_copy: Path) -> None:
    contract = demo_copy / "domains/payments/transactions.odcs.yaml"
    contract.write_text(contract.read_text().replace("kind: DataContract", "kind: Contract"))
    domain = demo_copy / "domains/customers/domain.yaml"
    domain.write_text(domain.read_text().replace("deny_columns:\n  - full_name",
                                                 "deny_columns:\n  - fullname"))
    result = dm("validate", mesh=demo_copy)
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 2
    assert "transactions.odcs.yaml:2: kind:" in result.stderr
    assert "domain.yaml" in result.stderr and "fullname" in result.stderr
    assert "grants[2].deny_columns" in result.stderr


def test_validate_malformed_yaml_names_the_line(demo_copy: Path) -> None:
    (demo_copy / "governance/principals.yaml").write_text("users:\n  ana: [unclosed\n")
    result = dm("validate", mesh=demo_copy)
    assert result.exit_code == 1
    assert "principals.yaml:3: malformed YAML" in result.stderr


def test_query_on_a_broken_contract_is_one_line(demo_copy: Path) -> None:
    path = demo_copy / "domains/flights/schedule.odcs.yaml"
    path.write_text(path.read_text().replace("physicalType: INTEGER", "physicalType: NOTATYPE"))
    # A broken contract refuses its own product (issue 13: not the whole mesh).
    result = dm("query", "-u", "ana", "SELECT * FROM flights.schedule", mesh=demo_copy)
    assert result.exit_code == 1
    assert "schedule.odcs.yaml" in result.stderr and "NOTATYPE" in result.stderr


def test_demo_writes_a_mesh_and_refuses_a_non_empty_folder(tmp_path: Path) -> None:
    target = tmp_path / "m"
    result = dm("demo", str(target), "--scale", "0.002")
    assert result.exit_code == 0, result.stderr
    assert (target / "duckmesh.yaml").is_file()
    assert dm("validate", mesh=target).exit_code == 0
    again = dm("demo", str(target))
    assert again.exit_code == 1 and "not empty" in again.stderr


def test_demo_rejects_bad_scale(tmp_path: Path) -> None:
    assert dm("demo", str(tmp_path / "x"), "--scale", "0").exit_code == 1
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(("sql", "code"), [
    ("EXPLAIN SELECT * FROM customers.profiles", 1),
    ("CALL pragma_version()", 1),
    ("SELECT FROM WHERE (", 1),
    ("SELECT card_number FROM payments.transactions", 3),
    ("SELECT * FROM nowhere.nothing", 1),
])
def test_a_refused_query_prints_exactly_one_line(demo_root: Path, sql: str, code: int) -> None:
    """In a real process (no test harness capturing logs): nothing but our one line,
    e.g. no warning from sqlglot quoting the SQL back."""
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "federation.cli", "--mesh", str(demo_root),
                           "query", "--user", "ana", sql], capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == code
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert lines[0].startswith("duckmesh: error: "), proc.stderr
    if "could not parse" in lines[0]:
        # A parse error quotes the caller's own line with a caret under the fault.
        assert lines[1:] == ["  " + sql, " " * (2 + sql.index("WHERE")) + "^"], proc.stderr
    else:
        assert len(lines) == 1, proc.stderr


def test_a_reader_that_stops_early_is_not_an_error(demo_copy: Path) -> None:
    """`duckmesh query … | head -1`: exit 141 like a Unix tool, nothing on stderr, and
    the audit record says the result was not read to the end."""
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "federation.cli", "--mesh", str(demo_copy),
                             "query", "--user", "adam", "--format", "csv",
                             "SELECT * FROM bookings.reservations"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline().startswith(b'"booking_id"')
    proc.stdout.close()
    assert proc.wait(timeout=60) == 141
    with proc.stderr:
        assert proc.stderr.read() == b""
    records = json.loads(CliRunner().invoke(cli, ["--mesh", str(demo_copy), "audit",
                                                  "--format", "json"],
                                            env={"DUCKMESH_USER": "adam"}).stdout)
    assert records[-1]["outcome"] == "failed"
    assert records[-1]["error"] == "the result was not read to the end: its reader stopped"


@pytest.mark.parametrize(("args", "message"), [
    (["query", "--user", "ana", "--out", "x.csv", "SELECT 1"],
     "duckmesh: error: No such option '--out'. (Did you mean one of: '--format', '--output'?) "
     "(see `duckmesh query --help`)"),
    (["query"], "duckmesh: error: no SQL: give it as an argument, with -f FILE, or as - to "
                "read stdin"),
    (["nosuch"], "duckmesh: error: No such command 'nosuch'. (see `duckmesh --help`)"),
])
def test_usage_errors_are_one_line_too(demo_root: Path, args: list[str], message: str) -> None:
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "federation.cli", "--mesh", str(demo_root),
                           *args], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr == message + "\n"


def test_table_preview_keeps_only_the_rows_shown() -> None:
    import pyarrow as pa

    from federation.cli.render import preview

    batches = [pa.record_batch({"n": list(range(i * 10, i * 10 + 10))}) for i in range(5)]
    reader = pa.RecordBatchReader.from_batches(batches[0].schema, iter(batches))
    shown, total = preview(reader, 15)
    assert total == 50 and shown.column("n").to_pylist() == list(range(15))
    empty = pa.RecordBatchReader.from_batches(batches[0].schema, iter([]))
    shown, total = preview(empty, 5)
    assert total == 0 and shown.num_rows == 0 and shown.schema == batches[0].schema


def test_table_output_counts_every_row(demo_root: Path) -> None:
    result = CliRunner().invoke(cli, ["--mesh", str(demo_root), "query", "-u", "adam",
                                      "--max-rows", "2", "SELECT * FROM flights.schedule"])
    assert result.exit_code == 0
    assert "(2 of " in result.stderr and " rows shown;" in result.stderr
    total = int(result.stderr.split("(2 of ")[1].split()[0])
    check = CliRunner().invoke(cli, ["--mesh", str(demo_root), "query", "-u", "adam",
                                     "--format", "json", "SELECT count(*) AS n FROM "
                                     "flights.schedule"])
    assert json.loads(check.stdout) == [{"n": total}]


def test_table_output_keeps_repeated_column_names_apart(demo_root: Path) -> None:
    result = dm("query", "-u", "adam", "SELECT 1 AS a, 'x' AS a, 2 AS a", mesh=demo_root)
    assert result.exit_code == 0, result.stderr
    row = next(line for line in result.stdout.splitlines() if "x" in line)
    assert [cell.strip() for cell in row.strip("│ ").split("│")] == ["1", "x", "2"]


def test_brackets_in_data_and_contracts_are_printed_as_they_are(demo_copy: Path) -> None:
    """Rich reads "[...]" as markup: text from data, contracts and the audit log must not
    be restyled or dropped."""
    import yaml

    marked = "[bold]b[/bold] [red]r"
    path = demo_copy / "domains/flights/schedule.odcs.yaml"
    contract = yaml.safe_load(path.read_text())
    contract["description"]["purpose"] = marked
    path.write_text(yaml.safe_dump(contract, sort_keys=False))
    assert marked in dm("products", "show", "flights.schedule", mesh=demo_copy).stdout
    assert marked in dm("products", "list", mesh=demo_copy).stdout
    data = dm("query", "-u", "adam", f"SELECT '{marked}' AS s", mesh=demo_copy)
    assert marked in data.stdout
    audit = CliRunner().invoke(cli, ["--mesh", str(demo_copy), "audit"],
                               env={"DUCKMESH_USER": "adam"})
    assert audit.exit_code == 0, audit.stderr
    assert marked in audit.stdout

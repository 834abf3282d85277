"""federation.connect and the CLI against a server: the same Result API and the same
answers as embedded mode; tokens issued, listed and revoked; non-loopback without TLS
refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import federation
from federation import Mesh
from federation.cli import cli
from federation.errors import AccessDenied, AuthenticationFailed, QueryRejected, UsageError
from federation.server.run import Server
from tests.federation.server.conftest import Served

SQL = "SELECT country, count(*) AS n, min(email) AS e FROM customers.profiles GROUP BY ALL " \
      "ORDER BY country"


def test_connect_returns_the_result_api(served: Served) -> None:
    embedded = Mesh.open(served.root).sql(SQL, user="ana")
    with federation.connect(served.flight, token=served.tokens["ana"]) as mesh:
        result = mesh.sql(SQL)
        assert result.arrow().to_pylist() == embedded.arrow().to_pylist()
        assert result.df().shape == embedded.df().shape
        assert result.pl().shape == (embedded.arrow().num_rows, 3)
        assert sum(b.num_rows for b in result.batches()) == embedded.arrow().num_rows
        assert result.principal == "ana"
        assert result.products == ("customers.profiles",)
        stamp = json.loads(json.dumps(embedded.stamp, default=str))
        assert {k: v for k, v in result.stamp.items() if k != "planned_at"} == \
            {k: v for k, v in stamp.items() if k != "planned_at"}
        assert "mask:hash" in result.explain() and "customers.profiles" in result.explain()
        assert [d.action for d in result.decisions] == [d.action for d in embedded.decisions]
        bound = mesh.sql("SELECT count(*) AS n FROM customers.profiles WHERE country = $c",
                         {"c": "DE"}).arrow()
        assert bound.column("n")[0].as_py() > 0
        assert "mask:hash" in mesh.explain("SELECT email FROM customers.profiles")


def test_connect_raises_the_embedded_error_classes(served: Served) -> None:
    with federation.connect(served.flight, token=served.tokens["ana"]) as mesh:
        with pytest.raises(AccessDenied, match="card_number"):
            mesh.sql("SELECT card_number FROM payments.transactions")
        with pytest.raises(QueryRejected):
            mesh.sql("SELECT * FROM read_parquet('x.parquet')")
    with pytest.raises(AuthenticationFailed), \
            federation.connect(served.flight, token="dmt_no_no") as mesh:
        mesh.sql("SELECT 1")
    with pytest.raises(UsageError, match="grpc://"):
        federation.connect("http://localhost:8080", token="x")


def test_cli_query_explain_products_with_server(served: Served, tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text(served.tokens["ana"] + "\n")
    runner = CliRunner()
    base = ["--server", served.flight, "--token-file", str(token)]
    out = runner.invoke(cli, ["query", SQL, "--format", "json", *base])
    assert out.exit_code == 0, out.output
    embedded = runner.invoke(cli, ["--mesh", str(served.root), "query", SQL, "--format", "json",
                                   "--user", "ana"])
    assert json.loads(out.stdout) == json.loads(embedded.stdout)
    denied = runner.invoke(cli, ["query", "SELECT card_number FROM payments.transactions",
                                 *base])
    assert denied.exit_code == 3
    as_user = runner.invoke(cli, ["query", SQL, "--user", "fiona", *base])
    assert as_user.exit_code == 1 and "--user cannot be used with --server" in as_user.output
    explained = runner.invoke(cli, ["explain", "SELECT email FROM customers.profiles",
                                    "--format", "json", *base])
    assert json.loads(explained.stdout)["user"] == "ana"
    listed = runner.invoke(cli, ["products", "list", "--format", "json", *base])
    assert any(p["product"] == "customers.profiles" for p in json.loads(listed.stdout))
    shown = runner.invoke(cli, ["products", "show", "payments.transactions", "--format",
                                "json", *base])
    card = [c for c in json.loads(shown.stdout)["columns"] if c["name"] == "card_number"]
    assert card[0]["access"] == "hidden"
    bad = runner.invoke(cli, ["query", SQL, "--server", served.flight],
                        env={"DUCKMESH_TOKEN": "dmt_wrong_wrong"})
    assert bad.exit_code == 3


def test_tokens_issue_list_revoke(demo_copy: Path) -> None:
    runner = CliRunner()
    issued = runner.invoke(cli, ["--mesh", str(demo_copy), "tokens", "issue", "ana",
                                 "--expires", "2h", "--name", "tableau"])
    assert issued.exit_code == 0, issued.output
    token = issued.stdout.strip().splitlines()[-1]
    assert token.startswith("dmt_")
    stored = (demo_copy / ".duckmesh/tokens.json").read_text()
    assert token.split("_", 2)[2] not in stored  # only a hash is kept
    assert oct((demo_copy / ".duckmesh/tokens.json").stat().st_mode)[-3:] == "600"
    listed = json.loads(runner.invoke(cli, ["--mesh", str(demo_copy), "tokens", "list",
                                            "--format", "json"]).stdout)
    assert listed[0]["user"] == "ana" and listed[0]["status"] == "active"
    assert listed[0]["name"] == "tableau"
    revoked = runner.invoke(cli, ["--mesh", str(demo_copy), "tokens", "revoke",
                                  listed[0]["id"]])
    assert revoked.exit_code == 0
    listed = json.loads(runner.invoke(cli, ["--mesh", str(demo_copy), "tokens", "list",
                                            "--format", "json"]).stdout)
    assert listed[0]["status"] == "revoked"
    unknown = runner.invoke(cli, ["--mesh", str(demo_copy), "tokens", "issue", "mallory"])
    assert unknown.exit_code == 1 and "not a principal" in unknown.output
    assert runner.invoke(cli, ["--mesh", str(demo_copy), "tokens", "issue", "ana",
                               "--expires", "soon"]).exit_code == 1


def test_non_loopback_without_tls_is_refused(served_root: Path) -> None:
    mesh = Mesh.open(served_root)
    settings = mesh.settings.server.model_copy(update={"host": "0.0.0.0"})
    with pytest.raises(UsageError, match="without TLS"):
        Server(mesh, settings)
    Server(mesh, settings, insecure=True)  # allowed when asked for (nothing is started)
    with pytest.raises(UsageError, match="both"):
        Server(mesh, settings.model_copy(update={"tls_cert": "cert.pem"}))


def test_notebook_magic_with_server(served: Served, tmp_path: Path) -> None:
    from IPython.testing.globalipapp import start_ipython

    token = tmp_path / "token"
    token.write_text(served.tokens["ana"])
    shell = start_ipython()
    assert shell is not None
    shell.run_line_magic("load_ext", "federation")
    shell.run_line_magic("mesh_defaults", f"--server {served.flight} --token-file {token}")
    frame = shell.run_cell_magic("mesh", "--out governed",
                                 "SELECT region, email FROM customers.profiles")
    assert frame is not None and set(frame["region"]) == {"EU"}
    assert frame.duckmesh_footer[0].startswith("governed for ana")
    assert any("masked" in line for line in frame.duckmesh_footer)

"""The notebooks in notebooks/ run clean against a demo mesh, and the %%mesh magic works."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from IPython.core.interactiveshell import InteractiveShell
from nbclient import NotebookClient

from federation.notebook import GovernedFrame

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
NAMES = ["01_discover", "02_bi_revenue", "03_ml_training"]


@pytest.mark.parametrize("name", NAMES)
def test_notebook_is_stored_without_outputs(name: str) -> None:
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_clean(name: str, demo_copy: Path, tmp_path: Path,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DUCKMESH_MESH", str(demo_copy))
    monkeypatch.setenv("DUCKMESH_ARTIFACTS", str(tmp_path / "artifacts"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
              if o.output_type == "error" or (o.output_type == "stream" and o.name == "stderr"
                                               and "duckmesh: error" in o.text)]
    assert errors == []
    if name == "03_ml_training":
        artifacts = tmp_path / "artifacts"
        stamp = json.loads((artifacts / "cancellation_model.stamp.json").read_text())
        assert stamp["user"] == "dana"
        assert set(stamp["products"]) == {"bookings.reservations", "customers.profiles",
                                          "payments.transactions"}
        assert (artifacts / "cancellation_model.joblib").stat().st_size > 0


# -- the magic, through IPython's own API ---------------------------------------------------

@pytest.fixture
def ip(demo_root: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("DUCKMESH_MESH", str(demo_root))
    shell = InteractiveShell.instance()
    shell.run_line_magic("reload_ext", "federation")  # fresh magics: no defaults left over
    yield shell
    shell.user_ns.pop("out", None)


def test_cell_magic_returns_a_governed_dataframe(ip, capsys: pytest.CaptureFixture[str]) -> None:
    frame = ip.run_cell_magic("mesh", "--user ana --out out",
                              "SELECT email, region FROM customers.profiles LIMIT 4")
    assert isinstance(frame, GovernedFrame)
    assert ip.user_ns["out"] is frame
    assert all(len(e) == 32 for e in frame["email"])
    footer = frame._repr_html_()
    assert "customers.profiles.email: masked (hash)" in footer
    assert "rows filtered (region = &#x27;EU&#x27;)" in footer
    # Masks on columns the query did not read are not in the footer.
    assert "phone" not in footer
    assert "products read: customers.profiles" in repr(frame)
    assert type(frame.head(1)) is not GovernedFrame  # derived frames carry no footer
    assert frame.attrs["duckmesh"]["user"] == "ana"


def test_cell_magic_errors_are_one_line_without_data(ip,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert ip.run_cell_magic("mesh", "--user ana",
                             "SELECT card_number FROM payments.transactions") is None
    err = capsys.readouterr().err
    assert err.startswith("duckmesh: error: column payments.transactions.card_number is denied")
    assert err.count("\n") == 1 and "Traceback" not in err


def test_cell_body_is_never_interpolated(ip, capsys: pytest.CaptureFixture[str]) -> None:
    ip.user_ns["evil"] = "1; DROP TABLE x"
    frame = ip.run_cell_magic("mesh", "--user adam",
                              "SELECT '{evil}' AS a, '$evil' AS b FROM flights.schedule LIMIT 1")
    assert list(frame.iloc[0]) == ["{evil}", "$evil"]


def test_defaults_and_audit_purpose(ip, demo_root: Path) -> None:
    ip.run_line_magic("mesh_defaults", "--user dana")
    frame = ip.run_cell_magic("mesh", "", "SELECT customer_id FROM bookings.reservations LIMIT 2")
    assert frame.attrs["duckmesh"]["user"] == "dana"
    assert all(len(k) == 32 for k in frame["customer_id"])  # pseudonymous keys for dana
    from federation import Mesh

    records = [r for r in Mesh.open(demo_root).audit.records() if r.get("purpose") == "notebook"]
    assert records and records[-1]["user"] == "dana"


def test_param_binds_a_notebook_variable_as_a_value(ip, capsys: pytest.CaptureFixture[str]) -> None:
    ip.user_ns["chosen"] = "FR"
    ip.user_ns["evil"] = "x' OR '1'='1"
    frame = ip.run_cell_magic("mesh", "--user ana --param country=chosen --param evil",
                              "SELECT DISTINCT country, $evil AS e FROM customers.profiles "
                              "WHERE country = $country")
    assert frame.to_dict("records") == [{"country": "FR", "e": "x' OR '1'='1"}]
    assert ip.run_cell_magic("mesh", "--user ana --param c=missing", "SELECT $c") is None
    assert "no notebook variable 'missing'" in capsys.readouterr().err


def test_a_denial_in_a_cell_says_whom_to_ask(ip, capsys: pytest.CaptureFixture[str]) -> None:
    assert ip.run_cell_magic("mesh", "--user ana",
                             "SELECT card_number FROM payments.transactions") is None
    err = capsys.readouterr().err
    assert "ask finance-team: `duckmesh access request payments.transactions" in err

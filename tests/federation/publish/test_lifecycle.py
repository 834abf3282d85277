"""A contract's lifecycle: draft → active → deprecated → retired, by the domain's owners;
what readers get at each status; an unknown status fails closed."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from federation import Mesh
from federation.cli import cli
from federation.errors import AccessDenied, ContractError, UsageError
from federation.publish.lifecycle import set_status
from federation.publish.publisher import publish

QUERY = "SELECT count(*) AS n FROM bookings.reservations"
CONTRACT = "domains/bookings/reservations.odcs.yaml"


def _status(root: Path, value: str) -> None:
    path = root / CONTRACT
    path.write_text(path.read_text().replace("status: active", f"status: {value}"))


@pytest.mark.parametrize("status", ["draft", "proposed"])
def test_a_draft_is_read_only_by_its_domains_owners(demo_copy: Path, status: str) -> None:
    _status(demo_copy, status)
    mesh = Mesh.open(demo_copy)
    assert mesh.sql(QUERY, user="sales-team").arrow().num_rows == 1
    for user in ("ana", "adam", "finance-team"):
        with pytest.raises(AccessDenied, match=f"is a {status}"):
            mesh.sql(QUERY, user=user)
    # Not through a join, a subquery or a CTE either.
    with pytest.raises(AccessDenied):
        mesh.sql("WITH r AS (SELECT * FROM bookings.reservations) SELECT count(*) FROM r",
                 user="adam")


@pytest.mark.parametrize("status", ["activ", "Retired ", "archived", "ACTIVE!"])
def test_an_unknown_status_is_refused(demo_copy: Path, status: str) -> None:
    _status(demo_copy, f"'{status}'")
    with pytest.raises(ContractError, match="does not know"):
        Mesh.open(demo_copy).sql(QUERY, user="adam")


def test_deprecated_warns_and_retired_refuses(demo_copy: Path) -> None:
    mesh = Mesh.open(demo_copy)
    set_status(mesh, "bookings.reservations", "deprecated", user="sales-team",
               replacement="flights.schedule", sunset="2027-06-30")
    result = Mesh.open(demo_copy).sql(QUERY, user="ana")
    assert result.warnings == ["bookings.reservations is deprecated. Use flights.schedule "
                               "instead, it sunsets on 2027-06-30."]
    set_status(Mesh.open(demo_copy), "bookings.reservations", "retired", user="sales-team")
    run = CliRunner().invoke(cli, ["--mesh", str(demo_copy), "query", "--user", "ana", QUERY])
    assert run.exit_code == 4
    assert "retired. Use flights.schedule instead." in run.output
    listed = CliRunner().invoke(cli, ["--mesh", str(demo_copy), "products", "list",
                                      "--format", "json"])
    assert '"status": "retired"' in listed.output


def test_status_changes_keep_comments_and_are_audited(demo_copy: Path) -> None:
    path = demo_copy / CONTRACT
    path.write_text("# owned by the sales team\n" + path.read_text())
    set_status(Mesh.open(demo_copy), "bookings.reservations", "deprecated", user="sales-team")
    text = path.read_text()
    assert text.startswith("# owned by the sales team\n")
    assert yaml.safe_load(text)["status"] == "deprecated"
    records = list(Mesh.open(demo_copy).audit.records())
    assert records[-1]["lifecycle"] == {"from": "active", "to": "deprecated"}


@pytest.mark.parametrize(("user", "status", "kwargs", "error"), [
    ("ana", "deprecated", {}, AccessDenied),                      # not an owner
    ("customer-data-team", "deprecated", {}, AccessDenied),       # another domain's owner
    ("sales-team", "draft", {}, UsageError),                      # backwards
    ("sales-team", "paused", {}, UsageError),                     # no such status
    ("sales-team", "deprecated", {"replacement": "bookings.reservations"}, UsageError),
    ("sales-team", "deprecated", {"replacement": "bookings.nothing"}, UsageError),
    ("sales-team", "deprecated", {"sunset": "next year"}, UsageError),
    ("sales-team", "active", {"sunset": "2027-01-01"}, UsageError),
])
def test_bad_status_changes_are_refused_and_change_nothing(
        demo_copy: Path, user: str, status: str, kwargs: dict[str, str], error: type[Exception]
) -> None:
    before = (demo_copy / CONTRACT).read_text()
    with pytest.raises(error):
        set_status(Mesh.open(demo_copy), "bookings.reservations", status, user=user,
                   **kwargs)
    assert (demo_copy / CONTRACT).read_text() == before


def test_retired_is_final(demo_copy: Path) -> None:
    set_status(Mesh.open(demo_copy), "bookings.reservations", "retired", user="sales-team")
    with pytest.raises(UsageError, match="from retired to active"):
        set_status(Mesh.open(demo_copy), "bookings.reservations", "active", user="sales-team")


def test_a_retired_source_is_named_to_readers_of_what_was_derived_from_it(
        demo_copy: Path) -> None:
    """A derived product of a source that is retired still holds what it held at its last
    refresh (and no refresh can read the source again): its readers are told."""
    publish(Mesh.open(demo_copy), "bookings.bc", "SELECT b.booking_id, c.country FROM "
            "bookings.reservations b JOIN customers.profiles c USING (customer_id)",
            user="sales-team")
    count = "SELECT count(*) AS n FROM bookings.bc"
    assert Mesh.open(demo_copy).sql(count, user="sales-team").warnings == []
    set_status(Mesh.open(demo_copy), "customers.profiles", "retired",
               user="customer-data-team", replacement="flights.schedule")
    result = Mesh.open(demo_copy).sql(count, user="sales-team")
    assert result.warnings == [
        "bookings.bc is derived from customers.profiles, which is retired: its data is what "
        "customers.profiles held at its last refresh. Use flights.schedule instead."]
    run = CliRunner().invoke(cli, ["--mesh", str(demo_copy), "query", "--user", "sales-team",
                                   count])
    assert run.exit_code == 0 and "which is retired" in run.stderr


def test_a_retired_source_is_named_even_when_no_column_comes_from_it(demo_copy: Path) -> None:
    """``count(*)`` records no column lineage: the warning follows the recorded upstream
    products (it was left out, and the frozen count served silently)."""
    publish(Mesh.open(demo_copy), "bookings.n", "SELECT count(*) AS n FROM "
            "customers.profiles", user="sales-team")
    set_status(Mesh.open(demo_copy), "customers.profiles", "retired",
               user="customer-data-team", replacement="flights.schedule")
    result = Mesh.open(demo_copy).sql("SELECT n FROM bookings.n", user="sales-team")
    assert result.warnings == [
        "bookings.n is derived from customers.profiles, which is retired: its data is what "
        "customers.profiles held at its last refresh. Use flights.schedule instead."]

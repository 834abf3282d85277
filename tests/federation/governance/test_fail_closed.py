"""Issue 13's findings, each replayed on the demo mesh: every governance mistake ends in a
refusal or a denial, never in less protection.  Values are checked against the raw files
(``raw_secrets``), not against what we expect duckmesh to print."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from federation import Mesh
from federation.cli import cli
from federation.errors import DuckmeshError
from tests.conftest import leaked


def dm(mesh: Path, *args: str, user: str | None = None) -> Result:
    env = {"DUCKMESH_USER": user} if user else {}
    return CliRunner().invoke(cli, ["--mesh", str(mesh), *args], env=env)


def edit(path: Path, change: Any) -> None:
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))


def prop(data: dict[str, Any], name: str) -> dict[str, Any]:
    return next(p for p in data["schema"][0]["properties"] if p["name"] == name)


def query(mesh: Path, user: str, sql: str) -> Result:
    return dm(mesh, "query", "-u", user, "--format", "json", sql)


def test_a_duplicate_key_under_a_rule_is_an_error_not_the_last_value(
        demo_copy: Path, raw_secrets: frozenset[str]) -> None:
    path = demo_copy / "governance/policies.yaml"
    text = path.read_text()
    first = text.index("action: deny")
    path.write_text(text[:first] + "action: mask\n  method: partial\n  " + text[first:])
    result = query(demo_copy, "ana", "SELECT card_number FROM payments.transactions LIMIT 3")
    assert result.exit_code == 1 and "duplicate key 'action'" in result.stderr
    assert "policies.yaml" in result.stderr and leaked(result.stdout, raw_secrets) == []
    assert dm(demo_copy, "validate").exit_code == 1


@pytest.mark.parametrize("label", ["pii ", "PIIX", "pii_data", "p\u0456\u0456", "Pii\t"])
def test_an_unknown_label_denies_the_column(demo_copy: Path, raw_secrets: frozenset[str],
                                            label: str) -> None:
    edit(demo_copy / "domains/customers/profiles.odcs.yaml",
         lambda d: prop(d, "email").update(classification=label))
    edit(demo_copy / "domains/payments/transactions.odcs.yaml",
         lambda d: prop(d, "card_number").update(classification=label.replace("ii", "ci")))
    for sql in ("SELECT email FROM customers.profiles LIMIT 5",
                "SELECT card_number FROM payments.transactions LIMIT 5"):
        result = query(demo_copy, "ana", sql)
        assert result.exit_code == 3, result.output
        assert "not declared in policies.yaml" in result.stderr
    star = query(demo_copy, "ana", "SELECT * FROM customers.profiles LIMIT 20")
    assert star.exit_code == 0 and "email" not in json.loads(star.stdout)[0]
    assert leaked(star.stdout, raw_secrets) == []
    validate = dm(demo_copy, "validate")
    assert validate.exit_code == 1 and "email" in validate.stderr
    assert f"classification {label.lower()!r}" in validate.stderr
    if label.strip().lower() == "pii":
        assert "did you mean 'pii'?" in validate.stderr


@pytest.mark.parametrize("content", ["", "   \n\t\n", "# no rules today\n"])
def test_an_empty_policies_file_refuses_every_query(demo_copy: Path, content: str) -> None:
    (demo_copy / "governance/policies.yaml").write_text(content)
    result = query(demo_copy, "ana", "SELECT passport_number FROM customers.profiles")
    assert result.exit_code == 1 and "policies.yaml" in result.stderr and "empty" in \
        result.stderr
    assert query(demo_copy, "adam", "SELECT 1 AS x").exit_code == 1


def test_policies_cut_at_every_line_never_serve_a_protected_value(
        demo_copy: Path, raw_secrets: frozenset[str]) -> None:
    from federation import Mesh
    from federation.errors import DuckmeshError

    path = demo_copy / "governance/policies.yaml"
    lines = path.read_text().splitlines(keepends=True)
    refused = 0
    for cut in range(len(lines)):
        path.write_text("".join(lines[:cut]))
        try:
            mesh = Mesh.open(demo_copy)
            text = json.dumps(mesh.sql("SELECT * FROM customers.profiles", user="ana")
                              .arrow().to_pylist(), default=str)
        except DuckmeshError:
            refused += 1
            continue
        assert leaked(text, raw_secrets) == [], f"cut at line {cut}"
    # Cut inside a list of exceptions, a file can still be whole, only stricter.
    assert refused >= len(lines) // 2


@pytest.mark.parametrize("value", ["''", "'   '", "null", "'region ='", "'1 = 1 OR'"])
def test_a_blank_or_broken_row_filter_denies_the_product(
        demo_copy: Path, non_eu_customer_emails: frozenset[str], value: str) -> None:
    path = demo_copy / "domains/customers/domain.yaml"
    path.write_text(path.read_text().replace("row_filter: region = :region",
                                             f"row_filter: {value}"))
    result = query(demo_copy, "ana", "SELECT country FROM customers.profiles")
    assert result.exit_code == 3 and "row_filter" in result.stderr, result.output
    assert "grant 2" in result.stderr and "domain.yaml" in result.stderr
    assert leaked(result.stdout, non_eu_customer_emails) == []
    assert dm(demo_copy, "validate").exit_code == 1
    # Other domains keep working.
    assert query(demo_copy, "ana", "SELECT count(*) AS n FROM flights.schedule").exit_code == 0


@pytest.mark.parametrize("value", ["region = :region OR 1 = 1", "TRUE OR region = :region",
                                   "NOT false", "(1 = 1)", "region = :region OR TRUE"])
def test_an_always_true_filter_is_refused_not_applied(demo_copy: Path, value: str) -> None:
    """Written as a restriction, restricting nothing: a mistake, refused like a blank one."""
    path = demo_copy / "domains/customers/domain.yaml"
    path.write_text(path.read_text().replace("row_filter: region = :region",
                                             f"row_filter: {value}"))
    result = dm(demo_copy, "validate")
    assert result.exit_code == 1
    assert "always true" in result.stderr and "grants[1].row_filter" in result.stderr
    denied = query(demo_copy, "ana", "SELECT customer_id FROM customers.profiles")
    assert denied.exit_code == 3 and "always true" in denied.stderr


def test_a_misspelt_deny_column_denies_instead_of_serving_it(demo_copy: Path) -> None:
    path = demo_copy / "domains/customers/domain.yaml"
    path.write_text(path.read_text().replace("- full_name", "- fullname"))
    result = query(demo_copy, "dana", "SELECT full_name FROM customers.profiles LIMIT 3")
    assert result.exit_code == 3 and "fullname" in result.stderr
    assert "deny_columns" in result.stderr
    assert "fullname" in dm(demo_copy, "validate").stderr


def test_a_broken_domain_file_refuses_only_its_domain(demo_copy: Path) -> None:
    path = demo_copy / "domains/customers/domain.yaml"
    path.write_text(path.read_text() + "grants: []\n")  # a duplicate key
    result = query(demo_copy, "adam", "SELECT count(*) AS n FROM customers.profiles")
    assert result.exit_code == 3 and "duplicate key 'grants'" in result.stderr
    assert query(demo_copy, "adam", "SELECT count(*) AS n FROM flights.schedule").exit_code == 0


def test_a_domain_cannot_publish_another_domains_data(
        demo_copy: Path, raw_secrets: frozenset[str],
        non_eu_customer_emails: frozenset[str]) -> None:
    shadow = yaml.safe_load((demo_copy / "domains/customers/profiles.odcs.yaml").read_text())
    shadow.update(domain="bookings", id="shadow", dataProduct="shadow")
    shadow["schema"][0]["name"] = "shadow"
    for p in shadow["schema"][0]["properties"]:
        p["classification"] = "public"
    (demo_copy / "domains/bookings/shadow.odcs.yaml").write_text(yaml.safe_dump(shadow))
    result = query(demo_copy, "ana", "SELECT * FROM bookings.shadow")
    assert result.exit_code == 1 and "outside domain bookings's storage roots" in \
        result.stderr
    assert leaked(result.stdout, raw_secrets | non_eu_customer_emails) == []
    # Through a path with '..', and through a symlink inside the domain's own folder.
    for path in ("data/bookings/../customers/profiles", "data/bookings/link"):
        shadow["servers"][0]["path"] = path
        (demo_copy / "domains/bookings/shadow.odcs.yaml").write_text(yaml.safe_dump(shadow))
        (demo_copy / "data/bookings/link").unlink(missing_ok=True)
        (demo_copy / "data/bookings/link").symlink_to(demo_copy / "data/customers/profiles")
        result = query(demo_copy, "ana", "SELECT * FROM bookings.shadow")
        assert result.exit_code == 1 and "storage roots" in result.stderr, path
    validate = dm(demo_copy, "validate")
    assert validate.exit_code == 1 and "shadow.odcs.yaml" in validate.stderr
    # The real products are untouched.
    assert query(demo_copy, "ana", "SELECT count(*) AS n FROM bookings.reservations"
                 ).exit_code == 0


def test_a_symlinked_file_inside_a_products_folder_is_refused(demo_copy: Path) -> None:
    target = demo_copy / "data/customers/profiles/region=NA/data_0.parquet"
    (demo_copy / "data/bookings/reservations/booking_year=2099").mkdir()
    (demo_copy / "data/bookings/reservations/booking_year=2099/data_0.parquet").symlink_to(
        target)
    result = query(demo_copy, "adam", "SELECT count(*) AS n FROM bookings.reservations")
    assert result.exit_code == 1 and "outside domain bookings's storage roots" in \
        result.stderr


def test_a_file_swapped_for_a_symlink_after_a_query_is_refused(demo_copy: Path) -> None:
    """A long-lived process (`duckmesh serve`) checks the files as they are at each
    query: a data file read once, then replaced by a symlink into another domain, is
    refused (resolutions were cached for the life of the process)."""
    mesh = Mesh.open(demo_copy)
    count = "SELECT count(*) AS n FROM bookings.reservations"
    assert mesh.sql(count, user="adam").arrow().to_pylist()[0]["n"] > 0
    victim = sorted((demo_copy / "data/bookings/reservations").rglob("*.parquet"))[0]
    victim.unlink()
    victim.symlink_to(demo_copy / "data/customers/profiles/region=NA/data_0.parquet")
    with pytest.raises(DuckmeshError, match="outside domain bookings's storage roots"):
        mesh.sql(count, user="adam").arrow()


def test_two_products_may_not_share_a_location(demo_copy: Path) -> None:
    twin = yaml.safe_load((demo_copy / "domains/flights/schedule.odcs.yaml").read_text())
    twin.update(id="twin", dataProduct="twin")
    twin["schema"][0]["name"] = "twin"
    (demo_copy / "domains/flights/twin.odcs.yaml").write_text(yaml.safe_dump(twin))
    for name in ("twin", "schedule"):
        result = query(demo_copy, "adam", f"SELECT count(*) AS n FROM flights.{name}")
        assert result.exit_code == 1 and "share a storage location" in result.stderr


def test_overlapping_domain_roots_refuse_the_mesh(demo_copy: Path) -> None:
    edit(demo_copy / "duckmesh.yaml",
         lambda d: d["domains"]["bookings"]["roots"].append("data/"))
    result = query(demo_copy, "adam", "SELECT count(*) AS n FROM flights.schedule")
    assert result.exit_code == 1 and "overlap" in result.stderr


def test_checks_cannot_borrow_an_owners_power(demo_copy: Path) -> None:
    """owner: adam (an admin) and a rule reading another product's passports."""
    edit(demo_copy / "domains/bookings/domain.yaml", lambda d: d.update(owner="adam"))
    edit(demo_copy / "domains/bookings/reservations.odcs.yaml", lambda d: d["schema"][0].update(
        quality=[{"type": "sql", "mustBe": 0, "query": "SELECT TRY_CAST(substr(max("
                  "passport_number), 3) AS BIGINT) FROM customers.profiles"}]))
    result = dm(demo_copy, "check", "bookings.reservations", "--format", "json")
    assert result.exit_code == 4
    rule = next(f for f in json.loads(result.stdout) if f["check"] == "quality.sql")
    assert rule["status"] == "error" and "may read only bookings.reservations" in \
        rule["message"]
    assert "may read only" in dm(demo_copy, "validate").stderr


def test_a_rule_returning_text_is_an_error_that_echoes_nothing(demo_copy: Path) -> None:
    edit(demo_copy / "domains/customers/profiles.odcs.yaml", lambda d: d["schema"][0].update(
        quality=[{"type": "sql", "mustBe": 0, "query": "SELECT max(passport_number) FROM "
                  "{object}"}]))
    result = dm(demo_copy, "check", "customers.profiles", "--format", "json")
    rule = next(f for f in json.loads(result.stdout) if f["check"] == "quality.sql")
    assert rule["status"] == "error" and "must be a number" in rule["message"]
    assert rule.get("observed") is None


def write_report(mesh: Path, name: str, **spec: Any) -> None:
    (mesh / "reports" / f"{name}.yaml").write_text(yaml.safe_dump(spec))


def test_a_report_cannot_run_as_an_admin_for_everyone_and_write_anywhere(
        demo_copy: Path, tmp_path: Path) -> None:
    base = {"sql": "SELECT passport_number FROM customers.profiles", "schedule": "0 6 * * *",
            "format": "csv"}
    write_report(demo_copy, "exfil", **base, run_as="adam",
                 destination="../outside/{name}.csv")
    write_report(demo_copy, "absolute", **base, run_as="adam",
                 destination=str(tmp_path / "x.csv"))
    write_report(demo_copy, "slot_escape", **base, run_as="adam",
                 destination="out/{slot:..}/{name}.csv")
    write_report(demo_copy, "abs_sql", sql_file="/etc/hostname", run_as="adam",
                 schedule="0 6 * * *", destination="out/x.csv", format="csv")
    for name in ("exfil", "absolute", "slot_escape", "abs_sql"):
        result = dm(demo_copy, "reports", "run", name, "--at", "2026-11-22T07:00:00+00:00")
        assert result.exit_code == 1, (name, result.output)
    assert not (demo_copy.parent / "outside").exists() and not (tmp_path / "x.csv").exists()
    assert not list((demo_copy / "out").glob("**/*.csv")) if (demo_copy / "out").exists() \
        else True
    validate = dm(demo_copy, "validate")
    for name in ("exfil", "absolute", "abs_sql"):
        assert f"reports/{name}.yaml" in validate.stderr


def test_a_report_for_an_audience_with_different_views_is_refused(demo_copy: Path) -> None:
    write_report(demo_copy, "analysts", sql="SELECT country, count(*) AS n FROM "
                 "customers.profiles GROUP BY ALL", audience={"roles": ["analyst"]},
                 schedule="0 6 * * *", format="csv", destination="out/{name}.csv")
    result = dm(demo_copy, "reports", "run", "analysts", "--at", "2026-11-22T07:00:00+00:00")
    assert result.exit_code == 3
    assert "'nick'" in result.stderr and "row filter" in result.stderr
    write_report(demo_copy, "mixed", sql="SELECT email FROM customers.profiles",
                 audience={"users": ["ana", "fiona"]}, schedule="0 6 * * *", format="csv",
                 destination="out/{name}.csv")
    result = dm(demo_copy, "reports", "run", "mixed", "--at", "2026-11-22T07:00:00+00:00")
    assert result.exit_code == 3 and "'fiona' sees customers.profiles differently" in \
        result.stderr and "column full_name (mask hash vs allow)" in result.stderr
    validate = dm(demo_copy, "validate")
    assert "reports/analysts.yaml" in validate.stderr and "reports/mixed.yaml" in \
        validate.stderr
    # The demo's weekly report is for every analyst: they all see bookings alike.
    ok = dm(demo_copy, "reports", "run", "weekly_channels", "--at",
            "2026-11-23T08:00:00+00:00")
    assert ok.exit_code == 0, ok.output


def test_one_malformed_report_does_not_stop_the_others(demo_copy: Path) -> None:
    (demo_copy / "reports/broken.yaml").write_text("sql: [unclosed\n")
    result = dm(demo_copy, "reports", "due", "--now", "2026-11-22T07:00:00+00:00")
    assert "daily_revenue_eu" in result.output and "ok" in result.output
    assert "broken" in result.output and result.exit_code == 1


def test_report_slot_parameters_are_bound(demo_copy: Path) -> None:
    write_report(demo_copy, "window", sql="SELECT count(*) AS n, min($slot_start) AS s, "
                 "max($slot_end) AS e FROM bookings.reservations WHERE booked_at < $slot_end",
                 audience={"users": ["ana"]}, schedule="0 6 * * *", format="csv",
                 destination="out/{name}-{slot:%Y-%m-%d}.csv")
    result = dm(demo_copy, "reports", "run", "window", "--at", "2026-11-22T07:00:00+00:00")
    assert result.exit_code == 0, result.output
    text = (demo_copy / "out/window-2026-11-22.csv").read_text()
    assert "2026-11-21 06:00:00" in text and "2026-11-22 06:00:00" in text


def test_purposes_release_data_only_for_their_purpose(
        demo_copy: Path, raw_secrets: frozenset[str]) -> None:
    sql = "SELECT email FROM customers.profiles LIMIT 5"
    plain = query(demo_copy, "sam", sql)
    assert plain.exit_code == 0 and leaked(plain.stdout, raw_secrets) == []
    other = dm(demo_copy, "query", "-u", "sam", "--format", "json", "--purpose", "analytics",
               sql)
    assert other.exit_code == 0 and leaked(other.stdout, raw_secrets) == []
    served = dm(demo_copy, "query", "-u", "sam", "--format", "json", "--purpose",
                "customer_service", sql)
    assert served.exit_code == 0 and leaked(served.stdout, raw_secrets) != []
    # The release is for support agents: another role with the purpose gets no more.
    ana = dm(demo_copy, "query", "-u", "ana", "--format", "json", "--purpose",
             "customer_service", sql)
    assert ana.exit_code == 0 and leaked(ana.stdout, raw_secrets) == []
    unknown = dm(demo_copy, "query", "-u", "sam", "--purpose", "curiosity", sql)
    assert unknown.exit_code == 1 and "unknown purpose 'curiosity'" in unknown.stderr
    assert "customer_service" in unknown.stderr
    explain = dm(demo_copy, "explain", "-u", "sam", "--format", "json", "--purpose",
                 "customer_service", sql)
    reasons = [d["reason"] for d in json.loads(explain.stdout)["decisions"]]
    assert any("released for purpose 'customer_service'" in r for r in reasons)
    without = dm(demo_copy, "explain", "-u", "sam", "--format", "json", sql)
    reasons = [d["reason"] for d in json.loads(without.stdout)["decisions"]]
    assert any("released only for purpose 'customer_service'" in r for r in reasons)
    records = [json.loads(line) for line in dm(demo_copy, "audit", "--format", "json",
                                               user="adam").stdout.splitlines()]
    assert any(r["purpose"] == "customer_service" for r in records[0])


def test_the_vocabulary_itself_must_be_complete_and_consistent(demo_copy: Path) -> None:
    cases = {
        "no rule for a label": lambda d: d["rules"].pop(),
        "allowed and ruled": lambda d: d["classifications"][2].update(allow=True),
        "undeclared default": lambda d: d.update(default_classification="nothing"),
        "undeclared rule label": lambda d: d["rules"][0].update(classification="pcx"),
        "label with a space": lambda d: d["classifications"][0].update(name="pub lic"),
        "release for an unknown purpose": lambda d: d["rules"][1]["release"][0].update(
            purposes=["nope"]),
        "no vocabulary": lambda d: d.pop("classifications"),
    }
    original = (demo_copy / "governance/policies.yaml").read_text()
    for what, change in cases.items():
        (demo_copy / "governance/policies.yaml").write_text(original)
        edit(demo_copy / "governance/policies.yaml", change)
        result = query(demo_copy, "adam", "SELECT 1 AS x")
        assert result.exit_code == 1 and "policies.yaml" in result.stderr, what

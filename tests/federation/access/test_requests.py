"""Access requests through the CLI and the model: the files, the grant an approval writes
(and what it cannot grant), owners only, audit, and a review branch in git."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from federation import Mesh
from federation.access.requests import requests
from federation.checks.validate import validate_mesh
from federation.cli import cli
from federation.errors import AccessDenied

REQUEST = ["access", "request", "payments.transactions", "--columns", "card_number",
           "--purpose", "fraud_detection", "--reason", "Chargeback CASE-1182"]


def run(root: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--mesh", str(root), *args])


def test_request_approve_and_the_query_follows_the_grant(demo_copy: Path) -> None:
    asked = run(demo_copy, *REQUEST, "--user", "ana")
    assert asked.exit_code == 0, asked.output
    assert "release_columns:" in asked.output and "card_number:" in asked.output
    listed = json.loads(run(demo_copy, "access", "list", "--format", "json").output)
    assert [(r["requested_by"], r["product"], r["columns"], r["status"]) for r in listed] == \
        [("ana", "payments.transactions", ["card_number"], "pending")]
    request_id = listed[0]["id"]
    file = demo_copy / "requests" / "payments" / f"{request_id}.yaml"
    saved = yaml.safe_load(file.read_text())
    assert saved["reason"] == "Chargeback CASE-1182" and saved["roles"] == ["analyst"]
    # Twice the same request, or by a requester who decides: refused.
    assert run(demo_copy, *REQUEST, "--user", "ana").exit_code == 1
    assert run(demo_copy, "access", "approve", request_id, "--user", "ana").exit_code == 3
    approved = run(demo_copy, "access", "approve", request_id, "--user", "finance-team")
    assert approved.exit_code == 0, approved.output
    text = (demo_copy / "domains/payments/domain.yaml").read_text()
    assert f"# access request {request_id} of ana, approved by finance-team" in text
    assert validate_mesh(demo_copy)[0] == []
    mesh = Mesh.open(demo_copy)
    sql = "SELECT card_number FROM payments.transactions LIMIT 2"
    assert mesh.sql(sql, "ana", purpose="fraud_detection").arrow().num_rows == 2
    with pytest.raises(AccessDenied, match="releases it only for purpose 'fraud_detection'"):
        mesh.sql(sql, "ana")
    with pytest.raises(AccessDenied):  # nick, another analyst, gets nothing new
        mesh.sql(sql, "nick", purpose="fraud_detection")
    assert run(demo_copy, "access", "list").output.strip().startswith("no ") or \
        request_id not in run(demo_copy, "access", "list").output
    outcomes = [(r["user"], r["outcome"]) for r in mesh.audit.records()
                if r["outcome"].startswith("access_")]
    assert outcomes == [("ana", "access_requested"), ("finance-team", "access_approved")]


def test_what_a_domain_cannot_grant_is_said_and_refused(demo_copy: Path) -> None:
    passport = run(demo_copy, "access", "request", "customers.profiles", "-c",
                   "passport_number", "--purpose", "customer_service", "--reason", "x",
                   "--user", "ana")
    assert passport.exit_code == 1
    assert "cannot grant you passport_number" in passport.output
    assert "policies.yaml rule 3" in passport.output
    for bad, message in ((["--purpose", "gossip"], "unknown purpose"),
                         (["-c", "nope", "--purpose", "analytics"], "no column"),
                         (["-c", "currency", "--purpose", "analytics"], "you already read")):
        out = run(demo_copy, "access", "request", "payments.transactions", *bad,
                  "--reason", "x", "--user", "ana")
        assert out.exit_code == 1 and message in out.output, out.output
    assert requests(demo_copy) == []


def test_an_approval_keeps_the_other_restrictions(demo_copy: Path) -> None:
    """dana's grant hides full_name and hashes customer_id; asking for full_name lifts
    the domain's deny, keeps the hash, and the global pii rule still masks full_name."""
    asked = run(demo_copy, "access", "request", "customers.profiles", "-c", "full_name",
                "--purpose", "ml_training", "--reason", "name features", "--user", "dana")
    assert asked.exit_code == 0, asked.output
    request_id = requests(demo_copy)[0].id
    assert run(demo_copy, "access", "approve", request_id, "--user",
               "customer-data-team").exit_code == 0
    mesh = Mesh.open(demo_copy)
    grant = mesh.governance.domains["customers"].file.grants[0]
    assert grant.users == ["dana"] and grant.mask_columns == {"customer_id": "hash"}
    explained = mesh.govern("SELECT full_name, customer_id FROM customers.profiles", "dana")
    actions = {d.column: d.action for d in explained.decisions if d.column}
    assert actions["full_name"] == "mask:hash" and actions["customer_id"] == "mask:hash"


def test_denying_writes_no_grant(demo_copy: Path) -> None:
    assert run(demo_copy, *REQUEST, "--user", "ana").exit_code == 0
    before = (demo_copy / "domains/payments/domain.yaml").read_text()
    request_id = requests(demo_copy)[0].id
    denied = run(demo_copy, "access", "deny", request_id, "--note", "use the fraud team",
                 "--user", "finance-team")
    assert denied.exit_code == 0
    assert (demo_copy / "domains/payments/domain.yaml").read_text() == before
    assert requests(demo_copy)[0].status == "denied"
    assert run(demo_copy, "access", "approve", request_id, "--user",
               "finance-team").exit_code == 1  # already decided


def test_in_git_an_approval_is_committed_on_a_review_branch(demo_copy: Path) -> None:
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(demo_copy), *args], check=True,
                              capture_output=True, text=True).stdout.strip()

    git("init", "-q")
    git("add", "domains", "governance", "duckmesh.yaml")
    git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "mesh")
    head = git("rev-parse", "HEAD")
    assert run(demo_copy, *REQUEST, "--user", "ana").exit_code == 0
    request_id = requests(demo_copy)[0].id
    out = run(demo_copy, "access", "approve", request_id, "--user", "finance-team")
    branch = f"duckmesh/access-{request_id}"
    assert f"committed on branch {branch}" in out.output
    assert git("rev-parse", "HEAD") == head  # the checked-out branch did not move
    changed = git("diff", "--name-only", head, branch).splitlines()
    assert changed == ["domains/payments/domain.yaml", f"requests/payments/{request_id}.yaml"]
    assert git("log", "-1", "--format=%an", branch) == "finance-team"
    assert "users:\n  - ana" in git("show", f"{branch}:domains/payments/domain.yaml")
    assert "M domains/payments/domain.yaml" in git("status", "--short")  # applies now

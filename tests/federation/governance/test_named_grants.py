"""Grants naming users, and release_columns: a domain lifts a global rule only where
policies.yaml lets it (grantable_purposes), only for that purpose — fail closed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from federation import Mesh
from federation.checks.validate import validate_mesh
from federation.errors import AccessDenied

CARD = "SELECT card_number FROM payments.transactions LIMIT 1"


def add_grant(root: Path, domain: str, grant: dict[str, Any]) -> None:
    path = root / "domains" / domain / "domain.yaml"
    data = yaml.safe_load(path.read_text())
    data["grants"].insert(0, grant)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def test_a_release_needs_a_grantable_purpose(demo_copy: Path) -> None:
    add_grant(demo_copy, "payments", {"products": ["transactions"], "users": ["ana"],
                                      "release_columns": {"card_number": ["analytics"]}})
    mesh = Mesh.open(demo_copy)
    with pytest.raises(AccessDenied, match="policies.yaml rule 1"):
        mesh.sql(CARD, "ana", purpose="analytics")  # pci is grantable for fraud only


def test_a_release_of_a_label_no_domain_may_release_does_nothing(demo_copy: Path) -> None:
    add_grant(demo_copy, "customers", {
        "products": ["profiles"], "users": ["ana"], "row_filter": "region = :region",
        "release_columns": {"passport_number": ["customer_service"]}})
    mesh = Mesh.open(demo_copy)
    with pytest.raises(AccessDenied, match="rule 3"):
        mesh.sql("SELECT passport_number FROM customers.profiles", "ana",
                 purpose="customer_service")


def test_named_users_must_be_principals(demo_copy: Path) -> None:
    add_grant(demo_copy, "payments", {"products": ["transactions"], "users": ["ghost"],
                                      "release_columns": {"card_number": ["fraud_detection"]}})
    errors, _ = validate_mesh(demo_copy)
    assert any("no principal 'ghost'" in str(e) for e in errors)
    with pytest.raises(AccessDenied, match="no grant"):  # an unknown name is nobody
        Mesh.open(demo_copy).sql(CARD, "ghost", purpose="fraud_detection")


def test_a_grant_for_nobody_breaks_its_domain(demo_copy: Path) -> None:
    add_grant(demo_copy, "payments", {"products": ["transactions"]})
    with pytest.raises(AccessDenied, match="broken"):
        Mesh.open(demo_copy).sql("SELECT amount FROM payments.transactions", "adam")


def test_release_names_an_existing_column(demo_copy: Path) -> None:
    add_grant(demo_copy, "payments", {"products": ["transactions"], "users": ["ana"],
                                      "release_columns": {"card_nmuber": ["fraud_detection"]}})
    errors, _ = validate_mesh(demo_copy)
    assert any("no column 'card_nmuber'" in str(e) for e in errors)
    with pytest.raises(AccessDenied, match="does not apply"):
        Mesh.open(demo_copy).sql("SELECT amount FROM payments.transactions", "ana")

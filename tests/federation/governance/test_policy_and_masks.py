"""Policy semantics and every mask method, on a small custom mesh built for the purpose."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import pytest

from federation import Mesh
from federation.errors import AccessDenied, ConfigError
from federation.governance.masks import hmac_params, reference_hash
from tests.helpers import col, make_mesh

PEOPLE = """
SELECT * FROM (VALUES
  (1, 'alice@example.org', '+44 20 7946 0958', DATE '1980-05-17', 'EU', 'abc', 'P1'),
  (2, 'bob@example.org',   '123',              DATE '1975-01-02', 'NA', NULL,  'P2'),
  (3, NULL,                NULL,               NULL,              'EU', 'xyz', 'P3')
) t(id, email, phone, born, region, note, passport)
"""
ORDERS = "SELECT * FROM (VALUES (10, 'alice@example.org'), (11, 'bob@example.org')) t(id, email)"


@pytest.fixture
def custom(tmp_path: Path) -> Mesh:
    root = make_mesh(
        tmp_path / "m",
        products={
            "crm.people": ([col("id", "BIGINT"), col("email", classification="pii"),
                            col("phone", classification="pii"),
                            col("born", "DATE", classification="pii"),
                            col("region"), col("note", classification="internal"),
                            col("passport", classification="restricted")], PEOPLE),
            "shop.orders": ([col("id", "BIGINT"), col("email", classification="pii")], ORDERS),
        },
        users={"ana": {"roles": ["analyst"], "attributes": {"region": "EU"}},
               "ola": {"roles": ["analyst", "ops"]},
               "max": {"roles": ["masker"]},
               "root": {"roles": ["admin"]}},
        rules=[{"classification": "pii", "action": "mask", "method": "hash",
                "unless_roles": ["admin"]},
               {"classification": "restricted", "action": "deny", "unless_roles": ["admin"]}],
        grants={
            "crm": [
                {"products": ["people"], "roles": ["admin"]},
                {"products": ["people"], "roles": ["analyst"], "row_filter": "region = :region",
                 "mask_columns": {"phone": "partial", "born": "year", "note": "redact"}},
                {"products": ["people"], "roles": ["masker"],
                 "mask_columns": {"email": "null", "phone": "partial", "note": "null"}},
                {"products": ["people"], "roles": ["ops"], "deny_columns": ["email"]},
            ],
            "shop": [{"products": ["*"], "roles": ["analyst", "admin", "masker"]}],
        },
    )
    return Mesh.open(root)


def rows(mesh: Mesh, sql: str, user: str) -> list[dict[str, object]]:
    return mesh.sql(sql, user=user).arrow().to_pylist()


def test_hash_is_rfc2104_hmac_sha256(custom: Mesh) -> None:
    got = rows(custom, "SELECT email FROM crm.people ORDER BY id", "ana")
    assert got[0]["email"] == hmac.new(b"test-secret", b"alice@example.org",
                                       hashlib.sha256).hexdigest()[:32]
    assert got[1]["email"] is None  # NULL stays NULL
    assert reference_hash(b"k" * 100, "v") == hmac.new(b"k" * 100, b"v",
                                                       hashlib.sha256).hexdigest()[:32]
    assert set(hmac_params(b"k")) == {"duckmesh_mask_ipad", "duckmesh_mask_opad"}


def test_masked_keys_still_join_across_domains(custom: Mesh) -> None:
    joined = rows(custom, "SELECT o.id FROM shop.orders o JOIN crm.people p "
                          "ON p.email = o.email ORDER BY o.id", "ana")
    assert joined == [{"id": 10}]  # bob is outside the EU filter


def test_stricter_global_mask_wins_over_a_domain_mask(custom: Mesh) -> None:
    # phone is pii (global hash) and the domain asks for partial: hash is stricter.
    phone = rows(custom, "SELECT phone FROM crm.people WHERE id = 1", "ana")[0]["phone"]
    assert phone == reference_hash(b"test-secret", "+44 20 7946 0958")


def test_domain_masks_partial_null_redact_year(custom: Mesh) -> None:
    got = rows(custom, "SELECT email, phone, note FROM crm.people ORDER BY id", "max")
    # masker: email null (stricter than the global hash), phone partial loses to hash
    assert [r["email"] for r in got] == [None, None, None]
    assert [r["note"] for r in got] == [None, None, None]
    got = rows(custom, "SELECT note, born FROM crm.people ORDER BY id", "ana")
    assert [r["note"] for r in got] == ["[REDACTED]", "[REDACTED]"]


def test_partial_and_year_masks_on_unclassified_columns(tmp_path: Path) -> None:
    root = make_mesh(
        tmp_path / "m2",
        products={"crm.people": ([col("id", "BIGINT"), col("phone"), col("born", "DATE"),
                                  col("region")], PEOPLE.replace(", note, passport", "")
                                 .replace(", 'abc', 'P1'", "").replace(", NULL,  'P2'", "")
                                 .replace(", 'xyz', 'P3'", ""))},
        users={"u": {"roles": ["r"]}}, rules=[],
        grants={"crm": [{"products": ["people"], "roles": ["r"],
                         "mask_columns": {"phone": "partial", "born": "year"}}]})
    got = rows(Mesh.open(root), "SELECT phone, born FROM crm.people ORDER BY id", "u")
    assert [r["phone"] for r in got] == ["****0958", "****", None]
    assert [str(r["born"]) for r in got] == ["1980-01-01", "1975-01-01", "None"]


def test_row_filter_binds_the_callers_attribute(custom: Mesh) -> None:
    assert {r["region"] for r in rows(custom, "SELECT region FROM crm.people", "ana")} == {"EU"}


def test_first_matching_grant_applies(custom: Mesh) -> None:
    # ola has analyst and ops: the analyst grant comes first, so no email denial and the
    # analyst row filter, which needs an attribute ola lacks: fail closed.
    with pytest.raises(AccessDenied, match="no attribute 'region'"):
        custom.sql("SELECT id FROM crm.people", user="ola")


def test_restricted_is_denied_even_where_the_domain_grants_all(custom: Mesh) -> None:
    with pytest.raises(AccessDenied, match="restricted: deny unless admin"):
        custom.sql("SELECT passport FROM crm.people", user="ana")
    assert "passport" not in rows(custom, "SELECT * FROM crm.people", "ana")[0]
    assert rows(custom, "SELECT passport FROM crm.people WHERE id = 1", "root") == [
        {"passport": "P1"}]


def test_default_deny_without_a_grant(custom: Mesh) -> None:
    with pytest.raises(AccessDenied, match="has no grant to read crm.people"):
        custom.sql("SELECT id FROM crm.people", user="nobody")


def test_hash_mask_without_a_secret_fails_closed(tmp_path: Path) -> None:
    root = make_mesh(tmp_path / "m3", products={"crm.people": ([col("id", "BIGINT"),
                                                                col("email", classification="pii")],
                                                               "SELECT 1 AS id, 'a' AS email")},
                     users={"u": {"roles": ["r"]}},
                     rules=[{"classification": "pii", "action": "mask", "method": "hash"}],
                     grants={"crm": [{"products": ["*"], "roles": ["r"]}]})
    yaml_path = root / "duckmesh.yaml"
    yaml_path.write_text(yaml_path.read_text().replace("secret: test-secret\n", ""))
    mesh = Mesh.open(root)
    with pytest.raises(ConfigError, match="no mask secret"):
        mesh.sql("SELECT email FROM crm.people", user="u")
    assert mesh.sql("SELECT id FROM crm.people", user="u").arrow().num_rows == 1


def test_secret_from_environment_changes_the_hash(custom: Mesh,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DUCKMESH_SECRET", "from-env")
    got = rows(custom, "SELECT email FROM crm.people WHERE id = 1", "ana")[0]["email"]
    assert got == reference_hash(b"from-env", "alice@example.org")

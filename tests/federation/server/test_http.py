"""The HTTP API with httpx: formats by Accept, errors with statuses, identity only from
the token, explain, the catalog, health, metrics, OpenAPI."""

from __future__ import annotations

import csv
import io
import json

import httpx
import pyarrow as pa
import pytest

from federation import Mesh
from tests.federation.server.conftest import Served

SQL = "SELECT country, count(*) AS n FROM customers.profiles GROUP BY ALL ORDER BY country"


def client(served: Served, user: str | None = "ana") -> httpx.Client:
    headers = {"Authorization": f"Bearer {served.tokens[user]}"} if user else {}
    return httpx.Client(base_url=served.http, headers=headers, timeout=30)


def test_query_answers_json_csv_and_arrow_alike(served: Served) -> None:
    expected = Mesh.open(served.root).sql(SQL, user="ana").arrow().to_pylist()
    with client(served) as http:
        as_json = http.post("/v1/query", json={"sql": SQL})
        assert as_json.status_code == 200, as_json.text
        assert as_json.headers["x-duckmesh-principal"] == "ana"
        assert as_json.json() == expected
        as_csv = http.post("/v1/query", json={"sql": SQL}, headers={"Accept": "text/csv"})
        rows = list(csv.DictReader(io.StringIO(as_csv.text)))
        assert [(r["country"], int(r["n"])) for r in rows] == \
            [(r["country"], r["n"]) for r in expected]
        arrow = http.post("/v1/query", json={"sql": SQL},
                          headers={"Accept": "application/vnd.apache.arrow.stream"})
        table = pa.ipc.open_stream(arrow.content).read_all()
        assert table.to_pylist() == expected
        assert b"duckmesh.stamp" in (table.schema.metadata or {})
        ndjson = http.post("/v1/query", json={"sql": SQL},
                           headers={"Accept": "application/x-ndjson"})
        assert [json.loads(line) for line in ndjson.text.splitlines()] == expected


def test_params_are_bound(served: Served) -> None:
    with client(served) as http:
        named = http.post("/v1/query", json={
            "sql": "SELECT count(*) AS n FROM customers.profiles WHERE country = $c",
            "params": {"c": "DE"}}).json()
        positional = http.post("/v1/query", json={
            "sql": "SELECT count(*) AS n FROM customers.profiles WHERE country = ?",
            "params": ["DE"]}).json()
        assert named == positional and named[0]["n"] > 0
        missing = http.post("/v1/query", json={
            "sql": "SELECT count(*) FROM customers.profiles WHERE country = $c"})
        assert missing.status_code == 400


@pytest.mark.parametrize("body", [{"sql": SQL, "user": "fiona"},
                                  {"sql": SQL, "principal": "fiona"}])
def test_a_user_in_the_body_is_refused(served: Served, body: dict[str, str]) -> None:
    with client(served) as http:
        response = http.post("/v1/query", json=body)
    assert response.status_code == 400
    assert "cannot choose its user" in response.json()["error"]["message"]


def test_a_user_in_a_header_or_the_query_string_is_refused(served: Served) -> None:
    with client(served) as http:
        header = http.post("/v1/query", json={"sql": SQL}, headers={"X-Duckmesh-User": "adam"})
        query = http.post("/v1/query?user=adam", json={"sql": SQL})
    assert header.status_code == query.status_code == 400


def test_statuses_of_refusals(served: Served) -> None:
    with client(served, None) as anonymous:
        response = anonymous.post("/v1/query", json={"sql": SQL})
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")
    with client(served) as http:
        denied = http.post("/v1/query", json={"sql": "SELECT card_number FROM "
                                                     "payments.transactions"})
        assert denied.status_code == 403
        assert denied.json()["error"]["class"] == "AccessDenied"
        rejected = http.post("/v1/query", json={"sql": "SELECT * FROM read_parquet('/etc')"})
        assert rejected.status_code == 400
        assert http.post("/v1/query", json={"sql": SQL},
                         headers={"Accept": "image/png"}).status_code == 400


def test_explain_and_catalog(served: Served) -> None:
    with client(served) as http:
        explained = http.post("/v1/explain", json={"sql": "SELECT email FROM "
                                                          "customers.profiles"}).json()
        assert explained["principal"] == "ana"
        assert any(d["action"].startswith("mask:") for d in explained["decisions"])
        listing = {p["product"]: p for p in http.get("/v1/products").json()}
        assert listing["customers.profiles"]["readable"] is True
        assert listing["meta.audit"]["readable"] is False
        page = http.get("/v1/products/payments.transactions").json()
        card = next(c for c in page["columns"] if c["name"] == "card_number")
        assert card["access"] == "hidden"
        me = http.get("/v1/me").json()
        assert me == {"principal": "ana", "roles": ["analyst"], "auth": "token",
                      "subject": me["subject"]}


def test_health_metrics_and_openapi_need_no_token(served: Served) -> None:
    with client(served, None) as http:
        assert http.get("/healthz").json()["status"] == "ok"
        metrics = http.get("/metrics").text
        assert "duckmesh_queries_total" in metrics and "duckmesh_active_queries" in metrics
        assert "ana" not in metrics  # no user names in metrics
        spec = http.get("/openapi.json").json()
        assert {"/v1/query", "/v1/explain", "/v1/products"} <= set(spec["paths"])

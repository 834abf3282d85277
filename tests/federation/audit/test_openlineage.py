"""OpenLineage run events: emitted through the openlineage-python client, with column lineage."""

from __future__ import annotations

import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from openlineage.client.event_v2 import InputDataset, Job, Run, RunEvent, RunState
from openlineage.client.facet_v2 import sql_job
from openlineage.client.serde import Serde

from federation import Mesh
from federation.errors import ConfigError
from tests.loopback import LoopbackServer

JOIN = ("SELECT c.email, p.amount * 2 AS doubled FROM customers.profiles c "
        "JOIN payments.transactions p ON p.customer_id = c.customer_id LIMIT 5")


def configure(root: Path, **openlineage: object) -> Path:
    settings = yaml.safe_load((root / "duckmesh.yaml").read_text())
    settings["lineage"] = {"openlineage": openlineage}
    (root / "duckmesh.yaml").write_text(yaml.safe_dump(settings))
    return root / ".duckmesh" / "openlineage.jsonl"


def events(path: Path, mesh: Mesh) -> list[dict[str, Any]]:
    assert mesh.lineage_events is not None and mesh.lineage_events.flush()
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_a_query_emits_start_and_complete_with_column_lineage(demo_copy: Path) -> None:
    log = configure(demo_copy, transport={"type": "file",
                                          "log_file_path": ".duckmesh/openlineage.jsonl"})
    mesh = Mesh.open(demo_copy)
    mesh.sql(JOIN, user="ana", purpose="analytics").arrow()
    start, complete = events(log, mesh)
    assert (start["eventType"], complete["eventType"]) == ("START", "COMPLETE")
    assert start["run"]["runId"] == complete["run"]["runId"]
    assert complete["job"] == {"namespace": "duckmesh://travel-agency-demo",
                               "name": "analytics", "facets": {}}
    inputs = {d["name"]: d for d in complete["inputs"]}
    assert set(inputs) == {"customers.profiles", "payments.transactions"}
    fields = [f["name"] for f in inputs["customers.profiles"]["facets"]["schema"]["fields"]]
    assert sorted(fields) == ["customer_id", "email"]
    lineage = complete["outputs"][0]["facets"]["columnLineage"]["fields"]
    assert lineage["email"]["inputFields"] == [{
        "namespace": "duckmesh://travel-agency-demo", "name": "customers.profiles",
        "field": "email", "transformations": []}]
    assert lineage["doubled"]["transformationType"] == "TRANSFORMED"
    assert lineage["doubled"]["inputFields"][0]["field"] == "amount"
    # The SQL is not sent unless include_sql is set: it can quote literals.
    assert "sql" not in complete["job"]["facets"]


def test_events_round_trip_through_the_client_model(demo_copy: Path) -> None:
    log = configure(demo_copy, transport={"type": "file",
                                          "log_file_path": ".duckmesh/openlineage.jsonl"},
                    namespace="duckmesh://prod", include_sql=True)
    mesh = Mesh.open(demo_copy)
    mesh.sql("SELECT origin FROM flights.schedule LIMIT 1", user="ana").arrow()
    for raw in events(log, mesh):
        # Rebuild the event with the client's model classes and serialize it again: the
        # file holds exactly what the client's model produces.
        event = RunEvent(
            eventType=RunState(raw["eventType"]), eventTime=raw["eventTime"],
            producer=raw["producer"],
            run=Run(runId=raw["run"]["runId"]),
            job=Job(namespace=raw["job"]["namespace"], name=raw["job"]["name"],
                    facets={"sql": sql_job.SQLJobFacet(query=raw["job"]["facets"]["sql"]["query"],
                                                       dialect="duckdb")}),
            inputs=[InputDataset(namespace=d["namespace"], name=d["name"])
                    for d in raw["inputs"]])
        again = json.loads(Serde.to_json(event))
        assert again["schemaURL"] == raw["schemaURL"]
        assert again["run"]["runId"] == raw["run"]["runId"]
        assert str(uuid.UUID(raw["run"]["runId"])) == raw["run"]["runId"]
        assert raw["job"]["namespace"] == "duckmesh://prod"
        assert raw["job"]["facets"]["sql"]["query"].startswith("SELECT origin")
        assert [d["name"] for d in raw["inputs"]] == ["flights.schedule"]


def test_a_failing_query_emits_fail_without_quoting_data(demo_copy: Path) -> None:
    log = configure(demo_copy, transport={"type": "file",
                                          "log_file_path": ".duckmesh/openlineage.jsonl"})
    mesh = Mesh.open(demo_copy)
    # The engine's message, rebuilt without the value (no email in it).
    with pytest.raises(Exception, match=r"did not match the strptime format \(the value is "
                                        r"not shown\)"):
        mesh.sql("SELECT strptime(email, '%Y') FROM customers.profiles", user="adam").arrow()
    _start, fail = events(log, mesh)
    assert fail["eventType"] == "FAIL" and fail["outputs"] == []
    message = fail["run"]["facets"]["errorMessage"]["message"]
    assert message.startswith("QueryFailed: ") and "@" not in message


def test_denied_queries_emit_nothing(demo_copy: Path) -> None:
    log = configure(demo_copy, transport={"type": "file",
                                          "log_file_path": ".duckmesh/openlineage.jsonl"})
    mesh = Mesh.open(demo_copy)
    with pytest.raises(Exception, match="denied"):
        mesh.sql("SELECT card_number FROM payments.transactions", user="ana")
    assert not log.exists() or events(log, mesh) == []


class HeldEndpoint(LoopbackServer):
    """An OpenLineage HTTP endpoint that holds every request until released."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.received: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.release.wait(30)
                outer.received.append(json.loads(body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self._serve(ThreadingHTTPServer(("127.0.0.1", 0), Handler))


def test_a_slow_endpoint_never_holds_up_the_query(demo_copy: Path) -> None:
    endpoint = HeldEndpoint()
    try:
        configure(demo_copy, transport={"type": "http", "url": endpoint.url,
                                        "endpoint": "api/v1/lineage"})
        mesh = Mesh.open(demo_copy)
        rows = mesh.sql("SELECT origin FROM flights.schedule LIMIT 2", user="ana").arrow()
        assert rows.num_rows == 2  # returned while the endpoint still holds the events
        assert endpoint.received == []
        assert mesh.lineage_events is not None
        endpoint.release.set()
        assert mesh.lineage_events.flush(timeout=30)
        assert [e["eventType"] for e in endpoint.received] == ["START", "COMPLETE"]
    finally:
        endpoint.release.set()
        endpoint.stop()


def test_an_unreachable_endpoint_never_fails_the_query(demo_copy: Path) -> None:
    configure(demo_copy, transport={"type": "http", "url": "http://127.0.0.1:9",
                                    "timeout": 0.5, "retry": {"total": 0}})
    mesh = Mesh.open(demo_copy)
    rows = mesh.sql("SELECT origin FROM flights.schedule LIMIT 2", user="ana").arrow()
    assert rows.num_rows == 2
    assert mesh.lineage_events is not None and mesh.lineage_events.flush(timeout=30)


def test_bad_transport_config_is_one_clear_error(demo_copy: Path) -> None:
    configure(demo_copy, transport={"type": "carrier-pigeon"})
    with pytest.raises(ConfigError, match=r"duckmesh.yaml.*lineage.openlineage.transport"):
        Mesh.open(demo_copy)

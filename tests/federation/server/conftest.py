"""A real duckmesh server on 127.0.0.1 (ports 0) over a private copy of the demo mesh,
and the official Flight SQL client (ADBC) to talk to it."""

from __future__ import annotations

import shutil
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from federation import Mesh
from federation.server.run import Server
from federation.server.tokens import TokenStore

USERS = ("ana", "nick", "fiona", "adam", "dana")


@dataclass
class Served:
    server: Server
    root: Path
    tokens: dict[str, str] = field(default_factory=dict)
    store: TokenStore | None = None

    @property
    def flight(self) -> str:
        return self.server.flight_url

    @property
    def http(self) -> str:
        return self.server.http_url

    def audit(self) -> list[dict[str, Any]]:
        return list(Mesh.open(self.root).audit.records())


def adbc(url: str, token: str | None, **db_kwargs: str) -> Any:
    """An ADBC Flight SQL connection (autocommit: duckmesh has no transactions)."""
    import adbc_driver_flightsql.dbapi as flightsql

    kwargs = dict(db_kwargs)
    if token is not None:
        kwargs["adbc.flight.sql.authorization_header"] = f"Bearer {token}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Cannot disable autocommit": we have none
        return flightsql.connect(url, db_kwargs=kwargs, autocommit=True)


def start(root: Path, **settings: Any) -> Served:
    mesh = Mesh.open(root)
    config = mesh.settings.server.model_copy(update={"port": 0, "http_port": 0,
                                                     "shutdown_grace_seconds": 2, **settings})
    server = Server(mesh, config)
    server.start()
    store = TokenStore.for_mesh(root, config.tokens_file)
    served = Served(server, root, store=store)
    for user in USERS:
        served.tokens[user] = store.issue(user, name="tests")[1]
    return served


@pytest.fixture(scope="session")
def served_root(demo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("served") / "mesh"
    shutil.copytree(demo_root, target, ignore=shutil.ignore_patterns("audit"))
    return target


@pytest.fixture(scope="session")
def served(served_root: Path) -> Iterator[Served]:
    """One server for the module-independent tests (read-only use of the mesh)."""
    running = start(served_root, auth_failures_per_minute=10_000)
    yield running
    running.server.stop(1)


@pytest.fixture
def ana(served: Served) -> Iterator[Any]:
    conn = adbc(served.flight, served.tokens["ana"])
    yield conn
    conn.close()

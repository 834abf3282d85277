"""Governed SQL across a data mesh: parse, resolve, authorize, rewrite, execute."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from federation.errors import (
    AccessDenied,
    ConfigError,
    ContractError,
    DuckmeshError,
    QueryFailed,
    QueryRejected,
    StorageError,
)
from federation.mesh import Mesh
from federation.result import Result

__all__ = [
    "AccessDenied", "ConfigError", "ContractError", "DuckmeshError", "Mesh", "QueryFailed",
    "QueryRejected", "Result", "StorageError", "connect",
]

if TYPE_CHECKING:
    from federation.server.client import Connection


def connect(url: str, token: str | None = None, **options: Any) -> Connection:
    """A duckmesh server (``duckmesh serve``) at ``url`` (``grpc://HOST:8815``), used like
    a mesh: ``connect(url, token=…).sql(SQL)`` returns a Result-like answer governed as the
    token's principal.  See :mod:`federation.server.client` (imported only when called)."""
    from federation.server.client import connect as _connect

    return _connect(url, token, **options)


def load_ipython_extension(ipython: object) -> None:
    """``%load_ext federation``: the ``%%mesh`` cell magic (see federation.notebook)."""
    from federation.notebook import load_ipython_extension as load

    load(ipython)

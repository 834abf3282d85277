"""Governed SQL across a data mesh: parse, resolve, authorize, rewrite, execute."""

from __future__ import annotations

import importlib
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

__all__ = [
    "AccessDenied", "ConfigError", "ContractError", "DuckmeshError", "Mesh", "QueryFailed",
    "QueryRejected", "Result", "StorageError", "connect",
]

if TYPE_CHECKING:
    from federation.mesh import Mesh
    from federation.result import Result
    from federation.server.client import Connection

# Loaded on first use (PEP 562), so that `import federation.cli` (every `duckmesh` call)
# does not pay for duckdb, pyarrow and sqlglot: `from federation import Mesh` still works.
_LAZY = {"Mesh": "federation.mesh", "Result": "federation.result"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'federation' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


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

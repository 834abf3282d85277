"""Governed SQL across a data mesh: parse, resolve, authorize, rewrite, execute."""

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
    "QueryRejected", "Result", "StorageError",
]


def load_ipython_extension(ipython: object) -> None:
    """``%load_ext federation``: the ``%%mesh`` cell magic (see federation.notebook)."""
    from federation.notebook import load_ipython_extension as load

    load(ipython)

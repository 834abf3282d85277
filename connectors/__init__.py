"""Storage and table formats: where product data lives and how DuckDB scans it."""

from connectors.errors import (
    AccessDenied,
    ConfigError,
    ContractError,
    DuckmeshError,
    QueryFailed,
    QueryRejected,
    QueryTimeout,
    StorageError,
    UsageError,
)

__all__ = [
    "AccessDenied", "ConfigError", "ContractError", "DuckmeshError", "QueryFailed",
    "QueryRejected", "QueryTimeout", "StorageError", "UsageError",
]

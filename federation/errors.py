"""Every error duckmesh raises, and the exit code each one maps to.

One root, :class:`DuckmeshError`, with structured fields (file, field, line, product,
column, hint).  The root and the errors the lower layers raise (configuration, usage,
storage) are defined in :mod:`connectors.errors` and re-exported here; the errors only
the query path raises are defined here.

Exit codes (the CLI's contract, see README.md): 0 ok; 1 usage, input, configuration,
storage or engine error; 3 access denied (including a failed authentication to a
server); 4 contract or quality failure; 5 a server is unreachable, busy or shutting
down (retry later).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from connectors.errors import ConfigError, DuckmeshError, StorageError, UsageError

__all__ = [
    "AccessDenied", "AuthenticationFailed", "ConfigError", "ContractError", "DuckmeshError",
    "ParseFailed", "QueryCancelled", "QueryFailed", "QueryInterrupted", "QueryRejected",
    "QueryTimeout", "ServerUnavailable",
    "StorageError", "UsageError",
]


class QueryRejected(DuckmeshError, ValueError):
    """The SQL uses a statement, function, table or clause the governed path does not allow."""


class ParseFailed(QueryRejected):
    """The SQL text does not parse.  Its message is followed by the line of the caller's
    own SQL where parsing stopped, with a caret under the place (psql and DuckDB's CLI
    print the same)."""

    context: str | None = None

    def __str__(self) -> str:
        text = super().__str__()
        return f"{text}\n{self.context}" if self.context else text


@dataclass(eq=False)
class AccessDenied(DuckmeshError, PermissionError):
    """Governance forbids what the query asks for (exit code 3)."""

    decided_by: tuple[str, str] | None = None
    """``(product, column)`` whose owners' grant decided the denial when that is not
    ``product`` itself: a derived column denied by a grant at its source.  Whom to ask
    (:func:`federation.access.guide.guided`)."""
    exit_code: ClassVar[int] = 3


class ContractError(DuckmeshError):
    """Data does not match its contract, or a quality rule failed (exit code 4)."""

    exit_code: ClassVar[int] = 4


class QueryFailed(DuckmeshError, RuntimeError):
    """The engine failed to run a governed query; the message is sanitized."""


class QueryTimeout(QueryFailed, TimeoutError):
    """The query ran past the configured time limit and was interrupted."""


class QueryInterrupted(QueryFailed):
    """The query was stopped from outside (SIGTERM): its audit record says
    ``interrupted``."""


class QueryCancelled(QueryFailed):
    """A running query was stopped on purpose: its client went away, it was cancelled, or
    the server shut down."""


class AuthenticationFailed(DuckmeshError, PermissionError):
    """A server could not establish who is calling: no, a wrong, an expired or a revoked
    token (exit code 3, as for a denial)."""

    exit_code: ClassVar[int] = 3


class ServerUnavailable(DuckmeshError, ConnectionError):
    """A server is unreachable, at its limit of queries, or shutting down; the request may
    succeed later (exit code 5)."""

    exit_code: ClassVar[int] = 5

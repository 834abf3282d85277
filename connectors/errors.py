"""The root of duckmesh's one exception hierarchy, and the errors storage raises.

The root lives in ``connectors`` because that is the bottom layer: ``products`` and
``federation`` import it, never the other way round.  Every error carries the
structured facts a user needs (file, field, line, product, column) and renders
them as one line; the CLI maps each class to a documented exit code.  Errors only
the query path raises (rejected, denied, contract, engine) live in
``federation.errors``, which also re-exports these.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


@dataclass(eq=False)
class DuckmeshError(Exception):
    """Root of every error duckmesh raises on purpose.

    ``str(error)`` is the one line shown to the user; it must never contain data
    values, the governed SQL or a mask secret.
    """

    message: str
    file: str | None = None
    field: str | None = None
    line: int | None = None
    product: str | None = None
    column: str | None = None
    hint: str | None = None
    exit_code: ClassVar[int] = 1

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = self.file + (f":{self.line}" if self.line else "") + ": "
        if self.field:
            where += f"{self.field}: "
        if self.product and self.product not in self.message and not self.file:
            where += f"{self.product}: "
        text = where + self.message
        if self.hint:
            text += f" ({self.hint})"
        return text


class ConfigError(DuckmeshError, ValueError):
    """A mesh file (YAML, contract, policy) is missing, malformed or inconsistent."""


class UsageError(DuckmeshError, ValueError):
    """The caller asked for something that does not exist or makes no sense."""


class StorageError(DuckmeshError, OSError):
    """A product's data could not be read from storage."""

"""``duckmesh.yaml``: the mesh's own settings, loaded when asked for, never at import.

Environment variables prefixed ``DUCKMESH_`` override the file (the mask secret above
all, so that it need not sit in the mesh folder).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from connectors.errors import ConfigError
from products.sizes import parse_size
from products.yamlio import YamlDocument, load_yaml

MESH_FILE = "duckmesh.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EngineSettings(_Strict):
    """How the embedded DuckDB runs each governed query."""

    threads: int | None = Field(default=None, ge=1, description="DuckDB threads; default all cores")
    memory_limit: str | None = Field(default=None, description="e.g. '4GB'; default DuckDB's")
    timeout_seconds: float = Field(default=300.0, gt=0, description="interrupt after this long")
    spill_directory: str | None = Field(
        default=None, description="directory for spilling; spilling is off when unset")


class S3Settings(_Strict):
    """Options for ``s3://`` product locations (passed to s3fs)."""

    endpoint_url: str | None = None
    region: str | None = None
    profile: str | None = None
    anonymous: bool = False
    path_style: bool = False
    max_attempts: int = Field(default=5, ge=1, description="tries per request (5xx, throttling)")
    connect_timeout: float = Field(default=5.0, gt=0, description="seconds")
    read_timeout: float = Field(default=30.0, gt=0, description="seconds")
    conditional_reads: bool = Field(
        default=True, description="read only the object version listed (If-Match on the "
        "ETag); turn off for a store that rejects conditional GETs")


class StorageSettings(_Strict):
    """Storage options per URI scheme, and the in-memory cache of remote reads."""

    s3: S3Settings = S3Settings()
    cache: int | str = Field(
        default="256MiB", description="byte ranges read from remote files, kept in memory "
        "for the next query, per process (e.g. 1GiB; 0 turns it off)")

    @property
    def cache_bytes(self) -> int:
        """``cache`` in bytes."""
        return parse_size(self.cache, "storage.cache")

    @field_validator("cache")
    @classmethod
    def _size(cls, value: int | str) -> int | str:
        parse_size(value, "size")
        return value


class OpenLineageSettings(_Strict):
    """Where OpenLineage run events go (see federation.audit.openlineage)."""

    transport: dict[str, Any] = Field(
        description="openlineage-python transport config, e.g. {type: file, log_file_path: …}")
    namespace: str | None = Field(default=None, description="default duckmesh://<mesh name>")
    include_sql: bool = Field(default=False, description="send the caller's SQL text")


class LineageSettings(_Strict):
    """Lineage export."""

    openlineage: OpenLineageSettings | None = None


class MeshSettings(_Strict):
    """The parsed ``duckmesh.yaml``."""

    name: str
    description: str | None = None
    secret: SecretStr | None = Field(
        default=None, description="mask key; prefer secret_file or $DUCKMESH_SECRET")
    secret_file: str | None = Field(default=None, description="file holding the mask key")
    engine: EngineSettings = EngineSettings()
    storage: StorageSettings = StorageSettings()
    audit: dict[str, Any] = Field(default_factory=dict)
    lineage: LineageSettings = LineageSettings()


def pydantic_error(doc: YamlDocument, exc: ValidationError,
                   prefix: tuple[str | int, ...] = ()) -> ConfigError:
    """The first pydantic validation error as a ConfigError naming file, field and line."""
    first = exc.errors()[0]
    loc = [*prefix, *(part for part in first["loc"] if isinstance(part, str | int))]
    message = first["msg"]
    if first["type"] == "extra_forbidden":
        message = "unknown field"
    elif first["type"] == "value_error":
        message = message.removeprefix("Value error, ")  # our own message: say it plainly
    return doc.error(loc, message)


def load_settings(root: Path) -> MeshSettings:
    """Read ``root/duckmesh.yaml``."""
    doc = load_yaml(root / MESH_FILE)
    try:
        return MeshSettings.model_validate(doc.data)
    except ValidationError as exc:
        raise pydantic_error(doc, exc) from None


def mask_secret(root: Path, settings: MeshSettings) -> bytes | None:
    """The mesh's mask key: ``$DUCKMESH_SECRET``, else ``secret_file``, else ``secret``."""
    env = os.environ.get("DUCKMESH_SECRET")
    if env:
        return env.encode()
    if settings.secret_file:
        path = Path(settings.secret_file)
        path = path if path.is_absolute() else root / path
        try:
            value = path.read_bytes().strip()
        except OSError:
            raise ConfigError("cannot read the mask secret file", file=str(root / MESH_FILE),
                              field="secret_file") from None
        if not value:
            raise ConfigError("the mask secret file is empty", file=str(path))
        return value
    if settings.secret is not None:
        return settings.secret.get_secret_value().encode()
    return None


def find_mesh_root(start: Path | None = None) -> Path | None:
    """The nearest folder at or above ``start`` holding ``duckmesh.yaml``."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / MESH_FILE).is_file():
            return folder
    return None

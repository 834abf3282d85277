"""``duckmesh.yaml``: the mesh's own settings, loaded when asked for, never at import.

Environment variables prefixed ``DUCKMESH_`` override the file (the mask secret above
all, so that it need not sit in the mesh folder).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from connectors.errors import ConfigError
from products.sizes import parse_size
from products.yamlio import YamlDocument, load_yaml

MESH_FILE = "duckmesh.yaml"


class _Strict(BaseModel):
    # defer_build: a model's validator is built when it first validates, not at import
    # (pydantic work to open the demo mesh: 29 ms -> 17 ms; models never used: nothing).
    # Empty lists are plain defaults (``= []``, copied per instance by pydantic): building
    # a schema with default_factory=list costs an inspect.signature(list) each (~4 ms).
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class SparkSettings(_Strict):
    """Where and how governed queries run on Apache Spark (``engine: spark``; see
    docs/spark.md).  ``master`` and ``remote`` are exclusive."""

    master: str = Field(default="local[*]", description="Spark master of the shared "
                        "SparkContext this process starts: local[*], spark://host:7077, "
                        "yarn, k8s://…")
    remote: str | None = Field(default=None, description="Spark Connect server instead of "
                               "a SparkContext of our own, e.g. sc://host:15002")
    app_name: str = Field(default="duckmesh", description="the Spark application name")
    conf: dict[str, str] = Field(default_factory=dict, description="extra Spark settings "
                                 "for the SparkContext (spark.executor.memory, …)")
    auto_threshold: int | str = Field(
        default="50GiB", description="with engine.default: auto, a query whose planned scan "
        "is larger than this runs on Spark (see docs/benchmarks.md for the cross-over)")
    max_result_bytes: int | str = Field(
        default="2GiB", description="largest result collected back to this process "
        "(spark.driver.maxResultSize); write bigger ones with --output")

    @property
    def auto_threshold_bytes(self) -> int:
        """``auto_threshold`` in bytes."""
        return parse_size(self.auto_threshold, "engine.spark.auto_threshold")

    @field_validator("auto_threshold", "max_result_bytes")
    @classmethod
    def _spark_size(cls, value: int | str) -> int | str:
        parse_size(value, "size")
        return value

    @field_validator("remote")
    @classmethod
    def _connect_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("sc://"):
            raise ValueError(f"engine.spark.remote must be a Spark Connect URL "
                             f"(sc://host:15002), not {value!r}")
        return value


class EngineSettings(_Strict):
    """How the embedded DuckDB runs each governed query."""

    default: Literal["duckdb", "spark", "auto"] = Field(
        default="duckdb", description="where queries run unless the caller says: duckdb, "
        "spark, or auto (spark when the planned scan exceeds engine.spark.auto_threshold)")
    spark: SparkSettings = SparkSettings()

    threads: int | None = Field(default=None, ge=1, description="DuckDB threads; default all cores")
    memory_limit: str | None = Field(default=None, description="e.g. '4GB'; default DuckDB's")
    timeout_seconds: float = Field(default=300.0, gt=0, description="interrupt after this long")
    spill_directory: str | None = Field(
        default=None, description="directory for spilling; spilling is off when unset")
    timezone: str = Field(default="UTC", description="the one time zone every query runs "
                          "in (TIMESTAMPTZ values, casts to DATE, now()), whatever the host's")
    max_query_nodes: int = Field(default=300_000, ge=100, description="largest query "
                                 "accepted, in syntax-tree nodes")
    max_nesting_depth: int = Field(default=200, ge=16, le=250, description="deepest "
                                   "nesting accepted (parentheses, subqueries, functions)")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as UTC "
                             "or Europe/Madrid)") from None
        return value


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


class OidcSettings(_Strict):
    """OIDC / JWT bearer tokens for ``duckmesh serve`` (see docs/server.md)."""

    issuer: str = Field(description="the IdP's issuer; a token's iss must equal it")
    audience: str | list[str] = Field(description="accepted aud value(s)")
    jwks_url: str | None = Field(default=None, description="the issuer's JWKS (https, "
                                 "or http on a loopback address)")
    jwks_file: str | None = Field(default=None, description="a JWKS file instead of a URL")
    claim: str = Field(default="sub", description="the claim naming the caller: sub, "
                       "email, or a groups claim (a list)")
    principals: dict[str, str] = Field(
        default_factory=dict, description="claim value -> principal of principals.yaml; "
        "empty: the value is the principal's name")
    algorithms: list[Literal["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256",
                             "ES384", "ES512", "EdDSA"]] = ["RS256"]
    leeway_seconds: float = Field(default=30.0, ge=0, le=300)
    # Sign-in to the web catalog (authorization code flow with PKCE); all four or none.
    client_id: str | None = Field(default=None, description="the catalog's client id at "
                                  "the IdP (an ID token's aud must be in audience)")
    client_secret_file: str | None = Field(default=None, description="file holding the "
                                           "client secret (none: a public client, PKCE only)")
    authorization_endpoint: str | None = Field(default=None, description="the IdP's "
                                               "authorization URL")
    token_endpoint: str | None = Field(default=None, description="the IdP's token URL")
    scopes: list[str] = Field(default_factory=lambda: ["openid", "email", "profile"])

    def model_post_init(self, _context: object) -> None:
        if (self.jwks_url is None) == (self.jwks_file is None):
            raise ValueError("give exactly one of jwks_url and jwks_file")
        if self.client_id and not (self.authorization_endpoint and self.token_endpoint):
            raise ValueError("client_id needs authorization_endpoint and token_endpoint")

    @property
    def sign_in(self) -> bool:
        """True if the web catalog offers signing in with this IdP."""
        return bool(self.client_id and self.authorization_endpoint and self.token_endpoint)


class ServerSettings(_Strict):
    """``duckmesh serve``: addresses, authentication, limits (command-line options win)."""

    host: str = "127.0.0.1"
    port: int = Field(default=8815, ge=0, le=65535, description="Arrow Flight SQL")
    http_port: int = Field(default=8080, ge=0, le=65535, description="HTTP API")
    tls_cert: str | None = None
    tls_key: str | None = None
    tokens_file: str = Field(default=".duckmesh/tokens.json",
                             description="hashes of issued tokens (relative to the mesh)")
    oidc: OidcSettings | None = None
    max_concurrent_queries: int = Field(default=4, ge=1)
    max_queued_queries: int = Field(default=32, ge=0)
    max_queries_per_user: int = Field(default=2, ge=1,
                                      description="running at once, per principal")
    queue_timeout_seconds: float = Field(default=30.0, gt=0)
    query_timeout_seconds: float | None = Field(
        default=None, gt=0, description="per query; default engine.timeout_seconds")
    query_memory_limit: str | None = Field(
        default=None, description="per query, e.g. 2GB; default engine.memory_limit")
    shutdown_grace_seconds: float = Field(default=30.0, ge=0)
    auth_failures_per_minute: int = Field(
        default=30, ge=1, description="per client address; then refused for a minute")
    ticket_seconds: float = Field(default=60.0, gt=0,
                                  description="a started query waits this long for its "
                                  "client to fetch it")


class DomainSettings(_Strict):
    """Where one domain's products may live (see products/ownership.py)."""

    roots: list[str] = Field(min_length=1, description="local paths (relative to the mesh) "
                             "or object-store prefixes the domain's products lie under")
    iceberg_namespaces: list[str] = Field(default=[],
                                          description="Iceberg namespaces of the domain")


class ReportsSettings(_Strict):
    """Where scheduled reports may write."""

    destinations: list[str] = Field(
        default_factory=lambda: ["out/"], min_length=1,
        description="folders (relative to the mesh) or object-store prefixes")


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
    domains: dict[str, DomainSettings] = Field(
        default_factory=dict, description="storage roots per domain; default data/<domain>/")
    reports: ReportsSettings = ReportsSettings()
    server: ServerSettings = ServerSettings()


def pydantic_error(doc: YamlDocument, exc: ValidationError,
                   prefix: tuple[str | int, ...] = (), index: int = 0) -> ConfigError:
    """A pydantic validation error (the first, or number ``index``) as a ConfigError naming
    file, field and line."""
    first = exc.errors()[index]
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

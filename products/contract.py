"""ODCS v3 data contracts: validation against the official schema and the product model.

A contract file ``domains/<domain>/<name>.odcs.yaml`` describes one data product.  The
file is first validated against the official JSON schema of the ODCS version its
``apiVersion`` declares (v3.0.0–v3.0.2, v3.1.0 or v3.2.0: a field a later version added
is an error in an earlier one), then reduced to the small, typed :class:`Product` the rest of
duckmesh works with.  The v3.2.0 schema is the one the ``open-data-contract-standard``
package ships; v3.0.2 and v3.1.0 are that package's earlier releases' schemas (3.0.5 and
3.1.2, MIT), kept in ``products/odcs/``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from connectors.errors import ConfigError
from products.nested import ITEMS, MAP_KEY, MAP_VALUE, NestedField, nested_fields
from products.yamlio import YamlDocument, format_location, load_yaml

if TYPE_CHECKING:  # jsonschema and sqlglot are imported where used: contracts from the
    import jsonschema  # cache (products.contract_cache) need neither, so start-up is faster

CONTRACT_SUFFIX = ".odcs.yaml"

# ODCS logical types → the DuckDB type used when a column declares no physicalType.
LOGICAL_TO_DUCKDB = {
    "string": "VARCHAR",
    "integer": "BIGINT",
    "number": "DOUBLE",
    "boolean": "BOOLEAN",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
    "time": "TIME",
}

# apiVersion → the schema it is validated against (as datacontract-cli maps them).
SCHEMA_VERSIONS = {"v3.0.0": "v3.0.2", "v3.0.1": "v3.0.2", "v3.0.2": "v3.0.2",
                   "v3.1.0": "v3.1.0", "v3.2.0": "v3.2.0"}
LATEST_API_VERSION = "v3.2.0"

DUCKDB_ONLY_TYPES = frozenset({"TIME_NS", "TIMESTAMPTZ_NS"})
"""DuckDB types sqlglot cannot parse yet (DuckDB's Parquet reader gives them)."""

SUPPORTED_SERVER_TYPES = ("local", "s3", "iceberg")
SUPPORTED_FORMATS = ("parquet", "csv", "json")


@dataclass(frozen=True)
class Column:
    """One top-level property of a product's schema."""

    name: str
    type: str
    """DuckDB type, from ``physicalType`` or mapped from ``logicalType``."""
    logical_type: str | None = None
    classification: str | None = None
    required: bool = False
    unique: bool = False
    primary_key: bool = False
    partitioned: bool = False
    description: str | None = None
    tags: tuple[str, ...] = ()
    quality: tuple[dict[str, Any], ...] = ()
    nested: tuple[NestedField, ...] = ()
    """Classifications declared on fields inside this column (a struct's, a list's)."""


@dataclass(frozen=True)
class Server:
    """Where a product's data lives: ``local`` path or ``s3`` location, and its format."""

    type: str
    location: str
    format: str
    name: str | None = None
    options: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    """The server entry as written (Iceberg catalog settings, customProperties)."""

    def custom(self, key: str) -> Any:
        """The value of ``customProperties`` entry ``key`` on this server, if any."""
        for prop in self.options.get("customProperties") or []:
            if isinstance(prop, dict) and prop.get("property") == key:
                return prop.get("value")
        return None


@dataclass(frozen=True)
class Product:
    """A data product as duckmesh sees it: identity, ownership, schema and location."""

    domain: str
    name: str
    contract_path: Path
    contract_id: str
    version: str
    status: str | None
    description: str | None
    owner: str | None
    tags: tuple[str, ...]
    columns: tuple[Column, ...]
    servers: tuple[Server, ...]
    quality: tuple[dict[str, Any], ...] = ()
    sla: tuple[dict[str, Any], ...] = ()
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def fqn(self) -> str:
        """``domain.product``, the name SQL uses."""
        return f"{self.domain}.{self.name}"

    def column(self, name: str) -> Column | None:
        """The column called ``name`` (case-insensitive), or None."""
        wanted = name.lower()
        for col in self.columns:
            if col.name.lower() == wanted:
                return col
        return None

    @property
    def server(self) -> Server:
        """The server queries read from: the first one listed."""
        return self.servers[0]

    def custom(self, key: str) -> Any:
        """The value of the contract's top-level ``customProperties`` entry ``key``."""
        for prop in self.raw.get("customProperties") or []:
            if isinstance(prop, dict) and prop.get("property") == key:
                return prop.get("value")
        return None


def schema_version(api_version: object) -> str | None:
    """The ODCS schema a contract declaring ``api_version`` is validated against (None:
    a version duckmesh does not know)."""
    return SCHEMA_VERSIONS.get(str(api_version))


@cache
def _validator(version: str = LATEST_API_VERSION) -> jsonschema.protocols.Validator:
    import jsonschema

    if version == LATEST_API_VERSION:
        source = resources.files("open_data_contract_standard").joinpath("schema.json")
    else:
        source = resources.files("products").joinpath("odcs", f"odcs-{version}.schema.json")
    schema = json.loads(source.read_text())
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema)


def schema_errors(doc: YamlDocument) -> list[ConfigError]:
    """Every violation of the official ODCS JSON schema of the contract's ``apiVersion``,
    each naming file, field and line."""
    declared = doc.data.get("apiVersion") if isinstance(doc.data, dict) else None
    version = schema_version(declared)
    if declared is not None and version is None:
        return [doc.error(["apiVersion"], f"does not follow ODCS v3: {declared!r} is not a "
                          "version duckmesh validates (v3.0.0–v3.0.2, v3.1.0, v3.2.0)")]
    validator = _validator(version or LATEST_API_VERSION)
    from jsonschema.exceptions import best_match

    errors = sorted(validator.iter_errors(doc.data), key=lambda e: list(map(str, e.path)))
    shown = f"ODCS {version}" if version else "ODCS v3"
    out = []
    for err in errors:
        loc = list(err.absolute_path)
        message = err.message
        if err.validator in ("anyOf", "oneOf", "allOf") and err.context:
            best = best_match(err.context)
            loc = loc + list(best.relative_path)
            message = best.message
        # Long messages quote the whole offending object; the field path says enough.
        if len(message) > 200:
            message = message[:200] + "…"
        out.append(doc.error(loc, f"does not follow {shown}: {message}"))
    return out


def _logical_type(prop: dict[str, Any]) -> str | None:
    """The DuckDB type a property's ``logicalType`` (with its ``items``, ``properties``
    or ``map``) describes."""
    logical = prop.get("logicalType")
    if logical == "array":
        items = prop.get("items")
        inner = column_type(items) if isinstance(items, dict) else None
        return f"{inner}[]" if inner else None
    if logical == "object":
        fields = prop.get("properties")
        if not isinstance(fields, list) or not fields:
            return None
        spelled = []
        for field in fields:
            kind = column_type(field) if isinstance(field, dict) else None
            if kind is None or not isinstance(field.get("name"), str):
                return None
            spelled.append(f"{_quoted(field['name'])} {kind}")
        return f"STRUCT({', '.join(spelled)})"
    if logical == "map":
        spec = prop.get("map")
        if not isinstance(spec, dict):
            return None
        key, value = (column_type(spec[k]) if isinstance(spec.get(k), dict) else None
                      for k in ("key", "value"))
        return f"MAP({key}, {value})" if key and value else None
    return LOGICAL_TO_DUCKDB.get(logical) if isinstance(logical, str) else None


def _quoted(name: str) -> str:
    plain = name.replace("_", "a").isalnum() and name.isascii() and not name[:1].isdigit()
    return name if plain else '"' + name.replace('"', '""') + '"'


def column_type(prop: dict[str, Any]) -> str | None:
    """The DuckDB type of an ODCS property, or None if it declares none we can map.

    ``physicalType`` is a DuckDB type as written (``BIGINT[]``, ``STRUCT(a BIGINT, b
    VARCHAR)``, ``MAP(VARCHAR, BIGINT)``); without one, ``logicalType`` is mapped, nested
    ones (``array`` with ``items``, ``object`` with ``properties``, ``map``) included.
    """
    physical = prop.get("physicalType")
    if isinstance(physical, str) and physical.strip():
        return physical.strip()
    return _logical_type(prop)


def _description(data: dict[str, Any]) -> str | None:
    desc = data.get("description")
    if isinstance(desc, dict):
        parts = [desc.get(k) for k in ("purpose", "usage", "limitations")]
        return " ".join(p for p in parts if isinstance(p, str)) or None
    return desc if isinstance(desc, str) else None


def _owner(data: dict[str, Any]) -> str | None:
    team = data.get("team")
    if isinstance(team, dict) and isinstance(team.get("name"), str):
        return str(team["name"])
    if isinstance(team, list):
        for member in team:
            if isinstance(member, dict) and member.get("role") in ("owner", "productOwner"):
                return str(member.get("username") or member.get("name"))
    return None


def _server(doc: YamlDocument, index: int, raw: dict[str, Any]) -> Server:
    kind = raw.get("type")
    if kind not in SUPPORTED_SERVER_TYPES:
        raise doc.error(["servers", index, "type"],
                        f"server type {kind!r} is not supported (use one of "
                        f"{', '.join(SUPPORTED_SERVER_TYPES)})")
    if kind == "iceberg":
        if not raw.get("catalogUrl"):
            raise doc.error(["servers", index, "catalogUrl"], "an iceberg server needs catalogUrl")
        return Server(type="iceberg", location=str(raw["catalogUrl"]), format="iceberg",
                      name=raw.get("server"), options=dict(raw))
    location = raw.get("path") if kind == "local" else raw.get("location")
    key = "path" if kind == "local" else "location"
    if not isinstance(location, str) or not location:
        raise doc.error(["servers", index, key], f"a {kind} server needs {key}")
    fmt = str(raw.get("format") or "parquet").lower()
    if fmt not in SUPPORTED_FORMATS:
        raise doc.error(["servers", index, "format"],
                        f"format {fmt!r} is not supported (use one of "
                        f"{', '.join(SUPPORTED_FORMATS)})")
    return Server(type=str(kind), location=location, format=fmt, name=raw.get("server"),
                  options=dict(raw))


def _column(doc: YamlDocument, loc: list[str | int], prop: dict[str, Any],
            check_type: bool = True) -> Column:
    name = prop["name"]
    ctype = column_type(prop)
    if ctype is None:
        raise doc.error(loc, f"column {name!r} needs a physicalType or a logicalType")
    if check_type and ctype.upper() not in DUCKDB_ONLY_TYPES:
        from sqlglot import exp
        from sqlglot.errors import ParseError

        try:
            exp.DataType.build(ctype, dialect="duckdb")
        except (ParseError, ValueError):
            raise doc.error([*loc, "physicalType"],
                            f"column {name!r} has an unknown type {ctype!r}") from None
    classification = prop.get("classification")
    return Column(
        name=name,
        type=ctype,
        logical_type=prop.get("logicalType"),
        classification=str(classification).lower() if classification is not None else None,
        required=bool(prop.get("required", False)),
        unique=bool(prop.get("unique", False)),
        primary_key=bool(prop.get("primaryKey", False)),
        partitioned=bool(prop.get("partitioned", False)),
        description=prop.get("description"),
        tags=tuple(prop.get("tags") or ()),
        quality=tuple(prop.get("quality") or ()),
        nested=nested_fields(prop),
    )


def product_from_document(doc: YamlDocument, domain: str, name: str, *,
                          check_types: bool = True) -> Product:
    """Build the :class:`Product` of a contract already known to follow the ODCS schema.

    ``check_types=False`` skips parsing each column's type with sqlglot: only for a
    document whose very bytes passed this check before (products.contract_cache)."""
    data = doc.data
    declared_domain = data.get("domain")
    if declared_domain is not None and str(declared_domain).lower() != domain.lower():
        raise doc.error(["domain"], f"contract says domain {declared_domain!r} but lives in "
                                    f"the folder of domain {domain!r}")
    objects = data.get("schema") or []
    if len(objects) != 1:
        raise doc.error(["schema"], "a product contract needs exactly one schema object "
                                    f"(found {len(objects)})")
    obj = objects[0]
    if str(obj.get("name", "")).lower() != name.lower():
        raise doc.error(["schema", 0, "name"], f"schema object is named {obj.get('name')!r} "
                                               f"but the file names product {name!r}")
    props = obj.get("properties") or []
    if not props:
        raise doc.error(["schema", 0, "properties"], "a product needs at least one column")
    columns = []
    seen: set[str] = set()
    for i, prop in enumerate(props):
        loc: list[str | int] = ["schema", 0, "properties", i]
        column = _column(doc, loc, prop, check_types)
        if column.name.lower() in seen:
            raise doc.error([*loc, "name"], f"column {column.name!r} is declared twice")
        seen.add(column.name.lower())
        columns.append(column)
    servers = data.get("servers") or []
    if not servers:
        raise doc.error(["servers"], "a product needs a server saying where its data lives")
    return Product(
        domain=domain.lower(),
        name=name.lower(),
        contract_path=doc.path,
        contract_id=str(data["id"]),
        version=str(data["version"]),
        status=data.get("status"),
        description=_description(data) or obj.get("description"),
        owner=_owner(data),
        tags=tuple(data.get("tags") or ()),
        columns=tuple(columns),
        servers=tuple(_server(doc, i, s) for i, s in enumerate(servers)),
        quality=tuple(obj.get("quality") or ()),
        sla=tuple(data.get("slaProperties") or ()),
        raw=data,
    )


def product_name_of(path: Path) -> str:
    """``domains/customers/profiles.odcs.yaml`` → ``profiles``."""
    return path.name[: -len(CONTRACT_SUFFIX)]


def load_contract(path: Path, domain: str) -> Product:
    """Load, validate and model one contract; the first problem found is raised."""
    return contract_from_document(load_yaml(path), domain)


def contract_from_document(doc: YamlDocument, domain: str) -> Product:
    """Validate and model the parsed contract ``doc`` (read from ``doc.path``)."""
    if errors := schema_errors(doc):
        raise errors[0]
    return product_from_document(doc, domain, product_name_of(doc.path))


__all__ = [
    "CONTRACT_SUFFIX", "ITEMS", "LATEST_API_VERSION", "MAP_KEY", "MAP_VALUE", "Column",
    "NestedField", "Product", "Server", "column_type", "contract_from_document",
    "format_location", "load_contract",
    "nested_fields", "product_from_document", "schema_errors", "schema_version",
]

"""A cache of contracts already validated, so that opening a large mesh does not parse
and schema-validate every contract on every call.

Validating a contract against the ODCS JSON schema takes tens of milliseconds and parsing
its YAML about half a millisecond; a 1000-product mesh paid 17 s on every ``duckmesh``
call.  The cache keeps, for each contract file that passed, the SHA-256 of its bytes and
the values its YAML parsed to.  A file is used from the cache only when the digest of its
bytes *as read now* equals the stored one: a file edited in any way, whatever its
modification time and size, is parsed and validated again.  The cache can only skip work
for bytes that passed before; it never decides what a contract says.

The cache file (``.duckmesh/cache/contracts.json`` in the mesh) also records a
fingerprint of everything validation depends on (this code, the ODCS schemas, the
versions of the libraries): any change there empties it.  It is replaced atomically, so
concurrent writers leave one complete file; a file that cannot be read or parsed is
ignored and rebuilt; a mesh folder that cannot be written just goes without.  The cache
sits beside the mesh secret (``.duckmesh/``) and is trusted as much: whoever can write
there can also replace the secret.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import tempfile
from importlib import resources
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from connectors.errors import ConfigError
from products.contract import (
    Product,
    contract_from_document,
    product_from_document,
    product_name_of,
)
from products.yamlio import YamlDocument, parse_yaml, read_yaml_text

CACHE_DIR = Path(".duckmesh") / "cache"
CACHE_FILE = "contracts.json"
FORMAT = 1
"""Bumped whenever what is stored, or how, changes."""

_TAG = "\x00"
"""Prefix of the one key of a dict standing for a value JSON has no type for (a date)."""
_LIBRARIES = ("jsonschema", "sqlglot", "PyYAML", "open-data-contract-standard")
_DAMAGED = (ConfigError, KeyError, IndexError, TypeError, ValueError, AttributeError,
            RecursionError)
"""What reading a damaged entry can raise (a value of the wrong shape where the contract
model expects another): the entry is then not used."""


def digest(data: bytes) -> str:
    """The SHA-256 of a contract file's bytes, as the cache keys it."""
    return hashlib.sha256(data).hexdigest()


def fingerprint() -> str:
    """Everything a verdict depends on besides the file: the code that parses and checks
    contracts, the schemas, the libraries' versions."""
    h = hashlib.sha256(f"format {FORMAT}\n".encode())
    # Every module of the package, not only contract.py: checks move between modules.
    for source in sorted(Path(__file__).parent.glob("*.py")):
        h.update(source.name.encode() + b"\0" + source.read_bytes())
    for folder in (resources.files("products").joinpath("odcs"),
                   resources.files("open_data_contract_standard")):
        for item in sorted(folder.iterdir(), key=lambda f: f.name):
            if item.name.endswith(".json"):
                h.update(item.name.encode() + b"\0" + item.read_bytes())
    for library in _LIBRARIES:
        try:
            h.update(f"{library}={version(library)}\n".encode())
        except PackageNotFoundError:
            h.update(f"{library}=-\n".encode())
    return h.hexdigest()


def encode(value: Any) -> Any:
    """``value`` (what YAML parsed to) as JSON values; ValueError for anything that would
    not come back exactly (such a contract is simply not cached)."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, dt.datetime):
        return {_TAG + "datetime": value.isoformat()}
    if isinstance(value, dt.date):
        return {_TAG + "date": value.isoformat()}
    if isinstance(value, list):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        if not all(isinstance(k, str) and not k.startswith(_TAG) for k in value):
            raise ValueError("a key JSON cannot keep")
        return {k: encode(v) for k, v in value.items()}
    raise ValueError(f"a {type(value).__name__} JSON cannot keep")


def decode(value: Any) -> Any:
    """The inverse of :func:`encode`."""
    if isinstance(value, list):
        return [decode(v) for v in value]
    if isinstance(value, dict):
        if len(value) == 1:
            ((key, text),) = value.items()
            if key == _TAG + "datetime":
                return dt.datetime.fromisoformat(text)
            if key == _TAG + "date":
                return dt.date.fromisoformat(text)
        return {k: decode(v) for k, v in value.items()}
    return value


class ContractCache:
    """The validated contracts of one mesh, by path (relative to the mesh) and digest."""

    def __init__(self, root: Path) -> None:
        self.path = root / CACHE_DIR / CACHE_FILE
        self.root = root
        self._base = root.as_posix().rstrip("/") + "/"
        self._fingerprint = fingerprint()
        self._entries: dict[str, dict[str, Any]] = self._read()
        self._seen: set[str] = set()
        self._dirty = False

    def _read(self) -> dict[str, dict[str, Any]]:
        try:
            stored = json.loads(self.path.read_bytes())
        except (OSError, ValueError, RecursionError):
            return {}  # absent or corrupt: rebuilt from the files
        if (not isinstance(stored, dict) or stored.get("fingerprint") != self._fingerprint
                or not isinstance(stored.get("contracts"), dict)):
            return {}
        return {k: v for k, v in stored["contracts"].items()
                if isinstance(v, dict) and isinstance(v.get("sha256"), str) and "data" in v}

    def _key(self, path: Path) -> str:
        # The path relative to the mesh, by string: pathlib's relative_to parses both
        # paths again, for every contract of every load.
        text = path.as_posix()
        return text[len(self._base):] if text.startswith(self._base) else text

    def load(self, path: Path, domain: str) -> Product:
        """:func:`products.contract.load_contract`, skipping YAML parsing and schema
        validation when these very bytes passed before."""
        raw, text = read_yaml_text(path)
        sha256 = digest(raw)
        data = self.lookup(path, sha256)
        if data is not None:
            try:
                return product_from_document(YamlDocument(path, data, {}), domain,
                                             product_name_of(path), check_types=False)
            except _DAMAGED:
                # A problem, or an entry damaged in the cache file: the file is checked
                # again in full below (and a problem then names its line).
                pass
        try:
            doc = parse_yaml(text, path)
            product = contract_from_document(doc, domain)
        except ConfigError:
            self.forget(path)
            raise
        self.store(path, sha256, doc.data)
        return product

    def lookup(self, path: Path, sha256: str) -> dict[str, Any] | None:
        """What the contract at ``path`` parsed to, if bytes with digest ``sha256`` at
        that path passed validation before; None otherwise."""
        key = self._key(path)
        self._seen.add(key)
        entry = self._entries.get(key)
        if entry is None or entry["sha256"] != sha256:
            return None
        # Most contracts hold nothing but JSON values: those need no decoding.
        try:
            data = entry["data"] if entry.get("plain") is True else decode(entry["data"])
        except _DAMAGED:
            return None
        return data if isinstance(data, dict) else None

    def store(self, path: Path, sha256: str, data: dict[str, Any]) -> None:
        """Remember that the bytes with digest ``sha256`` at ``path`` parsed to ``data``
        and passed validation."""
        key = self._key(path)
        self._seen.add(key)
        try:
            encoded = encode(data)
        except ValueError:
            self._forget(key)
            return
        if decode(encoded) != data:  # belt and braces: only what comes back exactly
            self._forget(key)
            return
        self._entries[key] = {"sha256": sha256, "plain": encoded == data, "data": encoded}
        self._dirty = True

    def forget(self, path: Path) -> None:
        """Drop the entry of ``path`` (its contract no longer passes)."""
        key = self._key(path)
        self._seen.add(key)
        self._forget(key)

    def _forget(self, key: str) -> None:
        if self._entries.pop(key, None) is not None:
            self._dirty = True

    def save(self) -> None:
        """Write the entries of the files looked at, atomically, if anything changed."""
        stale = set(self._entries) - self._seen
        if not (self._dirty or stale):
            return
        contracts = {k: v for k, v in sorted(self._entries.items()) if k in self._seen}
        payload = json.dumps({"fingerprint": self._fingerprint, "contracts": contracts},
                             separators=(",", ":"), allow_nan=True)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".contracts.",
                                       suffix=".tmp")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as out:
                    out.write(payload)
                Path(tmp).replace(self.path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError:
            return  # a read-only mesh goes without a cache
        self._dirty = False

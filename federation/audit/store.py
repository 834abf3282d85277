"""Where the audit log's files live: a folder on local disk, or a prefix on object storage.

Both give the same guarantee: a file is visible whole or not at all.  Locally a file is
written under a hidden temporary name, synced and renamed into place; on object storage
one PUT creates the object, which S3 makes visible only once complete.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from connectors.filesystems import filesystem, storage_errors
from connectors.storage import resolve_location
from connectors.writers import atomic_file
from federation.errors import StorageError


class AuditStore:
    """Files of the audit log under one base location, named by relative paths."""

    def __init__(self, base: str, fs: Any | None) -> None:
        self.base = base.rstrip("/")
        self.fs = fs
        """None for local disk; else the fsspec filesystem of the location."""

    @classmethod
    def at(cls, text: str, root: Path, storage: Any = None) -> AuditStore:
        """The store at ``text``: a path (relative to the mesh root) or a URI."""
        location = resolve_location(text.rstrip("/"), root)
        if location.is_local:
            return cls(location.path, None)
        return cls(location.uri, filesystem(location.scheme, storage))

    @property
    def is_local(self) -> bool:
        return self.fs is None

    def uri(self, relative: str) -> str:
        """What a product contract (or DuckDB) names the file or folder by."""
        return f"{self.base}/{relative}"

    def _key(self, relative: str) -> str:
        assert self.fs is not None
        return str(self.fs._strip_protocol(self.uri(relative)))

    def _fail(self, what: str, exc: BaseException) -> StorageError:
        return StorageError(f"audit log at {self.base}: could not {what} "
                            f"({type(exc).__name__})",
                            hint="the audit log must be writable for queries to run")

    def put(self, relative: str, data: bytes, *, durable: bool = True) -> None:
        """Create (or replace) ``relative`` whole, or not at all; ``durable=False`` skips
        the local fsync (the file survives a killed process, not a crashed machine)."""
        if self.fs is None:
            path = Path(self.uri(relative))
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                with atomic_file(path, sync=durable) as handle:
                    handle.write(data)
            except OSError as exc:
                raise self._fail("write", exc) from None
            return
        try:
            self.fs.pipe_file(self._key(relative), data)
        except storage_errors() as exc:
            raise self._fail("write", exc) from None

    def create(self, relative: str, data: bytes) -> bool:
        """Create ``relative`` only if it does not exist (atomically); False if it did.

        Locally ``O_EXCL``; on S3 a conditional PUT (``If-None-Match: *``).
        """
        try:
            if self.fs is None:
                path = Path(self.uri(relative))
                path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                return True
            self.fs.pipe_file(self._key(relative), data, mode="create")
            return True
        except FileExistsError:
            return False
        except storage_errors() as exc:
            raise self._fail("write", exc) from None

    def names(self, folder: str, suffix: str) -> list[str]:
        """Names (not paths) of the complete files in ``folder`` ending in ``suffix``."""
        try:
            if self.fs is None:
                path = Path(self.uri(folder))
                return sorted(p.name for p in path.glob(f"*{suffix}")) if path.is_dir() else []
            keys = self.fs.glob(f"{self._key(folder)}/*{suffix}")
        except FileNotFoundError:
            return []
        except storage_errors() as exc:
            raise self._fail("list", exc) from None
        return sorted(str(k).rsplit("/", 1)[-1] for k in keys
                      if not str(k).rsplit("/", 1)[-1].startswith("."))

    def read(self, relative: str) -> bytes:
        try:
            if self.fs is None:
                return Path(self.uri(relative)).read_bytes()
            data: bytes = self.fs.cat_file(self._key(relative))
            return data
        except storage_errors() as exc:
            raise self._fail("read", exc) from None

    def exists(self, relative: str) -> bool:
        try:
            if self.fs is None:
                return Path(self.uri(relative)).exists()
            return bool(self.fs.exists(self._key(relative)))
        except storage_errors() as exc:
            raise self._fail("read", exc) from None

    def delete(self, relative: str) -> None:
        try:
            if self.fs is None:
                Path(self.uri(relative)).unlink(missing_ok=True)
            else:
                self.fs.rm_file(self._key(relative))
        except FileNotFoundError:
            return
        except storage_errors() as exc:
            raise self._fail("delete", exc) from None

    def read_parquet(self, relative: str, schema: pa.Schema | None = None,
                     columns: list[str] | None = None) -> pa.Table:
        try:
            if self.fs is None:
                return pq.read_table(self.uri(relative), schema=schema, columns=columns)
            return pq.read_table(self._key(relative), schema=schema, columns=columns,
                                 filesystem=self.fs)
        except storage_errors() as exc:
            raise self._fail("read", exc) from None

    def parquet_schema(self, relative: str) -> pa.Schema:
        """The schema of a Parquet file (its footer only)."""
        try:
            if self.fs is None:
                return pq.read_schema(self.uri(relative))
            with self.fs.open(self._key(relative), "rb") as handle:
                return pq.read_schema(handle)
        except storage_errors() as exc:
            raise self._fail("read", exc) from None

    def put_parquet(self, relative: str, table: pa.Table) -> None:
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink)
        self.put(relative, sink.getvalue().to_pybytes())

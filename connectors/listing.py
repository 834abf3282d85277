"""Listing a product's data files: local folders, globs and object-store prefixes.

A listing is a tuple of :class:`FileInfo` (path, size, modification time, ETag): the
version of each file that planning saw, so caches and the stamp name exactly that version.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from connectors.filesystems import call


@dataclass(frozen=True)
class FileInfo:
    """One data file as it was when the scan was planned."""

    path: str
    size: int
    mtime_ns: int
    etag: str = ""
    """The object store's entity tag: object stores date objects to the second, so a
    rewrite of the same size within a second is told apart by it."""

    @property
    def version(self) -> tuple[int, int, str]:
        """What identifies this version of the file in caches."""
        return (self.size, self.mtime_ns, self.etag)

    @property
    def modified(self) -> dt.datetime:
        """Last modification time, UTC."""
        return dt.datetime.fromtimestamp(self.mtime_ns / 1e9, tz=dt.UTC)


def list_local(directory: Path, pattern: str) -> tuple[FileInfo, ...]:
    """Every file under ``directory`` matching ``pattern`` (hidden files skipped), sorted."""
    out = []
    for path in sorted(directory.glob(pattern)):
        rel = path.relative_to(directory)
        if any(part.startswith((".", "_")) for part in rel.parts) or not path.is_file():
            continue
        stat = path.stat()
        out.append(FileInfo(str(path), stat.st_size, stat.st_mtime_ns))
    return tuple(out)


def strip_scheme(uri: str) -> str:
    """``s3://bucket/key`` → ``bucket/key`` (what fsspec filesystems take)."""
    return uri.split("://", 1)[1] if "://" in uri else uri


def _mtime_ns(detail: dict[str, Any]) -> int:
    for key in ("LastModified", "mtime", "last_modified", "updated", "created"):
        value = detail.get(key)
        if isinstance(value, dt.datetime):
            return int(value.timestamp() * 1e9)
        if isinstance(value, int | float):
            return int(value * 1e9)
        if isinstance(value, str):
            try:
                return int(dt.datetime.fromisoformat(value).timestamp() * 1e9)
            except ValueError:
                continue
    return 0


def list_remote(fs: Any, scheme: str, path: str, *, glob: bool,
                extensions: tuple[str, ...] = ("parquet",)) -> tuple[FileInfo, ...]:
    """Every data object under (or matching) ``path`` on ``fs``, sorted (by the deadline of
    :func:`~connectors.filesystems.storage_deadline` in effect)."""
    if glob:
        found = call(fs, "glob", path, detail=True)
    elif call(fs, "isfile", path):
        found = {path: call(fs, "info", path)}
    else:
        found = call(fs, "find", path, detail=True)
    out = []
    base = path.rstrip("/")
    for name, detail in sorted(found.items()):
        rel = name[len(base):].lstrip("/") if name.startswith(base) else name
        if detail.get("type") == "directory" or any(
                part.startswith((".", "_")) for part in rel.split("/") if part):
            continue
        if not glob and not name.endswith(tuple(f".{e}" for e in extensions)) and name != path:
            continue
        out.append(FileInfo(f"{scheme}://{name}", int(detail.get("size") or 0),
                            _mtime_ns(detail), str(detail.get("ETag") or "")))
    return tuple(out)

"""Read each remote file's footer once per process: planning and DuckDB share it.

Planning reads every planned file's Parquet footer (contract enforcement, facts).  DuckDB,
reading through fsspec, opens each file again and fetched the same 16 KB tail twice more
(measured at the test proxy), and sent a HEAD request per open.  ``TailCachingFileSystem``
wraps a remote filesystem: reads that fall inside a file's cached tail are served from
memory, ``info`` is answered from the planned listing, everything else goes to the store.
Entries are keyed by path and version (size, modification time, ETag), so a changed
object is read anew.
"""

from __future__ import annotations

import datetime as dt
import io
import threading
from collections import OrderedDict
from typing import Any

from fsspec import AbstractFileSystem

TAIL_BYTES = 16 * 1024
"""DuckDB's own first read of a Parquet file's end; a larger footer extends it."""
_MAX_ENTRIES = 4096

Version = tuple[int, int, str]
"""(size, mtime_ns, etag): one version of a file (connectors.files.FileInfo.version)."""

# path → (version, tail start offset, tail bytes)
_TAILS: dict[str, tuple[Version, int, bytes]] = {}
_LOCK = threading.Lock()


def clear() -> None:
    """Forget every cached tail and range (benchmarks measuring a cold process use this)."""
    with _LOCK:
        _TAILS.clear()
    RANGES.clear()


class RangeCache:
    """Byte ranges DuckDB read from remote files, kept for the next query (LRU, bounded).

    DuckDB's own file cache lives in its database instance, and duckmesh opens a fresh,
    sandboxed instance per query, so it never serves a second query.  This one lives in
    the process.  It is correct to share: entries are keyed by path, size and
    modification time as planned (a changed object is a different key), and a query
    only reaches the files of its own plan, which governance already allowed it to scan.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[tuple[str, Version, int, int], bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key: tuple[str, Version, int, int]) -> bytes | None:
        with self._lock:
            data = self._entries.get(key)
            if data is not None:
                self._entries.move_to_end(key)
            return data

    def put(self, key: tuple[str, Version, int, int], data: bytes) -> None:
        if len(data) > self.max_bytes // 4:
            return  # one huge range would evict everything else
        with self._lock:
            if key in self._entries:
                return
            self._entries[key] = data
            self._size += len(data)
            while self._size > self.max_bytes:
                _, dropped = self._entries.popitem(last=False)
                self._size -= len(dropped)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._size = 0


RANGES = RangeCache(256 * 1024 * 1024)
"""Process-wide; 256 MiB of remote ranges at most."""


def read_tail(fs: Any, path: str, version: Version) -> bytes:
    """The last ``TAIL_BYTES`` of ``path`` (cached per file version)."""
    size = version[0]
    with _LOCK:
        entry = _TAILS.get(path)
    if entry is not None and entry[0] == version:
        return entry[2]
    start = max(0, size - TAIL_BYTES)
    data = fs.cat_file(path, start=start, end=size)
    footer = int.from_bytes(data[-8:-4], "little") + 8 if len(data) >= 8 else 0
    if len(data) < footer <= size:
        start = size - footer
        data = fs.cat_file(path, start=start, end=size)
    with _LOCK:
        if len(_TAILS) >= _MAX_ENTRIES:
            _TAILS.clear()
        _TAILS[path] = (version, start, data)
    return bytes(data)


class _TailFile(io.RawIOBase):
    """A read-only file serving reads inside the cached tail from memory."""

    def __init__(self, fs: Any, path: str, size: int, tail: tuple[int, bytes] | None,
                 version: Version | None = None) -> None:
        super().__init__()
        self._fs, self._path, self._size, self._tail = fs, path, size, tail
        self._version = version
        self._pos = 0
        self._inner: Any = None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._pos, 2: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def read(self, size: int = -1) -> bytes:
        end = self._size if size is None or size < 0 else min(self._size, self._pos + size)
        if end <= self._pos:
            return b""
        if self._tail is not None and self._pos >= self._tail[0]:
            start = self._pos - self._tail[0]
            data = self._tail[1][start:start + (end - self._pos)]
        else:
            key = (self._path, self._version or (0, 0, ""), self._pos, end)
            cached = RANGES.get(key) if self._version else None
            if cached is not None:
                data = cached
            else:
                if self._inner is None:
                    self._inner = self._fs.open(self._path, "rb")
                self._inner.seek(self._pos)
                data = self._inner.read(end - self._pos)
                if self._version and len(data) == end - self._pos:
                    RANGES.put(key, bytes(data))
        self._pos += len(data)
        return bytes(data)

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if self._inner is not None:
            self._inner.close()
        super().close()


class TailCachingFileSystem(AbstractFileSystem):  # type: ignore[misc]
    """A read-only view of ``inner`` that serves cached tails and planned file sizes."""

    cachable = False

    def __init__(self, inner: Any, files: dict[str, Version]) -> None:
        """``files``: path (without scheme) → its version as planned."""
        super().__init__()
        self.inner = inner
        self.protocol = inner.protocol
        self._files = files

    def _strip(self, path: str) -> str:
        return str(self.inner._strip_protocol(path))

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        key = self._strip(path)
        if key in self._files:
            return {"name": key, "size": self._files[key][0], "type": "file"}
        return dict(self.inner.info(path, **kwargs))

    def modified(self, path: str) -> dt.datetime:
        key = self._strip(path)
        if key in self._files:
            return dt.datetime.fromtimestamp(self._files[key][1] / 1e9, tz=dt.UTC)
        return self.inner.modified(path)  # type: ignore[no-any-return]

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> Any:
        return self.inner.ls(path, detail=detail, **kwargs)

    def _open(self, path: str, mode: str = "rb", **kwargs: Any) -> Any:
        if "r" not in mode or "+" in mode:
            raise PermissionError("duckmesh reads products; it never writes them")
        key = self._strip(path)
        # Only planned files (a known version) use the caches.
        version = self._files.get(key)
        size = version[0] if version else int(self.inner.info(key)["size"])
        with _LOCK:
            entry = _TAILS.get(key)
        tail = (entry[1], entry[2]) if entry is not None and entry[0] == version else None
        return io.BufferedReader(_TailFile(self.inner, key, size, tail, version))

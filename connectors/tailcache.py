"""Read each remote file's footer once per process: planning and DuckDB share it.

Planning reads every planned file's Parquet footer (contract enforcement, facts), and
reads it exactly: the footer and its 8-byte trailer, no more (a guess of its length from
the product's other files makes that one request; without a guess it takes two).

DuckDB, reading through fsspec, opens each file again and first reads its end in one
call, whatever the footer's length: the last 16 KB, more for large files (measured: the
file size / 1024 rounded up to a power of two, at least ``DUCKDB_FOOTER_PROBE``; 32 KB
for a 17 MB file, 256 KB for 216 MB). Of that read it uses only the footer: the column
chunks before it are read again, by their own calls, when a scan needs them — with the
external file cache on or off, checked on the installed DuckDB by
``tests/connectors/test_footer_reads.py``. So the part of the probe before the footer is
not fetched: it is answered with zeros, and only for that call — the first read of a
fresh handle that ends at the end of the file (no read of column data can end there: the
footer follows the data), whatever its length.
Every other read gets the store's bytes; a read that overlaps the cached footer fetches
only the part before it.  For small files this is most of what a query fetches: the
demo's "passengers by status" went from 2.42× to 1.05× the bytes it needs.

``connectors.tailfs.TailCachingFileSystem`` wraps a remote filesystem: reads inside a
cached footer are served from memory (:func:`open_tail`), ``info`` is answered from the
planned listing, everything else goes to the store.  Entries are keyed by path and
version (size, modification time, ETag), so a changed object is read anew.
"""

from __future__ import annotations

import io
import threading
from collections import OrderedDict
from typing import Any

from connectors.filesystems import read_range

DUCKDB_FOOTER_PROBE = 16 * 1024
"""The least DuckDB reads of a Parquet file's end to find its footer (more for large
files, the whole file if smaller)."""
_MAX_ENTRIES = 16384
"""Footers kept (least recently planned dropped first): a few KB each."""

Version = tuple[int, int, str]
"""(size, mtime_ns, etag): one version of a file (connectors.listing.FileInfo.version)."""

# path → (version, tail start offset, tail bytes)
_TAILS: OrderedDict[str, tuple[Version, int, bytes]] = OrderedDict()
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
        if len(data) > self.max_bytes // 4 or not data:
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

    def resize(self, max_bytes: int) -> None:
        """Hold at most ``max_bytes`` from now on (0: nothing), dropping the oldest."""
        with self._lock:
            self.max_bytes = max_bytes
            while self._size > max_bytes:
                _, dropped = self._entries.popitem(last=False)
                self._size -= len(dropped)


RANGES = RangeCache(256 * 1024 * 1024)
"""Process-wide; sized by the ``storage.cache`` setting of the mesh opened last."""


def read_footer(fs: Any, path: str, version: Version, guess: int | None = None,
                deadline: float | None = None) -> bytes:
    """The end of ``path`` from its footer on (cached per file version), read exactly.

    ``guess``: how many bytes from the end probably hold the footer (from the product's
    other files); one request when right, a second for the rest when short.  Without a
    guess: the 8-byte trailer, then the footer.  What comes back may start before the
    footer (a generous guess); a file that is not Parquet is returned as read, uncached,
    for the caller's parser to reject.
    """
    size = version[0]
    with _LOCK:
        entry = _TAILS.get(path)
        if entry is not None:
            _TAILS.move_to_end(path)
    if entry is not None and entry[0] == version:
        return entry[2]
    start = max(0, size - max(guess or 0, 8))
    data = read_range(fs, path, start, size, version[2], deadline)
    footer = int.from_bytes(data[-8:-4], "little") + 8 if len(data) >= 8 else 0
    if data[-4:] != b"PAR1" or footer > size:
        return data
    if footer > len(data):
        data = read_range(fs, path, size - footer, start, version[2], deadline) + data
        start = size - footer
    with _LOCK:
        _TAILS[path] = (version, start, data)
        _TAILS.move_to_end(path)
        while len(_TAILS) > _MAX_ENTRIES:
            _TAILS.popitem(last=False)
    return data


class _TailFile(io.RawIOBase):
    """A read-only file: cached footers and ranges from memory, the rest from the store.

    Unbuffered on purpose: each read DuckDB makes is one exact ranged request (a
    ``BufferedReader`` rounded column-chunk reads up to 8 KB multiples, measured +30%).
    """

    def __init__(self, fs: Any, path: str, size: int, tail: tuple[int, bytes] | None,
                 version: Version | None = None, deadline: float | None = None) -> None:
        super().__init__()
        self._fs, self._path, self._size, self._tail = fs, path, size, tail
        self._version = version
        self._deadline = deadline
        # DuckDB's threads share one handle: each seeks, then reads, and other threads
        # seek the handle while a read waits on the network (measured).  A position per
        # thread keeps each read where its own thread put it.
        self._where = threading.local()
        self._fresh = True
        self._fresh_lock = threading.Lock()

    @property
    def _pos(self) -> int:
        return getattr(self._where, "pos", 0)

    @_pos.setter
    def _pos(self, value: int) -> None:
        self._where.pos = value

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

    def read(self, size: int | None = -1) -> bytes:
        pos = self._pos
        end = self._size if size is None or size < 0 else min(self._size, pos + size)
        if end <= pos:
            return b""
        with self._fresh_lock:
            first, self._fresh = self._fresh, False
        probe = first and end == self._size  # DuckDB's footer probe, whatever its size
        if self._tail is not None and end > self._tail[0]:
            tail_start, tail = self._tail
            cached = tail[max(0, pos - tail_start):end - tail_start]
            if pos >= tail_start:
                data = cached
            elif probe:
                # DuckDB's footer probe: it uses only the footer and reads the chunks
                # before it again when it needs them (see the module docstring).
                data = bytes(tail_start - pos) + cached
            else:
                data = self._fetch(pos, tail_start) + cached
        else:
            data = self._fetch(pos, end)
        self._pos = end
        return data

    def _fetch(self, start: int, end: int) -> bytes:
        if self._version is None:  # not a planned file: no caching
            return read_range(self._fs, self._path, start, end, deadline=self._deadline)
        key = (self._path, self._version, start, end)
        data = RANGES.get(key)
        if data is None:
            # Only from the version planned: its footer is what DuckDB decodes with.
            data = read_range(self._fs, self._path, start, end, self._version[2],
                              self._deadline)
            RANGES.put(key, data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def open_tail(fs: Any, path: str, size: int, version: Version | None,
              deadline: float | None = None) -> io.RawIOBase:
    """``path`` of ``fs`` opened for DuckDB: its cached footer (when ``version`` is the one
    cached) and cached ranges from memory, the rest from the store, by ``deadline``."""
    with _LOCK:
        entry = _TAILS.get(path)
    tail = (entry[1], entry[2]) if entry is not None and entry[0] == version else None
    return _TailFile(fs, path, size, tail, version, deadline)

"""pyiceberg's fsspec FileIO, reading a table's files under the mesh's own warehouse.

pyiceberg's SQL catalog records absolute locations — metadata, manifest lists, manifests
and data files, ``file:///home/ana/demo-mesh/iceberg/warehouse/marketing/campaigns/…``.
A mesh copied, moved or cloned elsewhere would read the old folder (or fail).  With a
mesh-relative ``warehouse``, every location of the table (``…/<namespace>/<table>/…``,
the layout pyiceberg gives tables under a warehouse) is read from the same place under the
mesh's warehouse as it is now: a documented rewrite on open, nothing written.

Every read of a remote table — metadata JSON, manifest lists, manifests, and the data
files pyiceberg's own reader falls back to — ends by the query's deadline (the
``duckmesh.deadline`` property, a ``time.monotonic`` value): pyiceberg reads manifests on
its own threads, where the deadline's context variable does not reach, so it travels
with the FileIO.  Reads go through :func:`connectors.filesystems.read_range`, so a
stalled store ends in :class:`~connectors.filesystems.DeadlineExceeded` and a body cut
short is read again.

Loaded by name through pyiceberg's ``py-io-impl`` property (see :mod:`connectors.iceberg`),
so pyiceberg is imported only when an Iceberg product is read.
"""

from __future__ import annotations

import io
import threading
import time
from typing import Any

from pyiceberg.catalog.rest import RestCatalog
from pyiceberg.io import InputFile, InputStream, OutputFile
from pyiceberg.io.fsspec import FsspecFileIO, FsspecInputFile, FsspecOutputFile
from requests import PreparedRequest, Response, Session
from requests.adapters import HTTPAdapter
from requests.exceptions import Timeout

from connectors.filesystems import DeadlineExceeded, call, read_range

TABLE = "duckmesh.relocate.table"
"""Property: ``<namespace>/<table>``, the table's part of every location."""
TARGET = "duckmesh.relocate.to"
"""Property: the mesh's warehouse URI (``file:///…/iceberg/warehouse``)."""
DEADLINE = "duckmesh.deadline"
"""Property: when the query's time is up (``time.monotonic()``); remote reads end then."""


def relocate(location: str, properties: dict[str, Any]) -> str:
    """``location`` under the mesh's warehouse when it is one of the table's own: its
    part from ``/<namespace>/<table>/`` (pyiceberg's layout; ``<namespace>.db`` in some
    versions) on, under the warehouse instead of wherever it was written."""
    table, target = str(properties.get(TABLE) or ""), str(properties.get(TARGET) or "")
    if not table or not target:
        return location
    target = target.rstrip("/")
    namespace, name = table.split("/", 1)
    for anchor in (f"/{namespace}/{name}", f"/{namespace}.db/{name}"):
        if location.startswith(target + anchor + "/") or location == target + anchor:
            return location
        if anchor + "/" in location:
            return target + anchor + "/" + location.rsplit(anchor + "/", 1)[1]
        if location.endswith(anchor):
            return target + anchor
    return location


class _RangeFile(io.RawIOBase):
    """A read-only remote file: each read one ranged request, ended by the deadline."""

    def __init__(self, fs: Any, path: str, size: int, deadline: float | None) -> None:
        super().__init__()
        self._fs, self._path, self._size, self._deadline = fs, path, size, deadline
        self._where = threading.local()  # pyarrow may read one handle from two threads

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self.tell(), 2: self._size}[whence]
        self._where.pos = max(0, base + offset)
        return int(self._where.pos)

    def tell(self) -> int:
        return int(getattr(self._where, "pos", 0))

    def read(self, size: int | None = -1) -> bytes:
        pos = self.tell()
        end = self._size if size is None or size < 0 else min(self._size, pos + size)
        if end <= pos:
            return b""
        data = read_range(self._fs, self._path, pos, end, deadline=self._deadline)
        self._where.pos = end
        return data

    def readall(self) -> bytes:
        return self.read(-1)

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class BoundedInputFile(FsspecInputFile):
    """An input file of an asynchronous (remote) filesystem read by the deadline."""

    def __init__(self, location: str, fs: Any, deadline: float | None) -> None:
        super().__init__(location, fs)
        self._deadline = deadline

    def __len__(self) -> int:
        info = call(self._fs, "info", self.location, deadline=self._deadline)
        return int(info.get("size", info.get("Size", 0)))

    def exists(self) -> bool:
        return bool(call(self._fs, "exists", self.location, deadline=self._deadline))

    def open(self, seekable: bool = True) -> InputStream:
        del seekable
        return _RangeFile(self._fs, self.location, len(self), self._deadline)


class RelocatingFileIO(FsspecFileIO):
    """FsspecFileIO whose every location goes through :func:`relocate` first, and whose
    remote reads end by the query's deadline."""

    def new_input(self, location: str) -> FsspecInputFile:
        plain = super().new_input(relocate(location, self.properties))
        fs = plain._fs
        if not getattr(fs, "async_impl", False):
            return plain  # local disk: nothing to wait for
        deadline = self.properties.get(DEADLINE)
        return BoundedInputFile(plain.location, fs, float(deadline) if deadline else None)

    def new_output(self, location: str) -> FsspecOutputFile:
        return super().new_output(relocate(location, self.properties))

    def delete(self, location: str | InputFile | OutputFile) -> None:
        if isinstance(location, str):
            location = relocate(location, self.properties)
        super().delete(location)


class _DeadlineAdapter(HTTPAdapter):
    """Every request to a REST catalog waits at most until the query's deadline."""

    def __init__(self, deadline: float) -> None:
        super().__init__()
        self._deadline = deadline

    def send(self, request: PreparedRequest, *args: Any, **kwargs: Any) -> Response:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise DeadlineExceeded("the query's time limit ran out before the Iceberg "
                                   "catalog answered")
        kwargs["timeout"] = left
        try:
            return super().send(request, *args, **kwargs)
        except Timeout:
            raise DeadlineExceeded("the query's time limit ran out while the Iceberg "
                                   "catalog was answering") from None


class BoundedRestCatalog(RestCatalog):
    """pyiceberg's REST catalog whose requests (its configuration and table loads
    included) end by the ``duckmesh.deadline`` property."""

    def _create_session(self) -> Session:
        session: Session = super()._create_session()
        deadline = self.properties.get(DEADLINE)
        if deadline:
            adapter = _DeadlineAdapter(float(deadline))
            session.mount("http://", adapter)
            session.mount("https://", adapter)
        return session

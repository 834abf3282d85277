"""The filesystem DuckDB reads remote products through: footers and ranges from the
process's caches (:mod:`connectors.tailcache`), everything else from the store.

A module of its own because it subclasses fsspec's ``AbstractFileSystem``: importing
fsspec (with asyncio, ssl and its compression codecs) cost every query about 40 ms of
start-up, and only a query reading remote products registers this filesystem.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fsspec import AbstractFileSystem

from connectors.filesystems import call
from connectors.tailcache import Version, open_tail


class TailCachingFileSystem(AbstractFileSystem):  # type: ignore[misc]
    """A read-only view of ``inner`` that serves cached tails and planned file sizes."""

    cachable = False

    def __init__(self, inner: Any, files: dict[str, Version],
                 deadline: float | None = None) -> None:
        """``files``: path (without scheme) → its version as planned; ``deadline``
        (``time.monotonic``): when the query's time is up, for every read."""
        super().__init__()
        self.inner = inner
        self.protocol = inner.protocol
        self._files = files
        self._deadline = deadline

    def _strip(self, path: str) -> str:
        return str(self.inner._strip_protocol(path))

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        key = self._strip(path)
        if key in self._files:
            return {"name": key, "size": self._files[key][0], "type": "file"}
        return dict(call(self.inner, "info", path, deadline=self._deadline, **kwargs))

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
        size = version[0] if version else int(call(self.inner, "info", key,
                                                    deadline=self._deadline)["size"])
        return open_tail(self.inner, key, size, version, self._deadline)

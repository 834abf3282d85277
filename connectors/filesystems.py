"""fsspec filesystems by URI scheme, built from the mesh's storage settings.

DuckDB reads remote products through these filesystems (``register_filesystem``), so its
own Parquet reader does the scanning.  s3fs is tuned by measurement (shared/FACTS.md):
its default read-ahead cache made DuckDB fetch 8–26× the bytes it needed, so caching is
off (``default_cache_type='none'``).  Retries with backoff and bounded timeouts come from
botocore's configuration; a body the store cut short (it announced its length, then the
connection closed) is retried here as well, and every read and listing ends by the query's
deadline (:func:`storage_deadline`), whatever the store does.

fsspec is imported only where a filesystem is built or an asynchronous one is called:
with asyncio, ssl and its compression codecs it cost every local query about 40 ms of
start-up, and a local product is read by DuckDB directly.
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib
import sys
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from connectors.errors import ConfigError

if TYPE_CHECKING:
    import fsspec

# Optional backends and the extra that installs each (fsspec's known_implementations idea).
_OPTIONAL = {"gs": ("gcsfs", "gcsfs"), "gcs": ("gcsfs", "gcsfs"), "az": ("adlfs", "adlfs"),
             "abfs": ("adlfs", "adlfs"), "abfss": ("adlfs", "adlfs")}

def storage_errors() -> tuple[type[BaseException], ...]:
    """What a filesystem may raise when storage fails; turned into StorageError at the edge.

    Besides OSError: botocore's errors (closed connections, timeouts) and aiohttp's (a body
    cut short).  Only a library already imported can have raised, so only its classes are
    named: importing aiohttp just to name them cost every command about 0.1 s of start-up.
    Use it as ``except storage_errors():`` (evaluated when an exception arrives)."""
    errors: list[type[BaseException]] = [OSError]
    if "botocore.exceptions" in sys.modules:
        from botocore.exceptions import BotoCoreError, ClientError

        errors += [BotoCoreError, ClientError]
    if "aiohttp" in sys.modules:
        with contextlib.suppress(ImportError):  # a failed import may leave a partial module
            from aiohttp import ClientError as HttpClientError

            errors.append(HttpClientError)
    return tuple(errors)


def cut_short_errors() -> tuple[type[BaseException], ...]:
    """A response whose body ended before its announced length: transient, read again
    (only from libraries already imported, as :func:`storage_errors`)."""
    errors: list[type[BaseException]] = []
    if "aiohttp" in sys.modules:
        with contextlib.suppress(ImportError):
            from aiohttp import ClientPayloadError, ServerDisconnectedError

            errors += [ClientPayloadError, ServerDisconnectedError]
    if "botocore.exceptions" in sys.modules:
        from botocore.exceptions import IncompleteReadError, ResponseStreamingError

        errors += [IncompleteReadError, ResponseStreamingError]
    return tuple(errors)


def __getattr__(name: str) -> tuple[type[BaseException], ...]:
    # STORAGE_ERRORS / CUT_SHORT as constants, for code that imports them by name: those
    # import botocore and aiohttp (when installed) so that the tuple is complete for good.
    if name in ("STORAGE_ERRORS", "CUT_SHORT"):
        for module in ("botocore.exceptions", "aiohttp"):
            with contextlib.suppress(ImportError):
                importlib.import_module(module)
        return storage_errors() if name == "STORAGE_ERRORS" else cut_short_errors()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class DeadlineExceeded(OSError):
    """The query's time limit ran out while storage was (not) answering."""


class CutShort(OSError):
    """The store cut every answer to one read short, as many times as it may be tried."""


_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "duckmesh_storage_deadline", default=None)


@contextlib.contextmanager
def storage_deadline(deadline: float | None) -> Iterator[None]:
    """Storage reads and listings in this context end by ``deadline`` (``time.monotonic``):
    a store that stalls makes them fail with :class:`DeadlineExceeded`, not wait."""
    token = _DEADLINE.set(deadline)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def current_deadline() -> float | None:
    """The deadline of :func:`storage_deadline` in effect here (None: none)."""
    return _DEADLINE.get()


def _time_left(deadline: float | None) -> float | None:
    if deadline is None:
        return None
    left = deadline - time.monotonic()
    if left <= 0:
        raise DeadlineExceeded("the query's time limit ran out while reading from storage")
    return left


def call(fs: Any, method: str, *args: Any, deadline: float | None = None, **kwargs: Any) -> Any:
    """``fs.<method>(*args, **kwargs)``, ended by ``deadline`` (default: the current one)
    when the filesystem is asynchronous (s3fs, gcsfs, adlfs)."""
    deadline = deadline if deadline is not None else _DEADLINE.get()
    if deadline is None or not getattr(fs, "async_impl", False) or \
            not hasattr(fs, "_" + method):
        return getattr(fs, method)(*args, **kwargs)
    import fsspec.asyn
    from fsspec.exceptions import FSTimeoutError

    try:
        return fsspec.asyn.sync(fs.loop, getattr(fs, "_" + method), *args,
                                timeout=_time_left(deadline), **kwargs)
    except FSTimeoutError:
        raise DeadlineExceeded("the query's time limit ran out while storage was "
                               "answering") from None

S3_RETRIES = 5
S3_CONNECT_TIMEOUT = 5.0
S3_READ_TIMEOUT = 30.0


def s3_options(settings: Any) -> dict[str, Any]:
    """s3fs keyword arguments from ``storage.s3`` settings (None: the AWS defaults)."""
    config: dict[str, Any] = {
        "retries": {"max_attempts": getattr(settings, "max_attempts", S3_RETRIES),
                    "mode": "adaptive"},
        "connect_timeout": getattr(settings, "connect_timeout", S3_CONNECT_TIMEOUT),
        "read_timeout": getattr(settings, "read_timeout", S3_READ_TIMEOUT),
    }
    if settings is not None and settings.path_style:
        config["s3"] = {"addressing_style": "path"}
    options: dict[str, Any] = {
        "default_cache_type": "none",
        "default_fill_cache": False,
        "config_kwargs": config,
    }
    if settings is not None:
        if settings.endpoint_url:
            options["endpoint_url"] = settings.endpoint_url
        if settings.region:
            options["client_kwargs"] = {"region_name": settings.region}
        if settings.profile:
            options["profile"] = settings.profile
        if settings.anonymous:
            options["anon"] = True
    return options


def filesystem(scheme: str, storage: Any = None) -> fsspec.AbstractFileSystem:
    """The filesystem for ``scheme`` (``s3``, ``gs``, ``az``, ``memory``, …)."""
    scheme = "s3" if scheme == "s3a" else scheme
    options: dict[str, Any] = {}
    if_match = False  # conditional reads: S3 only (others have no version check here yet)
    if scheme == "s3":
        s3 = getattr(storage, "s3", None)
        options = s3_options(s3)
        if_match = bool(getattr(s3, "conditional_reads", True))
    if scheme in _OPTIONAL:
        module, extra = _OPTIONAL[scheme]
        try:
            importlib.import_module(module)
        except ImportError:
            raise ConfigError(f"{scheme}:// needs the {module} package",
                              hint=f"pip install 'duckmesh[{extra}]'") from None
    key = (scheme, repr(sorted(options.items())), if_match)
    if key not in _CACHE:
        import fsspec

        fs = fsspec.filesystem("memory") if scheme == "memory" else \
            fsspec.filesystem(scheme, skip_instance_cache=True, **options)
        if scheme == "s3":
            # s3fs retries around botocore, which already retries max_attempts times with
            # backoff: nested, a stalled endpoint took minutes instead of seconds.
            fs.retries = 1
        fs.duckmesh_if_match = if_match
        fs.duckmesh_attempts = int(options.get("config_kwargs", {}).get("retries", {})
                                   .get("max_attempts", 1))
        _CACHE[key] = fs
    return _CACHE[key]


# One filesystem per scheme and options: s3fs clients are costly to build.
_CACHE: dict[tuple[str, str, bool], fsspec.AbstractFileSystem] = {}


def clear() -> None:
    """Forget built filesystems (tests that restart an S3 endpoint use this)."""
    _CACHE.clear()


class ObjectChanged(OSError):
    """A remote object is no longer the version a query planned (its ETag differs)."""


def read_range(fs: Any, path: str, start: int, end: int, etag: str = "",
               deadline: float | None = None) -> bytes:
    """Bytes ``start:end`` of ``path``, all of them, by ``deadline`` (default: the one of
    :func:`storage_deadline` in effect).

    On S3, with the ETag the listing gave, only from that version of the object (a
    conditional GET, ``If-Match``; ``storage.s3.conditional_reads`` turns it off): a
    producer rewriting a file while a query reads it would otherwise mix the planned
    footer with the new file's bytes — column chunks at the old offsets, decoded as
    garbage or, worse, as plausible values.

    An answer cut short (a body that ends before its announced length, or fewer bytes
    than asked) is read again, up to ``storage.s3.max_attempts`` times with backoff, then
    :class:`CutShort`; past the deadline, :class:`DeadlineExceeded`.
    """
    deadline = deadline if deadline is not None else _DEADLINE.get()
    attempts = max(1, int(getattr(fs, "duckmesh_attempts", 1)))
    for attempt in range(attempts):
        try:
            data = _read_once(fs, path, start, end, etag, deadline)
        except cut_short_errors():
            pass
        else:
            if len(data) == end - start:
                return data
        if attempt + 1 < attempts:
            left = _time_left(deadline)
            time.sleep(min(0.05 * 2 ** attempt, 1.0, left if left is not None else 1.0))
    raise CutShort(f"short read of {path}: the store cut its answer short {attempts} times")


def _read_once(fs: Any, path: str, start: int, end: int, etag: str,
               deadline: float | None) -> bytes:
    if etag and getattr(fs, "duckmesh_if_match", False):
        import fsspec.asyn
        from fsspec.exceptions import FSTimeoutError

        try:
            return bytes(fsspec.asyn.sync(fs.loop, _s3_range_if_match, fs, path, start, end,
                                          etag, timeout=_time_left(deadline)))
        except FSTimeoutError:
            raise DeadlineExceeded("the query's time limit ran out while storage was "
                                   "answering") from None
    return bytes(call(fs, "cat_file", path, start=start, end=end, deadline=deadline))


async def _s3_range_if_match(fs: Any, path: str, start: int, end: int, etag: str) -> bytes:
    bucket, key, _ = fs.split_path(path)
    try:
        response = await fs._call_s3("get_object", Bucket=bucket, Key=key,
                                     Range=f"bytes={start}-{end - 1}", IfMatch=etag)
    except OSError as exc:
        error = getattr(exc.__cause__, "response", {}).get("Error", {})
        if error.get("Code") == "PreconditionFailed":
            raise ObjectChanged(f"{path} changed since it was listed") from None
        raise
    try:
        return bytes(await response["Body"].read())
    finally:
        response["Body"].close()

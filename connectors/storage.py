"""Product locations by URI scheme: local paths (relative to the mesh) and fsspec URIs."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlparse

from connectors.errors import ConfigError
from connectors.localpaths import real_path

LOCAL_SCHEMES = ("", "file")
# Schemes DuckDB reads through a registered fsspec filesystem.
REMOTE_SCHEMES = ("s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "memory")
_GLOB_CHARS = set("*?[")


@dataclass(frozen=True)
class Location:
    """A resolved product location."""

    scheme: str
    uri: str
    """What DuckDB is given: an absolute path, or ``scheme://bucket/key``."""
    path: str
    """The path part, without scheme."""

    @property
    def is_local(self) -> bool:
        """True for files on this machine's disk."""
        return self.scheme in LOCAL_SCHEMES

    @property
    def is_glob(self) -> bool:
        """True if the location is a glob pattern rather than a file or directory."""
        return any(ch in _GLOB_CHARS for ch in self.path)

    @property
    def directory(self) -> str:
        """The deepest non-glob directory of the location, with a trailing slash."""
        parts = self.uri.split("/")
        keep: list[str] = []
        for part in parts:
            if any(ch in _GLOB_CHARS for ch in part):
                break
            keep.append(part)
        base = "/".join(keep)
        if base.endswith(".parquet") and not self.is_glob:
            base = base.rsplit("/", 1)[0]
        return base.rstrip("/") + "/"


def resolve_location(text: str, root: Path) -> Location:
    """Resolve a contract's ``path``/``location``: relative paths are under the mesh root,
    symlinks followed as they are now (:func:`connectors.localpaths.real_path`)."""
    parsed = _parsed(text, root)
    if isinstance(parsed, Location):
        return parsed
    resolved = str(real_path(parsed))
    return Location(scheme="", uri=resolved, path=resolved)


@lru_cache(maxsize=1024)
def _parsed(text: str, root: Path) -> Path | Location:
    """The text alone, parsed: a remote location, or the absolute local path whose
    symlinks are still to be followed (that part reads the disk, so it is not cached)."""
    parsed = urlparse(text)
    scheme = parsed.scheme.lower()
    if len(scheme) == 1:  # a Windows drive letter, not a scheme
        scheme = ""
    if scheme in LOCAL_SCHEMES:
        path = Path(parsed.path if scheme == "file" else text)
        return (path if path.is_absolute() else root / path).absolute()
    if scheme in REMOTE_SCHEMES:
        return Location(scheme=scheme, uri=text, path=parsed.netloc + parsed.path)
    raise ConfigError(f"unsupported storage scheme {scheme!r} in {text!r}",
                      hint="use a local path or one of " + ", ".join(REMOTE_SCHEMES))

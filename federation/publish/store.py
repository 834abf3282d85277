"""Materialise a derived product's data atomically, one version per publication.

Parquet on local disk: each publication writes a new folder ``v000001/``,
``v000002/``… beside a symlink ``current`` that the contract's location names.  The
folder is written under a hidden temporary name and renamed whole; then a new symlink
replaces ``current`` with one ``rename`` — atomic, so a reader lists the old version or
the new one, never a mix.  The last :data:`KEEP` versions stay on disk, so a query that
listed an older version just before the switch can still read it; a run killed at any
point leaves the previous version current and at most a hidden ``.partial`` folder, which
the next publication removes.  Each version's files carry the publication record in
their Parquet metadata (``duckmesh.publication``).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from connectors.writers import write_stream
from federation.errors import StorageError

CURRENT = "current"
KEEP = 3
PUBLICATION_KEY = "duckmesh.publication"
_VERSION = re.compile(r"^v(\d{6,})$")


def versions(folder: Path) -> list[int]:
    """The complete versions in ``folder``, oldest first."""
    if not folder.is_dir():
        return []
    found = (_VERSION.match(p.name) for p in folder.iterdir() if p.is_dir())
    return sorted(int(m[1]) for m in found if m)


def current_version(folder: Path) -> int | None:
    """The version ``current`` points at, or None before the first publication."""
    link = folder / CURRENT
    if not link.is_symlink():
        return None
    match = _VERSION.match(link.readlink().name)
    return int(match[1]) if match else None


def check_unused(folder: Path) -> None:
    """StorageError if ``folder`` holds anything but an earlier publication's versions: a
    first publication must not mix its files into data already there (another product's,
    whose location would then be shared and both refused, or files nobody described)."""
    if not folder.is_dir():
        return
    other = sorted(p.name for p in folder.iterdir()
                   if not (_VERSION.match(p.name) or p.name == CURRENT
                           or p.name.startswith((".v", f".{CURRENT}."))))
    if other:
        raise StorageError(f"{folder} already holds data ({', '.join(other[:3])}"
                           f"{', …' if len(other) > 3 else ''}); a new product is published "
                           "into a folder of its own", hint="choose another name")


@dataclass(frozen=True)
class Staged:
    """A version written whole under a hidden name, not yet current."""

    folder: Path
    version: int
    rows: int
    path: Path

    @property
    def name(self) -> str:
        return f"v{self.version:06d}"


def stage(folder: Path, reader: pa.RecordBatchReader, record: dict[str, Any]) -> Staged:
    """Write ``reader`` as the next version of the product in ``folder``, hidden."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        link = folder / CURRENT
        if link.exists() and not link.is_symlink():
            raise StorageError(f"{link} exists and is not duckmesh's version link; "
                               "publish into an empty folder")
        for stale in folder.glob(".v*.partial-*"):
            shutil.rmtree(stale, ignore_errors=True)  # left by a killed publication
        version = max(versions(folder), default=0) + 1
        staging = folder / f".v{version:06d}.partial-{uuid.uuid4().hex}"
        staging.mkdir()
        metadata = {PUBLICATION_KEY: json.dumps({**record, "version": version}, default=str)}
        try:
            # One file per version, named after it: caches keyed on path never mix versions.
            with (staging / f"part-{version:06d}.parquet").open("wb") as out:
                rows = write_stream(reader, "parquet", out, metadata)
                out.flush()
                os.fsync(out.fileno())
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)  # the query failed: nothing half-written
            raise
    except OSError as exc:
        raise StorageError(f"cannot write the product's data under {folder}: "
                           f"{exc.strerror or type(exc).__name__}") from None
    return Staged(folder, version, rows, staging)


def commit(staged: Staged) -> None:
    """Make a staged version current: rename it into place, then switch ``current``."""
    folder = staged.folder
    try:
        staged.path.rename(folder / staged.name)
        tmp_link = folder / f".{CURRENT}.{uuid.uuid4().hex}"
        tmp_link.symlink_to(staged.name, target_is_directory=True)
        tmp_link.replace(folder / CURRENT)
        _fsync_dir(folder)
    except OSError as exc:
        raise StorageError(f"cannot publish the product's data under {folder}: "
                           f"{exc.strerror or type(exc).__name__}") from None
    _prune(folder, staged.version)


def abandon(staged: Staged) -> None:
    """Remove a staged version that will not be published."""
    shutil.rmtree(staged.path, ignore_errors=True)


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _prune(folder: Path, current: int) -> None:
    """Keep the newest :data:`KEEP` versions (never the current one)."""
    for old in versions(folder)[:-KEEP]:
        if old != current:
            shutil.rmtree(folder / f"v{old:06d}", ignore_errors=True)


def discard(folder: Path, created: bool) -> None:
    """Undo a first publication whose contract could not be written: remove the data
    folder if this publication created it."""
    if created:
        shutil.rmtree(folder, ignore_errors=True)

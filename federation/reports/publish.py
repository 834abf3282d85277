"""Render a report's result in its format and publish it atomically.

The output is written whole to a temporary file first.  On local disk it is then
renamed over the destination (a rename is atomic within a folder, so readers see the
old file or the new one, never a partial one); a run killed before the rename leaves
only a hidden ``.partial`` file, removed by the next run.  On object storage the
temporary file is uploaded to the destination key: S3 makes an object visible only
once its upload completes, so a killed upload leaves nothing.
"""

from __future__ import annotations

import importlib
import io
import json
import os
import tempfile
from pathlib import Path
from typing import IO, Any

import pyarrow as pa

from connectors.filesystems import STORAGE_ERRORS, filesystem
from connectors.storage import resolve_location
from connectors.writers import atomic_file, write_stream
from federation.errors import ConfigError, StorageError
from federation.reports.spec import ReportSpec
from federation.result import Result
from products.config import StorageSettings

PARTIAL = ".partial"


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


_FILE_MODE = 0o666 & ~_umask()


def _needs(*modules: str) -> None:
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError:
            raise ConfigError(f"this report's format needs the {module} package",
                              hint="pip install 'duckmesh[reports]'") from None


def render(result: Result, spec: ReportSpec, out: IO[bytes], context: dict[str, Any]) -> int:
    """Write ``result`` to ``out`` in the report's format; the number of rows."""
    if spec.format == "xlsx":
        _needs("pandas", "openpyxl")
    elif spec.format == "html":
        _needs("jinja2")
    stamp = {**context, "stamp": result.stamp}
    if spec.format in ("parquet", "csv"):
        metadata = {"duckmesh.report": json.dumps(stamp, default=str)}
        return write_stream(result.reader(), spec.format, out, metadata)
    table = result.arrow()
    rows: int = table.num_rows
    if spec.format == "xlsx":
        _xlsx(table, out, stamp)
    else:
        out.write(_html(table, spec, result, context).encode("utf-8"))
    return rows


def _xlsx(table: pa.Table, out: IO[bytes], stamp: dict[str, Any]) -> None:
    import pandas as pd

    about = pd.DataFrame({"key": list(stamp), "value": [json.dumps(v, default=str)
                                                          for v in stamp.values()]})
    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        table.to_pandas().to_excel(writer, sheet_name="report", index=False)
        about.to_excel(writer, sheet_name="about", index=False)
    out.write(buffer.getvalue())


def _html(table: pa.Table, spec: ReportSpec, result: Result, context: dict[str, Any]) -> str:
    from federation.reports.html import render_html

    return render_html(table, spec, result, context)


def destination(spec: ReportSpec, context: dict[str, Any]) -> str:
    """The destination URI with ``{slot:…}`` and ``{name}`` filled in."""
    return spec.destination.format(slot=context["slot_local"], name=spec.name)


def publish(result: Result, spec: ReportSpec, target: str, root: Path,
            storage: StorageSettings, context: dict[str, Any]) -> int:
    """Render and publish atomically at ``target``; the number of rows."""
    location = resolve_location(target, root)
    if location.is_local:
        return _publish_local(Path(location.path), result, spec, context)
    return _publish_remote(location.scheme, location.uri, result, spec, storage, root, context)


def _publish_local(path: Path, result: Result, spec: ReportSpec,
                   context: dict[str, Any]) -> int:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        for stale in path.parent.glob(f".{path.name}.*{PARTIAL}"):
            stale.unlink(missing_ok=True)  # left by a run that was killed
        with atomic_file(path) as handle:
            rows = render(result, spec, handle, context)
            os.fchmod(handle.fileno(), _FILE_MODE)  # mkstemp makes 0600; publish as usual
    except OSError as exc:
        raise StorageError(f"cannot write the report to {path}: {exc.strerror}") from None
    return rows


def _publish_remote(scheme: str, uri: str, result: Result, spec: ReportSpec,
                    storage: StorageSettings, root: Path, context: dict[str, Any]) -> int:
    staging = root / ".duckmesh" / "reports" / spec.name
    staging.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".upload.", suffix=PARTIAL, dir=staging)
    try:
        with os.fdopen(fd, "wb") as handle:
            rows = render(result, spec, handle, context)
        fs = filesystem(scheme, storage)
        try:
            fs.put_file(tmp, uri)
        except STORAGE_ERRORS as exc:
            raise StorageError(f"cannot write the report to {uri}: {type(exc).__name__}",
                               hint="check the bucket, credentials and storage settings"
                               ) from None
    finally:
        Path(tmp).unlink(missing_ok=True)
    return rows

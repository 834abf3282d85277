"""The last ``duckmesh check`` of each product, kept for the web catalog's product pages:
``.duckmesh/checks/<domain>.<product>.json`` (when, and every finding), written whole."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from pathlib import Path
from typing import Any

from connectors.writers import atomic_file
from products.conformance import Finding

CHECKS_DIR = ".duckmesh/checks"


def _path(root: Path, fqn: str) -> Path:
    return root / CHECKS_DIR / f"{fqn}.json"


def record(root: Path, fqn: str, findings: list[Finding]) -> None:
    """Keep ``findings`` as ``fqn``'s last check (best effort: a read-only mesh still checks)."""
    entry = {"product": fqn, "checked_at": dt.datetime.now(dt.UTC).isoformat(
        timespec="seconds"), "findings": [f.as_dict() for f in findings]}
    with contextlib.suppress(OSError):
        _path(root, fqn).parent.mkdir(parents=True, exist_ok=True)
        with atomic_file(_path(root, fqn)) as handle:
            handle.write(json.dumps(entry, default=str).encode())


def last(root: Path, fqn: str) -> dict[str, Any] | None:
    """``fqn``'s last check, or None if it was never checked (or the file is unreadable)."""
    try:
        data = json.loads(_path(root, fqn).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("product") == fqn else None

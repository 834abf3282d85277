"""``products status D.P active|deprecated|retired``: a contract's lifecycle, by its owners.

Only the owners of the product's domain change its status.  Moves go forward — draft →
active → deprecated → retired — and deprecated may go back to active; a retired product
stays retired.  A deprecation or retirement may name a replacement (an existing product
that is not retired itself) and a sunset date; both are written under the contract's
customProperties (``duckmesh.replacement``, ``duckmesh.sunset``), where queries read
them (:mod:`federation.pipeline.lifecycle`).  The file is edited in place with a
round-trip YAML editor, so its comments and layout stay, written atomically, and
reloaded before it replaces the old one: an edit that would not load is never written.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

from connectors.writers import atomic_file
from federation.audit.log import record as audit_record
from federation.errors import AccessDenied, UsageError
from federation.mesh import Mesh
from federation.pipeline.lifecycle import REPLACEMENT, STATUSES, SUNSET, status_of

MOVES: dict[str, tuple[str, ...]] = {
    "proposed": ("draft", "active", "retired"),
    "draft": ("active", "retired"),
    "active": ("deprecated", "retired"),
    "deprecated": ("active", "retired"),
    "retired": (),
}


def set_status(mesh: Mesh, fqn: str, status: str, *, user: str,
               replacement: str | None = None, sunset: str | None = None) -> str:
    """Move ``fqn`` to ``status`` as ``user`` (an owner of its domain); the old status."""
    product = mesh.catalog.get(fqn)
    if status not in STATUSES:
        raise UsageError(f"unknown status {status!r}", hint="one of " + ", ".join(STATUSES))
    owners = mesh.governance.owners(product.domain)
    if user not in owners:
        raise AccessDenied(f"only the owners of domain {product.domain} change the status "
                           f"of its products ({', '.join(owners) or 'none'}); {user} is not "
                           "one", product=product.fqn)
    old = status_of(product)
    if status != old and status not in MOVES.get(old, ()):
        raise UsageError(f"{product.fqn} cannot go from {old} to {status}",
                         product=product.fqn, hint=f"from {old}: "
                         + (", ".join(MOVES.get(old, ())) or "no further status"))
    if replacement is not None:
        target = mesh.catalog.get(replacement)
        if target.fqn == product.fqn or status_of(target) == "retired":
            raise UsageError(f"--replacement {target.fqn} cannot replace {product.fqn}"
                             + (" (it is retired)" if target.fqn != product.fqn else ""))
        replacement = target.fqn
    if sunset is not None:
        try:
            sunset = dt.date.fromisoformat(sunset).isoformat()
        except ValueError:
            raise UsageError(f"--sunset takes a date (YYYY-MM-DD), not {sunset!r}") from None
    if (replacement or sunset) and status not in ("deprecated", "retired"):
        raise UsageError("--replacement and --sunset go with deprecated or retired")
    _rewrite(product.contract_path, product.domain, status, replacement, sunset)
    _audit(mesh, product.fqn, user, old, status)
    return old


def edit_contract(path: Path, domain: str, change: Callable[[Any], None]) -> None:
    """Apply ``change`` to the contract at ``path`` with a round-trip YAML editor (its
    comments, key order and quoting stay), check that the result still loads as a
    contract, and replace the file atomically."""
    from ruamel.yaml import YAML

    editor = YAML()
    editor.preserve_quotes = True
    editor.width = 4096
    data = editor.load(path.read_text(encoding="utf-8"))
    change(data)
    buffer = io.StringIO()
    editor.dump(data, buffer)
    text = buffer.getvalue()
    _check(text, path, domain)  # must load as a contract before it replaces the old
    with atomic_file(path) as handle:
        handle.write(text.encode("utf-8"))


def _rewrite(path: Path, domain: str, status: str, replacement: str | None,
             sunset: str | None) -> None:
    def change(data: Any) -> None:
        data["status"] = status
        custom: Any = data.get("customProperties")
        if custom is None:
            custom = data["customProperties"] = []
        for key, value in ((REPLACEMENT, replacement), (SUNSET, sunset)):
            if value is None:
                continue
            entry = next((c for c in custom
                          if isinstance(c, dict) and c.get("property") == key), None)
            if entry is None:
                custom.append({"property": key, "value": value})
            else:
                entry["value"] = value

    edit_contract(path, domain, change)


def _check(text: str, path: Path, domain: str) -> None:
    from products.contract import product_from_document, product_name_of, schema_errors
    from products.yamlio import parse_yaml

    doc = parse_yaml(text, path)
    errors = schema_errors(doc)
    if errors:
        raise errors[0]
    product_from_document(doc, domain, product_name_of(path))


def _audit(mesh: Mesh, fqn: str, user: str, old: str, new: str) -> None:
    roles = mesh.governance.principal(user).roles
    entry: dict[str, Any] = audit_record(None, sql="", user=user, roles=roles,
                                         started=dt.datetime.now(dt.UTC), outcome="ok")
    entry.update(products=[fqn], lifecycle={"from": old, "to": new})
    mesh.audit.write(entry)

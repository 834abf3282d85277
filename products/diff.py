"""What changed between two versions of a contract, and which version bump it needs.

Breaking (needs a major bump): a column removed or renamed, a type narrowed or changed,
nullability tightened (``required`` false → true), a classification relaxed, the
product removed.  Additive or widening changes need a minor bump; wording a patch.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from sqlglot import exp
from sqlglot.errors import ParseError

from connectors.errors import ConfigError, UsageError
from products.classification import rank
from products.contract import (
    CONTRACT_SUFFIX,
    Column,
    Product,
    load_contract,
    product_from_document,
    schema_errors,
)
from products.yamlio import parse_yaml

Bump = Literal["none", "patch", "minor", "major"]
BUMPS: tuple[Bump, ...] = ("none", "patch", "minor", "major")

# sqlglot's names for DuckDB's integer types (HUGEINT is INT128).
_INT_WIDTH = {"TINYINT": 1, "SMALLINT": 2, "INT": 3, "BIGINT": 4, "INT128": 5}


@dataclass(frozen=True)
class Change:
    """One difference between two contract versions."""

    kind: str
    detail: str
    bump: Bump
    column: str | None = None

    @property
    def breaking(self) -> bool:
        """True if consumers may break: it needs a major version."""
        return self.bump == "major"


def _type(text: str) -> exp.DataType | None:
    try:
        return exp.DataType.build(text, dialect="duckdb")
    except (ParseError, ValueError):
        return None


def widens(old: str, new: str) -> bool:
    """True if every value of type ``old`` fits type ``new`` unchanged."""
    a, b = _type(old), _type(new)
    if a is None or b is None:
        return False
    an, bn = a.this.name, b.this.name
    if an in _INT_WIDTH and bn in _INT_WIDTH:
        return _INT_WIDTH[bn] >= _INT_WIDTH[an]
    if an in _INT_WIDTH and bn in ("DOUBLE", "DECIMAL"):
        return bn == "DOUBLE" or _decimal(b)[0] - _decimal(b)[1] >= 19
    if (an, bn) in (("FLOAT", "DOUBLE"), ("DATE", "TIMESTAMPNTZ"), ("DATE", "TIMESTAMP")):
        return True
    if an == bn == "DECIMAL":
        (p1, s1), (p2, s2) = _decimal(a), _decimal(b)
        return s2 >= s1 and p2 - s2 >= p1 - s1
    return bn in ("VARCHAR", "TEXT") and an not in ("VARBINARY", "BLOB")


def _decimal(t: exp.DataType) -> tuple[int, int]:
    params = [int(p.name) for p in t.expressions] if t.expressions else [18, 3]
    return (params[0], params[1] if len(params) > 1 else 0)


def _column_changes(old: Column, new: Column) -> list[Change]:
    out = []
    name = new.name
    if _type(old.type) != _type(new.type):
        if widens(old.type, new.type):
            out.append(Change("type widened", f"{name}: {old.type} → {new.type}", "minor", name))
        else:
            out.append(Change("type narrowed or changed", f"{name}: {old.type} → {new.type}",
                              "major", name))
    if not old.required and new.required:
        out.append(Change("nullability tightened", f"{name} is now required", "major", name))
    elif old.required and not new.required:
        out.append(Change("nullability relaxed", f"{name} may now be null", "minor", name))
    if old.classification != new.classification:
        before, after = rank(old.classification), rank(new.classification)
        kind: str = "classification changed"
        bump: Bump = "major"  # e.g. pii → pci: not comparable
        if after > before:
            kind, bump = "classification tightened", "minor"
        elif after < before:
            kind = "classification relaxed"
        out.append(Change(kind, f"{name}: {old.classification} → {new.classification}", bump,
                          name))
    if (old.description or "") != (new.description or ""):
        out.append(Change("description changed", name, "patch", name))
    return out


def diff_products(old: Product | None, new: Product | None) -> list[Change]:
    """Every change from ``old`` to ``new`` (None: the product does not exist)."""
    if old is None and new is None:
        return []
    if old is None:
        assert new is not None
        return [Change("product added", new.fqn, "minor")]
    if new is None:
        return [Change("product removed", old.fqn, "major")]
    changes: list[Change] = []
    old_cols = {c.name.lower(): c for c in old.columns}
    new_cols = {c.name.lower(): c for c in new.columns}
    removed = [c for k, c in old_cols.items() if k not in new_cols]
    added = [c for k, c in new_cols.items() if k not in old_cols]
    for col in removed:
        # A removed column whose position and type reappear under a new name: a rename.
        twin = next((a for a in added if _type(a.type) == _type(col.type) and
                     new.columns.index(a) == old.columns.index(col)), None)
        if twin is not None:
            added.remove(twin)
            changes.append(Change("column renamed", f"{col.name} → {twin.name}", "major",
                                  col.name))
        else:
            changes.append(Change("column removed", col.name, "major", col.name))
    for col in added:
        changes.append(Change("column added", f"{col.name} ({col.type})", "minor", col.name))
    for key, col in new_cols.items():
        if key in old_cols:
            changes.extend(_column_changes(old_cols[key], col))
    if old.server != new.server:
        changes.append(Change("location changed", f"{old.server.location} → "
                                                  f"{new.server.location}", "minor"))
    if (old.description or "") != (new.description or ""):
        changes.append(Change("description changed", new.fqn, "patch"))
    return changes


def required_bump(changes: list[Change]) -> Bump:
    """The smallest version bump that covers ``changes``."""
    return max((c.bump for c in changes), key=BUMPS.index, default="none")


def _semver(text: str) -> tuple[int, int, int] | None:
    m = re.match(r"^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?", text.strip())
    return (int(m.group(1)), int(m.group(2) or 0), int(m.group(3) or 0)) if m else None


def actual_bump(old: str, new: str) -> Bump | None:
    """The bump from version ``old`` to ``new``; None if either is not semver-like."""
    a, b = _semver(old), _semver(new)
    if a is None or b is None:
        return None
    if b[0] > a[0]:
        return "major"
    if b[:2] > a[:2]:
        return "minor"
    if b > a:
        return "patch"
    return "none"


def bump_ok(old: Product | None, new: Product | None, changes: list[Change]) -> bool:
    """True if the new version's bump covers what the changes need."""
    if new is None:
        return False  # a removed product has no version to bump: retire it first
    if old is None:
        return True
    need = required_bump(changes)
    have = actual_bump(old.version, new.version)
    if have is None:
        return need != "major"
    return BUMPS.index(have) >= BUMPS.index(need)


def contract_from_text(text: str, label: str, domain: str, name: str) -> Product:
    """A contract parsed from text (e.g. a file at a git revision)."""
    doc = parse_yaml(text, Path(label))
    errors = schema_errors(doc)
    if errors:
        raise errors[0]
    return product_from_document(doc, domain, name)


def load_pair(old: Path, new: Path | None = None, *,
              rev: str | None = None) -> tuple[Product | None, Product | None]:
    """The two versions of a contract to compare: the files ``old`` and ``new``, or ``old``
    as it was at git revision ``rev`` and as it is now.

    A side that does not exist (the contract added or removed since ``rev``) is None;
    with two files both must exist.  The domain is the name of the file's folder.
    """
    if (new is None) == (rev is None):
        raise ValueError("load_pair takes either new or rev")
    if rev is not None:
        domain, name = _domain_and_name(old)
        text = git_show(old, rev)
        before = contract_from_text(text, f"{rev}:{old}", domain, name) if text else None
        return before, load_contract(old, domain) if old.exists() else None
    assert new is not None
    for path in (old, new):
        if not path.exists():
            raise UsageError(f"{path} does not exist")
    return (load_contract(old, _domain_and_name(old)[0]),
            load_contract(new, _domain_and_name(new)[0]))


def _domain_and_name(path: Path) -> tuple[str, str]:
    # The folder names the domain, as in a mesh (domains/<domain>/<name>.odcs.yaml).
    stem = path.name[: -len(CONTRACT_SUFFIX)] if path.name.endswith(CONTRACT_SUFFIX) \
        else path.stem
    return path.resolve().parent.name, stem


def git_show(path: Path, rev: str) -> str | None:
    """The text of ``path`` at git revision ``rev``; None if it did not exist there."""
    path = path.resolve()
    folder = path.parent if path.parent.exists() else Path.cwd()
    top = _git(folder, "rev-parse", "--show-toplevel")
    if top is None:
        raise UsageError(f"{folder} is not inside a git repository")
    rel = path.relative_to(Path(top.strip()).resolve()).as_posix()
    if _git(folder, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}") is None:
        raise UsageError(f"unknown git revision {rev!r}")
    return _git(folder, "show", f"{rev}:{rel}")


def git_contracts(root: Path, rev: str) -> dict[str, str]:
    """Contract paths (relative to ``root``) → text, at git revision ``rev``."""
    top = _git(root, "rev-parse", "--show-toplevel")
    if top is None:
        raise UsageError(f"{root} is not inside a git repository")
    prefix = root.resolve().relative_to(Path(top.strip()).resolve()).as_posix()
    base = f"{prefix}/domains" if prefix != "." else "domains"
    listing = _git(root, "ls-tree", "-r", "--name-only", rev, "--", base)
    if listing is None:
        raise UsageError(f"unknown git revision {rev!r}")
    out = {}
    for line in listing.splitlines():
        if line.endswith(".odcs.yaml"):
            text = _git(root, "show", f"{rev}:{line}")
            if text is not None:
                rel = line[len(prefix) + 1:] if prefix != "." else line
                out[rel] = text
    return out


def _git(cwd: Path, *args: str) -> str | None:
    try:
        # Fixed argv, no shell: the revision and paths are arguments, never parsed by a shell.
        done = subprocess.run(["git", "-C", str(cwd), *args],  # noqa: S603, S607
                              capture_output=True, text=True, check=False, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        raise ConfigError("git is not available") from None
    return done.stdout if done.returncode == 0 else None

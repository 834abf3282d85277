"""Deciding a request: only the domain's owners; approving writes the grant.

The owners of a domain are the principals named by its ``domain.yaml`` ``owner`` (by
principal name, or a role of that name).  Approving re-works the grant at decision time
(governance may have changed since the request), writes it first under ``grants:`` of
the domain's file — inserted as text, so the file's comments and layout stay — checks
that the file still loads and gives the requester what the owner approved, and, when the
mesh is a git repository, commits the domain file and the request on a branch
``duckmesh/access-<id>`` for review (the working tree keeps the change: it applies now).
Every request and decision is written to the audit log.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from connectors.writers import atomic_file
from federation.access.proposal import proposal
from federation.access.requests import REQUESTS_DIR, AccessRequest, find, path_of, save
from federation.audit.log import record as audit_record
from federation.errors import AccessDenied, ConfigError, DuckmeshError, UsageError
from federation.governance.model import DOMAIN_FILE, DomainGovernance, Governance
from federation.mesh import Mesh


def owners(governance: Governance, domain: str) -> list[str]:
    """The principals who decide ``domain``'s requests (its ``owner``, as a name or role)."""
    return governance.owners(domain)


def owned_domains(governance: Governance, user: str) -> list[str]:
    """The domains whose requests ``user`` decides."""
    return [d for d in sorted(governance.domains) if user in owners(governance, d)]


def audit(mesh: Mesh, request: AccessRequest, outcome: str, user: str,
          session: dict[str, str] | None = None) -> None:
    """One audit record for a request or a decision, by ``user``."""
    roles = mesh.governance.principal(user).roles
    entry: dict[str, Any] = audit_record(
        None, sql="", user=user, roles=roles, started=dt.datetime.now(dt.UTC),
        outcome=outcome, purpose=request.purpose)
    entry.update(products=[request.product], columns={request.product: request.columns},
                 access_request={"id": request.id, "requested_by": request.requested_by,
                                 "status": request.status, "grant": request.grant})
    if session:
        entry["session"] = session
    mesh.audit.write(entry)


@contextlib.contextmanager
def _lock(root: Path) -> Iterator[None]:
    """One decision at a time per mesh (domain files are read, changed and written)."""
    folder = root / REQUESTS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / ".lock").open("a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def insert_grant(text: str, grant: dict[str, Any], comment: str) -> str:
    """``domain.yaml`` text with ``grant`` first under ``grants:``, the rest untouched;
    the whole file re-dumped only when ``grants:`` is not a plain top-level block list."""
    lines = text.splitlines(keepends=True)
    item = yaml.safe_dump([grant], sort_keys=False, allow_unicode=True, width=88)
    for i, line in enumerate(lines):
        if line.rstrip() != "grants:":
            continue
        following = next((x for x in lines[i + 1:] if x.strip() and
                          not x.lstrip().startswith("#")), "")
        indent = following[:len(following) - len(following.lstrip())]
        if following.strip() and not following.lstrip().startswith("- "):
            break
        block = [f"{indent}# {comment}\n"] + [indent + x for x in item.splitlines(True)]
        return "".join([*lines[:i + 1], *block, *lines[i + 1:]])
    data = yaml.safe_load(text) or {}
    data["grants"] = [grant, *(data.get("grants") or [])]
    return f"# {comment}\n" + yaml.safe_dump(data, sort_keys=False, allow_unicode=True,
                                             width=100)


def decide(mesh: Mesh, request_id: str, decider: str, approve: bool, note: str = "", *,
           session: dict[str, str] | None = None) -> AccessRequest:
    """Approve or deny a pending request as ``decider`` (an owner of its domain)."""
    note = note.strip()
    if len(note) > 2000:
        raise UsageError("the note is longer than 2000 characters")
    with _lock(mesh.root):
        request = find(mesh.root, request_id)
        deciders = owners(mesh.governance, request.domain)
        if decider not in deciders:
            raise AccessDenied(f"user {decider!r} does not own domain {request.domain}; its "
                               "owners decide its access requests", product=request.product,
                               hint=f"owners: {', '.join(deciders) or 'none'}")
        if request.status != "pending":
            raise UsageError(f"request {request.id} is already {request.status}")
        now = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
        changes: dict[str, Any] = {"decided_by": decider, "decided_at": now,
                                   "decision_note": note or None}
        if approve:
            product = mesh.catalog.get(request.product)
            principal = mesh.governance.principal(request.requested_by)
            plan = proposal(mesh, principal, product, request.columns, request.purpose)
            _write_grant(mesh, request, plan.grant, decider, now)
            changes.update(status="approved", grant=plan.grant, notes=plan.notes)
        else:
            changes["status"] = "denied"
        decided = request.model_copy(update=changes)
        save(mesh.root, decided)
        if approve:
            branch = commit_for_review(mesh.root, decided, decider)
            if branch is not None:
                decided = decided.model_copy(update={"branch": branch})
                save(mesh.root, decided)
    audit(mesh, decided, "access_approved" if approve else "access_denied", decider, session)
    return decided


def _write_grant(mesh: Mesh, request: AccessRequest, grant: dict[str, Any], decider: str,
                 when: str) -> None:
    path = mesh.root / "domains" / request.domain / DOMAIN_FILE
    try:
        before = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}", file=str(path)) from None
    comment = f"access request {request.id} of {request.requested_by}, approved by " \
              f"{decider} on {when[:10]}"
    after = insert_grant(before, grant, comment)
    with atomic_file(path) as handle:
        handle.write(after.encode("utf-8"))
    loaded = DomainGovernance.load(path.parent)
    if loaded.error is not None or not loaded.file.grants or \
            loaded.file.grants[0].model_dump(exclude_defaults=True) != \
            {k: v for k, v in grant.items() if v}:
        with atomic_file(path) as handle:
            handle.write(before.encode("utf-8"))
        raise ConfigError("the grant could not be written into the domain's file; it is "
                          "unchanged", file=str(path))


def _git(root: Path, *args: str, env: dict[str, str] | None = None,
         stdin: str | None = None) -> str | None:
    try:
        # Fixed argv, no shell; ids and paths are arguments.
        done = subprocess.run(["git", "-C", str(root), *args],  # noqa: S603, S607
                              capture_output=True, text=True, check=False, timeout=60,
                              input=stdin, env={**os.environ, **(env or {})})
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def commit_for_review(root: Path, request: AccessRequest, decider: str) -> str | None:
    """Commit the domain file and the request on a new branch from HEAD, leaving the
    checked-out branch, its index and working tree as they are; the branch name, or None
    when the mesh is not in a git repository with a commit."""
    top = _git(root, "rev-parse", "--show-toplevel")
    head = _git(root, "rev-parse", "--verify", "--quiet", "HEAD^{commit}")
    if not top or not head:
        return None
    branch = f"duckmesh/access-{request.id}"
    files = [root / "domains" / request.domain / DOMAIN_FILE, path_of(root, request)]
    identity = {"GIT_AUTHOR_NAME": decider, "GIT_AUTHOR_EMAIL": f"{decider}@duckmesh",
                "GIT_COMMITTER_NAME": "duckmesh", "GIT_COMMITTER_EMAIL": "duckmesh@localhost"}
    with tempfile.TemporaryDirectory(prefix="duckmesh-git-") as tmp:
        env = {"GIT_INDEX_FILE": str(Path(tmp) / "index"), **identity}
        if _git(root, "read-tree", head, env=env) is None:
            return None
        for path in files:
            blob = _git(root, "hash-object", "-w", "--", str(path))
            rel = path.resolve().relative_to(Path(top).resolve()).as_posix()
            if blob is None or _git(root, "update-index", "--add", "--cacheinfo",
                                    f"100644,{blob},{rel}", env=env) is None:
                return None
        tree = _git(root, "write-tree", env=env)
        message = (f"Grant {request.requested_by} {request.what} for {request.purpose}\n\n"
                   f"Access request {request.id}, approved by {decider}.\n"
                   f"Reason: {request.reason}\n")
        commit = _git(root, "commit-tree", tree or "", "-p", head, "-F", "-", env=env,
                      stdin=message) if tree else None
    if commit is None or _git(root, "update-ref", f"refs/heads/{branch}", commit) is None:
        raise DuckmeshError(f"the grant is written, but committing it on branch {branch} "
                            "failed", hint="commit domains/ and requests/ by hand")
    return branch

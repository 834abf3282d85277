"""``duckmesh validate``, ``diff`` and ``check``: contracts checked as files, against
their earlier versions, and against the data.

Exit 1 when a file is invalid, 4 when a contract change lacks its version bump or the
data breaks its contract or quality rules.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.text import Text

from connectors.writers import dumps
from federation.checks.validate import validate_mesh
from federation.cli import params as p
from federation.cli.render import fail, print_json, print_table, write_text
from federation.errors import DuckmeshError, UsageError

if TYPE_CHECKING:
    from products.conformance import Finding
    from products.contract import Product
    from products.diff import Change

# Rich colours of ``check``'s statuses in the table; anything else is dim.
STATUS_COLORS = {"passed": "green", "failed": "red", "error": "red", "warning": "yellow"}
STATUSES = ("passed", "failed", "error", "warning", "skipped")


@click.command()
@click.option("--against", metavar="REV",
              help="also refuse breaking contract changes since git revision REV whose "
                   "major version did not change")
@click.pass_context
def validate(ctx: click.Context, against: str | None) -> None:
    """Check every contract and governance file; errors name file, line and field."""
    root = p.mesh_root(ctx)
    errors, count = validate_mesh(root, against)
    for error in errors:
        click.echo(f"error: {error}", err=True)
    if errors:
        fail(f"{len(errors)} problem{'s' * (len(errors) != 1)} in mesh {root}", 1)
    click.echo(f"mesh {root}: {count} products, all contracts and policies valid")


@click.command("diff")
@click.argument("old", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("new", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--rev", metavar="REV",
              help="compare the contract OLD at git revision REV with its current version")
@p.fmt(("table", "json"))
@click.pass_context
def diff_cmd(ctx: click.Context, old: Path, new: Path | None, rev: str | None,
             fmt: str) -> None:
    """Classify the changes between two versions of a contract (exit 4 if a breaking
    change lacks a major version bump).

    Either two files (OLD NEW), or one file and --rev REV (the file at REV vs now).
    """
    from products.diff import actual_bump, bump_ok, diff_products, load_pair, required_bump

    if (new is None) == (rev is None):
        raise UsageError("give two contract files, or one file and --rev REV")
    before, after = load_pair(old, new, rev=rev)
    changes = diff_products(before, after)
    need = required_bump(changes)
    have = actual_bump(before.version, after.version) if before and after else None
    ok = bump_ok(before, after, changes)
    downstream = _downstream(ctx, before, after, changes)
    if fmt == "json":
        print_json({**diff_report(before, after, changes, need, have, ok),
                    "downstream": downstream})
    else:
        print_table(([c.kind, c.detail, Text("yes", style="red") if c.breaking else "no", c.bump]
                     for c in changes), ("change", "detail", "breaking", "needs"),
                    empty="no changes")
        versions = f"{before.version if before else '-'} → {after.version if after else '-'}"
        click.echo(f"version {versions}: needs a {need} bump"
                   + (f", has a {have} bump" if have else "")
                   + ("" if ok else " — NOT ENOUGH"))
        for hit in downstream:
            click.echo(f"downstream: {hit['consumer']} ({hit['kind']}) reads "
                       f"{', '.join(hit['columns'])}: {'; '.join(hit['changes'])}")
    if not ok:
        sys.exit(4)


def _downstream(ctx: click.Context, before: Product | None, after: Product | None,
                changes: list[Change]) -> list[dict[str, Any]]:
    """The mesh's derived products and reports this change reaches (none outside a mesh)."""
    from federation.publish.graph import impact
    from products.catalog import Catalog

    if before is None:
        return []
    try:
        root = p.mesh_root(ctx)
        return impact(root, Catalog.load(root), before, after, changes)
    except DuckmeshError:
        return []  # not in a mesh, or one that does not load: nothing to reach


def diff_report(before: Product | None, after: Product | None, changes: list[Change],
                need: str, have: str | None, ok: bool) -> dict[str, Any]:
    """``diff --format json``: both versions, the bump needed and made, every change."""
    return {
        "old_version": before.version if before else None,
        "new_version": after.version if after else None,
        "required_bump": need, "actual_bump": have, "ok": ok,
        "changes": [{"kind": c.kind, "detail": c.detail, "column": c.column,
                     "breaking": c.breaking, "bump": c.bump} for c in changes]}


@click.command("check")
@click.argument("names", nargs=-1, metavar="[DOMAIN.PRODUCT]...")
@p.fmt(("table", "json", "junit"), help="output format; junit is JUnit XML")
@p.output(help="write the report to FILE (atomically)")
@click.pass_context
def check_cmd(ctx: click.Context, names: tuple[str, ...], fmt: str, output: Path | None) -> None:
    """Check products against their contracts and quality rules (exit 4 on failure).

    Schema conformance and freshness come from the files; quality rules run governed, as
    the domain's owner. A rule that cannot be evaluated is an error, never a pass.
    """
    from federation.checks.data import check, failed, to_junit

    findings = check(p.mesh_of(ctx), names)
    if fmt == "table" and output is None:
        print_table(([f.product, f.check, _colored(f.status), f.message] for f in findings),
                    ("product", "check", "status", "detail"))
    else:
        # A table asked for with --output is written as JSON: a file is for programs.
        write_text(to_junit(findings) if fmt == "junit"
                   else dumps([f.as_dict() for f in findings]), output)
    click.echo(summary(findings), err=True)
    if failed(findings):
        sys.exit(4)


def _colored(status: str) -> Text:
    return Text(status, style=STATUS_COLORS.get(status, "dim"))


def summary(findings: list[Finding]) -> str:
    """``58 passed, 1 failed``: the count of each status that occurred, in a fixed order."""
    counts = {s: sum(f.status == s for f in findings) for s in STATUSES}
    return ", ".join(f"{n} {s}" for s, n in counts.items() if n)

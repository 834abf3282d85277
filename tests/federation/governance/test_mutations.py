"""Mutation suite: generated mistakes in the demo's governance files never mean less
protection.

Each mutation changes the demo mesh's governance files the way a careful steward could
get them wrong — truncation at every line of policies.yaml, deleted and duplicated keys,
values of the wrong type, labels with whitespace, case or look-alike letters, blank and
tautological row filters, locations reaching into another domain, reports writing
outside their destinations — then runs ``validate`` and a fixed set of queries as ana
(analyst, EU) and dana (data scientist).  No protected value may appear: a raw email,
phone, name, passport or card number (read straight from the files), or a customer row
outside ana's region.  Deleting a restriction outright (a grant's ``row_filter`` or
``deny_columns``) is a policy change a reviewer approves, not a mistake a loader can
tell from intent, so those keys are not deleted here.

The default suite runs a sample; ``make test-slow`` runs them all and prints how many
``validate`` refused.
"""

from __future__ import annotations

import contextlib
import json
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

from federation import Mesh
from federation.checks.validate import validate_mesh
from federation.errors import DuckmeshError
from federation.reports.runner import due
from federation.reports.schedule import parse_instant
from tests.conftest import leaked

QUERIES = (
    "SELECT * FROM customers.profiles",
    "SELECT customer_id, region, email, phone, full_name FROM customers.profiles",
    "SELECT passport_number FROM customers.profiles",
    "SELECT * FROM payments.transactions",
    "SELECT card_number FROM payments.transactions",
    "SELECT c.email, p.card_number FROM customers.profiles c "
    "JOIN payments.transactions p ON p.customer_id = c.customer_id",
)
USERS = ("ana", "dana")
FILES = ("duckmesh.yaml", "governance", "domains", "reports", ".duckmesh")
NOW = "2026-11-22T07:00:00+00:00"

Edit = Callable[[Path], None]


@dataclass(frozen=True)
class Mutation:
    name: str
    edit: Edit


def _yaml_edit(rel: str, change: Callable[[Any], None]) -> Edit:
    def edit(root: Path) -> None:
        path = root / rel
        data = yaml.safe_load(path.read_text())
        change(data)
        path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    return edit


def _text_edit(rel: str, change: Callable[[str], str]) -> Edit:
    def edit(root: Path) -> None:
        path = root / rel
        path.write_text(change(path.read_text()))
    return edit


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every key path of a YAML document (mapping keys and list indexes)."""
    items = node.items() if isinstance(node, dict) else enumerate(node) \
        if isinstance(node, list) else []
    for key, value in items:
        yield (*prefix, key)
        yield from _paths(value, (*prefix, key))


def _get(data: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        data = data[key]
    return data


KEEP = {"row_filter", "deny_columns"}  # deleting a restriction is a reviewed policy change


def _deletions(rel: str, data: Any) -> Iterator[Mutation]:
    for path in _paths(data):
        if path[-1] in KEEP or isinstance(path[-1], int):
            continue

        def change(d: Any, path: tuple[Any, ...] = path) -> None:
            del _get(d, path[:-1])[path[-1]]
        yield Mutation(f"{rel}: delete {'.'.join(map(str, path))}", _yaml_edit(rel, change))


def _wrong_types(rel: str, data: Any) -> Iterator[Mutation]:
    leaves = [p for p in _paths(data) if not isinstance(_get(data, p), dict | list)]
    for i, path in enumerate(leaves):
        value = _get(data, path)
        wrong = ([value], 7, {"x": value})[i % 3]  # a list, a number or a mapping, in turn

        def change(d: Any, path: tuple[Any, ...] = path, wrong: Any = wrong) -> None:
            _get(d, path[:-1])[path[-1]] = wrong
        yield Mutation(f"{rel}: {'.'.join(map(str, path))} = {wrong!r}",
                       _yaml_edit(rel, change))


def _duplicates(rel: str, text: str) -> Iterator[Mutation]:
    lines = text.splitlines(keepends=True)
    for i, line in enumerate(lines):
        key, sep, _ = line.strip().lstrip("- ").partition(":")
        if not sep or not key.isidentifier():
            continue
        indent = line[: len(line) - len(line.lstrip())] + ("  " if line.lstrip().startswith(
            "- ") else "")
        twin = f"{indent}{key}: duplicated\n"

        def change(t: str, i: int = i, twin: str = twin) -> str:
            out = t.splitlines(keepends=True)
            return "".join([*out[: i + 1], twin, *out[i + 1:]])
        yield Mutation(f"{rel}: duplicate {key} at line {i + 1}", _text_edit(rel, change))


LABELS = ("pii ", " pii", "PIIX", "Pii", "p\u0456\u0456", "pii\u200b", "pii_data", "",
          "public ", "pub1ic")


def _labels() -> Iterator[Mutation]:
    targets = {"customers/profiles": ("email", "phone", "full_name", "passport_number"),
               "payments/transactions": ("card_number",)}
    for rel, columns in targets.items():
        for column in columns:
            for label in LABELS:
                def change(d: Any, column: str = column, label: str = label) -> None:
                    for p in d["schema"][0]["properties"]:
                        if p["name"] == column:
                            p["classification"] = label
                yield Mutation(f"{rel}.{column} labelled {label!r}",
                               _yaml_edit(f"domains/{rel}.odcs.yaml", change))


FILTERS = ("''", "null", "'   '", "'1 = 1'", "'true'", "'region = :region OR true'",
           "'region = :region OR 1 = 1'", "'NOT false'", "'(1 = 1)'",
           "'regoin = :region'", "'region = :regoin'", "'(SELECT true)'",
           "'current_setting(''x'') IS NULL'", "'region IN (SELECT region FROM x)'")


def _filters() -> Iterator[Mutation]:
    for value in FILTERS:
        yield Mutation(f"ana's row filter {value}", _text_edit(
            "domains/customers/domain.yaml",
            lambda t, v=value: t.replace("row_filter: region = :region", f"row_filter: {v}")))


def _locations() -> Iterator[Mutation]:
    for path in ("data/customers/profiles", "data/bookings/../customers/profiles",
                 "./data/bookings/../../data/customers/profiles", "data/bookings/link",
                 "data/bookings/link/region=NA", "data/customers/profiles/region=NA",
                 "/ABS/data/customers/profiles", "data/payments/transactions"):
        def change(root: Path, path: str = path) -> None:
            source = yaml.safe_load(
                (root / "domains/customers/profiles.odcs.yaml").read_text())
            source.update(domain="bookings", id="shadow", dataProduct="shadow")
            source["schema"][0]["name"] = "shadow"
            for p in source["schema"][0]["properties"]:
                p["classification"] = "public"
            source["servers"][0]["path"] = path.replace("/ABS", str(root))
            link = root / "data/bookings/link"
            if not link.is_symlink():
                link.symlink_to((root / "data/customers/profiles").resolve())
            (root / "domains/bookings/shadow.odcs.yaml").write_text(yaml.safe_dump(source))
            grants = yaml.safe_load((root / "domains/bookings/domain.yaml").read_text())
            grants["grants"].insert(0, {"products": ["shadow"],
                                        "roles": ["analyst", "data_scientist"]})
            (root / "domains/bookings/domain.yaml").write_text(yaml.safe_dump(grants))
        yield Mutation(f"bookings.shadow at {path}", change)
    yield Mutation("bookings roots widened to data/", _yaml_edit(
        "duckmesh.yaml", lambda d: d["domains"]["bookings"]["roots"].append("data/")))


def _reports() -> Iterator[Mutation]:
    for destination in ("../outside/{name}.csv", "ABS/outside-{name}.csv",
                        "out/../../outside/{name}.csv", "out/{slot:..}/{name}.csv",
                        "data/customers/{name}.csv", "s3://elsewhere/{name}.csv"):
        def change(root: Path, destination: str = destination) -> None:
            (root / "reports/exfil.yaml").write_text(yaml.safe_dump({
                "sql": "SELECT email, passport_number FROM customers.profiles",
                "run_as": "adam", "schedule": "0 6 * * *", "format": "csv",
                "destination": destination.replace("ABS", str(root.parent))}))
        yield Mutation(f"report to {destination}", change)
    yield Mutation("report sql_file outside the mesh", lambda root: (
        root / "reports/exfil.yaml").write_text(yaml.safe_dump({
            "sql_file": "../secret.sql", "run_as": "adam", "schedule": "0 6 * * *",
            "format": "csv", "destination": "out/x.csv"})))
    yield Mutation("report for analysts with different views", lambda root: (
        root / "reports/exfil.yaml").write_text(yaml.safe_dump({
            "sql": "SELECT customer_id, region FROM customers.profiles",
            "audience": {"roles": ["analyst"]}, "schedule": "0 6 * * *", "format": "csv",
            "destination": "out/analysts.csv"})))


def mutations(base: Path) -> list[Mutation]:
    out: list[Mutation] = []
    policies = (base / "governance/policies.yaml").read_text()
    lines = policies.splitlines(keepends=True)
    out += [Mutation(f"policies.yaml cut at line {i}", _text_edit(
        "governance/policies.yaml", lambda t, i=i: "".join(t.splitlines(keepends=True)[:i])))
        for i in range(len(lines))]
    for rel in ("governance/policies.yaml", "governance/principals.yaml",
                "domains/customers/domain.yaml", "domains/payments/domain.yaml"):
        text = (base / rel).read_text()
        data = yaml.safe_load(text)
        out += [*_deletions(rel, data), *_duplicates(rel, text)]
        if rel != "governance/principals.yaml":
            out += list(_wrong_types(rel, data))
    out += [*_labels(), *_filters(), *_locations(), *_reports()]
    return out


@pytest.fixture(scope="module")
def base(demo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("mutations") / "base"
    root.mkdir()
    for name in FILES:
        source = demo_root / name
        if source.is_dir():
            shutil.copytree(source, root / name)
        elif source.exists():
            shutil.copy2(source, root / name)
    (root / "data").mkdir()
    for domain in (demo_root / "data").iterdir():
        # Shared read-only; bookings is a folder of its own (mutations put links in it).
        if domain.name == "bookings":
            shutil.copytree(domain, root / "data" / domain.name)
        else:
            (root / "data" / domain.name).symlink_to(domain)
    (root / "iceberg").symlink_to(demo_root / "iceberg")
    shutil.rmtree(root / "reports")  # only report mutations add reports (they are slow)
    (root / "reports").mkdir()
    return root


@pytest.fixture(scope="module")
def region_of(demo_root: Path) -> dict[int, str]:
    con = duckdb.connect()
    try:
        rows = con.execute("SELECT customer_id, region FROM read_parquet($p, "
                           "hive_partitioning = true)", {"p": str(
                               demo_root / "data/customers/profiles/**/*.parquet")}).fetchall()
        return {int(i): str(r) for i, r in rows}
    finally:
        con.close()


def _outputs(root: Path) -> list[tuple[str, str, list[dict[str, Any]]]]:
    """Every query's rows as ana and dana (a refusal gives none)."""
    try:
        mesh = Mesh.open(root)
    except DuckmeshError:
        return []
    out = []
    for user in USERS:
        for sql in QUERIES:
            try:
                rows = mesh.sql(sql, user=user).arrow().to_pylist()
            except DuckmeshError:
                continue
            out.append((user, sql, rows))
    if any((root / "reports").iterdir()):
        with contextlib.suppress(DuckmeshError):
            due(mesh, parse_instant(NOW))
    return out


def _run(mutation: Mutation, base: Path, work: Path, raw: frozenset[str],
         region_of: dict[int, str]) -> bool:
    """Apply, validate, query; assert nothing protected shows.  True if validate refused."""
    root = work / "mesh"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(base, root, symlinks=True)
    mutation.edit(root)
    errors, _ = validate_mesh(root)
    refused = bool(errors)
    for user, sql, rows in _outputs(root):
        text = json.dumps(rows, default=str)
        assert leaked(text, raw) == [], (mutation.name, user, sql)
        if user == "ana":
            hidden = [r for r in rows if "customer_id" in r and "region" in r
                      and region_of.get(r["customer_id"]) not in (None, "EU")]
            assert hidden == [], (mutation.name, sql)
    outside = [p for p in work.iterdir() if p.name != "mesh"]
    assert outside == [], (mutation.name, outside)
    written = list((root / "data").rglob("*.csv"))
    assert written == [], (mutation.name, written)
    return refused


def test_there_are_enough_mutations(base: Path) -> None:
    assert len(mutations(base)) >= 200


SAMPLE = 20
"""The default suite runs every 20th mutation (each kind is represented); a mutation costs
about a second (validate reads every contract, then twelve governed queries)."""


def test_sampled_mutations_never_serve_protected_values(
        base: Path, tmp_path: Path, raw_secrets: frozenset[str],
        region_of: dict[int, str]) -> None:
    every = mutations(base)
    chosen = every[::SAMPLE]
    kinds = {m.name.split(" ")[0].split(":")[0] for m in chosen}
    assert len(kinds) >= 5, kinds
    for mutation in chosen:
        _run(mutation, base, tmp_path / "work", raw_secrets, region_of)


@pytest.mark.slow
def test_every_mutation_never_serves_protected_values(
        base: Path, tmp_path: Path, raw_secrets: frozenset[str],
        region_of: dict[int, str], capsys: pytest.CaptureFixture[str]) -> None:
    every = mutations(base)
    refused = sum(_run(m, base, tmp_path / "work", raw_secrets, region_of) for m in every)
    with capsys.disabled():
        print(f"\nmutation suite: {len(every)} mutations, 0 fail-open, validate refused "
              f"{refused}")
    assert refused > len(every) // 2

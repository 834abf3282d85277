"""How fast ``duckmesh`` starts, against the floor of each thing it does.

Three figures, each a ratio to its baseline, measured in one run as fresh processes
(wall clock, median of ``--runs`` after one warm-up, runs alternating with their
baseline so that a loaded machine slows both alike):

1. ``duckmesh --help`` and ``duckmesh --version`` against ``python -c "import click"``
   (target: at most 0.15 s);
2. a small governed query end to end (``duckmesh query``, table output) against a raw
   ``python -c "import duckdb; …"`` printing the same query over the same files
   (target: at most 2x), and against the floor of the libraries the governed path is
   built on (``python -c "import duckdb, pyarrow, sqlglot, …"``): run by this user's
   warm worker (``duckmesh worker start``), and cold (``DUCKMESH_WORKER=off``, every
   import paid; the libraries alone take longer than 2x the raw query);
3. opening a generated 1000-product mesh (``Mesh.open``) and ``duckmesh products list``
   on it, with a warm contract cache and a cold one (``.duckmesh/cache`` removed before
   each run) (target: open at most 1 s).

Our own packages are byte-compiled first (``compileall``), as an installed package is:
this environment may set PYTHONDONTWRITEBYTECODE, which would compile them on every run.

Other work on the machine slows every figure alike; each is also shown scaled to an idle
machine by the ratio of this run's ``import click`` to its idle time (0.04 s).

Usage::

    python benchmarks/cli_latency.py [--runs 5] [--products 1000] [--work .bench/cli-latency]
                                     [--no-cold]

Results go to ``benchmarks/results/<date>-cli-latency.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
PY = sys.executable
_SCRIPT = Path(PY).with_name("duckmesh")
DUCKMESH = [str(_SCRIPT)] if _SCRIPT.exists() else [PY, "-m", "federation.cli"]

GOVERNED = ("SELECT region, count(*) AS customers, min(signup_date) AS first_signup "
            "FROM customers.profiles GROUP BY region ORDER BY region")
RAW = ("import duckdb; print(duckdb.sql(\"SELECT region, count(*) AS customers, "
       "min(signup_date) AS first_signup FROM read_parquet('{files}', hive_partitioning = "
       "true) GROUP BY region ORDER BY region\").fetchall())")
OPEN = ("import sys; from federation import Mesh; m = Mesh.open(sys.argv[1]); "
        "assert len(m.catalog) >= {n}, len(m.catalog)")
FLOOR = "import duckdb, pyarrow, sqlglot, pydantic, yaml, rich, click"
"""What the governed path cannot do without: the libraries it is built on."""
TARGETS = {"help": 0.15, "version": 0.15, "query_ratio": 2.0, "open_warm": 1.0}
IDLE_IMPORT_CLICK = 0.040
"""``python -c "import click"`` on this kind of machine when idle (docs/benchmarks.md):
figures are also given scaled by it, since other work on the machine slows everything."""


def run(argv: Sequence[str], before: Callable[[], object] | None = None) -> float:
    """Seconds one process takes, from start to exit (output discarded)."""
    if before is not None:
        before()
    start = time.perf_counter()
    proc = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          text=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(argv)}\n{proc.stderr}")
    return elapsed


def measure(variants: dict[str, tuple[Sequence[str], Callable[[], object] | None]],
            runs: int, warm_up: bool = True) -> dict[str, float]:
    """Median seconds per variant; runs alternate between variants after a warm-up."""
    times: dict[str, list[float]] = {name: [] for name in variants}
    for argv, before in variants.values() if warm_up else ():
        run(argv, before)
    for _ in range(runs):
        for name, (argv, before) in variants.items():
            times[name].append(run(argv, before))
    return {name: statistics.median(values) for name, values in times.items()}


def demo_mesh(work: Path) -> Path:
    root = work / "demo"
    if not (root / "duckmesh.yaml").exists():
        shutil.rmtree(root, ignore_errors=True)
        subprocess.run([*DUCKMESH, "demo", str(root)], check=True, stdout=subprocess.DEVNULL)
    return root


def big_mesh(work: Path, demo: Path, n: int) -> Path:
    """The demo's settings and governance plus ``n`` generated products (copies of
    customers.profiles in domains of 100), each at its own location; no data needed to
    open the mesh or list its products."""
    root = work / f"mesh-{n}"
    if (root / "duckmesh.yaml").exists() and \
            len(list((root / "domains").glob("*/*.odcs.yaml"))) >= n:
        return root
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    shutil.copy(demo / "duckmesh.yaml", root)
    shutil.copytree(demo / "governance", root / "governance")
    shutil.copytree(demo / "domains", root / "domains")
    template = (demo / "domains/customers/profiles.odcs.yaml").read_text()
    for i in range(n):
        domain, name = f"gen{i // 100:02d}", f"p{i % 100:03d}"
        folder = root / "domains" / domain
        if not folder.exists():
            folder.mkdir()
            (folder / "domain.yaml").write_text(
                "owner: generated-team\ndescription: generated for benchmarks\n"
                "grants:\n- products:\n  - '*'\n  roles:\n  - admin\n")
        text = (template.replace("customers.profiles", f"{domain}.{name}")
                .replace("demo:customers:profiles", f"demo:{domain}:{name}")
                .replace("domain: customers", f"domain: {domain}")
                .replace("dataProduct: profiles", f"dataProduct: {name}")
                .replace("- name: profiles", f"- name: {name}")
                .replace("data/customers/profiles", f"data/{domain}/{name}"))
        (folder / f"{name}.odcs.yaml").write_text(text)
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--products", type=int, default=1000)
    parser.add_argument("--work", type=Path, default=Path(".bench/cli-latency"))
    parser.add_argument("--label", default="cli-latency")
    parser.add_argument("--no-cold", action="store_true",
                        help="skip the cold-cache runs (each validates every contract)")
    args = parser.parse_args()
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    demo = demo_mesh(work)
    big = big_mesh(work, demo, args.products)
    files = (demo / "data/customers/profiles/**/*.parquet").as_posix()
    env_user = {**os.environ, "DUCKMESH_USER": "adam"}
    os.environ.update(env_user)
    # The worker of this benchmark only, in a private folder of its own.
    runtime = work / "rt"
    shutil.rmtree(runtime, ignore_errors=True)
    runtime.mkdir(mode=0o700)
    os.environ["DUCKMESH_RUNTIME_DIR"] = str(runtime)
    root = HERE.parent
    subprocess.run([PY, "-m", "compileall", "-q", *(str(root / p) for p in
                                                    ("federation", "connectors", "products"))],
                   check=True, stdout=subprocess.DEVNULL)
    cold = {"DUCKMESH_WORKER": "off"}

    def drop_cache() -> None:
        shutil.rmtree(big / ".duckmesh" / "cache", ignore_errors=True)

    n = args.products
    print(f"{' '.join(DUCKMESH)}; {args.runs} runs per figure", flush=True)
    start = measure({
        "import click": ([PY, "-c", "import click"], None),
        "help": ([*DUCKMESH, "--help"], None),
        "version": ([*DUCKMESH, "--version"], None),
    }, args.runs)
    governed = [*DUCKMESH, "--mesh", str(demo), "query", "--user", "adam", GOVERNED]
    subprocess.run([*DUCKMESH, "worker", "start", "--idle-minutes", "30"], check=True,
                   stdout=subprocess.DEVNULL)
    try:
        query = measure({
            "raw duckdb": ([PY, "-c", RAW.format(files=files)], None),
            "library floor": ([PY, "-c", FLOOR], None),
            "governed query (warm worker)": (
                governed, lambda: os.environ.pop("DUCKMESH_WORKER", None)),
            "governed query (cold)": (governed, lambda: os.environ.update(cold)),
        }, args.runs)
        served = subprocess.run([*DUCKMESH, "worker", "status"], check=True, text=True,
                                capture_output=True).stdout.strip()
    finally:
        os.environ.pop("DUCKMESH_WORKER", None)
        subprocess.run([*DUCKMESH, "worker", "stop"], check=False, stdout=subprocess.DEVNULL)
    print(served)
    run([PY, "-c", OPEN.format(n=n), str(big)])  # fills the contract cache
    opening = measure({
        "open warm": ([PY, "-c", OPEN.format(n=n), str(big)], None),
        "products list warm": ([*DUCKMESH, "--mesh", str(big), "products", "list"], None),
    }, args.runs)
    if not args.no_cold:
        opening |= measure({  # each run from an empty contract cache; slow, so fewer runs
            "open cold": ([PY, "-c", OPEN.format(n=n), str(big)], drop_cache),
            "products list cold": ([*DUCKMESH, "--mesh", str(big), "products", "list"],
                                   drop_cache),
        }, max(1, min(args.runs, 2)), warm_up=False)
    load = start["import click"] / IDLE_IMPORT_CLICK

    figures = {
        "seconds": {**start, **query, **opening},
        "ratios": {
            "help / import click": start["help"] / start["import click"],
            "version / import click": start["version"] / start["import click"],
            "governed query (warm worker) / raw duckdb":
                query["governed query (warm worker)"] / query["raw duckdb"],
            "governed query (cold) / raw duckdb":
                query["governed query (cold)"] / query["raw duckdb"],
            "governed query (cold) / library floor":
                query["governed query (cold)"] / query["library floor"],
            "library floor / raw duckdb": query["library floor"] / query["raw duckdb"],
            **({"open warm / open cold": opening["open warm"] / opening["open cold"]}
               if "open cold" in opening else {}),
        },
    }
    query_ratio = figures["ratios"]["governed query (warm worker) / raw duckdb"]
    verdict = {
        "help <= 0.15 s": (start["help"] <= TARGETS["help"],
                           start["help"] / load <= TARGETS["help"]),
        "version <= 0.15 s": (start["version"] <= TARGETS["version"],
                              start["version"] / load <= TARGETS["version"]),
        "query <= 2x raw (warm worker)": (query_ratio <= TARGETS["query_ratio"],) * 2,
        f"{n}-product open (warm) <= 1 s": (
            opening["open warm"] <= TARGETS["open_warm"],
            opening["open warm"] / load <= TARGETS["open_warm"]),
    }
    report = {"date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
              "runs": args.runs, "products": n, "cpus": os.cpu_count(),
              "load_average": os.getloadavg(), "slowdown vs idle": load, **figures,
              "targets met (measured, scaled to idle)": verdict}
    lines = [f"Slowdown against an idle machine (import click / {IDLE_IMPORT_CLICK} s): "
             f"{load:.1f}x", "", "| what | seconds | scaled to idle |", "|---|---:|---:|"]
    lines += [f"| {k} | {v:.3f} | {v / load:.3f} |" for k, v in figures["seconds"].items()]
    lines += ["", "| ratio | value |", "|---|---:|"]
    lines += [f"| {k} | {v:.2f} |" for k, v in figures["ratios"].items()]
    lines += ["", "| target | met (measured) | met (scaled to idle) |", "|---|---|---|"]
    lines += [f"| {k} | {'yes' if a else 'NO'} | {'yes' if b else 'NO'} |"
              for k, (a, b) in verdict.items()]
    lines += ["", f"load average at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())}"]
    text = "\n".join(lines)
    print(text)
    RESULTS.mkdir(exist_ok=True)
    stem = RESULTS / f"{dt.date.today().isoformat()}-{args.label}"
    stem.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    stem.with_suffix(".md").write_text(f"# CLI latency, {report['date']}\n\n{text}\n")
    print(f"wrote {stem}.json and .md")


if __name__ == "__main__":
    main()

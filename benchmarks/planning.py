"""Planning time and memory for hostile query shapes (issue 14, item 8).

Each shape is planned (``Mesh.sql`` unread: parse → governed SQL, files listed and
checked, nothing run)
in a fresh process, so the peak memory reported is that shape's alone; the time is the
median of ``--runs`` plannings after one warm-up.  Shapes past a limit report the one-line
refusal and how long reaching it took.  Usage::

    python -m benchmarks.planning [MESH] [--runs N] [--out benchmarks/results]

Without MESH a demo mesh (scale 0.01) is written to a temporary folder.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SHAPES: dict[str, str] = {
    "AND chain, 1,000 terms": "and:1000",
    "AND chain, 2,000 terms": "and:2000",
    "AND chain, 20,000 terms": "and:20000",
    "IN list, 10,000 values": "in:10000",
    "IN list, 100,000 values": "in:100000",
    "UNION ALL, 200 product reads": "union:200",
    "UNION ALL, 2,000 product reads": "union:2000",
    "nested parentheses, 150": "paren:150",
    "nested subqueries, 60": "sub:60",
    "nested parentheses, 900 (refused)": "paren:900",
    "nested subqueries, 1,000 (refused)": "sub:1000",
}


def make(shape: str, n: int) -> str:
    """The SQL of ``shape`` at size ``n``, over the demo's customers.profiles."""
    if shape == "and":
        return ("SELECT count(*) FROM customers.profiles WHERE "
                + " AND ".join(f"customer_id <> {i}" for i in range(n)))
    if shape == "in":
        return ("SELECT count(*) FROM customers.profiles WHERE customer_id IN ("
                + ", ".join(str(i) for i in range(n)) + ")")
    if shape == "union":
        return " UNION ALL ".join(["SELECT customer_id FROM customers.profiles"] * n)
    if shape == "paren":
        return "SELECT " + "(" * n + "customer_id" + ")" * n + " FROM customers.profiles"
    if shape == "sub":
        return ("SELECT customer_id FROM " + "(SELECT customer_id FROM " * n
                + "customers.profiles" + ") t" * n)
    raise ValueError(shape)


def one(mesh_path: str, spec: str, runs: int) -> dict[str, object]:
    """Plan one shape ``runs`` times in this process (called in a child process)."""
    import resource

    from federation import Mesh
    from federation.errors import DuckmeshError

    shape, size = spec.split(":")
    sql = make(shape, int(size))
    mesh = Mesh.open(mesh_path)
    times, cpu, outcome = [], [], "planned"
    for i in range(runs + 1):
        start, start_cpu = time.perf_counter(), time.process_time()
        try:
            mesh.sql(sql, "adam")  # planned, guarded, SQL generated; not run
        except DuckmeshError as exc:
            outcome = f"refused: {exc}"
        if i:
            times.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
    # CPU time as well as wall time: on a shared machine the wall clock measures the load.
    return {"sql_kb": round(len(sql) / 1024, 1), "median_s": round(statistics.median(times), 3),
            "max_s": round(max(times), 3), "median_cpu_s": round(statistics.median(cpu), 3),
            "outcome": outcome,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mesh", nargs="?", help="a demo mesh (default: a fresh one)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--only", help="run only the shapes whose name holds this text")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(one(args.child[0], args.child[1], args.runs)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        mesh = args.mesh
        if mesh is None:
            from products.demo import write_demo

            mesh = str(write_demo(Path(tmp) / "demo", scale=0.01))
        rows = {}
        for name, spec in SHAPES.items():
            if args.only and args.only not in name:
                continue
            proc = subprocess.run([sys.executable, "-m", "benchmarks.planning", "--runs",
                                   str(args.runs), "--child", mesh, spec],
                                  capture_output=True, text=True, check=True)
            rows[name] = json.loads(proc.stdout.strip().splitlines()[-1])
            print(f"{name:38} {rows[name]}", flush=True)
    stamp = dt.datetime.now(dt.UTC)
    lines = [f"# Planning hostile query shapes, {stamp:%Y-%m-%d %H:%M} UTC", "",
             f"machine: {platform.processor() or platform.machine()}, Python "
             f"{platform.python_version()}; {args.runs} runs after a warm-up, each shape in "
             f"its own process; load average {os.getloadavg()[0]:.1f} at the end", "",
             "| shape | SQL KB | median s | max s | median CPU s | peak RSS MB | outcome |",
             "|---|---:|---:|---:|---:|---:|---|"]
    for name, row in rows.items():
        lines.append(f"| {name} | {row['sql_kb']} | {row['median_s']} | {row['max_s']} | "
                     f"{row['median_cpu_s']} | {row['peak_rss_mb']} | {row['outcome']} |")
    args.out.mkdir(parents=True, exist_ok=True)
    # A partial run (--only) never overwrites the day's full one.
    target = args.out / f"{stamp:%Y-%m-%d}-planning{'-partial' if args.only else ''}"
    target.with_suffix(".md").write_text("\n".join(lines) + "\n")
    target.with_suffix(".json").write_text(json.dumps(rows, indent=2) + "\n")
    print(f"wrote {target}.md")


if __name__ == "__main__":
    main()

"""``python -m benchmarks.tpch``: build the TPC-H mesh if needed, run, write results.

Exit status 1 when an admin result differs from raw DuckDB's (a correctness bug).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmarks.tpch import report
from benchmarks.tpch.harness import run_benchmark
from benchmarks.tpch.mesh import build

RESULTS = Path(__file__).resolve().parents[1] / "results"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.tpch", description=__doc__)
    parser.add_argument("--sf", type=float, default=1.0, help="TPC-H scale factor (default 1)")
    parser.add_argument("--mesh", type=Path, default=None,
                        help="mesh folder (default .bench/tpch-sf<N>; built when absent)")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per variant")
    parser.add_argument("--plan-iterations", type=int, default=200)
    parser.add_argument("--queries", default="", help="comma-separated numbers, e.g. 1,6,18")
    parser.add_argument("--parts", type=int, default=0,
                        help="files per table (default: 1 per scale factor unit)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results folder")
    parser.add_argument("--engine", choices=("duckdb", "spark"), default="duckdb",
                        help="spark: governed vs raw Spark, and DuckDB in the same run")
    args = parser.parse_args(argv)
    mesh = args.mesh or Path(".bench") / f"tpch-sf{args.sf:g}"
    if not (mesh / "duckmesh.yaml").exists():
        parts = args.parts or max(1, int(args.sf))
        print(f"generating TPC-H SF{args.sf:g} into {mesh} ({parts} file(s) per table)")
        build(mesh, args.sf, parts)
    selected = [int(q) for q in args.queries.split(",") if q.strip()]
    if args.engine == "spark":
        from benchmarks.tpch import spark

        outcome = spark.run(mesh, args.sf, runs=min(args.runs, 3), selected=selected)
        json_out, md_out = spark.write(outcome, args.out)
        print(md_out.read_text())
        print(f"written: {json_out} and {md_out}")
        return 1 if outcome["summary"]["different"] else 0
    result = run_benchmark(mesh, args.sf, runs=args.runs,
                           plan_iterations=args.plan_iterations, selected=selected)
    json_path, md_path = report.write(result, args.out)
    print()
    print(md_path.read_text())
    print(f"written: {json_path} and {md_path}")
    return 1 if result.summary["incorrect"] else 0


if __name__ == "__main__":
    sys.exit(main())

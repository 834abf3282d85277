"""Governed vs raw: the demo's revenue query through duckmesh and straight on the files.

Runs alternate (raw, admin, analyst, raw, …) after a warm-up, on the same Parquet files
in the same process; medians and ratios are printed.  Usage::

    python benchmarks/demo_overhead.py [MESH] [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import duckdb

from federation import Mesh

GOVERNED = (
    "SELECT c.country, p.card_brand, count(*) AS bookings, sum(p.amount) AS revenue, "
    "min(c.email) AS sample_email FROM bookings.reservations b "
    "JOIN customers.profiles c ON c.customer_id = b.customer_id "
    "JOIN payments.transactions p ON p.booking_id = b.booking_id "
    "GROUP BY ALL ORDER BY revenue DESC LIMIT 10"
)
RAW = (
    "SELECT c.country, p.card_brand, count(*) AS bookings, sum(p.amount) AS revenue, "
    "min(c.email) AS sample_email FROM read_parquet($b, hive_partitioning = true) b "
    "JOIN read_parquet($c, hive_partitioning = true) c ON c.customer_id = b.customer_id "
    "JOIN read_parquet($p) p ON p.booking_id = b.booking_id "
    "GROUP BY ALL ORDER BY revenue DESC LIMIT 10"
)


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("mesh", nargs="?", default="demo-mesh")
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    mesh = Mesh.open(args.mesh)
    root = Path(mesh.root)
    params = {
        "b": str(root / "data/bookings/reservations/**/*.parquet"),
        "c": str(root / "data/customers/profiles/**/*.parquet"),
        "p": str(root / "data/payments/transactions/*.parquet"),
    }

    def raw() -> object:
        con = duckdb.connect()  # a fresh connection per query, as duckmesh does
        try:
            return con.sql(RAW, params=params).to_arrow_table()
        finally:
            con.close()

    runners = {
        "raw": raw,
        "admin": lambda: mesh.sql(GOVERNED, user="adam").arrow(),
        "analyst": lambda: mesh.sql(GOVERNED, user="ana").arrow(),
    }
    for fn in runners.values():
        fn()  # warm-up: file cache, imports
    times: dict[str, list[float]] = {k: [] for k in runners}
    for _ in range(args.runs):
        for name, fn in runners.items():
            times[name].append(timed(fn))
    plan = [timed(lambda: mesh.govern(GOVERNED, "ana")) * 1000 for _ in range(200)]
    base = statistics.median(times["raw"])
    print(f"runs per variant: {args.runs}, mesh: {root}")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:8} median {median * 1000:8.1f} ms   ratio to raw {median / base:5.2f}x")
    plan.sort()
    print(f"planning (parse → governed SQL): p50 {plan[len(plan) // 2]:.2f} ms, "
          f"p99 {plan[int(len(plan) * 0.99)]:.2f} ms")


if __name__ == "__main__":
    main()

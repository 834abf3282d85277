"""`duckmesh serve` under load: small-query throughput and p50/p95 latency with 8 ADBC
clients, and the transfer rate of a 5M-row result to an ADBC client against the same
query read embedded, in one run (target: >= 80% of embedded).

    python benchmarks/server.py [--scale 1.25] [--clients 8] [--queries 40] [--dir DIR]

The server runs as its own process (`duckmesh serve`), as in production; the clients
are the official Flight SQL driver (adbc-driver-flightsql).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

import adbc_driver_flightsql.dbapi as flightsql

from federation import Mesh
from federation.server.tokens import TokenStore
from products.demo import write_demo

SMALL = ("SELECT c.country, count(*) AS bookings FROM bookings.reservations b "
         "JOIN customers.profiles c ON c.customer_id = b.customer_id "
         "WHERE c.country = 'DE' GROUP BY ALL")
# bookings x the four regions: 4 rows per booking (5M rows at scale 1.25).
LARGE = ("SELECT b.booking_id, b.fare_amount, b.status, r.region FROM bookings.reservations b "
         "CROSS JOIN (SELECT DISTINCT region FROM customers.profiles) r")


def connect(url: str, token: str) -> object:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return flightsql.connect(url, autocommit=True, db_kwargs={
            "adbc.flight.sql.authorization_header": f"Bearer {token}"})


def serve(root: Path) -> tuple[subprocess.Popen[bytes], str]:
    log = tempfile.TemporaryFile()  # noqa: SIM115 - open as long as the server runs
    process = subprocess.Popen([sys.executable, "-m", "federation.cli", "--mesh", str(root),
                                "serve", "--port", "0", "--http-port", "0",
                                "--max-concurrent", "8"], stderr=log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        log.seek(0)
        for line in log.read().decode().splitlines():
            if '"server.start"' in line:
                return process, json.loads(line)["flight"]
        time.sleep(0.1)
    process.kill()
    raise SystemExit("the server did not start")


def throughput(url: str, tokens: list[str], clients: int, queries: int) -> dict[str, float]:
    latencies: list[float] = []
    lock = threading.Lock()

    def client(index: int) -> None:
        conn = connect(url, tokens[index % len(tokens)])
        cur = conn.cursor()  # type: ignore[attr-defined]
        for _ in range(queries):
            start = time.perf_counter()
            cur.execute(SMALL)
            cur.fetchall()
            with lock:
                latencies.append(time.perf_counter() - start)
        cur.close()
        conn.close()  # type: ignore[attr-defined]

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    latencies.sort()
    return {"queries": len(latencies), "seconds": round(wall, 2),
            "queries_per_second": round(len(latencies) / wall, 1),
            "p50_ms": round(statistics.median(latencies) * 1000, 1),
            "p95_ms": round(latencies[int(len(latencies) * 0.95) - 1] * 1000, 1)}


def transfer(root: Path, url: str, token: str) -> dict[str, float]:
    mesh = Mesh.open(root)
    start = time.perf_counter()
    rows = nbytes = 0
    for batch in mesh.sql(LARGE, user="adam").batches():
        rows += batch.num_rows
        nbytes += batch.nbytes
    embedded = time.perf_counter() - start
    conn = connect(url, token)
    cur = conn.cursor()  # type: ignore[attr-defined]
    start = time.perf_counter()
    cur.execute(LARGE)
    remote_rows = sum(b.num_rows for b in cur.fetch_record_batch())
    remote = time.perf_counter() - start
    cur.close()
    conn.close()  # type: ignore[attr-defined]
    assert remote_rows == rows, (remote_rows, rows)
    return {"rows": rows, "mb": round(nbytes / 1e6, 1),
            "embedded_seconds": round(embedded, 2), "adbc_seconds": round(remote, 2),
            "embedded_mb_per_s": round(nbytes / 1e6 / embedded, 1),
            "adbc_mb_per_s": round(nbytes / 1e6 / remote, 1),
            "adbc_vs_embedded": round(embedded / remote, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.25)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--queries", type=int, default=40, help="per client")
    parser.add_argument("--dir", type=Path, default=None, help="keep the mesh here")
    args = parser.parse_args()
    base = args.dir or Path(tempfile.mkdtemp(prefix="duckmesh-bench-"))
    root = base / f"demo-{args.scale:g}"
    if not (root / "duckmesh.yaml").exists():
        print(f"writing the demo mesh at scale {args.scale} …", file=sys.stderr)
        write_demo(root, scale=args.scale)
    store = TokenStore.for_mesh(root, ".duckmesh/tokens.json")
    tokens = [store.issue(user, name="benchmark")[1] for user in ("ana", "nick", "adam")]
    process, url = serve(root)
    try:
        throughput(url, tokens, 2, 3)  # warm up
        small = throughput(url, tokens, args.clients, args.queries)
        large = transfer(root, url, tokens[2])
    finally:
        process.terminate()
        process.wait(60)
    print(json.dumps({"scale": args.scale, "clients": args.clients, "small": small,
                      "large": large}, indent=2))


if __name__ == "__main__":
    main()

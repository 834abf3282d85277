"""`duckmesh serve` under load: small-query throughput and p50/p95 latency with 8 ADBC
clients, and the transfer rate of a 5M-row result to an ADBC client against the same
query read embedded, in one run (target: >= 80% of embedded).

    python benchmarks/server.py [--scale 1.25] [--clients 8] [--queries 40] [--rounds 7]
                                [--dir DIR]

The server runs as its own process (`duckmesh serve`), as in production; the clients
are the official Flight SQL driver (adbc-driver-flightsql).
"""

from __future__ import annotations

import argparse
import json
import os
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
        try:
            for _ in range(queries):
                start = time.perf_counter()
                cur.execute(SMALL)
                cur.fetchall()
                with lock:
                    latencies.append(time.perf_counter() - start)
        finally:
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


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def transfer(root: Path, url: str, token: str, server_pid: int,
             rounds: int) -> dict[str, float]:
    """The large result read embedded and over ADBC, alternating, ``rounds`` times: on a
    shared machine one pair of runs says little (load moves either by 2x), the median of
    the pairs' ratios says more; CPU seconds (server and client process) are measured
    too, as they depend far less on the machine's load than wall time."""
    mesh = Mesh.open(root)
    conn = connect(url, token)
    pairs: list[tuple[float, float, float, float, float]] = []
    rows = nbytes = 0
    try:
        for _ in range(rounds):
            cpu, start = time.process_time(), time.perf_counter()
            rows = nbytes = 0
            for batch in mesh.sql(LARGE, user="adam").batches():
                rows += batch.num_rows
                nbytes += batch.nbytes
            embedded, embedded_cpu = time.perf_counter() - start, time.process_time() - cpu
            server, cpu, start = _cpu_seconds(server_pid), time.process_time(), \
                time.perf_counter()
            cur = conn.cursor()  # type: ignore[attr-defined]
            try:
                cur.execute(LARGE)
                remote_rows = sum(b.num_rows for b in cur.fetch_record_batch())
            finally:
                cur.close()
            pairs.append((embedded, embedded_cpu, time.perf_counter() - start,
                          time.process_time() - cpu, _cpu_seconds(server_pid) - server))
            assert remote_rows == rows, (remote_rows, rows)
    finally:
        conn.close()  # type: ignore[attr-defined]

    def median(index: int) -> float:
        return statistics.median(p[index] for p in pairs)

    return {"rows": rows, "mb": round(nbytes / 1e6, 1), "rounds": rounds,
            "embedded_seconds": round(median(0), 3), "adbc_seconds": round(median(2), 3),
            "embedded_mb_per_s": round(nbytes / 1e6 / median(0), 1),
            "adbc_mb_per_s": round(nbytes / 1e6 / median(2), 1),
            "adbc_vs_embedded": round(statistics.median(p[0] / p[2] for p in pairs), 2),
            "adbc_vs_embedded_best": round(min(p[0] for p in pairs) /
                                           min(p[2] for p in pairs), 2),
            "embedded_cpu_seconds": round(median(1), 3),
            "adbc_client_cpu_seconds": round(median(3), 3),
            "server_cpu_seconds": round(median(4), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.25)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--queries", type=int, default=40, help="per client")
    parser.add_argument("--rounds", type=int, default=7,
                        help="embedded/ADBC pairs of the large transfer")
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
        large = transfer(root, url, tokens[2], process.pid, args.rounds)
    finally:
        process.terminate()
        process.wait(60)
    print(json.dumps({"scale": args.scale, "clients": args.clients, "small": small,
                      "large": large}, indent=2))


if __name__ == "__main__":
    main()

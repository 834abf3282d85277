"""Bytes, not just time: what a governed query fetches from S3 vs what it needs.

Writes the demo mesh to a local S3 endpoint (moto on 127.0.0.1) behind a counting proxy,
then for each query reports:

- needed: compressed bytes of the column chunks the query reads, plus each file's footer
  (from Parquet metadata; the queries have no filters, so nothing can be skipped);
- fetched: response bytes the proxy served for the governed query from a cold process
  state: planning (file listing, footers for contract enforcement) plus DuckDB's reads,
  and how many requests that took (HEADs included);
- the same query again in the same process (footers and the ranges read are reused:
  connectors.tailcache);
- raw DuckDB over s3fs with ``default_cache_type='none'`` (the best plain setting: what
  DuckDB itself reads, e.g. the last 16 KB of every file for its footer, which duckmesh
  avoids: connectors.tailcache), and over s3fs with its default read-ahead cache, the
  setting duckmesh turns off.

Usage: ``python benchmarks/s3_bytes.py [--scale 0.2]``; ``S3_BYTES_TRACE=1`` prints the
requests duckmesh made for each query (cold).  Target:
fetched/needed ≤ 1.1.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import duckdb
import fsspec
import pyarrow.parquet as pq
import requests
from moto.server import ThreadedMotoServer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from connectors import filesystems
from connectors.footers import clear_caches
from federation import Mesh
from products.demo import write_demo
from tests.s3 import FaultProxy

QUERIES = {
    "fares by channel": ("bookings.reservations", ["channel", "fare_amount"],
                         "SELECT channel, sum(fare_amount) AS fares, count(*) AS n "
                         "FROM bookings.reservations GROUP BY ALL"),
    "amount by brand": ("payments.transactions", ["card_brand", "amount"],
                        "SELECT card_brand, sum(amount) AS amount FROM payments.transactions "
                        "GROUP BY ALL"),
    "passengers by status": ("bookings.reservations", ["status", "passengers"],
                             "SELECT status, avg(passengers) AS p FROM bookings.reservations "
                             "GROUP BY ALL"),
}


def needed_bytes(fs: object, files: list[str], columns: list[str]) -> int:
    total = 0
    for path in files:
        with fs.open(path.removeprefix("s3://"), "rb") as handle:  # type: ignore[attr-defined]
            meta = pq.read_metadata(handle)
        total += meta.serialized_size + 8
        names = [meta.schema.column(i).name for i in range(meta.num_columns)]
        for rg in range(meta.num_row_groups):
            group = meta.row_group(rg)
            for i, name in enumerate(names):
                if name in columns:
                    total += group.column(i).total_compressed_size
    return total


@dataclass(frozen=True)
class Row:
    """One query's figures (bytes are response bytes the proxy served)."""

    name: str
    needed: int
    duckmesh: int
    requests: int
    again: int
    raw_tuned: int
    raw_requests: int
    raw_default: int
    trace: tuple[str, ...]

    @property
    def ratio(self) -> float:
        """duckmesh's bytes fetched over bytes needed: the target is ≤ 1.1."""
        return self.duckmesh / self.needed


def measure(scale: float) -> list[Row]:
    """Write the demo at ``scale`` to a fresh moto S3 endpoint and measure every query."""
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
                      AWS_DEFAULT_REGION="us-east-1")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    requests.post(f"http://{host}:{port}/moto-api/reset", timeout=10)
    proxy = FaultProxy(host, port)
    rows = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            root = write_demo(Path(tmp) / "mesh", scale, "s3://bench/mesh", proxy.url)
            mesh = Mesh.open(root)
            fs = filesystems.filesystem("s3", mesh.settings.storage)
            default_fs = fsspec.filesystem(
                "s3", skip_instance_cache=True, endpoint_url=proxy.url,
                config_kwargs={"s3": {"addressing_style": "path"}})
            none_fs = fsspec.filesystem(
                "s3", skip_instance_cache=True, endpoint_url=proxy.url,
                default_cache_type="none",
                config_kwargs={"s3": {"addressing_style": "path"}})
            for name, (product, columns, sql) in QUERIES.items():
                clear_caches()  # a cold process: no footer read yet
                proxy.faults.requests.clear()
                proxy.faults.served_bytes = 0
                result = mesh.sql(sql, user="adam")  # plans: lists files, reads footers
                result.arrow()
                ours = proxy.faults.served_bytes
                our_trace = tuple(proxy.faults.requests)
                proxy.faults.served_bytes = 0
                mesh.sql(sql, user="adam").arrow()
                again = proxy.faults.served_bytes
                files = [f["path"] for f in result.stamp["products"][product]["files"]]
                need = needed_bytes(fs, files, columns)
                raw_sql = sql.replace(product, "read_parquet($files)")
                raws, raw_requests = [], 0
                for raw_fs in (none_fs, default_fs):
                    con = duckdb.connect()
                    if raw_fs is none_fs:  # tuned as duckmesh tunes it; else DuckDB's defaults
                        con.execute("SET enable_external_file_cache = false")
                    con.register_filesystem(raw_fs)
                    proxy.faults.served_bytes = 0
                    proxy.faults.requests.clear()
                    con.sql(raw_sql, params={"files": files}).fetchall()
                    raws.append(proxy.faults.served_bytes)
                    raw_requests = raw_requests or len(proxy.faults.requests)
                    con.close()
                rows.append(Row(name, need, ours, len(our_trace), again, raws[0],
                                raw_requests, raws[1], our_trace))
    finally:
        proxy.stop()
        server.stop()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=0.2)
    args = parser.parse_args()
    print(f"demo scale {args.scale} on S3 (moto via counting proxy)\n")
    print(f"{'query':22} {'needed':>10} {'duckmesh':>10} {'ratio':>6} {'reqs':>5} "
          f"{'again':>8} {'raw none':>10} {'ratio':>6} {'reqs':>5} "
          f"{'raw default':>12} {'ratio':>6}")
    for row in measure(args.scale):
        if os.environ.get("S3_BYTES_TRACE"):
            print("\n".join(row.trace))
        need = row.needed
        print(f"{row.name:22} {need:>10,} {row.duckmesh:>10,} {row.ratio:>6.2f} "
              f"{row.requests:>5} {row.again:>8,} {row.raw_tuned:>10,} "
              f"{row.raw_tuned / need:>6.2f} {row.raw_requests:>5} {row.raw_default:>12,} "
              f"{row.raw_default / need:>6.2f}")


if __name__ == "__main__":
    main()

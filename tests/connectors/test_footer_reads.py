"""Footer reads on remote storage: exact, shared by planning and DuckDB, never wrong.

DuckDB's first read of a Parquet file is its last 16 KB; duckmesh answers the part of
that probe before the footer with zeros instead of fetching it (connectors.tailcache).
That is only correct while DuckDB reads the column chunks the probe spans again when
it needs them: ``test_duckdb_rereads_what_its_footer_probe_spans`` checks exactly that,
on the DuckDB installed, so an upgrade that changes it fails here rather than silently.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import duckdb
import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fsspec.implementations.memory import MemoryFileSystem

from connectors.footers import clear_caches
from connectors.tailcache import DUCKDB_FOOTER_PROBE, read_footer
from connectors.tailfs import TailCachingFileSystem
from federation import Mesh
from tests.s3 import FaultProxy

PATH = "/lake/events/data.parquet"


class CountingMemoryFileSystem(MemoryFileSystem):  # type: ignore[misc]
    """fsspec's in-memory filesystem, remembering each ranged read it answered."""

    protocol = "memory"
    cachable = False  # a fresh instance (and count) per test

    def __init__(self) -> None:
        super().__init__()
        self.reads: list[tuple[int, int]] = []

    def cat_file(self, path: str, start: int | None = None, end: int | None = None,
                 **kwargs: Any) -> bytes:
        self.reads.append((start or 0, end if end is not None else -1))
        return bytes(super().cat_file(path, start=start, end=end, **kwargs))


def events(rows: int = 30_000) -> pa.Table:
    return pa.table({"id": pa.array(range(rows), pa.int64()),
                     "kind": [f"kind-{i % 97}" for i in range(rows)],
                     "value": pa.array([i * 0.5 for i in range(rows)], pa.float64())})


@pytest.fixture
def published() -> tuple[CountingMemoryFileSystem, bytes]:
    """A file whose last row group's column chunks lie inside DuckDB's footer probe."""
    clear_caches()  # the footer cache is process-wide; these tests reuse one path
    fs = CountingMemoryFileSystem()
    fs.store.clear()
    buffer = io.BytesIO()
    pq.write_table(events(), buffer, row_group_size=7_000)
    data = buffer.getvalue()
    meta = pq.read_metadata(io.BytesIO(data))
    last = meta.row_group(meta.num_row_groups - 1)
    probe_start = len(data) - DUCKDB_FOOTER_PROBE
    # The premise of the guard: chunks DuckDB must decode sit inside the probe.
    assert any(last.column(i).data_page_offset >= probe_start for i in range(last.num_columns))
    fs.pipe_file(PATH, data)
    return fs, data


def version(data: bytes) -> tuple[int, int, str]:
    return (len(data), 1, "v1")


@pytest.mark.parametrize("file_cache", [False, True])
def test_duckdb_rereads_what_its_footer_probe_spans(
        published: tuple[CountingMemoryFileSystem, bytes], file_cache: bool) -> None:
    fs, data = published
    read_footer(fs, PATH, version(data))  # what planning does first
    con = duckdb.connect()
    con.execute(f"SET enable_external_file_cache = {str(file_cache).lower()}")
    con.register_filesystem(TailCachingFileSystem(fs, {PATH: version(data)}))
    expected = events()
    source = f"read_parquet('memory://{PATH}')"
    rows = con.sql(f"SELECT id, kind, value FROM {source} WHERE id >= 28000 ORDER BY id")
    assert rows.to_arrow_table() == expected.slice(28_000).select(["id", "kind", "value"])
    totals = con.sql(f"SELECT sum(id), count(DISTINCT kind), sum(value) FROM {source}")
    assert totals.fetchall() == [(sum(range(30_000)), 97, sum(i * 0.5 for i in range(30_000)))]
    con.close()


def test_footer_is_read_exactly(published: tuple[CountingMemoryFileSystem, bytes]) -> None:
    fs, data = published
    footer = int.from_bytes(data[-8:-4], "little") + 8
    size = len(data)
    tail = read_footer(fs, PATH, version(data))
    assert tail == data[-footer:]
    assert fs.reads == [(size - 8, size), (size - footer, size - 8)]  # trailer, then the rest
    fs.reads.clear()
    assert read_footer(fs, PATH, version(data)) == tail and fs.reads == []  # cached
    clear_caches()
    assert read_footer(fs, PATH, version(data), guess=footer + 100) == data[-footer - 100:]
    assert fs.reads == [(size - footer - 100, size)]  # a good guess: one request
    clear_caches()
    fs.reads.clear()
    assert read_footer(fs, PATH, version(data), guess=footer // 2) == data[-footer:]
    assert fs.reads == [(size - footer // 2, size), (size - footer, size - footer // 2)]


@pytest.mark.parametrize("length", [DUCKDB_FOOTER_PROBE, 2 * DUCKDB_FOOTER_PROBE, None])
def test_only_duckdbs_probe_is_answered_without_fetching(
        published: tuple[CountingMemoryFileSystem, bytes], length: int | None) -> None:
    """The probe is the first read of a fresh handle ending at the end of the file, of
    whatever length (DuckDB reads more of large files; all of a small one: None)."""
    fs, data = published
    size = len(data)
    footer = int.from_bytes(data[-8:-4], "little") + 8
    length = length or size
    read_footer(fs, PATH, version(data))
    view = TailCachingFileSystem(fs, {PATH: version(data)})
    fs.reads.clear()
    with view.open(f"memory://{PATH}", "rb") as handle:
        handle.seek(size - length)
        probe = handle.read(length)
        assert probe[-footer:] == data[-footer:]
        assert probe[:-footer] == bytes(length - footer)  # never fetched
        assert fs.reads == []
        # The same range again on that handle is no probe: the store's bytes.
        handle.seek(size - length)
        assert handle.read(length) == data[-length:]
        assert fs.reads == [(size - length, size - footer)]  # only the part before
    for start, n in [(size - footer - 10, 20), (0, 100), (size - 100, 100)]:
        with view.open(f"memory://{PATH}", "rb") as handle:  # first reads of other shapes
            handle.seek(start)
            assert handle.read(n) == data[start:start + n]


def test_a_file_smaller_than_the_probe(tmp_path: Path) -> None:
    clear_caches()  # the footer cache is process-wide; these tests reuse one path
    fs = CountingMemoryFileSystem()
    fs.store.clear()
    buffer = io.BytesIO()
    pq.write_table(events(500), buffer, row_group_size=100)
    data = buffer.getvalue()
    assert len(data) < DUCKDB_FOOTER_PROBE
    fs.pipe_file(PATH, data)
    read_footer(fs, PATH, version(data))
    con = duckdb.connect()
    con.execute("SET enable_external_file_cache = false")
    con.register_filesystem(TailCachingFileSystem(fs, {PATH: version(data)}))
    got = con.sql(f"SELECT * FROM read_parquet('memory://{PATH}') ORDER BY id")
    assert got.to_arrow_table() == events(500)
    con.close()


def test_not_parquet_is_not_cached() -> None:
    fs = fsspec.filesystem("memory", skip_instance_cache=True)
    fs.pipe_file("/lake/bad.parquet", b"PAR1 this is not parquet")
    first = read_footer(fs, "/lake/bad.parquet", (24, 1, ""))
    with pytest.raises(pa.ArrowInvalid):
        pq.read_metadata(io.BytesIO(first))
    fs.pipe_file("/lake/bad.parquet", b"x" * 24)
    assert read_footer(fs, "/lake/bad.parquet", (24, 1, "")) == b"x" * 8


def test_a_small_scan_on_s3_fetches_what_it_needs(tmp_path: Path, s3: FaultProxy) -> None:
    """Issue #4's target, ≤ 1.1× the bytes needed, held on a real S3 endpoint (moto)."""
    from tests.connectors.test_s3 import COLUMNS, governance
    from tests.helpers import contract, write_yaml

    fs = fsspec.filesystem("s3", skip_instance_cache=True, endpoint_url=s3.url,
                           config_kwargs={"s3": {"addressing_style": "path"}})
    fs.mkdir("lake")
    for i in range(4):
        table = pa.table({"id": pa.array(range(i * 50_000, (i + 1) * 50_000), pa.int64()),
                          "email": [f"p{j}@example.org" for j in range(50_000)],
                          "region": ["EU" if j % 3 else "NA" for j in range(50_000)],
                          "score": pa.array([float(j % 97) for j in range(50_000)])})
        with fs.open(f"lake/crm/people/part-{i}.parquet", "wb") as handle:
            pq.write_table(table, handle, row_group_size=20_000)
    root = tmp_path / "mesh"
    governance(root, {"s3": {"endpoint_url": s3.url, "path_style": True}})
    data = contract("crm", "people", COLUMNS)
    data["servers"] = [{"server": "s3", "type": "s3", "format": "parquet",
                        "location": "s3://lake/crm/people/"}]
    write_yaml(root / "domains/crm/people.odcs.yaml", data)
    clear_caches()
    s3.faults.served_bytes = 0
    result = Mesh.open(root).sql("SELECT region, avg(score) AS s FROM crm.people GROUP BY ALL",
                                 user="root")
    assert sorted(result.arrow().to_pylist(), key=lambda r: r["region"])[0]["region"] == "EU"
    fetched = s3.faults.served_bytes
    needed = 0
    for i in range(4):
        with fs.open(f"lake/crm/people/part-{i}.parquet", "rb") as handle:
            meta = pq.read_metadata(handle)
        needed += meta.serialized_size + 8
        for rg in range(meta.num_row_groups):
            group = meta.row_group(rg)
            needed += sum(group.column(c).total_compressed_size for c in range(4)
                          if meta.schema.column(c).name in ("region", "score"))
    assert fetched <= 1.1 * needed, (fetched, needed)


def test_a_file_gone_after_listing_is_a_clear_error(s3: FaultProxy) -> None:
    from connectors.errors import StorageError
    from connectors.footers import read_facts
    from connectors.listing import FileInfo

    fs = fsspec.filesystem("s3", skip_instance_cache=True, endpoint_url=s3.url,
                           config_kwargs={"s3": {"addressing_style": "path"}})
    fs.mkdir("lake")
    listed = (FileInfo("s3://lake/crm/people/part-0.parquet", 4096, 1, "e1"),)
    with pytest.raises(StorageError, match=r"crm\.people: data file 'part-0\.parquet' "
                                           r"disappeared while planning"):
        read_facts("crm.people", listed, "s3://lake/crm/people", False, fs)


def test_threads_sharing_a_handle_each_read_where_they_seeked(
        published: tuple[CountingMemoryFileSystem, bytes]) -> None:
    """DuckDB's threads share a handle; one seeking must not move another's read."""
    import threading

    fs, data = published
    view = TailCachingFileSystem(fs, {PATH: version(data)})
    handle = view.open(f"memory://{PATH}", "rb")
    seeked, other_seeked = threading.Event(), threading.Event()
    got: dict[str, bytes] = {}

    def first() -> None:
        handle.seek(100)
        seeked.set()
        other_seeked.wait(5)  # the other thread moves "the" position now
        got["first"] = handle.read(50)

    def second() -> None:
        seeked.wait(5)
        handle.seek(5000)
        other_seeked.set()
        got["second"] = handle.read(50)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert got == {"first": data[100:150], "second": data[5000:5050]}


def test_footers_kept_are_the_most_recently_used(
        published: tuple[CountingMemoryFileSystem, bytes],
        monkeypatch: pytest.MonkeyPatch) -> None:
    from connectors import tailcache

    fs, data = published
    monkeypatch.setattr(tailcache, "_MAX_ENTRIES", 2)
    paths = [f"/lake/events/copy-{i}.parquet" for i in range(3)]
    for path in paths:
        fs.pipe_file(path, data)
    read_footer(fs, paths[0], version(data))
    read_footer(fs, paths[1], version(data))
    read_footer(fs, paths[0], version(data))  # used again: now the most recent
    read_footer(fs, paths[2], version(data))  # one too many: paths[1] goes
    fs.reads.clear()
    read_footer(fs, paths[0], version(data))
    read_footer(fs, paths[2], version(data))
    assert fs.reads == []
    read_footer(fs, paths[1], version(data))
    assert len(fs.reads) == 2  # read again: trailer, then footer


def test_a_footer_larger_than_duckdbs_probe() -> None:
    """Wide tables with many row groups have footers past 16 KB: still read exactly once."""
    clear_caches()
    fs = CountingMemoryFileSystem()
    fs.store.clear()
    wide = pa.table({f"c{i}": pa.array(range(2_000), pa.int64()) for i in range(60)})
    buffer = io.BytesIO()
    pq.write_table(wide, buffer, row_group_size=100)
    data = buffer.getvalue()
    footer = int.from_bytes(data[-8:-4], "little") + 8
    assert footer > DUCKDB_FOOTER_PROBE
    fs.pipe_file(PATH, data)
    read_footer(fs, PATH, version(data), guess=DUCKDB_FOOTER_PROBE)
    assert len(fs.reads) == 2  # the guess, then the rest of the footer
    fs.reads.clear()
    con = duckdb.connect()
    con.execute("SET enable_external_file_cache = false")
    con.register_filesystem(TailCachingFileSystem(fs, {PATH: version(data)}))
    got = con.sql(f"SELECT sum(c0), sum(c59) FROM read_parquet('memory://{PATH}')").fetchall()
    assert got == [(sum(range(2_000)), sum(range(2_000)))]
    assert all(end <= len(data) - footer for _, end in fs.reads)  # no footer byte again
    con.close()


@pytest.mark.parametrize("file_cache", [False, True])
def test_a_large_files_larger_probe_is_reread_too(file_cache: bool) -> None:
    """DuckDB probes 32 KB of a 17+ MB file: the chunks inside still decode right."""
    import numpy as np

    clear_caches()
    fs = CountingMemoryFileSystem()
    fs.store.clear()
    rows = 2_300_000
    values = np.random.default_rng(7).integers(0, 2**62, rows)
    table = pa.table({"id": pa.array(range(rows), pa.int64()), "v": values})
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="none", row_group_size=1_148_000)
    data = buffer.getvalue()
    meta = pq.read_metadata(io.BytesIO(data))
    last = meta.row_group(meta.num_row_groups - 1).column(1)
    assert len(data) > 17_000_000 and last.data_page_offset + last.total_compressed_size > \
        len(data) - 2 * DUCKDB_FOOTER_PROBE  # data inside the 32 KB probe
    fs.pipe_file(PATH, data)
    read_footer(fs, PATH, version(data))
    fs.reads.clear()
    con = duckdb.connect()
    con.execute(f"SET enable_external_file_cache = {str(file_cache).lower()}")
    con.register_filesystem(TailCachingFileSystem(fs, {PATH: version(data)}))
    source = f"read_parquet('memory://{PATH}')"
    got = con.sql(f"SELECT v FROM {source} WHERE id >= {rows - 5} ORDER BY id").fetchall()
    assert [v for (v,) in got] == values[-5:].tolist()
    assert con.sql(f"SELECT sum(v::HUGEINT) FROM {source}").fetchall() == \
        [(sum(int(v) for v in values),)]
    con.close()

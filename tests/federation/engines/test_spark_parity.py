"""The whole parity suite (slow, ``make test-slow``): TPC-H's 22 queries at SF 0.1, the
demo's queries, the adversarial corpus and the analyst corpus, as the admin and as the
analyst, on DuckDB and on Spark: the same answers (floats to 1e-9 relative, masked values
byte for byte), the same refusals.  And a Spark Connect server, started from the one
pyspark ships."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from benchmarks.tpch.harness import load_queries
from benchmarks.tpch.mesh import ADMIN, ANALYST, build
from federation import Mesh
from federation.cli import cli
from federation.errors import AccessDenied, DuckmeshError, QueryRejected
from tests.conftest import leaked
from tests.federation.engines.spark_parity import difference, needs_spark
from tests.federation.engines.spark_queries import DEMO_SQL, QUERIES
from tests.federation.pipeline.test_adversarial import ATTACKS, Attack
from tests.federation.pipeline.test_corpus import ENTRIES as CORPUS
from tests.federation.pipeline.test_corpus import Entry

pytestmark = [pytest.mark.slow, needs_spark]


@pytest.fixture(scope="module")
def tpch(tmp_path_factory: pytest.TempPathFactory) -> Mesh:
    return Mesh.open(build(tmp_path_factory.mktemp("tpch") / "mesh", 0.1))


@pytest.mark.parametrize("user", [ADMIN, ANALYST])
@pytest.mark.parametrize("number", range(1, 23))
def test_tpch(tpch: Mesh, spark: Any, number: int, user: str) -> None:
    sql = load_queries([number])[number]
    try:
        duck = tpch.sql(sql, user=user).arrow()
    except AccessDenied:
        with pytest.raises(AccessDenied):
            tpch.sql(sql, user=user, engine="spark")
        return
    on_spark = tpch.sql(sql, user=user, engine="spark").arrow()
    assert difference(duck, on_spark) is None


@pytest.mark.parametrize("user", ["adam", "ana", "dana"])
@pytest.mark.parametrize(("name", "sql", "ordered"), QUERIES, ids=[q[0] for q in QUERIES])
def test_demo_queries(mesh: Mesh, spark: Any, name: str, sql: str, ordered: bool,
                      user: str) -> None:
    duck = mesh.sql(sql, user=user).arrow()
    on_spark = mesh.sql(sql, user=user, engine="spark").arrow()
    assert difference(duck, on_spark, ordered=ordered) is None


def _run(root: Path, attack: Attack, *engine: str) -> Any:
    return CliRunner().invoke(cli, ["--mesh", str(root), "query", "--user", attack.user,
                                    "--format", "json", *engine, attack.sql])


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda a: a.name.replace(" ", "_"))
def test_adversarial_corpus_on_spark(attack: Attack, demo_root: Path, spark: Any,
                                     raw_secrets: frozenset[str]) -> None:
    """Each attack ends on Spark as on DuckDB: the same refusal or denial, or the same
    rows, or (a construct Spark does not run) a refusal; nothing raw comes out."""
    duck = _run(demo_root, attack)
    on_spark = _run(demo_root, attack, "--engine", "spark")
    everything = on_spark.stdout + on_spark.stderr + repr(on_spark.exception)
    if attack.user != "adam":
        assert not leaked(everything, raw_secrets)
    assert "Traceback" not in on_spark.stderr
    assert on_spark.stderr.count("\n") <= 1
    if duck.exit_code != 0:
        assert on_spark.exit_code == duck.exit_code
        return
    if on_spark.exit_code == 1 and "not supported on the spark engine" in on_spark.stderr:
        return  # fail closed
    assert on_spark.exit_code == 0, on_spark.stderr
    assert sorted(map(json.dumps, json.loads(on_spark.stdout))) == \
        sorted(map(json.dumps, json.loads(duck.stdout)))


def test_acceptance_in_real_processes(demo_root: Path, tmp_path: Path) -> None:
    """Issue 18's acceptance, as a person runs it: ``duckmesh query --engine spark --user
    ana "<the Makefile's DEMO_SQL>"`` prints byte for byte what ``--engine duckdb`` prints
    (each in a process of its own; the Spark one starts its JVM, 15-60 s)."""
    makefile = (Path(__file__).parents[3] / "Makefile").read_text()
    demo_sql = next(line.split(":=", 1)[1].strip() for line in makefile.splitlines()
                    if line.startswith("DEMO_SQL :="))
    assert demo_sql == DEMO_SQL
    duckmesh = str(Path(sys.executable).parent / "duckmesh")
    base = [duckmesh, "--mesh", str(demo_root), "query"]
    duck = subprocess.run([*base, "--engine", "duckdb", "--user", "ana", demo_sql],
                          capture_output=True, timeout=300, check=False, cwd=tmp_path)
    on_spark = subprocess.run([*base, "--engine", "spark", "--user", "ana", demo_sql],
                              capture_output=True, timeout=300, check=False, cwd=tmp_path)
    assert duck.returncode == on_spark.returncode == 0, on_spark.stderr
    assert on_spark.stdout == duck.stdout and on_spark.stderr == duck.stderr == b"(10 rows)\n"


# -- Spark Connect -------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def connect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """pyspark's own Spark Connect server on a loopback port, stopped after the module."""
    import pyspark

    home = Path(pyspark.__file__).parent
    port = _free_port()
    logs = tmp_path_factory.mktemp("connect")
    env = {**os.environ, "SPARK_HOME": str(home), "SPARK_LOG_DIR": str(logs),
           "SPARK_PID_DIR": str(logs), "SPARK_IDENT_STRING": f"duckmesh-test-{port}"}
    script = home / "sbin" / "start-connect-server.sh"
    args = ["bash", str(script), "--conf", f"spark.connect.grpc.binding.port={port}",
            "--conf", "spark.connect.grpc.binding.address=127.0.0.1",
            "--conf", "spark.driver.bindAddress=127.0.0.1",
            "--conf", "spark.driver.host=127.0.0.1", "--conf", "spark.ui.enabled=false"]
    subprocess.run(args, env=env, check=True, capture_output=True, timeout=120)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.5)
        else:
            pytest.fail("the Spark Connect server did not start")
        yield f"sc://127.0.0.1:{port}"
    finally:
        subprocess.run(["bash", str(home / "sbin" / "stop-connect-server.sh")], env=env,
                       check=False, capture_output=True, timeout=120)


def test_spark_connect(connect_server: str, demo_root: Path, tmp_path: Path) -> None:
    """The demo query through a Spark Connect server prints what DuckDB prints (in a
    process of its own: a process runs one Spark application)."""
    mesh = tmp_path / "mesh"
    shutil.copytree(demo_root, mesh, ignore=shutil.ignore_patterns("audit"))
    text = (mesh / "duckmesh.yaml").read_text()
    text = text.replace("engine:\n", f"engine:\n  spark:\n    remote: {connect_server}\n", 1)
    (mesh / "duckmesh.yaml").write_text(text)
    duckmesh = str(Path(sys.executable).parent / "duckmesh")
    base = [duckmesh, "--mesh", str(mesh), "query", "--user", "ana", DEMO_SQL]
    duck = subprocess.run(base, capture_output=True, text=True, timeout=300, check=False)
    on_spark = subprocess.run([*base[:-1], "--engine", "spark", DEMO_SQL],
                              capture_output=True, text=True, timeout=300, check=False)
    assert on_spark.returncode == 0, on_spark.stderr
    assert on_spark.stdout == duck.stdout
    assert on_spark.stderr == duck.stderr


# -- every construct the DuckDB path allows ------------------------------------------------

def _outcome(mesh: Mesh, sql: str, user: str, engine: str) -> Any:
    try:
        return mesh.sql(sql, user=user, engine=engine).arrow()
    except DuckmeshError as exc:
        return exc


@pytest.mark.parametrize("user", ["adam", "ana"])
@pytest.mark.parametrize("entry", CORPUS, ids=lambda e: f"line{e.line}")
def test_analyst_corpus_on_spark(mesh: Mesh, spark: Any, entry: Entry, user: str) -> None:
    """Each query of the analyst corpus (tests/federation/pipeline/corpus/analyst.sql,
    which grows with every construct the pipeline allows): Spark gives DuckDB's answer,
    or DuckDB's error, or refuses clearly; never a different answer."""
    duck = _outcome(mesh, entry.sql, user, "duckdb")
    on_spark = _outcome(mesh, entry.sql, user, "spark")
    if isinstance(on_spark, QueryRejected) and "not supported on the spark engine" in \
            str(on_spark):
        return  # fail closed
    if isinstance(duck, DuckmeshError):
        assert type(on_spark) is type(duck), on_spark
        return
    assert not isinstance(on_spark, DuckmeshError), on_spark
    assert difference(duck, on_spark, ordered=False) is None

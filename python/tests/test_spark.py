"""medsettle.spark against the command line on a generated set of 200k+ claims: in local
mode (local[2]) and on a standalone cluster (a master and two one-core workers on
127.0.0.1). Prints the measured throughput (claims/s and per core)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

pyspark = pytest.importorskip("pyspark", reason="the Spark tests need pyspark (python/ci.sh installs it)")
from pyspark.sql import SparkSession  # noqa: E402

import medsettle.spark  # noqa: E402
from conftest import assert_tables_equal, read_csv_as, run_cli  # noqa: E402

PERSONS = int(os.environ.get("MEDSETTLE_SPARK_PERSONS", "21000"))  # ~10 claims per person in 2024
FIGURES = os.environ.get("MEDSETTLE_SPARK_FIGURES")  # a JSON file to append the figures to


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    d = tmp_path_factory.mktemp("spark")
    r = run_cli("generate", "--persons", PERSONS, "--year", 2024, "--seed", 5, "--out", d)
    assert r.returncode == 0, r.stderr
    t = time.perf_counter()
    r = run_cli("settle", "--claims", d / "claims.csv", "--persons", d / "persons.csv", "--out", d / "cli", "--format", "parquet")
    cli_secs = time.perf_counter() - t
    assert r.returncode == 0, r.stderr
    counts = json.loads((d / "cli" / "manifest.json").read_text())["counts"]
    assert counts["read"] >= 200_000, counts
    return d, cli_secs, counts


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def standalone(tmp_path_factory):
    """A standalone master and two workers (1 core, 2 GiB each), all on 127.0.0.1."""
    home = Path(pyspark.__file__).parent
    cls = str(home / "bin" / "spark-class")
    logs = tmp_path_factory.mktemp("cluster")
    env = {**os.environ, "SPARK_HOME": str(home), "SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": sys.executable}
    port, ui = free_port(), free_port()
    procs = []

    def start(name, *args):
        log = open(logs / f"{name}.log", "w")
        procs.append(subprocess.Popen([cls, *args], env=env, stdout=log, stderr=subprocess.STDOUT))

    start("master", "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", str(port), "--webui-port", str(ui))
    url = f"spark://127.0.0.1:{port}"
    for i in range(2):
        start(f"worker{i}", "org.apache.spark.deploy.worker.Worker", url, "--host", "127.0.0.1", "--cores", "1", "--memory", "2g",
              "--webui-port", str(free_port()), "--work-dir", str(logs / f"work{i}"))
    deadline = time.time() + 90
    while time.time() < deadline:
        text = "".join((logs / f"worker{i}.log").read_text() for i in range(2))
        if text.count("Successfully registered with master") == 2:
            break
        time.sleep(1)
    else:
        for p in procs:
            p.terminate()
        raise RuntimeError("the standalone workers did not register:\n" + (logs / "master.log").read_text()[-3000:])
    yield url
    for p in procs:
        p.terminate()
    for p in procs:
        p.wait(timeout=30)


def session(master: str) -> SparkSession:
    os.environ["PYSPARK_PYTHON"] = sys.executable
    spark = (
        SparkSession.builder.master(master)
        .appName("medsettle-test")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.memory", "2g")
        .config("spark.executor.memory", "1500m")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def arrow(df, like: pa.Schema) -> pa.Table:
    return df.toArrow().select(like.names).cast(like)


def run_and_compare(master: str, big, label: str, cores: int) -> None:
    d, cli_secs, counts = big
    spark = session(master)
    try:
        claims = spark.read.csv(str(d / "claims.csv"), header=True)
        persons = spark.read.csv(str(d / "persons.csv"), header=True)
        t = time.perf_counter()
        r = medsettle.spark.settle(claims, persons, claims_name=str(d / "claims.csv"), persons_name=str(d / "persons.csv"))
        s_cli = pq.read_table(d / "cli" / "settlements.parquet")
        settlements = arrow(r.settlements, s_cli.schema)
        y_cli = pq.read_table(d / "cli" / "person_years.parquet")
        person_years = arrow(r.person_years, y_cli.schema)
        fund = r.fund_report.toArrow()
        rejects = r.rejects.toArrow()
        secs = time.perf_counter() - t
        r.unpersist()
    finally:
        spark.stop()
    assert_tables_equal(settlements, s_cli, key=["setl_id"])
    assert_tables_equal(person_years, y_cli, key=["psn_no", "year", "policy_id"])
    f_cli = read_csv_as(d / "cli" / "fund_report.csv", fund_schema())
    keys = ["year", "policy_id", "flow", "fund", "benefit", "category", "hosp_lv", "item"]
    assert_tables_equal(fund.select(f_cli.column_names).cast(f_cli.schema), f_cli, key=keys)
    assert rejects.num_rows == counts["rejected"] + counts["persons_rejected"]
    n = counts["read"]
    figures = {"run": label, "claims": n, "seconds": round(secs, 2), "claims_per_s": round(n / secs), "claims_per_s_per_core": round(n / secs / cores),
               "cli_seconds": round(cli_secs, 2), "cli_claims_per_s": round(n / cli_secs)}
    print(json.dumps(figures))
    if FIGURES:
        with open(FIGURES, "a") as f:
            f.write(json.dumps(figures) + "\n")


def fund_schema() -> pa.Schema:
    """The fund report's Arrow schema (as medsettle.settle returns it)."""
    s, t, i = pa.string(), pa.string(), pa.int64()
    names = ["year", "policy_id", "flow", "fund", "benefit", "category", "hosp_lv", "item", "count", "amount"]
    return pa.schema(list(zip(names, [i, s, t, t, t, t, i, t, i, pa.decimal128(18, 2)])))


def test_local_mode(big):
    run_and_compare("local[2]", big, "local[2]", 2)


def test_standalone_cluster(big, standalone):
    run_and_compare(standalone, big, "standalone 2x1 core", 2)


def test_whole_input_checks_match_cli(tmp_path):
    """Cross-person duplicates and reversals, and bad rows, on a small hand-made set."""
    src = Path(__file__).resolve().parents[2] / "sample-data"
    claims = (src / "claims.csv").read_text().splitlines()
    header, rows = claims[0], claims[1:]
    cols = header.split(",")
    # A copy of the first claim under another person's psn_no: a duplicate across persons.
    first = rows[0].split(",")
    other = next(r.split(",")[cols.index("psn_no")] for r in rows if r.split(",")[cols.index("psn_no")] != first[cols.index("psn_no")])
    dup = list(first)
    dup[cols.index("psn_no")] = other
    (tmp_path / "claims.csv").write_text("\n".join([header, *rows, ",".join(dup)]) + "\n")
    shutil.copy(src / "persons.csv", tmp_path / "persons.csv")
    out = tmp_path / "cli"
    r = run_cli("settle", "--claims", tmp_path / "claims.csv", "--persons", tmp_path / "persons.csv", "--out", out, "--format", "parquet")
    assert r.returncode == 0, r.stderr
    spark = session("local[2]")
    try:
        res = medsettle.spark.settle(
            spark.read.csv(str(tmp_path / "claims.csv"), header=True),
            spark.read.csv(str(tmp_path / "persons.csv"), header=True),
            claims_name=str(tmp_path / "claims.csv"),
            persons_name=str(tmp_path / "persons.csv"),
        )
        s_cli = pq.read_table(out / "settlements.parquet")
        settlements = arrow(res.settlements, s_cli.schema)
        rejects = res.rejects.toArrow()
    finally:
        spark.stop()
    assert_tables_equal(settlements, s_cli, key=["setl_id"])
    r_cli = read_csv_as(out / "rejects.csv", rejects.schema)
    assert any("duplicate_setl_id" in x for x in r_cli.column("reason").to_pylist())
    assert_tables_equal(rejects.cast(r_cli.schema), r_cli, key=["source_file", "row"])

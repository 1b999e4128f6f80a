"""Shared fixtures: the command-line binary (to compare with) and generated data."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pcsv
import pytest

REPO = Path(__file__).resolve().parents[2]


def cli_path() -> Path:
    p = Path(os.environ.get("MEDSETTLE_BIN", REPO / "target" / "debug" / "medsettle"))
    if not p.exists():
        raise RuntimeError(f"{p} not found: build it with `cargo build` or set MEDSETTLE_BIN")
    return p


def run_cli(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run([str(cli_path()), *map(str, args)], capture_output=True, text=True, cwd=REPO)


def cli_settle(claims: Path, persons: Path, out: Path, *extra: str) -> Path:
    r = run_cli("settle", "--claims", claims, "--persons", persons, "--out", out, "--format", "parquet", *extra)
    assert r.returncode == 0, r.stderr
    return out


def read_csv_as(path: Path, schema: pa.Schema) -> pa.Table:
    """A CLI CSV output read with the types of the Arrow output (empty cells null only in
    nullable non-text columns, as the CLI writes them)."""
    opts = pcsv.ConvertOptions(
        column_types={f.name: f.type for f in schema},
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )
    return pcsv.read_csv(path, convert_options=opts).select(schema.names)


def assert_tables_equal(a: pa.Table, b: pa.Table, key: list[str] | None = None) -> None:
    """Cell by cell, column by column (sorted by `key` first if given)."""
    assert a.column_names == b.column_names
    assert a.num_rows == b.num_rows, (a.num_rows, b.num_rows)
    if key:
        a = a.sort_by([(k, "ascending") for k in key])
        b = b.sort_by([(k, "ascending") for k in key])
    for name in a.column_names:
        x, y = a.column(name).to_pylist(), b.column(name).to_pylist()
        if x != y:
            i = next(i for i, (u, v) in enumerate(zip(x, y)) if u != v)
            raise AssertionError(f"column {name} differs first at row {i}: {x[i]!r} != {y[i]!r}")


@pytest.fixture(scope="session")
def sample() -> tuple[Path, Path]:
    return REPO / "sample-data" / "claims.csv", REPO / "sample-data" / "persons.csv"


@pytest.fixture(scope="session")
def generated(tmp_path_factory) -> Path:
    """A generated set (2024 and 2026, residents and employees) as Parquet and CSV."""
    d = tmp_path_factory.mktemp("gen")
    for fmt in ("parquet", "csv"):
        r = run_cli("generate", "--persons", 3000, "--year", 2024, 2026, "--seed", 11, "--out", d / fmt, "--format", fmt)
        assert r.returncode == 0, r.stderr
    return d

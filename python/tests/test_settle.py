"""The Python package against the command line: the same outputs cell by cell."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

import medsettle
from conftest import REPO, assert_tables_equal, cli_settle, read_csv_as, run_cli


def compare_with_cli(r: medsettle.Result, out: Path, same_names: bool = True, csv_table: bool = False) -> None:
    """`same_names`: the inputs were the CLI's paths (else reject source names differ);
    `csv_table`: the inputs were CSV files read into tables, whose rows are numbered from 1
    (records) where the CLI counts CSV lines (header = 1)."""
    assert_tables_equal(r.settlements, pq.read_table(out / "settlements.parquet"))
    assert_tables_equal(r.person_years, pq.read_table(out / "person_years.parquet"))
    assert_tables_equal(r.fund_report, read_csv_as(out / "fund_report.csv", r.fund_report.schema))
    rejects = read_csv_as(out / "rejects.csv", r.rejects.schema)
    if not same_names:
        rejects, mine = rejects.drop_columns(["source_file"]), r.rejects.drop_columns(["source_file"])
    else:
        mine = r.rejects
    if csv_table:
        i = mine.column_names.index("row")
        mine = mine.set_column(i, "row", pa.compute.add(mine.column("row"), 1))
    assert_tables_equal(mine, rejects)
    counts = json.loads((out / "manifest.json").read_text())["counts"]
    assert r.counts == medsettle.Counts(**counts)


def strings(path: Path) -> pa.Table:
    """A CSV file with every column as text (as the CLI reads it)."""
    names = pcsv.read_csv(path, read_options=pcsv.ReadOptions(skip_rows_after_names=10**9)).column_names
    return pcsv.read_csv(path, convert_options=pcsv.ConvertOptions(column_types={n: pa.string() for n in names}))


def test_sample_from_paths(sample, tmp_path):
    claims, persons = sample
    out = cli_settle(claims, persons, tmp_path / "cli")
    r = medsettle.settle(claims, persons)
    # The CLI was given absolute paths too: the reject source names agree.
    compare_with_cli(r, out)
    assert r.counts.reconciles


def test_rejected_rows_match_cli(sample, tmp_path):
    """Bad rows (wrong code, amounts that do not add up, unknown person, bad person) give the
    CLI's rejects, from a path and from a table."""
    claims, persons = sample
    lines = claims.read_text().splitlines()
    cols = lines[0].split(",")
    bad = []
    for k, (col, value) in enumerate([("med_type", "99"), ("medfee_sumamt", "1.00"), ("psn_no", "P-NOBODY"), ("setl_time", "yesterday")]):
        row = lines[1 + k].split(",")
        row[cols.index(col)] = value
        row[cols.index("setl_id")] = f"BAD{k}"
        bad.append(",".join(row))
    (tmp_path / "claims.csv").write_text("\n".join([*lines, *bad]) + "\n")
    plines = persons.read_text().splitlines()
    pcols = plines[0].split(",")
    prow = plines[1].split(",")
    prow[pcols.index("brdy")] = "someday"
    (tmp_path / "persons.csv").write_text("\n".join([*plines, ",".join(prow)]) + "\n")
    out = cli_settle(tmp_path / "claims.csv", tmp_path / "persons.csv", tmp_path / "cli")
    r = medsettle.settle(tmp_path / "claims.csv", tmp_path / "persons.csv")
    assert r.counts.rejected == 4 and r.counts.persons_rejected == 1
    compare_with_cli(r, out)
    r = medsettle.settle(strings(tmp_path / "claims.csv"), strings(tmp_path / "persons.csv"))
    compare_with_cli(r, out, same_names=False, csv_table=True)


def test_sample_from_pyarrow_polars_pandas(sample, tmp_path):
    claims, persons = sample
    out = cli_settle(claims, persons, tmp_path / "cli")
    for c, p in [
        (strings(claims), strings(persons)),
        (pl.read_csv(claims, infer_schema=False), pl.read_csv(persons, infer_schema=False)),
        (pd.read_csv(claims, dtype=str, keep_default_na=False), pd.read_csv(persons, dtype=str, keep_default_na=False)),
    ]:
        compare_with_cli(medsettle.settle(c, p), out, same_names=False, csv_table=True)


def test_generated_parquet_and_polars(generated, tmp_path):
    claims, persons = generated / "parquet" / "claims.parquet", generated / "parquet" / "persons.parquet"
    out = cli_settle(claims, persons, tmp_path / "cli")
    r = medsettle.settle(claims, persons)
    compare_with_cli(r, out)
    assert r.counts.read > 20_000 and r.counts.rejected == 0
    # Typed in-memory tables (decimals, timestamps) through polars.
    compare_with_cli(medsettle.settle(pl.read_parquet(claims), pl.read_parquet(persons)), out, same_names=False)


def test_generated_csv_with_overrides(generated, tmp_path):
    claims, persons = generated / "csv" / "claims.csv", generated / "csv" / "persons.csv"
    sets = ["inpatient.cap_basis=eligible_cost"]
    out = cli_settle(claims, persons, tmp_path / "cli", "--set", sets[0])
    compare_with_cli(medsettle.settle(claims, persons, set=sets), out)


def test_outputs_are_typed_arrow(sample):
    r = medsettle.settle(*sample)
    t = r.settlements.schema
    assert t.field("hifp_pay").type == pa.decimal128(18, 2)
    assert t.field("setl_time").type == pa.timestamp("us")
    assert r.fund_report.schema.field("hosp_lv").nullable


def test_errors_carry_the_cli_message(sample, tmp_path):
    claims, persons = sample
    bad = tmp_path / "claims.csv"
    bad.write_text("setl_id,psn_no\nS1,P1\n")
    r = run_cli("settle", "--claims", bad, "--persons", persons, "--out", tmp_path / "o")
    assert r.returncode == 1
    with pytest.raises(medsettle.MedsettleError) as e:
        medsettle.settle(bad, persons)
    assert r.stderr.strip() == f"medsettle: error: {e.value}"
    assert "missing required column(s)" in str(e.value)
    r = run_cli("settle", "--claims", claims, "--persons", persons, "--out", tmp_path / "o", "--set", "no.such=1")
    with pytest.raises(medsettle.MedsettleError) as e:
        medsettle.settle(claims, persons, set=["no.such=1"])
    assert r.stderr.strip() == f"medsettle: error: {e.value}"
    with pytest.raises(TypeError):
        medsettle.settle(42, persons)


def test_explain_steps(sample):
    claims, persons = sample
    r = medsettle.settle(claims, persons)
    row = r.settlements.filter(pa.compute.equal(r.settlements["status"], "settled")).slice(0, 1).to_pylist()[0]
    e = medsettle.explain(claims, persons, setl_id=row["setl_id"])
    assert e.rejected is None and e.psn_no == row["psn_no"]
    mine = [s for s in e.steps if s.setl_id == row["setl_id"]]
    assert mine and all(s.layer and s.text and s.source for s in mine)
    # The CLI prints the same steps for the target claim.
    out = run_cli("explain", "--claims", claims, "--persons", persons, "--setl-id", row["setl_id"]).stdout
    for s in mine:
        assert f"[{s.layer}] {s.text}" in out and f"source: {s.source}" in out
    # The person's settlements of the year, with the settle run's amounts.
    ex = {x["setl_id"]: x for x in e.settlements.to_pylist()}
    assert ex[row["setl_id"]] == row
    rej = r.rejects.filter(pa.compute.not_equal(r.rejects["setl_id"], "")).slice(0, 1).to_pylist()
    if rej:
        e = medsettle.explain(claims, persons, setl_id=rej[0]["setl_id"])
        assert e.rejected is not None and rej[0]["reason"] in e.rejected and not e.steps


def machine_cells(t: pa.Table) -> dict[str, list[str]]:
    """Each column as the CLI writes it to CSV: money with two decimals, ratios with six,
    an empty cell for null."""
    def cell(v: object) -> str:
        if v is None:
            return ""
        if isinstance(v, float):
            return f"{v:.6f}"
        return str(v)

    return {n: [cell(v) for v in t.column(n).to_pylist()] for n in t.column_names}


def assert_same_as_csv(t: pa.Table, path: Path) -> None:
    """Cell by cell against a CLI CSV file read as text (same names, same order)."""
    expected = strings(path)
    assert t.column_names == expected.column_names, (t.column_names, expected.column_names)
    assert t.num_rows == expected.num_rows, (path.name, t.num_rows, expected.num_rows)
    mine = machine_cells(t)
    for name in t.column_names:
        x, y = mine[name], expected.column(name).to_pylist()
        if x != y:
            i = next(i for i, (u, v) in enumerate(zip(x, y)) if u != v)
            raise AssertionError(f"{path.name}: column {name} differs first at row {i}: {x[i]!r} != {y[i]!r}")


COMPARISON_FILES = ["comparison", "balance_change", "winners_losers", "deciles", "largest_changes", "persons_delta"]


def test_scenario_matches_cli(sample, tmp_path):
    claims, persons = sample
    scen = REPO / "sample-data" / "scenarios"
    files = sorted(scen.glob("*.toml"))[:2]
    assert len(files) == 2
    out = tmp_path / "sc"
    r = run_cli("scenario", "--claims", claims, "--persons", persons, "--scenario", *files, "--out", out, "--full", "--format", "parquet")
    assert r.returncode == 0, r.stderr
    s = medsettle.scenario(claims, persons, files)
    compare_with_cli(s.baseline, out / "baseline")
    assert len(s.scenarios) == 2
    for name, res in s.scenarios.items():
        compare_with_cli(res, out / name)
    assert s.comparison.column_names == [
        "scenario", "year", "policy_id", "flow", "fund", "benefit", "baseline", "reform", "difference", "percent",
    ]
    for stem in COMPARISON_FILES:
        assert_same_as_csv(getattr(s, stem), out / f"{stem}.csv")
    assert s.cost_curve is None
    # Typed: money is exact, the difference is reform − baseline on every row.
    assert s.comparison.schema.field("difference").type == pa.decimal128(18, 2)
    for row in s.comparison.to_pylist():
        assert row["difference"] == row["reform"] - row["baseline"]
    # Each person-year is in exactly one band: the bands of the `all` row add up.
    for row in s.winners_losers.filter(pa.compute.equal(s.winners_losers["group"], "all")).to_pylist():
        bands = ["lose_over_5pct", "lose_upto_5pct", "no_change", "gain_upto_5pct", "gain_over_5pct"]
        assert sum(row[b] for b in bands) == row["person_years"] == s.baseline.person_years.num_rows


def test_sweep_matches_cli(sample, tmp_path):
    claims, persons = sample
    sweep = "inpatient.cap=300000..500000:100000"
    r = run_cli("scenario", "--claims", claims, "--persons", persons, "--sweep", sweep, "--out", tmp_path / "sw")
    assert r.returncode == 0, r.stderr
    s = medsettle.scenario(claims, persons, sweep=sweep)
    assert_same_as_csv(s.cost_curve, tmp_path / "sw" / "cost_curve.csv")
    # 300000, 400000, 500000: three points
    assert s.cost_curve["value"].to_pylist() == ["300000", "400000", "500000"]
    assert s.comparison is None and not s.scenarios
    assert_tables_equal(s.baseline.person_years, medsettle.settle(claims, persons).person_years)
    with pytest.raises(medsettle.MedsettleError, match="expected KEY=FROM..TO:STEP"):
        medsettle.scenario(claims, persons, sweep="inpatient.cap")


def test_policies():
    listed = run_cli("policy", "list").stdout.splitlines()[1:]
    ps = medsettle.policies()
    assert [p["id"] for p in ps] == [line.split()[0] for line in listed if line.strip()]
    p = medsettle.policy(ps[0]["id"], set=[])
    assert p["id"] == ps[0]["id"] and p["_origin"] == f"builtin:{ps[0]['id']}"
    with pytest.raises(medsettle.MedsettleError, match="neither a built-in policy"):
        medsettle.policy("no-such-policy")

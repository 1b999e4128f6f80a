# %% [markdown]
# # What if level-3 hospitals paid 75 % for residents' inpatient care?
#
# A notebook-style walk through medsettle from Python (run it as a script, or cell by cell
# in Jupyter / VS Code): generate a synthetic population with the command line, settle it
# under the 2026 policies and under a what-if scenario, and compare with polars.
#
#     python python/examples/scenario_notebook.py [OUT_DIR]
#
# Needs the `medsettle` binary (target/debug or target/release, or MEDSETTLE_BIN) for
# `generate`, and polars and matplotlib.

# %%
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import polars as pl

import medsettle

repo = Path(__file__).resolve().parents[2]
out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="medsettle-example-"))
out.mkdir(parents=True, exist_ok=True)
binary = os.environ.get("MEDSETTLE_BIN") or next(
    str(p) for p in (repo / "target" / "release" / "medsettle", repo / "target" / "debug" / "medsettle") if p.exists()
)

# %% [markdown]
# ## Data: 5,000 synthetic insured persons, one year of claims

# %%
subprocess.run([binary, "generate", "--persons", "5000", "--year", "2026", "--seed", "42", "--out", str(out / "data"), "--format", "parquet"], check=True)
claims = pl.read_parquet(out / "data" / "claims.parquet")
persons = pl.read_parquet(out / "data" / "persons.parquet")
print(f"{claims.height} claims of {persons.height} persons")

# %% [markdown]
# ## Baseline and scenario, straight from the polars frames

# %%
sc = medsettle.scenario(claims, persons, [repo / "sample-data" / "scenarios" / "level3-rate-75.toml"])
base = pl.from_arrow(sc.baseline.person_years)
what_if = pl.from_arrow(sc.scenarios["level3-rate-75"].person_years)
print(sc.descriptions["level3-rate-75"])
# The budget impact per year, fund and benefit, as comparison.csv (computed by the engine)
print(pl.from_arrow(sc.comparison).filter(pl.col("difference") != 0).select("year", "flow", "fund", "benefit", "baseline", "reform", "difference", "percent"))
# Winners and losers: person-years in five bands of final-burden change, overall
print(pl.from_arrow(sc.winners_losers).filter(pl.col("group") == "all"))

# %% [markdown]
# ## Who pays less? Final burden by category, baseline against scenario

# %%
key = ["psn_no", "year", "policy_id"]
both = base.join(what_if, on=key, suffix="_what_if").with_columns(
    (pl.col("final_burden_what_if") - pl.col("final_burden")).alias("change")
)
by_type = (
    both.group_by("psn_type")
    .agg(
        pl.col("final_burden").sum().alias("baseline"),
        pl.col("final_burden_what_if").sum().alias("scenario"),
        (pl.col("change") < 0).sum().alias("persons_paying_less"),
    )
    .sort("psn_type")
)
print(by_type)
assert both.height == base.height, "every person-year is settled in both runs"

# %% [markdown]
# ## One chart

# %%
fig, ax = plt.subplots(figsize=(7, 4))
x = range(by_type.height)
ax.bar([i - 0.2 for i in x], by_type["baseline"].cast(pl.Float64) / 1e4, width=0.4, label="baseline")
ax.bar([i + 0.2 for i in x], by_type["scenario"].cast(pl.Float64) / 1e4, width=0.4, label="level-3 rate 75 %")
ax.set_xticks(list(x), by_type["psn_type"].to_list(), rotation=30, ha="right")
ax.set_ylabel("final personal burden (10k yuan)")
ax.set_title("Residents' own payments by category, 2026")
ax.legend()
fig.tight_layout()
chart = out / "burden_by_category.png"
fig.savefig(chart, dpi=100)
print(f"chart: {chart}")

"""medsettle on Spark: settle a province's claims across a cluster.

Plan (docs/scale-out.md):

1. Row numbers: every claims and persons row gets its line number (``_line``; CSV: header = 1)
   unless the DataFrame already has a ``_line`` column, so rejects name the same rows as the
   command line and "the first row is kept" means the same row.
2. Whole-input checks as Spark aggregations, before settling, with the command line's reject
   codes and messages: ``duplicate_setl_id`` across persons, and reversals whose original
   belongs to another person (``reversal_person_mismatch``, or ``reversal_unknown_original``
   when that original is itself a reversal). Checks within one person are left to the
   engine, which sees all of a person's claims.
3. Join each claim with its person (the first persons row of its ``psn_no``), repartition by
   ``psn_no``, sort within partitions by (``psn_no``, ``_line``), and ``mapInArrow`` into the
   engine: a partition's batches are gathered (a person's rows may span batches), settled in
   D-06 order per person, and the outputs come back as Arrow (settlements, person_years,
   fund expenditure, rejects).
4. Fund income from every valid person (a second ``mapInArrow`` over the persons), and the
   fund report summed in Spark.

Strings are best read as strings (``spark.read.csv(path, header=True)`` without
``inferSchema``): the engine parses and validates them exactly as the command line does.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional, Sequence

import pyarrow as pa
import pyarrow.compute as pc

from . import _native, _specs

__all__ = ["SparkResult", "settle", "with_line_numbers"]

LINE = _native.LINE_COLUMN
_P = "__p_"  # prefix of the person columns in the joined rows

# The union row that carries every output of a partition: `kind` says which table a row
# belongs to; the other tables' columns are null in it.
# The output tables' columns come from the engine (the command line's own column lists).
_SCHEMAS = _native.output_schemas()
_TABLES: Dict[str, List[tuple]] = {
    kind: [(f.name, f.type) for f in _SCHEMAS[name]]
    for kind, name in [("s", "settlements"), ("y", "person_years"), ("f", "fund_report"), ("r", "rejects")]
}
# the settlement years of a partition's claims (fund income is due for them)
_TABLES["c"] = [("year", pa.int64())]
_UNION = pa.schema([("kind", pa.string())] + [(f"{k}__{n}", t) for k, cols in _TABLES.items() for n, t in cols])


def _union(kind: str, t: pa.Table) -> pa.RecordBatch:
    n = t.num_rows
    arrays = [pa.array([kind] * n, pa.string())]
    for k, cols in _TABLES.items():
        for name, typ in cols:
            arrays.append(t.column(name).combine_chunks().cast(typ) if k == kind else pa.nulls(n, typ))
    return pa.RecordBatch.from_arrays(arrays, schema=_UNION)


def _spark_schema():
    from pyspark.sql import types as T

    def st(t: pa.DataType):
        if pa.types.is_string(t):
            return T.StringType()
        if pa.types.is_int64(t):
            return T.LongType()
        if pa.types.is_decimal(t):
            return T.DecimalType(t.precision, t.scale)
        if pa.types.is_timestamp(t):
            return T.TimestampNTZType()
        raise TypeError(t)

    return T.StructType([T.StructField(f.name, st(f.type), True) for f in _UNION])


def with_line_numbers(df, first: int = 2):
    """Adds ``_line``: the row's line in the file the DataFrame was read from, in read order
    (``first`` = 2 for CSV with a header, 1 for Parquet records). Uses the partition ids and
    counts, not a shuffle; the DataFrame must come straight from a file scan."""
    from pyspark.sql import functions as F

    if LINE in df.columns:
        return df
    mid = F.monotonically_increasing_id()
    df = df.withColumn("__pid", F.shiftright(mid, 33)).withColumn("__idx", mid.bitwiseAND(F.lit((1 << 33) - 1)))
    counts = sorted((r["__pid"], r["count"]) for r in df.groupBy("__pid").count().collect())
    offsets, acc = [], 0
    for pid, n in counts:
        offsets.append((pid, acc))
        acc += n
    spark = df.sparkSession
    off = spark.createDataFrame(offsets or [(0, 0)], "__pid long, __off long")
    return (
        df.join(F.broadcast(off), "__pid")
        .withColumn(LINE, F.col("__off") + F.col("__idx") + F.lit(first))
        .drop("__pid", "__idx", "__off")
    )


def _first_rows(batch: pa.Table, key: str) -> pa.Table:
    """The first row of each run of equal `key` values (rows sorted by key)."""
    k = batch.column(key)
    if batch.num_rows == 0:
        return batch
    prev = pa.concat_arrays([pa.nulls(1, k.type), k.slice(0, batch.num_rows - 1).combine_chunks()])
    change = pc.fill_null(pc.not_equal(k, prev), True)
    return batch.filter(change)


@dataclass
class SparkResult:
    """Spark DataFrames of the outputs (columns as :class:`medsettle.Result`)."""

    settlements: Any
    person_years: Any
    #: summed over the partitions; rows in no particular order
    fund_report: Any
    #: whole-input checks, partition rejects and persons rejects
    rejects: Any
    #: the persisted intermediate DataFrames (see :meth:`unpersist`)
    cached: List[Any]

    def unpersist(self) -> None:
        """Frees the cached intermediate results (after the outputs have been written)."""
        for df in self.cached:
            df.unpersist()

    def counts(self) -> Dict[str, int]:
        """The run's counts (as :class:`medsettle.Counts`), from the DataFrames."""
        by_status = {r["status"]: r["count"] for r in self.settlements.groupBy("status").count().collect()}
        rej = self.rejects
        claim_rej = rej.filter(rej.setl_id != "").count()
        return {
            "settled": by_status.get("settled", 0),
            "not_covered": by_status.get("not_covered", 0),
            "reversal": by_status.get("reversal", 0),
            "rejected": claim_rej,
            "person_years": self.person_years.count(),
        }


def settle(
    claims_df,
    persons_df,
    policies: Optional[Sequence[str]] = None,
    set: Optional[Sequence[str]] = None,
    partitions: Optional[int] = None,
    claims_name: str = "claims",
    persons_name: str = "persons",
    first_line: int = 2,
) -> SparkResult:
    """Settle on Spark; the outputs equal ``medsettle settle``'s on the same rows.

    Args:
        claims_df, persons_df: Spark DataFrames with the CONTRACT.md columns (strings as read
            from CSV, or typed as in Parquet); a ``_line`` column, if present, numbers the rows.
        policies, set: as :func:`medsettle.settle` (policy files must be readable on every
            executor).
        partitions: partitions of the settle step (default: ``spark.sql.shuffle.partitions``).
        claims_name, persons_name: the ``source_file`` of rejects.
        first_line: line of the first data row when ``_line`` is added (2: CSV with a header).
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    specs, sets = _specs(policies, set)
    spark = claims_df.sparkSession
    n = partitions or int(spark.conf.get("spark.sql.shuffle.partitions"))
    # Numbered once and kept: the checks, the join and the income step all read them.
    claims = with_line_numbers(claims_df, first_line).persist()
    persons = with_line_numbers(persons_df, first_line).persist()
    claim_cols = [c for c in claims.columns]
    person_cols = [c for c in persons.columns]

    # Whole-input checks (S-22, S-24 across persons).
    sid = F.trim(F.col("setl_id"))
    w = Window.partitionBy("__sid").orderBy(LINE)
    ids = (
        claims.select(LINE, "setl_id", "psn_no", "refd_setl_flag", "init_setl_id")
        .withColumn("__sid", sid)
        .filter(F.col("__sid").isNotNull() & (F.col("__sid") != ""))
        .withColumn("__first_line", F.first(LINE).over(w))
        .withColumn("__first_psn", F.first(F.trim(F.col("psn_no"))).over(w))
        .withColumn("__first_flag", F.first(F.trim(F.col("refd_setl_flag").cast("string"))).over(w))
    )
    dup = ids.filter((F.col(LINE) != F.col("__first_line")) & ~F.trim(F.col("psn_no")).eqNullSafe(F.col("__first_psn")))
    dup_rejects = dup.select(
        F.lit(claims_name).alias("source_file"),
        F.col(LINE).alias("row"),
        F.col("setl_id"),
        F.format_string("duplicate_setl_id: setl_id %s already appears at line %d (file #1); the first row is kept", F.col("__sid"), F.col("__first_line")).alias("reason"),
    )
    originals = ids.filter(F.col(LINE) == F.col("__first_line")).select(
        F.col("__sid").alias("__osid"), F.col("__first_psn").alias("__opsn"), F.col("__first_flag").alias("__oflag")
    )
    revs = (
        ids.filter(F.trim(F.col("refd_setl_flag").cast("string")) == "1")
        .join(dup.select(LINE), LINE, "left_anti")
        .withColumn("__init", F.trim(F.col("init_setl_id")))
        .join(originals, F.col("__init") == F.col("__osid"))
        .filter(~F.trim(F.col("psn_no")).eqNullSafe(F.col("__opsn")))
    )
    rev_rejects = revs.select(
        F.lit(claims_name).alias("source_file"),
        F.col(LINE).alias("row"),
        F.col("setl_id"),
        F.when(F.col("__oflag") == "1", F.format_string("reversal_unknown_original: init_setl_id %s is itself a reversal", F.col("__init")))
        .otherwise(F.format_string("reversal_person_mismatch: the original %s belongs to another person", F.col("__init")))
        .alias("reason"),
    )
    checked = dup_rejects.unionByName(rev_rejects).persist()

    # Each claim with the first persons row of its psn_no.
    pw = Window.partitionBy("__pk").orderBy(LINE)
    first_persons = (
        persons.withColumn("__pk", F.trim(F.col("psn_no")))
        .withColumn("__rn", F.row_number().over(pw))
        .filter(F.col("__rn") == 1)
        .select(F.col("__pk"), *[F.col(c).alias(_P + c) for c in person_cols])
    )
    joined = (
        claims.join(checked.select(F.col("row").alias(LINE)), LINE, "left_anti")
        .withColumn("__pk", F.trim(F.col("psn_no")))
        .join(first_persons, "__pk", "left")
        .drop("__pk")
        .repartition(n, "psn_no")
        .sortWithinPartitions("psn_no", LINE)
    )

    def settle_partition(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        start = time.perf_counter()
        t = pa.Table.from_batches(list(batches))
        if t.num_rows == 0:
            return
        gathered = time.perf_counter()
        claims_t = t.select(claim_cols)
        ppl = t.select([_P + c for c in person_cols]).rename_columns(person_cols)
        ppl = ppl.filter(pc.is_valid(ppl.column(LINE)))
        ppl = _first_rows(ppl.sort_by([("psn_no", "ascending"), (LINE, "ascending")]), "psn_no")
        d = _native.settle([claims_t], [claims_name], ppl, persons_name, specs, sets, False)
        if os.environ.get("MEDSETTLE_TIMINGS"):
            print(f"medsettle.spark: partition of {t.num_rows} rows: gathered in {gathered - start:.2f} s, "
                  f"settled in {time.perf_counter() - gathered:.2f} s", file=sys.stderr)
        yield _union("s", d["settlements"])
        yield _union("y", d["person_years"])
        yield _union("f", d["fund_report"])
        rej = d["rejects"]
        # Persons rows are checked (and reported) by the income step, once.
        yield _union("r", rej.filter(pc.not_equal(rej.column("source_file"), persons_name)))
        yield _union("c", pa.table({"year": pa.array(d["claim_years"], pa.int64())}))

    raw = joined.mapInArrow(settle_partition, _spark_schema()).persist()

    def part(kind: str):
        return raw.filter(F.col("kind") == kind).select([F.col(f"{kind}__{c}").alias(c) for c, _ in _TABLES[kind]])

    years = sorted(r["year"] for r in part("c").distinct().collect())

    def income_partition(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        t = pa.Table.from_batches(list(batches))
        if t.num_rows == 0:
            return
        fund, rejects = _native.income(t, persons_name, years, specs, sets)
        yield _union("f", fund)
        yield _union("r", rejects)

    inc = (
        persons.repartition(n, "psn_no")
        .sortWithinPartitions("psn_no", LINE)
        .mapInArrow(income_partition, _spark_schema())
        .persist()
    )

    def inc_part(kind: str):
        return inc.filter(F.col("kind") == kind).select([F.col(f"{kind}__{c}").alias(c) for c, _ in _TABLES[kind]])

    keys = ["year", "policy_id", "flow", "fund", "benefit", "category", "hosp_lv", "item"]
    fund = (
        part("f")
        .unionByName(inc_part("f"))
        .groupBy(*keys)
        .agg(F.sum("count").alias("count"), F.sum("amount").cast("decimal(18,2)").alias("amount"))
    )
    rejects = checked.unionByName(part("r")).unionByName(inc_part("r"))
    return SparkResult(
        settlements=part("s"), person_years=part("y"), fund_report=fund, rejects=rejects, cached=[claims, persons, checked, raw, inc]
    )

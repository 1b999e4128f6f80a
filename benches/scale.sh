#!/usr/bin/env bash
# Scale benchmark (a script, not a timed test): a city-year of 100M claims under a memory
# limit, against the 10M year of the same script.
#
#   benches/scale.sh                          # 1M and 10M persons, 2024, seed 1, 6GiB, 3 runs
#   RUNS=1 benches/scale.sh                   # one run of each
#   SMALL=100000 BIG=1000000 benches/scale.sh # a quick look
#
# Data: `generate --persons N --year 2024 --format parquet` (streamed; ~10.36 claims a person),
# the claims then cut into FILES Parquet files in order (DuckDB, from PyPI into
# bench-data/venv), as a city's extract arrives. Each run is `settle --format parquet
# --memory-limit $LIMIT` under GNU time (wall, peak RSS) with MEDSETTLE_TIMINGS=1 (phases,
# partitions, spill volume); the sizes alternate, RUNS times. Targets (issue 10): the big year
# completes with peak RSS ≤ 8 GiB and wall ≤ 11 × the small year's (near-linear).
# Needs ~25 GB of free disk at 100M claims (input, spill, outputs). Data goes to bench-data/.
set -euo pipefail
cd "$(dirname "$0")/.."

SMALL=${SMALL:-1000000}
BIG=${BIG:-10000000}
YEAR=${YEAR:-2024}
SEED=${SEED:-1}
RUNS=${RUNS:-3}
FILES=${FILES:-4}
LIMIT=${LIMIT:-6GiB}
DUCKDB_VERSION=${DUCKDB_VERSION:-2.0.1}
WORK=bench-data/scale-out
mkdir -p "$WORK"

# shellcheck source=benches/common.sh
. benches/common.sh
needs_time scale.sh
release_build
duckdb_venv "$DUCKDB_VERSION"

# data PERSONS → sets DIR (persons.parquet and claims-K.parquet)
data() {
  DIR=bench-data/scale-$1-$YEAR-$SEED
  if [ ! -f "$DIR/claims-$((FILES - 1)).parquet" ]; then
    if [ ! -f "$DIR/claims.parquet" ]; then
      echo "== generate --persons $1"
      /usr/bin/time -f "generate: %e s, %M KiB" "$BIN" generate --persons "$1" --year "$YEAR" --seed "$SEED" --out "$DIR" --format parquet
    fi
    echo "== cut the claims into $FILES files"
    "$PY" - "$DIR" "$FILES" <<'EOF'
import sys, duckdb
d, k = sys.argv[1], int(sys.argv[2])
con = duckdb.connect()
con.execute("SET threads = 2")
con.execute("SET preserve_insertion_order = true")
n = con.execute(f"SELECT count(*) FROM read_parquet('{d}/claims.parquet')").fetchone()[0]
for i in range(k):
    lo, hi = n * i // k, n * (i + 1) // k
    con.execute(f"COPY (SELECT * EXCLUDE (file_row_number) FROM read_parquet('{d}/claims.parquet', file_row_number = true) "
                f"WHERE file_row_number >= {lo} AND file_row_number < {hi}) TO '{d}/claims-{i}.parquet' (FORMAT parquet, COMPRESSION zstd)")
print(n, "claims in", k, "files")
EOF
    rm -f "$DIR/claims.parquet"
  fi
}

data "$SMALL"; SMALL_DIR=$DIR
data "$BIG"; BIG_DIR=$DIR
df -h bench-data | tail -1

# run LABEL DIR: one settle, appends "label wall_s peak_kib" to $WORK/runs.txt
run() {
  local label=$1 dir=$2 log=$WORK/$1.log
  local claims=()
  for ((i = 0; i < FILES; i++)); do claims+=("$dir/claims-$i.parquet"); done
  rm -rf "$WORK/out-$label"
  if ! MEDSETTLE_TIMINGS=1 /usr/bin/time -v "$BIN" settle --claims "${claims[@]}" --persons "$dir/persons.parquet" \
      --out "$WORK/out-$label" --format parquet --memory-limit "$LIMIT" --max-reject-rate 1 >"$log" 2>&1; then
    echo "$label failed:" >&2; tail -20 "$log" >&2; exit 1
  fi
  local wall kb
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, t, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + t[i]; print s }' "$log")
  kb=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$log")
  printf "%-6s %9.1f s %7.2f GiB   (load %s)\n" "$label" "$wall" "$(echo "$kb / 1048576" | bc -l)" "$(cut -d' ' -f1 /proc/loadavg)"
  grep -E "^timing:|^spill:|claims read" "$log" | sed 's/^/         /'
  echo "$label $wall $kb" >>"$WORK/runs.txt"
  rm -rf "$WORK/out-$label"
}

: >"$WORK/runs.txt"
echo "== measure: --memory-limit $LIMIT, $RUNS run(s) each, alternated"
for ((r = 1; r <= RUNS; r++)); do
  run small "$SMALL_DIR"
  run big "$BIG_DIR"
done

[ "$RUNS" -gt 0 ] || { echo "RUNS=0: the data is ready, nothing measured"; exit 0; }
awk '
  { wall[$1] = wall[$1] " " $2; kb[$1] = kb[$1] " " $3 }
  function median(s,   a, n, i, j, t) {
    n = split(s, a, " ");
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  END {
    ws = median(wall["small"]); wb = median(wall["big"]); kb_big = median(kb["big"]);
    printf "median small: %.1f s, %.2f GiB\n", ws, median(kb["small"]) / 1048576;
    printf "median big:   %.1f s, %.2f GiB\n", wb, kb_big / 1048576;
    printf "big / small wall: %.2f (target ≤ 11) %s\n", wb / ws, (wb / ws <= 11 ? "met" : "MISSED");
    printf "big peak RSS: %.2f GiB (target ≤ 8) %s\n", kb_big / 1048576, (kb_big / 1048576 <= 8 ? "met" : "MISSED");
  }' "$WORK/runs.txt"

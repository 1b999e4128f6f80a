#!/usr/bin/env bash
# Sweep benchmark: a 20-point `scenario --sweep` on the 10.36-million-claim year against one
# `settle` of the same data. The sweep reads and orders the input once and re-runs only the
# kernel, keeping the totals of each point: target ≤ 3 × settle's wall time, and peak memory
# that does not grow with the number of points (compare the 2-point and 20-point runs).
#
#   benches/sweep.sh                 # 1,000,000 persons, 2024, seed 1 → ~10.36M claims
#   PERSONS=100000 benches/sweep.sh  # smaller
set -euo pipefail
cd "$(dirname "$0")/.."

PERSONS=${PERSONS:-1000000}
YEAR=${YEAR:-2024}
SEED=${SEED:-1}
KEY=${KEY:-inpatient.cap}
DATA=bench-data/large-$PERSONS-$YEAR-$SEED
OUT=bench-data/sweep-out

if [ ! -x /usr/bin/time ]; then
  echo "sweep.sh needs GNU time at /usr/bin/time (peak memory); install it: apt-get install time" >&2
  exit 1
fi
cargo build --release --locked
BIN=target/release/medsettle
if [ ! -f "$DATA/claims.parquet" ]; then
  "$BIN" generate --persons "$PERSONS" --year "$YEAR" --seed "$SEED" --out "$DATA" --format parquet
fi

measure() { # label, command...
  local label=$1; shift
  local log; log=$(mktemp)
  /usr/bin/time -f "%e %M" -o "$log" "$@" >/dev/null 2>&1
  read -r wall kb <"$log"; rm -f "$log"
  echo "$label $wall $kb"
}

read -r _ settle_s settle_kb < <(measure settle "$BIN" settle --claims "$DATA/claims.parquet" --persons "$DATA/persons.parquet" --out "$OUT/settle" --format parquet)
read -r _ two_s two_kb < <(measure sweep2 "$BIN" scenario --claims "$DATA/claims.parquet" --persons "$DATA/persons.parquet" --sweep "$KEY=300000..305000:5000" --out "$OUT/sweep2")
read -r _ twenty_s twenty_kb < <(measure sweep20 "$BIN" scenario --claims "$DATA/claims.parquet" --persons "$DATA/persons.parquet" --sweep "$KEY=300000..395000:5000" --out "$OUT/sweep20")
awk -v s="$settle_s" -v sk="$settle_kb" -v a="$two_s" -v ak="$two_kb" -v b="$twenty_s" -v bk="$twenty_kb" 'BEGIN {
  printf "settle:          %6.1f s, peak %.2f GiB\n", s, sk / 1048576
  printf "sweep, 2 points: %6.1f s, peak %.2f GiB\n", a, ak / 1048576
  printf "sweep, 20 points:%6.1f s, peak %.2f GiB (%.2f × settle; target ≤ 3: %s)\n", b, bk / 1048576, b / s, (b <= 3 * s ? "met" : "NOT met")
  printf "peak memory 20 vs 2 points: %+.0f MiB (%s)\n", (bk - ak) / 1024, (bk <= ak * 1.05 ? "does not grow" : "GROWS")
}'

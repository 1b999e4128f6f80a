#!/usr/bin/env bash
# End-to-end benchmark: about 10 million claims (Parquet) through `medsettle settle`.
#
#   benches/large.sh                 # 1,000,000 persons, 2024 → ~10.4M claims
#   PERSONS=200000 benches/large.sh  # smaller
#
# Data and outputs go to bench-data/ (not in git). The data is generated once per
# (persons, year, seed) and reused. Reports generate speed, then settle's wall time, claims/s
# and peak memory (GNU time's "Maximum resident set size"), and the time of each phase
# (MEDSETTLE_TIMINGS=1). Target on a 2-core machine: ≤ 20 s and ≤ 4 GiB.
set -euo pipefail
cd "$(dirname "$0")/.."

PERSONS=${PERSONS:-1000000}
YEAR=${YEAR:-2024}
SEED=${SEED:-1}
DATA=bench-data/large-$PERSONS-$YEAR-$SEED
OUT=bench-data/large-out

if [ ! -x /usr/bin/time ]; then
  echo "large.sh needs GNU time at /usr/bin/time (peak memory); install it: sudo apt-get install time" >&2
  exit 1
fi

echo "== cargo build --release"
cargo build --release --locked
BIN=target/release/medsettle

if [ ! -f "$DATA/claims.parquet" ] || [ ! -f "$DATA/persons.parquet" ]; then
  echo "== generate $PERSONS persons, $YEAR, seed $SEED → $DATA"
  /usr/bin/time -f "generate: %e s wall, %M KB peak" "$BIN" generate --persons "$PERSONS" --year "$YEAR" --seed "$SEED" --out "$DATA" --format parquet
fi
ls -l "$DATA"

echo "== settle (end to end)"
LOG=$(mktemp)
trap 'rm -f "$LOG"' EXIT
MEDSETTLE_TIMINGS=1 /usr/bin/time -v "$BIN" settle --claims "$DATA/claims.parquet" --persons "$DATA/persons.parquet" --out "$OUT" 2>"$LOG"
grep -E '^timing:' "$LOG" || true
grep -E '^medsettle settle:' "$LOG"

wall=$(grep 'Elapsed (wall clock)' "$LOG" | awk '{print $NF}' | awk -F: '{ if (NF == 3) print $1*3600 + $2*60 + $3; else print $1*60 + $2 }')
rss_kb=$(grep 'Maximum resident set size' "$LOG" | awk '{print $NF}')
claims=$(grep -E '^medsettle settle:' "$LOG" | sed -E 's/^medsettle settle: ([0-9]+) claims read.*/\1/')
user=$(grep 'User time' "$LOG" | awk '{print $NF}')
sys=$(grep 'System time' "$LOG" | awk '{print $NF}')
awk -v w="$wall" -v r="$rss_kb" -v n="$claims" -v u="$user" -v s="$sys" 'BEGIN {
  printf "== result: %d claims in %.1f s wall (user %.1f s, sys %.1f s): %.0f claims/s; peak RSS %.2f GiB\n", n, w, u, s, n / w, r / 1048576
  printf "   target ≤ 20 s: %s; ≤ 4 GiB: %s\n", (w <= 20 ? "met" : "NOT met"), (r <= 4194304 ? "met" : "NOT met")
}'

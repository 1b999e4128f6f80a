#!/usr/bin/env bash
# CSV parsers alone, one thread, on the 10.36M-claim CSV (a script, not a timed test):
#
#   benches/csv_parsers.sh              # 1,000,000 persons, 2024, seed 1
#
# csv      the csv crate, one reused ByteRecord (RFC 4180: a quoted field may span lines)
# arrow    arrow-csv into Utf8 record batches of 64k rows
# lines    medsettle's splitting: every physical line one row, fields cut with memchr
# Each prints rows, fields, seconds, MB/s and rows/s; 3 alternated runs.
set -euo pipefail
cd "$(dirname "$0")/.."

PERSONS=${PERSONS:-1000000}
DATA=bench-data/large-$PERSONS-2024-1-csv
# shellcheck source=benches/common.sh
. benches/common.sh
release_build
if [ ! -f "$DATA/claims.csv" ]; then
  "$BIN" generate --persons "$PERSONS" --year 2024 --seed 1 --out "$DATA" --format csv
fi
cargo build --release --manifest-path benches/csv-parsers/Cargo.toml --target-dir bench-data/csv-parsers-target
for _ in 1 2 3; do
  for w in lines csv arrow; do
    bench-data/csv-parsers-target/release/csv-parsers "$DATA/claims.csv" "$w"
  done
done

#!/usr/bin/env bash
# SQLite alone, one thread, at the first run's volume (a script, not a timed test): what the
# nightly state's layouts cost to write (benches/state-probe/src/main.rs says what each is).
#
#   benches/state_probe.sh                       # every layout once
#   PAGE_SIZE=16384 benches/state_probe.sh packs  # schema 3's packs with 16 KiB pages
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bench-data
cargo build --release --manifest-path benches/state-probe/Cargo.toml --target-dir bench-data/state-probe-target
for layout in "${@:-rows slim multi keys textkeys packs}"; do
  for l in $layout; do
    bench-data/state-probe-target/release/state-probe "$l"
  done
done

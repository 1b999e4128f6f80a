# Shared steps of the benchmark scripts (sourced, not run): GNU time, the release build, DuckDB.

# needs_time NAME: GNU time at /usr/bin/time (peak memory), installed with apt when missing.
needs_time() {
  if [ ! -x /usr/bin/time ]; then
    apt-get install -y time >/dev/null 2>&1 || { echo "$1 needs GNU time at /usr/bin/time" >&2; exit 1; }
  fi
}

# release_build: builds the binary and sets BIN.
release_build() {
  echo "== cargo build --release"
  cargo build --release --locked
  BIN=target/release/medsettle
}

# duckdb_venv VERSION: DuckDB from PyPI in bench-data/venv; sets PY.
duckdb_venv() {
  local venv=bench-data/venv
  if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import duckdb" 2>/dev/null; then
    echo "== installing duckdb $1 into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet "duckdb==$1"
  fi
  PY=$venv/bin/python
}

#!/usr/bin/env bash
# CI for the Python package and the Spark scale-out (called at the end of .ci/run):
# lints the binding crate, builds the abi3 wheel with maturin, and runs the pytest suites
# (against the command line's outputs), the notebook-style example, and the Spark tests
# (local[2] and a standalone cluster on 127.0.0.1). Installs what it needs: Java 17 (Debian)
# if `java` is missing, and a virtualenv under target/ with maturin, pyarrow, polars,
# pandas, matplotlib, pytest and pyspark from PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
step() { echo "== python/ci.sh: $* ($(( $(date +%s) - start )) s)"; }

if ! command -v java >/dev/null 2>&1; then
  step "installing Java 17"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >/dev/null
fi
PY=${PYTHON:-python3}
VENV=target/pyvenv
if [ ! -x "$VENV/bin/python" ]; then
  step "virtualenv"
  "$PY" -m venv "$VENV"
fi
"$VENV/bin/pip" install -q --disable-pip-version-check \
  "maturin>=1.7,<2" "pyarrow>=14" polars pandas matplotlib pytest "pyspark>=3.5"

step "cargo clippy (binding crate)"
cargo clippy -p medsettle-python --locked -- -D warnings
step "medsettle binary and wheel"
cargo build --locked --bin medsettle
# The dev profile shares the command line's compiled dependencies (deps are optimised
# there, see Cargo.toml); a release wheel is `maturin build --release`.
"$VENV/bin/maturin" build --locked --profile dev -m python/Cargo.toml -o target/wheels --interpreter "$VENV/bin/python" -q
"$VENV/bin/pip" install -q --force-reinstall --no-deps target/wheels/medsettle-*.whl

export MEDSETTLE_BIN="$PWD/target/debug/medsettle"
step "pytest"
set +e
"$VENV/bin/python" -m pytest -q -p no:cacheprovider python/tests
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "python/ci.sh: pytest collected no tests (exit code 5): the suites are missing" >&2
  exit 1
elif [ "$rc" -ne 0 ]; then
  exit "$rc"
fi
step "example"
rm -rf target/example
"$VENV/bin/python" python/examples/scenario_notebook.py target/example
test -s target/example/burden_by_category.png
step "done"

#!/usr/bin/env bash
# CI for the Python package and the Spark scale-out (called by .ci/run after cargo test):
# lints the binding crate, builds the abi3 wheel with maturin, and runs the pytest suites
# (against the command line's outputs), the notebook-style example, and the Spark tests
# (local[2] and a standalone cluster on 127.0.0.1). Installs what it needs: Java 17 and
# Python's venv (Debian) if missing, and a virtualenv under target/ with maturin, pyarrow, polars,
# pandas, matplotlib, pytest and pyspark from PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
step() { echo "== python/ci.sh: $* ($(( $(date +%s) - start )) s)"; }

PY=${PYTHON:-python3}
need=()
command -v java >/dev/null 2>&1 || need+=(openjdk-17-jre-headless)
"$PY" -c "import venv, ensurepip" >/dev/null 2>&1 || need+=(python3 python3-venv)
if [ ${#need[@]} -gt 0 ]; then
  step "apt-get install ${need[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
VENV=target/pyvenv
if [ ! -x "$VENV/bin/python" ]; then
  step "virtualenv"
  "$PY" -m venv "$VENV"
fi
step "pip install (PyPI)"
"$VENV/bin/pip" install -q --disable-pip-version-check \
  "maturin>=1.7,<2" "pyarrow>=14" polars pandas matplotlib pytest "pyspark>=3.5"

step "cargo clippy (binding crate)"
cargo clippy -p medsettle-python --locked -- -D warnings
step "medsettle binary (the test build's, a no-op after cargo test)"
# `cargo test` builds target/debug/medsettle; `cargo build --bin` would resolve features
# without the dev-dependencies and recompile it and its dependencies.
cargo test --locked --no-run -q
step "wheel"
# The dev profile reuses the compiled dependencies of `cargo test` (deps are optimised there,
# see Cargo.toml; python/Cargo.toml aligns their features); a release wheel is
# `maturin build --release`. The crates compiled here should be pyo3's and the binding's.
rm -rf target/wheels
if ! "$VENV/bin/maturin" build --locked --profile dev -m python/Cargo.toml -o target/wheels --interpreter "$VENV/bin/python" \
  >target/wheel-build.log 2>&1; then
  cat target/wheel-build.log >&2
  exit 1
fi
grep -E "Compiling|Built wheel" target/wheel-build.log || true
echo "python/ci.sh: the wheel build compiled $(grep -c "Compiling" target/wheel-build.log) crate(s)"
"$VENV/bin/pip" install -q --force-reinstall --no-deps target/wheels/medsettle-*.whl

export MEDSETTLE_BIN="$PWD/target/debug/medsettle"
step "pytest"
set +e
"$VENV/bin/python" -m pytest -q -p no:cacheprovider --durations=12 python/tests
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

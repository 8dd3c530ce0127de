#!/usr/bin/env bash
# Runs every test of the workspace N times in a row (default 20) while every
# core is kept busy by other processes, and reports failures and hangs.
# Exits non-zero if any run had one.
#
#   scripts/under-load.sh [N]
#
# Load: `stress-ng --cpu <cores>` if it is installed (Debian: stress-ng),
# else one shell busy loop per core. The tests are built first, without load.
# Each run is the test binaries under cargo-nextest (profile `under-load` in
# .config/nextest.toml: a test still running after 5 minutes is killed and
# reported as a hang), then the doctests (`cargo test --doc`); without
# cargo-nextest, `cargo test --workspace`. Every run is also bounded as a
# whole by `timeout` (RUN_TIMEOUT seconds, default 1800). Logs go to
# target/under-load/.
set -uo pipefail
cd "$(dirname "$0")/.."
runs="${1:-20}"
run_limit="${RUN_TIMEOUT:-1800}"
cores="$(nproc)"
logs="target/under-load"
mkdir -p "$logs"

load_pids=()
stop_load() {
  for p in "${load_pids[@]}"; do
    kill "$p" 2>/dev/null
  done
  wait "${load_pids[@]}" 2>/dev/null
  load_pids=()
}
trap stop_load EXIT

if cargo nextest --version >/dev/null 2>&1; then
  nextest=1
else
  nextest=0
  echo "cargo-nextest not found: running cargo test --workspace (no per-test timeout)"
fi

echo "== building the tests (no load yet)"
if [ "$nextest" = 1 ]; then
  cargo nextest run --workspace --no-run || exit 1
fi
cargo test --workspace --no-run || exit 1

echo "== loading all $cores cores"
if command -v stress-ng >/dev/null 2>&1; then
  stress-ng --cpu "$cores" --quiet &
  load_pids+=("$!")
else
  for _ in $(seq 1 "$cores"); do
    sh -c 'while :; do :; done' &
    load_pids+=("$!")
  done
fi

bad=0
for i in $(seq 1 "$runs"); do
  log="$logs/run-$i.log"
  start=$(date +%s)
  if [ "$nextest" = 1 ]; then
    timeout --kill-after=30 "$run_limit" \
      cargo nextest run --workspace --profile under-load >"$log" 2>&1
    rc=$?
    if [ "$rc" = 0 ]; then
      timeout --kill-after=30 "$run_limit" cargo test --workspace --doc >>"$log" 2>&1
      rc=$?
    fi
  else
    timeout --kill-after=30 "$run_limit" cargo test --workspace >"$log" 2>&1
    rc=$?
  fi
  took=$(( $(date +%s) - start ))
  if [ "$rc" = 0 ]; then
    echo "run $i/$runs: clean (${took}s)"
    continue
  fi
  bad=$((bad + 1))
  if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
    echo "run $i/$runs: HANG, the whole run passed ${run_limit}s (${took}s); log: $log"
    grep -E "^\s+Running |^     Running " "$log" | tail -1
  else
    echo "run $i/$runs: FAILED (exit $rc, ${took}s); log: $log"
  fi
  # nextest: TIMEOUT lines are hangs, FAIL lines failures; cargo test:
  # `... FAILED` lines and panics.
  grep -E "^\s*(TIMEOUT|FAIL|SIGKILL|SIGSEGV|SIGABRT) |^test .* FAILED$|panicked at" "$log" | sort -u | head -20
done

stop_load
echo "== $((runs - bad)) of $runs runs clean"
[ "$bad" = 0 ]

#!/usr/bin/env bash
# The long checks that `cargo test --workspace` leaves out, in release, with
# their assertions (see RELIABILITY.md):
# - 100,000 children in one group: all start and become healthy, all stop
#   in a clean report, every drop guard runs, nothing restarts;
# - 1,000,000 restarts of one child: the heap of the tree's thread grows by
#   at most 4 KiB between the end of the warm-up and the end;
# - the model check with 10,000 cases (PROPTEST_CASES overrides it).
# Each step is bounded by `timeout` (STEP_TIMEOUT seconds, default 1800).
#
#   scripts/long-checks.sh
set -euo pipefail
cd "$(dirname "$0")/.."
limit="${STEP_TIMEOUT:-1800}"

step() {
  echo "== $*"
  if ! timeout --kill-after=10 "$limit" "$@"; then
    echo "FAILED (or over ${limit}s): $*" >&2
    exit 1
  fi
}

step cargo test -p supervisor-faults --release --test scale -- \
  --ignored --nocapture --test-threads 1 \
  hundred_thousand_children_start_and_stop soak_one_million_restarts
step env PROPTEST_CASES="${PROPTEST_CASES:-10000}" \
  cargo test -p supervisor-faults --release --test model -- --nocapture
echo "== all long checks passed"

#!/usr/bin/env bash
# Measures how long rustc takes to compile a 200-node tree written with
# `supervision_tree!`, against the same tree written with the builder by
# hand and against an empty `main`. Dependencies are built once first; each
# variant is then rebuilt N times (default 5) after touching its source, and
# the median wall time is reported.
#
#   scripts/compile-time.sh [N]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
runs="${1:-5}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

groups=20   # 20 groups x 9 leaves + 20 groups = 200 nodes
leaves=9

gen_macro() {
  echo 'use supervisor::prelude::*;'
  echo '#[runnable] async fn leaf(ctx: Context, n: u32) -> Result<(), std::io::Error> { let _ = n; ctx.healthy(); ctx.cancelled().await; Ok(()) }'
  echo 'fn main() {'
  echo '  let tree = supervision_tree! {'
  echo '    #[intensity(max = 5, within = 10s)]'
  echo '    sequential app {'
  for g in $(seq 1 $((groups - 1))); do
    echo "      #[strategy(one_for_all), shutdown(timeout = 5s)]"
    echo "      parallel g$g {"
    for l in $(seq 1 $leaves); do
      echo "        #[restart(transient), backoff(initial = 100ms, max = 2s)]"
      echo "        l$l: leaf($l),"
    done
    echo "      },"
  done
  for l in $(seq 1 $((leaves + 1))); do echo "      l$l: leaf($l),"; done
  echo '    }'
  echo '  };'
  echo '  drop(tree);'
  echo '}'
}

gen_builder() {
  echo 'use std::time::Duration;'
  echo 'use supervisor::prelude::*;'
  echo '#[runnable] async fn leaf(ctx: Context, n: u32) -> Result<(), std::io::Error> { let _ = n; ctx.healthy(); ctx.cancelled().await; Ok(()) }'
  echo 'fn main() {'
  echo '  let tree = Tree::new(Group::sequential("app")'
  echo '    .intensity(Intensity::new(5, Duration::from_secs(10)))'
  for g in $(seq 1 $((groups - 1))); do
    echo "    .group(Group::parallel(\"g$g\").strategy(Strategy::OneForAll).shutdown(Shutdown::Timeout(Duration::from_secs(5)))"
    for l in $(seq 1 $leaves); do
      echo "      .child(Child::new(\"l$l\", leaf($l)).restart(Restart::Transient).backoff(Backoff::exponential().initial(Duration::from_millis(100)).max(Duration::from_secs(2))))"
    done
    echo "    )"
  done
  for l in $(seq 1 $((leaves + 1))); do echo "    .child(Child::new(\"l$l\", leaf($l)))"; done
  echo '  );'
  echo '  drop(tree);'
  echo '}'
}

gen_empty() {
  echo 'fn main() {}'
}

mkdir -p "$work/ct/src/bin"
cat > "$work/ct/Cargo.toml" <<TOML
[package]
name = "compile-time"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
supervisor = { path = "$root" }

[workspace]
TOML
cp "$root/rust-toolchain.toml" "$work/ct/" 2>/dev/null || true
gen_macro > "$work/ct/src/bin/dsl.rs"
gen_builder > "$work/ct/src/bin/builder.rs"
gen_empty > "$work/ct/src/bin/empty.rs"
export CARGO_TARGET_DIR="$work/target"
(cd "$work/ct" && cargo build --quiet --bins)   # dependencies, once

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
measure() {
  local bin="$1"
  for _ in $(seq 1 "$runs"); do
    touch "$work/ct/src/bin/$bin.rs"
    local t0 t1
    t0=$(date +%s.%N)
    (cd "$work/ct" && cargo build --quiet --bin "$bin")
    t1=$(date +%s.%N)
    awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}'
  done | median
}

empty=$(measure empty)
builder=$(measure builder)
dsl=$(measure dsl)
printf '| variant | median build (s) | over empty main (s) |\n|---|---|---|\n'
printf '| empty main | %.3f | 0 |\n' "$empty"
printf '| builder, 200 nodes | %.3f | %.3f |\n' "$builder" "$(awk -v a="$builder" -v b="$empty" 'BEGIN {print a - b}')"
printf '| supervision_tree!, 200 nodes | %.3f | %.3f |\n' "$dsl" "$(awk -v a="$dsl" -v b="$empty" 'BEGIN {print a - b}')"
printf '\nratio dsl/builder: %.2f (target <= 1.5); dsl over empty main: %.2f s (target < 2 s)\n' \
  "$(awk -v a="$dsl" -v b="$builder" 'BEGIN {print a / b}')" "$(awk -v a="$dsl" -v b="$empty" 'BEGIN {print a - b}')"

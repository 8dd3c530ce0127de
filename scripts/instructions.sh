#!/usr/bin/env bash
# Instructions per child of ours and of raw tokio, counted by callgrind:
# nearly repeatable whatever else the machine does (wall-clock ratios on a
# shared machine are not): the same binary counted twice in one session
# agrees within 1 %, but on a loaded machine against a quiet one the totals
# moved by up to 3 % (how often the worker parks changes), so compare
# counts taken in one session. Per child by difference of runs of bench/examples/profile.rs
# that differ by one start, one start + stop, or 10,000 restart cycles.
# The runtime has one worker (BENCH_WORKERS, default 1 here): with two, the
# count depends on how the workers happened to steal and park, by up to 30 %.
#
#   scripts/instructions.sh [ours|raw ...]     (default: ours raw)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "valgrind is needed (apt-get install valgrind)" >&2; exit 2; }
RUSTFLAGS="${RUSTFLAGS:-} -C force-frame-pointers=yes" \
    cargo build -q -p supervisor-bench --release --example profile
bin=target/release/examples/profile
n=10000
count() { # args of profile -> total instructions
    local out
    out=$(mktemp)
    BENCH_WORKERS="${BENCH_WORKERS:-1}" valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" "$@" >/dev/null 2>&1
    callgrind_annotate "$out" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }'
    rm -f "$out"
}
per() { echo $(( ($1 - $2) / $3 )); }
impls=("${@:-ours raw}")
[ $# -eq 0 ] && impls=(ours raw)
printf '%-6s %12s %12s %12s %14s %14s\n' impl start/child stop/child restart tree-start/leaf tree-stop/leaf
for i in "${impls[@]}"; do
    idle=$(count "$i" idle)
    start=$(count "$i" start "$n")
    flat1=$(count "$i" flat "$n" 1)
    flat2=$(count "$i" flat "$n" 2)
    r1=$(count "$i" restart 10000 1)
    r2=$(count "$i" restart 20000 1)
    tstart=$(count "$i" tree-start)
    t1=$(count "$i" tree 0 1)
    t2=$(count "$i" tree 0 2)
    s=$(per "$start" "$idle" "$n")
    ss=$(per "$flat2" "$flat1" "$n")
    ts=$(per "$tstart" "$idle" 10000)
    tss=$(per "$t2" "$t1" 10000)
    printf '%-6s %12s %12s %12s %14s %14s\n' "$i" "$s" $((ss - s)) "$(per "$r2" "$r1" 10000)" "$ts" $((tss - ts))
done

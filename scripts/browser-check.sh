#!/usr/bin/env bash
# Checks the live view in a real browser: starts the demo, loads its page in
# headless Chromium, waits for the tree to render, adds a job, makes
# `app.flaky` fail, takes a screenshot while it backs off, checks that the
# page counts and flashes the restart, then stops the demo and checks that
# the page says the connection is lost. Exits non-zero if the page is blank,
# throws a script error, loads anything from elsewhere, or does not update.
#
#   scripts/browser-check.sh [SCREENSHOT]     (default: docs/live-view.png)
#
# Needs Node.js with npm, and Chromium at /usr/bin/chromium (installed with
# apt-get when missing). playwright-core drives it; it is installed into
# scripts/browser-check/node_modules from the lockfile (it downloads no
# browser).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
shot=${1:-docs/live-view.png}
case "$shot" in /*) ;; *) shot="$root/$shot" ;; esac
mkdir -p "$(dirname "$shot")"

say() { echo "browser-check: $*"; }

if [ ! -x /usr/bin/chromium ]; then
    say "installing Chromium (Debian package \`chromium\`)"
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q chromium
fi
command -v node >/dev/null || { say "Node.js is needed (apt-get install nodejs npm)"; exit 1; }

say "installing playwright-core from the lockfile"
(cd scripts/browser-check && npm ci --no-audit --no-fund --loglevel=error)

say "building the demo"
cargo build --quiet --example demo
target_dir=$(cargo metadata --format-version 1 --no-deps |
    node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).target_directory))')
demo="$target_dir/debug/examples/demo"

work=$(mktemp -d)
demo_pid=""
cleanup() {
    if [ -n "$demo_pid" ] && kill -0 "$demo_pid" 2>/dev/null; then
        kill -TERM "$demo_pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$demo_pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$demo_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')

# Run from an empty directory, with a time limit of its own in case this
# script is killed before its trap runs.
(cd "$work" && exec "$demo" --port "$port" --seconds 300) >"$work/demo.log" 2>&1 &
demo_pid=$!
say "demo started (pid $demo_pid, port $port)"

for _ in $(seq 600); do
    grep -q "live view" "$work/demo.log" && break
    kill -0 "$demo_pid" 2>/dev/null || { cat "$work/demo.log"; say "FAIL: the demo exited before it was up"; exit 1; }
    sleep 0.1
done
grep -q "live view" "$work/demo.log" || { cat "$work/demo.log"; say "FAIL: the demo was not up within 60 s"; exit 1; }

status=0
node scripts/browser-check/check.mjs \
    --url "http://127.0.0.1:$port/" \
    --screenshot "$shot" \
    --profile "$work/profile" \
    --demo-pid "$demo_pid" \
    --chromium /usr/bin/chromium || status=$?

# check.mjs stopped the demo with SIGINT: it must end, cleanly.
if [ "$status" -eq 0 ]; then
    for _ in $(seq 300); do kill -0 "$demo_pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$demo_pid" 2>/dev/null; then
        say "FAIL: the demo did not stop within 30 s of SIGINT"
        status=1
    else
        demo_status=0
        wait "$demo_pid" || demo_status=$?
        demo_pid=""
        if [ "$demo_status" -ne 0 ]; then
            say "FAIL: the demo exited with status $demo_status"
            status=1
        fi
    fi
fi
if [ "$status" -ne 0 ]; then
    say "demo output:"
    cat "$work/demo.log"
    exit "$status"
fi
tail -n 12 "$work/demo.log"
say "passed; screenshot in ${shot#"$root"/}"

#!/usr/bin/env bash
# Checks the live view in a real browser: starts the demo, loads its page in
# headless Chromium, waits for the tree to render, adds a job, makes
# `app.flaky` fail, takes a screenshot while it backs off, checks that the
# page counts and flashes the restart, then stops the demo and checks that
# the page says the connection is lost. Exits non-zero if the page is blank,
# throws a script error, loads anything from elsewhere, or does not update.
# Then it starts the demo again on the same jobs file and checks that the
# job added in the first run is running in the second.
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
jobs="$work/jobs.sqlite3"

# Starts the demo on $port and $jobs, logging to $1; waits until it is up.
start_demo() {
    local log=$1
    (cd "$work" && exec "$demo" --port "$port" --jobs "$jobs" --seconds 300) >"$log" 2>&1 &
    demo_pid=$!
    say "demo started (pid $demo_pid, port $port)"
    for _ in $(seq 600); do
        grep -q "live view" "$log" && return 0
        kill -0 "$demo_pid" 2>/dev/null || { cat "$log"; say "FAIL: the demo exited before it was up"; exit 1; }
        sleep 0.1
    done
    cat "$log"
    say "FAIL: the demo was not up within 60 s"
    exit 1
}

start_demo "$work/demo.log"

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

# The jobs live in a file: the job added above runs again in a new demo.
start_demo "$work/demo2.log"
node -e '
const url = process.argv[1];
fetch(url, { signal: AbortSignal.timeout(20000) })
  .then((r) => r.json())
  .then((jobs) => {
    const job = jobs.find((j) => j.key === "nightly");
    if (!job || job.state !== "healthy") {
      throw new Error("the job added in the first run is not running: " + JSON.stringify(jobs));
    }
    console.log("browser-check: ok: the second run runs the job added in the first (" + job.node + ")");
  })
  .catch((e) => { console.error("browser-check: FAIL: " + e.message); process.exit(1); });
' "http://127.0.0.1:$port/jobs" || { cat "$work/demo2.log"; exit 1; }
kill -INT "$demo_pid"
for _ in $(seq 300); do kill -0 "$demo_pid" 2>/dev/null || break; sleep 0.1; done
demo_status=0
wait "$demo_pid" || demo_status=$?
demo_pid=""
if [ "$demo_status" -ne 0 ]; then
    cat "$work/demo2.log"
    say "FAIL: the second demo exited with status $demo_status"
    exit 1
fi
say "passed; screenshot in ${shot#"$root"/}"

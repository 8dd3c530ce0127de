#!/usr/bin/env bash
# Runs a command with a throwaway PostgreSQL server:
#
#   scripts/with-postgres.sh cargo test -p supervisor-tables --all-features
#
# Installs PostgreSQL from the distribution's packages if it is missing
# (apt-get, Debian/Ubuntu), creates a cluster under a temporary directory,
# starts it on a free port of 127.0.0.1, exports DATABASE_URL, runs the
# command, then stops the server and removes the directory, whatever the
# command's outcome. The exit status is the command's.
#
# initdb refuses to run as root: as root, the cluster belongs to the
# `postgres` system user (created by the package) and the commands that
# touch it run as that user.
set -euo pipefail

if [ "$#" -eq 0 ]; then
    echo "usage: $0 COMMAND [ARGS...]" >&2
    exit 2
fi

say() { echo "with-postgres: $*" >&2; }

find_bindir() {
    local d
    for d in /usr/lib/postgresql/*/bin; do
        if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then
            echo "$d"
        fi
    done | sort -V | tail -n 1
}

BINDIR="$(find_bindir)"
if [ -z "$BINDIR" ] && command -v initdb >/dev/null && command -v pg_ctl >/dev/null; then
    BINDIR="$(dirname "$(command -v initdb)")"
fi
if [ -z "$BINDIR" ]; then
    if ! command -v apt-get >/dev/null; then
        say "PostgreSQL is not installed and apt-get is not available: install PostgreSQL (initdb, pg_ctl) and run again"
        exit 1
    fi
    say "installing PostgreSQL from the distribution's packages"
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    # Only the programs: no cluster of the package's own left running.
    $SUDO mkdir -p /etc/postgresql-common
    if [ ! -e /etc/postgresql-common/createcluster.conf ]; then
        echo "create_main_cluster = false" | $SUDO tee /etc/postgresql-common/createcluster.conf >/dev/null
    fi
    timeout 600 $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive timeout 900 $SUDO apt-get install -y -qq \
        -o Dpkg::Options::=--force-confold postgresql >/dev/null
    BINDIR="$(find_bindir)"
    if [ -z "$BINDIR" ]; then
        say "installed the postgresql package but found no initdb under /usr/lib/postgresql/*/bin"
        exit 1
    fi
fi

# Who runs the server: ourselves, or the postgres user when we are root.
AS=()
if [ "$(id -u)" -eq 0 ]; then
    if ! id postgres >/dev/null 2>&1; then
        useradd --system --home-dir /nonexistent --shell /usr/sbin/nologin postgres
    fi
    if command -v runuser >/dev/null; then
        AS=(runuser -u postgres --)
    else
        AS=(su postgres -s /bin/sh -c)
    fi
fi
as_db() {
    if [ "${#AS[@]}" -eq 0 ]; then
        "$@"
    elif [ "${AS[0]}" = "runuser" ]; then
        "${AS[@]}" "$@"
    else
        "${AS[@]}" "$(printf '%q ' "$@")"
    fi
}

DIR="$(mktemp -d "${TMPDIR:-/tmp}/with-postgres.XXXXXX")"
chmod 755 "$DIR"
if [ "${#AS[@]}" -ne 0 ]; then chown postgres "$DIR"; fi
DATA="$DIR/data"
LOG="$DIR/server.log"

cleanup() {
    local rc=$?
    if [ -f "$DATA/postmaster.pid" ]; then
        as_db timeout 30 "$BINDIR/pg_ctl" -D "$DATA" -m immediate -w -t 20 stop >/dev/null 2>&1 || {
            # The server did not stop in time: end it by its pid.
            pid="$(head -n 1 "$DATA/postmaster.pid" 2>/dev/null || true)"
            if [ -n "$pid" ]; then kill -9 "$pid" 2>/dev/null || true; fi
        }
    fi
    rm -rf "$DIR"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null && return
    # Without python: try ports until one is not listened on.
    local p
    for p in $(seq 25432 25532); do
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
    done
    return 1
}
PORT="$(free_port)"

as_db timeout 120 "$BINDIR/initdb" -D "$DATA" -U postgres -A trust --no-sync -E UTF8 >"$DIR/initdb.log" 2>&1 || {
    say "initdb failed:"; cat "$DIR/initdb.log" >&2; exit 1
}
# A test server: no durability work, more connections than the fleet tests use.
cat >>"$DATA/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$DIR'
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
if ! as_db timeout 60 "$BINDIR/pg_ctl" -D "$DATA" -l "$LOG" -w -t 50 start >/dev/null; then
    say "the server did not start; its log:"; cat "$LOG" >&2 || true; exit 1
fi

export DATABASE_URL="postgres://postgres@127.0.0.1:$PORT/postgres"
say "PostgreSQL $("$BINDIR/postgres" --version | sed -n 's/.*(PostgreSQL) \([^ ]*\).*/\1/p') on port $PORT; DATABASE_URL=$DATABASE_URL"
set +e
"$@"
rc=$?
set -e
exit "$rc"

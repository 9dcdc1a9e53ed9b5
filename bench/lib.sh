# Shared helpers of the bench scripts (sourced, not run).
DURATION=${DURATION:-10}
CONNS=${CONNS:-32}
PORT=${PORT:-18080}
BASE="http://127.0.0.1:$PORT"
PASSWORD="Bench-mark-password-2026"
# BIN=path runs the bench against another build (say, the previous commit's, for a comparison in the same hour).
BIN=${BIN:-target/release/hocvuso}

need_tools() {
  for tool in wrk curl; do
    command -v "$tool" >/dev/null || { echo "installing $tool (Debian package)…"; (apt-get update -qq && apt-get install -y -qq "$tool") >/dev/null; }
  done
  cargo build --release -q --bin hocvuso
}

# new_env: a fresh data folder and database for this run.
new_env() {
  WORK=$(mktemp -d)
  export DATABASE_URL="sqlite://$WORK/hocvuso.db" HOCVUSO_DATA_DIR="$WORK" HOCVUSO_BIND="127.0.0.1:$PORT" \
    HOCVUSO_ADMIN_PASSWORD="$PASSWORD" HOCVUSO_LOG=${HOCVUSO_LOG:-warn} HOCVUSO_WORKERS=2 HOCVUSO_POOL_SIZE=8
}

# start_server: starts the release binary; sets SERVER_PID and ready_ms.
start_server() {
  local start_ns
  start_ns=$(date +%s%N)
  $BIN serve 2>"$WORK/server.log" &
  SERVER_PID=$!
  until curl -sf "$BASE/readyz" >/dev/null; do sleep 0.005; done
  ready_ms=$(( ($(date +%s%N) - start_ns) / 1000000 ))
}

cleanup() { kill "${SERVER_PID:-}" 2>/dev/null || true; rm -rf "$WORK"; }

rss() { awk '/VmRSS/ {printf "%.1f MB", $2/1024}' "/proc/$SERVER_PID/status"; }

# measure ARGS… → "req/s p50 p99 non2xx" from wrk.
measure() {
  wrk -t2 -c"$CONNS" -d"${DURATION}s" --latency "$@" 2>/dev/null | awk '
    /Requests\/sec/ {rps=$2}
    /^ +50%/ {p50=$2} /^ +99%/ {p99=$2}
    /Non-2xx/ {bad=$NF}
    END {printf "%s %s %s %s", rps, p50, p99, (bad==""?0:bad)}'
}

login() {
  curl -sf -H 'Content-Type: application/json' -d "{\"username\":\"admin\",\"password\":\"$PASSWORD\"}" "$BASE/api/v1/auth/login" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}

row() { printf "%-44s %10s %9s %9s %6s\n" "$@"; }
machine() { echo "$(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"; }

# use_backend: SQLite (the default), or with PG=1 a fresh PostgreSQL database on
# 127.0.0.1:5432, dropped on exit; sets `backend` and the exit trap.
use_backend() {
  backend=SQLite
  if [ "${PG:-0}" = 1 ]; then
    PGDB="hocvuso_bench_$$"
    createdb -h 127.0.0.1 -U postgres "$PGDB"
    export DATABASE_URL="postgres://postgres@127.0.0.1:5432/$PGDB"
    backend=PostgreSQL
    trap 'cleanup; dropdb -h 127.0.0.1 -U postgres --if-exists "$PGDB"' EXIT
  else
    trap cleanup EXIT
  fi
}

#!/usr/bin/env bash
# Benchmarks of the foundation (issue: foundation). Starts the release binary on a fresh
# SQLite database and drives it with wrk over loopback, 10 s per endpoint, 32 connections,
# 2 threads, on the same machine. Prints req/s, p50/p99 and the server's RSS.
#
#   bench/run.sh            # all figures
#   DURATION=5 bench/run.sh # shorter runs
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}
CONNS=${CONNS:-32}
PORT=${PORT:-18080}
BASE="http://127.0.0.1:$PORT"

if ! command -v wrk >/dev/null; then
  echo "installing wrk (Debian package)…"
  (apt-get update -qq && apt-get install -y -qq wrk) >/dev/null
fi
if ! command -v curl >/dev/null; then
  (apt-get update -qq && apt-get install -y -qq curl) >/dev/null
fi
cargo build --release -q --bin hocvuso
BIN=target/release/hocvuso

WORK=$(mktemp -d)
trap 'kill $SERVER_PID 2>/dev/null || true; rm -rf "$WORK"' EXIT
export DATABASE_URL="sqlite://$WORK/hocvuso.db" HOCVUSO_DATA_DIR="$WORK" HOCVUSO_BIND="127.0.0.1:$PORT" \
  HOCVUSO_ADMIN_PASSWORD="Bench-mark-password-2026" HOCVUSO_LOG=warn HOCVUSO_WORKERS=2 HOCVUSO_POOL_SIZE=8

start_ns=$(date +%s%N)
$BIN serve 2>"$WORK/server.log" &
SERVER_PID=$!
until curl -sf "$BASE/readyz" >/dev/null; do sleep 0.005; done
ready_ms=$(( ($(date +%s%N) - start_ns) / 1000000 ))

rss() { awk '/VmRSS/ {printf "%.1f MB", $2/1024}' /proc/$SERVER_PID/status; }
# wrk → "req/s p50 p99"
measure() {
  wrk -t2 -c"$CONNS" -d"${DURATION}s" --latency "$@" 2>/dev/null | awk '
    /Requests\/sec/ {rps=$2}
    /^ +50%/ {p50=$2} /^ +99%/ {p99=$2}
    /Non-2xx/ {bad=$NF}
    END {printf "%s %s %s %s", rps, p50, p99, (bad==""?0:bad)}'
}
login() {
  curl -sf -H 'Content-Type: application/json' -d '{"username":"admin","password":"Bench-mark-password-2026"}' "$BASE/api/v1/auth/login" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}

idle_rss=$(rss)
TOKEN=$(login)
read -r h_rps h_p50 h_p99 h_bad <<<"$(measure "$BASE/healthz")"
read -r m_rps m_p50 m_p99 m_bad <<<"$(measure -H "Authorization: Bearer $TOKEN" "$BASE/api/v1/me")"

# /me again while 20 clients sign in continuously (one wrk process keeps 20 sign-ins in
# flight, so the load tool itself costs little CPU).
wrk -t1 -c20 -d"$((DURATION + 2))s" -s bench/login.lua "$BASE/api/v1/auth/login" >"$WORK/logins.txt" 2>&1 &
LOGINS=$!
sleep 1
read -r l_rps l_p50 l_p99 l_bad <<<"$(measure -H "Authorization: Bearer $TOKEN" "$BASE/api/v1/me")"
wait $LOGINS || true
logins_per_s=$(awk '/Requests\/sec/ {print $2}' "$WORK/logins.txt")
loaded_rss=$(rss)

ratio=$(python3 -c "print(f'{100*$m_rps/$h_rps:.0f}%')")
echo
echo "hocvuso foundation bench — $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), SQLite, wrk -t2 -c$CONNS -d${DURATION}s on the same machine"
echo "start-up to ready (empty database): ${ready_ms} ms"
echo "RSS idle: $idle_rss; after load: $loaded_rss"
printf "%-40s %10s %9s %9s %6s\n" endpoint req/s p50 p99 non2xx
printf "%-40s %10s %9s %9s %6s\n" "GET /healthz" "$h_rps" "$h_p50" "$h_p99" "$h_bad"
printf "%-40s %10s %9s %9s %6s\n" "GET /api/v1/me" "$m_rps" "$m_p50" "$m_p99" "$m_bad"
printf "%-40s %10s %9s %9s %6s\n" "GET /api/v1/me + 20 parallel logins" "$l_rps" "$l_p50" "$l_p99" "$l_bad"
echo "/api/v1/me throughput vs /healthz: $ratio; sign-ins completed during the loaded run: ${logins_per_s}/s"

#!/usr/bin/env bash
# Benchmarks of the foundation: starts the release binary on a fresh SQLite database and
# drives it with wrk over loopback (10 s per endpoint, 32 connections, 2 threads, on the
# same machine). Prints req/s, p50/p99 and the server's RSS. See also bench/classes.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
need_tools
new_env
trap cleanup EXIT
start_server
idle_rss=$(rss)
TOKEN=$(login)
read -r h_rps h_p50 h_p99 h_bad <<<"$(measure "$BASE/healthz")"
read -r m_rps m_p50 m_p99 m_bad <<<"$(measure -H "Authorization: Bearer $TOKEN" "$BASE/api/v1/me")"
# /me again while 20 sign-ins stay in flight (one wrk process, so the load tool itself
# costs little CPU).
wrk -t1 -c20 -d"$((DURATION + 2))s" -s bench/login.lua "$BASE/api/v1/auth/login" >"$WORK/logins.txt" 2>&1 &
LOGINS=$!
sleep 1
read -r l_rps l_p50 l_p99 l_bad <<<"$(measure -H "Authorization: Bearer $TOKEN" "$BASE/api/v1/me")"
wait $LOGINS || true
logins_per_s=$(awk '/Requests\/sec/ {print $2}' "$WORK/logins.txt")
loaded_rss=$(rss)

echo
echo "hocvuso foundation bench — $(machine), SQLite, wrk -t2 -c$CONNS -d${DURATION}s on the same machine"
echo "start-up to ready (empty database): ${ready_ms} ms"
echo "RSS idle: $idle_rss; after load: $loaded_rss"
row endpoint req/s p50 p99 non2xx
row "GET /healthz" "$h_rps" "$h_p50" "$h_p99" "$h_bad"
row "GET /api/v1/me" "$m_rps" "$m_p50" "$m_p99" "$m_bad"
row "GET /api/v1/me + 20 parallel logins" "$l_rps" "$l_p50" "$l_p99" "$l_bad"
echo "/api/v1/me throughput vs /healthz: $(python3 -c "print(f'{100*$m_rps/$h_rps:.0f}%')"); sign-ins completed during the loaded run: ${logins_per_s}/s"

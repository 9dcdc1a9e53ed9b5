#!/usr/bin/env bash
# Benchmarks of teams and classes on SQLite with 96 communes × 20 teams × 50 classes ×
# 8 sessions loaded by `hocvuso bench seed`: GET /classes/{id} against /healthz in the same
# run, GET /classes?commune=…&limit=50 at 32 connections, and the time to create a class
# with its 8 sessions through the API (median of 50, one client, keep-alive).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
need_tools
new_env
trap cleanup EXIT
seed_line=$($BIN bench seed --communes "${COMMUNES:-96}" --teams-per-commune 20 --classes-per-team 50 --sessions-per-class 8 2>/dev/null)
start_server
TOKEN=$(login)
python3 - "$BASE" "$TOKEN" "$WORK" <<'PY'
import json, sys, urllib.request
base, token, work = sys.argv[1:4]
def get(path):
    req = urllib.request.Request(base + path, headers={"Authorization": "Bearer " + token})
    return json.load(urllib.request.urlopen(req))
units = [u["code"] for u in get("/api/v1/units?province=51&limit=500")["items"]]
ids = []
for code in units[:20]:
    ids += ["/api/v1/classes/" + c["id"] for c in get(f"/api/v1/classes?commune={code}&limit=50")["items"]]
open(work + "/class_paths.txt", "w").write("\n".join(ids) + "\n")
open(work + "/list_paths.txt", "w").write("\n".join(f"/api/v1/classes?commune={c}&limit=50" for c in units) + "\n")
PY
read -r h_rps h_p50 h_p99 h_bad <<<"$(measure "$BASE/healthz")"
read -r g_rps g_p50 g_p99 g_bad <<<"$(measure -s bench/paths.lua "$BASE" -- "$WORK/class_paths.txt" "$TOKEN")"
read -r l_rps l_p50 l_p99 l_bad <<<"$(measure -s bench/paths.lua "$BASE" -- "$WORK/list_paths.txt" "$TOKEN")"
create=$(python3 - "$BASE" "$TOKEN" <<'PY'
import http.client, json, statistics, sys, time, urllib.parse
base, token = sys.argv[1:3]
u = urllib.parse.urlparse(base)
conn = http.client.HTTPConnection(u.hostname, u.port)
h = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
def call(method, path, body=None):
    conn.request(method, path, json.dumps(body) if body is not None else None, h)
    r = conn.getresponse(); data = r.read()
    if r.status >= 300: raise SystemExit(f"{method} {path}: {r.status} {data[:200]}")
    return json.loads(data) if data else None
team = call("GET", "/api/v1/teams?limit=1")["items"][0]
times = []
for i in range(50):
    t = time.perf_counter()
    c = call("POST", "/api/v1/classes", {"commune_code": team["commune_code"], "team_id": team["id"], "title": f"Lớp đo {i}",
             "topic_ids": ["vneid_e_identity"], "mode": "in_person", "language": "vi", "start_date": "2026-12-01",
             "end_date": "2026-12-31", "planned_sessions": 8})
    for s in range(8):
        call("POST", f"/api/v1/classes/{c['id']}/sessions", {"held_on": f"2026-12-{s*3+1:02d}", "duration_minutes": 90})
    times.append((time.perf_counter() - t) * 1000)
one = []
for i in range(50):
    t = time.perf_counter()
    call("POST", "/api/v1/classes", {"commune_code": team["commune_code"], "team_id": team["id"], "title": f"Lớp {i}",
         "topic_ids": ["vneid_e_identity"], "mode": "in_person", "language": "vi", "start_date": "2026-12-01",
         "end_date": "2026-12-31", "planned_sessions": 8})
    one.append((time.perf_counter() - t) * 1000)
print(f"{statistics.median(times):.2f} {statistics.median(one):.2f}")
PY
)
read -r with_sessions class_only <<<"$create"
echo
echo "hocvuso teams & classes bench — $(machine), SQLite, wrk -t2 -c$CONNS -d${DURATION}s on the same machine"
echo "data: $seed_line"
row endpoint req/s p50 p99 non2xx
row "GET /healthz" "$h_rps" "$h_p50" "$h_p99" "$h_bad"
row "GET /api/v1/classes/{id} (random of 1,000)" "$g_rps" "$g_p50" "$g_p99" "$g_bad"
row "GET /api/v1/classes?commune=…&limit=50" "$l_rps" "$l_p50" "$l_p99" "$l_bad"
echo "GET /classes/{id} throughput vs /healthz: $(python3 -c "print(f'{100*$g_rps/$h_rps:.0f}%')")"
echo "create a class + 8 sessions (9 requests, one client): median ${with_sessions} ms; the class alone: median ${class_only} ms"
echo "RSS after load: $(rss)"

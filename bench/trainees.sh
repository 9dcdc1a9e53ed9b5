#!/usr/bin/env bash
# Benchmarks of trainees on SQLite with 100k trainees and 300k enrollments (plus the
# teams-and-classes data set): diacritic-insensitive search in a commune at 32
# connections, GET /trainees/{id} (with its access-log entry) against /healthz in the same
# run, and marking attendance for a 40-trainee session (median of 50 PUTs, one client).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
need_tools
new_env
trap cleanup EXIT
seed_line=$($BIN bench seed --trainees-per-commune "${TRAINEES_PER_COMMUNE:-1042}" --enrollments-per-trainee 3 2>/dev/null)
start_server
TOKEN=$(login)
python3 - "$BASE" "$TOKEN" "$WORK" <<'PY'
import json, sys, urllib.parse, urllib.request
base, token, work = sys.argv[1:4]
def get(path):
    req = urllib.request.Request(base + path, headers={"Authorization": "Bearer " + token})
    return json.load(urllib.request.urlopen(req))
units = [u["code"] for u in get("/api/v1/units?province=51&limit=500")["items"]]
ids = []
for code in units[:4]:
    ids += ["/api/v1/trainees/" + t["id"] for t in get(f"/api/v1/trainees?commune={code}&limit=250")["items"]]
open(work + "/trainee_paths.txt", "w").write("\n".join(ids) + "\n")
queries = ["nguyen thi", "tran van", "le huu", "lan", "hung", "pham minh", "vo ngoc", "dinh thanh tam", "0900", "hoang"]
paths = [f"/api/v1/trainees?q={urllib.parse.quote(q)}&commune={c}&limit=50" for c in units for q in queries]
open(work + "/search_paths.txt", "w").write("\n".join(paths) + "\n")
PY
read -r h_rps h_p50 h_p99 h_bad <<<"$(measure "$BASE/healthz")"
read -r t_rps t_p50 t_p99 t_bad <<<"$(measure -s bench/paths.lua "$BASE" -- "$WORK/trainee_paths.txt" "$TOKEN")"
read -r s_rps s_p50 s_p99 s_bad <<<"$(measure -s bench/paths.lua "$BASE" -- "$WORK/search_paths.txt" "$TOKEN")"
attendance=$(python3 - "$BASE" "$TOKEN" <<'PY'
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
c = call("POST", "/api/v1/classes", {"commune_code": team["commune_code"], "team_id": team["id"], "title": "Lớp 40 người",
         "topic_ids": ["vneid_e_identity"], "mode": "in_person", "language": "vi", "start_date": "2026-12-01",
         "end_date": "2026-12-31", "planned_sessions": 1})
s = call("POST", f"/api/v1/classes/{c['id']}/sessions", {"held_on": "2026-12-02", "duration_minutes": 90})
ids = []
for i in range(40):
    t = call("POST", "/api/v1/trainees", {"commune_code": team["commune_code"], "full_name": f"Học viên {i}", "gender": "female",
             "birth_year": 1960, "consent": {"basic": True, "method": "paper"}})
    call("POST", f"/api/v1/classes/{c['id']}/enrollments", {"trainee_id": t["id"]})
    ids.append(t["id"])
path = f"/api/v1/classes/{c['id']}/sessions/{s['id']}/attendance"
times = []
for i in range(50):
    present = ids if i % 2 == 0 else ids[:39]   # a real change every time
    t0 = time.perf_counter()
    call("PUT", path, {"present": present})
    times.append((time.perf_counter() - t0) * 1000)
print(f"{statistics.median(times):.2f}")
PY
)
echo
echo "hocvuso trainees bench — $(machine), SQLite, wrk -t2 -c$CONNS -d${DURATION}s on the same machine"
echo "data: $seed_line"
row endpoint req/s p50 p99 non2xx
row "GET /healthz" "$h_rps" "$h_p50" "$h_p99" "$h_bad"
row "GET /api/v1/trainees/{id} (random of 1,000)" "$t_rps" "$t_p50" "$t_p99" "$t_bad"
row "GET /api/v1/trainees?q=…&commune=…" "$s_rps" "$s_p50" "$s_p99" "$s_bad"
echo "GET /trainees/{id} throughput vs /healthz: $(python3 -c "print(f'{100*$t_rps/$h_rps:.0f}%')")"
echo "PUT attendance of a 40-trainee session (one client): median ${attendance} ms"
echo "RSS after load: $(rss)"

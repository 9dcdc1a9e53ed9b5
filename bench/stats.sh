#!/usr/bin/env bash
# Statistics benchmarks on a synthetic country: every one of the 3,321 commune-level units
# with TEAMS teams (one member each), CLASSES classes per team (SESSIONS sessions each),
# TRAINEES trainees per unit, 3 enrollments each (a third passed, a sixth verified), spread
# over the year. Loads it with `hocvuso bench seed --province all` (which then counts the
# statistics from the records once), then measures, one client at a time (wrk -t1 -c1):
#   GET /stats/overview for the country (admin), GET /stats/units for the country
#   (province rows) and for Quảng Ngãi (commune rows), GET /stats/breakdown?by=gender,age_band
#   for Quảng Ngãi, and the yearly report of the country as XLSX (median of 5, peak RSS);
#   then the same reads as an analyst of the country (person counts perturbed by their cell
#   keys), and what the perturbation costs analysts: every person count of the province and
#   commune tables and the breakdowns, analyst against admin (mean and largest absolute
#   difference, relative error of counts of 100 or more).
# TRAINEES=30 gives ~100k trainees, TRAINEES=301 ~1M. SQLite by default; PG=1 for PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
need_tools
new_env
use_backend
T=${TEAMS:-3}; C=${CLASSES:-10}; S=${SESSIONS:-2}; N=${TRAINEES:-30}
load_start=$(date +%s)
seed_line=$($BIN bench seed --province all --communes 500 --teams-per-commune "$T" --classes-per-team "$C" \
  --sessions-per-class "$S" --trainees-per-commune "$N" --enrollments-per-trainee 3 2>"$WORK/seed.log") || { grep -v WARN "$WORK/seed.log"; exit 1; }
load_s=$(( $(date +%s) - load_start ))
facts=$($BIN stats rebuild 2>>"$WORK/seed.log" | tail -1) || { grep -v WARN "$WORK/seed.log"; exit 1; }
start_server
TOKEN=$(login)
lat() { # path → "p50 p99 req/s"
  wrk -t1 -c1 -d"${DURATION}s" --latency -H "Authorization: Bearer $TOKEN" "$BASE$1" 2>/dev/null | awk '
    /Requests\/sec/ {rps=$2} /^ +50%/ {p50=$2} /^ +99%/ {p99=$2} /Non-2xx/ {bad=$NF}
    END {printf "%s %s %s %s", p50, p99, rps, (bad==""?0:bad)}'
}
row2() { printf "%-58s %9s %9s %8s %6s\n" "$@"; }
echo
echo "hocvuso statistics bench — $(machine), $backend, wrk -t1 -c1 -d${DURATION}s on the same machine"
echo "data: $seed_line (loading and counting: ${load_s} s)"
echo "counters: $facts"
row2 request p50 p99 req/s non2xx
read -r a b c d <<<"$(lat /api/v1/stats/overview)"; row2 "GET /stats/overview (country)" "$a" "$b" "$c" "$d"
read -r a b c d <<<"$(lat /api/v1/stats/units)"; row2 "GET /stats/units (country, 34 provinces)" "$a" "$b" "$c" "$d"
read -r a b c d <<<"$(lat '/api/v1/stats/units?province=51&level=commune')"; row2 "GET /stats/units?province=51 (96 communes)" "$a" "$b" "$c" "$d"
read -r a b c d <<<"$(lat '/api/v1/stats/breakdown?by=gender,age_band&province=51')"; row2 "GET /stats/breakdown?by=gender,age_band&province=51" "$a" "$b" "$c" "$d"
# Periods off the half-month boundaries: half-month rows plus the edge days' rows.
OFF='from=2026-03-10&to=2026-04-20'
read -r a b c d <<<"$(lat "/api/v1/stats/overview?$OFF")"; row2 "GET /stats/overview?$OFF" "$a" "$b" "$c" "$d"
read -r a b c d <<<"$(lat "/api/v1/stats/units?province=51&level=commune&$OFF")"; row2 "GET /stats/units?province=51&…(same dates)" "$a" "$b" "$c" "$d"
read -r a b c d <<<"$(lat "/api/v1/stats/breakdown?by=gender,age_band&$OFF")"; row2 "GET /stats/breakdown?by=gender,age_band&…(country)" "$a" "$b" "$c" "$d"
xl=$(python3 - "$BASE" "$TOKEN" "$SERVER_PID" <<'PY'
import http.client, statistics, sys, time, urllib.parse
base, token, pid = sys.argv[1], sys.argv[2], sys.argv[3]
u = urllib.parse.urlparse(base)
def hwm():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM"):
            return int(line.split()[1]) / 1024
times = []
for _ in range(5):
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=300)
    t0 = time.perf_counter()
    c.request("GET", "/api/v1/reports/2026?format=xlsx&level=commune", headers={"Authorization": "Bearer " + token})
    r = c.getresponse(); data = r.read()
    times.append((time.perf_counter() - t0) * 1000)
    if r.status != 200: raise SystemExit(f"xlsx: {r.status}")
print(f"{statistics.median(times):.0f} ms, {len(data)/1e6:.2f} MB, server peak RSS {hwm():.0f} MB")
PY
)
echo "yearly report of the country as XLSX (3,321 unit rows + breakdowns), median of 5: $xl"
echo "RSS after load: $(rss)"
count_rows() { # table → row count
  if [ "$backend" = SQLite ]; then
    python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('SELECT COUNT(*) FROM $1').fetchone()[0])" "$WORK/hocvuso.db"
  else
    psql -h 127.0.0.1 -U postgres -d "$PGDB" -tAc "SELECT COUNT(*) FROM $1"
  fi
}
# An analyst of the country reads the same tables perturbed.
curl -sf -H 'Content-Type: application/json' -H "Authorization: Bearer $TOKEN" \
  -d "{\"username\":\"bench.analyst\",\"full_name\":\"Bench analyst\",\"role\":\"analyst\",\"scope_kind\":\"country\",\"password\":\"$PASSWORD\"}" \
  "$BASE/api/v1/users" >/dev/null
ADMIN_TOKEN=$TOKEN
TOKEN=$(curl -sf -H 'Content-Type: application/json' -d "{\"username\":\"bench.analyst\",\"password\":\"$PASSWORD\"}" "$BASE/api/v1/auth/login" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
row2 "analyst (perturbed person counts)" p50 p99 req/s non2xx
read -r a b c d <<<"$(lat /api/v1/stats/overview)"; row2 "GET /stats/overview (country)" "$a" "$b" "$c" "$d"
read -r a b c d <<<"$(lat /api/v1/stats/units)"; row2 "GET /stats/units (country, 34 provinces)" "$a" "$b" "$c" "$d"
read -r a b c d <<<"$(lat '/api/v1/stats/units?province=51&level=commune')"; row2 "GET /stats/units?province=51 (96 communes)" "$a" "$b" "$c" "$d"
read -r a b c d <<<"$(lat '/api/v1/stats/breakdown?by=gender,age_band&province=51')"; row2 "GET /stats/breakdown?by=gender,age_band&province=51" "$a" "$b" "$c" "$d"
read -r a b c d <<<"$(lat "/api/v1/stats/breakdown?by=gender,age_band&$OFF")"; row2 "GET /stats/breakdown?by=gender,age_band&…(country)" "$a" "$b" "$c" "$d"
python3 - "$BASE" "$ADMIN_TOKEN" "$TOKEN" <<'PY'
import http.client, json, sys, urllib.parse
base, admin, analyst = sys.argv[1], sys.argv[2], sys.argv[3]
u = urllib.parse.urlparse(base)
PEOPLE = {"trainees", "enrollments", "completions_passed", "completions_verified", "people_confirmed", "team_members"}
def get(path, token):
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=300)
    c.request("GET", path, headers={"Authorization": "Bearer " + token})
    r = c.getresponse()
    if r.status != 200: raise SystemExit(f"{path}: {r.status}")
    return json.loads(r.read())
def counts(v, path, out):
    if isinstance(v, dict):
        for k, x in v.items():
            if k in PEOPLE and isinstance(x, int): out[path + "." + k] = x
            elif k not in PEOPLE: counts(x, path + "." + k, out)
    elif isinstance(v, list):
        for i, x in enumerate(v): counts(x, f"{path}[{i}]", out)
paths = ["/api/v1/stats/units?level=province", "/api/v1/stats/units?level=commune",
         "/api/v1/stats/units?level=commune&from=2026-03-10&to=2026-04-20"]
paths += [f"/api/v1/stats/breakdown?by={d}" for d in ["gender,age_band", "target_group", "month", "gender,month"]]
paths += ["/api/v1/stats/breakdown?by=gender,age_band&province=51&from=2026-03-10&to=2026-04-20"]
diffs, rel, small = [], [], 0
for p in paths:
    a, b = {}, {}
    counts(get(p, admin), "", a); counts(get(p, analyst), "", b)
    for k, n in a.items():
        if k in b:
            diffs.append(abs(b[k] - n))
            if n >= 100: rel.append(abs(b[k] - n) / n)
            if 1 <= n <= 4: small += 1
print(f"cost to analysts over {len(diffs)} person counts ({len(paths)} tables, {small} of them 1-4): "
      f"mean |diff| {sum(diffs)/len(diffs):.2f}, largest {max(diffs)}; counts >= 100: {len(rel)}, "
      f"relative error mean {100*sum(rel)/max(len(rel),1):.2f} %, largest {100*max(rel, default=0):.2f} %")
PY
echo "counter rows: stat_facts $(count_rows stat_facts), stat_commune_buckets $(count_rows stat_commune_buckets)," \
  "stat_province_buckets $(count_rows stat_province_buckets), stat_province_dims $(count_rows stat_province_dims)"

#!/usr/bin/env bash
# Offline-sync benchmarks on one commune with 5,000 trainees and 200 classes (10 teams ×
# 20 classes × 4 sessions, one enrollment per trainee):
#   1. full snapshot of the commune through GET /sync/changes (pages of 1,000, gzip):
#      wall time and compressed bytes (median of 5 pulls);
#   2. POST /sync/push of 1,000 mixed operations (trainees, enrollments, attendance):
#      median of 20 pushes, one client, as a phone sends them (keep-alive, gzip);
#   3. 50 devices (5 accounts × 10 phones) pushing 100-operation batches concurrently
#      for 10 s: pushes, operations/s, latency, errors (any non-200 or non-applied result);
#      then the same with the 50 devices in 50 different communes (one team member, one
#      class with 4 sessions each), which on PostgreSQL do not wait for each other;
#   4. a burst of 20 concurrent 1,000-operation pushes (gzip) while GET /api/v1/me, /readyz
#      and GET /sync/changes?limit=1 are polled: the reads' p99 and the pushes' latency.
# SQLite by default; PG=1 runs against a fresh database on 127.0.0.1:5432.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
need_tools
new_env
use_backend
seed_line=$($BIN bench seed --communes 1 --teams-per-commune 10 --classes-per-team 20 --sessions-per-class 4 \
  --trainees-per-commune 5000 --enrollments-per-trainee 1 2>/dev/null)
start_server
TOKEN=$(login)
python3 - "$BASE" "$TOKEN" "$PASSWORD" "$DURATION" <<'PY'
import http.client, json, statistics, sys, threading, time, urllib.parse, uuid
base, admin, password, duration = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
u = urllib.parse.urlparse(base)

def client():
    return http.client.HTTPConnection(u.hostname, u.port, timeout=120)

def call(conn, method, path, token, body=None, headers=None):
    h = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
    h.update(headers or {})
    conn.request(method, path, json.dumps(body) if body is not None else None, h)
    r = conn.getresponse()
    data = r.read()
    return r.status, data

c = client()
def ok(method, path, token, body=None):
    status, data = call(c, method, path, token, body)
    if status >= 300:
        raise SystemExit(f"{method} {path}: {status} {data[:300]!r}")
    return json.loads(data) if data else None

team = ok("GET", "/api/v1/teams?limit=1", admin)["items"][0]
commune = team["commune_code"]
commune_province = ok("GET", f"/api/v1/units/{commune}", admin)["province_code"]
members = []
for i in range(5):
    name = f"bench.member{i}"
    ok("POST", "/api/v1/users", admin, {"username": name, "full_name": f"Thành viên {i}", "role": "team_member",
       "scope_kind": "commune", "scope_code": commune, "password": password})
    status, data = call(c, "POST", "/api/v1/auth/login", "", {"username": name, "password": password})
    members.append(json.loads(data)["access_token"])
member = members[0]

# Sessions of the commune, with their classes, for attendance operations.
sessions = []
for cl in ok("GET", f"/api/v1/classes?commune={commune}&limit=500", admin)["items"]:
    for s in ok("GET", f"/api/v1/classes/{cl['id']}/sessions?limit=50", admin)["items"]:
        sessions.append((cl["id"], s["id"]))

# 1. Snapshot, fetched with curl (Python's http.client reads chunked bodies slowly and
# would measure itself): the sum of the pages' transfer times; decoding is the phone's.
import gzip, subprocess, tempfile
def snapshot():
    total = 0.0
    size = records = 0
    cursor = None
    out = tempfile.NamedTemporaryFile(delete=False).name
    while True:
        path = "/api/v1/sync/changes?limit=1000" + (f"&cursor={cursor}" if cursor else "")
        w = subprocess.run(["curl", "-s", "-o", out, "-w", "%{http_code} %{time_total} %{size_download}",
                            "-H", "Authorization: Bearer " + member, "-H", "Accept-Encoding: gzip", "-H", "X-Device-Id: bench",
                            base + path], capture_output=True, text=True, check=True).stdout.split()
        if w[0] != "200":
            raise SystemExit(f"snapshot: {w}")
        total += float(w[1])
        size += int(w[2])
        page = json.loads(gzip.decompress(open(out, "rb").read()))
        records += len(page["changes"])
        cursor = page["next_cursor"]
        if not page["has_more"]:
            break
    return total * 1000, size, records
snaps = [snapshot() for _ in range(5)]
snap_ms = statistics.median(s[0] for s in snaps)
snap_mb = snaps[0][1] / 1e6
snap_records = snaps[0][2]
# 2. 1,000-operation pushes.
def batch(n, sess_offset, commune=commune, sessions=sessions):
    ops = []
    g = 0
    while len(ops) + 21 <= n:
        class_id, session_id = sessions[(sess_offset + g) % len(sessions)]
        g += 1
        present = []
        for _ in range(10):
            t = str(uuid.uuid4())
            ops.append({"op_id": str(uuid.uuid4()), "type": "trainee", "action": "upsert", "id": t,
                        "body": {"commune_code": commune, "full_name": "Nguyễn Thị Bench", "gender": "female", "birth_year": 1965,
                                 "consent": {"basic": True, "method": "paper"}}})
            ops.append({"op_id": str(uuid.uuid4()), "type": "enrollment", "action": "upsert", "id": str(uuid.uuid4()),
                        "body": {"class_id": class_id, "trainee_id": t}})
            present.append(t)
        ops.append({"op_id": str(uuid.uuid4()), "type": "attendance", "action": "upsert", "id": session_id, "body": {"present": present}})
    while len(ops) < n:
        ops.append({"op_id": str(uuid.uuid4()), "type": "trainee", "action": "upsert", "id": str(uuid.uuid4()),
                    "body": {"commune_code": commune, "full_name": "Trần Văn Bench", "gender": "male", "birth_year": 1970,
                             "consent": {"basic": True, "method": "paper"}}})
    return ops

# As a phone sends them: on a kept-alive connection, asking for a gzip answer; the clock
# runs from encoding the outbox as JSON (a phone does that too) to the answer's last byte.
times = []
for i in range(20):
    body = {"device_id": "bench-1000", "operations": batch(1000, i * 48)}
    t0 = time.perf_counter()
    status, data = call(c, "POST", "/api/v1/sync/push", member, body, headers={"Accept-Encoding": "gzip"})
    times.append((time.perf_counter() - t0) * 1000)
    if status != 200 or json.loads(gzip.decompress(data))["applied"] != 1000:
        raise SystemExit(f"push: {status} {data[:500]!r}")
push_ms = statistics.median(times)

# 3. 50 devices, 100-operation batches, for `duration` seconds.
lock = threading.Lock()
def devices(token_of, batch_of):
    lat, errors, pushes = [], [0], [0]
    stop = time.perf_counter() + duration
    def device(i):
        conn = client()
        token = token_of(i)
        n = 0
        while time.perf_counter() < stop:
            body = {"device_id": f"phone-{i}", "operations": batch_of(i, n)}
            n += 1
            t0 = time.perf_counter()
            try:
                status, data = call(conn, "POST", "/api/v1/sync/push", token, body)
                good = status == 200 and json.loads(data)["applied"] == 100
            except Exception:
                good = False
                conn = client()
            ms = (time.perf_counter() - t0) * 1000
            with lock:
                lat.append(ms); pushes[0] += 1
                if not good: errors[0] += 1
    threads = [threading.Thread(target=device, args=(i,)) for i in range(50)]
    t_start = time.perf_counter()
    for t in threads: t.start()
    for t in threads: t.join()
    elapsed = time.perf_counter() - t_start
    lat.sort()
    return lat, errors, pushes, elapsed

lat, errors, pushes, elapsed = devices(lambda i: members[i % 5], lambda i, n: batch(100, i * 97 + n * 5))
p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]

# 3b. The same, each device in a commune of its own (a new set-up connection: the old one
# idled past the server's keep-alive).
c = client()
units = [x["code"] for x in ok("GET", f"/api/v1/units?province={commune_province}&limit=100", admin)["items"] if x["code"] != commune][:50]
spread = []
for k, code in enumerate(units):
    t = ok("POST", "/api/v1/teams", admin, {"commune_code": code, "name": f"Tổ bench {k}", "kind": "other", "level": "commune"})
    cl = ok("POST", "/api/v1/classes", admin, {"commune_code": code, "team_id": t["id"], "title": "Dịch vụ công trực tuyến",
            "topic_ids": ["online_public_services"], "mode": "in_person", "language": "vi", "start_date": "2026-01-05",
            "end_date": "2026-03-05", "planned_sessions": 4})
    sess = [(cl["id"], ok("POST", f"/api/v1/classes/{cl['id']}/sessions", admin,
                         {"held_on": f"2026-01-{6 + d:02}", "duration_minutes": 60})["id"]) for d in range(4)]
    name = f"bench.spread{k}"
    ok("POST", "/api/v1/users", admin, {"username": name, "full_name": f"Thành viên xã {k}", "role": "team_member",
       "scope_kind": "commune", "scope_code": code, "password": password})
    status, data = call(c, "POST", "/api/v1/auth/login", "", {"username": name, "password": password})
    spread.append((code, sess, json.loads(data)["access_token"]))
s_lat, s_errors, s_pushes, s_elapsed = devices(lambda i: spread[i][2], lambda i, n: batch(100, n * 5, spread[i][0], spread[i][1]))
s_lat.sort()
sp = lambda q: s_lat[min(len(s_lat) - 1, int(q * len(s_lat)))]

# 4. A burst: 20 phones push 1,000 operations each at once (gzip, as phones ask), while
# three readers poll GET /api/v1/me, /readyz and GET /sync/changes?limit=1 (gzip), one
# request after another, until the last push has its answer.
import gzip as gz
reads = {"/api/v1/me": [], "/readyz": [], "/api/v1/sync/changes?limit=1": []}
read_errors = [0]
burst_lat, burst_errors = [], [0]
done = threading.Event()
def reader(path):
    conn = client()
    while not done.is_set():
        t0 = time.perf_counter()
        try:
            status, _ = call(conn, "GET", path, member, headers={"Accept-Encoding": "gzip", "X-Device-Id": "reader"})
            good = status == 200
        except Exception:
            good = False
            conn = client()
        with lock:
            reads[path].append((time.perf_counter() - t0) * 1000)
            if not good: read_errors[0] += 1
def pusher(i):
    conn = client()
    body = {"device_id": f"burst-{i}", "operations": batch(1000, 2000 + i * 48)}
    t0 = time.perf_counter()
    try:
        status, data = call(conn, "POST", "/api/v1/sync/push", members[i % 5], body, headers={"Accept-Encoding": "gzip"})
        good = status == 200 and json.loads(gz.decompress(data))["applied"] == 1000
    except Exception:
        good = False
    with lock:
        burst_lat.append((time.perf_counter() - t0) * 1000)
        if not good: burst_errors[0] += 1
readers = [threading.Thread(target=reader, args=(path,)) for path in reads]
pushers = [threading.Thread(target=pusher, args=(i,)) for i in range(20)]
for t in readers: t.start()
time.sleep(0.5)
b_start = time.perf_counter()
for t in pushers: t.start()
for t in pushers: t.join()
b_elapsed = time.perf_counter() - b_start
done.set()
for t in readers: t.join()
def pct(v, q):
    v = sorted(v)
    return v[min(len(v) - 1, int(q * len(v)))] if v else float("nan")
print(f"snapshot: {snap_records} records, median {snap_ms:.0f} ms, {snap_mb:.2f} MB gzip")
print(f"push of 1,000 operations (gzip): median {push_ms:.1f} ms (min {min(times):.1f}, max {max(times):.1f}) of 20, client wall time")
print(f"50 devices × 100-op batches for {elapsed:.0f} s: {pushes[0]} pushes, {pushes[0]*100/elapsed:.0f} ops/s, "
      f"p50 {p(0.5):.0f} ms, p99 {p(0.99):.0f} ms, errors {errors[0]}")
print(f"50 devices in 50 communes × 100-op batches for {s_elapsed:.0f} s: {s_pushes[0]} pushes, {s_pushes[0]*100/s_elapsed:.0f} ops/s, "
      f"p50 {sp(0.5):.0f} ms, p99 {sp(0.99):.0f} ms, errors {s_errors[0]}")
print(f"burst of 20 × 1,000-op pushes (gzip): all answered in {b_elapsed:.1f} s, push p50 {pct(burst_lat, 0.5):.0f} ms, "
      f"max {max(burst_lat):.0f} ms, errors {burst_errors[0]}")
print("reads during the burst: " + ", ".join(f"{path} p99 {pct(v, 0.99):.1f} ms (max {max(v):.0f}, n {len(v)})" for path, v in reads.items())
      + f", errors {read_errors[0]}")
PY
echo "hocvuso sync bench — $(machine), $backend, client and server on the same machine"
echo "data: $seed_line"
echo "RSS after load: $(rss)"

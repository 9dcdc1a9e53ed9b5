#!/usr/bin/env bash
# Roster import (docs/IMPORT.md): a dry run and then the commit of one XLSX list of ROWS
# trainees (default 10,000), each enrolled in a class with a result, uploaded as an officer
# would (multipart, one client), then the same file again (nothing new). Prints the wall
# time of each upload and the server's peak resident memory (VmHWM). PG=1 runs on a fresh
# PostgreSQL database.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
need_tools
new_env
use_backend
ROWS=${ROWS:-10000}
start_server
TOKEN=$(login)
api() { curl -sf -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' "$@"; }
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
COMMUNE=21025
TEAM=$(api -d "{\"commune_code\":\"$COMMUNE\",\"name\":\"Tổ bench\",\"kind\":\"community_tech_team\",\"level\":\"commune\"}" "$BASE/api/v1/teams" | json '["id"]')
CLASS=$(api -d "{\"commune_code\":\"$COMMUNE\",\"team_id\":\"$TEAM\",\"title\":\"Lớp giấy\",\"topic_ids\":[\"vneid_e_identity\"],\"mode\":\"in_person\",\"language\":\"vi\",\"start_date\":\"2026-10-01\",\"end_date\":\"2026-11-15\",\"planned_sessions\":4}" "$BASE/api/v1/classes" | json '["id"]')
$BIN bench import-file --rows "$ROWS" --commune "$COMMUNE" --class "$CLASS" --out "$WORK/list.xlsx" >/dev/null
size=$(stat -c %s "$WORK/list.xlsx")
upload() { # upload QUERY → "seconds summary"
  curl -sf -o "$WORK/report.json" -w '%{time_total}' -H "Authorization: Bearer $TOKEN" \
    -F "file=@$WORK/list.xlsx;filename=hoc-vien.xlsx" "$BASE/api/v1/imports?kind=trainees&$1"
  python3 - "$WORK/report.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f" created={r['created']} updated={r['updated']} unchanged={r['unchanged']} failed={r['failed']} applied={r['applied']}")
PY
}
echo "import of $ROWS trainees with enrollments and results ($backend, $(machine); file $((size / 1024)) KiB)"
for step in "dry run:dry_run=true" "commit:dry_run=false" "same file again:dry_run=false"; do
  read -r secs summary <<<"$(upload "${step#*:}" | tr '\n' ' ')"
  printf "%-18s %8.2f s %s\n" "${step%%:*}" "$secs" "$summary"
done
printf "%-18s %s\n" "peak server RSS" "$(awk '/VmHWM/ {printf "%.1f MB", $2/1024}' "/proc/$SERVER_PID/status")"

#!/usr/bin/env bash
# The console's first page with 10,000 cases in the database (issue 20): the time of
# `GET /api/cases?limit=50` (the first page of all cases, the acceptor's queue, a text
# search, filters) over HTTP, and the console's first render in headless Chromium
# (from navigation to the first page of the list on screen), signed in as the acceptor.
#
# Self-contained: release build, a private CITYGRID_HOME under target/, the local
# PostGIS cluster, a fresh database, grids over ~2 km × 2 km near Wuhan, the default
# reference data, 10,000 cases seeded in SQL (every state, 60 days of reports, the
# cases layer filled by the table's trigger) with their report events.
#
#   bash benches/console_bench.sh [CASES] [REPEATS]
#
# The release build by default (`cargo build --release -p citygrid` first);
# CITYGRID_BIN=target/release/citygrid: a binary built before, as it is (on a machine
# shared with other builds); PROFILE=debug: the debug build (a quick look only);
# NO_BUILD=1: target/$PROFILE/citygrid as built. The pages are built from web/src
# (node web/build.mjs) and served from web/dist.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
CASES="${1:-10000}"
REPEATS="${2:-30}"
export CITYGRID_HOME="$ROOT/target/bench-console-home"
export CITYGRID_RATE_LIMIT=false
unset DATABASE_URL CITYGRID_BIND
W=114.3000; S=30.5900; E=114.3206; N=30.6080

# PROFILE=debug measures the debug build instead (slower; for a quick look only).
PROFILE="${PROFILE:-release}"
if [ -n "${CITYGRID_BIN:-}" ]; then
  : # a binary built before
elif [ -n "${NO_BUILD:-}" ]; then
  : # NO_BUILD=1: measure the binary already built
elif [ "$PROFILE" = release ]; then
  cargo build --release -p citygrid >/dev/null 2>&1 || cargo build --release -p citygrid
else
  cargo build -p citygrid >/dev/null 2>&1 || cargo build -p citygrid
fi
(cd web && node build.mjs >/dev/null)
BIN="${CITYGRID_BIN:-$ROOT/target/$PROFILE/citygrid}"
case "$BIN" in /*) ;; *) BIN="$ROOT/$BIN" ;; esac
echo "== binary: $BIN ($(date -u -r "$BIN" '+built %F %H:%M UTC'); $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg))"
"$BIN" db start >/dev/null
BASE_URL="$("$BIN" db url)"
DB=cg_bench_console
psql -q "$BASE_URL" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
export DATABASE_URL="${BASE_URL%/*}/$DB"
WORK="$ROOT/target/bench-console-work"
rm -rf "$WORK"; mkdir -p "$WORK"
cat >"$WORK/area.geojson" <<JSON
{"type":"Polygon","coordinates":[[[$W,$S],[$E,$S],[$E,$N],[$W,$N],[$W,$S]]]}
JSON
"$BIN" db migrate >/dev/null
"$BIN" grid seed-reference >/dev/null
"$BIN" grid generate --area "$WORK/area.geojson" --admin-code 420102 --street-code 009 \
  --default-department city_appearance >/dev/null
echo bench-password-1 | "$BIN" user add bench_acceptor --role acceptor >/dev/null 2>&1
echo bench-password-1 | "$BIN" user add bench_inspector --role inspector >/dev/null 2>&1

echo "== seeding $CASES cases"
psql -q "$DATABASE_URL" -v ON_ERROR_STOP=1 -v cases="$CASES" <<SQL
WITH cats AS (SELECT array_agg(code ORDER BY code) AS c FROM categories WHERE kind = 'event' AND active),
     deps AS (SELECT array_agg(code ORDER BY code) AS d FROM departments WHERE active),
     states AS (SELECT ARRAY['reported','reported','reported','registered','dispatched','handling',
                             'handling','handled','checking','closed','closed','closed','closed',
                             'voided','suspended','returned']::text[] AS s),
     pts AS (
       SELECT n, ST_SetSRID(ST_MakePoint($W + random() * ($E - $W), $S + random() * ($N - $S)), 4326) AS geom,
              now() - (random() * interval '60 days') AS at
       FROM generate_series(1, :cases) n)
INSERT INTO cases (id, case_no, source, reporter_user_id, reporter_name, description, address, geom,
                   category, grid_code, community_code, street_code, admin_code, department,
                   status, reported_at, registration_due, due_at)
SELECT nextval('cases_id_seq'), to_char(p.at, 'YYYY') || '-' || lpad(p.n::text, 6, '0'),
       (ARRAY['inspector','inspector','inspector','hotline','public','video'])[1 + p.n % 6],
       CASE WHEN p.n % 6 < 3 THEN (SELECT id FROM users WHERE username = 'bench_inspector') END,
       CASE WHEN p.n % 6 = 3 THEN 'caller ' || p.n END,
       (ARRAY['路灯不亮','井盖破损','占道经营','垃圾满溢','违章停车','绿地损坏','道路破损','乱贴广告'])[1 + p.n % 8]
         || ' report ' || p.n,
       (p.n % 300) || ' Jiefang Avenue 解放大道',
       p.geom, cats.c[1 + p.n % array_length(cats.c, 1)],
       g.code, g.community_code, g.street_code, g.admin_code,
       CASE WHEN st IN ('dispatched','handling','handled','checking','closed','suspended')
            THEN deps.d[1 + p.n % array_length(deps.d, 1)] END,
       st, p.at, p.at + interval '2 hours',
       CASE WHEN st IN ('closed','voided','suspended') THEN NULL
            ELSE p.at + (random() * interval '5 days') END
FROM pts p CROSS JOIN cats CROSS JOIN deps CROSS JOIN states
CROSS JOIN LATERAL (SELECT states.s[1 + p.n % array_length(states.s, 1)] AS st) s
LEFT JOIN LATERAL (SELECT code, community_code, street_code, admin_code FROM layers.unit_grids u
                   WHERE ST_Intersects(u.geom, p.geom) LIMIT 1) g ON true;
INSERT INTO case_events (case_id, at, actor, role, action, from_state, to_state)
SELECT id, reported_at, 'bench', 'inspector', 'report', NULL, 'reported' FROM cases;
DELETE FROM layer_changes;
ANALYZE;
SQL
psql -tA "$DATABASE_URL" -c "SELECT count(*) || ' cases, ' || count(*) FILTER (WHERE status = 'reported') || ' reported' FROM cases"

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
RUST_LOG=warn CITYGRID_WEB_DIR="$ROOT/web/dist" "$BIN" serve --bind "127.0.0.1:$PORT" >"$WORK/serve.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -s "http://127.0.0.1:$PORT/health" | grep -q '"ok"\|"status"' && break; sleep 0.2; done
LOGIN=$(curl -s "http://127.0.0.1:$PORT/api/auth/login" -H 'content-type: application/json' \
  -d '{"username":"bench_acceptor","password":"bench-password-1"}')
TOKEN=$(echo "$LOGIN" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')

time_get() { # label, path: median and p95 of REPEATS calls (after 3 warm-ups), in ms
  local label="$1" path="$2" i
  for i in 1 2 3; do curl -s -o /dev/null -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT$path"; done
  for i in $(seq "$REPEATS"); do
    curl -s -o "$WORK/body.json" -w '%{time_total}\n' -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT$path"
  done | python3 -c '
import sys, statistics, json
xs = sorted(float(x) * 1000 for x in sys.stdin)
body = json.load(open(sys.argv[3]))
p95 = xs[min(len(xs) - 1, int(len(xs) * 0.95))]
total, rows = body.get("total"), len(body.get("cases", []))
print(f"{sys.argv[1]:<44} median {statistics.median(xs):6.1f} ms  p95 {p95:6.1f} ms  total {total}, {rows} rows")
' "$label" "$path" "$WORK/body.json"
}
echo "== GET /api/cases over HTTP as the acceptor ($REPEATS calls each, curl)"
time_get "first page (limit=50)" "/api/cases?limit=50"
time_get "acceptor's queue (3 states)" "/api/cases?limit=50&status=reported,verified,handled"
time_get "q=解放大道 (matches every case)" "/api/cases?limit=50&q=%E8%A7%A3%E6%94%BE%E5%A4%A7%E9%81%93"
time_get "q=路灯 (one case in eight)" "/api/cases?limit=50&q=%E8%B7%AF%E7%81%AF"
time_get "q=caller 42 (a reporter)" "/api/cases?limit=50&q=caller%2042"
time_get "overdue, sorted by deadline" "/api/cases?limit=50&overdue=true&sort=deadline"
time_get "source=hotline, last 7 days (city days)" "/api/cases?limit=50&source=hotline&from=$(date -d '-7 days' +%F)"
time_get "page 100 (offset=4950)" "/api/cases?limit=50&offset=4950"

echo "== the console's first render in headless Chromium (navigation to the first page listed)"
CITYGRID_URL="http://127.0.0.1:$PORT" SESSION="$LOGIN" node benches/console_render.mjs
kill $SERVER; wait $SERVER 2>/dev/null || true
trap - EXIT

#!/usr/bin/env bash
# Case intake end to end over HTTP (`POST /api/cases`: validate, locate in the
# in-memory grids, nearest component, duplicates, routing, working-time deadline, one
# INSERT statement with the event and the map row) against pgbench inserting the same
# rows with everything precomputed, then a check that every acknowledged case is in
# the database.
#
# Self-contained: release build, a private CITYGRID_HOME under target/, the local
# PostGIS cluster (`citygrid db start`), a fresh database, grids over ~2 km × 2 km
# near Wuhan (400 grids in 4 communities), the default reference data.
#
#   bash benches/intake_bench.sh [SECONDS] [CONNECTIONS]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
DUR="${1:-20}"
CONN="${2:-32}"
export CITYGRID_HOME="$ROOT/target/bench-intake-home"
# wrk hammers one loopback address: the per-address rate limits would measure themselves.
export CITYGRID_RATE_LIMIT=false
unset DATABASE_URL CITYGRID_BIND
W=114.3000; S=30.5900; E=114.3206; N=30.6080   # about 1.97 km × 2.0 km

cargo build --release -p citygrid >/dev/null 2>&1 || cargo build --release -p citygrid
BIN="$ROOT/target/release/citygrid"
"$BIN" db start >/dev/null
BASE_URL="$("$BIN" db url)"
DB=cg_bench_intake
psql -q "$BASE_URL" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
export DATABASE_URL="${BASE_URL%/*}/$DB"

WORK="$ROOT/target/bench-intake-work"
rm -rf "$WORK"; mkdir -p "$WORK"
cat >"$WORK/area.geojson" <<JSON
{"type":"Polygon","coordinates":[[[$W,$S],[$E,$S],[$E,$N],[$W,$N],[$W,$S]]]}
JSON
"$BIN" db migrate >/dev/null
"$BIN" grid seed-reference
"$BIN" grid generate --area "$WORK/area.geojson" --admin-code 420102 --street-code 009 \
  --default-department city_appearance
echo bench-password-1 | "$BIN" user add bench --role inspector >/dev/null 2>&1

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
RUST_LOG=warn "$BIN" serve --bind "127.0.0.1:$PORT" >"$WORK/serve.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 100); do grep -q "listening on" "$WORK/serve.log" && break; sleep 0.2; done
TOKEN=$(curl -s "http://127.0.0.1:$PORT/api/auth/login" -H 'content-type: application/json' \
  -d '{"username":"bench","password":"bench-password-1"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
# wait until the grids are in memory
for _ in $(seq 100); do
  curl -s "http://127.0.0.1:$PORT/api/locate?lon=114.31&lat=30.60" | grep -q '"code"' && break; sleep 0.2
done

echo "== citygrid POST /api/cases: ${DUR}s, $CONN connections, 2 wrk threads"
export TOKEN W S E N
wrk -t2 -c"$CONN" -d"${DUR}s" --latency -s benches/intake/intake.lua "http://127.0.0.1:$PORT" | tee "$WORK/wrk.txt"
CREATED=$(sed -n 's/.*RESULT created=\([0-9]*\).*/\1/p' "$WORK/wrk.txt")
sleep 1
IN_DB=$(psql -tA "$DATABASE_URL" -c "SELECT count(*) FROM cases WHERE description = 'bench'")
EVENTS=$(psql -tA "$DATABASE_URL" -c "SELECT count(*) FROM case_events WHERE action = 'report'")
MAP=$(psql -tA "$DATABASE_URL" -c "SELECT count(*) FROM layers.cases")
echo "acknowledged (201): $CREATED; cases in the database: $IN_DB; report events: $EVENTS; map rows: $MAP"
# wrk stops counting at the deadline while up to CONN requests are still in flight:
# those may be committed without being counted, never the other way round
if [ "$IN_DB" -lt "$CREATED" ] || [ "$IN_DB" -gt $((CREATED + CONN)) ] \
   || [ "$IN_DB" != "$EVENTS" ] || [ "$IN_DB" != "$MAP" ]; then
  echo "MISMATCH: acknowledged cases are missing or rows are inconsistent" >&2; exit 1
fi
echo "check: every acknowledged case is in the database (with its event and map row)"
kill $SERVER; wait $SERVER 2>/dev/null || true
trap - EXIT

echo "== reference: pgbench, the same rows as one plain INSERT statement, ${DUR}s, $CONN clients"
pgbench -n -c "$CONN" -j 2 -T "$DUR" -f benches/intake/insert.sql "$DATABASE_URL" 2>&1 \
  | grep -E "^(tps|latency average|number of transactions actually processed)"
echo "($(nproc) cores; server, database and load generator on the same machine)"

#!/usr/bin/env bash
# The load test (`make load`): a release citygrid serving the sample city from its own
# local PostGIS, loaded for DURATION seconds by benches/loadgen over CONNECTIONS
# keep-alive connections on 127.0.0.1 with a city's mix — mostly map tiles (the
# viewer's two vector sources over z12-z16 of central Helsinki: every static layer in
# one tile, the live cases layer in another; and orthophoto tiles), some spatial queries (/api/locate, /api/nearest, OGC items with
# bbox + CQL2 filter) and a few case intakes a second by signed-in inspectors. Prints
# per kind the throughput, p50/p90/p99/max latency and errors, then checks that every
# case the load generator saw acknowledged (201) is in the database, with its report
# event and its map row.
#
#   bash benches/load.sh                      # 60 s, 200 connections
#   DURATION=20 CONNECTIONS=100 bash benches/load.sh
#
# CITYGRID_BIN=target/release/citygrid: measure a release binary built before instead
# of building one. Other settings (environment): CASE_RATE (cases/s, default 5), MIX (loadgen --mix),
# WARMUP (seconds, default 10), INSPECTORS (accounts, default 20), IDEMPOTENCY_KEYS
# (yes: an Idempotency-Key on every case request, as the inspector page's outbox sends
# them, and a case whose answer was lost is sent again with its key; default yes).
#
# Self-contained and bounded: CITYGRID_HOME=target/bench-load (the cluster and the
# imported city are kept between runs; the first run imports data/helsinki.osm.pbf and
# the sample orthophoto as `citygrid demo` does, a few minutes on 2 cores), every wait
# has a limit, and the server is stopped on exit. Exit status: 0 only when there were
# no errors and every acknowledged case is in the database.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
DURATION="${DURATION:-60}"
CONNECTIONS="${CONNECTIONS:-200}"
CASE_RATE="${CASE_RATE:-5}"
WARMUP="${WARMUP:-10}"
INSPECTORS="${INSPECTORS:-20}"
IDEMPOTENCY_KEYS="${IDEMPOTENCY_KEYS:-yes}"
MIX="${MIX:-tile=80,raster=6,locate=5,nearest=5,items=4}"
# central Helsinki, the box the viewer looks at (as benches/tiles_vs_martin.sh)
TILE_BBOX="24.935,60.164,24.953,60.179"

export CITYGRID_HOME="$ROOT/target/bench-load"
WORK="$CITYGRID_HOME/work"
mkdir -p "$WORK"
unset DATABASE_URL CITYGRID_BIND CITYGRID_CONFIG

# CITYGRID_BIN: a release binary built before (on a machine shared with other builds)
if [ -n "${CITYGRID_BIN:-}" ]; then
  echo "== building (release): benches/loadgen (citygrid: $CITYGRID_BIN)" >&2
else
  echo "== building (release): citygrid and benches/loadgen" >&2
  cargo build --release --bin citygrid >&2
fi
(cd benches/loadgen && cargo build --release >&2)
BIN="${CITYGRID_BIN:-$ROOT/target/release/citygrid}"
case "$BIN" in /*) ;; *) BIN="$ROOT/$BIN" ;; esac
LOADGEN="$ROOT/target/loadgen/release/citygrid-loadgen"

"$BIN" db start >&2
DB_URL="$("$BIN" db url)"

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
BASE="http://127.0.0.1:$PORT"

# The server, as `citygrid demo` (import the sample city on the first run, seed the
# grids, components, reference data and demo accounts, then serve). All the load
# comes from one address and a few users, so the per-address and per-user rate limits
# (meant for a city's many clients) are raised far above what the run sends: the
# limiter still runs, it just never refuses.
export RUST_LOG="${RUST_LOG:-warn}"
export CITYGRID_RATE_LIMIT_READ_PER_SEC=1000000 CITYGRID_RATE_LIMIT_READ_BURST=10000000 \
  CITYGRID_RATE_LIMIT_WRITE_PER_SEC=100000 CITYGRID_RATE_LIMIT_WRITE_BURST=1000000 \
  CITYGRID_RATE_LIMIT_KEY_PER_SEC=1000000 CITYGRID_RATE_LIMIT_KEY_BURST=10000000
SERVER=""
cleanup() {
  if [ -n "$SERVER" ] && kill -0 "$SERVER" 2>/dev/null; then
    kill "$SERVER" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$SERVER" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$SERVER" 2>/dev/null || true
  fi
}
trap cleanup EXIT
echo "== starting the server on $BASE (first run: importing the sample city)" >&2
"$BIN" demo --bind "127.0.0.1:$PORT" >"$WORK/serve.log" 2>&1 &
SERVER=$!
for _ in $(seq 1800); do   # at most 15 min (the first import)
  curl -sf -o /dev/null "$BASE/health" && break
  kill -0 "$SERVER" 2>/dev/null || { cat "$WORK/serve.log" >&2; echo "the server stopped" >&2; exit 1; }
  sleep 0.5
done
curl -sf -o /dev/null "$BASE/health" || { echo "no answer from $BASE/health" >&2; exit 1; }

# The gridded area (cases must fall in a unit grid), 20 m inside its edges.
CASE_BBOX=$(psql -tA "$DB_URL" -c "SELECT concat_ws(',', ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e)) \
  FROM (SELECT ST_Extent(geom) AS e FROM layers.unit_grids WHERE street_code = '420102001') s")
[ -n "$CASE_BBOX" ] || { echo "no demo unit grids in the database" >&2; exit 1; }

# Wait until every layer is in memory: a combined tile of all vector layers answers
# 409 while one is still loading, and /api/locate finds the grid.
VECTOR=$(curl -sf "$BASE/styles/default.json" | python3 -c \
  'import json,sys; u=json.load(sys.stdin)["sources"]["citygrid"]["url"]; print(u.split("/tiles/")[1].split(".json")[0])')
for _ in $(seq 600); do   # at most 5 min
  code=$(curl -s -o /dev/null -w '%{http_code}' "$BASE/tiles/$VECTOR/14/9326/4743.mvt")
  [ "$code" = 200 ] || [ "$code" = 204 ] && break
  sleep 0.5
done
for _ in $(seq 600); do
  curl -s "$BASE/api/locate?lon=24.944&lat=60.170" | grep -q '"code"' && break
  sleep 0.5
done

# Inspector accounts (password from a random string, kept in the private home) and
# their bearer tokens.
TOKENS="$WORK/tokens.txt"
: >"$TOKENS"
PASSWORD_FILE="$CITYGRID_HOME/load-inspector-password"
[ -s "$PASSWORD_FILE" ] || (umask 077; python3 -c 'import secrets; print("load-" + secrets.token_hex(12))' >"$PASSWORD_FILE")
PASSWORD=$(cat "$PASSWORD_FILE")
for i in $(seq -w 1 "$INSPECTORS"); do
  echo "$PASSWORD" | "$BIN" user add "load_inspector_$i" --role inspector >/dev/null
  curl -sf "$BASE/api/auth/login" -H 'content-type: application/json' \
    -d "{\"username\":\"load_inspector_$i\",\"password\":\"$PASSWORD\"}" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])' >>"$TOKENS"
done
chmod 600 "$TOKENS"

BEFORE=$(psql -tA "$DB_URL" -c "SELECT count(*) FROM cases")
run_loadgen() { # seconds connections acked-file json-file
  timeout $(( $1 + 60 )) "$LOADGEN" --addr "127.0.0.1:$PORT" --duration "$1" --connections "$2" \
    --mix "$MIX" --case-rate "$CASE_RATE" --tokens "$TOKENS" --tile-bbox "$TILE_BBOX" \
    --case-bbox "$CASE_BBOX" --acked "$3" --json "$4" --idempotency-keys "$IDEMPOTENCY_KEYS"
}
echo "== warm-up: ${WARMUP}s, 50 connections (fills the tile cache as users' browsers would)" >&2
set +e
run_loadgen "$WARMUP" 50 "$WORK/acked-warmup.txt" "$WORK/warmup.json" >"$WORK/warmup.txt"
WARM_STATUS=$?
set -e
[ "$WARM_STATUS" -le 1 ] || { cat "$WORK/warmup.txt"; echo "the warm-up failed" >&2; exit 1; }

echo "== load: ${DURATION}s, $CONNECTIONS connections, mix $MIX, $CASE_RATE cases/s" >&2
LOAD_BEFORE=$(cut -d' ' -f1 /proc/loadavg)
set +e
run_loadgen "$DURATION" "$CONNECTIONS" "$WORK/acked.txt" "$WORK/report.json" | tee "$WORK/report.txt"
LOAD_STATUS=${PIPESTATUS[0]}
set -e
LOAD_AFTER=$(cut -d' ' -f1 /proc/loadavg)
python3 - "$WORK/report.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
t = r["kinds"]["tile"]
ok = r["errors"] == 0 and t["p99_ms"] < 50
print(f"target (zero errors, tile p99 < 50 ms at {r['connections']} connections): "
      f"errors {r['errors']}, tile p99 {t['p99_ms']:.2f} ms -> {'met' if ok else 'MISSED'}")
PY

# Stop the server (SIGTERM: it finishes what is in flight), then count.
STOPPED=1
kill "$SERVER"
for _ in $(seq 300); do kill -0 "$SERVER" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$SERVER" 2>/dev/null; then
  echo "the server did not stop within 30 s of SIGTERM (hung?); killing it" >&2
  kill -9 "$SERVER" 2>/dev/null || true
  STOPPED=0
fi
wait "$SERVER" 2>/dev/null || true
SERVER=""

cat "$WORK/acked-warmup.txt" "$WORK/acked.txt" >"$WORK/acked-all.txt"
ACKED=$(wc -l <"$WORK/acked-all.txt")
read -r FOUND EVENTS MAP <<<"$(psql -tA -F' ' "$DB_URL" <<SQL | tail -n 1
CREATE TEMP TABLE acked (id bigint PRIMARY KEY);
\copy acked FROM '$WORK/acked-all.txt'
SELECT (SELECT count(*) FROM acked a JOIN cases c USING (id) WHERE c.description = 'load test'),
       (SELECT count(DISTINCT e.case_id) FROM acked a JOIN case_events e ON e.case_id = a.id AND e.action = 'report'),
       (SELECT count(*) FROM acked a JOIN layers.cases m ON m.fid = a.id);
SQL
)"
AFTER=$(psql -tA "$DB_URL" -c "SELECT count(*) FROM cases")
DISTINCT=$(sort -u "$WORK/acked-all.txt" | wc -l)
echo "idempotency keys on every case request: $IDEMPOTENCY_KEYS; distinct case ids acknowledged: $DISTINCT"
echo "cases acknowledged (201, warm-up + load): $ACKED; found in the database: $FOUND (with report event: $EVENTS, map row: $MAP); cases table grew by $((AFTER - BEFORE))"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load average (1 min) before the run $LOAD_BEFORE, after $LOAD_AFTER"
if [ "$FOUND" != "$ACKED" ] || [ "$EVENTS" != "$ACKED" ] || [ "$MAP" != "$ACKED" ] \
   || [ "$DISTINCT" != "$ACKED" ]; then
  echo "MISMATCH: acknowledged cases are missing from the database" >&2
  exit 1
fi
echo "check: every acknowledged case is in the database"
[ "$WARM_STATUS" = 0 ] || { echo "there were errors during the warm-up (see $WORK/warmup.txt)" >&2; exit 1; }
[ "$LOAD_STATUS" = 0 ] || { echo "there were errors during the load run" >&2; exit 1; }
[ "$STOPPED" = 1 ] || exit 1

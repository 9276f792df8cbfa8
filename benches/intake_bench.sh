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
# KEYS: `both` (default: a run without, then a run with an Idempotency-Key on every
# request, as the inspector page's outbox sends them), `no`, `yes`, or runs in any
# order ("yes no", "no yes no yes": which is slower, the mode or the place in the
# order?), each with its own warm-up, all on the same database and server.
#
# Every measured run (citygrid without keys, with keys, pgbench) is preceded by a
# warm-up of WARMUP seconds (default 5) of the same load, not counted: the pool's
# connections are open and have planned their statements, the reference data is
# read, the database's caches are warm. Both sides use the same cluster with the same
# durability (the settings are printed; neither client changes them per session).
# Each citygrid run also prints the CPU time per acknowledged case of the server, of
# the cluster's PostgreSQL processes and of wrk: on a machine shared with other work
# those compare better than the rates.
# The references: pgbench inserting the same rows (benches/intake/insert.sql) as one
# plain INSERT, in pgbench's default simple protocol (the issue's reference) and with
# prepared statements (-M prepared, the protocol citygrid's pool uses); for the keyed
# run also the same rows plus the key row (benches/intake/insert_keyed.sql).
#
#   bash benches/intake_bench.sh [SECONDS] [CONNECTIONS] [KEYS]
#   WARMUP=5 ...    seconds of warm-up before each measured run (0: none)
#   DB_CONNECTIONS=N ...  the server's database pool (default: CONNECTIONS, as many
#                   database connections as pgbench opens)
#   REFS="plain plain-prepared keyed" ...  which pgbench references to run ("": none)
#   TIMELINE=1 ...  also: the database's commits in each second of every measured run
#                   (a dip, a stall, a slow start or end)
#   PROFILE=1 ...   also: pg_stat_statements (calls and time per statement during the
#                   citygrid runs) and the server's request timer from /metrics
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
DUR="${1:-20}"
CONN="${2:-32}"
KEYS="${3:-both}"
WARMUP="${WARMUP:-5}"
REFS="${REFS-plain plain-prepared keyed}"
# the server's database pool: as many connections as pgbench's clients
export CITYGRID_DB_MAX_CONNECTIONS="${DB_CONNECTIONS:-$CONN}"
case "$KEYS" in
  both) MODES="no yes" ;;
  *) MODES="$KEYS"
     for m in $MODES; do case "$m" in no|yes) ;; *) echo "KEYS is both, no, yes or a list of no and yes (\"yes no\")" >&2; exit 2 ;; esac; done ;;
esac
export CITYGRID_HOME="$ROOT/target/bench-intake-home"
# wrk hammers one loopback address: the per-address rate limits would measure themselves.
export CITYGRID_RATE_LIMIT=false
unset DATABASE_URL CITYGRID_BIND
W=114.3000; S=30.5900; E=114.3206; N=30.6080   # about 1.97 km × 2.0 km

# CITYGRID_BIN: a release binary built before (on a machine shared with other builds)
if [ -n "${CITYGRID_BIN:-}" ]; then
  BIN="$CITYGRID_BIN"
else
  cargo build --release -p citygrid >/dev/null 2>&1 || cargo build --release -p citygrid
  BIN="$ROOT/target/release/citygrid"
fi
"$BIN" db start >/dev/null
BASE_URL="$("$BIN" db url)"
# pg_stat_statements only for a profile (it costs a few per cent)
WANT_PRELOAD=""; [ "${PROFILE:-0}" = 1 ] && WANT_PRELOAD=pg_stat_statements
if [ "$(psql -tA "$BASE_URL" -c 'SHOW shared_preload_libraries')" != "$WANT_PRELOAD" ]; then
  if [ -n "$WANT_PRELOAD" ]; then
    psql -q "$BASE_URL" -c "ALTER SYSTEM SET shared_preload_libraries = '$WANT_PRELOAD'"
  else
    psql -q "$BASE_URL" -c "ALTER SYSTEM RESET shared_preload_libraries"
  fi
  "$BIN" db stop >/dev/null; "$BIN" db start >/dev/null
  BASE_URL="$("$BIN" db url)"
fi
DB=cg_bench_intake
psql -q "$BASE_URL" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
export DATABASE_URL="${BASE_URL%/*}/$DB"

WORK="$ROOT/target/bench-intake-work"
rm -rf "$WORK"; mkdir -p "$WORK"
cat >"$WORK/area.geojson" <<JSON
{"type":"Polygon","coordinates":[[[$W,$S],[$E,$S],[$E,$N],[$W,$N],[$W,$S]]]}
JSON
"$BIN" db migrate >/dev/null
if [ "${PROFILE:-0}" = 1 ]; then
  psql -q "$DATABASE_URL" -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"
  # plans per call: a prepared statement that is planned again on every call (custom
  # plans) shows plans = calls, one whose generic plan is reused plans ≈ 0
  psql -q "$DATABASE_URL" -c "ALTER SYSTEM SET pg_stat_statements.track_planning = on" -c "SELECT pg_reload_conf()" >/dev/null
fi
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

echo "== durability (one cluster for both sides; neither sets these per session or per database)"
psql -tA "$DATABASE_URL" -c "SELECT string_agg(name || '=' || setting, ', ' ORDER BY name) FROM pg_settings
  WHERE name IN ('synchronous_commit', 'fsync', 'full_page_writes', 'wal_sync_method', 'commit_delay',
                 'commit_siblings', 'wal_writer_delay')"
psql -tA "$DATABASE_URL" -c "SELECT 'per-database/role settings: ' || count(*) FROM pg_db_role_setting"

export TOKEN W S E N
SUMMARY="$WORK/summary.txt"; : >"$SUMMARY"
# CPU time (clock ticks) of a process, and of the cluster: the postmaster with its
# exited children (waited for) and its live ones (backends, autovacuum, WAL writer)
PM=$(head -1 "$(psql -tA "$DATABASE_URL" -c 'SHOW data_directory')/postmaster.pid")
proc_ticks() { [ -r "/proc/$1/stat" ] && sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }' || echo 0; }
cluster_ticks() {
  local t; t=$(sed 's/.*) //' "/proc/$PM/stat" | awk '{ print $12 + $13 + $14 + $15 }')
  for c in $(pgrep -P "$PM"); do t=$((t + $(proc_ticks "$c"))); done
  echo "$t"
}
# the CPU time of this shell's finished children (wrk): `times` in this shell, not in
# a subshell (a subshell's children are its own)
children_ticks() { tail -1 "$WORK/times" | awk '{ split($1, u, /[ms]/); split($2, s, /[ms]/); printf "%d\n", (u[1] * 60 + u[2] + s[1] * 60 + s[2]) * 100 }'; }
RUNNO=0
for MODE in $MODES; do
  # the same request in both modes but for the key header: descriptions of one length
  RUNNO=$((RUNNO + 1))
  if [ "$MODE" = yes ]; then KEYED=1; WITH="with an Idempotency-Key on every request"
  else KEYED=0; WITH="without Idempotency-Key"; fi
  DESC="bench-$RUNNO-k$KEYED"
  if [ "$WARMUP" -gt 0 ]; then
    echo "== warm-up $WITH: ${WARMUP}s (not counted)"
    KEYS=$KEYED DESC=bench-warmup RUN=$(date +%s%N) wrk -t2 -c"$CONN" -d"${WARMUP}s" \
      -s benches/intake/intake.lua "http://127.0.0.1:$PORT" | grep RESULT
  fi
  echo "== citygrid POST /api/cases $WITH: ${DUR}s, $CONN connections, 2 wrk threads"
  [ "${PROFILE:-0}" = 1 ] && psql -qtA "$DATABASE_URL" -c "SELECT pg_stat_statements_reset()" >/dev/null
  if [ "${TIMELINE:-0}" = 1 ]; then
    (while :; do
       echo "$(date +%s.%N) $(psql -tA "$DATABASE_URL" -c "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")"
       sleep 1
     done) >"$WORK/timeline.txt" 2>/dev/null &
    SAMPLER=$!
  fi
  times >"$WORK/times"; S0=$(proc_ticks "$SERVER"); P0=$(cluster_ticks); W0=$(children_ticks)
  KEYS=$KEYED DESC=$DESC RUN=$(date +%s%N) wrk -t2 -c"$CONN" -d"${DUR}s" --latency \
    -s benches/intake/intake.lua "http://127.0.0.1:$PORT" >"$WORK/wrk-$RUNNO.txt"
  times >"$WORK/times"; S1=$(proc_ticks "$SERVER"); P1=$(cluster_ticks); W1=$(children_ticks)
  cat "$WORK/wrk-$RUNNO.txt"
  if [ "${TIMELINE:-0}" = 1 ]; then
    kill "$SAMPLER"; wait "$SAMPLER" 2>/dev/null || true
    echo "commits per second: $(awk 'p != "" { printf "%d ", ($2 - p) / ($1 - t) } { t = $1; p = $2 }' "$WORK/timeline.txt")"
  fi
  CREATED=$(sed -n 's/.*RESULT created=\([0-9]*\).*/\1/p' "$WORK/wrk-$RUNNO.txt")
  CPU="$(python3 -c "import sys; c = max(int(sys.argv[4]), 1); print(' '.join(f'{(int(t) * 10 / c):.3f}' for t in sys.argv[1:4]))" \
    $((S1 - S0)) $((P1 - P0)) $((W1 - W0)) "$CREATED")"
  echo "CPU ms per acknowledged case (server, PostgreSQL, wrk): $CPU"
  sleep 1
  IN_DB=$(psql -tA "$DATABASE_URL" -c "SELECT count(*) FROM cases WHERE description = '$DESC'")
  EVENTS=$(psql -tA "$DATABASE_URL" -c "SELECT count(*) FROM case_events e JOIN cases c ON c.id = e.case_id WHERE e.action = 'report' AND c.description = '$DESC'")
  MAP=$(psql -tA "$DATABASE_URL" -c "SELECT count(*) FROM layers.cases m JOIN cases c ON c.id = m.fid WHERE c.description = '$DESC'")
  KEYROWS=$(psql -tA "$DATABASE_URL" -c "SELECT count(*) FROM idempotency_keys k JOIN cases c ON c.id = k.case_id WHERE c.description = '$DESC'")
  echo "acknowledged (201): $CREATED; cases in the database: $IN_DB; report events: $EVENTS; map rows: $MAP; idempotency keys: $KEYROWS"
  # wrk stops counting at the deadline while up to CONN requests are still in flight:
  # those may be committed without being counted, never the other way round
  if [ "$IN_DB" -lt "$CREATED" ] || [ "$IN_DB" -gt $((CREATED + CONN)) ] \
     || [ "$IN_DB" != "$EVENTS" ] || [ "$IN_DB" != "$MAP" ] \
     || { [ "$KEYED" = 1 ] && [ "$KEYROWS" != "$IN_DB" ]; }; then
    echo "MISMATCH: acknowledged cases are missing or rows are inconsistent" >&2; exit 1
  fi
  echo "check: every acknowledged case is in the database (with its event and map row$([ "$KEYED" = 1 ] && echo ' and its key'))"
  sed -n 's/.*RESULT created=[0-9]* other=\([0-9]*\) seconds=[0-9.]* rps=\([0-9.]*\) p50_ms=\([0-9.]*\) p99_ms=\([0-9.]*\).*/\2 \3 \4 \1/p' \
    "$WORK/wrk-$RUNNO.txt" | while read -r RPS P50 P99 OTHER; do
    echo "citygrid-$MODE#$RUNNO $RPS $P50 $P99 $OTHER $CPU" >>"$SUMMARY"
  done
  if [ "${PROFILE:-0}" = 1 ]; then
    echo "-- pg_stat_statements: statements per acknowledged case, mean and total time"
    psql -P pager=off "$DATABASE_URL" -c "SELECT round(calls::numeric / greatest($CREATED, 1), 3) AS per_case,
        round(plans::numeric / greatest(calls, 1), 3) AS plans_per_call,
        round(mean_plan_time::numeric, 3) AS plan_ms,
        round(mean_exec_time::numeric, 3) AS mean_ms, round(total_exec_time::numeric) AS total_ms,
        left(regexp_replace(query, '\s+', ' ', 'g'), 110) AS statement
      FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
      ORDER BY total_exec_time + total_plan_time DESC LIMIT 12"
    echo "-- /metrics: POST /api/cases in the server"
    curl -s "http://127.0.0.1:$PORT/metrics" | grep -E 'citygrid_http_request_duration_seconds_(sum|count)\{route="/api/cases"'
  fi
done
kill $SERVER; wait $SERVER 2>/dev/null || true
trap - EXIT

pgb() { # label, script, extra pgbench options: a warm-up, then the measured run
  local label="$1" script="$2"; shift 2
  if [ "$WARMUP" -gt 0 ]; then
    pgbench -n -c "$CONN" -j 2 -T "$WARMUP" "$@" -f "$script" "$DATABASE_URL" >/dev/null 2>&1
  fi
  echo "== reference: pgbench, $label, ${DUR}s, $CONN clients"
  times >"$WORK/times"; local p0 w0 p1 w1 rows cpu; p0=$(cluster_ticks); w0=$(children_ticks)
  pgbench -n -c "$CONN" -j 2 -T "$DUR" "$@" -f "$script" "$DATABASE_URL" >"$WORK/pgb-all.txt" 2>&1
  # pgbench's backends end with it: once the postmaster has reaped them their CPU time
  # is in its children's total (read too early, a backend ending in between is lost)
  sleep 1
  times >"$WORK/times"; p1=$(cluster_ticks); w1=$(children_ticks)
  grep -E "^(tps|latency average|number of transactions actually processed)" "$WORK/pgb-all.txt" | tee "$WORK/pgb.txt"
  rows=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$WORK/pgb.txt")
  cpu="$(python3 -c "import sys; c = max(int(sys.argv[3]), 1); print(' '.join(f'{(int(t) * 10 / c):.3f}' for t in sys.argv[1:3]))" \
    $((p1 - p0)) $((w1 - w0)) "${rows:-0}")"
  echo "CPU ms per row (PostgreSQL, pgbench): $cpu"
  echo "pgbench-$label $(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$WORK/pgb.txt") $cpu" >>"$SUMMARY"
}
for REF in $REFS; do
  case "$REF" in
    plain) pgb plain benches/intake/insert.sql ;;
    plain-prepared) pgb plain-prepared benches/intake/insert.sql -M prepared ;;
    keyed) case "$MODES" in *yes*) pgb keyed benches/intake/insert_keyed.sql ;; esac ;;
    *) echo "unknown reference $REF" >&2; exit 2 ;;
  esac
done

echo "== summary ($(nproc) cores; server, database and load generator on the same machine;"
echo "   citygrid's pool holds at most $CITYGRID_DB_MAX_CONNECTIONS database connections, pgbench opens $CONN)"
python3 - "$SUMMARY" <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
ref = {r[0][len("pgbench-"):]: float(r[1]) for r in rows if r[0].startswith("pgbench-") and len(r) > 1}
for r in rows:
    if r[0].startswith("pgbench-"):
        cpu = f"  CPU ms per row: PostgreSQL {r[2]}, pgbench {r[3]}" if len(r) >= 4 else ""
        print(f"{r[0]:<24} {float(r[1]):8.0f} rows/s{cpu}")
for r in rows:
    if not r[0].startswith("citygrid-"):
        continue
    rps, p50, p99, other = float(r[1]), float(r[2]), float(r[3]), int(r[4])
    ratios = ", ".join(f"{rps / v:.2f}x {k}" for k, v in ref.items() if v > 0
                       and (k != "keyed" or r[0].startswith("citygrid-yes")))
    print(f"{r[0]:<24} {rps:8.0f} cases/s  p50 {p50:.1f} ms  p99 {p99:.1f} ms  non-201 {other}  ({ratios})")
    if len(r) >= 8:
        print(f"{'':<24} CPU ms per case: server {r[5]}, PostgreSQL {r[6]}, wrk {r[7]}")
PY

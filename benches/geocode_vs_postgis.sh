#!/usr/bin/env bash
# Geocoding (issue 21): citygrid's in-memory geocoder versus the same questions asked of
# PostGIS, on the sample city's addresses (the Helsinki extract's addr:street +
# addr:housenumber, filled into `addresses` by `citygrid import osm`), same machine:
#
#   forward  an address text → the best places
#            citygrid: GET /api/geocode?q=<road number>&limit=5
#            PostGIS:  pg_trgm similarity on the address text (GIN trigram index of
#                      migration 0014): WHERE text % q ORDER BY similarity(text, q) DESC LIMIT 5
#   reverse  a point → the nearest address and the nearest named road, each with its
#            ground distance, and the unit grid / community / street / division holding
#            the point (unit grids generated over the address extent: 100 m cells,
#            communities of at most 30×30 cells, one street, the district)
#            citygrid: GET /api/reverse?lon=&lat=
#            PostGIS:  the same question in one statement: GiST KNN `geom <-> p LIMIT 1`
#                      on addresses and on the named roads, ST_Distance on geography,
#                      and ST_Contains(geom, p) on the four area tables (GiST);
#                      the address-only KNN of earlier runs is printed too
#                      ("reverse-addr", for comparison with old figures)
#
# Three ways:
#  1. in process: citygrid-geocode's example `bench` (the engine alone, no HTTP), when
#     it is in the tree, versus PostGIS inside the server (the statement N times in a
#     PL/pgSQL loop: cached plan, no client, no wire protocol);
#  2. over HTTP: the service under wrk versus pgbench -M prepared, CONNS connections;
#  3. the ratio of each pair.
#
#   bash benches/geocode_vs_postgis.sh [SECONDS=15] [CONNS=4] [QUERIES=2000]
#
# CITYGRID_BIN=path reuses a built binary (else `cargo build --release`); the example
# runs with --release unless GEOCODE_EXAMPLE_PROFILE=dev.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
SECONDS_PER_RUN="${1:-15}"
CONNS="${2:-4}"
QUERIES="${3:-2000}"
export CITYGRID_HOME="$ROOT/target/bench-geocode-home"
unset DATABASE_URL CITYGRID_BIND
WORK="$ROOT/target/bench-geocode"
rm -rf "$WORK"; mkdir -p "$WORK"
EXTRACT="$ROOT/data/helsinki.osm.pbf"

if [ -n "${CITYGRID_BIN:-}" ]; then
  BIN="$CITYGRID_BIN"
else
  cargo build --release -p citygrid >/dev/null 2>&1 || cargo build --release -p citygrid
  BIN="$ROOT/target/release/citygrid"
fi
"$BIN" db stop >/dev/null 2>&1 || true
rm -rf "$CITYGRID_HOME"
"$BIN" db start >/dev/null 2>&1
DB_URL="$("$BIN" db url)"
export DATABASE_URL="$DB_URL"
SERVER=""
cleanup() {
  [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null || true
  unset DATABASE_URL
  "$BIN" db stop >/dev/null 2>&1 || true
}
trap cleanup EXIT
psql_q() { psql "$DB_URL" -v ON_ERROR_STOP=1 -qAt "$@"; }

echo "== data: $EXTRACT"
"$BIN" import osm "$EXTRACT" --prefix osm >"$WORK/import.log" 2>&1 || { cat "$WORK/import.log"; exit 1; }
N_ADDR=$(psql_q -c "SELECT count(*) FROM addresses")
N_ROADS=$(psql_q -c "SELECT count(*) FROM layers.osm_roads WHERE name IS NOT NULL")
echo "addresses: $N_ADDR, named road features: $N_ROADS"
psql_q -c "ANALYZE addresses"
# The same queries for both sides: QUERIES addresses drawn at random (seeded), as
# "road number" (the text PostGIS's trigram index holds, so both sides find them).
psql_q <<SQL
SELECT setseed(0.21);
CREATE TABLE bench_q AS
  SELECT row_number() OVER () AS i, q FROM (
    SELECT road || ' ' || number AS q
    FROM addresses ORDER BY random() LIMIT $QUERIES) s;
SQL
psql_q -c "SELECT q FROM bench_q ORDER BY i" >"$WORK/queries.txt"
read -r W S E N <<<"$(psql_q -F' ' -c "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Extent(geom) AS e FROM addresses) x")"
echo "address extent: $W $S $E $N; $(wc -l <"$WORK/queries.txt") forward queries"
# The areas reverse answers with: unit grids over the address extent (grid generate),
# the same for both sides (the engine's example reads them from areas.jsonl).
psql_q -c "INSERT INTO departments (code, name, name_en) VALUES ('bench', 'bench', 'bench')"
python3 -c "import json; W, S, E, N = $W, $S, $E, $N; print(json.dumps({'type': 'FeatureCollection', 'features': [{'type': 'Feature', 'properties': {}, 'geometry': {'type': 'Polygon', 'coordinates': [[[W, S], [E, S], [E, N], [W, N], [W, S]]]}}]}))" >"$WORK/area.geojson"
"$BIN" grid generate --area "$WORK/area.geojson" --admin-code 420102 --street-code 001 \
  --default-department bench >"$WORK/grid.log" 2>&1 || { cat "$WORK/grid.log"; exit 1; }
AREAS_SQL="SELECT 'unit_grid' AS kind, code, code AS name, geom FROM layers.unit_grids
  UNION ALL SELECT 'community', code, name, geom FROM layers.communities
  UNION ALL SELECT 'street', code, name, geom FROM layers.streets
  UNION ALL SELECT 'division', code, name, geom FROM layers.admin_divisions"
psql_q -c "SELECT json_build_object('kind', kind, 'code', code, 'name', name, 'coordinates',
  (ST_AsGeoJSON(ST_Multi(geom), 7)::json)->'coordinates') FROM ($AREAS_SQL) a WHERE geom IS NOT NULL" >"$WORK/areas.jsonl"
echo "areas: $(psql_q -F' ' -c "SELECT string_agg(kind || ' ' || n, ', ') FROM (SELECT kind, count(*) AS n FROM ($AREAS_SQL) a GROUP BY kind ORDER BY kind) c")"
for t in unit_grids communities streets admin_divisions; do psql_q -c "ANALYZE layers.$t"; done
# The reverse points, the same for both sides in process: uniform in the address extent.
psql_q <<SQL
SELECT setseed(0.6);
CREATE TABLE bench_p (i int PRIMARY KEY, x float8, y float8);
INSERT INTO bench_p SELECT i, $W + random() * ($E - $W), $S + random() * ($N - $S) FROM generate_series(1, $QUERIES) i;
SQL
psql_q -F' ' -c "SELECT x, y FROM bench_p ORDER BY i" >"$WORK/points.txt"
# reverse_sql POINT-EXPRESSION [address-only]: the reverse statement (see the top)
reverse_sql() {
  local p="$1"
  if [ "${2:-}" = address-only ]; then
    echo "SELECT id, ST_Distance(geom::geography, $p::geography) FROM addresses ORDER BY geom <-> $p LIMIT 1"
    return
  fi
  echo "SELECT a.id, ST_Distance(a.geom::geography, $p::geography), r.name, r.osm_id,
    ST_Distance(r.geom::geography, $p::geography), z.areas
  FROM (SELECT id, geom FROM addresses ORDER BY geom <-> $p LIMIT 1) a,
    (SELECT name, osm_id, geom FROM layers.osm_roads WHERE name IS NOT NULL ORDER BY geom <-> $p LIMIT 1) r,
    (SELECT array_agg(code) AS areas FROM (
      SELECT code FROM layers.unit_grids WHERE ST_Contains(geom, $p)
      UNION ALL SELECT code FROM layers.communities WHERE ST_Contains(geom, $p)
      UNION ALL SELECT code FROM layers.streets WHERE ST_Contains(geom, $p)
      UNION ALL SELECT code FROM layers.admin_divisions WHERE ST_Contains(geom, $p)) u) z"
}
TEXT_SQL="coalesce(full_text, coalesce(road, '') || ' ' || coalesce(number, ''))"

echo
echo "== 1. in process"
if [ -f "$ROOT/geocode/examples/bench.rs" ]; then
  PROFILE_FLAG="--release"
  [ "${GEOCODE_EXAMPLE_PROFILE:-release}" = dev ] && PROFILE_FLAG=""
  cargo run -q $PROFILE_FLAG -p citygrid-geocode --example bench -- "$EXTRACT" "$SECONDS_PER_RUN" \
    "areas=$WORK/areas.jsonl" "points=$WORK/points.txt" 2>"$WORK/example.err" | tee "$WORK/example.out" ||
    { echo "the engine's example failed:"; tail -5 "$WORK/example.err"; }
else
  echo "(geocode/examples/bench.rs is not in the tree: no in-process engine figures)"
  : >"$WORK/example.out"
fi
pg_inside() { # forward|reverse|reverse-addr -> mean microseconds per query, and p99
  local body
  case "$1" in
    forward) body="SELECT q INTO qq FROM bench_q WHERE i = 1 + (n % $QUERIES); t1 := clock_timestamp();
      PERFORM id FROM addresses WHERE $TEXT_SQL % qq ORDER BY similarity($TEXT_SQL, qq) DESC LIMIT 5;" ;;
    reverse | reverse-addr)
      local mode=""; [ "$1" = reverse-addr ] && mode=address-only
      local stmt; stmt="$(reverse_sql p $mode)"
      body="SELECT ST_SetSRID(ST_MakePoint(b.x, b.y), 4326) INTO p FROM bench_p b WHERE b.i = 1 + (n % $QUERIES); t1 := clock_timestamp();
      PERFORM ${stmt#SELECT };" ;;
  esac
  psql_q -c "DO \$\$ DECLARE t1 timestamptz; p geometry; qq text; us float8[] := '{}'; BEGIN PERFORM setseed(0.6);
    FOR n IN 1..$QUERIES LOOP $body us := us || (extract(epoch FROM clock_timestamp() - t1) * 1e6); END LOOP;
    RAISE NOTICE 'US % %', round((SELECT avg(u) FROM unnest(us) u)::numeric, 1),
      round((SELECT percentile_disc(0.99) WITHIN GROUP (ORDER BY u) FROM unnest(us) u)::numeric, 1); END \$\$" 2>&1 |
    awk '/US/ {print $(NF-1), $NF}'
}
read -r PF_MEAN PF_P99 <<<"$(pg_inside forward)"
read -r PR_MEAN PR_P99 <<<"$(pg_inside reverse)"
read -r PA_MEAN PA_P99 <<<"$(pg_inside reverse-addr)"
fig() { grep -o "$1=[0-9.]*" "$WORK/example.out" | head -1 | cut -d= -f2; }
CF_QPS=$(fig forward_qps); CF_P99=$(fig forward_p99_us); CR_QPS=$(fig reverse_qps); CR_P99=$(fig reverse_p99_us)
printf '%-12s | %14s %12s | %14s %12s | %7s\n' query 'citygrid q/s' 'p99 us' 'PostGIS q/s' 'p99 us' ratio
for q in forward reverse reverse-addr; do
  case "$q" in
    forward) cq=$CF_QPS; c99=$CF_P99; pm=$PF_MEAN; p99=$PF_P99 ;;
    reverse) cq=$CR_QPS; c99=$CR_P99; pm=$PR_MEAN; p99=$PR_P99 ;;
    *) cq=$CR_QPS; c99=$CR_P99; pm=$PA_MEAN; p99=$PA_P99 ;;
  esac
  pq=$(python3 -c "print(f'{1e6 / float($pm):.0f}')")
  ratio=$(python3 -c "print(f'{float(\"$cq\") / float($pq):.1f}x' if \"$cq\" else 'n/a')")
  printf '%-12s | %14s %12s | %14s %12s | %7s\n' "$q" "${cq:-n/a}" "${c99:-n/a}" "$pq" "$p99" "$ratio"
done
echo "   (citygrid: the engine on one thread; PostGIS: one backend, the statement in a PL/pgSQL loop;"
echo "    reverse-addr: PostGIS answers only the nearest address, citygrid the whole reverse question)"
echo "   citygrid's reverse answers held an address / a road / an area in $(fig reverse_with_address) / $(fig reverse_with_road) / $(fig reverse_with_area) of the points (within 200 m)"

echo
echo "== 2. over HTTP: citygrid (wrk) vs PostGIS (pgbench -M prepared), $CONNS connections, ${SECONDS_PER_RUN}s each"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE="http://127.0.0.1:$PORT"
CITYGRID_RATE_LIMIT=false CITYGRID_ACCESS_LOG=false RUST_LOG=warn,citygrid_spatial_api::geocode=info \
  "$BIN" serve --bind "127.0.0.1:$PORT" >"$WORK/serve.log" 2>&1 &
SERVER=$!
for _ in $(seq 1200); do
  grep -q "geocoding index loaded" "$WORK/serve.log" && break
  sleep 0.1
done
grep "geocoding index loaded" "$WORK/serve.log" | sed 's/^/   /' || { echo "the index never loaded"; tail "$WORK/serve.log"; exit 1; }
FIRST_Q=$(head -1 "$WORK/queries.txt")
echo "sanity: $FIRST_Q"
curl -sf -G "$BASE/api/geocode" --data-urlencode "q=$FIRST_Q" --data-urlencode "limit=1" |
  python3 -c 'import json,sys; c=json.load(sys.stdin)["candidates"][0]; print("   citygrid:", c["label"], c["level"], c["point"])'
psql_q -c "SELECT road || ' ' || number, ST_X(geom), ST_Y(geom) FROM addresses WHERE $TEXT_SQL % '$(printf %s "$FIRST_Q" | sed "s/'/''/g")' ORDER BY similarity($TEXT_SQL, '$(printf %s "$FIRST_Q" | sed "s/'/''/g")') DESC LIMIT 1" | sed 's/^/   PostGIS:  /'

read -r SX SY <<<"$(head -1 "$WORK/points.txt")"
echo "sanity: reverse at $SX $SY"
curl -sf -G "$BASE/api/reverse" --data-urlencode "lon=$SX" --data-urlencode "lat=$SY" |
  python3 -c 'import json,sys; v=json.load(sys.stdin); a=v.get("address") or {}; r=v.get("road") or {}; print("   citygrid:", a.get("label"), a.get("distance_m"), "|", r.get("name"), r.get("distance_m"), "|", [x["code"] for x in v.get("areas", [])])'
psql_q -F' | ' -c "$(reverse_sql "ST_SetSRID(ST_MakePoint($SX, $SY), 4326)")" | sed 's/^/   PostGIS:  /'

cat >"$WORK/common.lua" <<'LUA'
math.randomseed(21)
function enc(s) return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", string.byte(c)) end)) end
done = function(summary, latency, requests)
  io.write(string.format("RESULT %.1f %.3f %.3f %d\n", summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.timeout))
end
LUA
cat >"$WORK/forward.lua" <<LUA
dofile("$WORK/common.lua")
queries = {}
for line in io.lines("$WORK/queries.txt") do queries[#queries + 1] = enc(line) end
request = function()
  return wrk.format("GET", "/api/geocode?limit=5&q=" .. queries[math.random(#queries)])
end
LUA
cat >"$WORK/reverse.lua" <<LUA
dofile("$WORK/common.lua")
request = function()
  return wrk.format("GET", string.format("/api/reverse?lon=%.6f&lat=%.6f", $W + math.random() * ($E - $W), $S + math.random() * ($N - $S)))
end
LUA
cat >"$WORK/forward.sql" <<SQL
\set i random(1, $QUERIES)
SELECT a.id FROM addresses a, (SELECT q FROM bench_q WHERE i = :i) b WHERE coalesce(a.full_text, coalesce(a.road, '') || ' ' || coalesce(a.number, '')) % b.q ORDER BY similarity(coalesce(a.full_text, coalesce(a.road, '') || ' ' || coalesce(a.number, '')), b.q) DESC LIMIT 5;
SQL
WX=$(python3 -c "print(int(($E - $W) * 1e6))"); SYR=$(python3 -c "print(int(($N - $S) * 1e6))")
for q in reverse reverse-addr; do
  mode=""; [ "$q" = reverse-addr ] && mode=address-only
  { echo "\\set x $W + random(0, $WX) / 1000000.0"
    echo "\\set y $S + random(0, $SYR) / 1000000.0"
    echo "$(reverse_sql "ST_SetSRID(ST_MakePoint(:x, :y), 4326)" $mode | tr '\n' ' ');"
  } >"$WORK/$q.sql"
done
run_wrk() { # script -> "qps p50 p99 errors"
  wrk -t2 -c"$CONNS" -d"${SECONDS_PER_RUN}s" -s "$WORK/$1.lua" "$BASE" 2>&1 | awk '/^RESULT/ {print $2, $3, $4, $5}'
}
run_pgbench() { # script -> "qps p50 p99"
  local dir="$WORK/pgb-$1"; mkdir -p "$dir"
  (cd "$dir" && pgbench -n -M prepared -c"$CONNS" -j2 -T"$SECONDS_PER_RUN" -f "$WORK/$1.sql" -l --log-prefix=tx "$DB_URL" >"$dir/out.txt" 2>&1) ||
    { cat "$dir/out.txt"; return 1; }
  local tps; tps=$(awk '/^tps/ {print $3; exit}' "$dir/out.txt")
  cat "$dir"/tx* | awk '{print $3}' | sort -n >"$dir/lat.txt"
  local n; n=$(wc -l <"$dir/lat.txt")
  local p50 p99
  p50=$(awk -v n="$n" 'NR == int(n * 0.50) + 1 {printf "%.3f", $1 / 1000; exit}' "$dir/lat.txt")
  p99=$(awk -v n="$n" 'NR == int(n * 0.99) + 1 {printf "%.3f", $1 / 1000; exit}' "$dir/lat.txt")
  echo "$tps $p50 $p99"
}
echo "== load: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-12s | %12s %9s %9s | %12s %9s %9s | %7s\n' query 'citygrid q/s' 'p50 ms' 'p99 ms' 'PostGIS q/s' 'p50 ms' 'p99 ms' ratio
for q in forward reverse reverse-addr; do
  # reverse-addr: the same citygrid run against PostGIS's address-only statement
  [ "$q" = reverse-addr ] || read -r cq c50 c99 cerr <<<"$(run_wrk "$q")"
  read -r pq p50 p99 <<<"$(run_pgbench "$q")"
  ratio=$(python3 -c "print(f'{float($cq) / float($pq):.1f}x')")
  printf '%-12s | %12.0f %9s %9s | %12.0f %9s %9s | %7s\n' "$q" "$cq" "$c50" "$c99" "$pq" "$p50" "$p99" "$ratio"
  [ "$q" = reverse-addr ] || [ "$cerr" = 0 ] || echo "   ($cerr HTTP errors in the citygrid run)"
done

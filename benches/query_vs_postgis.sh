#!/usr/bin/env bash
# Spatial queries: citygrid's in-memory query engine versus the same questions asked
# of PostGIS in SQL, on the same data and machine, two ways:
#
#  1. In process ("from the same process", issue #6): spatial-api/benches/query_engine.rs
#     loads the layers into the service's own LayerStore as `citygrid serve` does and
#     runs N concurrent tokio tasks of each query through the service's real code
#     paths, then the same number of tasks sending the SQL below as sqlx prepared
#     statements; it first checks that a sample of answers agree (same fids).
#  2. Over HTTP: the release binary under wrk versus pgbench -M prepared.
#
#   locate   unit grid, community, street and admin division at a random point
#            (20 000 ~111 m grid cells in 400 communities, 8 streets, 1 district)
#            citygrid: GET /api/locate?lon=&lat=   (mgmt::locate::locate)
#            PostGIS:  four (SELECT to_jsonb(t) … WHERE ST_Contains(geom, p) ORDER BY fid LIMIT 1)
#   nearest  the 10 nearest of 200k points with ground distances
#            citygrid: GET /api/nearest?layer=bench_poi&lon=&lat=&k=10
#            PostGIS:  SELECT fid, name, ST_Distance(geom::geography, p::geography)
#                      FROM bench_poi ORDER BY geom <-> p LIMIT 10   (GiST KNN)
#   items    ~300 m random box + attribute filter on 50k buildings, as GeoJSON
#            citygrid: GET /ogc/collections/bench_bldg/items?bbox=…&filter=rank >= 5
#            PostGIS:  SELECT fid, name, rank, ST_AsGeoJSON(geom) FROM bench_bldg
#                      WHERE geom && envelope AND rank >= 5
#
#   bash benches/query_vs_postgis.sh [SECONDS=15] [CONNS=4] [TASKS=2,4]
#
# SECONDS per run; CONNS connections for wrk/pgbench (2 threads); TASKS the
# in-process concurrency levels.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
SECONDS_PER_RUN="${1:-15}"
CONNS="${2:-4}"
TASKS="${3:-2,4}"
export CITYGRID_HOME="$ROOT/target/bench-query-home"
unset DATABASE_URL
WORK="$ROOT/target/bench-query"
rm -rf "$WORK"; mkdir -p "$WORK"

cargo build --release -p citygrid >/dev/null 2>&1 || cargo build --release -p citygrid
cargo build --release -p citygrid-spatial-api --bench query_engine >/dev/null 2>&1 ||
  cargo build --release -p citygrid-spatial-api --bench query_engine
BIN="$ROOT/target/release/citygrid"
# A fresh cluster on every run (creating it also applies the migrations).
"$BIN" db stop >/dev/null 2>&1 || true
rm -rf "$CITYGRID_HOME"
"$BIN" db start >/dev/null 2>&1
DB_URL="$("$BIN" db url)"
export DATABASE_URL="$DB_URL"

psql_q() { psql "$DB_URL" -v ON_ERROR_STOP=1 -qAt "$@"; }

echo "== data (deterministic)"
psql_q <<'SQL'
-- The place layers of /api/locate: one district, 8 streets (0.1 x 0.05 degrees),
-- 400 communities (0.01 x 0.01) and 200 x 100 unit grids of 0.002 x 0.001 degrees
-- (~111 m x 111 m at 60 N), with valid codes.
INSERT INTO layers.admin_divisions (fid, geom, code, name)
VALUES (1, ST_Multi(ST_MakeEnvelope(24.80, 60.10, 25.20, 60.20, 4326)), '420102', 'Bench district');
INSERT INTO layers.streets (fid, geom, code, admin_code, name)
  SELECT sx * 2 + sy + 1, ST_Multi(ST_MakeEnvelope(24.80 + sx * 0.1, 60.10 + sy * 0.05, 24.90 + sx * 0.1, 60.15 + sy * 0.05, 4326)),
         '420102' || lpad((sx * 2 + sy + 1)::text, 3, '0'), '420102', 'Street ' || (sx * 2 + sy + 1)
  FROM generate_series(0, 3) sx, generate_series(0, 1) sy;
INSERT INTO layers.communities (fid, geom, code, street_code, admin_code, name)
  SELECT cx * 10 + cy + 1, ST_Multi(ST_MakeEnvelope(24.80 + cx * 0.01, 60.10 + cy * 0.01, 24.81 + cx * 0.01, 60.11 + cy * 0.01, 4326)),
         '420102' || lpad(((cx / 10) * 2 + cy / 5 + 1)::text, 3, '0') || lpad(((cx % 10) * 5 + cy % 5 + 1)::text, 3, '0'),
         '420102' || lpad(((cx / 10) * 2 + cy / 5 + 1)::text, 3, '0'), '420102', 'Community ' || (cx * 10 + cy + 1)
  FROM generate_series(0, 39) cx, generate_series(0, 9) cy;
INSERT INTO layers.unit_grids (fid, geom, code, community_code, street_code, admin_code, area_m2, valid_from)
  SELECT gx * 100 + gy + 1, g, c || lpad(((gx % 5) * 10 + gy % 10 + 1)::text, 3, '0'), c, left(c, 9), '420102',
         round(ST_Area(g::geography)::numeric, 1)::float8, DATE '2026-01-01'
  FROM generate_series(0, 199) gx, generate_series(0, 99) gy,
       LATERAL (SELECT ST_Multi(ST_MakeEnvelope(24.80 + gx * 0.002, 60.10 + gy * 0.001, 24.802 + gx * 0.002, 60.101 + gy * 0.001, 4326)) AS g,
                       '420102' || lpad(((gx / 50) * 2 + gy / 50 + 1)::text, 3, '0') || lpad((((gx / 5) % 10) * 5 + (gy / 10) % 5 + 1)::text, 3, '0') AS c) v;
CREATE TABLE layers.bench_poi AS
  SELECT i::bigint AS fid,
         ST_SetSRID(ST_MakePoint(24.80 + ((hashint4(i) & 2147483647)::float8 / 2147483648.0) * 0.4,
                                 60.10 + ((hashint4(i + 7777777) & 2147483647)::float8 / 2147483648.0) * 0.1), 4326) AS geom,
         'poi ' || i AS name, i % 10 AS rank
  FROM generate_series(1, 200000) i;
CREATE TABLE layers.bench_bldg AS
  SELECT i::bigint AS fid,
         ST_Buffer(ST_SetSRID(ST_MakePoint(24.80 + ((hashint4(i + 1) & 2147483647)::float8 / 2147483648.0) * 0.4,
                                           60.10 + ((hashint4(i + 9999999) & 2147483647)::float8 / 2147483648.0) * 0.1), 4326),
                   0.0001 + (i % 5) * 0.00002, 2) AS geom,
         'bldg ' || i AS name, i % 10 AS rank
  FROM generate_series(1, 50000) i;
ALTER TABLE layers.bench_poi ADD PRIMARY KEY (fid);
ALTER TABLE layers.bench_bldg ADD PRIMARY KEY (fid);
CREATE INDEX ON layers.bench_poi USING gist (geom);
CREATE INDEX ON layers.bench_bldg USING gist (geom);
CREATE INDEX ON layers.bench_bldg (rank);
ANALYZE layers.admin_divisions; ANALYZE layers.streets; ANALYZE layers.communities; ANALYZE layers.unit_grids;
ANALYZE layers.bench_poi; ANALYZE layers.bench_bldg;
INSERT INTO layer_catalog (id, title, kind, geometry_type, fields, feature_count, bounds)
SELECT id, id, 'vector', gt, '[{"name":"name","type":"text"},{"name":"rank","type":"integer"}]'::jsonb, n,
       ARRAY[24.80, 60.10, 25.20, 60.20]
FROM (VALUES ('bench_poi', 'Point', 200000), ('bench_bldg', 'Polygon', 50000)) v(id, gt, n);
SQL

echo
echo "== 1. in process: the query engine vs sqlx prepared statements, ${SECONDS_PER_RUN}s per run, tasks $TASKS"
QE_SECONDS="$SECONDS_PER_RUN" QE_CONCURRENCY="$TASKS" \
  cargo bench -q -p citygrid-spatial-api --bench query_engine 2>&1 | grep -v '^\s*$' || { echo "in-process benchmark failed"; exit 1; }
echo
echo "== 2. over HTTP: citygrid (wrk) vs PostGIS (pgbench -M prepared)"

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE="http://127.0.0.1:$PORT"
# No rate limit: the load generator is one client address.
CITYGRID_RATE_LIMIT=false RUST_LOG=warn "$BIN" serve --bind "127.0.0.1:$PORT" >"$WORK/serve.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; unset DATABASE_URL; "$BIN" db stop >/dev/null 2>&1 || true' EXIT
for id in unit_grids communities bench_poi bench_bldg; do
  for _ in $(seq 600); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/ogc/collections/$id")" = 200 ] && break
    sleep 0.1
  done
done

# The same random points for both sides: x in 24.80..25.20, y in 60.10..60.20.
cat >"$WORK/common.lua" <<'LUA'
math.randomseed(6)
function rx() return 24.80 + math.random() * 0.398 end
function ry() return 60.10 + math.random() * 0.0995 end
function enc(s) return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", string.byte(c)) end)) end
done = function(summary, latency, requests)
  io.write(string.format("RESULT %.1f %.3f %.3f %d\n", summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.timeout))
end
LUA
cat >"$WORK/locate.lua" <<LUA
dofile("$WORK/common.lua")
request = function()
  return wrk.format("GET", string.format("/api/locate?lon=%.6f&lat=%.6f", rx(), ry()))
end
LUA
cat >"$WORK/nearest.lua" <<LUA
dofile("$WORK/common.lua")
request = function()
  return wrk.format("GET", string.format("/api/nearest?layer=bench_poi&lon=%.6f&lat=%.6f&k=10", rx(), ry()))
end
LUA
cat >"$WORK/items.lua" <<LUA
dofile("$WORK/common.lua")
request = function()
  local x, y = rx(), ry()
  return wrk.format("GET", string.format("/ogc/collections/bench_bldg/items?bbox=%.6f,%.6f,%.6f,%.6f&filter=%s&limit=1000",
    x, y, x + 0.0054, y + 0.0027, enc("rank >= 5")))
end
LUA

cat >"$WORK/locate.sql" <<'SQL'
\set x 24.80 + random(0, 398000) / 1000000.0
\set y 60.10 + random(0, 99500) / 1000000.0
SELECT (SELECT to_jsonb(t) - 'geom' - 'fid' - 'responsible' FROM layers.unit_grids t WHERE ST_Contains(t.geom, ST_SetSRID(ST_MakePoint(:x, :y), 4326)) ORDER BY fid LIMIT 1), (SELECT to_jsonb(t) - 'geom' - 'fid' FROM layers.communities t WHERE ST_Contains(t.geom, ST_SetSRID(ST_MakePoint(:x, :y), 4326)) ORDER BY fid LIMIT 1), (SELECT to_jsonb(t) - 'geom' - 'fid' FROM layers.streets t WHERE ST_Contains(t.geom, ST_SetSRID(ST_MakePoint(:x, :y), 4326)) ORDER BY fid LIMIT 1), (SELECT to_jsonb(t) - 'geom' - 'fid' FROM layers.admin_divisions t WHERE ST_Contains(t.geom, ST_SetSRID(ST_MakePoint(:x, :y), 4326)) ORDER BY fid LIMIT 1);
SQL
cat >"$WORK/nearest.sql" <<'SQL'
\set x 24.80 + random(0, 398000) / 1000000.0
\set y 60.10 + random(0, 99500) / 1000000.0
SELECT fid, name, ST_Distance(geom::geography, ST_SetSRID(ST_MakePoint(:x, :y), 4326)::geography) FROM layers.bench_poi ORDER BY geom <-> ST_SetSRID(ST_MakePoint(:x, :y), 4326) LIMIT 10;
SQL
cat >"$WORK/items.sql" <<'SQL'
\set x 24.80 + random(0, 398000) / 1000000.0
\set y 60.10 + random(0, 99500) / 1000000.0
SELECT fid, name, rank, ST_AsGeoJSON(geom) FROM layers.bench_bldg WHERE geom && ST_MakeEnvelope(:x, :y, :x + 0.0054, :y + 0.0027, 4326) AND rank >= 5;
SQL

# Sanity: both sides answer the same question (one fixed point each).
curl -sf "$BASE/api/nearest?layer=bench_poi&lon=25.0&lat=60.15&k=3" | python3 -c 'import json,sys; print("citygrid nearest:", [(f["id"], f["distance_m"]) for f in json.load(sys.stdin)["features"]])'
psql_q -c "SELECT fid, round(ST_Distance(geom::geography, ST_SetSRID(ST_MakePoint(25.0, 60.15), 4326)::geography)::numeric, 3) FROM layers.bench_poi ORDER BY geom <-> ST_SetSRID(ST_MakePoint(25.0, 60.15), 4326) LIMIT 3" | tr '\n' ' '; echo "(PostGIS)"

run_wrk() { # script -> "qps p50 p99 errors"
  wrk -t2 -c"$CONNS" -d"${SECONDS_PER_RUN}s" -s "$WORK/$1.lua" "$BASE" 2>&1 | awk '/^RESULT/ {print $2, $3, $4, $5}'
}
run_pgbench() { # script -> "qps p50 p99 errors"
  local dir="$WORK/pgb-$1"; mkdir -p "$dir"
  (cd "$dir" && pgbench -n -M prepared -c"$CONNS" -j2 -T"$SECONDS_PER_RUN" -f "$WORK/$1.sql" -l --log-prefix=tx "$DB_URL" >"$dir/out.txt" 2>&1)
  local tps; tps=$(awk '/^tps/ {print $3; exit}' "$dir/out.txt")
  cat "$dir"/tx* | awk '{print $3}' | sort -n >"$dir/lat.txt"
  local n; n=$(wc -l <"$dir/lat.txt")
  local p50 p99
  p50=$(awk -v n="$n" 'NR == int(n * 0.50) + 1 {printf "%.3f", $1 / 1000; exit}' "$dir/lat.txt")
  p99=$(awk -v n="$n" 'NR == int(n * 0.99) + 1 {printf "%.3f", $1 / 1000; exit}' "$dir/lat.txt")
  echo "$tps $p50 $p99 0"
}

metric() { # route -> "sum count" of the service's own request timer
  curl -s "$BASE/metrics" | awk -v r="route=\"$1\"" 'index($0, "citygrid_http_request_duration_seconds_sum{" r "}") == 1 {s = $2}
    index($0, "citygrid_http_request_duration_seconds_count{" r "}") == 1 {c = $2} END {print s + 0, c + 0}'
}
route_of() { case "$1" in locate) echo "/api/locate" ;; nearest) echo "/api/nearest" ;; *) echo "/ogc/collections/{id}/items" ;; esac; }
# PostGIS inside the server: the same statement N times in a PL/pgSQL loop (plan
# cached, no client, no wire protocol) -> mean microseconds per query.
pg_inside() {
  local body
  case "$1" in
    locate) body="PERFORM (SELECT to_jsonb(t) - 'geom' - 'fid' - 'responsible' FROM layers.unit_grids t WHERE ST_Contains(t.geom, ST_SetSRID(ST_MakePoint(x, y), 4326)) ORDER BY fid LIMIT 1), (SELECT to_jsonb(t) - 'geom' - 'fid' FROM layers.communities t WHERE ST_Contains(t.geom, ST_SetSRID(ST_MakePoint(x, y), 4326)) ORDER BY fid LIMIT 1), (SELECT to_jsonb(t) - 'geom' - 'fid' FROM layers.streets t WHERE ST_Contains(t.geom, ST_SetSRID(ST_MakePoint(x, y), 4326)) ORDER BY fid LIMIT 1), (SELECT to_jsonb(t) - 'geom' - 'fid' FROM layers.admin_divisions t WHERE ST_Contains(t.geom, ST_SetSRID(ST_MakePoint(x, y), 4326)) ORDER BY fid LIMIT 1);" ;;
    nearest) body="PERFORM fid, name, ST_Distance(geom::geography, ST_SetSRID(ST_MakePoint(x, y), 4326)::geography) FROM layers.bench_poi ORDER BY geom <-> ST_SetSRID(ST_MakePoint(x, y), 4326) LIMIT 10;" ;;
    items) body="PERFORM fid, name, rank, ST_AsGeoJSON(geom) FROM layers.bench_bldg WHERE geom && ST_MakeEnvelope(x, y, x + 0.0054, y + 0.0027, 4326) AND rank >= 5;" ;;
  esac
  psql_q -c "DO \$\$ DECLARE t0 timestamptz; x float8; y float8; BEGIN PERFORM setseed(0.6); t0 := clock_timestamp();
    FOR i IN 1..3000 LOOP x := 24.80 + random() * 0.398; y := 60.10 + random() * 0.0995; $body END LOOP;
    RAISE NOTICE 'US %', round((extract(epoch FROM clock_timestamp() - t0) * 1e6 / 3000)::numeric, 1); END \$\$" 2>&1 | awk '/US/ {print $NF}'
}

echo "== load: $CONNS connections, ${SECONDS_PER_RUN}s each, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-8s | %12s %9s %9s | %12s %9s %9s | %7s\n' query 'citygrid q/s' 'p50 ms' 'p99 ms' 'PostGIS q/s' 'p50 ms' 'p99 ms' ratio
declare -A INSIDE
for q in locate nearest items; do
  read -r s0 n0 <<<"$(metric "$(route_of "$q")")"
  read -r cq c50 c99 cerr <<<"$(run_wrk "$q")"
  read -r s1 n1 <<<"$(metric "$(route_of "$q")")"
  read -r pq p50 p99 _ <<<"$(run_pgbench "$q")"
  ratio=$(python3 -c "print(f'{float($cq) / float($pq):.1f}x')")
  printf '%-8s | %12.0f %9s %9s | %12.0f %9s %9s | %7s\n' "$q" "$cq" "$c50" "$c99" "$pq" "$p50" "$p99" "$ratio"
  [ "$cerr" = 0 ] || echo "   ($cerr HTTP errors in the citygrid run)"
  INSIDE[$q]="$(python3 -c "print(f'{($s1 - $s0) / max($n1 - $n0, 1) * 1e6:.1f}')") $(pg_inside "$q")"
done
echo
echo "== time inside each server per query (no client, no network, no protocol parsing)"
echo "   citygrid: mean of its own request timer (/metrics) during the run above: routing, auth, query, GeoJSON"
echo "   PostGIS:  mean of 3000 executions in a PL/pgSQL loop (cached plan, rows not sent anywhere)"
printf '%-8s | %14s | %14s | %7s\n' query 'citygrid us' 'PostGIS us' ratio
for q in locate nearest items; do
  read -r ci pi <<<"${INSIDE[$q]}"
  printf '%-8s | %14s | %14s | %6.1fx\n' "$q" "$ci" "$pi" "$(python3 -c "print($pi / $ci)")"
done

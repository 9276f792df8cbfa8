#!/usr/bin/env bash
# Vector tile throughput: citygrid against Martin (and, cached, against nginx serving
# the same tile bytes as static files), same database, same machine, same tile list.
#
#   benches/tiles_vs_martin.sh            # full run (~10 min)
#   DURATION=10 benches/tiles_vs_martin.sh
#
# Needs: a release build (made here), wrk, nginx (apt-get install nginx-light) and
# Martin (cargo install martin@1.14.0 --locked; or MARTIN=/path/to/martin).
# Prints a table and the ratios; BENCHMARKS.md records a run.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
DURATION=${DURATION:-20}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
MARTIN=${MARTIN:-$(command -v martin || echo /tmp/martin-install/bin/martin)}
export CITYGRID_HOME=$root/target/bench-tiles
# wrk hammers one loopback address: the per-address rate limits would measure themselves.
export CITYGRID_RATE_LIMIT=false
work=$CITYGRID_HOME/work
mkdir -p "$work"

command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }
command -v nginx >/dev/null || { echo "nginx is missing: apt-get install nginx-light" >&2; exit 1; }
[ -x "$MARTIN" ] || { echo "martin is missing: cargo install martin@1.14.0 --locked (or set MARTIN=)" >&2; exit 1; }

cargo build --release --bin citygrid >&2
cg=$root/target/release/citygrid
unset DATABASE_URL
$cg db start >&2
url=$($cg db url)

# The data: Helsinki (imported once) and a generated layer of 1,000,000 points.
if ! psql "$url" -tAc "SELECT 1 FROM layer_catalog WHERE id='osm_buildings'" | grep -q 1; then
  $cg import osm data/helsinki.osm.pbf >&2
fi
if ! psql "$url" -tAc "SELECT 1 FROM layer_catalog WHERE id='gen_points'" | grep -q 1; then
  psql "$url" -q <<'SQL'
CREATE TABLE layers.gen_points AS
  SELECT i::bigint AS fid,
         ST_SetSRID(ST_MakePoint(24.5 + random() * 1.0, 60.0 + random() * 0.5), 4326)::geometry(Point, 4326) AS geom,
         (i % 100)::integer AS class, 'p' || i AS name
  FROM generate_series(1, 1000000) i;
ALTER TABLE layers.gen_points ADD PRIMARY KEY (fid);
CREATE INDEX ON layers.gen_points USING gist (geom);
ANALYZE layers.gen_points;
INSERT INTO layer_catalog (id, title, kind, geometry_type, fields, feature_count, bounds, min_zoom)
VALUES ('gen_points', '1,000,000 generated points', 'vector', 'Point',
        '[{"name":"class","type":"integer"},{"name":"name","type":"text"}]', 1000000,
        ARRAY[24.5, 60.0, 25.5, 60.5], 8);
SQL
fi
helsinki_layers=$(psql "$url" -tAc "SELECT string_agg(id, ',' ORDER BY id) FROM layer_catalog WHERE kind='vector' AND id LIKE 'osm_%'")

# The tile list: Helsinki all layers z12-z16, the generated layer z8-z14 (all tiles
# of the area, at most 400 per zoom).
python3 - "$helsinki_layers" > "$work/tiles.txt" <<'PY'
import math, sys
def tile(lon, lat, z):
    n = 2 ** z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y
def tiles(layers, box, zooms, cap):
    for z in zooms:
        x0, y0 = tile(box[0], box[3], z); x1, y1 = tile(box[2], box[1], z)
        cells = [(x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]
        step = max(1, len(cells) // cap)
        for x, y in cells[::step][:cap]:
            print(f"{layers}/{z}/{x}/{y}")
tiles(sys.argv[1], (24.935, 60.164, 24.953, 60.179), range(12, 17), 400)
tiles("gen_points", (24.5, 60.0, 25.5, 60.5), range(8, 15), 400)
PY
echo "tile list: $(wc -l < "$work/tiles.txt") tiles" >&2

cat > "$work/list.lua" <<'LUA'
local paths = {}
for line in io.lines(os.getenv("TILE_LIST")) do paths[#paths + 1] = "/" .. line end
local i = 0
request = function()
  i = i % #paths + 1
  return wrk.format("GET", os.getenv("PREFIX") .. paths[i])
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT %.1f %.2f %.2f %d\n", summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
LUA

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

wait_http() { for _ in $(seq 1 600); do curl -sf -o /dev/null "$1" && return 0; sleep 0.5; done; echo "no answer from $1" >&2; return 1; }

run_wrk() { # name base prefix
  TILE_LIST=$work/tiles.txt PREFIX=$3 wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --timeout 10s -s "$work/list.lua" "$2" | awk -v n="$1" '/^RESULT/ {printf "%-28s %10s req/s  p50 %7s ms  p99 %7s ms  errors %s\n", n, $2, $3, $4, $5}'
}
warm() { # base prefix
  while read -r t; do curl -s -o /dev/null "$1$2/$t"; done < "$work/tiles.txt"
}

# citygrid, uncached (cache of 0 bytes) and cached.
CITYGRID_TILE_CACHE_BYTES=0 $cg serve --bind 127.0.0.1:18101 > "$work/cg-nocache.log" 2>&1 & pids+=($!)
$cg serve --bind 127.0.0.1:18102 > "$work/cg-cache.log" 2>&1 & pids+=($!)
# Martin on the same database; `--cache-size 0` turns its cache off.
"$MARTIN" --listen-addresses 127.0.0.1:18103 --cache-size 0 "$url" > "$work/martin-nocache.log" 2>&1 & pids+=($!)
"$MARTIN" --listen-addresses 127.0.0.1:18104 "$url" > "$work/martin-cache.log" 2>&1 & pids+=($!)
wait_http http://127.0.0.1:18101/health; wait_http http://127.0.0.1:18102/health
wait_http http://127.0.0.1:18103/catalog; wait_http http://127.0.0.1:18104/catalog
# Wait for citygrid to have every layer in memory.
for port in 18101 18102; do
  for _ in $(seq 1 600); do
    code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/tiles/gen_points/8/145/73")
    [ "$code" != 409 ] && break; sleep 0.5
  done
done

# Static copy of citygrid's tiles for nginx (only tiles with content).
static=$work/static; rm -rf "$static"; mkdir -p "$static"
while read -r t; do
  mkdir -p "$static/$(dirname "$t")"
  curl -s -o "$static/$t" "http://127.0.0.1:18102/tiles/$t"
done < "$work/tiles.txt"
cat > "$work/nginx.conf" <<NGX
worker_processes 2; daemon off; pid $work/nginx.pid; error_log $work/nginx-error.log;
events { worker_connections 4096; }
http { access_log off; sendfile on; tcp_nopush on; keepalive_requests 100000;
  server { listen 127.0.0.1:18105; root $static; location / { default_type application/vnd.mapbox-vector-tile; } } }
NGX
nginx -c "$work/nginx.conf" & pids+=($!)
wait_http "http://127.0.0.1:18105/$(head -1 "$work/tiles.txt")"

echo "== uncached (every request renders the tile)"
run_wrk "citygrid (no cache)" http://127.0.0.1:18101 /tiles | tee "$work/r1"
run_wrk "martin (no cache)" http://127.0.0.1:18103 "" | tee "$work/r2"
echo "== cached (after one warm-up pass over the list)"
warm http://127.0.0.1:18102 /tiles; warm http://127.0.0.1:18104 ""
run_wrk "citygrid (cached)" http://127.0.0.1:18102 /tiles | tee "$work/r3"
run_wrk "martin (cached)" http://127.0.0.1:18104 "" | tee "$work/r4"
run_wrk "nginx static files" http://127.0.0.1:18105 "" | tee "$work/r5"

rps() { awk '{print $(NF-9)}' "$1"; }
python3 - "$(rps "$work/r1")" "$(rps "$work/r2")" "$(rps "$work/r3")" "$(rps "$work/r4")" "$(rps "$work/r5")" <<'PY'
import sys
a = [float(x) for x in sys.argv[1:]]
print(f"ratio uncached citygrid/martin: {a[0]/a[1]:.1f}x")
print(f"ratio cached citygrid/martin:   {a[2]/a[3]:.1f}x")
print(f"ratio cached citygrid/nginx:    {100*a[2]/a[4]:.0f}%")
PY
echo "== memory per feature (from the server log)"
grep -h "layer loaded" "$work/cg-cache.log" | sed -E 's/.*layer=([a-z0-9_]+) features=([0-9]+) bytes_per_feature=([0-9]+).*/  \1: \2 features, \3 bytes per feature/'

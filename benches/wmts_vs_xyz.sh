#!/usr/bin/env bash
# Cached WMTS GetTile against the XYZ tile route on the same tiles (issue 23: WMTS
# at least 0.9x the XYZ route's req/s).
#
#   bash benches/wmts_vs_xyz.sh                  # full run (~2 min after the build)
#   DURATION=3 bash benches/wmts_vs_xyz.sh       # a short proof run
#
# Data: Helsinki's OSM buildings (vector, MVT) and the sample orthophoto (raster, PNG,
# imported with every tile matrix set), imported once into the bench cluster.
# Lists: the same tiles as /tiles/{layer}/{z}/{x}/{y}.{ext} (XYZ), as WMTS RESTful
# /wmts/{layer}/default/WebMercatorQuad/{z}/{y}/{x}.{ext} and as WMTS KVP
# /wmts?SERVICE=WMTS&REQUEST=GetTile&... ; one warm-up pass fills the tile cache,
# then wrk cycles through each list for DURATION s with CONNECTIONS connections
# (Accept-Encoding: gzip). Also, for reference, the CGCS2000Quad tiles over the same
# area through WMTS, and the vector tiles alone in each form (the XYZ route and WMTS
# both answer cached vector tiles in front of the router; cached WMTS raster tiles
# take that path too). Prints req/s, p50/p99 and the ratios. Loopback only; the server
# is stopped on exit. Needs wrk and python3. CITYGRID_BIN= uses a given binary
# instead of building a release one.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
DURATION=${DURATION:-20}
CONNECTIONS=${CONNECTIONS:-50}
THREADS=${THREADS:-2}
PORT=${PORT:-18131}
export CITYGRID_HOME=$root/target/bench-wmts
# wrk hammers one loopback address: the per-address rate limits would measure themselves.
export CITYGRID_RATE_LIMIT=false
work=$CITYGRID_HOME/work
mkdir -p "$work"
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }

if [ -n "${CITYGRID_BIN:-}" ]; then
  cg=$CITYGRID_BIN
else
  cargo build --release --bin citygrid >&2
  # A copy, so that other builds in the shared target directory cannot replace it.
  cp "$root/target/release/citygrid" "$work/citygrid"
  cg=$work/citygrid
fi
unset DATABASE_URL
$cg db start >&2
url=$($cg db url)
if ! psql "$url" -tAc "SELECT 1 FROM layer_catalog WHERE id='osm_buildings'" | grep -q 1; then
  $cg import osm data/helsinki.osm.pbf >&2
fi
if ! psql "$url" -tAc "SELECT 1 FROM layer_catalog WHERE id='bench_ortho'" | grep -q 1; then
  $cg import raster data/ortho_osbs_10cm_utm17.tif --layer bench_ortho --format png --quiet >&2
fi
vbox=$(psql "$url" -tAc "SELECT array_to_string(bounds, ',') FROM layer_catalog WHERE id='osm_buildings'")
rbox=$(psql "$url" -tAc "SELECT array_to_string(bounds, ',') || ',' || min_zoom || ',' || max_zoom FROM layer_catalog WHERE id='bench_ortho'")

# The lists (the same tiles in each form; fixed, no randomness).
python3 - "$work" "$vbox" "$rbox" <<'PY'
import math, sys
work = sys.argv[1]
v = [float(s) for s in sys.argv[2].split(",")]
r = [float(s) for s in sys.argv[3].split(",")]
def merc_range(box, z):
    n = 2 ** z
    def tx(lon): return min(max(int((lon + 180) / 360 * n), 0), n - 1)
    def ty(lat): return min(max(int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n), 0), n - 1)
    return tx(box[0]), ty(box[3]), tx(box[2]), ty(box[1])
def geo_range(box, level):
    span = 180.0 / 2 ** (level - 1)
    def cx(lon): return int((lon + 180) / span)
    def cy(lat): return int((90 - lat) / span)
    return cx(box[0]), cy(box[3]), cx(box[2]), cy(box[1])
def around(box, frac):
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    w, h = (box[2] - box[0]) * frac, (box[3] - box[1]) * frac
    return [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]
tiles = []  # (layer, ext, z, x, y)
for z in (14, 15, 16):
    x0, y0, x1, y1 = merc_range(around(v, 0.5), z)
    tiles += [("osm_buildings", "mvt", z, x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)][:60]
rz0, rz1 = int(r[4]), int(r[5])
for z in range(max(rz0, rz1 - 2), rz1 + 1):
    x0, y0, x1, y1 = merc_range(r, z)
    tiles += [("bench_ortho", "png", z, x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)][:60]
geo = []
for z in (14, 15, 16):
    x0, y0, x1, y1 = geo_range(around(v, 0.5), z)
    geo += [("osm_buildings", "mvt", z, x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)][:60]
for z in range(max(rz0, rz1 - 2, 1), rz1 + 1):
    x0, y0, x1, y1 = geo_range(r[:4], z)
    geo += [("bench_ortho", "png", z, x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)][:60]
mime = {"mvt": "application/vnd.mapbox-vector-tile", "png": "image/png"}
with open(f"{work}/xyz.txt", "w") as f:
    for l, e, z, x, y in tiles: f.write(f"/tiles/{l}/{z}/{x}/{y}.{e}\n")
with open(f"{work}/rest.txt", "w") as f:
    for l, e, z, x, y in tiles: f.write(f"/wmts/{l}/default/WebMercatorQuad/{z}/{y}/{x}.{e}\n")
with open(f"{work}/kvp.txt", "w") as f:
    for l, e, z, x, y in tiles:
        f.write(f"/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER={l}&STYLE=default&FORMAT={mime[e]}"
                f"&TILEMATRIXSET=WebMercatorQuad&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}\n")
with open(f"{work}/cgcs.txt", "w") as f:
    for l, e, z, x, y in geo: f.write(f"/wmts/{l}/default/CGCS2000Quad/{z}/{y}/{x}.{e}\n")
for name in ("xyz", "rest", "kvp"):
    with open(f"{work}/{name}.txt") as f, open(f"{work}/{name}_mvt.txt", "w") as out:
        out.writelines(line for line in f if "osm_buildings" in line)
print(f"{len(tiles)} tiles ({sum(t[0] == 'bench_ortho' for t in tiles)} raster), {len(geo)} CGCS2000Quad tiles", file=sys.stderr)
PY

cat > "$work/cycle.lua" <<'LUA'
-- Cycles through LIST (one path per line), each thread from its own offset.
local paths, i = {}, 0
function setup(thread) thread:set("id", tostring(math.random(0, 1000000))) end
function init(args)
  for line in io.lines(os.getenv("LIST")) do paths[#paths + 1] = line end
  i = tonumber(id) % #paths
end
function request()
  i = i % #paths + 1
  return wrk.format("GET", paths[i], { ["Accept-Encoding"] = "gzip" })
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRK %d|%.0f|%.2f|%.2f|%d|%d\n", summary.requests,
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, e.connect + e.read + e.write + e.timeout, e.status))
end
LUA

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
$cg serve --bind "127.0.0.1:$PORT" > "$work/serve.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 600); do curl -sf -o /dev/null "http://127.0.0.1:$PORT/health" && break; sleep 0.5; done
# Layers load in the background: wait for the vector layer.
for _ in $(seq 1 600); do
  s=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/tiles/osm_buildings/0/0/0")
  [ "$s" != 409 ] && break; sleep 0.5
done

results=$work/results.txt; : > "$results"
for list in xyz rest kvp cgcs xyz_mvt rest_mvt kvp_mvt; do
  # Warm-up: every tile once (and check the answers: 200 or 204, nothing else).
  bad=0
  while read -r p; do
    s=$(curl -s -o /dev/null -w '%{http_code}' -H 'Accept-Encoding: gzip' "http://127.0.0.1:$PORT$p")
    case "$s" in 200|204) ;; *) bad=$((bad + 1)); echo "warm-up $p: HTTP $s" >&2 ;; esac
  done < "$work/$list.txt"
  [ "$bad" = 0 ] || { echo "$list: $bad tiles failed" >&2; exit 1; }
  LIST=$work/$list.txt wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --timeout 10s \
    -s "$work/cycle.lua" "http://127.0.0.1:$PORT" | sed -n "s/^WRK /$list|/p" | tee -a "$results"
done

python3 - "$results" <<'PY'
import sys
rows = {}
for line in open(sys.argv[1]):
    f = line.strip().split("|")
    rows[f[0]] = f
names = {"xyz": "XYZ /tiles/{layer}/{z}/{x}/{y}", "rest": "WMTS RESTful, WebMercatorQuad",
         "kvp": "WMTS KVP GetTile, WebMercatorQuad", "cgcs": "WMTS RESTful, CGCS2000Quad (same area)",
         "xyz_mvt": "XYZ, vector tiles only", "rest_mvt": "WMTS RESTful, vector tiles only",
         "kvp_mvt": "WMTS KVP GetTile, vector tiles only"}
print("\n| route (cached) | requests | req/s | p50 ms | p99 ms | socket errors | non-2xx |")
print("|---|---|---|---|---|---|---|")
for k in ("xyz", "rest", "kvp", "cgcs", "xyz_mvt", "rest_mvt", "kvp_mvt"):
    f = rows[k]
    print(f"| {names[k]} | {f[1]} | {f[2]} | {f[3]} | {f[4]} | {f[5]} | {f[6]} |")
x = float(rows["xyz"][2])
print(f"\nratio WMTS RESTful / XYZ: {float(rows['rest'][2]) / x:.2f}x (target >= 0.9x)")
print(f"ratio WMTS KVP / XYZ: {float(rows['kvp'][2]) / x:.2f}x (target >= 0.9x)")
xv = float(rows["xyz_mvt"][2])
print(f"vector tiles only: WMTS RESTful / XYZ {float(rows['rest_mvt'][2]) / xv:.2f}x, "
      f"KVP / XYZ {float(rows['kvp_mvt'][2]) / xv:.2f}x")
PY

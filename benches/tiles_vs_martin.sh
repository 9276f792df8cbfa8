#!/usr/bin/env bash
# Vector tiles: citygrid against Martin 1.14 on the same PostGIS data in one script,
# and, cached, against nginx serving the same tile bytes as gzip-precompressed files.
#
#   bash benches/tiles_vs_martin.sh             # full run (~6 min after the build)
#   DURATION=10 bash benches/tiles_vs_martin.sh # shorter wrk runs
#
# Workloads (every request says `Accept-Encoding: gzip`, as browsers do):
#   (a) 160 OSM tiles z12–z16 of Helsinki (the 3-layer composite
#       osm_buildings,osm_landuse,osm_roads and three single layers, 40 tiles each),
#       each asked once, one client: total time, p50, p99;
#   (b) 122 tiles z8–z14 of gen_points,gen_polygons (1,000,000 points + 200,000
#       polygons, generated in Wuhan by benches/import_vs_ogr2ogr.sh), each once, one
#       client;
#   (c) DEEP_TILES (660,000) distinct tiles z14–z20 of the same two layers under wrk,
#       CONNECTIONS connections for DURATION s, the wrk threads walking disjoint parts
#       of one shuffled list (no tile asked twice unless a server gets through the whole
#       list: "repeated" in the report counts such requests, and must be 0);
#   (d) the OSM list cached (after one warm-up pass), wrk cycling through it: citygrid,
#       Martin with its cache, nginx with gzip_static serving citygrid's gzip bytes;
#       req/s, bytes/s and bytes per tile;
#   (e) citygrid's resident memory before and after (c), beside tile_cache_bytes.
# "Uncached" is citygrid with CITYGRID_TILE_CACHE_BYTES=0 and
# CITYGRID_TILE_STALE_SECS=0 (no cache, no answers from the recent-encodings table)
# and Martin with --cache-size 0. Every server is freshly started for the uncached
# workloads. Loopback only; every server is stopped on exit.
#
# Needs: wrk, nginx (apt-get install nginx), python3, Martin 1.14
# (cargo install martin@1.14.0 --locked --no-default-features --features postgres;
# or MARTIN=/path/to/martin) and target/bench-data/generated_4547.gpkg (made by the
# first run of benches/import_vs_ogr2ogr.sh). CITYGRID_BIN= uses a given binary
# instead of building one. BENCHMARKS.md records a run.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
DURATION=${DURATION:-20}
CONNECTIONS=${CONNECTIONS:-50}
THREADS=${THREADS:-2}
# Long enough that no server gets through it in a 20 s run (citygrid did 330,000
# requests in 20 s on the idle machine); generated with a fixed seed.
DEEP_TILES=${DEEP_TILES:-660000}
MARTIN=${MARTIN:-$(command -v martin || echo /tmp/martin-install/bin/martin)}
export CITYGRID_HOME=$root/target/bench-tiles
# wrk hammers one loopback address: the per-address rate limits would measure themselves.
export CITYGRID_RATE_LIMIT=false
# No per-request log line, as nginx below (access_log off) and Martin (no request log).
export CITYGRID_ACCESS_LOG=${CITYGRID_ACCESS_LOG:-false}
work=$CITYGRID_HOME/work
mkdir -p "$work"
gpkg=$root/target/bench-data/generated_4547.gpkg

command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }
command -v nginx >/dev/null || { echo "nginx is missing: apt-get install nginx" >&2; exit 1; }
[ -x "$MARTIN" ] || { echo "martin is missing: cargo install martin@1.14.0 --locked (or set MARTIN=)" >&2; exit 1; }
[ -s "$gpkg" ] || { echo "$gpkg is missing: run benches/import_vs_ogr2ogr.sh once" >&2; exit 1; }

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

# The data: Helsinki and the generated points and polygons (imported once).
if ! psql "$url" -tAc "SELECT 1 FROM layer_catalog WHERE id='osm_buildings'" | grep -q 1; then
  $cg import osm data/helsinki.osm.pbf >&2
fi
if ! psql "$url" -tAc "SELECT 1 FROM layer_catalog WHERE id='gen_polygons'" | grep -q 1; then
  $cg import vector "$gpkg" --layer gen >&2
fi
gen_box=$(psql "$url" -tAc "SELECT array_to_string(bounds, ',') FROM layer_catalog WHERE id='gen_points'")

# The tile lists (fixed seed: the same lists on every run).
python3 - "$work" "$gen_box" "$DEEP_TILES" <<'PY'
import math, random, sys
work, gbox = sys.argv[1], tuple(float(v) for v in sys.argv[2].split(","))
deep_n = int(sys.argv[3])
def tile(lon, lat, z):
    n = 2 ** z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return min(max(x, 0), n - 1), min(max(y, 0), n - 1)
def span(box, z):
    x0, y0 = tile(box[0], box[3], z); x1, y1 = tile(box[2], box[1], z)
    return x0, y0, x1, y1
def cover(box, z):
    x0, y0, x1, y1 = span(box, z)
    return [(x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]
def even(cells, n):
    return cells if len(cells) <= n else [cells[int(i * len(cells) / n)] for i in range(n)]
def write(name, lines):
    with open(f"{work}/{name}", "w") as f:
        f.write("".join(l + "\n" for l in lines))
osm_box = (24.935, 60.164, 24.953, 60.179)
osm_sets = ["osm_buildings,osm_landuse,osm_roads", "osm_buildings", "osm_roads", "osm_pois"]
osm = [f"{s}/{z}/{x}/{y}" for s in osm_sets for z in range(12, 17) for x, y in cover(osm_box, z)]
gen = "gen_points,gen_polygons"
low = [f"{gen}/{z}/{x}/{y}" for z in range(8, 12) for x, y in cover(gbox, z)]
per = (122 - len(low)) // 3
low += [f"{gen}/{z}/{x}/{y}" for z in (12, 13, 14) for x, y in even(cover(gbox, z), per)]
low += [f"{gen}/14/{x}/{y}" for x, y in even(cover(gbox, 14)[1:], 122 - len(low))]
rng = random.Random(17)
# every tile of z14-z17 over the layers, then distinct random tiles of z18, z19 and z20
# in the shares of the first list (100,000 : 60,000 : 44,556 of 275,000 — DEEP_TILES=275000
# gives exactly that list), z18 at most 3/4 of its tiles with the rest going to z19 and
# z20 in their ratio; each zoom's tiles drawn without repeats. A longer list holds fewer
# z14-z17 tiles in proportion (they are all in already): 10.7 % of 660,000, 25.6 % of
# 275,000.
deep = [(z, x, y) for z in (14, 15, 16, 17) for x, y in cover(gbox, z)]
rest = deep_n - len(deep)
x0, y0, x1, y1 = span(gbox, 18)
n18 = min(round(rest * 100_000 / 204_556), (x1 - x0 + 1) * (y1 - y0 + 1) * 3 // 4)
n19 = round((rest - n18) * 60_000 / 104_556)
for z, n in ((18, n18), (19, n19), (20, rest - n18 - n19)):
    x0, y0, x1, y1 = span(gbox, z)
    assert n <= (x1 - x0 + 1) * (y1 - y0 + 1) * 3 // 4, (z, n)
    seen = set()
    while len(seen) < n:
        seen.add((rng.randint(x0, x1), rng.randint(y0, y1)))
    deep += [(z, x, y) for x, y in sorted(seen)]
rng.shuffle(deep)
assert len(set(osm)) == 160 and len(set(low)) == 122 and len(set(deep)) == deep_n, (len(osm), len(low), len(deep))
write("osm.txt", osm)
write("low.txt", low)
write("deep.txt", [f"{gen}/{z}/{x}/{y}" for z, x, y in deep])
PY
echo "lists: $(wc -l < "$work/osm.txt") OSM tiles, $(wc -l < "$work/low.txt") low-zoom tiles, $(wc -l < "$work/deep.txt") distinct deep tiles" >&2

# One client, each tile of a list once, keep-alive: total, p50, p99, bytes per tile.
cat > "$work/once.py" <<'PY'
import http.client, sys, time
host, port, prefix, path, name = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
conn = http.client.HTTPConnection(host, port, timeout=60)
times, size, codes = [], 0, {}
for line in open(path):
    t0 = time.perf_counter()
    conn.request("GET", prefix + "/" + line.strip(), headers={"Accept-Encoding": "gzip"})
    r = conn.getresponse(); body = r.read()
    times.append(time.perf_counter() - t0)
    size += len(body); codes[r.status] = codes.get(r.status, 0) + 1
times.sort()
q = lambda p: times[min(len(times) - 1, int(p * len(times)))] * 1000
print(f"ONCE {name}|{len(times)}|{sum(times):.2f}|{q(0.5):.1f}|{q(0.99):.1f}|{times[-1]*1000:.0f}|{size/len(times)/1024:.1f}|{' '.join(f'{k}:{v}' for k, v in sorted(codes.items()))}")
PY

# wrk: LIST walked by each thread in its own stride (WRAP=0: stop at the end, the rest
# of the requests get the last tile again and are counted as repeats), or cycled.
cat > "$work/walk.lua" <<'LUA'
local threads, counter = {}, 0
function setup(thread)
  thread:set("id", counter); counter = counter + 1; table.insert(threads, thread)
end
function init(args)
  paths = {}
  for line in io.lines(os.getenv("LIST")) do paths[#paths + 1] = os.getenv("PREFIX") .. "/" .. line end
  stride = tonumber(os.getenv("THREADS")); i = id + 1 - stride; repeats = 0
  wrap = os.getenv("WRAP") == "1"
end
function request()
  i = i + stride
  if i > #paths then
    if wrap then i = (i - 1) % #paths + 1 else i = #paths; repeats = repeats + 1 end
  end
  return wrk.format("GET", paths[i], { ["Accept-Encoding"] = "gzip" })
end
function done(summary, latency, requests)
  local r = 0
  for _, t in ipairs(threads) do r = r + (t:get("repeats") or 0) end
  local secs = summary.duration / 1e6
  io.write(string.format("WRK %d|%.1f|%.1f|%.1f|%.1f|%.2f|%d|%d\n", summary.requests, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, summary.bytes / secs / 1048576,
    summary.bytes / math.max(summary.requests, 1) / 1024,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout, r))
end
LUA

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }
wait_http() { for _ in $(seq 1 600); do curl -sf -o /dev/null "$1" && return 0; sleep 0.5; done; echo "no answer from $1" >&2; return 1; }
rss_mib() { awk '/VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/$1/status"; }

start_citygrid() { # port cache-bytes -> pid in $server
  CITYGRID_TILE_CACHE_BYTES=$2 CITYGRID_TILE_STALE_SECS=0 $cg serve --bind "127.0.0.1:$1" > "$work/cg-$1.log" 2>&1 &
  server=$!; pids+=("$server")
  wait_http "http://127.0.0.1:$1/health"
  # every layer in memory (a tile of each stops answering 409)
  for l in osm_buildings osm_landuse osm_roads osm_pois gen_points gen_polygons; do
    for _ in $(seq 1 1200); do
      [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/tiles/$l/0/0/0")" != 409 ] && break
      sleep 0.5
    done
  done
}
start_martin() { # port cache-size-mb -> pid in $server
  "$MARTIN" --listen-addresses "127.0.0.1:$1" --cache-size "$2" "$url" > "$work/martin-$1.log" 2>&1 &
  server=$!; pids+=("$server")
  wait_http "http://127.0.0.1:$1/catalog"
}
once() { python3 "$work/once.py" 127.0.0.1 "$1" "$2" "$work/$3" "$4"; }
walk() { # name port prefix list wrap
  LIST=$work/$4 PREFIX=$3 THREADS=$THREADS WRAP=$5 wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --timeout 10s \
    -s "$work/walk.lua" "http://127.0.0.1:$2" | sed -n "s/^WRK /WRK $1|/p"
}

results=$work/results.txt; : > "$results"
echo "== uncached (a) (b) (c), each server freshly started" >&2
start_citygrid 18101 0; cgpid=$server
before=$(rss_mib "$cgpid")
once 18101 /tiles osm.txt citygrid | tee -a "$results"
once 18101 /tiles low.txt citygrid | tee -a "$results"
mid=$(rss_mib "$cgpid")
walk citygrid 18101 /tiles deep.txt 0 | tee -a "$results"
after=$(rss_mib "$cgpid")
echo "RSS citygrid-uncached|0|$before|$mid|$after" | tee -a "$results"
stop "$cgpid"

start_martin 18103 0; mpid=$server
once 18103 "" osm.txt martin | tee -a "$results"
once 18103 "" low.txt martin | tee -a "$results"
walk martin 18103 "" deep.txt 0 | tee -a "$results"
stop "$mpid"

echo "== (e) memory under the distinct-tile crawl with the default tile cache" >&2
cache_bytes=$((256 << 20))
start_citygrid 18102 "$cache_bytes"; cgpid=$server
before=$(rss_mib "$cgpid")
walk citygrid-cached 18102 /tiles deep.txt 0 | tee -a "$results"
after=$(rss_mib "$cgpid")
held=$(curl -s http://127.0.0.1:18102/metrics | awk '/^citygrid_tile_cache_bytes / {printf "%.0f", $2 / 1048576}')
echo "RSS citygrid-cached|$((cache_bytes >> 20))|$before|$held|$after" | tee -a "$results"
stop "$cgpid"

echo "== (d) cached OSM list, gzip" >&2
start_citygrid 18102 "$cache_bytes"; cgpid=$server
start_martin 18104 512; mpid=$server
static=$work/static; rm -rf "$static"; mkdir -p "$static"
while read -r t; do
  mkdir -p "$static/$(dirname "$t")"
  curl -s -H 'Accept-Encoding: gzip' -o "$static/$t.gz" "http://127.0.0.1:18102/tiles/$t"
  curl -s -o /dev/null "http://127.0.0.1:18104/$t" -H 'Accept-Encoding: gzip'
  gzip -dc < "$static/$t.gz" > "$static/$t" 2>/dev/null || mv "$static/$t.gz" "$static/$t"
done < "$work/osm.txt"
cat > "$work/nginx.conf" <<NGX
worker_processes 2; daemon off; pid $work/nginx.pid; error_log $work/nginx-error.log;
events { worker_connections 4096; }
http { access_log off; sendfile on; tcp_nopush on; keepalive_requests 1000000;
  types { } default_type application/vnd.mapbox-vector-tile;
  server { listen 127.0.0.1:18105; root $static; gzip off; gzip_static on; gzip_vary on;
    location / { try_files \$uri =204; } } }
NGX
nginx -c "$work/nginx.conf" & pids+=($!)
wait_http "http://127.0.0.1:18105/$(head -1 "$work/osm.txt")"
walk citygrid-cached 18102 /tiles osm.txt 1 | tee -a "$results"
walk martin-cached 18104 "" osm.txt 1 | tee -a "$results"
walk nginx 18105 "" osm.txt 1 | tee -a "$results"

python3 - "$results" "$DEEP_TILES" <<'PY'
import sys
once, wrk, rss = {}, {}, []
for line in open(sys.argv[1]):
    kind, rest = line.split(" ", 1)
    f = rest.strip().split("|")
    if kind == "ONCE":
        once.setdefault(f[0], []).append(f)
    elif kind == "WRK":
        wrk.setdefault(f[0], []).append(f)
    elif kind == "RSS":
        rss.append(f)
print("\n| workload | server | tiles | total s | p50 ms | p99 ms | max ms | KiB/tile | statuses |")
print("|---|---|---|---|---|---|---|---|---|")
for i, w in enumerate(["(a) 160 OSM tiles z12-z16, once, 1 client", "(b) 122 tiles z8-z14, 1M points + 200k polygons, once, 1 client"]):
    for s in ("citygrid", "martin"):
        f = once[s][i]
        print(f"| {w} | {s} | {f[1]} | {f[2]} | {f[3]} | {f[4]} | {f[5]} | {f[6]} | {f[7]} |")
    c, m = once["citygrid"][i], once["martin"][i]
    print(f"| ratio | | | **{float(m[2]) / float(c[2]):.1f}x** faster | | p99 {c[4]} vs {m[4]} | | | |")
print("\n| workload | server | requests | req/s | p50 ms | p99 ms | MiB/s | KiB/tile | errors | repeated |")
print("|---|---|---|---|---|---|---|---|---|---|")
deep = f"(c) {int(sys.argv[2]) // 1000}k distinct z14-z20"
rows = [(deep, "citygrid", 0), (deep, "martin", 0),
        ("(c) same, default tile cache", "citygrid-cached", 0), ("(d) OSM list cached, gzip", "citygrid-cached", 1),
        ("(d) OSM list cached, gzip", "martin-cached", 0), ("(d) OSM list cached, gzip", "nginx", 0)]
for w, s, i in rows:
    f = wrk[s][i]
    print(f"| {w} | {s} | {f[1]} | {f[2]} | {f[3]} | {f[4]} | {f[5]} | {f[6]} | {f[7]} | {f[8]} |")
r = lambda s, i: float(wrk[s][i][2])
print(f"\nratio (c) citygrid/martin req/s: {r('citygrid', 0) / r('martin', 0):.1f}x")
print(f"ratio (d) citygrid/martin req/s: {r('citygrid-cached', 1) / r('martin-cached', 0):.2f}x")
print(f"ratio (d) citygrid/nginx req/s: {r('citygrid-cached', 1) / r('nginx', 0):.2f}x, "
      f"bytes/s: {float(wrk['citygrid-cached'][1][5]) / float(wrk['nginx'][0][5]):.2f}x")
for f in rss:
    print(f"(e) RSS {f[0]}: tile_cache_bytes {f[1]} MiB; before {f[2]} MiB, after {f[4]} MiB "
          f"({'after (a)+(b) ' + f[3] + ' MiB' if f[1] == '0' else 'cache held ' + f[3] + ' MiB'})")
PY

#!/usr/bin/env bash
# Layers served from the database (`serve_from = database`, issue 24): citygrid's
# uncached vector tiles made by PostGIS (ST_AsMVT) against Martin 1.14 on the same
# tables, and against the same layers served from citygrid's memory.
#
#   bash benches/tiles_db_vs_martin.sh              # full run (~3 min after the build)
#   DURATION=3 bash benches/tiles_db_vs_martin.sh   # a short proof run
#
# Data: gen_points,gen_polygons (1,000,000 points + 200,000 polygons, generated in
# Wuhan: target/bench-data/generated_4547.gpkg, made by the first run of
# benches/import_vs_ogr2ogr.sh), imported into a database of its own
# (target/bench-tiles-db), so that switching serve_from never touches the other
# benchmarks' layers.
# Workloads (every request says `Accept-Encoding: gzip`):
#   (a) the last ONCE_TILES of a list of up to TILES distinct tiles of zooms ZOOMS
#       (default 16-19: every tile of z16 and z17 over the layers, 100,000 random of
#       z18 and of z19), shuffled with a fixed seed,
#       one client, each once: total, p50, p99;
#   (b) the same list under wrk, CONNECTIONS connections for DURATION s, the threads
#       walking disjoint parts of it (no tile asked twice: "repeated" must be 0).
# Servers: citygrid with the two layers served from the database, CITYGRID_TILE_CACHE_BYTES=0
# and CITYGRID_TILE_STALE_SECS=0 (every request a query); Martin with --cache-size 0;
# citygrid with the layers in memory, also uncached (for scale). Loopback only; every
# server is stopped on exit.
#
# Needs: wrk, python3, Martin 1.14 (MARTIN=/path/to/martin, default
# /tmp/martin-install/bin/martin), the gpkg above. CITYGRID_BIN= uses a given binary
# instead of building a release one.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
DURATION=${DURATION:-20}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-2}
TILES=${TILES:-400000}
ZOOMS=${ZOOMS:-16,17,18,19}
ONCE_TILES=${ONCE_TILES:-300}
MARTIN=${MARTIN:-$(command -v martin || echo /tmp/martin-install/bin/martin)}
export CITYGRID_HOME=$root/target/bench-tiles-db
export CITYGRID_RATE_LIMIT=false
export CITYGRID_ACCESS_LOG=${CITYGRID_ACCESS_LOG:-false}
work=$CITYGRID_HOME/work
mkdir -p "$work"
gpkg=$root/target/bench-data/generated_4547.gpkg

command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }
[ -x "$MARTIN" ] || { echo "martin is missing: cargo install martin@1.14.0 --locked (or set MARTIN=)" >&2; exit 1; }
[ -s "$gpkg" ] || { echo "$gpkg is missing: run benches/import_vs_ogr2ogr.sh once" >&2; exit 1; }

if [ -n "${CITYGRID_BIN:-}" ]; then
  cg=$CITYGRID_BIN
else
  cargo build --release --bin citygrid >&2
  cp "$root/target/release/citygrid" "$work/citygrid"
  cg=$work/citygrid
fi
unset DATABASE_URL
$cg db start >&2
url=$($cg db url)
if ! psql "$url" -tAc "SELECT 1 FROM layer_catalog WHERE id='gen_polygons'" | grep -q 1; then
  $cg import vector "$gpkg" --layer gen >&2
fi
gen_box=$(psql "$url" -tAc "SELECT array_to_string(bounds, ',') FROM layer_catalog WHERE id='gen_points'")

python3 - "$work" "$gen_box" "$TILES" "$ZOOMS" "$ONCE_TILES" <<'PY'
import math, random, sys
work, box = sys.argv[1], tuple(float(v) for v in sys.argv[2].split(","))
n, zooms, once_n = int(sys.argv[3]), [int(z) for z in sys.argv[4].split(",")], int(sys.argv[5])
def tile(lon, lat, z):
    k = 2 ** z
    x = int((lon + 180) / 360 * k)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * k)
    return min(max(x, 0), k - 1), min(max(y, 0), k - 1)
rng = random.Random(24)
cells = set()
per = n // len(zooms)
for z in zooms:
    x0, y0 = tile(box[0], box[3], z); x1, y1 = tile(box[2], box[1], z)
    have = (x1 - x0 + 1) * (y1 - y0 + 1)
    want = min(per, have)
    if want == have:
        cells.update((z, x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1))
    else:
        got = set()
        while len(got) < want:
            got.add((z, rng.randint(x0, x1), rng.randint(y0, y1)))
        cells.update(got)
tiles = sorted(cells); rng.shuffle(tiles)
with open(f"{work}/deep.txt", "w") as f:
    f.write("".join(f"gen_points,gen_polygons/{z}/{x}/{y}\n" for z, x, y in tiles))
with open(f"{work}/once.txt", "w") as f:
    f.write("".join(f"gen_points,gen_polygons/{z}/{x}/{y}\n" for z, x, y in tiles[-once_n:]))
PY
echo "lists: $(wc -l < "$work/deep.txt") distinct tiles of zooms $ZOOMS, $(wc -l < "$work/once.txt") for the one-client pass" >&2

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
print(f"ONCE {name}|{len(times)}|{sum(times):.2f}|{q(0.5):.1f}|{q(0.99):.1f}|{size/len(times)/1024:.1f}|{' '.join(f'{k}:{v}' for k, v in sorted(codes.items()))}")
PY
cat > "$work/walk.lua" <<'LUA'
local threads, counter = {}, 0
function setup(thread)
  thread:set("id", counter); counter = counter + 1; table.insert(threads, thread)
end
function init(args)
  paths = {}
  for line in io.lines(os.getenv("LIST")) do paths[#paths + 1] = os.getenv("PREFIX") .. "/" .. line end
  stride = tonumber(os.getenv("THREADS")); i = id + 1 - stride; repeats = 0
end
function request()
  i = i + stride
  if i > #paths then i = #paths; repeats = repeats + 1 end
  return wrk.format("GET", paths[i], { ["Accept-Encoding"] = "gzip" })
end
function done(summary, latency, requests)
  local r = 0
  for _, t in ipairs(threads) do r = r + (t:get("repeats") or 0) end
  local secs = summary.duration / 1e6
  io.write(string.format("WRK %d|%.1f|%.1f|%.1f|%.2f|%d|%d\n", summary.requests, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.bytes / math.max(summary.requests, 1) / 1024,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout, r))
end
LUA

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }
wait_http() { for _ in $(seq 1 600); do curl -sf -o /dev/null "$1" && return 0; sleep 0.5; done; echo "no answer from $1" >&2; return 1; }
free_port() { ! curl -s -o /dev/null "http://127.0.0.1:$1/" || { echo "port $1 is taken: stop what listens there" >&2; exit 1; }; }
start_citygrid() { # port
  free_port "$1"
  CITYGRID_TILE_CACHE_BYTES=0 CITYGRID_TILE_STALE_SECS=0 $cg serve --bind "127.0.0.1:$1" > "$work/cg-$1.log" 2>&1 &
  server=$!; pids+=("$server")
  wait_http "http://127.0.0.1:$1/health"
  kill -0 "$server" 2>/dev/null || { echo "citygrid did not start: $work/cg-$1.log" >&2; exit 1; }
  for l in gen_points gen_polygons; do
    for _ in $(seq 1 1200); do
      [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/tiles/$l/18/0/0")" != 409 ] && break
      sleep 0.5
    done
  done
}
once() { python3 "$work/once.py" 127.0.0.1 "$1" "$2" "$work/once.txt" "$3"; }
walk() { # name port prefix
  LIST=$work/deep.txt PREFIX=$2 THREADS=$THREADS wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --timeout 10s \
    -s "$work/walk.lua" "http://127.0.0.1:$3" | sed -n "s/^WRK /WRK $1|/p"
}

results=$work/results.txt; : > "$results"
echo "== citygrid, layers served from the database, uncached" >&2
$cg layer set-serve-from gen_points database >&2
$cg layer set-serve-from gen_polygons database >&2
start_citygrid 18931; pid=$server
once 18931 /tiles citygrid-db | tee -a "$results"
walk citygrid-db /tiles 18931 | tee -a "$results"
stop "$pid"

echo "== Martin, no cache" >&2
free_port 18933
"$MARTIN" --listen-addresses 127.0.0.1:18933 --cache-size 0 "$url" > "$work/martin.log" 2>&1 &
pid=$!; pids+=("$pid")
wait_http "http://127.0.0.1:18933/catalog"
kill -0 "$pid" 2>/dev/null || { echo "martin did not start: $work/martin.log" >&2; exit 1; }
once 18933 "" martin | tee -a "$results"
walk martin "" 18933 | tee -a "$results"
stop "$pid"

echo "== citygrid, layers in memory, uncached (for scale)" >&2
$cg layer set-serve-from gen_points memory >&2
$cg layer set-serve-from gen_polygons memory >&2
start_citygrid 18932; pid=$server
once 18932 /tiles citygrid-memory | tee -a "$results"
walk citygrid-memory /tiles 18932 | tee -a "$results"
stop "$pid"

python3 - "$results" <<'PY'
import sys
once, wrk = {}, {}
for line in open(sys.argv[1]):
    kind, rest = line.split(" ", 1)
    f = rest.strip().split("|")
    (once if kind == "ONCE" else wrk)[f[0]] = f
print("\n| server | (a) tiles once | total s | p50 ms | p99 ms | KiB/tile | statuses | (b) req/s | p50 ms | p99 ms | errors | repeated |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for s in ("citygrid-db", "martin", "citygrid-memory"):
    o, w = once[s], wrk[s]
    print(f"| {s} | {o[1]} | {o[2]} | {o[3]} | {o[4]} | {o[5]} | {o[6]} | {w[2]} | {w[3]} | {w[4]} | {w[6]} | {w[7]} |")
r = lambda s: float(wrk[s][2])
print(f"\nratio (b) citygrid from the database / Martin req/s: {r('citygrid-db') / r('martin'):.2f}x")
print(f"ratio (b) citygrid from memory / citygrid from the database req/s: {r('citygrid-memory') / r('citygrid-db'):.1f}x")
PY

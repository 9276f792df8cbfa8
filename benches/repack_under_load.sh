#!/usr/bin/env bash
# Tile latency while a big layer is packed again after many edits. The server packs a
# layer again once the rows appended and left since it was packed pass a quarter of it;
# an edit appends one row and leaves one, so for 1,000,000 points that is after
# 125,000 edits: the default EDITS=150000 packs it once, EDITS=100000 not at all (the
# cost of the patches alone).
#
#   bash benches/repack_under_load.sh                      # release build of this tree
#   CITYGRID_BIN=/path/to/citygrid bash benches/repack_under_load.sh   # another build
#   EDITS=100000 DURATION=40 bash benches/repack_under_load.sh
#   SAME_FID=1 EDITS=500 bash benches/repack_under_load.sh   # one point edited 500 times
#
# The generated 1,000,000-point layer gen_points of benches/memory_load.sh (run that
# once first: it makes the database under target/bench-memload). The server runs with
# no tile cache and no stale answers, so every request draws a tile from the layer.
# wrk asks for random z18 tiles of the layer (4 connections) for DURATION s, twice:
#   quiet — no edits;
#   edits — 5 s in, EDITS rows of gen_points are rewritten as they are (UPDATE …
#           SET geom = geom) and announced in notices of 900 ids (50 notices a
#           second), as the catalogue announces edits; the server patches them in
#           and packs the layer again once (for the default EDITS).
# Printed per run: requests/s, p50, p99, p99.9 and the slowest request. The table's
# content is unchanged (the rows are rewritten with their own values).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
EDITS=${EDITS:-150000}
DURATION=${DURATION:-40}
export CITYGRID_HOME=$root/target/bench-memload
export CITYGRID_RATE_LIMIT=false
work=$CITYGRID_HOME/repack
mkdir -p "$work"
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }
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
psql "$url" -tAc "SELECT 1 FROM layer_catalog WHERE id='gen_points'" | grep -q 1 ||
  { echo "no gen_points layer: run benches/memory_load.sh once" >&2; exit 1; }
read -r minx miny maxx maxy < <(psql "$url" -tAF' ' -c \
  "SELECT bounds[1], bounds[2], bounds[3], bounds[4] FROM layer_catalog WHERE id = 'gen_points'")

server=
cleanup() { [ -n "$server" ] && kill "$server" 2>/dev/null || true; }
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

# Random z18 tiles inside the layer's bounds; the slowest request and p99.9 at the end.
cat > "$work/random.lua" <<LUA
local minx, miny, maxx, maxy = $minx, $miny, $maxx, $maxy
local n = 2 ^ 18
local function tx(lon) return math.floor((lon + 180) / 360 * n) end
local function ty(lat)
  local r = math.rad(lat)
  return math.floor((1 - math.log(math.tan(r) + 1 / math.cos(r)) / math.pi) / 2 * n)
end
local x0, x1, y0, y1 = tx(minx), tx(maxx), ty(maxy), ty(miny)
request = function()
  return wrk.format("GET", string.format("/tiles/gen_points/18/%d/%d", math.random(x0, x1), math.random(y0, y1)))
end
done = function(summary, latency, requests)
  io.write(string.format("WRK|%.0f|%.2f|%.2f|%.2f|%.2f|%d|%d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    latency:percentile(99.9) / 1000, latency.max / 1000,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.timeout,
    summary.requests))
end
LUA

start_server() {
  CITYGRID_TILE_CACHE_BYTES=0 CITYGRID_TILE_STALE_SECS=0 RUST_LOG=info \
    $cg serve --bind "127.0.0.1:$port" > "$work/serve-$1.log" 2>&1 &
  server=$!
  for _ in $(seq 1 600); do
    grep -q "layer loaded.*layer=gen_points " "$work/serve-$1.log" 2>/dev/null && return
    kill -0 "$server" 2>/dev/null || { cat "$work/serve-$1.log" >&2; exit 1; }
    sleep 0.5
  done
  echo "gen_points never loaded" >&2; exit 1
}

run() {
  start_server "$1"
  sleep 2
  wrk -t2 -c4 -d"${DURATION}s" --timeout 10s -s "$work/random.lua" "http://127.0.0.1:$port" > "$work/wrk-$1.txt" &
  local w=$!
  if [ "$1" = edits ]; then
    sleep 5
    local t0; t0=$(date +%s.%N)
    if [ -n "${SAME_FID:-}" ]; then
      # One point (the smallest id: its cells' representative) edited EDITS times,
      # a notice each, 50 a second (the commas make each notice's text distinct:
      # PostgreSQL folds identical notices of one transaction into one).
      psql "$url" -q -v ON_ERROR_STOP=1 -c "UPDATE layers.gen_points SET geom = geom WHERE fid = $SAME_FID"
      for first in $(seq 0 50 $((EDITS - 1))); do
        psql "$url" -qtA -v ON_ERROR_STOP=1 -c "SELECT count(pg_notify('citygrid_layers', 'gen_points:$SAME_FID' || repeat(',', g)))
          FROM generate_series($first, $((first + 49))) g" > /dev/null
        sleep 1
      done
    else
      psql "$url" -q -v ON_ERROR_STOP=1 -c "UPDATE layers.gen_points g SET geom = g.geom \
        FROM (SELECT fid FROM layers.gen_points ORDER BY fid LIMIT $EDITS) e WHERE g.fid = e.fid"
      # 50 notices a second: the server's queue of notices holds 256 (past that it
      # reloads every layer instead, as after a lost connection).
      local parts=$(( (EDITS + 899) / 900 ))
      for first in $(seq 0 50 $((parts - 1))); do
        psql "$url" -qtA -v ON_ERROR_STOP=1 -c "SELECT count(pg_notify('citygrid_layers', 'gen_points:' || ids)) FROM (
          SELECT part, string_agg(fid::text, ',') AS ids FROM (
            SELECT fid, (row_number() OVER (ORDER BY fid) - 1) / 900 AS part
            FROM (SELECT fid FROM layers.gen_points ORDER BY fid LIMIT $EDITS) e) p
          WHERE part BETWEEN $first AND $((first + 49)) GROUP BY part) n" > /dev/null
        sleep 1
      done
    fi
    echo "edits written and announced in $(python3 -c "print(f'{$(date +%s.%N) - $t0:.1f}')") s" >&2
  fi
  wait "$w"
  local line; line=$(grep '^WRK|' "$work/wrk-$1.txt")
  IFS='|' read -r _ rps p50 p99 p999 max errors requests <<<"$line"
  echo "$1|$rps|$p50|$p99|$p999|$max|$errors|$requests" | tee -a "$work/results.txt"
  kill "$server"; wait "$server" 2>/dev/null || true
  server=
}

echo "run|req/s|p50 ms|p99 ms|p99.9 ms|max ms|errors|requests" | tee "$work/results.txt"
run quiet
run edits
# The repack, in the log of builds that log it (those that pack off the write lock).
grep -h "packed again" "$work/serve-edits.log" | tail -1 || true
echo "results in $work/results.txt"

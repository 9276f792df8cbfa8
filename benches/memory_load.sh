#!/usr/bin/env bash
# Load time and memory per feature of the in-memory layers (issue 24): the generated
# 1,000,000-point layer (gen_points) and 200,000 polygons (gen_polygons) and the
# Helsinki OSM layers, against the size of their rows in PostgreSQL.
#
#   bash benches/memory_load.sh            # release build of this tree
#   CITYGRID_BIN=/path/to/citygrid bash benches/memory_load.sh   # another build (e.g. "before")
#   RUNS=3 bash benches/memory_load.sh     # starts the server RUNS times (default 2)
#
# For each layer: features, load time (ms, from the server's "layer loaded" log line:
# query + decoding + index build, every layer loading at once as at a real startup),
# the index's own estimate of its bytes per feature (LayerIndex::memory_bytes), and the
# average pg_column_size of a row (geometry and attributes, i.e. the row without the
# tuple header). The server's RSS after loading, less its RSS with no layer loaded
# (measured on an empty database), divided by all features, is the real cost per feature.
# Needs target/bench-data/generated_4547.gpkg (made by benches/import_vs_ogr2ogr.sh).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
RUNS=${RUNS:-2}
export CITYGRID_HOME=$root/target/bench-memload
export CITYGRID_RATE_LIMIT=false
work=$CITYGRID_HOME/work
mkdir -p "$work"
gpkg=$root/target/bench-data/generated_4547.gpkg
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
if ! psql "$url" -tAc "SELECT 1 FROM layer_catalog WHERE id='osm_buildings'" | grep -q 1; then
  $cg import osm data/helsinki.osm.pbf >&2
fi
if ! psql "$url" -tAc "SELECT 1 FROM layer_catalog WHERE id='gen_polygons'" | grep -q 1; then
  $cg import vector "$gpkg" --layer gen >&2
fi
layers="gen_points gen_polygons osm_buildings osm_pois osm_roads osm_landuse"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

# Row sizes: pg_column_size of the row as a composite value, less the 24-byte header
# of that value (what remains is geometry and attributes, as the issue counts them).
declare -A rowsize
for l in $layers; do
  rowsize[$l]=$(psql "$url" -tAc "SELECT round(avg(pg_column_size(t.*)) - 24)::bigint FROM layers.\"$l\" t")
done

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

echo "layer|features|load ms|index B/feature|row B (pg_column_size)|index/row" > "$work/results.txt"
for run in $(seq 1 "$RUNS"); do
  port=$(free_port)
  $cg serve --bind "127.0.0.1:$port" > "$work/serve-$run.log" 2>&1 &
  server=$!; pids+=("$server")
  # wait until every layer has logged "layer loaded" (at most 10 minutes)
  for _ in $(seq 1 1200); do
    n=0
    for l in $layers; do grep -q "layer loaded.*layer=$l " "$work/serve-$run.log" 2>/dev/null && n=$((n + 1)); done
    [ "$n" = "$(echo $layers | wc -w)" ] && break
    kill -0 "$server" 2>/dev/null || { cat "$work/serve-$run.log" >&2; exit 1; }
    sleep 0.5
  done
  sleep 2
  rss=$(rss_kb "$server")
  total=0
  for l in $layers; do
    line=$(grep "layer loaded.*layer=$l " "$work/serve-$run.log" | tail -1 | sed 's/\x1b\[[0-9;]*m//g')
    f=$(sed -n 's/.*features=\([0-9]*\).*/\1/p' <<<"$line")
    b=$(sed -n 's/.*bytes_per_feature=\([0-9]*\).*/\1/p' <<<"$line")
    ms=$(sed -n 's/.*ms=\([0-9]*\).*/\1/p' <<<"$line")
    total=$((total + f))
    echo "run $run: $l|$f|$ms|$b|${rowsize[$l]}|$(python3 -c "print(f'{$b/${rowsize[$l]}:.2f}x')")" | tee -a "$work/results.txt"
  done
  echo "run $run: server RSS after loading $((rss / 1024)) MiB for $total features: $((rss * 1024 / total)) B/feature (includes the server's own baseline)" | tee -a "$work/results.txt"
  kill "$server"; wait "$server" 2>/dev/null || true
done
echo "results in $work/results.txt"

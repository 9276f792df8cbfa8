#!/usr/bin/env bash
# Raster pyramids: `citygrid import raster` versus `gdal2tiles.py --processes=2 --xyz`
# on the same images and zoom ranges (bilinear on both sides, PNG tiles).
#
# Self-contained: release build, a private CITYGRID_HOME under target/, the local
# PostGIS cluster started with `citygrid db start`. Prints seconds and the ratio.
#
#   bash benches/raster_vs_gdal2tiles.sh [RUNS]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
RUNS="${1:-3}"
export CITYGRID_HOME="$ROOT/target/bench-raster-home"
unset DATABASE_URL
OUT="$ROOT/target/bench-raster-out"
PY=/usr/bin/python3            # Debian's python with python3-gdal
G2T="$(command -v gdal2tiles.py)"

cargo build --release -p citygrid >/dev/null 2>&1 || cargo build --release -p citygrid
BIN="$ROOT/target/release/citygrid"
"$BIN" db start >/dev/null

# image, zoom range
CASES=(
  "data/sfbay_landsat7_30m_3857.tif 8 13"
  "data/ortho_osbs_10cm_utm17.tif 17 22"
)

now() { date +%s.%N; }
best_of() { # best wall time of RUNS runs of "$@"
  local best="" t0 t1 dt
  for _ in $(seq "$RUNS"); do
    rm -rf "$OUT"; mkdir -p "$OUT"
    t0=$(now); "$@" >/dev/null 2>&1; t1=$(now)
    dt=$(echo "$t1 - $t0" | bc -l)
    if [ -z "$best" ] || (( $(echo "$dt < $best" | bc -l) )); then best=$dt; fi
  done
  printf '%.3f' "$best"
}

printf '%-32s %-6s %10s %12s %8s %7s\n' image zooms citygrid gdal2tiles ratio tiles
for c in "${CASES[@]}"; do
  read -r img zmin zmax <<<"$c"
  layer="bench_$(basename "$img" .tif | tr -c 'a-z0-9_\n' '_')"
  ours=$(best_of "$BIN" import raster "$img" --layer "$layer" --replace --format png \
           --resampling bilinear --min-zoom "$zmin" --max-zoom "$zmax" --quiet)
  theirs=$(best_of "$PY" "$G2T" --processes=2 --xyz -r bilinear -w none -q -z "$zmin-$zmax" "$img" "$OUT")
  tiles=$(find "$OUT" -name '*.png' | wc -l)
  ratio=$(echo "$theirs / $ours" | bc -l)
  printf '%-32s %-6s %9ss %11ss %7.2fx %7s\n' "$(basename "$img")" "$zmin-$zmax" "$ours" "$theirs" "$ratio" "$tiles"
done
echo "(best of $RUNS runs; ratio = gdal2tiles seconds / citygrid seconds; $(nproc) cores)"

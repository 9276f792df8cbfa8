#!/usr/bin/env bash
# Vector import: `citygrid import vector` versus
# `ogr2ogr -f PostgreSQL PG:... --config PG_USE_COPY YES` into the same database.
#
# Self-contained: release build, a private CITYGRID_HOME under target/, the local
# PostGIS cluster started with `citygrid db start`, generated data under
# target/bench-data/ (1,000,000 points and 200,000 polygons in EPSG:4547, the
# CGCS2000 Gauss–Krüger zone of Wuhan, so both tools reproject to EPSG:4326).
# Both tools start from an empty target (a fresh schema for ogr2ogr, no earlier
# bench layers for citygrid) and end with the same thing: an EPSG:4326 table with
# a GiST index and a primary key. After one untimed run of each, the two tools run
# alternately, RUNS times each; prints the best seconds of each, their ratio, and
# the ratio of the medians.
#
#   bash benches/import_vs_ogr2ogr.sh [RUNS] [DATASET]   (DATASET: helsinki, points, polygons)
#   CITYGRID_BIN=/path/to/citygrid bash benches/import_vs_ogr2ogr.sh [RUNS]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
RUNS="${1:-3}"
ONLY="${2:-}"   # only the datasets whose label contains this (e.g. helsinki)
export CITYGRID_HOME="$ROOT/target/bench-import-home"
unset DATABASE_URL
DATA="$ROOT/target/bench-data"
PY=/usr/bin/python3            # Debian's python with python3-gdal
mkdir -p "$DATA"

# CITYGRID_BIN: a citygrid binary to use instead of building one (e.g. a copy, so
# that other builds in a shared target directory cannot replace it mid-run).
if [ -n "${CITYGRID_BIN:-}" ]; then
  BIN="$CITYGRID_BIN"
else
  cargo build --release -p citygrid >/dev/null 2>&1 || cargo build --release -p citygrid
  BIN="$ROOT/target/release/citygrid"
fi
"$BIN" db start >/dev/null
URL="$("$BIN" db url)"
# ogr2ogr wants a libpq key=value string (it appends options to what it is given).
CONNINFO="$(echo "$URL" | sed -E 's#^postgres(ql)?://([^:]+):([^@]+)@([^:/]+):([0-9]+)/(.*)$#host=\4 port=\5 user=\2 password=\3 dbname=\6#')"
export PGCLIENTENCODING=UTF8
# psql's DROP … CASCADE notices are noise here.
export PGOPTIONS="-c client_min_messages=warning"
# Both tools get the server's address directly (no cluster status check per run).
export DATABASE_URL="$URL"

# --- generated data ---------------------------------------------------------
GEN="$DATA/generated_4547.gpkg"
if [ ! -s "$GEN" ]; then
  echo "generating $GEN (1,000,000 points + 200,000 polygons)…" >&2
  "$PY" - "$GEN" <<'PYEOF'
import math, random, sys
from osgeo import ogr, osr
ogr.UseExceptions()
random.seed(42)
path = sys.argv[1]
ds = ogr.GetDriverByName("GPKG").CreateDataSource(path)
srs = osr.SpatialReference(); srs.ImportFromEPSG(4547)
kinds = ["井盖", "路灯", "消防栓", "座椅", "垃圾箱", "行道树"]
def fields(lyr):
    lyr.CreateField(ogr.FieldDefn("code", ogr.OFTInteger64))
    lyr.CreateField(ogr.FieldDefn("name", ogr.OFTString))
    lyr.CreateField(ogr.FieldDefn("kind", ogr.OFTString))
    lyr.CreateField(ogr.FieldDefn("value", ogr.OFTReal))
    lyr.CreateField(ogr.FieldDefn("surveyed", ogr.OFTDate))
# Wuhan, zone CM 114E: easting 500–560 km, northing 3,360–3,420 km.
pts = ds.CreateLayer("points", srs, ogr.wkbPoint); fields(pts)
pts.StartTransaction()
defn = pts.GetLayerDefn()
for i in range(1_000_000):
    f = ogr.Feature(defn)
    f.SetField(0, 4201020101000000 + i); f.SetField(1, f"部件{i}"); f.SetField(2, kinds[i % 6])
    f.SetField(3, random.random() * 100); f.SetField(4, 2020 + i % 5, 1 + i % 12, 1 + i % 28, 0, 0, 0, 0)
    f.SetGeometryDirectly(ogr.CreateGeometryFromWkt(f"POINT ({500000 + random.random() * 60000:.3f} {3360000 + random.random() * 60000:.3f})"))
    pts.CreateFeature(f)
    if i % 100_000 == 99_999:
        pts.CommitTransaction(); pts.StartTransaction()
pts.CommitTransaction()
polys = ds.CreateLayer("polygons", srs, ogr.wkbPolygon); fields(polys)
polys.StartTransaction()
defn = polys.GetLayerDefn()
for i in range(200_000):
    cx, cy = 500000 + random.random() * 60000, 3360000 + random.random() * 60000
    r = 20 + random.random() * 80
    n = 6 + i % 10
    ring = ",".join(f"{cx + r * math.cos(2 * math.pi * k / n):.3f} {cy + r * math.sin(2 * math.pi * k / n):.3f}" for k in list(range(n)) + [0])
    f = ogr.Feature(defn)
    f.SetField(0, i); f.SetField(1, f"网格{i}"); f.SetField(2, kinds[i % 6])
    f.SetField(3, random.random()); f.SetField(4, 2021, 1 + i % 12, 1 + i % 28, 0, 0, 0, 0)
    f.SetGeometryDirectly(ogr.CreateGeometryFromWkt(f"POLYGON (({ring}))"))
    polys.CreateFeature(f)
    if i % 100_000 == 99_999:
        polys.CommitTransaction(); polys.StartTransaction()
polys.CommitTransaction()
ds = None
PYEOF
fi

# --- helpers ----------------------------------------------------------------
now() { date +%s.%N; }
psql_q() { psql -X -q -At "$URL" -c "$1"; }
drop_bench_layers() { # citygrid's bench layers: catalogue rows and tables
  psql_q "DELETE FROM layer_catalog WHERE id LIKE 'bench%'" >/dev/null
  for t in $(psql_q "SELECT tablename FROM pg_tables WHERE schemaname = 'layers' AND tablename LIKE 'bench%'"); do
    psql_q "DROP TABLE layers.\"$t\"" >/dev/null
  done
}
time_once() { # wall seconds of one run of "$@" into an empty target: a fresh
  # ogr_bench schema for ogr2ogr, no bench layers for citygrid (neither tool pays
  # for dropping the previous run's tables)
  local t0 t1
  psql_q "DROP SCHEMA IF EXISTS ogr_bench CASCADE; CREATE SCHEMA ogr_bench;" >/dev/null
  drop_bench_layers
  t0=$(now); "$@" >/dev/null 2>"$DATA/last.err" || { cat "$DATA/last.err" >&2; exit 1; }; t1=$(now)
  echo "$t1 - $t0" | bc -l
}
stat_of() { # "best median" of the numbers on stdin
  sort -g | awk '{v[NR]=$1} END {m = (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2; printf "%.3f %.3f\n", v[1], m}'
}
ogr() { # ogr2ogr with COPY, reprojecting, same table shape as citygrid (geom, fid, GiST)
  ogr2ogr -f PostgreSQL "PG:$CONNINFO" "$@" --config PG_USE_COPY YES -overwrite \
    -lco SCHEMA=ogr_bench -lco GEOMETRY_NAME=geom -lco FID=fid -lco SPATIAL_INDEX=GIST \
    -t_srs EPSG:4326
}

# dataset label, source file, source layer (or "" for all), feature count SQL table
CASES=(
  "helsinki (5 OSM layers)|data/helsinki.osm.pbf|"
  "generated points 1M|$GEN|points"
  "generated polygons 200k|$GEN|polygons"
)

printf '%-28s %10s %10s %12s %8s %12s  %s\n' dataset features citygrid ogr2ogr ratio "median ratio" "load (1/5/15 min)"
for c in "${CASES[@]}"; do
  IFS='|' read -r label file srclayer <<<"$c"
  if [ -n "$ONLY" ] && [[ "$label" != *"$ONLY"* ]]; then continue; fi
  args=(); oargs=()
  if [ -n "$srclayer" ]; then args=(--source-layer "$srclayer"); oargs=("$srclayer"); fi
  # The two tools run alternately, RUNS times each, so that a change in the
  # machine's load hits both alike.
  t_ours=(); t_theirs=()
  # One untimed run of each first: the binaries, libraries and the file in the page
  # cache, the server's catalogue caches warm — for both alike.
  time_once "$BIN" import vector "$file" --layer bench "${args[@]}" >/dev/null
  time_once ogr "$file" "${oargs[@]}" >/dev/null
  for _ in $(seq "$RUNS"); do
    t_ours+=("$(time_once "$BIN" import vector "$file" --layer bench "${args[@]}")")
    rows=$(psql_q "SELECT sum(feature_count) FROM layer_catalog WHERE id LIKE 'bench%'")
    t_theirs+=("$(time_once ogr "$file" "${oargs[@]}")")
  done
  read -r ours ours_med < <(printf '%s\n' "${t_ours[@]}" | stat_of)
  read -r theirs theirs_med < <(printf '%s\n' "${t_theirs[@]}" | stat_of)
  ratio_med=$(echo "$theirs_med / $ours_med" | bc -l)
  ratio=$(echo "$theirs / $ours" | bc -l)
  printf '%-28s %10s %9ss %11ss %7.2fx %11.2fx  %s\n' "$label" "$rows" "$ours" "$theirs" "$ratio" "$ratio_med" "$(cut -d' ' -f1-3 /proc/loadavg)"
  drop_bench_layers
done
echo "(best of $RUNS alternating runs each; ratio = ogr2ogr / citygrid seconds, of the best runs and of the medians; $(nproc) cores;"
echo " $(ogr2ogr --version | cut -d, -f1), $(psql_q 'SELECT postgis_lib_version()' | sed 's/^/PostGIS /'))"

#!/usr/bin/env bash
# Installs the system packages citygrid needs on Debian/Ubuntu, when they are missing.
# As root (or with sudo) it runs apt-get; otherwise it prints the one command to run.
set -euo pipefail

packages=(postgresql-15-postgis-3 postgresql-15 libgdal-dev gdal-bin libproj-dev
          libclang-dev clang pkg-config python3-gdal python3-venv libsqlite3-dev chromium
          openssl fonts-noto-core fonts-noto-cjk patroni etcd-server haproxy)
# Ubuntu and newer Debian ship another PostgreSQL major version: use what apt has.
if command -v apt-cache >/dev/null 2>&1 && ! apt-cache show postgresql-15-postgis-3 >/dev/null 2>&1; then
  pg=$(apt-cache search --names-only '^postgresql-[0-9]+-postgis-3$' 2>/dev/null | sed -E 's/^postgresql-([0-9]+)-.*/\1/' | sort -n | tail -1)
  if [ -n "${pg:-}" ]; then
    packages=("${packages[@]/postgresql-15-postgis-3/postgresql-$pg-postgis-3}")
    packages=("${packages[@]/postgresql-15/postgresql-$pg}")
  fi
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# The web pages are built with Node.js and npm (any source: a nodejs package that
# bundles npm must not get Debian's npm on top of it).
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if ! command -v cargo >/dev/null 2>&1; then
  echo "citygrid needs Rust (cargo): install it with rustup, then run this again." >&2
  exit 1
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing system packages: ${missing[*]}"
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
  else
    echo "citygrid needs these packages; run:" >&2
    echo "  sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

# The tests read exported PMTiles archives with an independent reader, the Python
# pmtiles package (pinned), installed into a virtual environment under target/.
pytools="$(cd "$(dirname "$0")/.." && pwd)/target/pytools"
pmtiles_version=3.8.1
if ! "$pytools/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('pmtiles') != '$pmtiles_version')" 2>/dev/null; then
  echo "installing the Python pmtiles reader $pmtiles_version into $pytools"
  rm -rf "$pytools"
  python3 -m venv "$pytools"
  "$pytools/bin/python" -m pip install -q --disable-pip-version-check "pmtiles==$pmtiles_version"
fi

# The OpenAPI document (/openapi.json) is checked by an independent validator in the
# tests and fuzzed from its schemas by Schemathesis in `make fuzz`; both pinned, in the
# same virtual environment.
# OWSLib (pinned) is the real client of the OGC API – Features – Part 4 test
# (tests/ogc_edit.rs: create, replace and delete through its ogcapi module).
for pinned in openapi-spec-validator==0.9.0 schemathesis==4.32.5 OWSLib==0.35.0; do
  name="${pinned%%==*}" version="${pinned##*==}"
  if ! "$pytools/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('$name') != '$version')" 2>/dev/null; then
    echo "installing the Python $name $version into $pytools"
    "$pytools/bin/python" -m pip install -q --disable-pip-version-check "$pinned"
  fi
done

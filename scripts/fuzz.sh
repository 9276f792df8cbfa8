#!/usr/bin/env bash
# Builds and runs every cargo-fuzz target of fuzz/ for FUZZ_SECONDS each (default 60),
# then prints a summary (target, runs, seconds, crashes). Exits non-zero when any target
# crashed, panicked, hung or failed to build.
#
#   scripts/fuzz.sh                 # every target, 60 s each
#   FUZZ_SECONDS=300 scripts/fuzz.sh cql2_text codes
#
# Works on stable Rust: `--sanitizer none` needs no -Z flag. Inputs: the committed seeds
# (fuzz/seeds/<target>/) and crash regressions (fuzz/regressions/<target>/) are read;
# new coverage goes to fuzz/corpus/<target>/ and crashes to fuzz/artifacts/<target>/
# (both gitignored). Other settings: FUZZ_JOBS (cargo build jobs), FUZZ_MAX_LEN (default
# 8192 bytes), FUZZ_TIMEOUT (seconds per input before it counts as a hang, default 10),
# FUZZ_RSS_MB (memory limit, default 2048).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
fuzz="$root/fuzz"
seconds="${FUZZ_SECONDS:-60}"
max_len="${FUZZ_MAX_LEN:-8192}"
timeout_s="${FUZZ_TIMEOUT:-10}"
rss_mb="${FUZZ_RSS_MB:-2048}"
all_targets=(cql2_text cql2_json geojson_geometry wkb codes open311_form mvt_encode osm)
if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    targets=("${all_targets[@]}")
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "==> cargo-fuzz is missing: installing it (cargo install cargo-fuzz --locked)" >&2
    if ! cargo install cargo-fuzz --locked; then
        echo "fuzz.sh: could not install cargo-fuzz; install it by hand: cargo install cargo-fuzz --locked" >&2
        exit 2
    fi
fi

# The fuzz crate has its own workspace and target directory.
export CARGO_TARGET_DIR="$fuzz/target"
common=(--fuzz-dir "$fuzz" --sanitizer none --target-dir "$fuzz/target")
if [ -n "${FUZZ_JOBS:-}" ]; then
    common+=(--jobs "$FUZZ_JOBS")
fi

echo "==> building ${#targets[@]} fuzz targets (release, debug assertions, no sanitizer)"
for t in "${targets[@]}"; do
    cargo fuzz build "${common[@]}" "$t"
done

logs="$fuzz/target/fuzz-logs"
mkdir -p "$logs"
failed=0
summary=()
for t in "${targets[@]}"; do
    corpus="$fuzz/corpus/$t"
    artifacts="$fuzz/artifacts/$t"
    mkdir -p "$corpus" "$artifacts"
    inputs=("$corpus")
    for d in "$fuzz/seeds/$t" "$fuzz/regressions/$t"; do
        if [ -d "$d" ]; then
            inputs+=("$d")
        fi
    done
    log="$logs/$t.log"
    echo "==> fuzzing $t for ${seconds}s (log: $log)"
    start=$(date +%s)
    touch "$log.start"
    set +e
    cargo fuzz run "${common[@]}" "$t" "${inputs[@]}" -- \
        -max_total_time="$seconds" -max_len="$max_len" -timeout="$timeout_s" \
        -rss_limit_mb="$rss_mb" -print_final_stats=1 \
        -artifact_prefix="$artifacts/" >"$log" 2>&1
    rc=$?
    set -e
    # libFuzzer's own figure ("Done N runs in S second(s)"); wall time (which includes
    # any rebuild) when it stopped early.
    elapsed=$(grep -Eo 'Done [0-9]+ runs in [0-9]+ second' "$log" | grep -Eo '[0-9]+ second' | grep -Eo '[0-9]+' | tail -1 || true)
    if [ -z "$elapsed" ]; then
        elapsed=$(($(date +%s) - start))
    fi
    runs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' | tail -1 || true)
    if [ -z "$runs" ]; then
        runs=$(grep -Eo '^#[0-9]+' "$log" | tail -1 | tr -d '#' || true)
    fi
    # libFuzzer stops at the first crash, panic, hang or OOM and saves the input.
    crashes=$(find "$artifacts" -type f -newer "$log.start" | wc -l)
    if [ "$rc" -ne 0 ]; then
        failed=1
        [ "$crashes" -eq 0 ] && crashes=1
        echo "!! $t failed (exit $rc); the input is under $artifacts/, last lines of the log:" >&2
        tail -n 30 "$log" >&2
    fi
    summary+=("$(printf '%-18s %12s %8s %8s' "$t" "${runs:-?}" "$elapsed" "$crashes")")
done

echo
printf '%-18s %12s %8s %8s\n' target runs seconds crashes
for line in "${summary[@]}"; do
    echo "$line"
done
if [ "$failed" -ne 0 ]; then
    echo "fuzzing found crashes; see fuzz/artifacts/ and fuzz/README.md" >&2
    exit 1
fi
echo "no crashes"

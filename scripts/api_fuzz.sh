#!/usr/bin/env bash
# The schema-driven API fuzzer of `make fuzz`: Schemathesis (installed by `make deps`
# into target/pytools) reads the service's own OpenAPI document (GET /openapi.json)
# and sends generated requests — valid and invalid bodies, parameters and paths — to
# every operation of a real citygrid on 127.0.0.1 serving the sample city, signed in
# as an administrator so that the guarded routes run their handlers too. Checks: no
# 5xx other than the documented 503, status codes, content types and bodies as the
# document says; and no "internal error" or panic in the server's log.
#
#   scripts/api_fuzz.sh                       # 60 s, at most 100 examples per operation
#   API_FUZZ_SECONDS=300 API_FUZZ_EXAMPLES=500 scripts/api_fuzz.sh
#
# API_FUZZ_SECONDS defaults to FUZZ_SECONDS (then 60): Schemathesis' --max-time, and
# the run is killed 120 s after it in any case. API_FUZZ_SEED makes a run repeatable.
# Self-contained: CITYGRID_HOME=target/api-fuzz (its cluster and the imported city are
# kept between runs; the first run imports data/ as `citygrid demo` does); the server
# is stopped on exit. Reports (JUnit, and a pytest file that replays each failure)
# go to target/api-fuzz/report. Exit status 0 only when nothing failed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
SECONDS_BUDGET="${API_FUZZ_SECONDS:-${FUZZ_SECONDS:-60}}"
EXAMPLES="${API_FUZZ_EXAMPLES:-100}"
ST="$ROOT/target/pytools/bin/st"
if [ ! -x "$ST" ]; then
  echo "api_fuzz.sh: $ST is missing: run \`make deps\` (scripts/install-deps.sh installs Schemathesis)" >&2
  exit 2
fi

export CITYGRID_HOME="$ROOT/target/api-fuzz"
WORK="$CITYGRID_HOME/work"
REPORT="$CITYGRID_HOME/report"
mkdir -p "$WORK"
rm -rf "$REPORT"
unset DATABASE_URL CITYGRID_BIND CITYGRID_CONFIG

echo "==> building citygrid" >&2
cargo build --bin citygrid >&2
BIN="$ROOT/target/debug/citygrid"
"$BIN" db start >&2

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
BASE="http://127.0.0.1:$PORT"
# One client sends everything: the rate limits would answer 429 to most of it.
export CITYGRID_RATE_LIMIT=false
export RUST_LOG="${RUST_LOG:-warn}"
SERVER=""
cleanup() {
  if [ -n "$SERVER" ] && kill -0 "$SERVER" 2>/dev/null; then
    kill "$SERVER" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$SERVER" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$SERVER" 2>/dev/null || true
  fi
}
trap cleanup EXIT
LOG="$WORK/serve.log"
echo "==> starting the server on $BASE (first run: importing the sample city)" >&2
"$BIN" demo --bind "127.0.0.1:$PORT" >"$LOG" 2>&1 &
SERVER=$!
for _ in $(seq 1800); do   # at most 15 min (the first import)
  curl -sf -o /dev/null "$BASE/health" && break
  kill -0 "$SERVER" 2>/dev/null || { tail -n 30 "$LOG" >&2; echo "api_fuzz.sh: the server stopped" >&2; exit 1; }
  sleep 0.5
done
curl -sf -o /dev/null "$BASE/health" || { echo "api_fuzz.sh: no answer from $BASE/health" >&2; exit 1; }

# An administrator (password kept in the private home) and its bearer token.
PASSWORD_FILE="$CITYGRID_HOME/fuzz-admin-password"
[ -s "$PASSWORD_FILE" ] || (umask 077; python3 -c 'import secrets; print("fuzz-" + secrets.token_hex(12))' >"$PASSWORD_FILE")
PASSWORD=$(cat "$PASSWORD_FILE")
echo "$PASSWORD" | "$BIN" user add fuzz_admin --role admin >/dev/null
TOKEN=$(curl -sf "$BASE/api/auth/login" -H 'content-type: application/json' \
  -d "{\"username\":\"fuzz_admin\",\"password\":\"$PASSWORD\"}" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')

# Logout would end the token the run uses; everything else is fuzzed.
args=(run "$BASE/openapi.json" --url "$BASE"
  --max-time "$SECONDS_BUDGET" --max-examples "$EXAMPLES"
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance
  --exclude-path /api/auth/logout
  --header "Authorization: Bearer $TOKEN"
  --request-timeout 60 --workers 2
  --suppress-health-check all
  --report junit,pytest --report-dir "$REPORT")
if [ -n "${API_FUZZ_SEED:-}" ]; then
  args+=(--seed "$API_FUZZ_SEED")
fi
echo "==> fuzzing every operation of $BASE/openapi.json for at most ${SECONDS_BUDGET}s" >&2
set +e
# Run from the work directory: Schemathesis keeps its state in ./.schemathesis.
(cd "$WORK" && timeout --kill-after=10 $((SECONDS_BUDGET + 120)) "$ST" "${args[@]}")
rc=$?
set -e

# A 500 is logged as "internal error"; a panic would be caught and logged too.
if grep -Eq 'internal error|panicked' "$LOG"; then
  echo "api_fuzz.sh: the server logged internal errors or panics:" >&2
  grep -E 'internal error|panicked' "$LOG" | head -20 >&2
  [ "$rc" -eq 0 ] && rc=1
fi
if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
  echo "api_fuzz.sh: Schemathesis did not stop by itself; it was killed" >&2
fi
if [ "$rc" -ne 0 ]; then
  echo "api_fuzz.sh: failures (exit $rc); reports in $REPORT, server log $LOG" >&2
  exit "$rc"
fi
echo "api fuzzing: no failures"

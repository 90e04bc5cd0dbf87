#!/usr/bin/env bash
# Schema-driven fuzzing of the live service with Schemathesis (PyPI), as CI runs it: GraphQL at /graphql,
# then the REST endpoints from /openapi.json:
#   scripts/fuzz-graphql.sh            # FUZZ_MAX_EXAMPLES (default 25) per operation, FUZZ_MAX_TIME s (default 110)
# Creates .venv-fuzz/ (git-ignored) with a pinned Schemathesis, starts chainlog (AUTH=off, introspection on,
# fresh DATA_DIR, a few seeded events), runs Schemathesis against /graphql failing on any 5xx, then checks
# (scripts/fuzz/schemathesis_hooks.py: scalars, and a check that fails on any 5xx or INTERNAL_SERVER_ERROR),
# then that the service is still up, that every log verifies (verifyLog ok), and that nothing was logged as
# an unexpected error. Exit status 0 only if all of that holds.
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION=4.32.5
VENV=.venv-fuzz
MAX_EXAMPLES=${FUZZ_MAX_EXAMPLES:-25}
MAX_TIME=${FUZZ_MAX_TIME:-110}
SEED=${FUZZ_SEED:-$RANDOM}

if ! "$VENV/bin/schemathesis" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
DATA_DIR=$(mktemp -d -t chainlog-fuzz-XXXXXX)
LOG="$DATA_DIR/service.log"
URL="http://127.0.0.1:$PORT"

# The service as `npm start` runs it: built (dist/), then node on the built JavaScript.
npm run --silent build
AUTH=off NODE_ENV=test LOG_LEVEL=warn HOST=127.0.0.1 PORT=$PORT DATA_DIR="$DATA_DIR" CHECKPOINT_INTERVAL_MS=200 \
  node dist/main.js >"$LOG" 2>&1 &
PID=$!
cleanup() {
  kill "$PID" 2>/dev/null || true
  wait "$PID" 2>/dev/null || true
  rm -rf "$DATA_DIR"
}
trap cleanup EXIT

for _ in $(seq 1 300); do
  curl -fsS "$URL/healthz" >/dev/null 2>&1 && break
  kill -0 "$PID" 2>/dev/null || { echo "chainlog exited before it was ready:"; cat "$LOG"; exit 1; }
  sleep 0.2
done
curl -fsS "$URL/healthz" >/dev/null

gql() { curl -sS -X POST "$URL/graphql" -H 'content-type: application/json' --data "$1"; }
NOW=$(date -u +%Y-%m-%dT%H:%M:%S.000Z)
for app in fuzz-a fuzz-b; do
  gql "{\"query\":\"mutation(\$in: [LogEventInput!]!) { logEvents(inputs: \$in) { seq } }\",\"variables\":{\"in\":[{\"eventType\":\"seed\",\"timestamp\":\"$NOW\",\"sourceAppId\":\"$app\",\"payload\":{\"k\":1}},{\"eventType\":\"seed\",\"timestamp\":\"$NOW\",\"sourceAppId\":\"$app\",\"payload\":{\"k\":2}}]}}" >/dev/null
done
gql '{"query":"mutation { publishCheckpoints { treeSize } }"}' >/dev/null

# Its pytest-style banners ("=== 1 warning in 15s ===") are rewritten: CI reads pytest-like closing lines
# as a test count, and this run's count is the vitest line that .ci/run prints last.
echo "schemathesis $SCHEMATHESIS_VERSION against $URL/graphql (max $MAX_EXAMPLES examples per operation, ${MAX_TIME}s, seed $SEED)"
STATUS=0
PYTHONPATH="$PWD/scripts/fuzz${PYTHONPATH:+:$PYTHONPATH}" SCHEMATHESIS_HOOKS=schemathesis_hooks \
  "$VENV/bin/schemathesis" run "$URL/graphql" \
  --checks no_internal_server_error \
  --max-examples "$MAX_EXAMPLES" \
  --max-time "$MAX_TIME" \
  --seed "$SEED" \
  --request-timeout 10 \
  --no-color 2>&1 | sed -u -E 's/^=+ (.*) =+$/-- schemathesis: \1 --/' || STATUS=$?

# The REST endpoints, from their OpenAPI document (GET /openapi.json, generated from the zod schemas that
# validate them), with the same check. POST /witness/add-checkpoint (in the document only when a witness
# is configured) is left out: its body is a signed note with a consistency proof, which generated text never
# is, so every case would be a 4xx of the parser; test/e2e/witness.test.ts covers its answers.
echo "schemathesis $SCHEMATHESIS_VERSION against $URL/openapi.json (max $MAX_EXAMPLES examples per operation, ${MAX_TIME}s, seed $SEED)"
PYTHONPATH="$PWD/scripts/fuzz${PYTHONPATH:+:$PYTHONPATH}" SCHEMATHESIS_HOOKS=schemathesis_hooks \
  "$VENV/bin/schemathesis" run "$URL/openapi.json" \
  --checks no_internal_server_error \
  --exclude-path /witness/add-checkpoint \
  --max-examples "$MAX_EXAMPLES" \
  --max-time "$MAX_TIME" \
  --seed "$SEED" \
  --request-timeout 10 \
  --no-color 2>&1 | sed -u -E 's/^=+ (.*) =+$/-- schemathesis: \1 --/' || STATUS=$?

echo "--- after fuzzing"
if ! kill -0 "$PID" 2>/dev/null || ! curl -fsS "$URL/healthz" >/dev/null; then
  echo "FAIL: the service is down"; cat "$LOG"; exit 1
fi
APPS=$(gql '{"query":"{ logs(first: 500) { edges { node { sourceAppId } } } }"}' | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{for(const e of JSON.parse(s).data.logs.edges)console.log(e.node.sourceAppId)})')
while IFS= read -r app; do
  [ -z "$app" ] && continue
  REPORT=$(node -e 'process.stdout.write(JSON.stringify({query:"query($a: String!) { verifyLog(sourceAppId: $a) { ok firstBadSeq problems { kind message } } }",variables:{a:process.argv[1]}}))' "$app" | curl -sS -X POST "$URL/graphql" -H 'content-type: application/json' --data-binary @-)
  if ! echo "$REPORT" | grep -q '"ok":true'; then echo "FAIL: verifyLog $app: $REPORT"; STATUS=1; fi
done <<<"$APPS"
echo "logs verified: $(echo "$APPS" | grep -c . || true)"
if grep -q 'unexpected error' "$LOG"; then
  echo "FAIL: the service logged unexpected errors:"; grep 'unexpected error' "$LOG" | head -20; STATUS=1
fi
exit $STATUS

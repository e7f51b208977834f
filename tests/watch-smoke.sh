#!/usr/bin/env bash
# Smoke test of `make watch`: functions under `cargo lambda watch`, invoked by
# the gateway through the Lambda Invoke API. Runs the graphql-ws Node tests
# (mutations, queries and subscription deliveries) against it.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export HTTP_PORT=4530 WS_PORT=4531 DYNAMODB_PORT=4532 S3_PORT=4533 LAMBDA_PORT=9030
export DATA_DIR="$(mktemp -d)"
log="$DATA_DIR/watch.log"
# The function binaries, built ahead so the first invocations do not wait on cargo.
cargo build --bins --workspace --quiet
# Rate counts made, caps never reached (as tests/gateway.sh sets them).
export MESSAGES_PER_10_SECONDS=1000000 MESSAGES_PER_MINUTE=1000000
export CONVERSATIONS_PER_HOUR=1000000 INVITES_PER_HOUR=1000000 REPORTS_PER_HOUR=1000000
# The grants the functions' calls use, recorded apart to show below that
# each function signed with its own key (the stack's key records nothing).
suite_usage="${CHAT_IAM_USAGE:-}"
export CHAT_IAM_USAGE="$DATA_DIR/iam-usage"
setsid infra/watch.sh --in-memory >"$log" 2>&1 &
pid=$!
trap 'kill -- -$pid 2>/dev/null || kill $pid 2>/dev/null || true; sleep 1; rm -rf "$DATA_DIR"' EXIT
for _ in $(seq 1 600); do
    grep -q "chat stack ready" "$log" && break
    kill -0 "$pid" 2>/dev/null || { cat "$log"; exit 1; }
    sleep 0.2
done
grep -q "chat stack ready" "$log" || { cat "$log"; echo "watch mode did not start"; exit 1; }
cd tests
CHAT_HTTP="http://127.0.0.1:$HTTP_PORT" CHAT_WS="ws://127.0.0.1:$WS_PORT" CHAT_DYNAMODB="http://127.0.0.1:$DYNAMODB_PORT" \
    node --test node/ || {
    echo "--- watch log"; tail -80 "$log"; exit 1;
}
# Every invocation went through cargo lambda watch.
stats="$(curl -s "http://127.0.0.1:$HTTP_PORT/local/stats")"
echo "$stats" | grep -q '"create-message"' || { echo "no invocation was counted: $stats"; exit 1; }
# Each function under cargo lambda watch called AWS with its own key, and
# its template policy allowed those calls: their grants were recorded.
for function in create-message create-convo get-convo; do
    grep -qh "\"function\":\"$function\"" "$CHAT_IAM_USAGE"/*.jsonl || {
        echo "$function's calls were not signed with its own key"; exit 1;
    }
done
if grep -q "AccessDenied" "$log"; then
    echo "a function's call was refused:"; grep "AccessDenied" "$log" | head; exit 1
fi
# The suite's report of unused grants counts these calls too.
if [ -n "$suite_usage" ]; then mkdir -p "$suite_usage" && cp "$CHAT_IAM_USAGE"/*.jsonl "$suite_usage"/; fi
echo "watch smoke: 1 passed, 0 failed"

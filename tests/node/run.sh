#!/usr/bin/env bash
# Runs the Node tests (the stock graphql-ws client) against the real
# chat-gateway binary, started here on its own ports and stopped afterwards.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
http_port="${NODE_TEST_HTTP_PORT:-4510}"
ws_port="${NODE_TEST_WS_PORT:-4511}"
dir="$(mktemp -d)"
. "$root/tests/gateway.sh"
# --relay-above 1: a writer posts to one subscriber itself and hands the rest
# to the fan-out function, so every test with two subscribers crosses both
# paths (a large conversation's, at a size a test can hold).
start_gateway "$dir" --in-memory --data-dir "$dir" --relay-above 1 \
    --http-addr "127.0.0.1:$http_port" --ws-addr "127.0.0.1:$ws_port" --s3-addr 127.0.0.1:0
# The stack's DynamoDB, for the test that writes as a dead writer would.
dynamodb=""
for _ in $(seq 1 50); do
    dynamodb="$(sed -n 's/^  DynamoDB  \(http[^ ]*\).*/\1/p' "$gateway_log")"
    [ -n "$dynamodb" ] && break
    sleep 0.1
done
cd "$root/tests"
CHAT_HTTP="http://127.0.0.1:$http_port" CHAT_WS="ws://127.0.0.1:$ws_port" CHAT_DYNAMODB="$dynamodb" \
    node --test node/ || {
    echo "--- gateway log"; tail -50 "$gateway_log"; exit 1;
}

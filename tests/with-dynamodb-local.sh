#!/usr/bin/env bash
# Starts Amazon DynamoDB Local, waits until it answers, runs "$@" with
# CHAT_TEST_DYNAMODB_ENDPOINT pointing at it, and stops it again.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
port="${DYNAMODB_LOCAL_PORT:-8642}"
export DYNAMODB_LOCAL_PORT="$port"

node "$here/dynamodb-local.mjs" >"${TMPDIR:-/tmp}/dynamodb-local-$port.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true' EXIT

for _ in $(seq 1 120); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        break
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "DynamoDB Local exited; its log:" >&2
        cat "${TMPDIR:-/tmp}/dynamodb-local-$port.log" >&2
        exit 1
    fi
    sleep 0.5
done
echo "DynamoDB Local on http://127.0.0.1:$port"
CHAT_TEST_DYNAMODB_ENDPOINT="http://127.0.0.1:$port" "$@"

#!/usr/bin/env bash
# Drives the web client (web/) in headless Chromium with two users, against
# the real chat-gateway binary started here on its own ports. Screenshots
# land in target/screenshots/. BROWSER_TEST_FILTER=<pattern> runs only the
# tests whose names match.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
http_port="${BROWSER_TEST_HTTP_PORT:-4520}"
ws_port="${BROWSER_TEST_WS_PORT:-4521}"
dir="$(mktemp -d)"
. "$root/tests/gateway.sh"
RUST_LOG="${RUST_LOG:-warn}" NO_COLOR=1 start_gateway "$dir" --in-memory --data-dir "$dir" \
    --web-dir "$root/web" --http-addr "127.0.0.1:$http_port" --ws-addr "127.0.0.1:$ws_port" \
    --s3-addr "127.0.0.1:${BROWSER_TEST_S3_PORT:-4522}"
mkdir -p "$root/target/screenshots"
cd "$root/tests"
CHAT_APP="http://127.0.0.1:$http_port/" SCREENSHOTS="$root/target/screenshots" \
    CHROMIUM="${CHROMIUM:-$(command -v chromium)}" \
    node --test ${BROWSER_TEST_FILTER:+--test-name-pattern="$BROWSER_TEST_FILTER"} browser/ || {
    echo "--- gateway log"; tail -50 "$gateway_log"; exit 1;
}

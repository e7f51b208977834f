#!/usr/bin/env bash
# Drives the web client (web/) in headless Chromium with two users, against
# the real chat-gateway binary started here on its own ports. Screenshots
# land in target/screenshots/.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
http_port="${BROWSER_TEST_HTTP_PORT:-4520}"
ws_port="${BROWSER_TEST_WS_PORT:-4521}"
dir="$(mktemp -d)"
RUST_LOG="${RUST_LOG:-warn}" NO_COLOR=1 "$root/target/debug/chat-gateway" --in-memory --data-dir "$dir" --web-dir "$root/web" \
    --http-addr "127.0.0.1:$http_port" --ws-addr "127.0.0.1:$ws_port" >"$dir/gateway.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 1 100); do
    grep -q "chat stack ready" "$dir/gateway.log" && break
    kill -0 "$pid" 2>/dev/null || { cat "$dir/gateway.log"; exit 1; }
    sleep 0.1
done
mkdir -p "$root/target/screenshots"
cd "$root/tests"
CHAT_APP="http://127.0.0.1:$http_port/" SCREENSHOTS="$root/target/screenshots" \
    CHROMIUM="${CHROMIUM:-$(command -v chromium)}" node --test browser/ || {
    echo "--- gateway log"; tail -50 "$dir/gateway.log"; exit 1;
}

#!/usr/bin/env bash
# The real chat-gateway binary across stops, as a user of `make dev` meets
# them, with the stock graphql-ws client (tests/node/lifecycle.mjs):
# 1. sign up, stop (SIGTERM), start again on the same data dir: a new
#    user is still pushed to onCreateUser;
# 2. a stop closes an open client with 1001 (going away);
# 3. after a SIGKILL, the next start disconnects the connection it left.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="$root/target/debug/chat-gateway"
http_port="${RESTART_SMOKE_HTTP_PORT:-4520}"
ws_port="${RESTART_SMOKE_WS_PORT:-4521}"
dir="$(mktemp -d)"
pid=""
trap '[ -n "$pid" ] && kill -9 $pid 2>/dev/null; rm -rf "$dir"' EXIT
export CHAT_HTTP="http://127.0.0.1:$http_port" CHAT_WS="ws://127.0.0.1:$ws_port"

fail() { echo "restart smoke: $1"; echo "--- gateway log"; tail -40 "$dir/gateway.log"; exit 1; }

start() {
    "$bin" --data-dir "$dir" --http-addr "127.0.0.1:$http_port" --ws-addr "127.0.0.1:$ws_port" --s3-addr 127.0.0.1:0 \
        >"$dir/gateway.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 100); do
        grep -q "chat stack ready" "$dir/gateway.log" && return 0
        kill -0 "$pid" 2>/dev/null || fail "the gateway exited"
        sleep 0.1
    done
    fail "the gateway did not start"
}

stop() {
    kill -TERM "$pid"
    local code=0
    wait "$pid" || code=$?
    pid=""
    [ "$code" = 0 ] || fail "stop exit code $code"
}

# 1. Stream records before the stop; real time still works after it.
start
token="$(curl -s "$CHAT_HTTP/auth/token" -d '{"username":"alice"}' | sed 's/.*"token":"\([^"]*\)".*/\1/')"
curl -s "$CHAT_HTTP/graphql" -H "Authorization: $token" -H 'content-type: application/json' \
    -d '{"query":"mutation { createUser(input: {username: \"alice\"}) { id } }"}' | grep -q '"createUser"' \
    || fail "alice was not created"
stop
start
(cd "$root/tests" && node node/lifecycle.mjs new-user) || fail "nothing was pushed after a restart"

# 2. A stop says goodbye with 1001.
(cd "$root/tests" && node node/lifecycle.mjs hold) >"$dir/hold.out" 2>&1 &
holder=$!
for _ in $(seq 1 100); do grep -q ready "$dir/hold.out" && break; sleep 0.1; done
stop
wait "$holder" || true
grep -q "closed 1001" "$dir/hold.out" || { cat "$dir/hold.out"; fail "the client did not get 1001"; }

# 3. A killed gateway's connection is disconnected at the next start.
start
(cd "$root/tests" && node node/lifecycle.mjs hold) >"$dir/hold.out" 2>&1 &
holder=$!
for _ in $(seq 1 100); do grep -q ready "$dir/hold.out" && break; sleep 0.1; done
kill -9 "$pid"
wait "$pid" 2>/dev/null || true
pid=""
wait "$holder" || true
start
grep -q "disconnected 1 WebSocket connection" "$dir/gateway.log" || fail "the leftover connection was not disconnected"
stop
echo "restart smoke: 3 passed, 0 failed"

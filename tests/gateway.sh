# Sourced by the scripts that test the real binary:
# `start_gateway DIR ARGS...` runs target/debug/chat-gateway with ARGS in the
# background, logging to DIR/gateway.log, waits until it is ready, and stops
# it (and removes DIR) when the script exits. `$gateway_log` is the log.
# Each user's rate counts are made, with caps no test's users reach (the
# rate limits' own tests run in the Rust suite).
export MESSAGES_PER_10_SECONDS="${MESSAGES_PER_10_SECONDS:-1000000}"
export MESSAGES_PER_MINUTE="${MESSAGES_PER_MINUTE:-1000000}"
export CONVERSATIONS_PER_HOUR="${CONVERSATIONS_PER_HOUR:-1000000}"
export INVITES_PER_HOUR="${INVITES_PER_HOUR:-1000000}"
export REPORTS_PER_HOUR="${REPORTS_PER_HOUR:-1000000}"

start_gateway() {
    local dir="$1"
    shift
    gateway_log="$dir/gateway.log"
    "$root/target/debug/chat-gateway" "$@" >"$gateway_log" 2>&1 &
    gateway_pid=$!
    # shellcheck disable=SC2064
    trap "kill $gateway_pid 2>/dev/null || true; wait $gateway_pid 2>/dev/null || true; rm -rf '$dir'" EXIT
    for _ in $(seq 1 100); do
        grep -q "chat stack ready" "$gateway_log" && return 0
        kill -0 "$gateway_pid" 2>/dev/null || { cat "$gateway_log"; exit 1; }
        sleep 0.1
    done
    cat "$gateway_log"
    echo "chat-gateway did not start"
    exit 1
}

# Sourced by the scripts that test the real binary:
# `start_gateway DIR ARGS...` runs target/debug/chat-gateway with ARGS in the
# background, logging to DIR/gateway.log, waits until it is ready, and stops
# it (and removes DIR) when the script exits. `$gateway_log` is the log.
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

#!/usr/bin/env bash
# Smoke test of what `make dev` runs: starts the real chat-gateway binary,
# runs examples/session.sh against it, checks the answers and that the web
# client is served, and stops the
# gateway with Ctrl-C (SIGINT), which must exit cleanly.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="$root/target/debug/chat-gateway"
port="${SMOKE_PORT:-4400}"
dir="$(mktemp -d)"
log="$dir/gateway.log"

# The domain's debug lines too, so that the log below holds some.
RUST_LOG="${RUST_LOG:-info,chat_domain=debug}" \
    "$bin" --http-addr "127.0.0.1:$port" --data-dir "$dir" >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 1 100); do
    grep -q "chat stack ready" "$log" && break
    kill -0 "$pid" 2>/dev/null || { cat "$log"; exit 1; }
    sleep 0.1
done

out="$(API="http://127.0.0.1:$port" "$root/examples/session.sh" 2>&1)"
fail() { echo "dev smoke: $1"; echo "$out"; exit 1; }
grep -q '"createUser":{"id":"[^"]*","username":"alice"}' <<<"$out" || fail "no profile for alice"
grep -q '"members":\["[^"]*","[^"]*"\]' <<<"$out" || fail "conversation lacks its two members"
[ "$(grep -c '"content":"hi #1"}' <<<"$out")" = 2 ] || fail "the retry did not return the original"
grep -q 'resent' <<<"$out" && fail "the retry stored its new content"
grep -q '"messages":\[{"content":"hello!","author":{"username":"bob"}},{"content":"hi #3"' <<<"$out" || fail "history is not newest first"
grep -q '"messages":\[{"content":"hi #2".*{"content":"hi #1"' <<<"$out" || fail "the second page is wrong"
grep -q '"errorType":"Unauthorized"' <<<"$out" || fail "a non-member was not refused"

# Its log, written to a file, is plain text: at least one line came
# through tracing, and none has a colour code.
grep -q 'DEBUG' "$log" || fail "nothing was logged"
if grep -q $'\x1b\[' "$log"; then fail "the log has terminal colour codes though it is a file"; fi

# The web client, as `make dev` serves it.
base="http://127.0.0.1:$port"
# Read whole before matching: `grep -q` stops at its first match, and under
# pipefail the curl it cut off would fail the check.
page=$(curl -fsS "$base/") || fail "the web app is not served at /"
grep -q '<script type="importmap">' <<<"$page" || fail "the web app is not served at /"
config=$(curl -fsS "$base/config.json") || fail "config.json is not served"
grep -q "\"graphql\":\"$base/graphql\"" <<<"$config" || fail "config.json does not point at this stack"
curl -fsS -o /dev/null "$base/vendor/graphql-ws/dist/client.js" || fail "the app's packages are not served"
[ "$(curl -s --path-as-is -o /dev/null -w '%{http_code}' "$base/vendor/../../Cargo.toml")" = 404 ] || fail "a path outside the app is served"
# Served as a production host would: HEAD answered, the page's policy
# allowing its import map by hash and no framing, nosniff everywhere.
head="$(curl -fsS -I "$base/")" || fail "HEAD / is not answered"
grep -qi '^content-security-policy: .*script-src '"'"'self'"'"' '"'"'sha256-' <<<"$head" || fail "the page has no CSP with the import map's hash"
grep -qi "^content-security-policy: .*frame-ancestors 'none'" <<<"$head" || fail "the page may be framed"
if grep -qi "unsafe-inline" <<<"$head"; then fail "the CSP allows inline script"; fi
grep -qi '^x-content-type-options: nosniff' <<<"$head" || fail "the page has no nosniff"
grep -qi '^referrer-policy: ' <<<"$head" || fail "the page has no Referrer-Policy"
grep -qi '^x-content-type-options: nosniff' <<<"$(curl -fsS -I "$base/app.js")" || fail "a script has no nosniff"
grep -qi '^content-type: application/manifest+json' <<<"$(curl -fsS -I "$base/manifest.webmanifest")" || fail "the PWA manifest is not served"

kill -INT "$pid"
code=0
wait "$pid" || code=$?
[ "$code" = 0 ] || { cat "$log"; echo "dev smoke: Ctrl-C exit code $code"; exit 1; }
grep -q stopping "$log" || { cat "$log"; echo "dev smoke: no clean stop"; exit 1; }
echo "dev smoke: 1 passed, 0 failed"

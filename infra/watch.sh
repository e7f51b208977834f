#!/usr/bin/env bash
# `make watch`: the functions run under `cargo lambda watch` (the real Lambda
# runtime loop, rebuilt on every change), and the local gateway sends every
# invocation to it through the Lambda Invoke API instead of calling handlers
# in-process. Ports and the data directory can be overridden:
#   HTTP_PORT (4000) WS_PORT (4001) DYNAMODB_PORT (4002) S3_PORT (4003) LAMBDA_PORT (9000) DATA_DIR (.local/watch)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
http_port="${HTTP_PORT:-4000}"
ws_port="${WS_PORT:-4001}"
dynamodb_port="${DYNAMODB_PORT:-4002}"
s3_port="${S3_PORT:-4003}"
lambda_port="${LAMBDA_PORT:-9000}"
data_dir="${DATA_DIR:-.local/watch}"
mkdir -p "$data_dir"

# The word filter's list, as the template's ContentFilter parameter holds it.
content_filter="$(grep -v '^[[:space:]]*#' infra/content-filter.txt | sed '/^[[:space:]]*$/d' | paste -sd, -)"

# Each function's own key pair, as its Lambda role gives it on AWS: the
# gateway writes one file per function here, and `cargo lambda watch` starts
# each function with its file (`[workspace.metadata.lambda.bin]` in
# Cargo.toml names them). Nothing below gives a key, so a function without
# one fails loudly instead of calling with the stack's.
credentials_dir=.local/function-credentials

# What each function reads in production, pointed at the local stack.
cat >"$data_dir/functions.env" <<ENV
AWS_REGION=us-east-1
AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:$dynamodb_port
AWS_ENDPOINT_URL_S3=http://127.0.0.1:$s3_port
MEDIA_BUCKET=chat-media
APIGW_MANAGEMENT_ENDPOINT=http://127.0.0.1:$ws_port
AWS_ENDPOINT_URL_LAMBDA=http://127.0.0.1:$http_port
RELAY_FUNCTION=fan-out
COGNITO_ISSUER=http://127.0.0.1:$http_port
COGNITO_CLIENT_ID=local-dev-client
PAGE_TOKEN_SECRET_ARN=arn:aws:secretsmanager:us-east-1:000000000000:secret:PageTokenSecret
CONNECTION_INIT_TIMEOUT_SECS=10
AWS_ENDPOINT_URL_SECRETS_MANAGER=http://127.0.0.1:$http_port
PUSH_CREDENTIALS_SECRET=chat/push-credentials
APNS_ENDPOINT=http://127.0.0.1:$http_port
APNS_SANDBOX_ENDPOINT=http://127.0.0.1:$http_port/apns-sandbox
FCM_ENDPOINT=http://127.0.0.1:$http_port
WEB_PUSH_ORIGINS=http://127.0.0.1:$http_port
CONTENT_FILTER='$content_filter'
CONTENT_FILTER_ACTION=${CONTENT_FILTER_ACTION:-refuse}
ENV
# Per-user rate limits the environment sets, else the functions' defaults.
for name in MESSAGES_PER_10_SECONDS MESSAGES_PER_MINUTE CONVERSATIONS_PER_HOUR INVITES_PER_HOUR REPORTS_PER_HOUR; do
    if [ -n "${!name:-}" ]; then echo "$name=${!name}" >>"$data_dir/functions.env"; fi
done

cargo lambda watch -A 127.0.0.1 -P "$lambda_port" --env-file "$data_dir/functions.env" &
watch_pid=$!
trap 'kill $watch_pid 2>/dev/null || true; wait $watch_pid 2>/dev/null || true' EXIT

cargo build -p chat-gateway
./target/debug/chat-gateway \
    --http-addr "127.0.0.1:$http_port" \
    --ws-addr "127.0.0.1:$ws_port" \
    --embedded-dynamodb-addr "127.0.0.1:$dynamodb_port" \
    --s3-addr "127.0.0.1:$s3_port" \
    --lambda-endpoint "http://127.0.0.1:$lambda_port" \
    --function-credentials "$credentials_dir" \
    --data-dir "$data_dir" "$@"

#!/usr/bin/env bash
# A sample session against the local stack (`make dev`): get tokens, create two
# users and a conversation, post (and retry) messages, page the history, and
# watch a non-member get refused. Needs only curl and sed.
set -euo pipefail
api="${API:-http://127.0.0.1:4000}"

token() { curl -sf "$api/auth/token" -d "{\"username\":\"$1\"}" | sed 's/.*"token":"\([^"]*\)".*/\1/'; }
gql() { curl -s "$api/graphql" -H "Authorization: $1" -H 'content-type: application/json' -d "$2"; echo; }
field() { sed "s/.*\"$1\":\"\([^\"]*\)\".*/\1/"; }

ALICE=$(token alice)
BOB=$(token bob)

echo "# Each user creates their own profile (idempotent)."
gql "$ALICE" '{"query":"mutation { createUser(input: {username: \"alice\"}) { id username } }"}'
BOB_ID=$(gql "$BOB" '{"query":"mutation { createUser(input: {username: \"bob\"}) { id username } }"}' | tee /dev/stderr | field id)

echo "# Alice starts a conversation with Bob; she is a member automatically."
CONVO=$(gql "$ALICE" "{\"query\":\"mutation(\$m: [String!]!) { createConvo(input: {name: \\\"lunch\\\", members: \$m}) { id name members } }\",\"variables\":{\"m\":[\"$BOB_ID\"]}}" | tee /dev/stderr | field id)

echo "# Both post. Alice's client sends its own ids."
for i in 1 2 3; do
  gql "$ALICE" "{\"query\":\"mutation(\$c: ID!) { createMessage(input: {id: \\\"a-$i\\\", content: \\\"hi #$i\\\", messageConversationId: \$c}) { id content } }\",\"variables\":{\"c\":\"$CONVO\"}}"
done
gql "$BOB" "{\"query\":\"mutation(\$c: ID!) { createMessage(input: {content: \\\"hello!\\\", messageConversationId: \$c}) { id content } }\",\"variables\":{\"c\":\"$CONVO\"}}"

echo "# A retry of a-1 (an offline client resending) returns the original; nothing new is stored."
gql "$ALICE" "{\"query\":\"mutation(\$c: ID!) { createMessage(input: {id: \\\"a-1\\\", content: \\\"hi #1 (resent)\\\", messageConversationId: \$c}) { id content } }\",\"variables\":{\"c\":\"$CONVO\"}}"

echo "# History, newest first, two at a time (ChatQL's allMessageConnection)."
PAGE="query(\$c: ID!, \$after: String) { allMessageConnection(conversationId: \$c, first: 2, after: \$after) { messages { content author { username } } nextToken } }"
NEXT=$(gql "$BOB" "{\"query\":\"$PAGE\",\"variables\":{\"c\":\"$CONVO\"}}" | tee /dev/stderr | field nextToken)
gql "$BOB" "{\"query\":\"$PAGE\",\"variables\":{\"c\":\"$CONVO\",\"after\":\"$NEXT\"}}"

echo "# Eve is not a member: refused."
gql "$(token eve)" "{\"query\":\"query(\$c: ID!) { getConvo(id: \$c) { name } }\",\"variables\":{\"c\":\"$CONVO\"}}"

// What the Node tests share: the stack's addresses (tests/node/run.sh and
// tests/watch-smoke.sh pass them), tokens from its dev identity provider,
// and GraphQL over HTTP.
import assert from 'node:assert/strict';

export const HTTP = process.env.CHAT_HTTP ?? 'http://127.0.0.1:4000';
export const WS = process.env.CHAT_WS ?? 'ws://127.0.0.1:4001';
/** The stack's DynamoDB endpoint, for a test that writes as no API does. */
export const DYNAMODB = process.env.CHAT_DYNAMODB;
/** Keeps this run's usernames apart from earlier runs' on the same stack. */
export const run = Date.now().toString(36);

/** A token for `username`; `expiresIn` (seconds) asks for a short-lived one. */
export async function token(username, expiresIn) {
    const res = await fetch(`${HTTP}/auth/token`, { method: 'POST', body: JSON.stringify({ username, expiresIn }) });
    assert.equal(res.status, 200);
    return (await res.json()).token;
}

/** A query or mutation that must answer without errors. */
export async function gql(auth, query, variables = {}) {
    const res = await fetch(`${HTTP}/graphql`, {
        method: 'POST',
        headers: { authorization: auth, 'content-type': 'application/json' },
        body: JSON.stringify({ query, variables }),
    });
    const body = await res.json();
    assert.equal(body.errors, undefined, JSON.stringify(body.errors));
    return body.data;
}

/** A new user of this run, with a profile. */
export async function user(name) {
    const username = `${name}_${run}`;
    const auth = await token(username);
    const data = await gql(auth, 'mutation($u: String!) { createUser(input: {username: $u}) { id } }', { u: username });
    return { username, auth, id: data.createUser.id };
}

export const settle = (ms = 300) => new Promise((r) => setTimeout(r, ms));

// A writer that dies between its write and its posts, seen by stock
// graphql-ws clients. The dead writer's transaction is made here, straight
// to the stack's DynamoDB (tests/node/run.sh passes its endpoint), exactly as
// `createMessage` makes it: the message, held for its writer's push
// (`pushUntil`), and its change-log entry. Nothing pushes it then: the
// stream leaves a writer's rows alone. The client's retry with the same id
// takes the push over once the hold has run out, and only once.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { DYNAMODB, WS, gql, run, settle, user } from './stack.mjs';

// One DynamoDB call, signed with Signature Version 4 as any SDK signs it.
async function dynamodb(action, body) {
    const url = new URL(DYNAMODB);
    const payload = JSON.stringify(body);
    const amzDate = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
    const day = amzDate.slice(0, 8);
    const region = 'us-east-1';
    const headers = {
        'content-type': 'application/x-amz-json-1.0',
        host: url.host,
        'x-amz-date': amzDate,
        'x-amz-target': `DynamoDB_20120810.${action}`,
    };
    const names = Object.keys(headers).sort();
    const sha = (s) => createHash('sha256').update(s).digest('hex');
    const canonical = ['POST', '/', '', ...names.map((n) => `${n}:${headers[n]}`), '', names.join(';'), sha(payload)].join('\n');
    const scope = `${day}/${region}/dynamodb/aws4_request`;
    const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha(canonical)].join('\n');
    const hmac = (key, s) => createHmac('sha256', key).update(s).digest();
    let key = hmac('AWS4local', day);
    for (const part of [region, 'dynamodb', 'aws4_request']) key = hmac(key, part);
    const signature = createHmac('sha256', key).update(toSign).digest('hex');
    const res = await fetch(DYNAMODB, {
        method: 'POST',
        headers: {
            ...headers,
            authorization: `AWS4-HMAC-SHA256 Credential=local/${scope}, SignedHeaders=${names.join(';')}, Signature=${signature}`,
        },
        body: payload,
    });
    const answer = await res.json();
    assert.equal(res.status, 200, JSON.stringify(answer));
    return answer;
}

// A ULID: 48 bits of milliseconds and 80 random bits, in Crockford's base 32.
function ulid() {
    const alphabet = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
    let time = Date.now();
    let out = '';
    for (let i = 0; i < 10; i += 1) {
        out = alphabet[time % 32] + out;
        time = Math.floor(time / 32);
    }
    for (const byte of randomBytes(16)) out += alphabet[byte % 32];
    return out;
}

const clients = [];
after(async () => { for (const c of clients) await c.dispose(); });

function listen(auth, room) {
    const c = createClient({ url: WS, webSocketImpl: WebSocket, connectionParams: { authorization: auth }, retryAttempts: 0 });
    clients.push(c);
    const ids = [];
    c.subscribe(
        { query: 'subscription($c: ID!) { onCreateMessage(messageConversationId: $c) { id content } }', variables: { c: room } },
        { next: (v) => ids.push(v.data.onCreateMessage.id), error: (e) => assert.fail(JSON.stringify(e)), complete: () => {} },
    );
    return ids;
}

test('a writer that dies after its write: a retry takes the push over once its hold runs out, and pushes once', async () => {
    assert.ok(DYNAMODB, 'CHAT_DYNAMODB: the stack\'s DynamoDB endpoint');
    const [alice, bob] = await Promise.all([user('alice'), user('bob')]);
    const { createConvo } = await gql(alice.auth, 'mutation($m: [String!]!) { createConvo(input: {name: "writers", members: $m}) { id } }', { m: [bob.id] });
    const room = createConvo.id;
    const [toAlice, toBob] = [listen(alice.auth, room), listen(bob.auth, room)];
    const post = (id, content) => gql(alice.auth, 'mutation($id: ID!, $c: ID!, $t: String!) { createMessage(input: {id: $id, content: $t, messageConversationId: $c}) { id } }', { id, c: room, t: content });
    // Live: a probe reaches both, so the subscriptions are in place.
    for (let i = 0; !(toAlice.includes(`probe-${i - 1}`) && toBob.includes(`probe-${i - 1}`)); i += 1) {
        assert.ok(i < 20, 'subscriptions never went live');
        await post(`probe-${i}`, 'probe');
        await settle(200);
    }

    // The dead writer's transaction, holding the push for 2 s.
    const id = `dead-writer-${run}`;
    const seq = ulid();
    const now = new Date().toISOString();
    const held = Date.now() + 2000;
    const message = {
        messageConversationId: { S: room }, id: { S: id }, seq: { S: seq }, authorId: { S: alice.id },
        content: { S: 'survives its writer' }, createdAt: { S: now }, updatedAt: { S: now }, version: { N: '1' },
    };
    await dynamodb('TransactWriteItems', {
        TransactItems: [
            { Put: { TableName: 'Messages', Item: { ...message, pushUntil: { N: String(held) } }, ConditionExpression: 'attribute_not_exists(id)' } },
            { Put: { TableName: 'Messages', Item: { messageConversationId: { S: room }, id: { S: `~change#${seq}` }, kind: { S: 'CREATED' }, message: { M: message }, pushUntil: { N: '0' } }, ConditionExpression: 'attribute_not_exists(id)' } },
        ],
    });
    await settle(700);
    const got = (ids) => ids.filter((m) => m === id).length;
    assert.deepEqual([got(toAlice), got(toBob)], [0, 0], 'stored, pushed by no one');
    const history = await gql(bob.auth, 'query($c: ID!) { getConvo(id: $c) { messages(limit: 1, sortDirection: DESC) { items { id } } } }', { c: room });
    assert.equal(history.getConvo.messages.items[0].id, id);

    // A retry while the hold lasts cannot tell a dead writer from a live one,
    // so it pushes nothing.
    await post(id, 'survives its writer');
    await settle(300);
    assert.deepEqual([got(toAlice), got(toBob)], [0, 0], 'a live writer is never doubled');

    // Once it has run out, the next retry pushes; the one after does not.
    await settle(held + 200 - Date.now());
    await post(id, 'survives its writer');
    await post(id, 'survives its writer');
    await settle(700);
    assert.deepEqual([got(toAlice), got(toBob)], [1, 1], 'once each');
});

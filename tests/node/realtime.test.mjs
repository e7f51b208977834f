// The real-time API with the stock graphql-ws client, as web and mobile apps
// use it, against a running stack (tests/node/run.sh starts one).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { WS, gql, run, settle, token, user } from './stack.mjs';

// Chatt's subscription documents, unchanged.
const ON_CREATE_MESSAGE = 'subscription onCreateMessage($messageConversationId: ID!) { onCreateMessage(messageConversationId: $messageConversationId) { id content authorId messageConversationId createdAt } }';
const ON_CREATE_USER = 'subscription OnCreateUser { onCreateUser { id username createdAt } }';

function client(auth) {
    return createClient({
        url: WS,
        webSocketImpl: WebSocket,
        connectionParams: { authorization: auth },
        retryAttempts: 0,
        lazy: false,
    });
}

// Subscribes and collects events; resolves `ready` once the server has
// stored the subscription (graphql-ws gives no ack, so wait a moment).
function collect(c, query, variables) {
    const events = [];
    const errors = [];
    let notify = () => {};
    const dispose = c.subscribe({ query, variables }, {
        next: (value) => { events.push(value); notify(); },
        error: (err) => { errors.push(err); notify(); },
        complete: () => {},
    });
    const until = (pred, ms = 5000) => new Promise((resolve, reject) => {
        const check = () => { if (pred()) { clearTimeout(timer); resolve(); } };
        const timer = setTimeout(() => reject(new Error(`timed out with ${events.length} events, errors ${JSON.stringify(errors)}`)), ms);
        notify = check;
        check();
    });
    return { events, errors, dispose, until };
}

// graphql-ws gives no acknowledgement of a subscription, so wait until it
// is live: repeat `trigger` until every subscription in `subs` has seen an
// event (at most 20 tries, one a second).
async function whenLive(subs, trigger) {
    for (let i = 0; i < 20; i++) {
        await trigger(i);
        try {
            await Promise.all(subs.map((s) => s.until(() => s.events.length > 0, 1000)));
            return;
        } catch { /* not yet */ }
    }
    throw new Error('subscriptions never went live');
}

const post = (from, content) => gql(from.auth, 'mutation($c: String!, $id: ID!) { createMessage(input: {content: $c, messageConversationId: $id}) { id } }', { c: content, id: room });

let alice, bob, eve, room, clients = [];
before(async () => {
    [alice, bob, eve] = await Promise.all([user('alice'), user('bob'), user('eve')]);
    const data = await gql(alice.auth, 'mutation($n: String!, $m: [String!]!) { createConvo(input: {name: $n, members: $m}) { id } }', { n: 'node room', m: [bob.id] });
    room = data.createConvo.id;
});
after(async () => { for (const c of clients) await c.dispose(); });

test('both members receive every message once and in order; a non-member is refused', async () => {
    const [ca, cb, ce] = [client(alice.auth), client(bob.auth), client(eve.auth)];
    clients.push(ca, cb, ce);
    const a = collect(ca, ON_CREATE_MESSAGE, { messageConversationId: room });
    const b = collect(cb, ON_CREATE_MESSAGE, { messageConversationId: room });
    const e = collect(ce, ON_CREATE_MESSAGE, { messageConversationId: room });
    await e.until(() => e.errors.length === 1);
    assert.match(JSON.stringify(e.errors[0]), /not a member/);
    await whenLive([a, b], (i) => post(alice, `probe ${i}`));
    const real = (s) => s.events.filter((ev) => !ev.data.onCreateMessage.content.startsWith('probe'));

    const sent = [];
    for (let i = 0; i < 10; i++) {
        const from = i % 2 ? bob : alice;
        sent.push((await post(from, `hello ${i}`)).createMessage.id);
    }
    for (const s of [a, b]) {
        await s.until(() => real(s).length >= 10);
        await settle();
        assert.deepEqual(real(s).map((ev) => ev.data.onCreateMessage.id), sent);
        const first = real(s)[0].data.onCreateMessage;
        assert.deepEqual(Object.keys(first), ['id', 'content', 'authorId', 'messageConversationId', 'createdAt']);
        assert.equal(first.authorId, alice.id);
    }
    assert.equal(e.events.length, 0);

    // The same history over a query: newest first.
    const history = await gql(bob.auth, 'query($c: ID!) { allMessageConnection(conversationId: $c, first: 10) { messages { id } } }', { c: room });
    assert.deepEqual(history.allMessageConnection.messages.map((m) => m.id), [...sent].reverse());
});

test('OnCreateUser delivers new users', async () => {
    const c = client(alice.auth);
    clients.push(c);
    const s = collect(c, ON_CREATE_USER, {});
    const created = [];
    await whenLive([s], async (i) => { created.push(await user(`carol${i}`)); });
    const got = s.events[0].data.onCreateUser;
    const carol = created.find((u) => u.id === got.id);
    assert.ok(carol, 'the event is for a user this test created');
    assert.equal(got.username, carol.username);
    assert.deepEqual(Object.keys(got), ['id', 'username', 'createdAt']);
});

test('an aliased subset of fields arrives in exactly that shape', async () => {
    const c = client(bob.auth);
    clients.push(c);
    const s = collect(c, 'subscription($c: ID!) { m: onCreateMessage(messageConversationId: $c) { text: content __typename } }', { c: room });
    await whenLive([s], () => post(alice, 'shape'));
    assert.deepEqual(s.events[0], { data: { m: { text: 'shape', __typename: 'Message' } } });
});

test('a retry of the same id is pushed once; messages sent at once are placed by seq', async () => {
    const [ca, cb] = [client(alice.auth), client(bob.auth)];
    clients.push(ca, cb);
    const doc = 'subscription($c: ID!) { onCreateMessage(messageConversationId: $c) { id seq authorId content } }';
    const a = collect(ca, doc, { c: room });
    const b = collect(cb, doc, { c: room });
    await whenLive([a, b], (i) => post(alice, `probe ${i}`));
    const real = (s) => s.events.map((ev) => ev.data.onCreateMessage).filter((m) => !m.content.startsWith('probe'));

    // The client retries after a lost answer: same id, one push.
    const withId = 'mutation($id: ID!, $c: ID!) { createMessage(input: {id: $id, content: "retried", messageConversationId: $c}) { id seq } }';
    const id = `retry-${run}`;
    const first = await gql(alice.auth, withId, { id, c: room });
    assert.deepEqual(await gql(alice.auth, withId, { id, c: room }), first);

    // Two senders at once, each one message after another.
    const burst = async (from) => {
        const ids = [];
        for (let i = 0; i < 10; i++) ids.push((await post(from, `${from.username} ${i}`)).createMessage.id);
        return ids;
    };
    const [fromAlice, fromBob] = await Promise.all([burst(alice), burst(bob)]);
    const history = await gql(bob.auth, 'query($c: ID!) { getConvo(id: $c) { messages(limit: 100, sortDirection: DESC) { items { id } } } }', { c: room });
    const newest = history.getConvo.messages.items.map((m) => m.id).slice(0, 21).reverse();
    for (const s of [a, b]) {
        await s.until(() => real(s).length >= 21);
        await settle(500);
        const got = real(s);
        assert.equal(got.filter((m) => m.id === id).length, 1, 'the retry was not pushed again');
        assert.equal(got.length, 21);
        assert.deepEqual(got.filter((m) => m.authorId === alice.id && m.id !== id).map((m) => m.id), fromAlice);
        assert.deepEqual(got.filter((m) => m.authorId === bob.id).map((m) => m.id), fromBob);
        const placed = [...got].sort((x, y) => (x.seq < y.seq ? -1 : x.seq > y.seq ? 1 : 0)).map((m) => m.id);
        assert.deepEqual(placed, newest, 'placed by seq, they are the history');
    }
});

test('a bad token is closed with 4403', async () => {
    const closed = new Promise((resolve) => {
        const c = createClient({
            url: WS,
            webSocketImpl: WebSocket,
            connectionParams: { authorization: 'forged' },
            retryAttempts: 0,
            lazy: false,
            on: { closed: (event) => resolve(event.code) },
            onNonLazyError: () => {},
        });
        clients.push(c);
    });
    assert.equal(await closed, 4403);
});

test('a removed member stays connected but their subscriptions to the room end at once', async () => {
    const carol = await user('carol');
    const data = await gql(alice.auth, 'mutation($n: String!, $m: [String!]!) { createConvo(input: {name: $n, members: $m}) { id } }', { n: 'removal room', m: [bob.id, carol.id] });
    const removal = data.createConvo.id;
    const elsewhere = (await gql(carol.auth, 'mutation($n: String!, $m: [String!]!) { createConvo(input: {name: $n, members: $m}) { id } }', { n: 'carol elsewhere', m: [alice.id] })).createConvo.id;
    const say = (from, c, content) => gql(from.auth, 'mutation($t: String!, $c: ID!) { createMessage(input: {content: $t, messageConversationId: $c}) { id } }', { t: content, c });
    const cc = client(carol.auth);
    clients.push(cc);
    const inRoom = collect(cc, ON_CREATE_MESSAGE, { messageConversationId: removal });
    const other = collect(cc, ON_CREATE_MESSAGE, { messageConversationId: elsewhere });
    await whenLive([inRoom], (i) => say(alice, removal, `probe ${i}`));
    await whenLive([other], (i) => say(alice, elsewhere, `probe ${i}`));

    await gql(alice.auth, 'mutation($c: ID!, $u: ID!) { removeMember(conversationId: $c, userId: $u) { kind } }', { c: removal, u: carol.id });
    // The removal has answered: the room's subscription has ended with an error.
    await inRoom.until(() => inRoom.errors.length === 1);
    assert.match(JSON.stringify(inRoom.errors[0]), /no longer a member/);
    const seen = inRoom.events.length;
    await say(alice, removal, 'after the removal');
    await say(alice, elsewhere, 'still here');
    await other.until(() => other.events.some((ev) => ev.data.onCreateMessage.content === 'still here'));
    await settle();
    assert.equal(inRoom.events.length, seen, 'nothing from the room after the removal');
});

test('a client that reconnects catches up with the recipe and has what one that stayed has', async () => {
    const CHANGES = 'subscription($c: ID!) { onMessageChange(conversationId: $c) { kind message { id content version deletedAt } } }';
    const PAGE = 'query($c: ID!, $after: String) { messageChanges(conversationId: $c, after: $after, limit: 2) { cursor nextToken items { kind message { id content version deletedAt } } } }';
    const keep = (state, message) => {
        const old = state.get(message.id);
        if (!old || old.version < message.version) state.set(message.id, message);
    };
    // One client stays; the other takes a cursor, then goes away.
    const stays = new Map();
    const cs = client(bob.auth);
    clients.push(cs);
    const live = collect(cs, CHANGES, { c: room });
    await whenLive([live], (i) => post(alice, `probe ${i}`));
    const away = new Map();
    let cursor = (await gql(bob.auth, PAGE, { c: room })).messageChanges.cursor;
    const history = await gql(bob.auth, 'query($c: ID!) { getConvo(id: $c) { messages(limit: 100) { items { id content version deletedAt } } } }', { c: room });
    for (const m of history.getConvo.messages.items) { keep(away, m); keep(stays, m); }

    const first = (await post(alice, 'will be edited')).createMessage.id;
    await gql(alice.auth, 'mutation($c: ID!, $id: ID!) { updateMessage(input: {id: $id, messageConversationId: $c, content: "edited"}) { id } }', { c: room, id: first });
    const second = (await post(bob, 'will be deleted')).createMessage.id;
    await gql(bob.auth, 'mutation($c: ID!, $id: ID!) { deleteMessage(input: {id: $id, messageConversationId: $c}) { id } }', { c: room, id: second });
    await post(alice, 'last');

    await live.until(() => live.events.some((ev) => ev.data.onMessageChange.message.content === 'last'));
    await settle();
    for (const ev of live.events) keep(stays, ev.data.onMessageChange.message);

    // Back: subscribe again (not needed here), then page from the cursor.
    let after = cursor;
    for (;;) {
        const page = (await gql(bob.auth, PAGE, { c: room, after })).messageChanges;
        for (const item of page.items) keep(away, item.message);
        if (!page.nextToken) { cursor = page.cursor; break; }
        after = page.nextToken;
    }
    assert.ok(cursor);
    assert.deepEqual(new Map([...away].sort()), new Map([...stays].sort()));
    assert.equal(away.get(first).content, 'edited');
    assert.ok(away.get(second).deletedAt);
});

test('an expired token ends its subscriptions with 4401; subscribing again connects with a fresh token', async () => {
    let current = await token(alice.username, 1);
    const { exp } = JSON.parse(Buffer.from(current.split('.')[1], 'base64url').toString());
    const c = createClient({
        url: WS,
        webSocketImpl: WebSocket,
        // As an app does: whatever token it holds when it connects.
        connectionParams: () => ({ authorization: current }),
        retryAttempts: 0,
    });
    clients.push(c);
    const first = collect(c, ON_CREATE_MESSAGE, { messageConversationId: room });
    await whenLive([first], (i) => post(bob, `before expiry ${i}`));

    // Past `exp` and the verifier's 5 s of skew: the next push, or the
    // sweeper, closes the socket instead of delivering.
    await settle((exp + 5 + 1) * 1000 - Date.now());
    current = await token(alice.username);
    await post(bob, 'after expiry');
    await first.until(() => first.errors.length === 1, 10000);
    assert.equal(first.errors[0].code, 4401);
    assert.equal(first.errors[0].reason, 'Token expired');
    assert.ok(!first.events.some((ev) => ev.data.onCreateMessage.content === 'after expiry'));

    // Subscribing again opens a new socket with the fresh token.
    const again = collect(c, ON_CREATE_MESSAGE, { messageConversationId: room });
    await whenLive([again], (i) => post(bob, `fresh ${i}`));
    assert.equal(again.errors.length, 0);
});

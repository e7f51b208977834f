// A stock graphql-ws client for tests/restart-smoke.sh, against a running
// gateway (CHAT_HTTP, CHAT_WS):
//   node node/lifecycle.mjs new-user  subscribes to onCreateUser, signs up new
//                                     users until one is pushed; exit 0 then
//   node node/lifecycle.mjs hold      subscribes, prints "ready", and prints
//                                     the close code when the server closes
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

import { WS, gql, run, token } from './stack.mjs';

const ON_CREATE_USER = 'subscription OnCreateUser { onCreateUser { id username } }';

async function signUp(username) {
    await gql(await token(username), 'mutation($u: String!) { createUser(input: {username: $u}) { id } }', { u: username });
}

const mode = process.argv[2];
const auth = await token(`watcher_${run}`);
let closeCode = null;
const client = createClient({
    url: WS,
    webSocketImpl: WebSocket,
    connectionParams: { authorization: auth },
    retryAttempts: 0,
    lazy: false,
    on: { closed: (event) => { closeCode = event.code; } },
});
const pushed = [];
client.subscribe({ query: ON_CREATE_USER }, {
    next: ({ data }) => pushed.push(data.onCreateUser.username),
    error: () => {},
    complete: () => {},
});
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

if (mode === 'new-user') {
    // graphql-ws gives no acknowledgement: sign up until one is pushed.
    for (let i = 0; i < 20; i++) {
        const name = `newcomer${i}_${run}`;
        await signUp(name);
        for (let t = 0; t < 10 && !pushed.includes(name); t++) await sleep(100);
        if (pushed.includes(name)) {
            console.log(`pushed ${name}`);
            process.exit(0);
        }
    }
    console.log(`nothing pushed; got ${JSON.stringify(pushed)}`);
    process.exit(1);
} else if (mode === 'hold') {
    await sleep(500);
    console.log('ready');
    while (closeCode === null) await sleep(50);
    console.log(`closed ${closeCode}`);
    process.exit(0);
} else {
    console.error('usage: lifecycle.mjs new-user|hold');
    process.exit(2);
}

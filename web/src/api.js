// The transport: urql for queries and mutations over HTTP, graphql-ws for
// subscriptions over the WebSocket API, against the same endpoints any
// client uses. What the views need to know of it arrives as events
// (state.js): `connection`, `reconnected` and `barred`.

import { Client, fetchExchange, subscriptionExchange } from '@urql/core';
import { pipe, subscribe } from 'wonka';
import { createClient as createWsClient } from 'graphql-ws';
import { state, emit } from './state.js';
import { freshToken } from './auth.js';
import { Q } from './documents.js';
import { $ } from './dom.js';

let urql = null;
let ws = null;
let socket = null;
let everConnected = false;
// The test hook's network switch: while it is off, reconnects wait.
let networkGate = null;

export function connect() {
  ws = createWsClient({
    url: state.config.realtime,
    connectionParams: async () => ({ authorization: await freshToken() }),
    // No pings from here: the server pings a quiet connection, graphql-ws
    // answers, and each ping from a client would cost an invocation.
    retryAttempts: Infinity,
    // 4403: the account is suspended or banned (or the token is not one
    // of ours); connecting again would be refused the same way.
    shouldRetry: (event) => event?.code !== 4403,
    retryWait: async (retries) => {
      if (networkGate) await networkGate.promise;
      await new Promise((r) => setTimeout(r, Math.min(250 * 2 ** retries, 5000)));
    },
    on: {
      opened: (s) => { socket = s; },
      connected: () => {
        setConnection('connected');
        if (everConnected || resyncWanted) resync();
        everConnected = true;
      },
      pong: (received, payload) => {
        if (received && payload?.resync === resyncs) emit('reconnected');
      },
      closed: (event) => {
        if (event?.code === 4403) {
          // The server says why on the next request: UserSuspended.
          run(Q.me).catch(() => {});
          return;
        }
        setConnection(everConnected ? 'reconnecting' : 'connecting');
      },
    },
  });
  urql = new Client({
    url: state.config.graphql,
    requestPolicy: 'network-only',
    // AppSync takes POST only.
    preferGetMethod: false,
    fetchOptions: () => ({ headers: { authorization: state.token } }),
    exchanges: [
      fetchExchange,
      subscriptionExchange({
        forwardSubscription: (request) => ({
          subscribe: (sink) => ({ unsubscribe: ws.subscribe({ ...request, query: request.query || '' }, sink) }),
        }),
      }),
    ],
  });
}

/** Closes the socket for good (signed out, or barred). */
export function disconnect() {
  ws?.dispose();
}

/** Runs a query or mutation; throws the first GraphQL error, with its
 * `errorType` as `type`. The answer's type is the document's, in
 * graphql.d.ts (`History` answers a `HistoryQuery`). */
export async function run(doc, variables = {}, mutation = false) {
  await freshToken();
  const result = await (mutation ? urql.mutation(doc, variables) : urql.query(doc, variables)).toPromise();
  if (result.error) {
    const gqlError = result.error.graphQLErrors?.[0];
    const err = new Error(gqlError?.message || result.error.message);
    // AppSync puts errorType beside message; urql keeps the raw error as originalError.
    err.type = gqlError?.extensions?.errorType || gqlError?.originalError?.errorType || gqlError?.errorType || (result.error.networkError ? 'Network' : 'Error');
    if (err.type === 'UserSuspended') {
      disconnect();
      emit('barred', gqlError?.extensions?.errorInfo || gqlError?.originalError?.errorInfo || {});
    }
    throw err;
  }
  return result.data;
}

export const mutate = (doc, variables) => run(doc, variables, true);

/** Keeps one subscription per key; true if it is new. */
export function listen(key, doc, variables, onData) {
  if (state.subscriptions.has(key)) return false;
  const { unsubscribe } = pipe(
    urql.subscription(doc, variables),
    subscribe((result) => {
      if (result.error) {
        state.subscriptions.delete(key);
        // The token the socket was opened with expired (close 4401):
        // graphql-ws ends the subscriptions instead of retrying with it.
        // Subscribing again connects anew with a fresh token, and the
        // reconnect catches up on what was missed.
        if (result.error.networkError?.code === 4401) {
          setTimeout(() => listen(key, doc, variables, onData), 0);
          return;
        }
        console.warn(key, result.error.message);
        return;
      }
      if (result.data) onData(result.data);
    }),
  );
  state.subscriptions.set(key, unsubscribe);
  return true;
}

export function stopListening(prefix) {
  for (const [key, unsubscribe] of state.subscriptions) {
    if (key.startsWith(prefix)) {
      unsubscribe();
      state.subscriptions.delete(key);
    }
  }
}

function setConnection(value) {
  state.connection = value;
  const el = $('connection');
  el.dataset.state = value;
  el.textContent = { connected: 'online', connecting: 'connecting…', reconnecting: 'reconnecting…' }[value];
  emit('connection');
}

// A reconnect: graphql-ws sends the subscriptions again, and what happened
// while away comes from the change log (docs/REALTIME.md, catching up). A change
// made after the catch-up's read but before the server has the new
// subscriptions would be in neither, so the catch-up waits for them: the
// local gateway handles a connection's messages in order, so a ping sent
// after them is answered after them. API Gateway gives no such order, so a
// second catch-up follows a few seconds later; a change that comes twice is
// applied once (by version). New subscriptions on an open socket (a
// conversation just joined) are waited for the same way. Before the first
// acknowledgement the subscriptions have not been sent, and a ping would be
// answered ahead of them, so a resync asked for then waits for `connected`.
let resyncs = 0;
let resyncWanted = false;
export function resync() {
  resyncWanted = state.connection !== 'connected';
  if (resyncWanted) return;
  const n = ++resyncs;
  setTimeout(() => {
    if (socket?.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: 'ping', payload: { resync: n } }));
  }, 0);
  setTimeout(() => n === resyncs && emit('reconnected'), 3000);
}

/** The test hook's switch: drops the socket as a lost network would, and
 * holds reconnects until `restoreConnection`. */
export function dropConnection() {
  let open;
  networkGate = { promise: new Promise((r) => { open = r; }), open };
  // As a lost network would (1006 cannot be sent): a non-fatal close, retried.
  socket?.close(3000, 'network dropped');
}

export function restoreConnection() {
  networkGate?.open();
  networkGate = null;
}

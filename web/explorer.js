// The query explorer at GET /graphql: GraphiQL against this stack's
// GraphQL endpoint and WebSocket API, signed in as the web app signs in.
// A token the app already holds in this tab's origin is used as it is;
// otherwise the dev identity provider gives one for a username.

import { createClient } from 'graphql-ws';

const { React, ReactDOM, GraphiQL } = window;
const $ = (id) => document.getElementById(id);

const START = `# Any query, mutation or subscription of the chat API, as you.
query Me {
  me { id username }
  inbox(limit: 5) { items { conversationId name unreadCount } }
}
`;

async function tokenFor(config, username) {
  const res = await fetch(config.auth.tokenUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username }),
  });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(body.message || body.error || `sign-in failed (${res.status})`);
  return body.token;
}

function open(config, token) {
  $('explorer-signin').hidden = true;
  $('graphiql').hidden = false;
  const wsClient = createClient({ url: config.realtime, connectionParams: { authorization: token } });
  const fetcher = GraphiQL.createFetcher({ url: config.graphql, headers: { authorization: token }, wsClient });
  ReactDOM.createRoot($('graphiql')).render(
    React.createElement(GraphiQL, { fetcher, defaultQuery: START, shouldPersistHeaders: false }),
  );
}

async function main() {
  const config = await (await fetch('/config.json')).json();
  const kept = sessionStorage.getItem('token');
  if (kept) return open(config, kept);
  if (config.auth.kind !== 'dev') {
    $('explorer-error').textContent = 'Sign in through the app first; the explorer uses its token.';
  }
  $('explorer-signin').hidden = false;
  $('explorer-username').focus();
  $('explorer-signin').onsubmit = async (e) => {
    e.preventDefault();
    $('explorer-error').textContent = '';
    try {
      const username = $('explorer-username').value.trim();
      const token = await tokenFor(config, username);
      sessionStorage.setItem('username', username);
      sessionStorage.setItem('token', token);
      open(config, token);
    } catch (err) {
      $('explorer-error').textContent = err.message;
    }
  };
}

main().catch((err) => {
  $('explorer-signin').hidden = false;
  $('explorer-error').textContent = err.message;
});

// The web chat client, started. It is plain ES modules over stock client
// libraries (urql, graphql-ws) loaded through the import map: nothing is
// built. `config.json` says where the endpoints are: the local stack serves
// one for itself; for a deployed stack, write one from its outputs
// (docs/WEB-CLIENT.md).
//
// Layout (web/src), one module per feature, each importing only those
// below it; what a feature above must show arrives as an event (state.js):
//   format.js, limits.js   pure rules and words, tested by `node --test`
//   dom.js, documents.js   element lookup and notices; the GraphQL documents
//   state.js               the state, and the events between features
//   auth.js                sign-in, and a fresh token for each request
//   api.js                 the transport: queries, mutations, subscriptions
//   users.js               names and presence
//   safety.js              reports, blocks, moderation, a barred account
//   attachments.js         the tray of files, and a message's files
//   message.js             how one message looks
//   room.js                the open conversation and its list
//   composer.js            writing a message, mentions, typing
//   inbox.js, people.js    the inbox; starting a conversation
//   notify.js              notification levels and Web Push

import { state, on, emit } from './src/state.js';
import { devToken, cognitoSignIn, signOutOfProvider, isModerator } from './src/auth.js';
import { connect, disconnect, run, mutate, listen, resync, dropConnection, restoreConnection } from './src/api.js';
import { Q, S } from './src/documents.js';
import { refreshUsers } from './src/users.js';
import { loadBlocked, setup as setupSafety } from './src/safety.js';
import { setup as setupAttachments } from './src/attachments.js';
import { openConversation, catchUp, setup as setupRoom } from './src/room.js';
import { setup as setupComposer } from './src/composer.js';
import { refreshInbox, setup as setupInbox } from './src/inbox.js';
import { setup as setupPeople } from './src/people.js';
import { setup as setupNotify } from './src/notify.js';
import { $ } from './src/dom.js';

/** Forgets this tab's session: the token leaves sessionStorage and the
 * socket closes. On the Cognito path, Cognito's own session ends too. */
function signOut() {
  disconnect();
  signOutOfProvider();
}

async function signedIn() {
  connect();
  let { me } = await run(Q.me);
  if (!me) ({ createUser: me } = await mutate(Q.createUser, { u: state.username }));
  state.me = me;
  state.users.set(me.id, { ...me, online: true });
  $('signin').hidden = true;
  $('app').hidden = false;
  $('me-name').textContent = me.username;
  $('moderation-open').hidden = !isModerator();
  $('me-avatar').textContent = me.username.slice(0, 1);
  await loadBlocked();
  listen('links', S.links, { u: me.id }, () => emit('inbox-stale'));
  await refreshUsers();
  await refreshInbox();
  // A conversation created with me between that read and the server having
  // the `links` subscription would reach neither: read again once it has.
  resync();
  // A notification's click opens its conversation.
  navigator.serviceWorker?.addEventListener('message', (e) => e.data?.open && openConversation(e.data.open));
  const asked = new URLSearchParams(location.search).get('c');
  if (asked) openConversation(asked);
}

function wire() {
  $('signin-form').onsubmit = async (e) => {
    e.preventDefault();
    $('signin-error').textContent = '';
    try {
      state.username = $('username').value.trim();
      state.groups = $('as-moderator').checked ? ['moderators'] : [];
      state.token = await devToken(state.username);
      sessionStorage.setItem('username', state.username);
      sessionStorage.setItem('groups', JSON.stringify(state.groups));
      sessionStorage.setItem('token', state.token);
      await signedIn();
    } catch (err) {
      $('signin-error').textContent = err.message;
    }
  };
  $('sign-out').onclick = signOut;
  for (const setup of [setupSafety, setupAttachments, setupRoom, setupComposer, setupInbox, setupPeople, setupNotify]) setup();
  on('reconnected', () => Promise.all([refreshUsers(), refreshInbox(), state.open && catchUp(state.open)]));
}

async function main() {
  wire();
  state.config = await (await fetch('config.json')).json();
  if (state.config.auth.kind === 'cognito') {
    ({ token: state.token, username: state.username } = await cognitoSignIn());
    return signedIn();
  }
  state.username = sessionStorage.getItem('username');
  state.groups = JSON.parse(sessionStorage.getItem('groups') || '[]');
  state.token = sessionStorage.getItem('token');
  if (state.username && state.token) return signedIn();
  $('signin').hidden = false;
  $('username').focus();
}

// For tests and the curious: the state, and a switch that drops the
// WebSocket and holds reconnects until it is turned back on.
window.chat = { state, dropConnection, restoreConnection };

main().catch((err) => {
  console.error(err);
  $('signin').hidden = false;
  $('signin-error').textContent = err.message;
});

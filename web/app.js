// The web chat client: urql for queries and mutations over HTTP, graphql-ws
// for subscriptions over the WebSocket API, against the same endpoints any
// client uses. `config.json` says where they are: the local stack serves
// one for itself; for a deployed stack, write one from its outputs
// (README.md, "The web client").

import { Client, fetchExchange, subscriptionExchange, gql } from '@urql/core';
import { pipe, subscribe } from 'wonka';
import { createClient as createWsClient } from 'graphql-ws';

const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------- documents

const MESSAGE = `id authorId content seq createdAt editedAt deletedAt removedByModerator version mentions reactions { emoji count reacted } attachments { id name contentType size state error width height url thumbnailUrl }`;
const Q = {
  me: gql`query Me { me { id username } }`,
  createUser: gql`mutation CreateUser($u: String!) { createUser(input: { username: $u }) { id username } }`,
  users: gql`query Users($t: String) { listUsers(limit: 100, nextToken: $t) { items { id username online lastSeenAt } nextToken } }`,
  user: gql`query User($id: ID!) { getUser(id: $id) { id username online lastSeenAt } }`,
  inbox: gql`query Inbox { inbox(limit: 20) { items { conversationId name members lastMessage { id authorId content deletedAt removedByModerator attachments { contentType } } unreadCount moreUnread lastReadMessageId notifications } } }`,
  createConvo: gql`mutation CreateConvo($n: String!, $m: [String!]!) { createConvo(input: { name: $n, members: $m }) { id } }`,
  history: gql`query History($c: ID!, $t: String) { getConvo(id: $c) { id name members messages(limit: 30, sortDirection: DESC, nextToken: $t) { items { ${MESSAGE} } nextToken } } }`,
  changes: gql`query Changes($c: ID!, $a: String) { messageChanges(conversationId: $c, after: $a, limit: 100) { items { kind message { ${MESSAGE} } } cursor nextToken } }`,
  send: gql`mutation Send($id: ID!, $c: ID!, $content: String!, $a: [ID!]) { createMessage(input: { id: $id, messageConversationId: $c, content: $content, attachments: $a }) { ${MESSAGE} } }`,
  createUpload: gql`mutation CreateUpload($i: CreateUploadInput!) { createUpload(input: $i) { id method url headers { name value } expiresAt maxBytes } }`,
  edit: gql`mutation Edit($id: ID!, $c: ID!, $content: String!) { updateMessage(input: { id: $id, messageConversationId: $c, content: $content }) { ${MESSAGE} } }`,
  remove: gql`mutation Delete($id: ID!, $c: ID!) { deleteMessage(input: { id: $id, messageConversationId: $c }) { ${MESSAGE} } }`,
  react: gql`mutation React($c: ID!, $m: ID!, $e: String!) { addReaction(input: { messageConversationId: $c, messageId: $m, emoji: $e }) { ${MESSAGE} } }`,
  unreact: gql`mutation Unreact($c: ID!, $m: ID!, $e: String!) { removeReaction(input: { messageConversationId: $c, messageId: $m, emoji: $e }) { ${MESSAGE} } }`,
  markRead: gql`mutation MarkRead($c: ID!, $m: ID!) { markRead(conversationId: $c, messageId: $m) { userId seq } }`,
  typing: gql`mutation Typing($c: ID!) { typing(conversationId: $c) { sent } }`,
  pushSettings: gql`query PushSettings { pushSettings { dndUntil hideContent mentions devices { id platform token } } }`,
  updatePush: gql`mutation UpdatePush($i: PushSettingsInput!) { updatePushSettings(input: $i) { dndUntil hideContent mentions } }`,
  setLevel: gql`mutation SetLevel($c: ID!, $l: NotifyLevel!) { setConversationNotifications(conversationId: $c, level: $l) { conversationId level } }`,
  registerDevice: gql`mutation RegisterDevice($i: RegisterDeviceInput!) { registerDevice(input: $i) { id } }`,
  reportMessage: gql`mutation ReportMessage($i: ReportMessageInput!) { reportMessage(input: $i) { reportId duplicate } }`,
  reportUser: gql`mutation ReportUser($i: ReportUserInput!) { reportUser(input: $i) { reportId duplicate } }`,
  openReports: gql`query OpenReports { openReports(limit: 50) { items { id kind userId conversationId messageId reporters entries { reporterId reason note reportedAt snapshot { content attachments } } } } }`,
  dismissReport: gql`mutation DismissReport($r: ID!) { dismissReport(reportId: $r) { id status } }`,
  removeMessage: gql`mutation RemoveMessage($c: ID!, $m: ID!, $r: ID) { removeMessage(input: { id: $m, messageConversationId: $c }, reportId: $r) { id removedByModerator } }`,
  blocked: gql`query Blocked { blockedUsers { userId } }`,
  block: gql`mutation Block($u: ID!) { blockUser(userId: $u) { userId } }`,
  unblock: gql`mutation Unblock($u: ID!) { unblockUser(userId: $u) }`,
  suspend: gql`mutation Suspend($i: SuspendUserInput!) { suspendUser(input: $i) { userId suspendedUntil } }`,
  ban: gql`mutation Ban($i: BanUserInput!) { banUser(input: $i) { userId banned } }`,
};
const S = {
  changes: gql`subscription OnMessageChange($c: ID!) { onMessageChange(conversationId: $c) { kind conversationId message { ${MESSAGE} } } }`,
  presence: gql`subscription OnPresence($c: ID!) { onPresence(conversationId: $c) { userId online lastSeenAt } }`,
  typing: gql`subscription OnTyping($c: ID!) { onTyping(conversationId: $c) { userId expiresAt } }`,
  read: gql`subscription OnReadMarker($c: ID!) { onReadMarker(conversationId: $c) { userId messageId seq } }`,
  links: gql`subscription OnCreateConvoLink($u: ID!) { onCreateConvoLink(convoLinkUserId: $u) { convoLinkConversationId } }`,
};
const REACTIONS = ['👍', '❤️', '😂', '🎉'];
// What the server takes (README, "Attachments"): checked here too, so a
// file it would refuse says why before any byte is sent.
const FILE_TYPES = ['image/jpeg', 'image/png', 'image/webp', 'image/gif', 'image/heic', 'application/pdf'];
const MAX_UPLOAD_BYTES = 25 * 1024 * 1024;
const MAX_ATTACHMENTS = 10;
// The server's limit on a message's length (README, "Limits").
const MAX_MESSAGE_CHARS = 4000;
// One typing signal per this long while the user types (the server's throttle).
const TYPING_EVERY_MS = 2000;

// -------------------------------------------------------------------- state

const state = {
  config: null,
  username: null,
  token: null,
  me: null,
  users: new Map(), // id -> { id, username, online, lastSeenAt }
  inbox: [],
  open: null, // the open conversation (see openConversation)
  connection: 'connecting',
  subscriptions: new Map(), // key -> unsubscribe
  tray: [], // files being sent with the next message (see addFiles)
  blocked: new Set(), // the users I block: their messages are never shown
  picked: new Set(), // the people ticked for a new conversation
};
let urql = null;
let ws = null;
let socket = null;
let everConnected = false;
// The test hook's network switch: while it is off, reconnects wait.
let networkGate = null;

// --------------------------------------------------------------------- auth

async function devToken(username, groups = state.groups || []) {
  const res = await fetch(state.config.auth.tokenUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, groups }),
  });
  if (!res.ok) throw new Error((await res.json().catch(() => ({}))).message || `sign-in failed (${res.status})`);
  return (await res.json()).token;
}

// Cognito's hosted UI, authorization code flow with PKCE (a public client).
async function cognitoSignIn() {
  const { domain, clientId } = state.config.auth;
  const redirect = location.origin + location.pathname;
  const params = new URLSearchParams(location.search);
  if (params.has('code')) {
    const body = new URLSearchParams({
      grant_type: 'authorization_code', client_id: clientId, code: params.get('code'),
      redirect_uri: redirect, code_verifier: sessionStorage.getItem('pkce') || '',
    });
    const res = await fetch(`${domain}/oauth2/token`, { method: 'POST', body });
    const tokens = await res.json();
    history.replaceState(null, '', redirect);
    // The refresh token stays in memory only: a reload signs in again
    // through Cognito's page (its own session cookie makes that one hop).
    state.refreshToken = tokens.refresh_token;
    return { token: tokens.id_token, username: claimsOf(tokens.id_token)['cognito:username'] };
  }
  const verifier = crypto.randomUUID() + crypto.randomUUID();
  sessionStorage.setItem('pkce', verifier);
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier));
  const challenge = btoa(String.fromCharCode(...new Uint8Array(digest))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  location.assign(`${domain}/oauth2/authorize?` + new URLSearchParams({
    response_type: 'code', client_id: clientId, redirect_uri: redirect, scope: 'openid profile',
    code_challenge_method: 'S256', code_challenge: challenge,
  }));
  return new Promise(() => {});
}

// A token for the next request or connection, renewed a minute before it
// expires: the dev provider hands a new one out for the asking; Cognito's
// token endpoint exchanges the refresh token for one.
async function freshToken() {
  if (!tokenExpiresSoon(state.token)) return state.token;
  if (state.config.auth.kind === 'dev') {
    state.token = await devToken(state.username);
    sessionStorage.setItem('token', state.token);
  } else if (state.refreshToken) {
    const { domain, clientId } = state.config.auth;
    const body = new URLSearchParams({ grant_type: 'refresh_token', client_id: clientId, refresh_token: state.refreshToken });
    const res = await fetch(`${domain}/oauth2/token`, { method: 'POST', body });
    if (res.ok) state.token = (await res.json()).id_token;
  }
  return state.token;
}

/** A JWT's claims (read, not verified: the server verifies). */
function claimsOf(token) {
  return JSON.parse(atob(token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')));
}

function tokenExpiresSoon(token) {
  try {
    return claimsOf(token).exp * 1000 - Date.now() < 60_000;
  } catch {
    return true;
  }
}

// ---------------------------------------------------------------- transport

function connect() {
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
        if (everConnected) resync();
        everConnected = true;
      },
      pong: (received, payload) => {
        if (received && payload?.resync === resyncs) onReconnected();
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

/** Runs a query or mutation; throws the first GraphQL error. */
async function run(doc, variables = {}, mutation = false) {
  await freshToken();
  const result = await (mutation ? urql.mutation(doc, variables) : urql.query(doc, variables)).toPromise();
  if (result.error) {
    const gqlError = result.error.graphQLErrors?.[0];
    const err = new Error(gqlError?.message || result.error.message);
    // AppSync puts errorType beside message; urql keeps the raw error as originalError.
    err.type = gqlError?.extensions?.errorType || gqlError?.originalError?.errorType || gqlError?.errorType || (result.error.networkError ? 'Network' : 'Error');
    if (err.type === 'UserSuspended') barred(gqlError?.extensions?.errorInfo || gqlError?.originalError?.errorInfo || {});
    throw err;
  }
  return result.data;
}
const mutate = (doc, variables) => run(doc, variables, true);

/** Keeps one subscription per key; true if it is new. */
function listen(key, doc, variables, onData) {
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

function stopListening(prefix) {
  for (const [key, unsubscribe] of state.subscriptions) {
    if (key.startsWith(prefix)) {
      unsubscribe();
      state.subscriptions.delete(key);
    }
  }
}

function setConnection(value) {
  state.connection = value;
  renderMembers();
  const el = $('connection');
  el.dataset.state = value;
  el.textContent = { connected: 'online', connecting: 'connecting…', reconnecting: 'reconnecting…' }[value];
}

// A reconnect: graphql-ws sends the subscriptions again, and what happened
// while away comes from the change log (README.md, catching up). A change
// made after the catch-up's read but before the server has the new
// subscriptions would be in neither, so the catch-up waits for them: the
// local gateway handles a connection's messages in order, so a ping sent
// after them is answered after them. API Gateway gives no such order, so a
// second catch-up follows a few seconds later; a change that comes twice is
// applied once (by version). New subscriptions on an open socket (a
// conversation just joined) are waited for the same way.
let resyncs = 0;
function resync() {
  const n = ++resyncs;
  setTimeout(() => {
    if (socket?.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: 'ping', payload: { resync: n } }));
  }, 0);
  setTimeout(() => n === resyncs && onReconnected(), 3000);
}

async function onReconnected() {
  await Promise.all([refreshUsers(), refreshInbox(), state.open && catchUp(state.open)]);
}

// -------------------------------------------------------------------- users

async function refreshUsers() {
  let token = null;
  do {
    const { listUsers } = await run(Q.users, { t: token });
    for (const u of listUsers.items) if (u) state.users.set(u.id, u);
    token = listUsers.nextToken;
  } while (token);
  renderInbox();
  renderMembers();
}

async function userOf(id) {
  if (!state.users.has(id)) {
    const { getUser } = await run(Q.user, { id });
    if (getUser) state.users.set(id, getUser);
  }
  return state.users.get(id);
}

const nameOf = (id) => state.users.get(id)?.username || 'someone';

function avatar(id, withDot = true) {
  const el = document.createElement('span');
  el.className = 'avatar';
  const initial = document.createElement('span');
  initial.setAttribute('aria-hidden', 'true');
  initial.textContent = nameOf(id).slice(0, 1);
  el.append(initial);
  if (withDot) el.append(presenceDot(id, 'dot'));
  return el;
}

/** Presence by shape (filled when online, a ring when not) and in words
 * for screen readers, not by colour alone. */
function presenceDot(id, className, online = state.users.get(id)?.online) {
  const dot = document.createElement('span');
  dot.className = className + (online ? ' online' : '');
  dot.dataset.presence = id;
  const words = document.createElement('span');
  words.className = 'visually-hidden';
  words.textContent = online ? 'online' : 'offline';
  dot.append(words);
  return dot;
}

function onPresence({ onPresence: p }) {
  const user = state.users.get(p.userId) || { id: p.userId, username: nameOf(p.userId) };
  state.users.set(p.userId, { ...user, online: p.online, lastSeenAt: p.lastSeenAt });
  renderInbox();
  renderMembers();
}

// -------------------------------------------------------------------- inbox

let inboxRefresh = null;
function refreshInboxSoon() {
  clearTimeout(inboxRefresh);
  inboxRefresh = setTimeout(refreshInbox, 150);
}

// Refreshes can overlap; an answer older than one already shown is dropped.
let inboxAsked = 0;
let inboxShown = 0;
async function refreshInbox() {
  const asked = ++inboxAsked;
  const { inbox } = await run(Q.inbox);
  if (asked < inboxShown) return;
  inboxShown = asked;
  state.inbox = inbox.items;
  let added = false;
  for (const entry of state.inbox) {
    const c = entry.conversationId;
    added = listen(`inbox:${c}:changes`, S.changes, { c }, (data) => onChange(c, data)) || added;
    listen(`inbox:${c}:presence`, S.presence, { c }, onPresence);
    for (const id of entry.members) if (!state.users.has(id)) await userOf(id).catch(() => {});
  }
  renderInbox();
  // A conversation listened to only now (one just joined) may have changed
  // between this read and the server having the subscription: read again
  // once it has, as after a reconnect.
  if (added) resync();
}

/** On a phone the inbox and the conversation each take the screen: this
 * says which. Wider screens show both, whatever it says. */
function showRoom(open) {
  $('app').classList.toggle('in-room', open);
  if (!open) {
    $('inbox').querySelector('li.active .open-convo')?.focus();
  }
}

function otherMembers(members) {
  return members.filter((id) => id !== state.me.id);
}

function renderInbox() {
  const list = $('inbox');
  const unread = state.inbox.reduce((n, e) => n + (e.unreadCount || 0), 0);
  document.title = unread ? `(${unread > 99 ? '99+' : unread}) Chat` : 'Chat';
  // A refresh keeps the keyboard's place in the list.
  const focused = document.activeElement?.closest?.('#inbox li')?.dataset.conversation;
  list.replaceChildren(...state.inbox.map((entry) => {
    const li = document.createElement('li');
    li.dataset.conversation = entry.conversationId;
    // A row is a button: reachable by Tab, opened by Enter or Space.
    const open = document.createElement('button');
    open.type = 'button';
    open.className = 'open-convo';
    if (state.open?.id === entry.conversationId) {
      li.className = 'active';
      open.setAttribute('aria-current', 'true');
    }
    li.append(open);
    const others = otherMembers(entry.members);
    open.append(avatar(others[0] || state.me.id, others.length === 1));
    const summary = document.createElement('div');
    summary.className = 'summary';
    const title = document.createElement('div');
    title.className = 'title';
    const name = document.createElement('span');
    name.textContent = entry.name;
    title.append(name);
    if (entry.notifications && entry.notifications !== 'ALL') {
      const muted = document.createElement('span');
      muted.className = 'muted-icon';
      muted.textContent = entry.notifications === 'NONE' ? '🔕' : '@';
      muted.title = entry.notifications === 'NONE' ? 'Muted' : 'Mentions only';
      muted.setAttribute('aria-label', muted.title);
      title.append(muted);
    }
    if (entry.unreadCount > 0) {
      const badge = document.createElement('span');
      badge.className = 'badge';
      badge.dataset.unread = entry.conversationId;
      badge.textContent = entry.moreUnread ? '99+' : String(entry.unreadCount);
      const words = document.createElement('span');
      words.className = 'visually-hidden';
      words.textContent = 'unread';
      title.append(badge, words);
    }
    const last = document.createElement('div');
    last.className = 'last';
    const m = entry.lastMessage;
    last.textContent = !m ? 'No messages yet' : m.deletedAt ? (m.removedByModerator ? 'Removed by a moderator' : 'Message deleted') : `${m.authorId === state.me.id ? 'You' : nameOf(m.authorId)}: ${m.content || filesSummary(m.attachments)}`;
    summary.append(title, last);
    open.append(summary);
    open.onclick = () => openConversation(entry.conversationId);
    return li;
  }));
  if (focused) list.querySelector(`li[data-conversation="${CSS.escape(focused)}"] .open-convo`)?.focus();
}

// ---------------------------------------------------------- new conversation

function showNewConversation() {
  renderPeople();
  $('new-convo-form').hidden = false;
  $('new-convo').hidden = true;
  $('new-convo-name').focus();
  // Whoever signed up since the last listing shows up once it is read.
  refreshUsers().then(() => { if (!$('new-convo-form').hidden) renderPeople(); }, (err) => console.warn(err));
}

/** The people picker, keeping what is already ticked. */
function renderPeople() {
  const people = $('new-convo-people');
  const search = $('people-search').value.trim().toLowerCase();
  const others = [...state.users.values()]
    .filter((u) => u.id !== state.me.id)
    .sort((a, b) => a.username.localeCompare(b.username));
  const shown = others.filter((u) => !search || u.username.toLowerCase().includes(search) || state.picked.has(u.id));
  people.replaceChildren(...shown.map((u) => {
    const label = document.createElement('label');
    const box = document.createElement('input');
    box.type = 'checkbox';
    box.value = u.id;
    box.checked = state.picked.has(u.id);
    box.dataset.username = u.username;
    box.onchange = () => (box.checked ? state.picked.add(u.id) : state.picked.delete(u.id));
    label.append(box, document.createTextNode(u.username));
    return label;
  }));
  if (!others.length) people.textContent = 'No one else has signed in yet.';
  else if (!shown.length) people.textContent = `No one called “${search}”.`;
}

async function startConversation(event) {
  event.preventDefault();
  const members = [...state.picked];
  $('new-convo-error').textContent = '';
  let createConvo;
  try {
    ({ createConvo } = await mutate(Q.createConvo, { n: $('new-convo-name').value.trim(), m: members }));
  } catch (err) {
    $('new-convo-error').textContent = `Not started: ${err.message}`;
    return;
  }
  $('new-convo-form').hidden = true;
  $('new-convo').hidden = false;
  $('new-convo-form').reset();
  state.picked.clear();
  await refreshInbox();
  await openConversation(createConvo.id);
}

// ------------------------------------------------------------- conversation

/** Places a message by the server's order key; a pending one goes last. */
function ordered(messages) {
  return [...messages.values()].sort((a, b) => {
    if (!a.seq || !b.seq) return a.seq ? -1 : b.seq ? 1 : 0;
    return a.seq < b.seq ? -1 : a.seq > b.seq ? 1 : 0;
  });
}

async function openConversation(id) {
  showRoom(true);
  // With a keyboard (not a phone's, which would cover half the screen),
  // the composer is where one goes next.
  if (matchMedia('(pointer: fine)').matches) $('message-input').focus();
  if (state.open?.id === id) return;
  stopListening('room:');
  const entry = state.inbox.find((e) => e.conversationId === id);
  const room = {
    id, name: '', members: [], messages: new Map(), nextToken: null, loadingOlder: false,
    cursor: null, typing: new Map(), markers: new Map(), historyDone: false,
    // The message I had read up to, for the "New messages" line.
    markerAfter: entry?.unreadCount > 0 ? entry.lastReadMessageId : null,
    editing: null, actionsFor: null, confirmDelete: null,
  };
  state.open = room;
  state.tray = [];
  renderTray();
  closeMentions();
  $('room-notify').value = state.inbox.find((e) => e.conversationId === id)?.notifications || 'ALL';
  $('empty').hidden = true;
  $('room').hidden = false;
  renderInbox();
  // Typing and receipts are live only: listened to at once.
  listen(`room:${id}:typing`, S.typing, { c: id }, ({ onTyping }) => onTyping && showTyping(room, onTyping));
  listen(`room:${id}:read`, S.read, { c: id }, ({ onReadMarker }) => {
    room.markers.set(onReadMarker.userId, onReadMarker.seq);
    renderMessages(room);
  });
  // The catch-up recipe: the cursor first, then the history, then live.
  const { messageChanges } = await run(Q.changes, { c: id, a: null });
  room.cursor = messageChanges.cursor;
  await loadOlder(room, true);
  markRead(room);
}

async function loadOlder(room, first = false) {
  if (room.loadingOlder || (!first && !room.nextToken)) return;
  room.loadingOlder = true;
  const list = $('messages');
  const fromBottom = list.scrollHeight - list.scrollTop;
  try {
    const { getConvo } = await run(Q.history, { c: room.id, t: first ? null : room.nextToken });
    if (state.open !== room || !getConvo) return;
    room.name = getConvo.name;
    room.members = getConvo.members;
    for (const id of room.members) if (!state.users.has(id)) await userOf(id).catch(() => {});
    for (const m of getConvo.messages.items) upsert(room, m);
    room.nextToken = getConvo.messages.nextToken;
    room.historyDone = !room.nextToken;
    $('room-name').textContent = room.name;
    renderMembers();
    renderMessages(room);
    list.scrollTop = first ? list.scrollHeight : list.scrollHeight - fromBottom;
  } finally {
    room.loadingOlder = false;
  }
}

/** Applies a message state: the higher version wins. */
function upsert(room, message) {
  // The server leaves out whom I block; this also covers the moment after
  // a block, before the server's index has it.
  if (state.blocked.has(message.authorId)) return false;
  const known = room.messages.get(message.id);
  if (known && !known.pending && !known.failed && known.version >= message.version) return false;
  room.messages.set(message.id, message);
  return true;
}

function onChange(conversationId, { onMessageChange: change }) {
  const room = state.open;
  if (room?.id === conversationId) {
    if (upsert(room, change.message)) {
      // A message ends its author's typing at once.
      if (change.kind === 'CREATED') room.typing.delete(change.message.authorId);
      if (change.kind === 'CREATED' && change.message.authorId !== state.me.id) announce(change.message);
      if (change.message.deletedAt && $('announcer').dataset.message === change.message.id) $('announcer').textContent = '';
      renderTyping(room);
      stickToBottom(() => renderMessages(room));
      if (change.message.authorId !== state.me.id) markRead(room);
    }
  }
  refreshInboxSoon();
}

async function catchUp(room) {
  let after = room.cursor;
  for (;;) {
    const { messageChanges: page } = await run(Q.changes, { c: room.id, a: after });
    for (const item of page.items) upsert(room, item.message);
    room.cursor = page.cursor;
    if (!page.nextToken) break;
    after = page.nextToken;
  }
  if (state.open === room) {
    stickToBottom(() => renderMessages(room));
    markRead(room);
  }
}

function stickToBottom(render) {
  const list = $('messages');
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
  render();
  if (atBottom) list.scrollTop = list.scrollHeight;
}

async function markRead(room) {
  if (document.visibilityState === 'hidden') return;
  const latest = ordered(room.messages).filter((m) => m.seq && m.authorId !== state.me.id).pop();
  if (!latest || room.readSeq >= latest.seq) return;
  room.readSeq = latest.seq;
  await mutate(Q.markRead, { c: room.id, m: latest.id }).catch(() => { room.readSeq = null; });
  refreshInboxSoon();
}

function renderMembers() {
  const room = state.open;
  if (!room) return;
  $('room-members').replaceChildren(...room.members.map((id) => {
    const span = document.createElement('span');
    span.className = 'member';
    const user = state.users.get(id);
    const online = id === state.me.id ? state.connection === 'connected' : user?.online;
    const dot = presenceDot(id, 'presence-dot', online);
    dot.title = online ? 'online' : user?.lastSeenAt ? `last seen ${new Date(user.lastSeenAt).toLocaleString()}` : 'offline';
    if (id === state.me.id) {
      span.append(dot, document.createTextNode(`${nameOf(id)} (you)`));
    } else {
      // Another member's name opens what can be done about them: a report.
      const name = document.createElement('button');
      name.className = 'member-name';
      name.textContent = nameOf(id);
      name.title = `Report ${nameOf(id)}`;
      name.setAttribute('aria-haspopup', 'dialog');
      name.onclick = () => openReportUser(id);
      span.append(dot, name);
    }
    return span;
  }));
}

function renderMessages(room) {
  if (state.open !== room) return;
  const messages = ordered(room.messages);
  // Read receipts: my messages up to the furthest marker of anyone else.
  const seenUpTo = [...room.markers.entries()].filter(([u]) => u !== state.me.id).map(([, seq]) => seq).sort().pop();
  const lastSeenMine = messages.filter((m) => m.authorId === state.me.id && m.seq && seenUpTo && m.seq <= seenUpTo).pop();
  const items = [];
  let day = null;
  let marked = false;
  let afterMarker = room.markerAfter && messages.some((m) => m.id === room.markerAfter) ? false : null;
  if (room.historyDone) items.push(separator(room, 'history-end', 'Beginning of the conversation'));
  for (const m of messages) {
    // A day separator wherever the local date changes.
    const at = m.createdAt ? new Date(m.createdAt) : null;
    if (at && at.toDateString() !== day) {
      day = at.toDateString();
      items.push(separator(room, 'day', dayLabel(at)));
    }
    // "New messages": above the first message from someone else after the
    // one I had read when I opened the conversation.
    if (afterMarker && !marked && m.authorId !== state.me.id) {
      items.push(separator(room, 'new-marker', 'New messages'));
      marked = true;
    }
    if (afterMarker === false && m.id === room.markerAfter) afterMarker = true;
    items.push(messageNode(room, m, m === lastSeenMine));
  }
  reconcile($('messages'), items);
}

/** Puts `nodes` in `list` in order, touching only what moved: a node that
 * stays keeps its focus, its caret and any tap or click in progress. */
function reconcile(list, nodes) {
  let at = list.firstChild;
  for (const node of nodes) {
    if (node === at) {
      at = at.nextSibling;
      continue;
    }
    list.insertBefore(node, at);
  }
  while (at) {
    const next = at.nextSibling;
    at.remove();
    at = next;
  }
}

/** A message's element, made again only when what it shows has changed. */
function messageNode(room, m, seen) {
  const key = JSON.stringify([
    m.version, m.pending, m.failed, m.reason, m.deletedAt, m.editedAt, m.reactions, m.attachments,
    nameOf(m.authorId), seen, room.editing?.id === m.id && room.editing.error,
    room.actionsFor === m.id, room.confirmDelete === m.id,
  ]);
  room.nodes ??= new Map();
  const known = room.nodes.get(m.id);
  if (known?.key === key) return known.node;
  const node = messageItem(room, m, seen);
  room.nodes.set(m.id, { key, node });
  return node;
}

function separator(room, className, text) {
  room.nodes ??= new Map();
  const id = `${className}:${text}`;
  const known = room.nodes.get(id);
  if (known) return known.node;
  const li = document.createElement('li');
  li.className = className;
  li.textContent = text;
  room.nodes.set(id, { key: id, node: li });
  return li;
}

function dayLabel(at) {
  const today = new Date();
  const yesterday = new Date(today.getFullYear(), today.getMonth(), today.getDate() - 1);
  if (at.toDateString() === today.toDateString()) return 'Today';
  if (at.toDateString() === yesterday.toDateString()) return 'Yesterday';
  return at.toLocaleDateString(undefined, { weekday: 'long', day: 'numeric', month: 'long', year: at.getFullYear() === today.getFullYear() ? undefined : 'numeric' });
}

/** A new message from someone else, read out once. The list itself is not
 * a live region: a reaction, a receipt or a page of history would have it
 * read out again. */
function announce(m) {
  const el = $('announcer');
  el.textContent = `${nameOf(m.authorId)}: ${m.content || filesSummary(m.attachments)}`;
  el.dataset.message = m.id;
  // Said once; it does not stay in the page (nor outlive a delete).
  clearTimeout(announce.timer);
  announce.timer = setTimeout(() => { el.textContent = ''; }, 5000);
}

function messageItem(room, m, seen) {
  const mine = m.authorId === state.me.id;
  const li = document.createElement('li');
  li.className = 'message' + (mine ? ' mine' : '') + (m.deletedAt ? ' deleted' : '') + (m.pending ? ' pending' : '') + (m.failed ? ' failed' : '');
  li.dataset.id = m.id;
  if (!mine) {
    const author = document.createElement('div');
    author.className = 'author';
    author.textContent = nameOf(m.authorId);
    li.append(author);
  }
  const bubble = document.createElement('div');
  bubble.className = 'bubble';
  if (m.deletedAt) bubble.textContent = m.removedByModerator ? 'Removed by a moderator' : 'Message deleted';
  else if (m.content) bubble.append(...contentNodes(m));
  if (room.editing?.id === m.id && !m.deletedAt) li.append(editForm(room, m));
  else if (m.deletedAt || m.content) li.append(bubble);
  if (!m.deletedAt && m.attachments?.length) li.append(attachmentsOf(m));

  if (!m.deletedAt && m.reactions?.length) {
    const reactions = document.createElement('div');
    reactions.className = 'reactions';
    for (const r of m.reactions) {
      const b = document.createElement('button');
      b.className = 'reaction' + (r.reacted ? ' mine' : '');
      b.textContent = `${r.emoji} ${r.count}`;
      b.dataset.emoji = r.emoji;
      b.onclick = () => toggleReaction(room, m, r.emoji, r.reacted);
      reactions.append(b);
    }
    li.append(reactions);
  }

  const meta = document.createElement('div');
  meta.className = 'meta';
  const status = document.createElement('span');
  status.className = 'status';
  if (m.pending) status.textContent = 'sending…';
  else if (m.failed) status.textContent = m.reason ? `not sent: ${m.reason}` : 'not sent';
  else if (mine) status.textContent = seen ? '✓✓ seen' : '✓ sent';
  if (m.editedAt && !m.deletedAt) status.textContent += (status.textContent ? ' · ' : '') + 'edited';
  if (m.createdAt) {
    const time = document.createElement('time');
    time.dateTime = m.createdAt;
    time.title = new Date(m.createdAt).toLocaleString();
    time.textContent = new Date(m.createdAt).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
    meta.append(time);
  }
  meta.append(status);
  if (m.failed && m.refused) {
    const discard = document.createElement('button');
    discard.textContent = 'Remove';
    discard.className = 'retry';
    discard.onclick = () => { room.messages.delete(m.id); renderMessages(room); };
    meta.append(discard);
  } else if (m.failed) {
    const retry = document.createElement('button');
    retry.textContent = 'Retry';
    retry.className = 'retry';
    retry.onclick = () => sendMessage(room, m.content, m.id, m.files || []);
    meta.append(retry);
  }
  if (!m.pending && !m.failed && !m.deletedAt && room.editing?.id !== m.id) {
    // The actions open from a button, so a keyboard or a tap reaches them
    // as a mouse does by hovering.
    const more = document.createElement('button');
    more.type = 'button';
    more.className = 'more';
    more.textContent = '⋯';
    more.setAttribute('aria-label', 'Message actions');
    more.setAttribute('aria-expanded', String(room.actionsFor === m.id));
    more.onclick = () => {
      room.actionsFor = room.actionsFor === m.id ? null : m.id;
      renderMessages(room);
      $('messages').querySelector(`.message[data-id="${CSS.escape(m.id)}"] .more`)?.focus();
    };
    meta.append(more);
    if (room.actionsFor === m.id) li.classList.add('show-actions');
    const actions = document.createElement('span');
    actions.className = 'actions';
    for (const emoji of REACTIONS) {
      const b = document.createElement('button');
      b.textContent = emoji;
      b.title = `React ${emoji}`;
      b.setAttribute('aria-label', `React ${emoji}`);
      b.className = 'react';
      b.onclick = () => toggleReaction(room, m, emoji, m.reactions?.some((r) => r.emoji === emoji && r.reacted));
      actions.append(b);
    }
    if (mine) {
      const edit = document.createElement('button');
      edit.textContent = 'Edit';
      edit.className = 'edit';
      edit.onclick = () => startEdit(room, m);
      const del = document.createElement('button');
      del.textContent = room.confirmDelete === m.id ? 'Confirm delete' : 'Delete';
      del.className = 'delete';
      // Deleting cannot be undone: the first press asks, the second deletes.
      del.onclick = () => {
        if (room.confirmDelete !== m.id) {
          room.confirmDelete = m.id;
          room.actionsFor = m.id;
          renderMessages(room);
          $('messages').querySelector(`.message[data-id="${CSS.escape(m.id)}"] .delete`)?.focus();
          return;
        }
        room.confirmDelete = null;
        deleteMessage(room, m);
      };
      actions.append(edit, del);
    } else {
      const report = document.createElement('button');
      report.textContent = 'Report';
      report.className = 'report-message';
      report.title = 'Report this message to the moderators';
      report.onclick = () => openReport(room, m);
      const block = document.createElement('button');
      block.textContent = 'Block';
      block.className = 'block-user';
      block.title = `Block ${nameOf(m.authorId)}: you will not see their messages`;
      block.onclick = () => blockUser(m.authorId);
      actions.append(report, block);
    }
    meta.append(actions);
  }
  li.append(meta);
  return li;
}

/** A message's files: thumbnails that open the full photo, file cards, and
 * what is still processing or failed (with the reason). */
function attachmentsOf(m) {
  const box = document.createElement('div');
  box.className = 'files';
  for (const a of m.attachments) {
    if (a.state === 'READY' && a.thumbnailUrl) {
      const open = document.createElement('button');
      open.className = 'thumb';
      open.title = `Open ${a.name}`;
      const img = document.createElement('img');
      img.src = a.thumbnailUrl;
      img.alt = a.name;
      if (a.width && a.height) img.style.aspectRatio = `${a.width} / ${a.height}`;
      open.append(img);
      open.onclick = () => showPhoto(a);
      box.append(open);
    } else if (a.state === 'READY') {
      const card = document.createElement('a');
      card.className = 'file-card';
      card.href = a.url;
      card.download = a.name;
      card.textContent = `📄 ${a.name} · ${sizeOf(a.size)}`;
      box.append(card);
    } else {
      const note = document.createElement('div');
      note.className = a.state === 'FAILED' ? 'file-card file-failed' : 'file-card file-pending';
      note.textContent = a.state !== 'FAILED' ? `Processing ${a.name}…` : a.error ? `⚠ ${a.name}: ${a.error}` : `⚠ ${a.name}`;
      box.append(note);
    }
  }
  return box;
}

/** What a message of files only carries, as the push says it. */
function filesSummary(files = []) {
  const photos = files.every((f) => f.contentType?.startsWith('image/'));
  const n = files.length;
  return photos ? (n === 1 ? 'Photo' : `${n} photos`) : (n === 1 ? 'File' : `${n} files`);
}

function sizeOf(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${Math.round(bytes / 1024)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

function showPhoto(a) {
  $('viewer-img').src = a.url;
  $('viewer-img').alt = a.name;
  $('viewer').showModal();
}

// ------------------------------------------------------------- attachments

/** Files chosen, dropped or pasted: each checked, then sent to the bucket. */
function addFiles(files) {
  if (!state.open) return;
  for (const file of files) {
    if (state.tray.length >= MAX_ATTACHMENTS) break;
    const item = { key: crypto.randomUUID(), file, name: file.name || 'pasted image', status: 'uploading', progress: 0 };
    state.tray.push(item);
    if (!FILE_TYPES.includes(file.type)) fail(item, `${file.type || 'this type'} cannot be sent; photos (JPEG, PNG, WebP, GIF, HEIC) and PDFs can`);
    else if (file.size > MAX_UPLOAD_BYTES) fail(item, `${sizeOf(file.size)} is over the 25 MB limit`);
    else if (file.size === 0) fail(item, 'the file is empty');
    else upload(item);
  }
  renderTray();
}

function fail(item, why) {
  item.status = 'failed';
  item.error = why;
}

async function upload(item) {
  Object.assign(item, { status: 'uploading', progress: 0, error: null });
  renderTray();
  try {
    const { createUpload: ticket } = await mutate(Q.createUpload, {
      i: { conversationId: state.open.id, contentType: item.file.type, size: item.file.size, name: item.name },
    });
    await putFile(ticket, item.file, (p) => { item.progress = p; renderTray(); });
    Object.assign(item, { status: 'ready', id: ticket.id, progress: 1 });
  } catch (err) {
    fail(item, err.message);
  }
  renderTray();
}

/** The bytes straight to the bucket, with the signed headers as given (the
 * browser sets Content-Length from the body itself). */
function putFile(ticket, file, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(ticket.method, ticket.url);
    for (const h of ticket.headers) {
      if (!['content-length', 'host'].includes(h.name.toLowerCase())) xhr.setRequestHeader(h.name, h.value);
    }
    xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded / e.total);
    xhr.onload = () => (xhr.status < 300 ? resolve() : reject(new Error(`the storage refused the file (HTTP ${xhr.status})`)));
    xhr.onerror = () => reject(new Error('the upload failed: no connection'));
    xhr.send(file);
  });
}

function renderTray() {
  const tray = $('tray');
  tray.hidden = state.tray.length === 0;
  tray.replaceChildren(...state.tray.map((item) => {
    const li = document.createElement('li');
    li.className = `tray-item ${item.status}`;
    const name = document.createElement('span');
    name.className = 'tray-name';
    name.textContent = item.name;
    li.append(name);
    if (item.status === 'uploading') {
      const bar = document.createElement('progress');
      bar.max = 1;
      bar.value = item.progress;
      bar.setAttribute('aria-label', `Uploading ${item.name}`);
      li.append(bar);
    } else if (item.status === 'failed') {
      const why = document.createElement('span');
      why.className = 'error';
      why.textContent = item.error;
      li.append(why);
      if (FILE_TYPES.includes(item.file.type) && item.file.size <= MAX_UPLOAD_BYTES && item.file.size > 0) {
        const retry = document.createElement('button');
        retry.type = 'button';
        retry.textContent = 'Retry';
        retry.onclick = () => upload(item);
        li.append(retry);
      }
    } else {
      const done = document.createElement('span');
      done.className = 'muted';
      done.textContent = 'ready';
      li.append(done);
    }
    const remove = document.createElement('button');
    remove.type = 'button';
    remove.textContent = 'Remove';
    remove.setAttribute('aria-label', `Remove ${item.name}`);
    remove.onclick = () => { state.tray = state.tray.filter((i) => i !== item); renderTray(); };
    li.append(remove);
    return li;
  }));
}

/**
 * A message's text, its mentions (the members the server resolved) shown
 * as such; any other `@name` stays plain text.
 */
function contentNodes(m) {
  const mentioned = new Set((m.mentions || []).map((id) => state.users.get(id)?.username?.toLowerCase()).filter(Boolean));
  if (!mentioned.size) return [document.createTextNode(m.content)];
  const nodes = [];
  let last = 0;
  for (const match of m.content.matchAll(/(^|[^\p{L}\p{N}_.+\-@])@([\p{L}\p{N}_.+\-]+)/gu)) {
    const name = match[2].replace(/[.\-]+$/, '');
    if (!mentioned.has(name.toLowerCase())) continue;
    const start = match.index + match[1].length;
    nodes.push(document.createTextNode(m.content.slice(last, start)));
    const span = document.createElement('span');
    span.className = 'mention' + (name.toLowerCase() === state.me.username.toLowerCase() ? ' mention-me' : '');
    span.textContent = `@${name}`;
    nodes.push(span);
    last = start + 1 + name.length;
  }
  nodes.push(document.createTextNode(m.content.slice(last)));
  return nodes;
}

// ------------------------------------------------------- @ autocomplete

const mention = { open: false, items: [], index: 0, start: 0 };

/** The `@prefix` being typed just before the caret, if any. */
function mentionQuery() {
  const input = $('message-input');
  const upto = input.value.slice(0, input.selectionStart);
  const found = /(^|[\s(])@([\p{L}\p{N}_.+\-]*)$/u.exec(upto);
  return found ? { start: upto.length - found[2].length - 1, prefix: found[2].toLowerCase() } : null;
}

function updateMentions() {
  const room = state.open;
  const query = room && mentionQuery();
  if (!query) return closeMentions();
  const items = room.members
    .filter((id) => id !== state.me.id)
    .map((id) => state.users.get(id))
    .filter((u) => u && u.username.toLowerCase().startsWith(query.prefix))
    .slice(0, 8);
  if (!items.length) return closeMentions();
  Object.assign(mention, { open: true, items, start: query.start, index: Math.min(mention.index, items.length - 1) });
  renderMentions();
}

function renderMentions() {
  const input = $('message-input');
  $('mention-list').replaceChildren(...mention.items.map((u, i) => {
    const li = document.createElement('li');
    li.id = `mention-${u.id}`;
    li.setAttribute('role', 'option');
    li.setAttribute('aria-selected', String(i === mention.index));
    li.textContent = `@${u.username}`;
    // mousedown, not click: the input keeps its focus and caret.
    li.onmousedown = (e) => { e.preventDefault(); chooseMention(i); };
    return li;
  }));
  $('mention-list').hidden = false;
  input.setAttribute('aria-expanded', 'true');
  input.setAttribute('aria-activedescendant', `mention-${mention.items[mention.index].id}`);
}

function closeMentions() {
  Object.assign(mention, { open: false, items: [], index: 0 });
  $('mention-list').hidden = true;
  $('message-input').setAttribute('aria-expanded', 'false');
  $('message-input').removeAttribute('aria-activedescendant');
}

function chooseMention(i) {
  const input = $('message-input');
  const user = mention.items[i];
  const before = input.value.slice(0, mention.start);
  const after = input.value.slice(input.selectionStart);
  input.value = `${before}@${user.username} ${after}`;
  const caret = before.length + user.username.length + 2;
  input.setSelectionRange(caret, caret);
  closeMentions();
}

/** Why a message cannot be sent as it is, before it is sent. */
function tooLong(content) {
  const n = [...content].length;
  return n > MAX_MESSAGE_CHARS
    ? `A message is at most ${MAX_MESSAGE_CHARS.toLocaleString()} characters; this one has ${n.toLocaleString()}.`
    : '';
}

/** The composer grows with its text, and counts down near the limit. */
function onComposerInput() {
  const input = $('message-input');
  input.rows = Math.min(6, Math.max(1, input.value.split('\n').length));
  const n = [...input.value].length;
  const count = $('composer-count');
  count.hidden = n < MAX_MESSAGE_CHARS - 400;
  count.textContent = `${n.toLocaleString()} / ${MAX_MESSAGE_CHARS.toLocaleString()}`;
  count.classList.toggle('over', n > MAX_MESSAGE_CHARS);
  $('composer-error').textContent = '';
}

function onComposerKey(e) {
  if (!mention.open) {
    // Enter sends; Shift+Enter is a new line.
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      $('composer').requestSubmit();
    }
    return;
  }
  const n = mention.items.length;
  if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
    e.preventDefault();
    mention.index = (mention.index + (e.key === 'ArrowDown' ? 1 : n - 1)) % n;
    renderMentions();
  } else if (e.key === 'Enter' || e.key === 'Tab') {
    e.preventDefault();
    chooseMention(mention.index);
  } else if (e.key === 'Escape') {
    e.preventDefault();
    closeMentions();
  }
}

// ------------------------------------------------------------ notifications

async function setRoomLevel() {
  const room = state.open;
  if (!room) return;
  const level = $('room-notify').value;
  await mutate(Q.setLevel, { c: room.id, l: level });
  const entry = state.inbox.find((e) => e.conversationId === room.id);
  if (entry) entry.notifications = level;
  renderInbox();
}

async function toggleNotifySettings() {
  const form = $('notify-settings');
  if (!form.hidden) {
    form.hidden = true;
    $('notify-open').setAttribute('aria-expanded', 'false');
    return;
  }
  // Filled in before it shows: never a moment of wrong settings.
  const { pushSettings: p } = await run(Q.pushSettings);
  const until = p.dndUntil && Date.parse(p.dndUntil) > Date.now() ? p.dndUntil : null;
  $('dnd').value = until ? (Date.parse(until) - Date.now() <= 3_600_000 ? '1h' : 'tomorrow') : '';
  $('hide-content').checked = p.hideContent;
  $('mentions-through').checked = p.mentions;
  const here = p.devices.some((d) => d.platform === 'WEB_PUSH' && d.token === localStorage.getItem('pushEndpoint'));
  $('web-push-status').textContent = here ? 'This browser gets notifications.' : '';
  form.hidden = false;
  $('notify-open').setAttribute('aria-expanded', 'true');
  $('dnd').focus();
}

function dndUntil(choice) {
  if (choice === '1h') return new Date(Date.now() + 3_600_000).toISOString();
  if (choice === 'tomorrow') {
    const t = new Date();
    t.setDate(t.getDate() + 1);
    t.setHours(8, 0, 0, 0);
    return t.toISOString();
  }
  return null;
}

async function saveNotifySettings() {
  await mutate(Q.updatePush, { i: {
    dndUntil: dndUntil($('dnd').value),
    hideContent: $('hide-content').checked,
    mentions: $('mentions-through').checked,
  } });
}

/** Web Push through a service worker, where the browser allows it. */
async function enableWebPush() {
  const status = $('web-push-status');
  const key = state.config.vapidPublicKey;
  if (!('serviceWorker' in navigator) || !('PushManager' in window) || !key) {
    status.textContent = 'This browser (or this stack) has no Web Push.';
    return;
  }
  try {
    if ((await Notification.requestPermission()) !== 'granted') {
      status.textContent = 'Notifications are blocked for this site.';
      return;
    }
    const registration = await navigator.serviceWorker.register('sw.js');
    const raw = atob(key.replace(/-/g, '+').replace(/_/g, '/'));
    const subscription = await registration.pushManager.subscribe({
      userVisibleOnly: true,
      applicationServerKey: Uint8Array.from(raw, (c) => c.charCodeAt(0)),
    });
    const { endpoint, keys } = subscription.toJSON();
    await mutate(Q.registerDevice, { i: { platform: 'WEB_PUSH', endpoint, p256dh: keys.p256dh, auth: keys.auth } });
    localStorage.setItem('pushEndpoint', endpoint);
    status.textContent = 'This browser gets notifications.';
  } catch (err) {
    status.textContent = `Web Push is not available here: ${err.message}`;
  }
}

async function sendMessage(room, content, id = crypto.randomUUID(), files = []) {
  // Optimistic: shown at once as pending; a retry sends the same id, so
  // the server stores and pushes it once however many tries it takes.
  const attachments = files.map((f) => ({ id: f.id, name: f.name, state: 'PENDING' }));
  room.messages.set(id, { id, authorId: state.me.id, content, pending: true, version: 0, reactions: [], attachments, files });
  stickToBottom(() => renderMessages(room));
  $('messages').scrollTop = $('messages').scrollHeight;
  try {
    const { createMessage } = await mutate(Q.send, { id, c: room.id, content, a: files.length ? files.map((f) => f.id) : null });
    room.messages.delete(id);
    upsert(room, createMessage);
  } catch (err) {
    console.warn('send failed', err.message);
    // A refusal (bad input) says why and cannot be fixed by sending again;
    // anything else (the network, the server) can.
    const refused = ['ValidationError', 'Conflict', 'Unauthorized', 'LimitExceeded'].includes(err.type);
    const failedFiles = attachments.map((a) => ({ ...a, state: 'FAILED', error: refused ? null : 'not sent yet' }));
    room.messages.set(id, { id, authorId: state.me.id, content, failed: true, reason: err.message, refused, version: 0, reactions: [], attachments: failedFiles, files });
  }
  room.lastTyping = 0;
  renderMessages(room);
}

function startEdit(room, m) {
  room.editing = { id: m.id, draft: m.content, error: '' };
  room.actionsFor = null;
  renderMessages(room);
  const input = $('messages').querySelector('.edit-input');
  input?.focus();
  input?.setSelectionRange(input.value.length, input.value.length);
}

function stopEdit(room) {
  const id = room.editing?.id;
  room.editing = null;
  renderMessages(room);
  $('messages').querySelector(`.message[data-id="${CSS.escape(id)}"] .more`)?.focus();
}

/** An edit in progress: its draft lives on the room, so messages arriving
 * meanwhile (which redraw the list) do not throw it away. */
function editForm(room, m) {
  const form = document.createElement('form');
  form.className = 'edit-box';
  const input = document.createElement('textarea');
  input.rows = 2;
  input.value = room.editing.draft;
  input.className = 'edit-input';
  input.setAttribute('aria-label', 'Edit message');
  input.oninput = () => { room.editing.draft = input.value; };
  input.onkeydown = (e) => {
    if (e.key === 'Escape') { e.preventDefault(); stopEdit(room); }
    else if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); form.requestSubmit(); }
  };
  const save = document.createElement('button');
  save.textContent = 'Save';
  save.className = 'primary';
  const cancel = document.createElement('button');
  cancel.type = 'button';
  cancel.textContent = 'Cancel';
  cancel.className = 'cancel-edit';
  cancel.onclick = () => stopEdit(room);
  const error = document.createElement('p');
  error.className = 'error';
  error.setAttribute('role', 'alert');
  error.textContent = room.editing.error;
  form.append(input, save, cancel, error);
  form.onsubmit = async (e) => {
    e.preventDefault();
    const content = input.value.trim();
    const problem = tooLong(content);
    if (problem) {
      room.editing.error = problem;
      renderMessages(room);
      $('messages').querySelector('.edit-input')?.focus();
      return;
    }
    try {
      const { updateMessage } = await mutate(Q.edit, { id: m.id, c: room.id, content });
      upsert(room, updateMessage);
      stopEdit(room);
    } catch (err) {
      if (room.editing?.id !== m.id) return;
      room.editing.error = `Not saved: ${err.message}`;
      renderMessages(room);
      $('messages').querySelector('.edit-input')?.focus();
    }
  };
  return form;
}

async function deleteMessage(room, m) {
  try {
    const { deleteMessage: tombstone } = await mutate(Q.remove, { id: m.id, c: room.id });
    upsert(room, tombstone);
  } catch (err) {
    notice(`Could not delete the message: ${err.message}`);
  }
  renderMessages(room);
}

// ------------------------------------------------------------------- safety

/** A short message at the bottom of the screen, read out by screen readers. */
function notice(text) {
  const el = $('notice');
  el.textContent = text;
  el.hidden = false;
  clearTimeout(notice.timer);
  notice.timer = setTimeout(() => { el.hidden = true; }, 4000);
}

function openReport(room, m) {
  showReport({ kind: 'message', conversation: room.id, message: m.id }, 'Report this message', m.content || filesSummary(m.attachments));
}

function openReportUser(userId) {
  showReport({ kind: 'user', user: userId }, `Report ${nameOf(userId)}`, nameOf(userId));
}

function showReport(target, title, quote) {
  const dialog = $('report-dialog');
  $('report-form').reset();
  $('report-error').textContent = '';
  $('report-title').textContent = title;
  $('report-quote').textContent = quote;
  for (const key of ['conversation', 'message', 'user']) delete dialog.dataset[key];
  Object.assign(dialog.dataset, target);
  // A user's dialog also blocks or unblocks them.
  const block = $('report-block');
  block.hidden = target.kind !== 'user';
  if (target.kind === 'user') {
    block.textContent = `${state.blocked.has(target.user) ? 'Unblock' : 'Block'} ${nameOf(target.user)}`;
  }
  dialog.showModal();
  $('report-reason').focus();
}

async function sendReport(e) {
  e.preventDefault();
  const dialog = $('report-dialog');
  const why = { reason: $('report-reason').value, note: $('report-note').value.trim() || null };
  try {
    if (dialog.dataset.kind === 'user') {
      await mutate(Q.reportUser, { i: { userId: dialog.dataset.user, ...why } });
    } else {
      await mutate(Q.reportMessage, {
        i: { messageConversationId: dialog.dataset.conversation, messageId: dialog.dataset.message, ...why },
      });
    }
    dialog.close();
    notice('Reported. Thank you: the moderators will review it.');
  } catch (err) {
    $('report-error').textContent = err.message;
  }
}

async function loadBlocked() {
  const { blockedUsers } = await run(Q.blocked);
  state.blocked = new Set(blockedUsers.map((b) => b.userId));
}

/** Blocks a user: their messages leave this page now, and the server
 * leaves them out of every read and push from here on. They are not told. */
async function blockUser(userId) {
  try {
    await mutate(Q.block, { u: userId });
  } catch (err) {
    notice(`Could not block ${nameOf(userId)}: ${err.message}`);
    return;
  }
  state.blocked.add(userId);
  const room = state.open;
  if (room) {
    for (const [id, m] of room.messages) if (m.authorId === userId) room.messages.delete(id);
    renderMessages(room);
  }
  refreshInboxSoon();
  notice(`You blocked ${nameOf(userId)}. You will not see their messages; they are not told.`);
}

async function unblockUser(userId) {
  try {
    await mutate(Q.unblock, { u: userId });
  } catch (err) {
    notice(`Could not unblock ${nameOf(userId)}: ${err.message}`);
    return;
  }
  state.blocked.delete(userId);
  const room = state.open;
  if (room) {
    // Their messages come back with the history, read again.
    room.messages.clear();
    room.nextToken = null;
    await loadOlder(room, true);
  }
  refreshInboxSoon();
  notice(`You unblocked ${nameOf(userId)}.`);
}

function toggleBlockFromDialog() {
  const dialog = $('report-dialog');
  const userId = dialog.dataset.user;
  dialog.close();
  return state.blocked.has(userId) ? unblockUser(userId) : blockUser(userId);
}

/** A suspended or banned account: the server refuses everything, so the
 * app says why and stops trying. */
function barred(info) {
  if (!$('barred').hidden) return;
  ws?.dispose();
  const until = info.suspendedUntil ? new Date(info.suspendedUntil).toLocaleString() : null;
  $('barred-text').textContent = info.banned || !until
    ? 'Your account has been banned by a moderator.'
    : `Your account is suspended until ${until}.`;
  $('barred').hidden = false;
  $('app').inert = true;
}

const isModerator = () => {
  try {
    return (claimsOf(state.token)['cognito:groups'] || []).includes('moderators');
  } catch {
    return false;
  }
};

const REASONS = Object.fromEntries([...document.querySelectorAll('#report-reason option')].map((o) => [o.value, o.textContent]));

async function openModeration() {
  $('moderation').showModal();
  await renderReports();
}

async function renderReports() {
  $('moderation-error').textContent = '';
  let reports;
  try {
    ({ openReports: { items: reports } } = await run(Q.openReports));
  } catch (err) {
    $('moderation-error').textContent = err.message;
    return;
  }
  await Promise.all([...new Set(reports.map((r) => r.userId))].map(userOf));
  $('reports').replaceChildren(...reports.map((r) => {
    const li = document.createElement('li');
    li.className = 'report';
    li.dataset.report = r.id;
    const head = document.createElement('div');
    head.className = 'report-head';
    head.textContent = `${r.kind === 'MESSAGE' ? 'A message by' : 'The user'} ${nameOf(r.userId)} · ${r.reporters} report${r.reporters === 1 ? '' : 's'}`;
    const quote = document.createElement('blockquote');
    quote.className = 'quote';
    quote.textContent = r.entries[0]?.snapshot.content || '(no text)';
    const why = document.createElement('div');
    why.className = 'muted';
    why.textContent = r.entries.map((e) => REASONS[e.reason] + (e.note ? `: “${e.note}”` : '')).join(' · ');
    const row = document.createElement('div');
    row.className = 'row';
    const dismiss = document.createElement('button');
    dismiss.textContent = 'Dismiss';
    dismiss.onclick = () => act(() => mutate(Q.dismissReport, { r: r.id }), 'Report dismissed');
    row.append(dismiss);
    if (r.kind === 'MESSAGE') {
      const remove = document.createElement('button');
      remove.textContent = 'Remove message';
      remove.className = 'danger';
      remove.onclick = () => act(
        () => mutate(Q.removeMessage, { c: r.conversationId, m: r.messageId, r: r.id }),
        'Message removed',
      );
      row.append(remove);
    }
    // Acting on the person: each closes this report as actioned.
    const suspend = document.createElement('button');
    suspend.textContent = 'Suspend for a day';
    suspend.className = 'suspend';
    suspend.onclick = () => act(
      () => mutate(Q.suspend, { i: { userId: r.userId, hours: 24, reportId: r.id } }),
      `${nameOf(r.userId)} is suspended for a day`,
    );
    // A ban has no end: the first press asks, the second bans.
    const ban = document.createElement('button');
    ban.textContent = `Ban ${nameOf(r.userId)}`;
    ban.className = 'ban danger';
    ban.onclick = () => {
      if (!ban.dataset.armed) {
        ban.dataset.armed = 'true';
        ban.textContent = `Confirm: ban ${nameOf(r.userId)}`;
        return;
      }
      act(() => mutate(Q.ban, { i: { userId: r.userId, reportId: r.id } }), `${nameOf(r.userId)} is banned`);
    };
    row.append(suspend, ban);
    li.append(head, quote, why, row);
    return li;
  }));
}

async function act(action, done) {
  try {
    await action();
    notice(done);
  } catch (err) {
    $('moderation-error').textContent = err.message;
  }
  await renderReports();
}

async function toggleReaction(room, m, emoji, reacted) {
  try {
    const data = await mutate(reacted ? Q.unreact : Q.react, { c: room.id, m: m.id, e: emoji });
    upsert(room, data.addReaction || data.removeReaction);
  } catch (err) {
    notice(`Could not ${reacted ? 'remove the reaction' : 'react'}: ${err.message}`);
  }
  renderMessages(room);
}

// ------------------------------------------------------------------- typing

function onInput() {
  const room = state.open;
  if (!room || !$('message-input').value) return;
  const now = Date.now();
  if (now - (room.lastTyping || 0) < TYPING_EVERY_MS) return;
  room.lastTyping = now;
  mutate(Q.typing, { c: room.id }).catch(() => {});
}

function showTyping(room, t) {
  if (state.blocked.has(t.userId)) return;
  room.typing.set(t.userId, Date.parse(t.expiresAt));
  renderTyping(room);
  setTimeout(() => renderTyping(room), Date.parse(t.expiresAt) - Date.now() + 50);
}

function renderTyping(room) {
  if (state.open !== room) return;
  const now = Date.now();
  for (const [user, until] of room.typing) if (until <= now) room.typing.delete(user);
  const names = [...room.typing.keys()].map(nameOf);
  $('typing').textContent = !names.length ? '' : names.length === 1 ? `${names[0]} is typing…` : `${names.join(' and ')} are typing…`;
}

// --------------------------------------------------------------------- boot

/** Forgets this tab's session: the token leaves sessionStorage and the
 * socket closes. On the Cognito path, Cognito's own session ends too. */
function signOut() {
  ws?.dispose();
  sessionStorage.clear();
  if (state.config.auth.kind === 'cognito') {
    const { domain, clientId } = state.config.auth;
    location.assign(`${domain}/logout?client_id=${encodeURIComponent(clientId)}&logout_uri=${encodeURIComponent(location.origin + location.pathname)}`);
    return;
  }
  location.reload();
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
  listen('links', S.links, { u: me.id }, () => refreshInboxSoon());
  await refreshUsers();
  await refreshInbox();
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
  $('new-convo').onclick = showNewConversation;
  $('new-convo-cancel').onclick = () => { $('new-convo-form').hidden = true; $('new-convo').hidden = false; };
  $('new-convo-form').onsubmit = startConversation;
  $('message-input').oninput = () => { onInput(); updateMentions(); onComposerInput(); };
  $('back').onclick = () => showRoom(false);
  $('people-search').oninput = renderPeople;
  $('sign-out').onclick = signOut;
  $('message-input').onkeydown = onComposerKey;
  $('message-input').onblur = closeMentions;
  $('room-notify').onchange = () => setRoomLevel().catch((err) => console.warn(err));
  $('notify-open').onclick = () => toggleNotifySettings().catch((err) => console.warn(err));
  for (const id of ['dnd', 'hide-content', 'mentions-through']) {
    $(id).onchange = () => saveNotifySettings().catch((err) => console.warn(err));
  }
  $('web-push').onclick = enableWebPush;
  $('report-form').onsubmit = sendReport;
  $('report-cancel').onclick = () => $('report-dialog').close();
  $('report-block').onclick = () => toggleBlockFromDialog().catch((err) => console.warn(err));
  // What was reported does not stay in the page once the dialog is done.
  $('report-dialog').onclose = () => { $('report-quote').textContent = ''; };
  $('moderation-open').onclick = () => openModeration().catch((err) => console.warn(err));
  $('composer').onsubmit = (e) => {
    e.preventDefault();
    const input = $('message-input');
    const content = input.value.trim();
    if (!state.open) return;
    if (state.tray.some((i) => i.status === 'uploading')) {
      $('tray').dataset.note = 'Waiting for the files to finish uploading';
      return;
    }
    if (state.tray.some((i) => i.status === 'failed')) return;
    const files = state.tray.filter((i) => i.status === 'ready').map((i) => ({ id: i.id, name: i.name }));
    if (!content && !files.length) return;
    const problem = tooLong(content);
    if (problem) {
      $('composer-error').textContent = problem;
      return;
    }
    input.value = '';
    onComposerInput();
    state.tray = [];
    renderTray();
    sendMessage(state.open, content, crypto.randomUUID(), files);
  };
  $('file-input').onchange = (e) => { addFiles([...e.target.files]); e.target.value = ''; };
  $('message-input').onpaste = (e) => {
    const files = [...(e.clipboardData?.files || [])];
    if (files.length) { e.preventDefault(); addFiles(files); }
  };
  const pane = $('conversation');
  pane.ondragover = (e) => { if (state.open && e.dataTransfer?.types?.includes('Files')) { e.preventDefault(); pane.classList.add('dropping'); } };
  pane.ondragleave = () => pane.classList.remove('dropping');
  pane.ondrop = (e) => {
    pane.classList.remove('dropping');
    if (!e.dataTransfer?.files?.length) return;
    e.preventDefault();
    addFiles([...e.dataTransfer.files]);
  };
  $('messages').onscroll = () => {
    if ($('messages').scrollTop < 40 && state.open) loadOlder(state.open);
  };
  document.addEventListener('visibilitychange', () => state.open && markRead(state.open));
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
window.chat = {
  state,
  dropConnection() {
    let open;
    networkGate = { promise: new Promise((r) => { open = r; }), open };
    // As a lost network would (1006 cannot be sent): a non-fatal close, retried.
    socket?.close(3000, 'network dropped');
  },
  restoreConnection() {
    networkGate?.open();
    networkGate = null;
  },
};

main().catch((err) => {
  console.error(err);
  $('signin').hidden = false;
  $('signin-error').textContent = err.message;
});

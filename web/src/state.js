// The app's state, and the events by which one feature tells the others it
// changed something. A feature module imports only those below it (state,
// the transport, users); a change that a feature above must show is an
// event, so the imports stay a tree (`web/test/imports.test.mjs` holds it).
//
// Events:
//   users        the users' names or presence changed: inbox, members
//   connection   the socket's state changed: members (my own dot)
//   reconnected  the socket is back: catch up on what was missed
//   barred       the account is suspended or banned (info): stop everything
//   opened       a conversation was opened (room): inbox, composer, settings
//   inbox        the inbox rows should be drawn again
//   inbox-stale  the inbox should be read again soon (debounced)
//   blocked      a user was blocked (id): their messages leave the room
//   unblocked    a user was unblocked (id): the room's history is read again

export const state = {
  config: null,
  username: null,
  groups: [],
  token: null,
  // The Cognito refresh token: in memory only (docs/WEB-CLIENT.md, "Where the token is kept").
  refreshToken: null,
  me: null,
  users: new Map(), // id -> { id, username, online, lastSeenAt }
  inbox: [],
  open: null, // the open conversation (see room.js, openConversation)
  connection: 'connecting',
  subscriptions: new Map(), // key -> unsubscribe
  tray: [], // files being sent with the next message (see attachments.js)
  blocked: new Set(), // the users I block: their messages are never shown
  picked: new Set(), // the people ticked for a new conversation
};

const listeners = new Map();

export function on(event, listener) {
  if (!listeners.has(event)) listeners.set(event, []);
  listeners.get(event).push(listener);
}

export function emit(event, ...args) {
  for (const listener of listeners.get(event) || []) listener(...args);
}

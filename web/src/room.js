// The open conversation: its history, read once and then kept current by
// the change subscription and catch-up; its members; the message list, and
// what each message's buttons do.

import { state, emit, on } from './state.js';
import { run, mutate, listen, stopListening } from './api.js';
import { Q, S } from './documents.js';
import { nameOf, userOf, presenceDot } from './users.js';
import { openReportUser } from './safety.js';
import { messageItem } from './message.js';
import { ordered, dayLabel, filesSummary } from './format.js';
import { tooLong } from './limits.js';
import { $, notice } from './dom.js';

/** On a phone the inbox and the conversation each take the screen: this
 * says which. Wider screens show both, whatever it says. */
export function showRoom(open) {
  $('app').classList.toggle('in-room', open);
  if (!open) {
    $('inbox').querySelector('li.active .open-convo')?.focus();
  }
}

export async function openConversation(id) {
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
  $('empty').hidden = true;
  $('room').hidden = false;
  emit('opened', room);
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

export async function loadOlder(room, first = false) {
  if (room.loadingOlder || (!first && !room.nextToken)) return;
  room.loadingOlder = true;
  const list = $('messages');
  const fromBottom = list.scrollHeight - list.scrollTop;
  try {
    const { getConvo } = await run(Q.history, { c: room.id, t: first ? null : room.nextToken });
    if (state.open !== room || !getConvo) return;
    room.name = getConvo.name;
    room.members = getConvo.members;
    room.memberCount = getConvo.memberCount;
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

/**
 * Applies a message state: the higher version wins.
 * @param {{ messages: Map<string, object> }} room
 * @param {import('./graphql').MessageFieldsFragment} message
 */
function upsert(room, message) {
  // The server leaves out whom I block; this also covers the moment after
  // a block, before the server's index has it.
  if (state.blocked.has(message.authorId)) return false;
  const known = room.messages.get(message.id);
  if (known && !known.pending && !known.failed && known.version >= message.version) return false;
  room.messages.set(message.id, message);
  return true;
}

/**
 * A change pushed on a conversation the inbox listens to.
 * @param {string} conversationId
 * @param {import('./graphql').OnMessageChangeSubscription} data
 */
export function onChange(conversationId, { onMessageChange: change }) {
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
  emit('inbox-stale');
}

export async function catchUp(room) {
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

export async function markRead(room) {
  if (document.visibilityState === 'hidden') return;
  const latest = ordered(room.messages).filter((m) => m.seq && m.authorId !== state.me.id).pop();
  if (!latest || room.readSeq >= latest.seq) return;
  room.readSeq = latest.seq;
  await mutate(Q.markRead, { c: room.id, m: latest.id }).catch(() => { room.readSeq = null; });
  emit('inbox-stale');
}

export function renderMembers() {
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
  // A large conversation lists its first 1,000 members; say how many more.
  const more = (room.memberCount ?? 0) - room.members.length;
  if (more > 0) {
    const span = document.createElement('span');
    span.className = 'member';
    span.textContent = `and ${more.toLocaleString()} more`;
    $('room-members').append(span);
  }
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
  const node = messageItem(room, m, seen, actionsOn(room));
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

export async function sendMessage(room, content, id = crypto.randomUUID(), files = []) {
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

/** What a message's buttons do, for message.js to draw. */
function actionsOn(room) {
  return room.actions ??= {
    react: (m, emoji, reacted) => toggleReaction(room, m, emoji, reacted),
    retry: (m) => sendMessage(room, m.content, m.id, m.files || []),
    discard: (m) => {
      room.messages.delete(m.id);
      renderMessages(room);
    },
    toggleActions: (m) => {
      room.actionsFor = room.actionsFor === m.id ? null : m.id;
      renderMessages(room);
      focusIn(m.id, '.more');
    },
    startEdit: (m) => startEdit(room, m),
    stopEdit: () => stopEdit(room),
    saveEdit: (m, content) => saveEdit(room, m, content),
    // Deleting cannot be undone: the first press asks, the second deletes.
    remove: (m) => {
      if (room.confirmDelete !== m.id) {
        room.confirmDelete = m.id;
        room.actionsFor = m.id;
        renderMessages(room);
        focusIn(m.id, '.delete');
        return;
      }
      room.confirmDelete = null;
      deleteMessage(room, m);
    },
  };
}

function focusIn(messageId, selector) {
  $('messages').querySelector(`.message[data-id="${CSS.escape(messageId)}"] ${selector}`)?.focus();
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
  focusIn(id, '.more');
}

async function saveEdit(room, m, content) {
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

async function toggleReaction(room, m, emoji, reacted) {
  try {
    const data = await mutate(reacted ? Q.unreact : Q.react, { c: room.id, m: m.id, e: emoji });
    upsert(room, data.addReaction || data.removeReaction);
  } catch (err) {
    notice(`Could not ${reacted ? 'remove the reaction' : 'react'}: ${err.message}`);
  }
  renderMessages(room);
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

export function setup() {
  $('back').onclick = () => showRoom(false);
  $('messages').onscroll = () => {
    if ($('messages').scrollTop < 40 && state.open) loadOlder(state.open);
  };
  document.addEventListener('visibilitychange', () => state.open && markRead(state.open));
  on('users', renderMembers);
  on('connection', renderMembers);
  on('blocked', (userId) => {
    const room = state.open;
    if (!room) return;
    for (const [id, m] of room.messages) if (m.authorId === userId) room.messages.delete(id);
    renderMessages(room);
  });
  on('unblocked', () => {
    const room = state.open;
    if (!room) return;
    // Their messages come back with the history, read again.
    room.messages.clear();
    room.nextToken = null;
    loadOlder(room, true).catch((err) => console.warn(err));
  });
}

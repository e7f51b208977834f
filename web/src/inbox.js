// The inbox: one row per conversation, newest first, with its last message
// and unread count. Reading it also listens to each conversation's changes
// and presence, so a conversation just joined is live at once.

import { state, on } from './state.js';
import { run, listen, resync } from './api.js';
import { Q, S } from './documents.js';
import { nameOf, userOf, avatar, onPresence } from './users.js';
import { openConversation, onChange } from './room.js';
import { filesSummary, titleFor } from './format.js';
import { $ } from './dom.js';

let inboxRefresh = null;
function refreshInboxSoon() {
  clearTimeout(inboxRefresh);
  inboxRefresh = setTimeout(refreshInbox, 150);
}

// Refreshes can overlap; an answer older than one already shown is dropped.
let inboxAsked = 0;
let inboxShown = 0;
export async function refreshInbox() {
  const asked = ++inboxAsked;
  /** @type {import('./graphql').InboxQuery} */
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

function otherMembers(members) {
  return members.filter((id) => id !== state.me.id);
}

function renderInbox() {
  const list = $('inbox');
  const unread = state.inbox.reduce((n, e) => n + (e.unreadCount || 0), 0);
  document.title = titleFor(unread);
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

export function setup() {
  on('users', renderInbox);
  on('inbox', renderInbox);
  on('opened', renderInbox);
  on('inbox-stale', refreshInboxSoon);
}

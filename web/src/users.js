// Who is who: names, and presence shown by shape and in words.

import { state, emit } from './state.js';
import { run } from './api.js';
import { Q } from './documents.js';

export async function refreshUsers() {
  let token = null;
  do {
    /** @type {import('./graphql').UsersQuery} */
    const { listUsers } = await run(Q.users, { t: token });
    for (const u of listUsers.items) if (u) state.users.set(u.id, u);
    token = listUsers.nextToken;
  } while (token);
  emit('users');
}

export async function userOf(id) {
  if (!state.users.has(id)) {
    const { getUser } = await run(Q.user, { id });
    if (getUser) state.users.set(id, getUser);
  }
  return state.users.get(id);
}

export const nameOf = (id) => state.users.get(id)?.username || 'someone';

export function avatar(id, withDot = true) {
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
export function presenceDot(id, className, online = state.users.get(id)?.online) {
  const dot = document.createElement('span');
  dot.className = className + (online ? ' online' : '');
  dot.dataset.presence = id;
  const words = document.createElement('span');
  words.className = 'visually-hidden';
  words.textContent = online ? 'online' : 'offline';
  dot.append(words);
  return dot;
}

/** @param {import('./graphql').OnPresenceSubscription} data */
export function onPresence({ onPresence: p }) {
  const user = state.users.get(p.userId) || { id: p.userId, username: nameOf(p.userId) };
  state.users.set(p.userId, { ...user, online: p.online, lastSeenAt: p.lastSeenAt });
  emit('users');
}

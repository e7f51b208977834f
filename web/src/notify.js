// Notifications: a conversation's level (all, mentions, none), the
// account's push settings, and Web Push for this browser.

import { state, emit, on } from './state.js';
import { run, mutate } from './api.js';
import { Q } from './documents.js';
import { dndUntil } from './format.js';
import { $ } from './dom.js';

async function setRoomLevel() {
  const room = state.open;
  if (!room) return;
  const level = $('room-notify').value;
  await mutate(Q.setLevel, { c: room.id, l: level });
  const entry = state.inbox.find((e) => e.conversationId === room.id);
  if (entry) entry.notifications = level;
  emit('inbox');
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

export function setup() {
  $('room-notify').onchange = () => setRoomLevel().catch((err) => console.warn(err));
  $('notify-open').onclick = () => toggleNotifySettings().catch((err) => console.warn(err));
  for (const id of ['dnd', 'hide-content', 'mentions-through']) {
    $(id).onchange = () => saveNotifySettings().catch((err) => console.warn(err));
  }
  $('web-push').onclick = enableWebPush;
  on('opened', (room) => {
    $('room-notify').value = state.inbox.find((e) => e.conversationId === room.id)?.notifications || 'ALL';
  });
}

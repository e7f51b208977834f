// Safety: reports, blocks, and the moderators' view of open reports. A
// block's effect on the open conversation is the room's to show: this says
// `blocked` or `unblocked` (state.js) and the room listens.

import { state, emit, on } from './state.js';
import { run, mutate } from './api.js';
import { Q } from './documents.js';
import { nameOf, userOf } from './users.js';
import { filesSummary } from './format.js';
import { $, notice } from './dom.js';

export function openReport(conversationId, m) {
  showReport({ kind: 'message', conversation: conversationId, message: m.id }, 'Report this message', m.content || filesSummary(m.attachments));
}

export function openReportUser(userId) {
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

export async function loadBlocked() {
  const { blockedUsers } = await run(Q.blocked);
  state.blocked = new Set(blockedUsers.map((b) => b.userId));
}

/** Blocks a user: their messages leave this page now, and the server
 * leaves them out of every read and push from here on. They are not told. */
export async function blockUser(userId) {
  try {
    await mutate(Q.block, { u: userId });
  } catch (err) {
    notice(`Could not block ${nameOf(userId)}: ${err.message}`);
    return;
  }
  state.blocked.add(userId);
  emit('blocked', userId);
  emit('inbox-stale');
  notice(`You blocked ${nameOf(userId)}. You will not see their messages; they are not told.`);
}

export async function unblockUser(userId) {
  try {
    await mutate(Q.unblock, { u: userId });
  } catch (err) {
    notice(`Could not unblock ${nameOf(userId)}: ${err.message}`);
    return;
  }
  state.blocked.delete(userId);
  emit('unblocked', userId);
  emit('inbox-stale');
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
function showBarred(info) {
  if (!$('barred').hidden) return;
  const until = info.suspendedUntil ? new Date(info.suspendedUntil).toLocaleString() : null;
  $('barred-text').textContent = info.banned || !until
    ? 'Your account has been banned by a moderator.'
    : `Your account is suspended until ${until}.`;
  $('barred').hidden = false;
  $('app').inert = true;
}

// The reasons' words, as the report form says them.
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

export function setup() {
  $('report-form').onsubmit = sendReport;
  $('report-cancel').onclick = () => $('report-dialog').close();
  $('report-block').onclick = () => toggleBlockFromDialog().catch((err) => console.warn(err));
  // What was reported does not stay in the page once the dialog is done.
  $('report-dialog').onclose = () => { $('report-quote').textContent = ''; };
  $('moderation-open').onclick = () => openModeration().catch((err) => console.warn(err));
  on('barred', showBarred);
}


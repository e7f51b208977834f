// How one message looks. Drawing only: the room (room.js) owns what a
// message's buttons do, and passes them in as `act`.

import { state } from './state.js';
import { nameOf } from './users.js';
import { openReport, blockUser } from './safety.js';
import { attachmentsOf } from './attachments.js';
import { REACTIONS } from './limits.js';
import { mentionRuns } from './format.js';

/**
 * One message as a list item: its author, text (or the edit form), files,
 * reactions, time and status, and its actions behind the ⋯ button. What a
 * press does is the room's (`act`, see room.js): this only draws.
 */
export function messageItem(room, m, seen, act) {
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
  if (room.editing?.id === m.id && !m.deletedAt) li.append(editForm(room, m, act));
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
      b.onclick = () => act.react(m, r.emoji, r.reacted);
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
    discard.onclick = () => act.discard(m);
    meta.append(discard);
  } else if (m.failed) {
    const retry = document.createElement('button');
    retry.textContent = 'Retry';
    retry.className = 'retry';
    retry.onclick = () => act.retry(m);
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
    more.onclick = () => act.toggleActions(m);
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
      b.onclick = () => act.react(m, emoji, m.reactions?.some((r) => r.emoji === emoji && r.reacted));
      actions.append(b);
    }
    if (mine) {
      const edit = document.createElement('button');
      edit.textContent = 'Edit';
      edit.className = 'edit';
      edit.onclick = () => act.startEdit(m);
      const del = document.createElement('button');
      del.textContent = room.confirmDelete === m.id ? 'Confirm delete' : 'Delete';
      del.className = 'delete';
      // Deleting cannot be undone: the first press asks, the second deletes.
      del.onclick = () => act.remove(m);
      actions.append(edit, del);
    } else {
      const report = document.createElement('button');
      report.textContent = 'Report';
      report.className = 'report-message';
      report.title = 'Report this message to the moderators';
      report.onclick = () => openReport(room.id, m);
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

/** An edit in progress: its draft lives on the room, so messages arriving
 * meanwhile (which redraw the list) do not throw it away. */
function editForm(room, m, act) {
  const form = document.createElement('form');
  form.className = 'edit-box';
  const input = document.createElement('textarea');
  input.rows = 2;
  input.value = room.editing.draft;
  input.className = 'edit-input';
  input.setAttribute('aria-label', 'Edit message');
  input.oninput = () => { room.editing.draft = input.value; };
  input.onkeydown = (e) => {
    if (e.key === 'Escape') { e.preventDefault(); act.stopEdit(); }
    else if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); form.requestSubmit(); }
  };
  const save = document.createElement('button');
  save.textContent = 'Save';
  save.className = 'primary';
  const cancel = document.createElement('button');
  cancel.type = 'button';
  cancel.textContent = 'Cancel';
  cancel.className = 'cancel-edit';
  cancel.onclick = () => act.stopEdit();
  const error = document.createElement('p');
  error.className = 'error';
  error.setAttribute('role', 'alert');
  error.textContent = room.editing.error;
  form.append(input, save, cancel, error);
  form.onsubmit = (e) => {
    e.preventDefault();
    act.saveEdit(m, input.value.trim());
  };
  return form;
}

/** A message's text, with the mentions the server resolved shown as such. */
function contentNodes(m) {
  const mentioned = new Set((m.mentions || []).map((id) => state.users.get(id)?.username?.toLowerCase()).filter(Boolean));
  return mentionRuns(m.content, mentioned).map((run) => {
    if (run.text !== undefined) return document.createTextNode(run.text);
    const span = document.createElement('span');
    span.className = 'mention' + (run.mention.toLowerCase() === state.me.username.toLowerCase() ? ' mention-me' : '');
    span.textContent = `@${run.mention}`;
    return span;
  });
}

// The composer: a multi-line box that sends on Enter, counts near the
// limit and says what is wrong before sending; @-mention suggestions from
// the conversation's members; and the typing signal.

import { state, on } from './state.js';
import { mutate } from './api.js';
import { Q } from './documents.js';
import { sendMessage } from './room.js';
import { uploading, readyFiles, clearTray } from './attachments.js';
import { MAX_MESSAGE_CHARS, TYPING_EVERY_MS, tooLong } from './limits.js';
import { mentionAt } from './format.js';
import { $ } from './dom.js';

// The @-suggestions open under the composer: which, and the one chosen.
const mention = { open: false, items: [], index: 0, start: 0 };

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


function updateMentions() {
  const room = state.open;
  const input = $('message-input');
  const query = room && mentionAt(input.value, input.selectionStart);
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

/** Says "typing" to the others, at most once per TYPING_EVERY_MS. */
function signalTyping() {
  const room = state.open;
  if (!room || !$('message-input').value) return;
  const now = Date.now();
  if (now - (room.lastTyping || 0) < TYPING_EVERY_MS) return;
  room.lastTyping = now;
  mutate(Q.typing, { c: room.id }).catch(() => {});
}

function submit(e) {
  e.preventDefault();
  const input = $('message-input');
  const content = input.value.trim();
  if (!state.open) return;
  if (uploading()) {
    $('tray').dataset.note = 'Waiting for the files to finish uploading';
    return;
  }
  const files = readyFiles();
  if (!files) return;
  if (!content && !files.length) return;
  const problem = tooLong(content);
  if (problem) {
    $('composer-error').textContent = problem;
    return;
  }
  input.value = '';
  onComposerInput();
  clearTray();
  sendMessage(state.open, content, crypto.randomUUID(), files);
}

export function setup() {
  $('message-input').oninput = () => { signalTyping(); updateMentions(); onComposerInput(); };
  $('message-input').onkeydown = onComposerKey;
  $('message-input').onblur = closeMentions;
  $('composer').onsubmit = submit;
  on('opened', closeMentions);
}

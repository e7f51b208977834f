// Starting a conversation: a searchable picker of the people who have
// signed in, read again each time it opens.

import { state } from './state.js';
import { mutate } from './api.js';
import { Q } from './documents.js';
import { refreshUsers } from './users.js';
import { refreshInbox } from './inbox.js';
import { openConversation } from './room.js';
import { $ } from './dom.js';

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

export function setup() {
  $('new-convo').onclick = showNewConversation;
  $('new-convo-cancel').onclick = () => { $('new-convo-form').hidden = true; $('new-convo').hidden = false; };
  $('new-convo-form').onsubmit = startConversation;
  $('people-search').oninput = renderPeople;
}

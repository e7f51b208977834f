// Attachments: the tray of files going with the next message (checked,
// then sent straight to the bucket with a presigned request), and a sent
// message's files as thumbnails and cards.

import { state, on } from './state.js';
import { mutate } from './api.js';
import { Q } from './documents.js';
import { MAX_ATTACHMENTS, fileProblem } from './limits.js';
import { sizeOf } from './format.js';
import { $ } from './dom.js';

/** Files chosen, dropped or pasted: each checked, then sent to the bucket. */
export function addFiles(files) {
  if (!state.open) return;
  for (const file of files) {
    if (state.tray.length >= MAX_ATTACHMENTS) break;
    const item = { key: crypto.randomUUID(), file, name: file.name || 'pasted image', status: 'uploading', progress: 0 };
    state.tray.push(item);
    const problem = fileProblem(file);
    if (problem) fail(item, problem);
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

export function renderTray() {
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
      if (!fileProblem(item.file)) {
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

/** A message's files: thumbnails that open the full photo, file cards, and
 * what is still processing or failed (with the reason). */
export function attachmentsOf(m) {
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

function showPhoto(a) {
  $('viewer-img').src = a.url;
  $('viewer-img').alt = a.name;
  $('viewer').showModal();
}

/** True while a file in the tray is on its way. */
export const uploading = () => state.tray.some((i) => i.status === 'uploading');

/** The tray's files, ready to go with a message; null while any failed. */
export function readyFiles() {
  if (state.tray.some((i) => i.status === 'failed')) return null;
  return state.tray.filter((i) => i.status === 'ready').map((i) => ({ id: i.id, name: i.name }));
}

export function clearTray() {
  state.tray = [];
  renderTray();
}

export function setup() {
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
  // A tray belongs to one conversation.
  on('opened', clearTray);
}

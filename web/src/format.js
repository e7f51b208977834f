// Pure functions of data: what the views show, computed without a page, so
// `node --test web/test` checks them directly.

/** A JWT's claims (read, not verified: the server verifies). The JSON is
 * UTF-8: a Cognito username may be any Unicode. */
export function claimsOf(token) {
  const binary = atob(token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/'));
  return JSON.parse(new TextDecoder().decode(Uint8Array.from(binary, (c) => c.charCodeAt(0))));
}

/** True when a token is unreadable or has less than a minute left: the
 * next request renews it first, so none is sent with a token about to lapse. */
export function tokenExpiresSoon(token, now = Date.now()) {
  try {
    return claimsOf(token).exp * 1000 - now < 60_000;
  } catch {
    return true;
  }
}

/** Messages by the server's order key (`seq`); pending ones go last. */
export function ordered(messages) {
  return [...messages.values()].sort((a, b) => {
    if (!a.seq || !b.seq) return a.seq ? -1 : b.seq ? 1 : 0;
    return a.seq < b.seq ? -1 : a.seq > b.seq ? 1 : 0;
  });
}

/** A day separator's words: Today, Yesterday, or the date (with the year
 * only when it is not this year's). */
export function dayLabel(at, today = new Date()) {
  const yesterday = new Date(today.getFullYear(), today.getMonth(), today.getDate() - 1);
  if (at.toDateString() === today.toDateString()) return 'Today';
  if (at.toDateString() === yesterday.toDateString()) return 'Yesterday';
  return at.toLocaleDateString(undefined, { weekday: 'long', day: 'numeric', month: 'long', year: at.getFullYear() === today.getFullYear() ? undefined : 'numeric' });
}

/** What a message of files only carries, as the push says it. */
export function filesSummary(files = []) {
  const photos = files.every((f) => f.contentType?.startsWith('image/'));
  const n = files.length;
  return photos ? (n === 1 ? 'Photo' : `${n} photos`) : (n === 1 ? 'File' : `${n} files`);
}

export function sizeOf(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${Math.round(bytes / 1024)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/** The tab's title: the unread count first, so it shows in a narrow tab. */
export function titleFor(unread) {
  return unread ? `(${unread > 99 ? '99+' : unread}) Chat` : 'Chat';
}

/** When "do not disturb" ends for a choice in the settings, as ISO time. */
export function dndUntil(choice, now = new Date()) {
  if (choice === '1h') return new Date(now.getTime() + 3_600_000).toISOString();
  if (choice === 'tomorrow') {
    const t = new Date(now);
    t.setDate(t.getDate() + 1);
    t.setHours(8, 0, 0, 0);
    return t.toISOString();
  }
  return null;
}

/** The `@prefix` typed just before the caret, if any: where it starts and
 * the prefix in lower case. */
export function mentionAt(text, caret) {
  const upto = text.slice(0, caret);
  const found = /(^|[\s(])@([\p{L}\p{N}_.+\-]*)$/u.exec(upto);
  return found ? { start: upto.length - found[2].length - 1, prefix: found[2].toLowerCase() } : null;
}

/**
 * A message's text cut into plain runs and mentions: `{ text }` or
 * `{ mention: name }`. Only the names the server resolved (`mentioned`,
 * lower case) count; any other `@name` stays plain text.
 */
export function mentionRuns(content, mentioned) {
  if (!mentioned.size) return [{ text: content }];
  const runs = [];
  let last = 0;
  for (const match of content.matchAll(/(^|[^\p{L}\p{N}_.+\-@])@([\p{L}\p{N}_.+\-]+)/gu)) {
    const name = match[2].replace(/[.\-]+$/, '');
    if (!mentioned.has(name.toLowerCase())) continue;
    const start = match.index + match[1].length;
    runs.push({ text: content.slice(last, start) }, { mention: name });
    last = start + 1 + name.length;
  }
  runs.push({ text: content.slice(last) });
  return runs;
}

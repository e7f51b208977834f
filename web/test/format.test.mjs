// The web client's pure rules, without a browser.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  claimsOf, tokenExpiresSoon, ordered, dayLabel, filesSummary, sizeOf, titleFor, dndUntil, mentionAt, mentionRuns,
} from '../src/format.js';
import { tooLong, fileProblem, MAX_MESSAGE_CHARS, MAX_UPLOAD_BYTES } from '../src/limits.js';

const jwt = (claims) => `x.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.sig`;

test('a token is renewed once it has less than a minute left, or cannot be read', () => {
  const now = 1_800_000_000_000;
  const at = (secondsLeft) => jwt({ exp: now / 1000 + secondsLeft });
  assert.equal(tokenExpiresSoon(at(61), now), false);
  assert.equal(tokenExpiresSoon(at(60), now), false);
  assert.equal(tokenExpiresSoon(at(59), now), true);
  assert.equal(tokenExpiresSoon(at(-5), now), true);
  assert.equal(tokenExpiresSoon('not a token', now), true);
  assert.equal(tokenExpiresSoon(null, now), true);
  // Base64url claims with characters that differ from base64's.
  assert.deepEqual(claimsOf(jwt({ 'cognito:username': 'zoë?>' })), { 'cognito:username': 'zoë?>' });
});

test('messages go by their sequence key, pending ones last', () => {
  const messages = new Map([
    ['p', { id: 'p' }], ['b', { id: 'b', seq: '00000002' }], ['a', { id: 'a', seq: '00000001' }], ['c', { id: 'c', seq: '00000010' }],
  ]);
  assert.deepEqual(ordered(messages).map((m) => m.id), ['a', 'b', 'c', 'p']);
});

test('a day line says Today, Yesterday, or the date, with the year only when it differs', () => {
  const today = new Date(2026, 11, 6, 9, 30);
  assert.equal(dayLabel(new Date(2026, 11, 6, 0, 1), today), 'Today');
  assert.equal(dayLabel(new Date(2026, 11, 5, 23, 59), today), 'Yesterday');
  // Across a month's start.
  assert.equal(dayLabel(new Date(2026, 10, 30), new Date(2026, 11, 1)), 'Yesterday');
  assert.doesNotMatch(dayLabel(new Date(2026, 10, 2), today), /2026/);
  assert.match(dayLabel(new Date(2025, 10, 2), today), /2025/);
});

test('a message of files only is summed up as the push says it', () => {
  assert.equal(filesSummary([{ contentType: 'image/png' }]), 'Photo');
  assert.equal(filesSummary([{ contentType: 'image/png' }, { contentType: 'image/jpeg' }]), '2 photos');
  assert.equal(filesSummary([{ contentType: 'application/pdf' }]), 'File');
  assert.equal(filesSummary([{ contentType: 'image/png' }, { contentType: 'application/pdf' }]), '2 files');
  assert.equal(sizeOf(1023), '1023 B');
  assert.equal(sizeOf(1024), '1 KB');
  assert.equal(sizeOf(25 * 1024 * 1024), '25.0 MB');
});

test('the title carries the unread count, capped at 99+', () => {
  assert.equal(titleFor(0), 'Chat');
  assert.equal(titleFor(7), '(7) Chat');
  assert.equal(titleFor(99), '(99) Chat');
  assert.equal(titleFor(100), '(99+) Chat');
});

test('do not disturb ends in an hour, or at eight tomorrow morning', () => {
  const now = new Date(2026, 11, 31, 22, 15);
  assert.equal(dndUntil('1h', now), new Date(2026, 11, 31, 23, 15).toISOString());
  assert.equal(dndUntil('tomorrow', now), new Date(2027, 0, 1, 8, 0).toISOString());
  assert.equal(dndUntil('', now), null);
});

test('an @prefix is found just before the caret, and only there', () => {
  assert.deepEqual(mentionAt('hi @Bo', 6), { start: 3, prefix: 'bo' });
  assert.deepEqual(mentionAt('@', 1), { start: 0, prefix: '' });
  assert.deepEqual(mentionAt('(@zoë', 5), { start: 1, prefix: 'zoë' });
  assert.equal(mentionAt('mail a@b', 8), null);
  assert.equal(mentionAt('hi @bo and', 10), null);
  assert.deepEqual(mentionAt('hi @bo and', 6), { start: 3, prefix: 'bo' });
});

test('only the mentions the server resolved are shown as mentions', () => {
  assert.deepEqual(mentionRuns('hi @bob and @eve.', new Set(['bob'])), [
    { text: 'hi ' }, { mention: 'bob' }, { text: ' and @eve.' },
  ]);
  // Trailing dots are punctuation; an address is not a mention.
  assert.deepEqual(mentionRuns('@Bob. mail bob@x.org', new Set(['bob'])), [
    { text: '' }, { mention: 'Bob' }, { text: '. mail bob@x.org' },
  ]);
  assert.deepEqual(mentionRuns('@bob', new Set()), [{ text: '@bob' }]);
});

test('the message limit is counted in characters, as the server counts, at its edge', () => {
  assert.equal(tooLong('a'.repeat(MAX_MESSAGE_CHARS)), '');
  assert.match(tooLong('a'.repeat(MAX_MESSAGE_CHARS + 1)), /at most 4,000 characters; this one has 4,001/);
  // An emoji is one character (two UTF-16 units): 4,000 of them fit.
  assert.equal(tooLong('😀'.repeat(MAX_MESSAGE_CHARS)), '');
  assert.notEqual(tooLong('😀'.repeat(MAX_MESSAGE_CHARS + 1)), '');
});

test('a file is refused for its type, its size at the 25 MB edge, or being empty', () => {
  assert.equal(fileProblem({ type: 'image/png', size: MAX_UPLOAD_BYTES }), '');
  assert.match(fileProblem({ type: 'image/png', size: MAX_UPLOAD_BYTES + 1 }), /over the 25 MB limit/);
  assert.match(fileProblem({ type: 'image/png', size: 0 }), /empty/);
  assert.match(fileProblem({ type: 'text/html', size: 10 }), /text\/html cannot be sent/);
  assert.match(fileProblem({ type: '', size: 10 }), /this type cannot be sent/);
});

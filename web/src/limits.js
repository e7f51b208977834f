// What the server takes (schema/TABLES.md, "Limits"; docs/ATTACHMENTS.md), checked here
// too, so that what it would refuse says why before anything is sent.

import { sizeOf } from './format.js';

export const REACTIONS = ['👍', '❤️', '😂', '🎉'];
export const FILE_TYPES = ['image/jpeg', 'image/png', 'image/webp', 'image/gif', 'image/heic', 'application/pdf'];
export const MAX_UPLOAD_BYTES = 25 * 1024 * 1024;
export const MAX_ATTACHMENTS = 10;
export const MAX_MESSAGE_CHARS = 4000;
// One typing signal per this long while the user types (the server's throttle).
export const TYPING_EVERY_MS = 2000;

/** Why a message cannot be sent as it is, or '' if it can. Characters are
 * counted as the server counts them: by code point, not UTF-16 unit. */
export function tooLong(content) {
  const n = [...content].length;
  return n > MAX_MESSAGE_CHARS
    ? `A message is at most ${MAX_MESSAGE_CHARS.toLocaleString('en')} characters; this one has ${n.toLocaleString('en')}.`
    : '';
}

/** Why a file cannot be sent, or '' if it can. */
export function fileProblem({ type, size }) {
  if (!FILE_TYPES.includes(type)) return `${type || 'this type'} cannot be sent; photos (JPEG, PNG, WebP, GIF, HEIC) and PDFs can`;
  if (size > MAX_UPLOAD_BYTES) return `${sizeOf(size)} is over the 25 MB limit`;
  if (size === 0) return 'the file is empty';
  return '';
}

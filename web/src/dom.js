// What every view shares: finding an element, and a short notice at the
// bottom of the screen.

export const $ = (id) => document.getElementById(id);

/** A short message at the bottom of the screen, read out by screen readers. */
export function notice(text) {
  const el = $('notice');
  el.textContent = text;
  el.hidden = false;
  clearTimeout(notice.timer);
  notice.timer = setTimeout(() => { el.hidden = true; }, 4000);
}

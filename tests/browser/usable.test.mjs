// The web client as people use it: on a phone, by keyboard alone, with a
// screen reader's checks (axe-core, run inside the page), and with the
// everyday details (timestamps, long previews, limits, edits and deletes
// that can be taken back). Screenshots land beside the others.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import {
  APP, SHOTS, WAIT, launch, signIn, apiAs, conversation, message, send,
} from './session.mjs';

const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const PHONE = { width: 390, height: 844 };
const TABLET = { width: 768, height: 1024 };
const DESKTOP = { width: 1280, height: 800 };

let browser;
before(async () => { browser = await launch(); });
after(async () => browser?.close());

/** axe-core's serious and critical findings on the page as it is now.
 * Evaluated, not injected as a tag: the page's CSP allows no inline script. */
async function axeFindings(page) {
  await page.evaluate(AXE);
  const results = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  return results.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}

/** Nothing on the page is wider than the screen. */
async function noSidewaysScroll(page) {
  const { scroll, width } = await page.evaluate(() => ({
    scroll: document.scrollingElement.scrollWidth, width: window.innerWidth,
  }));
  assert.ok(scroll <= width, `the page scrolls sideways: ${scroll} px wide on a ${width} px screen`);
}

/** Where `locator` is on the screen. The inbox is redrawn on presence and
 * unread changes, so an element can be replaced between finding it and
 * measuring it: measure again until it holds still. */
async function box(locator) {
  for (let i = 0; i < 20; i += 1) {
    const found = await locator.boundingBox({ timeout: WAIT }).catch(() => null);
    if (found) return found;
    await new Promise((r) => setTimeout(r, 100));
  }
  return null;
}

/** Presses Tab until `selector` has the focus (at most `max` times). */
async function tabTo(page, selector, { back = false, max = 40 } = {}) {
  for (let i = 0; i < max; i += 1) {
    if (await page.evaluate((s) => document.activeElement?.matches(s), selector)) return;
    await page.keyboard.press(back ? 'Shift+Tab' : 'Tab');
  }
  throw new Error(`Tab never reached ${selector}`);
}

/** A conversation between two users, seeded over the API. */
async function seeded(name, owner, other, messages = []) {
  const api = await apiAs(owner);
  const { me } = await api('{ me { id } }');
  if (!me) await api(`mutation { createUser(input: {username: "${owner}"}) { id } }`);
  const otherApi = await apiAs(other);
  let { me: them } = await otherApi('{ me { id } }');
  if (!them) ({ createUser: them } = await otherApi(`mutation { createUser(input: {username: "${other}"}) { id } }`));
  const { createConvo } = await api('mutation($n: String!, $m: [String!]!) { createConvo(input: {name: $n, members: $m}) { id } }', { n: name, m: [them.id] });
  for (const [who, text] of messages) {
    await (who === owner ? api : otherApi)('mutation($c: ID!, $t: String!) { createMessage(input: {messageConversationId: $c, content: $t}) { id } }', { c: createConvo.id, t: text });
  }
  return createConvo.id;
}

test('on a phone the inbox and the conversation each take the screen, with a way back, nothing scrolls sideways and every target is big enough', async () => {
  await seeded('Trip planning', 'pia', 'quinn', [
    ['pia', 'Where shall we go?'],
    ['quinn', 'Either works for me'],
    // A preview far longer than the row: the badge must stay in view.
    ['quinn', 'Shall we take the early train on Saturday, or the one at ten?'],
  ]);
  const pia = await signIn('pia', { viewport: PHONE, touch: true });
  await conversation(pia.page, 'Trip planning').waitFor({ timeout: WAIT });
  await noSidewaysScroll(pia.page);
  // The inbox takes the screen; its badge is inside it despite a long preview.
  const row = conversation(pia.page, 'Trip planning');
  const rowBox = await box(row);
  assert.ok(rowBox.width >= PHONE.width - 40, `the inbox row is ${rowBox.width} px wide`);
  await row.locator('.badge').waitFor({ timeout: WAIT });
  const badge = await box(row.locator('.badge'));
  assert.ok(badge.x + badge.width <= PHONE.width, 'the unread badge is on the screen');
  assert.equal(await pia.page.locator('#conversation').isVisible(), false);
  await pia.page.screenshot({ path: `${SHOTS}/13-phone-inbox.png` });

  await row.locator('.open-convo').tap();
  await pia.page.locator('#room-name', { hasText: 'Trip planning' }).waitFor({ timeout: WAIT });
  await message(pia.page, 'Either works for me').waitFor({ timeout: WAIT });
  assert.equal(await pia.page.locator('#inbox').isVisible(), false, 'the conversation takes the screen');
  const list = await box(pia.page.locator('#messages'));
  assert.ok(list.width >= 300, `the message list is ${list.width} px wide`);
  const input = await box(pia.page.locator('#message-input'));
  assert.ok(input.width >= 200, `the composer is ${input.width} px wide`);
  await noSidewaysScroll(pia.page);
  // A new-messages line above what came while away; times on every message.
  await pia.page.locator('#messages .new-marker').waitFor({ timeout: WAIT });
  assert.equal(await pia.page.locator('#messages .message time').count(), 3);
  assert.equal(await pia.page.locator('#messages .day', { hasText: 'Today' }).count(), 1);

  // Actions by tap: the ⋯ button opens them; each target is at least 44 px.
  const theirs = message(pia.page, 'Either works for me');
  await theirs.locator('button.more').tap();
  const react = theirs.locator('button.react').first();
  await react.waitFor({ timeout: WAIT });
  for (const [name, target] of [['⋯', theirs.locator('button.more')], ['a reaction', react], ['Report', theirs.locator('button.report-message')], ['Send', pia.page.locator('#composer button[type=submit]')], ['Back', pia.page.locator('#back')]]) {
    const b = await box(target);
    assert.ok(b, `${name} is on the screen`);
    assert.ok(b.width >= 44 && b.height >= 44, `${name}: a ${Math.round(b.width)} × ${Math.round(b.height)} px target`);
  }
  await react.tap();
  await theirs.locator('.reaction', { hasText: '👍 1' }).waitFor({ timeout: WAIT });
  await pia.page.fill('#message-input', 'Ten is better');
  await pia.page.locator('#composer button[type=submit]').tap();
  await message(pia.page, 'Ten is better').locator('.status', { hasText: /sent|seen/ }).waitFor({ timeout: WAIT });
  await pia.page.screenshot({ path: `${SHOTS}/14-phone-conversation.png` });

  // And back to the inbox.
  await pia.page.locator('#back').tap();
  await conversation(pia.page, 'Trip planning').waitFor({ timeout: WAIT });
  assert.equal(await pia.page.locator('#conversation').isVisible(), false);
  assert.deepEqual(pia.errors, []);

  // A tablet and a desktop show both side by side, with no sideways scroll.
  for (const [viewport, name] of [[TABLET, '15-tablet'], [DESKTOP, '16-desktop']]) {
    await pia.page.setViewportSize(viewport);
    await row.locator('.open-convo').click();
    await pia.page.locator('#room-name', { hasText: 'Trip planning' }).waitFor({ timeout: WAIT });
    assert.ok(await pia.page.locator('#inbox').isVisible());
    assert.ok((await box(pia.page.locator('#messages'))).width >= 300);
    await noSidewaysScroll(pia.page);
    await pia.page.screenshot({ path: `${SHOTS}/${name}.png` });
  }
  await pia.context.close();
});

test('by keyboard alone: sign in, open a conversation, send, edit with Esc to cancel, and delete with a confirmation', async () => {
  await seeded('Keyboard club', 'kim', 'lee', [['lee', 'Welcome, Kim']]);
  const context = await browser.newContext({ viewport: DESKTOP });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(APP);
  await page.locator('#username').waitFor({ timeout: WAIT });
  await tabTo(page, '#username');
  await page.keyboard.type('kim');
  await page.keyboard.press('Enter');
  await page.locator('#connection[data-state=connected]').waitFor({ timeout: WAIT });
  await conversation(page, 'Keyboard club').waitFor({ timeout: WAIT });

  // The conversation's row is a button: Tab to it (a visible focus ring),
  // Enter opens it, and the composer has the focus.
  await tabTo(page, '#inbox .open-convo');
  const ring = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
  assert.notEqual(ring, 'none');
  await page.keyboard.press('Enter');
  await page.locator('#room-name', { hasText: 'Keyboard club' }).waitFor({ timeout: WAIT });

  // Compose: Shift+Enter is a new line, Enter sends.
  await tabTo(page, '#message-input');
  await page.keyboard.type('Two lines:');
  await page.keyboard.press('Shift+Enter');
  await page.keyboard.type('here is the second');
  await page.keyboard.press('Enter');
  const sent = message(page, 'here is the second');
  await sent.locator('.status', { hasText: /sent|seen/ }).waitFor({ timeout: WAIT });
  assert.equal(await sent.locator('.bubble').innerText(), 'Two lines:\nhere is the second');

  // Edit by keyboard: ⋯ opens the actions, Esc cancels and keeps the text;
  // then an edit saved with Enter.
  await tabTo(page, '.message.mine button.more', { back: true });
  await page.keyboard.press('Enter');
  await tabTo(page, '.message.mine button.edit');
  await page.keyboard.press('Enter');
  await page.locator('.edit-input').waitFor({ timeout: WAIT });
  await page.keyboard.type(' (draft)');
  await page.keyboard.press('Escape');
  await page.locator('.edit-input').waitFor({ state: 'detached', timeout: WAIT });
  assert.equal(await message(page, '(draft)').count(), 0, 'Esc threw the draft away');
  await tabTo(page, '.message.mine button.more', { back: true });
  await page.keyboard.press('Enter');
  await tabTo(page, '.message.mine button.edit');
  await page.keyboard.press('Enter');
  await page.keyboard.press('ControlOrMeta+a');
  await page.keyboard.type('Edited by keyboard');
  await page.keyboard.press('Enter');
  await message(page, 'Edited by keyboard').locator('.status', { hasText: 'edited' }).waitFor({ timeout: WAIT });

  // Delete asks first; a second Enter deletes.
  await tabTo(page, '.message.mine button.more', { back: true });
  await page.keyboard.press('Enter');
  await tabTo(page, '.message.mine button.delete');
  await page.keyboard.press('Enter');
  await page.locator('.message.mine button.delete', { hasText: 'Confirm delete' }).waitFor({ timeout: WAIT });
  assert.equal(await message(page, 'Edited by keyboard').count(), 1, 'nothing deleted on the first press');
  await page.keyboard.press('Enter');
  await page.locator('.message.mine.deleted').waitFor({ timeout: WAIT });
  assert.deepEqual(errors, []);
  await context.close();
});

test('an edit in progress survives incoming messages; limits show before sending; a failed action says why', async () => {
  const room = await seeded('Drafts', 'mia', 'ned', [['mia', 'First version']]);
  const mia = await signIn('mia');
  await conversation(mia.page, 'Drafts').click();
  const mine = message(mia.page, 'First version');
  await mine.hover();
  await mine.locator('button.edit').click();
  await mia.page.fill('.edit-input', 'Second version, half typed');
  // Ned posts twice meanwhile: the draft, and the focus, stay.
  const ned = await apiAs('ned');
  for (const text of ['one', 'two']) {
    await ned('mutation($c: ID!, $t: String!) { createMessage(input: {messageConversationId: $c, content: $t}) { id } }', { c: room, t: text });
    await message(mia.page, text).waitFor({ timeout: WAIT });
  }
  assert.equal(await mia.page.inputValue('.edit-input'), 'Second version, half typed');
  assert.ok(await mia.page.evaluate(() => document.activeElement?.classList.contains('edit-input')));
  await mia.page.click('.cancel-edit');
  await mine.waitFor({ timeout: WAIT });

  // A 5,000-character paste is kept whole, counted, and refused with words
  // before anything is sent.
  await mia.page.fill('#message-input', 'x'.repeat(5000));
  await mia.page.locator('#composer-count.over', { hasText: '5,000 / 4,000' }).waitFor({ timeout: WAIT });
  await mia.page.press('#message-input', 'Enter');
  await mia.page.locator('#composer-error', { hasText: 'at most 4,000 characters' }).waitFor({ timeout: WAIT });
  assert.equal((await mia.page.inputValue('#message-input')).length, 5000, 'nothing cut');
  assert.equal(await mia.page.locator('#messages .message.pending, #messages .message.failed').count(), 0);

  // The tab's title counts what is unread elsewhere.
  await seeded('Elsewhere', 'ned', 'mia', [['ned', 'ping']]);
  await mia.page.waitForFunction(() => /^\(\d+\) Chat$/.test(document.title), null, { timeout: WAIT });

  // An edit the server refuses (the stack's word filter) says why, in the
  // edit itself, and keeps the draft to fix.
  await mine.hover();
  await mine.locator('button.edit').click();
  await mia.page.fill('.edit-input', 'Get free crypto now');
  await mia.page.press('.edit-input', 'Enter');
  await mia.page.locator('.edit-box .error', { hasText: /^Not saved: .+/ }).waitFor({ timeout: WAIT });
  assert.equal(await mia.page.inputValue('.edit-input'), 'Get free crypto now');
  await mia.page.press('.edit-input', 'Escape');
  await message(mia.page, 'First version').waitFor({ timeout: WAIT });
  assert.deepEqual(mia.errors, []);
  await mia.context.close();
});

test('axe-core finds no serious or critical problem on the sign-in screen, the inbox and a conversation, on a phone and a desktop', async () => {
  await seeded('Accessible', 'ora', 'pat', [['pat', 'Can you read this?'], ['ora', 'Loud and clear']]);
  for (const viewport of [PHONE, DESKTOP]) {
    const context = await browser.newContext({ viewport });
    const page = await context.newPage();
    await page.goto(APP);
    await page.locator('#username').waitFor({ timeout: WAIT });
    assert.deepEqual(await axeFindings(page), [], 'the sign-in screen');
    await context.close();
    const ora = await signIn('ora', { viewport });
    await conversation(ora.page, 'Accessible').waitFor({ timeout: WAIT });
    assert.deepEqual(await axeFindings(ora.page), [], 'the inbox');
    await conversation(ora.page, 'Accessible').locator('.open-convo').click();
    await message(ora.page, 'Loud and clear').waitFor({ timeout: WAIT });
    assert.deepEqual(await axeFindings(ora.page), [], 'a conversation');
    await ora.context.close();
  }
});

test('new messages are announced once, and only they: the list is not a live region', async () => {
  const room = await seeded('Announcements', 'rae', 'sol', [['sol', 'Older']]);
  const rae = await signIn('rae');
  await conversation(rae.page, 'Announcements').click();
  await message(rae.page, 'Older').waitFor({ timeout: WAIT });
  assert.equal(await rae.page.locator('#messages[aria-live]').count(), 0);
  // A message posted before the conversation's subscription is in place
  // (a moment after it is sent) arrives by catch-up, unannounced: Sol posts
  // until one arrives live.
  const sol = await apiAs('sol');
  let said = null;
  for (let i = 1; i <= 5 && !said; i += 1) {
    await sol('mutation($c: ID!, $t: String!) { createMessage(input: {messageConversationId: $c, content: $t}) { id } }', { c: room, t: `Fresh news ${i}` });
    const heard = rae.page.locator('#announcer[aria-live=polite]', { hasText: `sol: Fresh news ${i}` });
    said = await heard.waitFor({ timeout: 2000 }).then(() => `sol: Fresh news ${i}`, () => null);
  }
  assert.ok(said, 'a new message was read out');
  await send(rae.page, 'Thanks');
  assert.equal(await rae.page.locator('#announcer').textContent(), said, 'my own message is not read out');
  await rae.context.close();
});

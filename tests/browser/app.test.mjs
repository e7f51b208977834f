// The web client in a real browser: Debian's Chromium, driven by
// playwright-core, two users in two browser contexts against the real
// gateway binary (started by browser/run.sh).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import {
  APP, SHOTS, WAIT, launch, signIn, apiAs, conversation, message, startConversation, send, textOf,
} from './session.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => browser?.close());

test('two users chat live: conversations, typing, edits, deletes, reactions, unread badges, reconnects', async () => {
  const alice = await signIn('alice');
  await alice.page.screenshot({ path: `${SHOTS}/1-signed-in.png` });
  const bob = await signIn('bob');
  const bobId = await bob.page.evaluate(() => window.chat.state.me.id);

  // Alice starts a conversation with Bob; it appears in Bob's inbox.
  await alice.page.reload();
  await alice.page.locator('#connection[data-state=connected]').waitFor({ timeout: WAIT });
  await startConversation(alice.page, 'Lunch', 'bob');
  await conversation(bob.page, 'Lunch').waitFor({ timeout: WAIT });
  await conversation(bob.page, 'Lunch').click();
  await bob.page.locator('#room-name', { hasText: 'Lunch' }).waitFor({ timeout: WAIT });

  // Presence: each sees the other online in the conversation's header.
  for (const [viewer, other] of [[alice, bob], [bob, alice]]) {
    const id = await other.page.evaluate(() => window.chat.state.me.id);
    await viewer.page.locator(`#room-members .presence-dot.online[data-presence="${id}"]`).waitFor({ timeout: WAIT });
  }

  // Typing shows for Bob, and clears when Alice's message arrives.
  // Alice keeps typing (one signal goes out per 2 s) until Bob sees it: a
  // subscription is in place a moment after it is sent.
  const shown = bob.page.locator('#typing', { hasText: 'alice is typing' }).waitFor({ timeout: WAIT });
  let typing = true;
  shown.finally(() => { typing = false; }).catch(() => {});
  while (typing) {
    await alice.page.type('#message-input', 'x');
    await alice.page.waitForTimeout(250);
  }
  await shown;
  await alice.page.fill('#message-input', '');
  await send(alice.page, 'Hi Bob, lunch at noon?');
  await message(bob.page, 'Hi Bob, lunch at noon?').waitFor({ timeout: WAIT });
  await bob.page.waitForFunction(() => document.getElementById('typing').textContent === '', null, { timeout: WAIT });

  // Bob answers; Alice sees it live, and that Bob has read hers.
  await send(bob.page, 'Sure, see you there');
  await message(alice.page, 'Sure, see you there').waitFor({ timeout: WAIT });
  await message(alice.page, 'Hi Bob, lunch at noon?').locator('.status', { hasText: 'seen' }).waitFor({ timeout: WAIT });

  // A reaction from Bob reaches Alice.
  await message(bob.page, 'Hi Bob, lunch at noon?').hover();
  await message(bob.page, 'Hi Bob, lunch at noon?').locator('button.react', { hasText: '👍' }).click();
  await message(alice.page, 'Hi Bob, lunch at noon?').locator('.reaction', { hasText: '👍 1' }).waitFor({ timeout: WAIT });

  // An edit and a delete propagate.
  await send(alice.page, 'Bring the reciept');
  const typo = message(alice.page, 'Bring the reciept');
  await typo.hover();
  await typo.locator('button.edit').click();
  await alice.page.fill('.edit-input', 'Bring the receipt');
  await alice.page.press('.edit-input', 'Enter');
  await message(bob.page, 'Bring the receipt').locator('.status', { hasText: 'edited' }).waitFor({ timeout: WAIT });
  assert.equal(await message(bob.page, 'reciept').count(), 0);
  await send(alice.page, 'Wrong chat, sorry');
  await message(bob.page, 'Wrong chat, sorry').waitFor({ timeout: WAIT });
  const wrong = message(alice.page, 'Wrong chat, sorry');
  await wrong.hover();
  // Deleting asks first: the button says so, and a second press deletes.
  await wrong.locator('button.delete').click();
  await wrong.locator('button.delete', { hasText: 'Confirm delete' }).click();
  await bob.page.waitForFunction(
    () => ![...document.querySelectorAll('#messages .bubble')].some((b) => b.textContent.includes('Wrong chat')),
    null, { timeout: WAIT });
  assert.ok(await bob.page.locator('#messages .message.deleted').count() >= 1);
  await conversation(bob.page, 'Lunch').locator('.last', { hasText: 'Message deleted' }).waitFor({ timeout: WAIT });
  await bob.page.mouse.move(0, 0);
  await bob.page.screenshot({ path: `${SHOTS}/2-conversation.png` });

  // Unread badges: Alice writes in a second conversation while Bob is in
  // the first; Bob's inbox counts them, and opening it clears the count.
  await startConversation(alice.page, 'Weekend plans', 'bob');
  await send(alice.page, 'Hiking on Saturday?');
  await send(alice.page, 'Or the lake?');
  const badge = conversation(bob.page, 'Weekend plans').locator('.badge');
  await bob.page.waitForFunction(
    () => [...document.querySelectorAll('#inbox li')].some((li) => li.textContent.includes('Weekend plans') && li.querySelector('.badge')?.textContent === '2'),
    null, { timeout: WAIT });
  assert.equal(await textOf(badge), '2');
  await bob.page.screenshot({ path: `${SHOTS}/3-inbox-unread.png` });
  await conversation(bob.page, 'Weekend plans').click();
  await message(bob.page, 'Or the lake?').waitFor({ timeout: WAIT });
  await bob.page.waitForFunction(
    () => ![...document.querySelectorAll('#inbox li')].some((li) => li.textContent.includes('Weekend plans') && li.querySelector('.badge')),
    null, { timeout: WAIT });

  // A send that fails shows as not sent; Retry sends it again with the same
  // id, and it arrives once.
  const sends = [];
  await alice.page.route('**/graphql', async (route) => {
    const body = route.request().postDataJSON();
    if (body?.query?.includes('createMessage')) {
      sends.push(body.variables.id);
      if (sends.length === 1) return route.abort('internetdisconnected');
    }
    return route.continue();
  });
  await alice.page.fill('#message-input', 'Through a tunnel');
  await alice.page.press('#message-input', 'Enter');
  const flaky = message(alice.page, 'Through a tunnel');
  await flaky.locator('.status', { hasText: 'not sent' }).waitFor({ timeout: WAIT });
  await flaky.locator('button.retry').click();
  await flaky.locator('.status', { hasText: /sent|seen/ }).waitFor({ timeout: WAIT });
  await alice.page.unroute('**/graphql');
  assert.equal(sends.length, 2);
  assert.equal(sends[0], sends[1], 'the retry reuses the id');
  await message(bob.page, 'Through a tunnel').waitFor({ timeout: WAIT });
  assert.equal(await message(bob.page, 'Through a tunnel').count(), 1);

  // Bob's network drops; what Alice writes meanwhile reaches him after he
  // reconnects, from the change log, and nothing is lost.
  await bob.page.evaluate(() => window.chat.dropConnection());
  await bob.page.locator('#connection[data-state=reconnecting]').waitFor({ timeout: WAIT });
  await send(alice.page, 'Saturday it is');
  const longer = 'Meet at the trailhead at 9';
  await send(alice.page, longer);
  assert.equal(await message(bob.page, 'Saturday it is').count(), 0, 'not while offline');
  await bob.page.evaluate(() => window.chat.restoreConnection());
  await bob.page.locator('#connection[data-state=connected]').waitFor({ timeout: WAIT });
  await message(bob.page, 'Saturday it is').waitFor({ timeout: WAIT });
  await message(bob.page, longer).waitFor({ timeout: WAIT });
  // Live delivery resumed on the re-sent subscriptions.
  await send(alice.page, 'See you');
  await message(bob.page, 'See you').waitFor({ timeout: WAIT });
  const texts = await bob.page.locator('#messages .bubble').allTextContents();
  assert.deepEqual(texts.slice(-5), ['Or the lake?', 'Through a tunnel', 'Saturday it is', longer, 'See you']);
  assert.equal(new Set(texts).size, texts.length, 'no message twice');

  // Mentions: Alice picks Bob from the @ list by keyboard; the message
  // names him, and Bob sees it marked as his.
  await alice.page.fill('#message-input', '');
  await alice.page.type('#message-input', 'Ask @b');
  await alice.page.locator('#mention-list [role=option][aria-selected=true]', { hasText: '@bob' }).waitFor({ timeout: WAIT });
  assert.equal(await alice.page.getAttribute('#message-input', 'aria-expanded'), 'true');
  await alice.page.press('#message-input', 'Enter');
  assert.equal(await alice.page.inputValue('#message-input'), 'Ask @bob ');
  assert.ok(await alice.page.locator('#mention-list').isHidden());
  await alice.page.type('#message-input', 'about the car');
  await alice.page.press('#message-input', 'Enter');
  await message(alice.page, 'about the car').locator('.status', { hasText: /sent|seen/ }).waitFor({ timeout: WAIT });
  await message(alice.page, 'about the car').locator('.mention', { hasText: '@bob' }).waitFor({ timeout: WAIT });
  await message(bob.page, 'about the car').locator('.mention.mention-me', { hasText: '@bob' }).waitFor({ timeout: WAIT });

  // Notifications: Bob hears of this conversation's mentions only, and
  // sets do-not-disturb and hidden content; the server has them.
  await bob.page.selectOption('#room-notify', 'MENTIONS');
  await conversation(bob.page, 'Weekend plans').locator('.muted-icon[title="Mentions only"]').waitFor({ timeout: WAIT });
  await bob.page.click('#notify-open');
  await bob.page.locator('#notify-settings').waitFor({ timeout: WAIT });
  assert.equal(await bob.page.isChecked('#mentions-through'), true, 'mentions get through a mute by default');
  await bob.page.selectOption('#dnd', '1h');
  await bob.page.check('#hide-content');
  const bobApi = await apiAs('bob');
  let settings = null;
  for (let tries = 0; tries < 50; tries += 1) {
    ({ pushSettings: settings } = await bobApi('{ pushSettings { dndUntil hideContent mentions } }'));
    if (settings.hideContent && settings.dndUntil) break;
    await bob.page.waitForTimeout(100);
  }
  assert.equal(settings.hideContent, true);
  assert.ok(Date.parse(settings.dndUntil) > Date.now() + 50 * 60_000, settings.dndUntil);
  const { inbox } = await bobApi('{ inbox { items { name notifications } } }');
  assert.equal(inbox.items.find((e) => e.name === 'Weekend plans').notifications, 'MENTIONS');
  await bob.page.mouse.move(0, 0);
  await bob.page.screenshot({ path: `${SHOTS}/5-notifications.png` });

  // A long history loads as Bob scrolls up.
  const api = await apiAs('alice');
  const { createConvo } = await api(`mutation($m: [String!]!) { createConvo(input: { name: "Archive", members: $m }) { id } }`, { m: [bobId] });
  for (let i = 1; i <= 45; i += 1) {
    await api(`mutation($c: ID!, $t: String!) { createMessage(input: { messageConversationId: $c, content: $t }) { id } }`, { c: createConvo.id, t: `Archived note ${i}` });
  }
  await conversation(bob.page, 'Archive').click();
  await message(bob.page, 'Archived note 45').waitFor({ timeout: WAIT });
  const first = bob.page.locator('#messages .bubble', { hasText: /^Archived note 1$/ });
  assert.equal(await first.count(), 0, 'one page at first');
  for (let tries = 0; tries < 20 && (await first.count()) === 0; tries += 1) {
    await bob.page.locator('#messages').evaluate((list) => { list.scrollTop = 0; });
    await bob.page.waitForTimeout(200);
  }
  await bob.page.locator('.history-end').waitFor({ timeout: WAIT });
  const archived = await bob.page.locator('#messages .bubble').allTextContents();
  assert.deepEqual(archived, Array.from({ length: 45 }, (_, i) => `Archived note ${i + 1}`));

  // Presence: Bob closes the app; Alice sees him go offline.
  await bob.context.close();
  await alice.page.locator(`#room-members .presence-dot:not(.online)[data-presence="${bobId}"]`).waitFor({ timeout: WAIT });
  await alice.page.mouse.move(0, 0);
  await alice.page.screenshot({ path: `${SHOTS}/4-after-bob-left.png` });

  assert.deepEqual(alice.errors, []);
  assert.deepEqual(bob.errors, []);
  await alice.context.close();
});

test('a socket closed at its token\'s expiry subscribes again with a fresh token and misses nothing', async () => {
  const dave = await apiAs('dave');
  const { createUser } = await dave(`mutation { createUser(input: { username: "dave" }) { id } }`);
  // Carol's first tokens last 3 s, so her socket opens with one of those.
  const context = await browser.newContext({ viewport: { width: 1100, height: 720 } });
  await context.route('**/auth/token', (route) => route.continue({
    postData: JSON.stringify({ ...route.request().postDataJSON(), expiresIn: 3 }),
  }));
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(APP);
  await page.fill('#username', 'carol');
  await page.click('#signin-form button[type=submit]');
  await page.locator('#connection[data-state=connected]').waitFor({ timeout: WAIT });
  await context.unroute('**/auth/token');
  await startConversation(page, 'Night shift', 'dave');
  const room = await page.evaluate(() => window.chat.state.open.id);
  const post = (t) => dave(`mutation($c: ID!, $t: String!) { createMessage(input: { messageConversationId: $c, content: $t }) { id } }`, { c: room, t });
  await post('Before it expires');
  await message(page, 'Before it expires').waitFor({ timeout: WAIT });

  // Past the token's expiry and the server's 5 s of skew, the server
  // closes the socket (4401); the app subscribes again with a fresh token.
  await page.waitForTimeout((3 + 5 + 1) * 1000);
  await post('While it reconnects');
  await page.locator('#connection[data-state=connected]').waitFor({ timeout: WAIT });
  await message(page, 'While it reconnects').waitFor({ timeout: WAIT });
  // Live delivery goes on over the new socket.
  await post('Still live');
  await message(page, 'Still live').waitFor({ timeout: WAIT });
  const texts = await page.locator('#messages .bubble').allTextContents();
  assert.deepEqual(texts, ['Before it expires', 'While it reconnects', 'Still live']);
  assert.ok(createUser.id);
  assert.deepEqual(errors, []);
  await context.close();
});

/** A JPEG photo drawn in `page` (a sunset over the sea), as a File. */
async function photoIn(page, name, width, height) {
  return page.evaluateHandle(async ([name, width, height]) => {
    const canvas = document.createElement('canvas');
    canvas.width = width;
    canvas.height = height;
    const g = canvas.getContext('2d');
    const sky = g.createLinearGradient(0, 0, 0, height);
    sky.addColorStop(0, '#1e3c72');
    sky.addColorStop(0.6, '#f8a35b');
    sky.addColorStop(1, '#16507a');
    g.fillStyle = sky;
    g.fillRect(0, 0, width, height);
    g.fillStyle = '#ffd86b';
    g.beginPath();
    g.arc(width / 2, height * 0.62, height / 8, 0, Math.PI * 2);
    g.fill();
    const blob = await new Promise((resolve) => canvas.toBlob(resolve, 'image/jpeg', 0.9));
    const transfer = new DataTransfer();
    transfer.items.add(new File([blob], name, { type: 'image/jpeg' }));
    return transfer;
  }, [name, width, height]);
}

test('photos and files: dropped, pasted and picked, uploaded with progress, arriving live as thumbnails that open full size; a file that cannot go says why', async () => {
  // Ben signs up after Ann: her people picker reads who is here when it opens.
  const ann = await signIn('ann');
  const ben = await signIn('ben');
  await startConversation(ann.page, 'Holiday', 'ben');
  await conversation(ben.page, 'Holiday').click();
  await ben.page.locator('#room-name', { hasText: 'Holiday' }).waitFor({ timeout: WAIT });

  // Dropped on the conversation: uploaded straight to the bucket.
  // The bucket is held back a moment, as a phone's network would, so the
  // progress bar shows.
  await ann.context.route('**/uploads/**', async (route) => {
    await new Promise((resolve) => setTimeout(resolve, 800));
    await route.continue();
  });
  const dropped = await photoIn(ann.page, 'sunset.jpg', 800, 600);
  await ann.page.dispatchEvent('#conversation', 'drop', { dataTransfer: dropped });
  await ann.page.locator('.tray-item.uploading progress[aria-label="Uploading sunset.jpg"]').waitFor({ timeout: WAIT });
  await ann.page.locator('.tray-item.ready', { hasText: 'sunset.jpg' }).waitFor({ timeout: WAIT });
  await ann.context.unroute('**/uploads/**');
  await ann.page.fill('#message-input', 'Look at this');
  await ann.page.press('#message-input', 'Enter');

  // Ben sees it arrive live: the thumbnail, once processed.
  const thumb = ben.page.locator('#messages .message', { hasText: 'Look at this' }).locator('.thumb img');
  await thumb.waitFor({ timeout: WAIT });
  await ben.page.waitForFunction(
    () => [...document.querySelectorAll('#messages .thumb img')].some((i) => i.complete && i.naturalWidth > 0),
    null, { timeout: WAIT },
  );
  const size = await thumb.evaluate((img) => [img.naturalWidth, img.naturalHeight]);
  assert.deepEqual(size, [320, 240], 'a thumbnail 320 px on its longer side');
  await ben.page.mouse.move(0, 0);
  await ben.page.screenshot({ path: `${SHOTS}/6-photo.png` });

  // The full photo opens in the viewer.
  await thumb.click();
  await ben.page.waitForFunction(() => {
    const img = document.getElementById('viewer-img');
    return document.getElementById('viewer').open && img.complete && img.naturalWidth > 0;
  }, null, { timeout: WAIT });
  assert.deepEqual(await ben.page.locator('#viewer-img').evaluate((img) => [img.naturalWidth, img.naturalHeight]), [800, 600]);
  await ben.page.screenshot({ path: `${SHOTS}/7-photo-full.png` });
  await ben.page.click('#viewer button');

  // Pasted into the composer, sent with no text.
  const pasted = await photoIn(ann.page, 'pasted.jpg', 300, 400);
  await ann.page.evaluate((transfer) => {
    document.getElementById('message-input').dispatchEvent(new ClipboardEvent('paste', { clipboardData: transfer, bubbles: true, cancelable: true }));
  }, pasted);
  await ann.page.locator('.tray-item.ready', { hasText: 'pasted.jpg' }).waitFor({ timeout: WAIT });
  await ann.page.click('#composer button[type=submit]');
  await ben.page.waitForFunction(
    () => document.querySelectorAll('#messages .thumb img').length === 2,
    null, { timeout: WAIT },
  );
  await ben.page.locator('#inbox li', { hasText: 'Holiday' }).locator('.last', { hasText: 'Photo' }).waitFor({ timeout: WAIT });

  // An upload the network loses says so, and Retry sends it again.
  await ann.context.route('**/uploads/**', (route) => route.abort('connectionfailed'));
  await ann.page.setInputFiles('#file-input', {
    name: 'menu.pdf', mimeType: 'application/pdf', buffer: Buffer.from('%PDF-1.4\n%%EOF\n'),
  });
  const lost = ann.page.locator('.tray-item.failed', { hasText: 'menu.pdf' });
  await lost.locator('.error', { hasText: 'no connection' }).waitFor({ timeout: WAIT });
  await ann.context.unroute('**/uploads/**');
  await lost.locator('button', { hasText: 'Retry' }).click();
  await ann.page.locator('.tray-item.ready', { hasText: 'menu.pdf' }).waitFor({ timeout: WAIT });
  await ann.page.click('.tray-item.ready button[aria-label="Remove menu.pdf"]');

  // Picked with the button: a PDF, shown as a file card.
  await ann.page.setInputFiles('#file-input', {
    name: 'tickets.pdf', mimeType: 'application/pdf',
    buffer: Buffer.from('%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n'),
  });
  await ann.page.locator('.tray-item.ready', { hasText: 'tickets.pdf' }).waitFor({ timeout: WAIT });
  await ann.page.click('#composer button[type=submit]');
  const card = ben.page.locator('#messages a.file-card', { hasText: 'tickets.pdf' });
  await card.waitFor({ timeout: WAIT });
  assert.equal(await card.getAttribute('download'), 'tickets.pdf');

  // A file that cannot be sent says why, and nothing is uploaded.
  await ann.page.setInputFiles('#file-input', { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('hello') });
  await ann.page.locator('.tray-item.failed', { hasText: 'cannot be sent' }).waitFor({ timeout: WAIT });
  await ann.page.click('.tray-item.failed button[aria-label="Remove notes.txt"]');
  assert.equal(await ann.page.locator('.tray-item').count(), 0);

  // An executable named photo.jpg is refused by the server: its reason shows.
  await ann.page.setInputFiles('#file-input', {
    name: 'photo.jpg', mimeType: 'image/jpeg', buffer: Buffer.from('MZ\x90\x00 this program cannot be run in DOS mode'),
  });
  await ann.page.locator('.tray-item.ready', { hasText: 'photo.jpg' }).waitFor({ timeout: WAIT });
  await ann.page.click('#composer button[type=submit]');
  const refused = ann.page.locator('#messages .message.failed');
  await refused.locator('.status', { hasText: /not sent: .*bytes are not image\/jpeg/ }).waitFor({ timeout: WAIT });
  assert.equal(await refused.locator('button', { hasText: 'Retry' }).count(), 0, 'sending again cannot fix it');
  await ann.page.mouse.move(0, 0);
  await ann.page.screenshot({ path: `${SHOTS}/8-files.png` });

  assert.deepEqual(ann.errors, []);
  assert.deepEqual(ben.errors, []);
  await ann.context.close();
  await ben.context.close();
});

test('a member reports a message and its author from their menus; a moderator reviews them, removes the message and dismisses the other, and the members see it go live', async () => {
  const cara = await signIn('cara');
  const dan = await signIn('dan');
  await startConversation(cara.page, 'Book club', 'dan');
  await send(cara.page, 'Chapter 3 tonight?');
  await conversation(dan.page, 'Book club').click();
  await dan.page.locator('#room-name', { hasText: 'Book club' }).waitFor({ timeout: WAIT });
  await message(dan.page, 'Chapter 3 tonight?').waitFor({ timeout: WAIT });
  await send(dan.page, 'Buy cheap followers at spam.example');

  // Cara reports Dan's message from its menu: a reason and a note.
  const spam = message(cara.page, 'Buy cheap followers');
  await spam.waitFor({ timeout: WAIT });
  await spam.hover();
  await spam.locator('button.report-message').click();
  await cara.page.locator('#report-dialog[open]').waitFor({ timeout: WAIT });
  assert.equal(await textOf(cara.page.locator('#report-quote')), 'Buy cheap followers at spam.example');
  await cara.page.selectOption('#report-reason', 'SPAM');
  await cara.page.fill('#report-note', 'He posts this everywhere');
  await cara.page.click('#report-form button[type=submit]');
  await cara.page.locator('#notice', { hasText: 'Reported' }).waitFor({ timeout: WAIT });
  assert.equal(await cara.page.locator('#report-dialog[open]').count(), 0);
  // Nobody but a moderator has the review.
  assert.equal(await cara.page.locator('#moderation-open').isVisible(), false);
  // Her own message has no Report button.
  assert.equal(await message(cara.page, 'Chapter 3 tonight?').locator('button.report-message').count(), 0);
  // Dan himself, from his name in the conversation's header.
  await cara.page.locator('#room-members button.member-name', { hasText: 'dan' }).click();
  await cara.page.locator('#report-dialog[open] #report-title', { hasText: 'Report dan' }).waitFor({ timeout: WAIT });
  await cara.page.selectOption('#report-reason', 'HARASSMENT');
  await cara.page.click('#report-form button[type=submit]');
  await cara.page.waitForFunction(() => !document.getElementById('report-dialog').open, null, { timeout: WAIT });

  // A moderator signs in, reads the report as Cara made it, and removes the message.
  const mod = await signIn('moddy', { moderator: true });
  await mod.page.click('#moderation-open');
  const report = mod.page.locator('#reports .report', { hasText: 'Buy cheap followers' });
  await report.waitFor({ timeout: WAIT });
  assert.match(await textOf(report), /A message by dan · 1 report/);
  assert.match(await textOf(report), /Spam: “He posts this everywhere”/);
  await mod.page.screenshot({ path: `${SHOTS}/9-moderation.png` });
  await report.locator('button', { hasText: 'Remove message' }).click();
  await mod.page.locator('#notice', { hasText: 'Message removed' }).waitFor({ timeout: WAIT });
  // Left, once the list is read again: the report of Dan himself, which
  // the moderator dismisses.
  await mod.page.waitForFunction(() => document.querySelectorAll('#reports .report').length === 1, null, { timeout: WAIT });
  const user = mod.page.locator('#reports .report', { hasText: 'The user dan' });
  await user.waitFor({ timeout: WAIT });
  assert.match(await textOf(user), /Harassment or bullying/);
  await user.locator('button', { hasText: 'Dismiss' }).click();
  await mod.page.waitForFunction(() => document.querySelectorAll('#reports .report').length === 0, null, { timeout: WAIT });

  // Both members see it go, live, and why.
  for (const who of [cara, dan]) {
    await who.page.locator('#messages .message.deleted .bubble', { hasText: 'Removed by a moderator' }).waitFor({ timeout: WAIT });
    await conversation(who.page, 'Book club').locator('.last', { hasText: 'Removed by a moderator' }).waitFor({ timeout: WAIT });
    assert.equal(await who.page.getByText('Buy cheap followers').count(), 0, 'gone from the page');
  }
  await cara.page.screenshot({ path: `${SHOTS}/10-removed.png` });
  for (const who of [cara, dan, mod]) assert.deepEqual(who.errors, []);
  for (const who of [cara, dan, mod]) await who.context.close();
});

test('a member blocks an author and no longer sees them; a moderator bans him from a report, his session ends at once, and an unblock brings his messages back', async () => {
  const eve = await signIn('eve');
  const finn = await signIn('finn');
  const gus = await signIn('gus');
  // A group of three, seeded over the API; the UI shows it.
  const asEve = await apiAs('eve');
  const { listUsers } = await asEve('{ listUsers(limit: 100) { items { id username } } }');
  const idOf = (name) => listUsers.items.find((u) => u.username === name).id;
  const { createConvo } = await asEve('mutation($m: [String!]!) { createConvo(input: {name: "Hikers", members: $m}) { id } }', { m: [idOf('finn'), idOf('gus')] });
  for (const who of [eve, finn, gus]) {
    await conversation(who.page, 'Hikers').click();
    await who.page.locator('#room-name', { hasText: 'Hikers' }).waitFor({ timeout: WAIT });
  }
  await send(finn.page, 'You are all idiots');
  await message(eve.page, 'You are all idiots').waitFor({ timeout: WAIT });

  // Eve reports the message, then blocks Finn from its menu: his messages
  // leave her page, and what he posts next never reaches it.
  const rude = message(eve.page, 'You are all idiots');
  await rude.hover();
  await rude.locator('button.report-message').click();
  await eve.page.selectOption('#report-reason', 'HARASSMENT');
  await eve.page.click('#report-form button[type=submit]');
  await eve.page.locator('#notice', { hasText: 'Reported' }).waitFor({ timeout: WAIT });
  await rude.hover();
  await rude.locator('button.block-user').click();
  await eve.page.locator('#notice', { hasText: 'You blocked finn' }).waitFor({ timeout: WAIT });
  await message(eve.page, 'You are all idiots').waitFor({ state: 'detached', timeout: WAIT });
  await send(finn.page, 'Still here');
  await message(gus.page, 'Still here').waitFor({ timeout: WAIT });
  await send(gus.page, 'Anyone up for Saturday?');
  await message(eve.page, 'Anyone up for Saturday?').waitFor({ timeout: WAIT });
  assert.equal(await message(eve.page, 'Still here').count(), 0, 'a blocked author never reaches the blocker');
  assert.equal(await message(eve.page, 'You are all idiots').count(), 0);
  // Finn is not told: he still sees the conversation as before.
  await message(finn.page, 'Anyone up for Saturday?').waitFor({ timeout: WAIT });

  // A moderator bans Finn from Eve's report: the first press asks, the second bans.
  const mod = await signIn('moira', { moderator: true });
  await mod.page.click('#moderation-open');
  const report = mod.page.locator('#reports .report', { hasText: 'You are all idiots' });
  await report.waitFor({ timeout: WAIT });
  await report.locator('button.ban').click();
  await report.locator('button.ban', { hasText: 'Confirm: ban finn' }).waitFor({ timeout: WAIT });
  await mod.page.screenshot({ path: `${SHOTS}/11-ban.png` });
  await report.locator('button.ban').click();
  await mod.page.locator('#notice', { hasText: 'finn is banned' }).waitFor({ timeout: WAIT });
  await mod.page.waitForFunction(() => document.querySelectorAll('#reports .report').length === 0, null, { timeout: WAIT });

  // Finn's session ends at once: his socket is closed and the app says why.
  await finn.page.locator('#barred:not([hidden])', { hasText: 'banned' }).waitFor({ timeout: WAIT });
  await finn.page.screenshot({ path: `${SHOTS}/12-banned.png` });
  // And a new sign-in under the same name changes nothing.
  const again = await finn.context.newPage();
  await again.goto(APP);
  await again.fill('#username', 'finn');
  await again.click('#signin-form button[type=submit]');
  await again.locator('#barred:not([hidden])', { hasText: 'banned' }).waitFor({ timeout: WAIT });

  // Eve unblocks him from his name in the header: his messages come back.
  await eve.page.locator('#room-members button.member-name', { hasText: 'finn' }).click();
  await eve.page.locator('#report-block', { hasText: 'Unblock finn' }).click();
  await eve.page.locator('#notice', { hasText: 'You unblocked finn' }).waitFor({ timeout: WAIT });
  await message(eve.page, 'Still here').waitFor({ timeout: WAIT });
  await message(eve.page, 'You are all idiots').waitFor({ timeout: WAIT });
  for (const who of [eve, gus, mod]) assert.deepEqual(who.errors, []);
  for (const who of [eve, finn, gus, mod]) await who.context.close();
});

test('a conversation started with me while my sign-in is still subscribing shows in my inbox', async () => {
  // Hana's socket is slow: what she sends after subscribing to her new
  // conversations waits until the test lets it through, in order, as a
  // congested link would hold it.
  const context = await browser.newContext({ viewport: { width: 1100, height: 720 } });
  let release;
  const released = new Promise((r) => { release = r; });
  let held = false;
  let subscribing;
  const subscribed = new Promise((r) => { subscribing = r; });
  await context.routeWebSocket(/:\d+\/?$/, (ws) => {
    const server = ws.connectToServer();
    let chain = Promise.resolve();
    ws.onMessage((frame) => {
      if (String(frame).includes('onCreateConvoLink')) {
        held = true;
        subscribing();
      }
      if (!held) return server.send(frame);
      chain = chain.then(() => released).then(() => server.send(frame));
    });
  });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(APP);
  await page.fill('#username', 'hana');
  const inboxRead = page.waitForResponse((res) => res.url().endsWith('/graphql') && /query Inbox/.test(res.request().postData() ?? ''));
  await page.click('#signin-form button[type=submit]');
  await page.locator('#me-name', { hasText: 'hana' }).waitFor({ timeout: WAIT });
  await subscribed;
  // Her inbox has been read, empty; the server does not have her
  // subscription yet when Ivo starts a conversation with her.
  await inboxRead;
  const ivo = await apiAs('ivo');
  await ivo('mutation { createUser(input: { username: "ivo" }) { id } }');
  const { listUsers } = await ivo('{ listUsers(limit: 100) { items { id username } } }');
  const hana = listUsers.items.find((u) => u.username === 'hana').id;
  await ivo('mutation($m: [String!]!) { createConvo(input: {name: "Ferry times", members: $m}) { id } }', { m: [hana] });
  release();
  // Her subscription arrives after the conversation's notice went out; the
  // app reads the inbox again once the server has it.
  await conversation(page, 'Ferry times').waitFor({ timeout: WAIT });
  assert.deepEqual(errors, []);
  await context.close();
});

test('a front end served from another origin signs in and calls GraphQL, as it would call AppSync', async () => {
  // A page on another port: what Vite, Expo web or a query explorer serves.
  const server = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end('<!doctype html><title>Elsewhere</title>');
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    await page.goto(`http://127.0.0.1:${server.address().port}/`);
    const answer = await page.evaluate(async (app) => {
      const { token } = await (await fetch(new URL('auth/token', app), {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'elsewhere' }),
      })).json();
      const res = await fetch(new URL('graphql', app), {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: token },
        body: JSON.stringify({ query: 'mutation { createUser(input: {username: "elsewhere"}) { username } }' }),
      });
      return res.json();
    }, APP);
    assert.deepEqual(answer, { data: { createUser: { username: 'elsewhere' } } });
  } finally {
    await context.close();
    server.close();
  }
});

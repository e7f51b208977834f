// The query explorer at GET /graphql: GraphiQL, served from the pinned
// package under the same Content-Security-Policy as the app, signed in
// through the dev identity provider, running a query as that user.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, APP, WAIT, SHOTS } from './session.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

test('GET /graphql is a query explorer: sign in, run a query, see the answer as that user', async () => {
  const username = `gia${Date.now()}`;
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    if (/Content[- ]Security[- ]Policy/i.test(m.text())) errors.push(m.text());
  });
  // The user exists, as after signing in to the app once.
  const { token } = await (await fetch(new URL('auth/token', APP), {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username }),
  })).json();
  await fetch(new URL('graphql', APP), {
    method: 'POST', headers: { 'content-type': 'application/json', authorization: token },
    body: JSON.stringify({ query: `mutation { createUser(input: { username: "${username}" }) { id } }` }),
  });

  const res = await page.goto(new URL('graphql', APP).href);
  assert.equal(res.status(), 200);
  assert.match(res.headers()['content-security-policy'], /frame-ancestors 'none'/);
  await page.fill('#explorer-username', username);
  await page.click('#explorer-signin button[type=submit]');
  await page.locator('.graphiql-container').waitFor({ timeout: WAIT });
  // The sign-in form gives way to the editor.
  assert.equal(await page.locator('#explorer-signin').isVisible(), false);
  await page.click('.graphiql-execute-button');
  await page.locator('.graphiql-response', { hasText: username }).waitFor({ timeout: WAIT });
  await page.screenshot({ path: `${SHOTS}/17-explorer.png` });
  assert.deepEqual(errors, []);
  await context.close();
});

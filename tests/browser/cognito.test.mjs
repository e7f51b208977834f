// The deployed sign-in path: Cognito's hosted UI with the authorization
// code flow and PKCE, the one-hour token renewed with the refresh token, a
// refused refresh sending the user through the hosted UI again, and
// sign-out ending Cognito's session too. Cognito's endpoints
// (/oauth2/authorize, /oauth2/token, /logout) are stood in for inside the
// browser, on the app's own origin so the page's Content-Security-Policy
// holds unchanged, and check what Cognito checks: the client, the
// redirect, the code, the PKCE verifier against its challenge, and the
// refresh token. The tokens they hand out are real ones from the local
// identity provider, so the gateway accepts them.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { launch, APP, WAIT, message } from './session.mjs';

const CLIENT_ID = 'chat-web-client';
const DOMAIN = new URL('fake-cognito', APP).href;

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

async function devToken(username, expiresIn) {
  const res = await fetch(new URL('auth/token', APP), {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, expiresIn }),
  });
  assert.equal(res.status, 200);
  return (await res.json()).token;
}

const json = (route, status, body) => route.fulfill({ status, contentType: 'application/json', body: JSON.stringify(body) });

test('Cognito: the code flow with PKCE signs in, the token is renewed with the refresh token before it lapses, a refused refresh signs in again, and sign-out ends the Cognito session', async () => {
  const username = `cora${Date.now()}`;
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    if (/Content[- ]Security[- ]Policy/i.test(m.text())) errors.push(m.text());
  });

  // What the stand-in saw, and what it does next.
  const seen = { authorize: [], codes: [], refreshes: [], logout: [] };
  let challenge = null;
  let nextCode = 0;
  let refreshOk = true;
  // Each token lasts 65 s: a minute before expiry the app renews, so the
  // next request after 5 s must come with a renewed one.
  const LIFETIME = 65;
  const issued = [];

  await page.route('**/config.json', async (route) => {
    const config = await (await route.fetch()).json();
    config.auth = { kind: 'cognito', domain: DOMAIN, clientId: CLIENT_ID };
    await json(route, 200, config);
  });
  await page.route(`${DOMAIN}/oauth2/authorize?*`, async (route) => {
    const q = new URL(route.request().url()).searchParams;
    seen.authorize.push(Object.fromEntries(q));
    assert.equal(q.get('client_id'), CLIENT_ID);
    assert.equal(q.get('response_type'), 'code');
    assert.equal(q.get('code_challenge_method'), 'S256');
    assert.equal(q.get('redirect_uri'), APP);
    challenge = q.get('code_challenge');
    const code = `code-${++nextCode}`;
    await route.fulfill({ status: 302, headers: { location: `${q.get('redirect_uri')}?code=${code}` } });
  });
  await page.route(`${DOMAIN}/oauth2/token`, async (route) => {
    const form = new URLSearchParams(route.request().postData());
    if (form.get('client_id') !== CLIENT_ID) return json(route, 400, { error: 'invalid_client' });
    if (form.get('grant_type') === 'authorization_code') {
      seen.codes.push(form.get('code'));
      const verifier = form.get('code_verifier') || '';
      const hashed = createHash('sha256').update(verifier).digest('base64url');
      if (form.get('code') !== `code-${nextCode}` || hashed !== challenge || form.get('redirect_uri') !== APP) {
        return json(route, 400, { error: 'invalid_grant' });
      }
      const token = await devToken(username, LIFETIME);
      issued.push(token);
      return json(route, 200, { id_token: token, access_token: 'unused', refresh_token: `refresh-${nextCode}`, expires_in: 3600, token_type: 'Bearer' });
    }
    if (form.get('grant_type') === 'refresh_token') {
      seen.refreshes.push(form.get('refresh_token'));
      if (!refreshOk || form.get('refresh_token') !== `refresh-${nextCode}`) return json(route, 400, { error: 'invalid_grant' });
      const token = await devToken(username, LIFETIME);
      issued.push(token);
      // Cognito's refresh answer has no new refresh token.
      return json(route, 200, { id_token: token, access_token: 'unused', expires_in: 3600, token_type: 'Bearer' });
    }
    return json(route, 400, { error: 'unsupported_grant_type' });
  });
  await page.route(`${DOMAIN}/logout?*`, async (route) => {
    seen.logout.push(Object.fromEntries(new URL(route.request().url()).searchParams));
    await route.fulfill({ status: 200, contentType: 'text/html', body: '<!doctype html><title>Signed out</title><p>Signed out' });
  });

  // Sign-in: to the hosted UI and back with a code, exchanged with the verifier.
  await page.goto(APP);
  await page.locator('#me-name', { hasText: username }).waitFor({ timeout: WAIT });
  await page.locator('#connection[data-state=connected]').waitFor({ timeout: WAIT });
  assert.equal(seen.authorize.length, 1);
  assert.deepEqual(seen.codes, ['code-1']);
  // The code does not stay in the address bar, nor the verifier in storage.
  assert.equal(new URL(page.url()).search, '');
  assert.equal(await page.evaluate(() => sessionStorage.getItem('pkce')), null);
  // The refresh token is kept in memory only.
  assert.equal(await page.evaluate(() => JSON.stringify({ ...sessionStorage, ...localStorage }).includes('refresh-1')), false);
  assert.equal(await page.evaluate(() => window.chat.state.token), issued[0]);

  // Past the renewal point, a send first renews the token, once.
  await page.waitForTimeout((LIFETIME - 60 + 1) * 1000);
  await page.click('#new-convo');
  await page.fill('#new-convo-name', 'Renewed');
  await page.click('#new-convo-form button[type=submit]');
  await page.locator('#room-name', { hasText: 'Renewed' }).waitFor({ timeout: WAIT });
  await page.fill('#message-input', 'sent with a renewed token');
  await page.press('#message-input', 'Enter');
  await message(page, 'sent with a renewed token').locator('.status', { hasText: /sent/ }).waitFor({ timeout: WAIT });
  assert.deepEqual(seen.refreshes, ['refresh-1']);
  assert.equal(await page.evaluate(() => window.chat.state.token), issued[1]);

  // A refused refresh (revoked, or past its 30 days) goes through the
  // hosted UI again, which answers at once while Cognito's own session lasts.
  refreshOk = false;
  await page.waitForTimeout((LIFETIME - 60 + 1) * 1000);
  await page.evaluate(() => document.querySelector('#message-input').focus());
  await page.fill('#message-input', 'after signing in again');
  await page.press('#message-input', 'Enter').catch(() => {});
  await page.waitForURL((url) => url.search === '' && seen.authorize.length === 2, { timeout: WAIT });
  await page.locator('#me-name', { hasText: username }).waitFor({ timeout: WAIT });
  await page.locator('#connection[data-state=connected]').waitFor({ timeout: WAIT });
  assert.deepEqual(seen.refreshes, ['refresh-1', 'refresh-1']);
  assert.deepEqual(seen.codes, ['code-1', 'code-2']);
  assert.equal(await page.evaluate(() => window.chat.state.token), issued[2]);
  // The first message is still there for the same user.
  await page.locator('#inbox li', { hasText: 'Renewed' }).click();
  await message(page, 'sent with a renewed token').waitFor({ timeout: WAIT });

  // Sign-out ends Cognito's session too, and comes back to the app.
  await page.click('#sign-out');
  await page.waitForURL(`${DOMAIN}/logout?**`, { timeout: WAIT });
  assert.deepEqual(seen.logout, [{ client_id: CLIENT_ID, logout_uri: APP }]);
  assert.deepEqual(errors, []);
  await context.close();
});

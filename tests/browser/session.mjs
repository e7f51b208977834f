// What the browser tests share: the browser, signing in, seeding over the
// API, and finding conversations and messages on a page.

import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

export const APP = process.env.CHAT_APP ?? 'http://127.0.0.1:4000/';
export const SHOTS = process.env.SCREENSHOTS ?? '.';
export const WAIT = 10_000;

let browser;
export async function launch() {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox'],
  });
  return browser;
}

/** A user signed in, in a browser context of their own. `errors` gathers
 * the page's uncaught errors and anything the Content-Security-Policy
 * refused. */
export async function signIn(username, { moderator = false, viewport = { width: 1100, height: 720 }, touch = false } = {}) {
  const context = await browser.newContext({ viewport, hasTouch: touch, isMobile: touch });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    if (/Content[- ]Security[- ]Policy/i.test(m.text())) errors.push(m.text());
  });
  await page.goto(APP);
  await page.fill('#username', username);
  if (moderator) await page.check('#as-moderator');
  await page.click('#signin-form button[type=submit]');
  await page.locator('#me-name', { hasText: username }).waitFor({ timeout: WAIT });
  await page.locator('#connection[data-state=connected]').waitFor({ timeout: WAIT });
  return { page, context, errors };
}

/** GraphQL over HTTP as `username`, for seeding what the UI then shows. */
export async function apiAs(username) {
  const { token } = await (await fetch(new URL('auth/token', APP), {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username }),
  })).json();
  return async (query, variables) => {
    const res = await fetch(new URL('graphql', APP), {
      method: 'POST', headers: { 'content-type': 'application/json', authorization: token },
      body: JSON.stringify({ query, variables }),
    });
    const body = await res.json();
    assert.equal(body.errors, undefined, JSON.stringify(body.errors));
    return body.data;
  };
}

export const conversation = (page, name) => page.locator('#inbox li', { hasText: name });
export const message = (page, text) => page.locator('#messages .message', { hasText: text });

export async function startConversation(page, name, withUser) {
  await page.click('#new-convo');
  await page.fill('#new-convo-name', name);
  await page.check(`#new-convo-people input[data-username="${withUser}"]`);
  await page.click('#new-convo-form button[type=submit]');
  await page.locator('#room-name', { hasText: name }).waitFor({ timeout: WAIT });
}

export async function send(page, text) {
  await page.fill('#message-input', text);
  await page.press('#message-input', 'Enter');
  await message(page, text).locator('.status', { hasText: /sent|seen/ }).waitFor({ timeout: WAIT });
}

export async function textOf(locator) {
  return (await locator.textContent({ timeout: WAIT })).trim();
}


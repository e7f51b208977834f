// Signing in, and a token for every request. Locally the dev identity
// provider hands a token out for a username; deployed, Cognito's hosted UI
// signs in with the authorization code flow and PKCE (a public client).
// Where each token is kept, and why: docs/WEB-CLIENT.md, "Where the token is kept".

import { state } from './state.js';
import { claimsOf, tokenExpiresSoon } from './format.js';

export async function devToken(username, groups = state.groups) {
  const res = await fetch(state.config.auth.tokenUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, groups }),
  });
  if (!res.ok) throw new Error((await res.json().catch(() => ({}))).message || `sign-in failed (${res.status})`);
  return (await res.json()).token;
}

const base64url = (bytes) => btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');

/** Signs in through Cognito: back from its page with a code, exchanges it
 * for tokens; otherwise goes there (and never resolves). */
export async function cognitoSignIn() {
  const { domain, clientId } = state.config.auth;
  const redirect = location.origin + location.pathname;
  const params = new URLSearchParams(location.search);
  if (params.has('code')) {
    const body = new URLSearchParams({
      grant_type: 'authorization_code', client_id: clientId, code: params.get('code'),
      redirect_uri: redirect, code_verifier: sessionStorage.getItem('pkce') || '',
    });
    sessionStorage.removeItem('pkce');
    history.replaceState(null, '', redirect);
    const res = await fetch(`${domain}/oauth2/token`, { method: 'POST', body });
    if (!res.ok) throw new Error(`sign-in failed: ${(await res.json().catch(() => ({}))).error || res.status}`);
    const tokens = await res.json();
    // The refresh token stays in memory only: a reload signs in again
    // through Cognito's page (its own session cookie makes that one hop).
    state.refreshToken = tokens.refresh_token;
    return { token: tokens.id_token, username: claimsOf(tokens.id_token)['cognito:username'] };
  }
  const verifier = base64url(crypto.getRandomValues(new Uint8Array(32)));
  sessionStorage.setItem('pkce', verifier);
  const challenge = base64url(new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier))));
  location.assign(`${domain}/oauth2/authorize?` + new URLSearchParams({
    response_type: 'code', client_id: clientId, redirect_uri: redirect, scope: 'openid profile',
    code_challenge_method: 'S256', code_challenge: challenge,
  }));
  return new Promise(() => {});
}

let renewing = null;

/** A token for the next request or connection, renewed a minute before it
 * expires: the dev provider hands a new one out for the asking; Cognito's
 * token endpoint exchanges the refresh token for one. Requests that ask at
 * once share one renewal. */
export async function freshToken() {
  if (!tokenExpiresSoon(state.token)) return state.token;
  renewing ??= renew().finally(() => { renewing = null; });
  return renewing;
}

async function renew() {
  if (state.config.auth.kind === 'dev') {
    state.token = await devToken(state.username);
    sessionStorage.setItem('token', state.token);
    return state.token;
  }
  const { domain, clientId } = state.config.auth;
  if (state.refreshToken) {
    const body = new URLSearchParams({ grant_type: 'refresh_token', client_id: clientId, refresh_token: state.refreshToken });
    const res = await fetch(`${domain}/oauth2/token`, { method: 'POST', body }).catch(() => null);
    if (res?.ok) {
      state.token = (await res.json()).id_token;
      return state.token;
    }
    // Refused (revoked, or past its lifetime): sign in again. A network
    // failure keeps the old token, and the request says why it failed.
    if (!res) return state.token;
  }
  return cognitoSignIn();
}

/** Ends the session with the provider: Cognito's own session too. */
export function signOutOfProvider() {
  sessionStorage.clear();
  if (state.config.auth.kind === 'cognito') {
    const { domain, clientId } = state.config.auth;
    location.assign(`${domain}/logout?client_id=${encodeURIComponent(clientId)}&logout_uri=${encodeURIComponent(location.origin + location.pathname)}`);
    return;
  }
  location.reload();
}

export function isModerator() {
  try {
    return (claimsOf(state.token)['cognito:groups'] || []).includes('moderators');
  } catch {
    return false;
  }
}

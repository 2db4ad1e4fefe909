#!/usr/bin/env node
// Self-check for mock-idp.mjs: spawns it exactly as the Rust tests do, runs
// the authorization-code flows of every provider against it, exercises the
// hooks and the request log, and checks that it exits on stdin EOF and on
// SIGTERM. Prints one line per check, then "selfcheck: N passed, M failed";
// exits non-zero if anything failed.
//
//   node gateway/tests/idp/selfcheck.mjs      (or `npm test` in this folder)

import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import * as jose from 'jose';

const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'mock-idp.mjs');
const CALLBACK = 'http://127.0.0.1:9/callback'; // never contacted: redirects are not followed

let passed = 0;
let failed = 0;
function check(name, condition, detail) {
  if (condition) {
    passed += 1;
    console.log(`ok - ${name}`);
  } else {
    failed += 1;
    console.log(`not ok - ${name}${detail === undefined ? '' : `: ${JSON.stringify(detail)}`}`);
  }
}

// ---------------------------------------------------------------------------
// Child process
// ---------------------------------------------------------------------------

/** Spawn mock-idp.mjs; resolve with {child, info, extraStdout} once the JSON line is in. */
function startMock() {
  const child = spawn(process.execPath, [SCRIPT], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout });
  const extraStdout = [];
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`mock-idp exited early with ${code}`)));
    let first = true;
    lines.on('line', (line) => {
      if (!first) return extraStdout.push(line);
      first = false;
      resolve({ child, info: JSON.parse(line), extraStdout });
    });
  });
}

function waitForExit(child, ms) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve(true);
    const timer = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

// ---------------------------------------------------------------------------
// HTTP helpers
// ---------------------------------------------------------------------------

let CONTROL;
async function control(method, path, body) {
  const res = await fetch(CONTROL + path, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return res.json();
}

function pkcePair() {
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  return { verifier, challenge };
}

/** GET the authorize endpoint, do not follow the redirect; return the Location as a URL. */
async function authorize(endpoint, params) {
  const res = await fetch(`${endpoint}?${new URLSearchParams(params)}`, { redirect: 'manual' });
  const location = res.headers.get('location');
  return { status: res.status, location: location ? new URL(location) : null };
}

/** POST a urlencoded token request; `basic` = [id, secret] for client_secret_basic. */
async function tokenRequest(endpoint, form, { basic, signal } = {}) {
  const headers = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
  if (basic) headers.authorization = `Basic ${Buffer.from(basic.join(':')).toString('base64')}`;
  const fields = Object.entries(form).filter(([, value]) => value !== undefined); // undefined = leave out
  const res = await fetch(endpoint, { method: 'POST', headers, body: new URLSearchParams(fields), signal });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text };
}

/** GET without the User-Agent that fetch always adds. */
function getWithoutUserAgent(url, headers) {
  return new Promise((resolve, reject) => {
    http.get(url, { headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    }).on('error', reject);
  });
}

/**
 * Full OIDC code flow with PKCE S256 and a nonce. Returns the authorize
 * redirect, the token response and the values that were sent.
 */
async function oidcFlow(discovery, { clientId, clientSecret, auth = 'basic', tokenForm = {} }) {
  const { verifier, challenge } = pkcePair();
  const nonce = randomBytes(12).toString('base64url');
  const state = randomBytes(12).toString('base64url');
  const redirect = await authorize(discovery.authorization_endpoint, {
    response_type: 'code',
    client_id: clientId,
    redirect_uri: CALLBACK,
    scope: 'openid email profile',
    state,
    nonce,
    code_challenge: challenge,
    code_challenge_method: 'S256',
  });
  const code = redirect.location?.searchParams.get('code');
  const form = { grant_type: 'authorization_code', code, redirect_uri: CALLBACK, code_verifier: verifier, ...tokenForm };
  if (auth === 'post') Object.assign(form, { client_id: clientId, client_secret: clientSecret });
  const token = await tokenRequest(discovery.token_endpoint, form, {
    basic: auth === 'basic' ? [clientId, clientSecret] : undefined,
  });
  return { redirect, code, state, nonce, verifier, token };
}

async function getDiscovery(url) {
  const res = await fetch(url);
  return res.json();
}

async function verifyIdToken(idToken, discovery, clientId) {
  const jwks = jose.createRemoteJWKSet(new URL(discovery.jwks_uri));
  return jose.jwtVerify(idToken, jwks, { issuer: discovery.issuer, audience: clientId });
}

async function rejects(promise) {
  try {
    await promise;
    return null;
  } catch (err) {
    return err;
  }
}

// ---------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------

async function checkStartup(info) {
  const keys = ['control', 'google', 'azure', 'apple', 'github', 'discord', 'apple_p8', 'apple_key_id', 'apple_team_id'];
  check('startup line has every key', keys.every((k) => typeof info[k] === 'string'), Object.keys(info));
  check(
    'every base URL is http://127.0.0.1:<port>',
    keys.slice(0, 6).every((k) => /^http:\/\/127\.0\.0\.1:\d+$/.test(info[k])),
  );
  const p8 = await rejects(jose.importPKCS8(info.apple_p8, 'ES256'));
  check('apple_p8 is a PKCS#8 P-256 private key', p8 === null && info.apple_p8.startsWith('-----BEGIN PRIVATE KEY-----'), p8?.message);
}

async function checkGoogle(info) {
  const discovery = await getDiscovery(`${info.google}/.well-known/openid-configuration`);
  check('google discovery issuer = base URL', discovery.issuer === info.google, discovery.issuer);
  check('google discovery endpoints are the mock\'s', discovery.token_endpoint === `${info.google}/token` && discovery.jwks_uri === `${info.google}/jwks`);

  const flow = await oidcFlow(discovery, { clientId: 'google-client', clientSecret: 'google-secret' });
  check('google authorize answers 302', flow.redirect.status === 302, flow.redirect.status);
  check('google redirect goes to redirect_uri with code and state',
    flow.redirect.location?.origin + flow.redirect.location?.pathname === CALLBACK && !!flow.code &&
      flow.redirect.location.searchParams.get('state') === flow.state, String(flow.redirect.location));
  check('google token (client_secret_basic + PKCE) answers 200', flow.token.status === 200, flow.token.json);
  const verified = await rejects(verifyIdToken(flow.token.json?.id_token, discovery, 'google-client'));
  check('google id_token verifies against jwks_uri (iss, aud)', verified === null, verified?.message);
  const { payload, protectedHeader } = await verifyIdToken(flow.token.json.id_token, discovery, 'google-client');
  check('google id_token alg RS256', protectedHeader.alg === 'RS256', protectedHeader);
  check('google id_token nonce = authorize nonce', payload.nonce === flow.nonce, payload);
  check('google id_token default claims', payload.sub === 'sub-ada' && payload.email === 'ada@example.test' && payload.email_verified === true, payload);
  check('google id_token exp = iat + 1 h', payload.exp - payload.iat === 3600, payload);

  const viaControl = await control('POST', '/verify-jwt', {
    token: flow.token.json.id_token, jwks_url: discovery.jwks_uri, issuer: discovery.issuer, audience: 'google-client',
  });
  check('/verify-jwt accepts a good token', viaControl.ok === true && viaControl.payload.nonce === flow.nonce, viaControl);
  const wrongAud = await control('POST', '/verify-jwt', { token: flow.token.json.id_token, jwks_url: discovery.jwks_uri, audience: 'other' });
  check('/verify-jwt rejects a wrong audience', wrongAud.ok === false && /aud/.test(wrongAud.error), wrongAud);

  // Code ledger and PKCE.
  const reuse = await tokenRequest(discovery.token_endpoint,
    { grant_type: 'authorization_code', code: flow.code, redirect_uri: CALLBACK, code_verifier: flow.verifier },
    { basic: ['google-client', 'google-secret'] });
  check('reused code -> 400 invalid_grant', reuse.status === 400 && reuse.json?.error === 'invalid_grant', reuse.json);
  const unknown = await tokenRequest(discovery.token_endpoint, { grant_type: 'authorization_code', code: 'made-up', redirect_uri: CALLBACK, client_id: 'google-client' });
  check('unknown code -> 400 invalid_grant', unknown.status === 400 && unknown.json?.error === 'invalid_grant', unknown.json);
  const wrongVerifier = await oidcFlow(discovery, { clientId: 'google-client', clientSecret: 's', tokenForm: { code_verifier: pkcePair().verifier } });
  check('wrong code_verifier -> 400 (mock\'s own PKCE check)', wrongVerifier.token.status === 400, wrongVerifier.token.json);
  const noVerifier = await oidcFlow(discovery, { clientId: 'google-client', clientSecret: 's', tokenForm: { code_verifier: undefined } });
  check('missing code_verifier after a challenge -> 400 invalid_grant', noVerifier.token.status === 400 && noVerifier.token.json?.error === 'invalid_grant', noVerifier.token.json);
  const wrongRedirect = await oidcFlow(discovery, { clientId: 'google-client', clientSecret: 's', tokenForm: { redirect_uri: 'http://127.0.0.1:9/other' } });
  check('redirect_uri mismatch -> 400 invalid_grant', wrongRedirect.token.status === 400 && wrongRedirect.token.json?.error === 'invalid_grant', wrongRedirect.token.json);

  // Request log.
  const log = await control('GET', '/requests/google');
  const authReq = log.find((r) => r.method === 'GET' && r.path === '/authorize');
  const tokReq = log.find((r) => r.method === 'POST' && r.path === '/token');
  check('/requests records the authorize query', authReq?.query.nonce === flow.nonce && authReq.query.code_challenge_method === 'S256', authReq);
  check('/requests records the token form, headers and raw body',
    tokReq?.form.code === flow.code && tokReq.form.code_verifier === flow.verifier &&
      tokReq.headers.authorization?.startsWith('Basic ') && tokReq.body.includes('grant_type=authorization_code'), tokReq);
  check('/requests keeps arrival order', log[0].path === '/.well-known/openid-configuration' && log[1].path === '/authorize' && log[2].path === '/token', log.map((r) => r.path));
  return discovery;
}

async function checkHooks(info, discovery) {
  const flow = (extra) => oidcFlow(discovery, { clientId: 'google-client', clientSecret: 'google-secret', ...extra });

  await control('POST', '/hooks/google', { claims: { email: 'eve@example.test', email_verified: null, hd: 'example.test' } });
  let f = await flow();
  let { payload } = await verifyIdToken(f.token.json.id_token, discovery, 'google-client');
  check('claims hook overrides, adds and deletes (null) claims',
    payload.email === 'eve@example.test' && !('email_verified' in payload) && payload.hd === 'example.test' && payload.nonce === f.nonce, payload);

  await control('POST', '/hooks/google', { claims: { aud: 'someone-else', nonce: 'forged' } });
  f = await flow();
  payload = jose.decodeJwt(f.token.json.id_token);
  check('claims hook can override aud and nonce', payload.aud === 'someone-else' && payload.nonce === 'forged', payload);

  await control('POST', '/hooks/google', { header: { kid: 'nope' } });
  f = await flow();
  const kidHeader = jose.decodeProtectedHeader(f.token.json.id_token);
  const kidResult = await control('POST', '/verify-jwt', { token: f.token.json.id_token, jwks_url: discovery.jwks_uri });
  check('header hook sets kid, verification then fails', kidHeader.kid === 'nope' && kidResult.ok === false, { kidHeader, kidResult });

  await control('POST', '/hooks/google', { id_token: 'none' });
  f = await flow();
  const noneHeader = jose.decodeProtectedHeader(f.token.json.id_token);
  const nonePayload = jose.decodeJwt(f.token.json.id_token);
  const noneResult = await control('POST', '/verify-jwt', { token: f.token.json.id_token, jwks_url: discovery.jwks_uri });
  check('id_token "none": alg none, empty signature, normal payload',
    noneHeader.alg === 'none' && f.token.json.id_token.endsWith('.') && nonePayload.nonce === f.nonce && nonePayload.sub === 'sub-ada', { noneHeader, nonePayload });
  check('id_token "none" is rejected by jose', noneResult.ok === false, noneResult);

  await control('POST', '/hooks/google', { id_token: 'hs256_public_jwk' });
  f = await flow();
  const hsHeader = jose.decodeProtectedHeader(f.token.json.id_token);
  const jwks = await (await fetch(discovery.jwks_uri)).json();
  const hmacKey = new TextEncoder().encode(JSON.stringify(jwks.keys[0]));
  const hsVerified = await rejects(jose.jwtVerify(f.token.json.id_token, hmacKey, { algorithms: ['HS256'] }));
  const hsResult = await control('POST', '/verify-jwt', { token: f.token.json.id_token, jwks_url: discovery.jwks_uri });
  check('id_token "hs256_public_jwk": HS256 keyed with the public JWK JSON text', hsHeader.alg === 'HS256' && hsVerified === null, { hsHeader, err: hsVerified?.message });
  check('id_token "hs256_public_jwk" is rejected against the JWKS', hsResult.ok === false, hsResult);

  await control('POST', '/hooks/google', { token_response: { status: 400, json: { error: 'invalid_grant', error_description: 'hooked' } } });
  f = await flow();
  check('token_response status+json replaces the answer', f.token.status === 400 && f.token.json?.error_description === 'hooked', f.token);

  await control('POST', '/hooks/google', { token_response: { status: 200, raw: 'not json' } });
  f = await flow();
  check('token_response raw answers the raw text', f.token.status === 200 && f.token.text === 'not json', f.token.text);

  await control('POST', '/hooks/google', { token_response: { hang_ms: 1500 } });
  const started = Date.now();
  const hang = await rejects(tokenRequest(discovery.token_endpoint, { grant_type: 'authorization_code', code: 'x' }, { signal: AbortSignal.timeout(300) }));
  check('token_response hang_ms answers nothing in time', hang?.name === 'TimeoutError' && Date.now() - started < 1200, hang?.name);

  await control('POST', '/hooks/google', { authorize_error: 'access_denied' });
  const denied = await authorize(discovery.authorization_endpoint, {
    response_type: 'code', client_id: 'google-client', redirect_uri: CALLBACK, state: 'st-denied', nonce: 'n',
  });
  check('authorize_error redirects with error and state, no code',
    denied.status === 302 && denied.location.searchParams.get('error') === 'access_denied' &&
      denied.location.searchParams.get('state') === 'st-denied' && !denied.location.searchParams.has('code'), String(denied.location));

  const hooks = await control('GET', '/hooks/google');
  check('GET /hooks/<provider> shows the current hooks', hooks.authorize_error === 'access_denied', hooks);
  await control('POST', '/reset');
  const afterReset = await control('GET', '/requests/google');
  const hooksAfter = await control('GET', '/hooks/google');
  check('/reset clears requests and hooks', afterReset.length === 0 && Object.keys(hooksAfter).length === 0, { afterReset, hooksAfter });
  f = await flow();
  check('flows work normally after /reset', f.token.status === 200 && !!f.token.json.id_token);
}

async function checkAzure(info) {
  const tenant = '3f2504e0-4f89-41d3-9a0c-0305e82c3301';
  const discovery = await getDiscovery(`${info.azure}/${tenant}/v2.0/.well-known/openid-configuration`);
  check('azure GUID tenant discovery issuer = <base>/<tenant>/v2.0', discovery.issuer === `${info.azure}/${tenant}/v2.0`, discovery.issuer);
  check('azure discovery endpoints',
    discovery.authorization_endpoint === `${info.azure}/${tenant}/oauth2/v2.0/authorize` &&
      discovery.token_endpoint === `${info.azure}/${tenant}/oauth2/v2.0/token` &&
      discovery.jwks_uri === `${info.azure}/discovery/v2.0/keys`, discovery);
  const common = await getDiscovery(`${info.azure}/common/v2.0/.well-known/openid-configuration`);
  check('azure "common" discovery issuer is the {tenantid} template', common.issuer === `${info.azure}/{tenantid}/v2.0`, common.issuer);
  const rootDiscovery = await fetch(`${info.azure}/.well-known/openid-configuration`);
  check('azure has no root discovery (like Microsoft)', rootDiscovery.status === 404, rootDiscovery.status);

  // Default tid: the token is issued by the default tenant.
  const flow = await oidcFlow(discovery, { clientId: 'azure-client', clientSecret: 'azure-secret', auth: 'post' });
  check('azure token (client_secret_post + PKCE) answers 200', flow.token.status === 200, flow.token.json);
  const defaultIssuer = `${info.azure}/00000000-0000-0000-0000-0000000000aa/v2.0`;
  const verified = await rejects(verifyIdToken(flow.token.json.id_token, { ...discovery, issuer: defaultIssuer }, 'azure-client'));
  check('azure id_token verifies; iss = <base>/<default tid>/v2.0', verified === null, verified?.message);
  const payload = jose.decodeJwt(flow.token.json.id_token);
  check('azure id_token tid, nonce, aud', payload.tid === '00000000-0000-0000-0000-0000000000aa' && payload.nonce === flow.nonce && payload.aud === 'azure-client', payload);

  // tid hook: iss follows it and matches the tenant's discovery issuer.
  await control('POST', '/hooks/azure', { claims: { tid: tenant } });
  const hooked = await oidcFlow(common, { clientId: 'azure-client', clientSecret: 'azure-secret', auth: 'post' });
  const hookedCheck = await rejects(verifyIdToken(hooked.token.json.id_token, discovery, 'azure-client'));
  check('azure tid hook moves iss to <base>/<tid>/v2.0 (via the "common" endpoints)', hookedCheck === null, hookedCheck?.message);
  const log = await control('GET', '/requests/azure');
  check('azure requests are recorded with their tenant paths',
    log.some((r) => r.path === '/common/oauth2/v2.0/token' && r.form.client_secret === 'azure-secret'), log.map((r) => r.path));
}

async function checkApple(info) {
  const discovery = await getDiscovery(`${info.apple}/.well-known/openid-configuration`);
  check('apple discovery issuer = base URL, advertises ES256',
    discovery.issuer === info.apple && discovery.id_token_signing_alg_values_supported?.[0] === 'ES256', discovery);

  // The client secret Apple expects: an ES256 JWT signed with the .p8 key.
  const p8 = await jose.importPKCS8(info.apple_p8, 'ES256');
  const now = Math.floor(Date.now() / 1000);
  const clientSecret = await new jose.SignJWT({})
    .setProtectedHeader({ alg: 'ES256', kid: info.apple_key_id })
    .setIssuer(info.apple_team_id).setSubject('test.apple.client').setAudience('https://appleid.apple.com')
    .setIssuedAt(now).setExpirationTime(now + 300)
    .sign(p8);
  const flow = await oidcFlow(discovery, { clientId: 'test.apple.client', clientSecret, auth: 'post' });
  check('apple token answers 200', flow.token.status === 200, flow.token.json);
  const verified = await rejects(verifyIdToken(flow.token.json.id_token, discovery, 'test.apple.client'));
  check('apple id_token verifies (ES256, iss, aud)', verified === null, verified?.message);
  const header = jose.decodeProtectedHeader(flow.token.json.id_token);
  const payload = jose.decodeJwt(flow.token.json.id_token);
  check('apple id_token alg ES256, nonce, defaults', header.alg === 'ES256' && payload.nonce === flow.nonce && payload.email === 'ada@example.test', { header, payload });

  const log = await control('GET', '/requests/apple');
  const sent = log.find((r) => r.path === '/token')?.form.client_secret;
  const good = await control('POST', '/verify-apple-secret', { token: sent, audience: 'https://appleid.apple.com' });
  check('/verify-apple-secret accepts the recorded client secret',
    good.ok === true && good.header.kid === 'TESTKEY123' && good.payload.iss === 'TEAM123456' && good.payload.sub === 'test.apple.client', good);
  const otherKey = (await jose.generateKeyPair('ES256')).privateKey;
  const forged = await new jose.SignJWT({ iss: info.apple_team_id }).setProtectedHeader({ alg: 'ES256', kid: info.apple_key_id }).sign(otherKey);
  const bad = await control('POST', '/verify-apple-secret', { token: forged });
  check('/verify-apple-secret rejects a JWT signed with another key', bad.ok === false, bad);
}

async function checkGitHub(info) {
  const state = 'gh-state';
  // GitHub does not need response_type; the mock fills it in.
  const redirect = await authorize(`${info.github}/login/oauth/authorize`, {
    client_id: 'gh-client', redirect_uri: CALLBACK, scope: 'read:user user:email', state,
  });
  const code = redirect.location?.searchParams.get('code');
  check('github authorize redirects with code and state', redirect.status === 302 && !!code && redirect.location.searchParams.get('state') === state, String(redirect.location));
  const token = await tokenRequest(`${info.github}/login/oauth/access_token`,
    { client_id: 'gh-client', client_secret: 'gh-secret', code, redirect_uri: CALLBACK, grant_type: 'authorization_code' });
  check('github token answers 200 with an access_token and no id_token',
    token.status === 200 && typeof token.json?.access_token === 'string' && !('id_token' in token.json), token.json);
  const bearer = { authorization: `Bearer ${token.json.access_token}`, 'user-agent': 'selfcheck' };

  const noAuth = await fetch(`${info.github}/api/user`);
  check('github /api/user without a token -> 401', noAuth.status === 401, noAuth.status);
  const badAuth = await fetch(`${info.github}/api/user`, { headers: { authorization: 'Bearer not-issued' } });
  check('github /api/user with an unknown token -> 401', badAuth.status === 401, badAuth.status);
  const noUa = await getWithoutUserAgent(`${info.github}/api/user`, { authorization: bearer.authorization });
  check('github /api/user without User-Agent -> 403 (as GitHub does)', noUa === 403, noUa);
  const user = await (await fetch(`${info.github}/api/user`, { headers: bearer })).json();
  check('github /api/user default user', user.id === 4242 && user.login === 'ada' && user.email === null, user);
  const emails = await (await fetch(`${info.github}/api/user/emails`, { headers: { ...bearer, authorization: `token ${token.json.access_token}` } })).json();
  check('github /api/user/emails default emails ("token" scheme accepted)', emails[0]?.email === 'ada@example.test' && emails[0].primary && emails[0].verified, emails);

  await control('POST', '/hooks/github', { user: { id: 7, login: 'eve', name: null, email: 'eve@example.test' }, emails: [] });
  const hookedUser = await (await fetch(`${info.github}/api/user`, { headers: bearer })).json();
  const hookedEmails = await (await fetch(`${info.github}/api/user/emails`, { headers: bearer })).json();
  check('github user/emails hooks', hookedUser.login === 'eve' && Array.isArray(hookedEmails) && hookedEmails.length === 0, { hookedUser, hookedEmails });
  const discovery = await fetch(`${info.github}/.well-known/openid-configuration`);
  check('github has no OIDC discovery', discovery.status === 404, discovery.status);
}

async function checkDiscord(info) {
  const base = `${info.discord}/api`;
  const { verifier, challenge } = pkcePair();
  const redirect = await authorize(`${base}/oauth2/authorize`, {
    response_type: 'code', client_id: 'dc-client', redirect_uri: CALLBACK, scope: 'identify email', state: 'dc-state',
    code_challenge: challenge, code_challenge_method: 'S256',
  });
  const code = redirect.location?.searchParams.get('code');
  check('discord authorize redirects with code and state', redirect.status === 302 && !!code && redirect.location.searchParams.get('state') === 'dc-state', String(redirect.location));
  const token = await tokenRequest(`${base}/oauth2/token`,
    { grant_type: 'authorization_code', code, redirect_uri: CALLBACK, code_verifier: verifier },
    { basic: ['dc-client', 'dc-secret'] });
  check('discord token answers 200 without id_token', token.status === 200 && !!token.json?.access_token && !('id_token' in token.json), token.json);
  const noAuth = await fetch(`${base}/users/@me`);
  check('discord /api/users/@me without a token -> 401', noAuth.status === 401, noAuth.status);
  const me = await (await fetch(`${base}/users/@me`, { headers: { authorization: `Bearer ${token.json.access_token}` } })).json();
  check('discord /api/users/@me default user', me.id === '80351110224678912' && me.email === 'ada@example.test' && me.verified === true, me);
  await control('POST', '/hooks/discord', { user: { id: '1', username: 'eve', email: null, verified: false } });
  const hooked = await (await fetch(`${base}/users/@me`, { headers: { authorization: `Bearer ${token.json.access_token}` } })).json();
  check('discord user hook', hooked.username === 'eve' && hooked.verified === false, hooked);
}

// ---------------------------------------------------------------------------

async function main() {
  const { child, info, extraStdout } = await startMock();
  child.removeAllListeners('exit');
  CONTROL = info.control;
  try {
    await checkStartup(info);
    const googleDiscovery = await checkGoogle(info);
    await checkHooks(info, googleDiscovery);
    await checkAzure(info);
    await checkApple(info);
    await checkGitHub(info);
    await checkDiscord(info);
    check('nothing but the JSON line on stdout', extraStdout.length === 0, extraStdout);
  } catch (err) {
    check('no unexpected exception', false, String(err?.stack ?? err));
  } finally {
    child.stdin.end(); // EOF on the child's stdin
    check('mock-idp exits on stdin EOF', await waitForExit(child, 3000));
    if (child.exitCode === null) child.kill('SIGKILL');
  }

  const second = await startMock();
  second.child.removeAllListeners('exit');
  second.child.kill('SIGTERM');
  check('mock-idp exits on SIGTERM', await waitForExit(second.child, 3000));

  console.log(`selfcheck: ${passed} passed, ${failed} failed`);
  process.exitCode = failed === 0 ? 0 : 1;
}

main();

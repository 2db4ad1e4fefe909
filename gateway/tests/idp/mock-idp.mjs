#!/usr/bin/env node
// Mock identity providers for AuthGate's Rust integration tests.
//
// Spawned as `node gateway/tests/idp/mock-idp.mjs` (any cwd). It starts one
// real oauth2-mock-server (OAuth2Issuer + OAuth2Service, the two pieces its
// OAuth2Server class is made of) per provider, each behind a thin wrapper
// that records every request and maps provider-specific paths onto the
// mock's own endpoints, plus a JSON control server. Everything binds
// 127.0.0.1 on an OS-chosen port.
//
// stdout: exactly one JSON line, then nothing:
//   {"control","google","azure","apple","github","discord" (base URLs),
//    "apple_p8" (PKCS#8 P-256 PEM, the developer's .p8 key for Apple's
//    client-secret JWT), "apple_key_id", "apple_team_id"}
// Diagnostics go to stderr. The process exits when stdin reaches EOF (keep
// the pipe open while the test runs; MOCK_IDP_IGNORE_STDIN=1 turns this off
// for manual runs) and on SIGTERM / SIGINT.
//
// Provider paths (G = google/apple base, A = azure base, ...):
//   google, apple  GET  /.well-known/openid-configuration, /authorize, /jwks
//                  POST /token
//   azure          GET  /<tenant>/v2.0/.well-known/openid-configuration
//                  GET  /<tenant>/oauth2/v2.0/authorize
//                  POST /<tenant>/oauth2/v2.0/token
//                  GET  /discovery/v2.0/keys
//   github         GET  /login/oauth/authorize, POST /login/oauth/access_token
//                  GET  /api/user, /api/user/emails   (Bearer or `token` auth)
//   discord        GET  /api/oauth2/authorize, POST /api/oauth2/token
//                  GET  /api/users/@me                 (Bearer auth)
//
// Control server (JSON in, JSON out):
//   POST /reset                    clear all hooks and recorded requests
//   POST /hooks/<provider>         replace that provider's hooks:
//        {"claims":{...}            merged into ID-token payload, null deletes
//         "header":{...}            merged into ID-token JWT header, null deletes
//         "id_token":"none"|"hs256_public_jwk"
//         "token_response":{"status":N,"json":{..}} | {"status":N,"raw":"..",
//                           "content_type":".."} | {"hang_ms":N, ...}
//         "authorize_error":"access_denied"
//         "user":{...}, "emails":[...]}          (GitHub / Discord API answers)
//   GET  /hooks/<provider>         the current hooks
//   GET  /requests/<provider>      [{method,path,query,headers,form,body}, ...]
//   POST /verify-jwt               {token,jwks_url,issuer?,audience?}
//   POST /verify-apple-secret      {token,issuer?,audience?}
//        both answer {"ok":true,"header":{..},"payload":{..}} | {"ok":false,"error":".."}

import { createHmac } from 'node:crypto';
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import * as jose from 'jose';
import { OAuth2Issuer, OAuth2Service } from 'oauth2-mock-server';

const HOST = '127.0.0.1';

// stdout carries exactly one line (the addresses). Anything a library might
// console.log must not corrupt it.
console.log = console.info = console.debug = (...args) => console.error(...args);

const APPLE_KEY_ID = 'TESTKEY123';
const APPLE_TEAM_ID = 'TEAM123456';
const DEFAULT_AZURE_TID = '00000000-0000-0000-0000-0000000000aa';
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Claims every ID token gets unless a `claims` hook overrides them. */
const DEFAULT_ID_CLAIMS = { sub: 'sub-ada', email: 'ada@example.test', email_verified: true };
const DEFAULT_GITHUB_USER = { id: 4242, login: 'ada', name: 'Ada Lovelace', email: null };
const DEFAULT_GITHUB_EMAILS = [{ email: 'ada@example.test', primary: true, verified: true }];
const DEFAULT_DISCORD_USER = {
  id: '80351110224678912',
  username: 'ada',
  global_name: 'Ada',
  email: 'ada@example.test',
  verified: true,
};

// ---------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------

/** URLSearchParams -> plain object; a repeated key becomes an array (like body-parser). */
function paramsToObject(params) {
  const out = {};
  for (const [key, value] of params) {
    if (!(key in out)) out[key] = value;
    else if (Array.isArray(out[key])) out[key].push(value);
    else out[key] = [out[key], value];
  }
  return out;
}

/** Object.assign, except that a `null` value deletes the key. */
function mergeWithNullDeletes(target, patch) {
  if (!patch) return target;
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete target[key];
    else target[key] = value;
  }
  return target;
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function sendJson(res, status, body, headers = {}) {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
  res.end(JSON.stringify(body));
}

/** Client id of a token request as the mock sees it: Basic user name first, else form client_id. */
function tokenRequestClientId(headers, form) {
  const match = /^basic\s+(\S+)/i.exec(headers.authorization ?? '');
  if (match) {
    const decoded = Buffer.from(match[1], 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon >= 0) return decoded.slice(0, colon);
  }
  return form?.client_id;
}

function safeDecodeURIComponent(text) {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '));
  } catch {
    return text;
  }
}

const b64url = (text) => Buffer.from(text).toString('base64url');

// ---------------------------------------------------------------------------
// Providers
// ---------------------------------------------------------------------------

/**
 * One mocked provider: a real oauth2-mock-server issuer + service, served by
 * our own http server so that every request passes through `handle` first.
 */
class Provider {
  /**
   * @param {string} name
   * @param {{alg: string, oidc: boolean, endpoints?: object}} config
   *   endpoints: oauth2-mock-server endpoint path overrides.
   */
  constructor(name, { alg, oidc, endpoints = {} }) {
    this.name = name;
    this.alg = alg;
    this.oidc = oidc;
    this.issuer = new OAuth2Issuer();
    this.service = new OAuth2Service(this.issuer, endpoints);
    this.endpoints = {
      wellKnownDocument: '/.well-known/openid-configuration',
      token: '/token',
      authorize: '/authorize',
      jwks: '/jwks',
      ...endpoints,
    };
    this.hooks = {};
    this.requests = [];
    /** code -> {clientId, redirectUri, codeChallenge, used} from the authorize step */
    this.codes = new Map();
    /** access tokens this provider's token endpoint handed out (for the API bearer check) */
    this.accessTokens = new Set();
    this.server = http.createServer((req, res) => {
      this.handle(req, res).catch((err) => {
        console.error(`[mock-idp ${name}]`, err);
        if (!res.headersSent) sendJson(res, 500, { error: 'server_error', error_description: String(err) });
        else res.destroy();
      });
    });
    this.service.on('beforeAuthorizeRedirect', (redirect, req) => this.onAuthorizeRedirect(redirect, req));
    this.service.on('beforeTokenSigning', (token, req) => this.onTokenSigning(token, req));
    this.service.on('beforeResponse', (response, req) => this.onTokenResponse(response, req));
  }

  async start() {
    await this.issuer.keys.generate(this.alg);
    await new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, HOST, resolve);
    });
    this.base = `http://${HOST}:${this.server.address().port}`;
    // The mock would default to http://localhost:<port>; pin it to the address we print.
    this.issuer.url = this.base;
  }

  /** The provider's public signing JWK exactly as its JWKS endpoint serves it. */
  publicJwk() {
    return this.issuer.keys.toJSON()[0];
  }

  // -- request entry point --------------------------------------------------

  async handle(req, res) {
    const url = new URL(req.url, this.base);
    // Read the body ourselves so it can be recorded. Once the stream has
    // ended, the mock's body-parser middlewares see the request as finished
    // and keep the `req.body` we set below instead of reading again.
    const body = await readBody(req);
    const contentType = (req.headers['content-type'] ?? '').toLowerCase();
    const form = contentType.includes('application/x-www-form-urlencoded')
      ? paramsToObject(new URLSearchParams(body))
      : null;
    this.requests.push({
      method: req.method,
      path: url.pathname,
      query: paramsToObject(url.searchParams),
      headers: { ...req.headers }, // node already lower-cases header names
      form,
      body,
    });

    let parsed = form ?? undefined;
    if (!form && body && /[/+]json\b/.test(contentType)) {
      try {
        parsed = JSON.parse(body);
      } catch {
        // Same answer the mock gives for malformed JSON.
        return sendJson(res, 400, { error: 'invalid_request', error_description: 'Malformed JSON payload' });
      }
    }

    const route = this.route(req.method, url.pathname);
    switch (route.kind) {
      case 'not_found':
        return sendJson(res, 404, { error: 'not_found' });
      case 'api':
        return this.serveApi(route.api, req, res);
      case 'discovery':
        return this.serveDiscovery(route.tenant, req, res);
      case 'authorize':
        return this.forwardAuthorize(req, res, url);
      case 'token':
        return this.forwardToken(req, res, url, parsed);
      default:
        return this.forward(req, res, url.pathname + url.search, parsed);
    }
  }

  /**
   * Map a method + path to what should happen. The base implementation is
   * the plain OIDC layout of the mock (google, apple); subclasses override.
   */
  route(method, path) {
    if (method === 'GET' && path === this.endpoints.wellKnownDocument) return { kind: 'discovery' };
    if (method === 'GET' && path === this.endpoints.authorize) return { kind: 'authorize' };
    if (method === 'POST' && path === this.endpoints.token) return { kind: 'token' };
    return { kind: 'mock' };
  }

  /** Hand the request to oauth2-mock-server's own express app. */
  forward(req, res, pathAndQuery, parsedBody) {
    req.url = pathAndQuery;
    req.body = parsedBody;
    this.service.requestHandler(req, res);
  }

  forwardAuthorize(req, res, url) {
    this.forward(req, res, this.endpoints.authorize + this.authorizeQuery(url), undefined);
  }

  /** Query string passed to the mock's authorize handler (GitHub fills in response_type). */
  authorizeQuery(url) {
    return url.search;
  }

  async forwardToken(req, res, url, parsed) {
    const override = this.hooks.token_response;
    if (override) {
      if (override.hang_ms) {
        // Accept the request and say nothing for a while.
        await sleep(Number(override.hang_ms));
        if (res.destroyed || req.socket.destroyed) return;
      }
      if (override.raw !== undefined) {
        res.writeHead(override.status ?? 200, {
          'content-type': override.content_type ?? 'application/json; charset=utf-8',
        });
        return res.end(String(override.raw));
      }
      if (override.json !== undefined || override.status !== undefined) {
        return sendJson(res, override.status ?? 200, override.json ?? {}, {
          'cache-control': 'no-store',
        });
      }
      // hang_ms alone: after the pause, answer normally.
    }

    const refusal = this.checkAuthorizationCode(req.headers, parsed);
    if (refusal) return sendJson(res, 400, refusal, { 'cache-control': 'no-store' });
    this.forward(req, res, this.endpoints.token + url.search, parsed);
  }

  /**
   * oauth2-mock-server accepts any `code` at its token endpoint and only
   * checks PKCE when a code_verifier is sent. Real providers are stricter;
   * so are we, for the authorization_code grant: the code must come from
   * this provider's authorize endpoint, be used once, with the same
   * redirect_uri and client, and carry a code_verifier if a code_challenge
   * was sent (a wrong verifier is left to the mock, which rejects it).
   * @returns {null | {error: string, error_description: string}}
   */
  checkAuthorizationCode(headers, body) {
    if (!body || body.grant_type !== 'authorization_code') return null;
    const refuse = (why) => ({ error: 'invalid_grant', error_description: why });
    const entry = this.codes.get(body.code);
    if (!entry) return refuse('unknown authorization code');
    if (entry.used) return refuse('authorization code already used');
    entry.used = true;
    if (entry.redirectUri !== undefined && body.redirect_uri !== entry.redirectUri) {
      return refuse('redirect_uri does not match the authorization request');
    }
    const clientId = tokenRequestClientId(headers, body);
    if (
      entry.clientId !== undefined &&
      clientId !== entry.clientId &&
      safeDecodeURIComponent(clientId ?? '') !== entry.clientId
    ) {
      return refuse('authorization code was issued to another client');
    }
    if (entry.codeChallenge !== undefined && body.code_verifier === undefined) {
      return refuse('code_verifier required: a code_challenge was sent at authorize');
    }
    return null;
  }

  // -- oauth2-mock-server events --------------------------------------------

  /** Remember the issued code, or turn the redirect into an error redirect. */
  onAuthorizeRedirect(redirect, req) {
    // The mock redirects to the same URL object afterwards: mutate it in place.
    const params = redirect.url.searchParams;
    const code = params.get('code');
    if (this.hooks.authorize_error) {
      params.delete('code');
      params.set('error', String(this.hooks.authorize_error));
      return;
    }
    if (code) {
      this.codes.set(code, {
        clientId: req.query.client_id,
        redirectUri: req.query.redirect_uri,
        codeChallenge: req.query.code_challenge,
        used: false,
      });
    }
  }

  /**
   * Fired for the access token and for the ID token of a token response.
   * The mock always puts a `scope` claim into access tokens and never into
   * ID tokens, which is how the two are told apart.
   */
  onTokenSigning(token) {
    if ('scope' in token.payload) return;
    // The mock already set iss, iat, nbf, exp (+1 h), aud (client id) and
    // nonce (the one sent at authorize for this code).
    Object.assign(token.payload, DEFAULT_ID_CLAIMS);
    this.extraIdClaims(token.payload);
    mergeWithNullDeletes(token.payload, this.hooks.claims);
    this.finishIdClaims(token.payload);
    // The mock signs with {typ: 'JWT', ...header, alg: <key alg>}: every
    // header field but `alg` can be changed here.
    mergeWithNullDeletes(token.header, this.hooks.header);
  }

  /** Provider-specific default claims, applied before the claims hook. */
  extraIdClaims(_payload) {}

  /** Provider-specific claims derived after the claims hook. */
  finishIdClaims(_payload) {}

  /** Successful token responses: note the access token, apply id_token hooks. */
  onTokenResponse(response) {
    const body = response.body;
    if (!body || typeof body !== 'object') return;
    if (typeof body.access_token === 'string') this.accessTokens.add(body.access_token);
    if (!this.oidc) {
      delete body.id_token; // GitHub and Discord have no ID tokens
      return;
    }
    if (typeof body.id_token === 'string' && this.hooks.id_token) {
      body.id_token = this.craftIdToken(body.id_token, this.hooks.id_token);
    }
  }

  /**
   * Re-issue a normally built ID token (same header fields and payload) as
   * an attacker would: unsigned (alg none), or HS256 keyed with the JSON
   * text of the provider's public JWK. Synchronous, because the mock sends
   * the response right after emitting beforeResponse.
   */
  craftIdToken(idToken, mode) {
    const header = jose.decodeProtectedHeader(idToken);
    const payload = jose.decodeJwt(idToken);
    const signingInput = (alg) => `${b64url(JSON.stringify({ ...header, alg }))}.${b64url(JSON.stringify(payload))}`;
    if (mode === 'none') return `${signingInput('none')}.`;
    if (mode === 'hs256_public_jwk') {
      const input = signingInput('HS256');
      const secret = JSON.stringify(this.publicJwk());
      return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
    }
    throw new Error(`unknown id_token hook ${JSON.stringify(mode)}`);
  }

  // -- overridable pieces ----------------------------------------------------

  /** Serve discovery: the mock's own document, patched by `patchDiscovery`. */
  serveDiscovery(tenant, req, res) {
    // Express gives `res` its prototype (with .json) inside the mock; this
    // own property wraps that json() to edit the document on its way out.
    const patch = (doc) => this.patchDiscovery(doc, tenant);
    res.json = function patchedJson(doc) {
      return Object.getPrototypeOf(this).json.call(this, patch(doc));
    };
    this.forward(req, res, this.endpoints.wellKnownDocument, undefined);
  }

  patchDiscovery(doc) {
    return {
      ...doc,
      // The mock always advertises RS256 and auth method "none".
      id_token_signing_alg_values_supported: [this.alg],
      token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
      scopes_supported: ['openid', 'email', 'profile'],
    };
  }

  serveApi(_api, _req, res) {
    sendJson(res, 404, { error: 'not_found' });
  }

  /** Bearer check for the API endpoints: only tokens this provider issued pass. */
  bearerToken(req, schemes = ['bearer']) {
    const match = /^(\S+)\s+(\S+)$/.exec(req.headers.authorization ?? '');
    if (!match || !schemes.includes(match[1].toLowerCase())) return null;
    return this.accessTokens.has(match[2]) ? match[2] : null;
  }
}

/** Microsoft identity platform v2.0 layout, any tenant segment. */
class AzureProvider extends Provider {
  route(method, path) {
    let m;
    if (method === 'GET' && (m = /^\/([^/]+)\/v2\.0\/\.well-known\/openid-configuration$/.exec(path))) {
      return { kind: 'discovery', tenant: decodeURIComponent(m[1]) };
    }
    if (method === 'GET' && /^\/[^/]+\/oauth2\/v2\.0\/authorize$/.test(path)) return { kind: 'authorize' };
    if (method === 'POST' && /^\/[^/]+\/oauth2\/v2\.0\/token$/.test(path)) return { kind: 'token' };
    if (path === this.endpoints.jwks) return { kind: 'mock' };
    // The mock's own /authorize, /token, /.well-known... are not Microsoft paths.
    return { kind: 'not_found' };
  }

  patchDiscovery(doc, tenant) {
    const base = this.base;
    return {
      ...super.patchDiscovery(doc),
      // Like login.microsoftonline.com: a GUID tenant gets its own issuer,
      // common / organizations / consumers get the {tenantid} template.
      issuer: GUID.test(tenant) ? `${base}/${tenant}/v2.0` : `${base}/{tenantid}/v2.0`,
      authorization_endpoint: `${base}/${tenant}/oauth2/v2.0/authorize`,
      token_endpoint: `${base}/${tenant}/oauth2/v2.0/token`,
      jwks_uri: `${base}${this.endpoints.jwks}`,
    };
  }

  extraIdClaims(payload) {
    payload.tid = DEFAULT_AZURE_TID;
  }

  finishIdClaims(payload) {
    // iss follows the (possibly hooked) tid unless the hook set iss itself.
    if (!(this.hooks.claims && 'iss' in this.hooks.claims)) {
      payload.iss = `${this.base}/${payload.tid ?? DEFAULT_AZURE_TID}/v2.0`;
    }
  }
}

/** GitHub OAuth app: github.com/login/oauth/* plus api.github.com under /api. */
class GitHubProvider extends Provider {
  route(method, path) {
    if (method === 'GET' && path === this.endpoints.authorize) return { kind: 'authorize' };
    if (method === 'POST' && path === this.endpoints.token) return { kind: 'token' };
    if (method === 'GET' && path === '/api/user') return { kind: 'api', api: 'user' };
    if (method === 'GET' && path === '/api/user/emails') return { kind: 'api', api: 'emails' };
    return { kind: 'not_found' };
  }

  /** GitHub does not need response_type; the mock only issues codes for response_type=code. */
  authorizeQuery(url) {
    const params = new URLSearchParams(url.search);
    if (!params.has('response_type')) params.set('response_type', 'code');
    return `?${params}`;
  }

  serveApi(api, req, res) {
    // api.github.com answers 403 to requests without a User-Agent.
    if (!req.headers['user-agent']) {
      return sendJson(res, 403, {
        message: 'Request forbidden by administrative rules. Please make sure your request has a User-Agent header.',
      });
    }
    // GitHub takes both "Bearer <t>" and the older "token <t>".
    if (!this.bearerToken(req, ['bearer', 'token'])) {
      return sendJson(res, 401, { message: 'Bad credentials', status: '401' });
    }
    if (api === 'user') return sendJson(res, 200, this.hooks.user ?? DEFAULT_GITHUB_USER);
    return sendJson(res, 200, this.hooks.emails ?? DEFAULT_GITHUB_EMAILS);
  }
}

/** Discord: everything under /api (the configured base URL is <discord>/api). */
class DiscordProvider extends Provider {
  route(method, path) {
    if (method === 'GET' && path === this.endpoints.authorize) return { kind: 'authorize' };
    if (method === 'POST' && path === this.endpoints.token) return { kind: 'token' };
    if (method === 'GET' && (path === '/api/users/@me' || path === '/api/users/%40me')) {
      return { kind: 'api', api: 'me' };
    }
    return { kind: 'not_found' };
  }

  serveApi(_api, req, res) {
    if (!this.bearerToken(req)) return sendJson(res, 401, { message: '401: Unauthorized', code: 0 });
    return sendJson(res, 200, this.hooks.user ?? DEFAULT_DISCORD_USER);
  }
}

// ---------------------------------------------------------------------------
// Control server
// ---------------------------------------------------------------------------

function controlServer(providers, applePublicKey) {
  const verify = async (token, key, { issuer, audience } = {}) => {
    try {
      const { payload, protectedHeader } = await jose.jwtVerify(token, key, {
        ...(issuer !== undefined && { issuer }),
        ...(audience !== undefined && { audience }),
      });
      return { ok: true, header: protectedHeader, payload };
    } catch (err) {
      return { ok: false, error: `${err.code ?? err.name}: ${err.message}` };
    }
  };

  const routes = {
    'POST /reset': () => {
      for (const p of Object.values(providers)) {
        p.hooks = {};
        p.requests = [];
      }
      return [200, { ok: true }];
    },
    'POST /hooks/:provider': (p, body) => {
      p.hooks = body ?? {};
      return [200, { ok: true, hooks: p.hooks }];
    },
    'GET /hooks/:provider': (p) => [200, p.hooks],
    'GET /requests/:provider': (p) => [200, p.requests],
    'POST /verify-jwt': async (_p, body) => {
      if (typeof body?.token !== 'string' || typeof body?.jwks_url !== 'string') {
        return [400, { ok: false, error: 'token and jwks_url are required' }];
      }
      const jwks = jose.createRemoteJWKSet(new URL(body.jwks_url));
      return [200, await verify(body.token, jwks, body)];
    },
    'POST /verify-apple-secret': async (_p, body) => {
      if (typeof body?.token !== 'string') return [400, { ok: false, error: 'token is required' }];
      return [200, await verify(body.token, applePublicKey, body)];
    },
  };

  return http.createServer(async (req, res) => {
    try {
      const url = new URL(req.url, 'http://control');
      // /hooks/<provider> and /requests/<provider> name a provider.
      const perProvider = /^\/(hooks|requests)\/([^/]+)$/.exec(url.pathname);
      const provider = perProvider ? providers[perProvider[2]] : undefined;
      if (perProvider && !provider) return sendJson(res, 404, { error: `no such provider: ${perProvider[2]}` });
      const key = perProvider ? `${req.method} /${perProvider[1]}/:provider` : `${req.method} ${url.pathname}`;
      const handler = routes[key];
      if (!handler) return sendJson(res, 404, { error: `no route ${req.method} ${url.pathname}` });
      const raw = await readBody(req);
      let body;
      try {
        body = raw ? JSON.parse(raw) : undefined;
      } catch {
        return sendJson(res, 400, { error: 'body is not JSON' });
      }
      const [status, answer] = await handler(provider, body);
      sendJson(res, status, answer);
    } catch (err) {
      console.error('[mock-idp control]', err);
      sendJson(res, 500, { error: String(err) });
    }
  });
}

// ---------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------

async function main() {
  const providers = {
    google: new Provider('google', { alg: 'RS256', oidc: true }),
    azure: new AzureProvider('azure', { alg: 'RS256', oidc: true, endpoints: { jwks: '/discovery/v2.0/keys' } }),
    apple: new Provider('apple', { alg: 'ES256', oidc: true }),
    github: new GitHubProvider('github', {
      alg: 'RS256',
      oidc: false,
      endpoints: { authorize: '/login/oauth/authorize', token: '/login/oauth/access_token' },
    }),
    discord: new DiscordProvider('discord', {
      alg: 'RS256',
      oidc: false,
      endpoints: { authorize: '/api/oauth2/authorize', token: '/api/oauth2/token' },
    }),
  };
  await Promise.all(Object.values(providers).map((p) => p.start()));

  // The developer's Sign in with Apple key (.p8): AuthGate signs its client
  // secret JWT with it; /verify-apple-secret checks that JWT.
  const appleKey = await jose.generateKeyPair('ES256', { extractable: true });
  const appleP8 = await jose.exportPKCS8(appleKey.privateKey);

  const control = controlServer(providers, appleKey.publicKey);
  await new Promise((resolve, reject) => {
    control.once('error', reject);
    control.listen(0, HOST, resolve);
  });

  const addresses = { control: `http://${HOST}:${control.address().port}` };
  for (const [name, p] of Object.entries(providers)) addresses[name] = p.base;
  addresses.apple_p8 = appleP8;
  addresses.apple_key_id = APPLE_KEY_ID;
  addresses.apple_team_id = APPLE_TEAM_ID;
  process.stdout.write(`${JSON.stringify(addresses)}\n`);
}

const shutdown = () => process.exit(0);
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
if (process.env.MOCK_IDP_IGNORE_STDIN !== '1') {
  // The parent keeps our stdin open; EOF means it is gone (or done with us).
  process.stdin.on('end', shutdown);
  process.stdin.on('error', shutdown);
  process.stdin.resume();
}

main().catch((err) => {
  console.error('[mock-idp] failed to start:', err);
  process.exit(1);
});

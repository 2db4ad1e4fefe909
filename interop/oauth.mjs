// OAuth through the official TypeScript SDK (1.32.2): an OAuthClientProvider
// whose redirectToAuthorization does what a person does in the browser over
// plain HTTP (sign in at /admin/login with a key, allow every scope on the
// consent page), then finishAuth(code) and a call on a fresh transport.
// Writes the access token to OAUTH_TOKEN_FILE for the Inspector check.
//
// Env: AUTHGATE_URL, AUTHGATE_KEY (an admin key), OAUTH_TOKEN_FILE.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { UnauthorizedError } from "@modelcontextprotocol/sdk/client/auth.js";
import { writeFileSync } from "node:fs";
import { assert, check, finish } from "./checks.mjs";

const base = process.env.AUTHGATE_URL;
const key = process.env.AUTHGATE_KEY;
const tokenFile = process.env.OAUTH_TOKEN_FILE;
const callback = "http://127.0.0.1:33418/callback";

const decode = (s) => s.replaceAll("&amp;", "&").replaceAll("&quot;", '"').replaceAll("&#39;", "'").replaceAll("&lt;", "<").replaceAll("&gt;", ">");

class Provider {
  constructor() {
    this.saved = {};
    this.code = undefined;
    this.consents = 0;
  }
  get redirectUrl() { return callback; }
  get clientMetadata() {
    return {
      client_name: "TypeScript SDK interop", redirect_uris: [callback],
      grant_types: ["authorization_code", "refresh_token"], response_types: ["code"],
      token_endpoint_auth_method: "none", scope: "read write admin",
    };
  }
  clientInformation() { return this.saved.client; }
  saveClientInformation(info) { this.saved.client = info; }
  tokens() { return this.saved.tokens; }
  saveTokens(tokens) { this.saved.tokens = tokens; }
  saveCodeVerifier(v) { this.saved.verifier = v; }
  codeVerifier() { return this.saved.verifier; }
  async redirectToAuthorization(url) {
    this.consents += 1;
    let r = await fetch(url, { redirect: "manual" });
    assert(r.status === 303, `authorize without a session: ${r.status}`);
    const returnTo = new URL(r.headers.get("location"), base).searchParams.get("return_to");
    r = await fetch(`${base}/admin/login`, {
      method: "POST", redirect: "manual",
      body: new URLSearchParams({ api_key: key, return_to: returnTo }),
    });
    assert(r.status === 303, `sign-in: ${r.status}`);
    const cookie = r.headers.get("set-cookie").split(";")[0];
    r = await fetch(new URL(r.headers.get("location"), base), { headers: { cookie }, redirect: "manual" });
    const html = await r.text();
    assert(r.status === 200, `consent page: ${r.status} ${html.slice(0, 300)}`);
    const form = new URLSearchParams();
    for (const m of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) form.append(m[1], decode(m[2]));
    for (const s of ["read", "write", "admin"]) form.append("scope", s);
    form.append("decision", "allow");
    r = await fetch(`${base}/oauth/authorize`, { method: "POST", body: form, headers: { cookie }, redirect: "manual" });
    assert(r.status === 303, `consent: ${r.status}`);
    const back = new URL(r.headers.get("location"));
    assert(back.searchParams.get("iss") === base, `iss ${back.searchParams.get("iss")}`);
    this.code = back.searchParams.get("code");
  }
}

await check("TypeScript SDK OAuthClientProvider: DCR, consent, finishAuth(code), a call", async () => {
  const provider = new Provider();
  const url = new URL(`${base}/api/mcp`);
  const first = new StreamableHTTPClientTransport(url, { authProvider: provider });
  let refused = false;
  try {
    await new Client({ name: "ts-oauth", version: "1.0.0" }).connect(first);
  } catch (e) {
    refused = e instanceof UnauthorizedError;
    if (!refused) throw e;
  }
  assert(refused && provider.code, "the first connect asks for authorization");
  await first.finishAuth(provider.code);
  const tokens = provider.tokens();
  assert(tokens.access_token.startsWith("ag_oat_") && tokens.scope === "read write admin", `tokens: scope ${tokens.scope}`);
  const client = new Client({ name: "ts-oauth", version: "1.0.0" });
  await client.connect(new StreamableHTTPClientTransport(url, { authProvider: provider }));
  const me = (await client.callTool({ name: "whoami", arguments: {} })).structuredContent;
  assert(me.kind === "oauth" && me.client_name === "TypeScript SDK interop", `whoami: ${JSON.stringify(me)}`);
  assert(provider.consents === 1, `consents: ${provider.consents}`);
  await client.close();
  writeFileSync(tokenFile, tokens.access_token);
});

finish();

// The user's-eye check of access tokens: sign up and sign in through the
// REST API, fetch the Next.js setup from get_sdk_setup_instructions with the
// official MCP SDK, write its lib/authgate-verify.ts as the app would, and
// verify the access token with it (npm jose, createRemoteJWKSet on our JWKS
// URL, audience = the project id). Needs AUTHGATE_URL and AUTHGATE_KEY.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { mkdirSync, writeFileSync } from "node:fs";
import { assert, check, finish } from "./checks.mjs";

const base = process.env.AUTHGATE_URL;
const key = process.env.AUTHGATE_KEY;
if (!base || !key) {
  console.error("set AUTHGATE_URL and AUTHGATE_KEY");
  process.exit(2);
}


const client = new Client({ name: "jose-interop", version: "1.0.0" });
await client.connect(
  new StreamableHTTPClientTransport(new URL(`${base}/api/mcp`), {
    requestInit: { headers: { Authorization: `Bearer ${key}` } },
  }),
);
const me = await client.callTool({ name: "whoami", arguments: {} });
const projectId = me.structuredContent.project.id;

async function rest(path, body, token) {
  const headers = { "content-type": "application/json", "x-authgate-project": projectId };
  if (token) headers.authorization = `Bearer ${token}`;
  const resp = await fetch(`${base}${path}`, { method: "POST", headers, body: JSON.stringify(body ?? {}) });
  const text = await resp.text();
  return { status: resp.status, body: text ? JSON.parse(text) : null };
}

const email = `jose-${Date.now()}@example.com`;
const password = "correct horse battery";
const up = await rest("/api/v1/auth/sign-up", { email, password });
const signedIn = await rest("/api/v1/auth/sign-in", { email, password });
const token = signedIn.body?.access_token ?? "";

// The app's files, exactly as the instructions give them.
const setup = await client.callTool({ name: "get_sdk_setup_instructions", arguments: { framework: "nextjs" } });
const instructions = setup.structuredContent;
const verifyFile = instructions.files.find((f) => f.path === "lib/authgate-verify.ts");
for (const v of instructions.env) process.env[v.name] = v.value;
// The file is TypeScript that is also plain JavaScript; node runs it as a
// module next to node_modules (where jose is installed).
const dir = new URL("./.generated/", import.meta.url);
mkdirSync(dir, { recursive: true });
const modulePath = new URL("authgate-verify.mjs", dir);
writeFileSync(modulePath, verifyFile.content);
const { verifyAccessToken } = await import(modulePath.href);

await check("sign-up and sign-in through the REST API", async () => {
  assert(up.status === 201, `sign-up: ${JSON.stringify(up)}`);
  assert(signedIn.status === 200 && token.split(".").length === 3, `sign-in: ${JSON.stringify(signedIn)}`);
});

await check("the instructions carry this server and project", async () => {
  assert(instructions.base_url === base, `${instructions.base_url} vs ${base}`);
  assert(instructions.jwks_url === `${base}/api/v1/projects/${projectId}/jwks.json`, instructions.jwks_url);
  assert(instructions.install.some((c) => c.includes("jose")), "jose is installed");
});

await check("jose verifies the access token with the instructions' code", async () => {
  const claims = await verifyAccessToken(token);
  assert(claims.sub === up.body.user.id, `sub ${claims.sub}`);
  assert(claims.aud === projectId, `aud ${claims.aud}`);
  assert(claims.iss === base, `iss ${claims.iss}`);
  assert(claims.sid === signedIn.body.session_id, `sid ${claims.sid}`);
});

await check("jose refuses a tampered token", async () => {
  const [h, p, s] = token.split(".");
  const payload = JSON.parse(Buffer.from(p, "base64url").toString());
  payload.sub = "usr_someone_else";
  const forged = [h, Buffer.from(JSON.stringify(payload)).toString("base64url"), s].join(".");
  let error;
  try {
    await verifyAccessToken(forged);
  } catch (err) {
    error = err;
  }
  assert(error?.code === "ERR_JWS_SIGNATURE_VERIFICATION_FAILED", `refused: ${error?.code}`);
});

await check("jose refuses another project's token (audience)", async () => {
  const { jwtVerify, createRemoteJWKSet } = await import("jose");
  const jwks = createRemoteJWKSet(new URL(instructions.jwks_url));
  let error;
  try {
    await jwtVerify(token, jwks, { issuer: base, audience: "prj_another", algorithms: ["EdDSA"] });
  } catch (err) {
    error = err;
  }
  assert(error?.code === "ERR_JWT_CLAIM_VALIDATION_FAILED" && error?.claim === "aud", `refused: ${error?.code}`);
});

await client.close();
finish();

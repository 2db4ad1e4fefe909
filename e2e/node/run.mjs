// The Node/Express answer of get_sdk_setup_instructions, run as handed out:
// its files written here, `node server.mjs` started against the gateway,
// then a user signs in through it and calls its protected routes.
//
// Env: AUTHGATE_URL, AUTHGATE_KEY (an admin key of a project).
import { spawn } from "node:child_process";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { assert, freePort, gateway, signUp, sleep, writeAnswer } from "../lib.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const url = process.env.AUTHGATE_URL;
const client = await gateway(Client, StreamableHTTPClientTransport, "authgate-e2e-node");

const answer = await client.tool("get_sdk_setup_instructions", { framework: "node" });
writeAnswer(here, answer);

const port = await freePort();
const env = Object.fromEntries(answer.env.map((v) => [v.name, v.value]));
const server = spawn("node", ["server.mjs"], {
  cwd: here,
  env: { ...process.env, ...env, PORT: String(port) },
  stdio: ["ignore", "pipe", "inherit"],
});
const app = `http://127.0.0.1:${port}`;
try {
  for (let i = 0; i < 100; i++) {
    if (await fetch(`${app}/api/profile`).then(() => true, () => false)) break;
    await sleep(100);
  }
  const project = answer.project_id;
  const email = `node-${Date.now()}@example.com`;
  const password = "correct horse battery staple";
  const user = await signUp(project, email, password);

  const post = (path, body, token) =>
    fetch(`${app}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body ?? {}),
    });
  const wrong = await post("/auth/sign-in", { email, password: "not it" });
  assert(wrong.status === 401, `a wrong password through Express: ${wrong.status}`);
  const signedIn = await post("/auth/sign-in", { email, password });
  assert(signedIn.status === 200, `sign-in through Express: ${signedIn.status}`);
  const { access_token: access } = await signedIn.json();
  const profile = await fetch(`${app}/api/profile`, { headers: { authorization: `Bearer ${access}` } });
  assert(profile.status === 200, `profile: ${profile.status}`);
  assert((await profile.json()).userId === user, "the profile is the user's");
  const anonymous = await fetch(`${app}/api/profile`);
  assert(anonymous.status === 401, `no token: ${anonymous.status}`);
  const transfer = await post("/api/transfer", {}, access);
  assert(transfer.status === 200, `a live-session route: ${transfer.status}`);
  console.log("ok   sign-in, an offline-verified route and a live-session route");

  // Signed out at AuthGate: the live-session route refuses at once.
  const out = await fetch(`${url}/api/v1/auth/sign-out`, {
    method: "POST",
    headers: { "x-authgate-project": project, authorization: `Bearer ${access}` },
  });
  assert(out.status === 204, `sign-out: ${out.status}`);
  const after = await post("/api/transfer", {}, access);
  assert(after.status === 401, `after sign-out the live-session route refuses: ${after.status}`);
  console.log("ok   a signed-out session is refused by requireLiveSession");
} finally {
  server.kill();
  await client.close();
}

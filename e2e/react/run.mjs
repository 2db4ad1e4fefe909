// The React answer of get_sdk_setup_instructions, proven as a developer
// would use it: its files are written into the create-vite react-ts
// template (this folder), type-checked with the template's own compiler
// flags and built with Vite, then served and driven in Chromium under
// StrictMode with two tabs signing in and refreshing at once; the session
// must come out alive, with no refresh token spent twice.
//
// Env: AUTHGATE_URL, AUTHGATE_KEY (an admin key of a project).
import { execFileSync, spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { chromium } from "playwright-core";
import { assert, chromiumOptions, freePort, gateway, signUp, sleep, writeAnswer } from "../lib.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const client = await gateway(Client, StreamableHTTPClientTransport, "authgate-e2e-react");
const { tool } = client;

// 1. The answer, written as handed out.
const answer = await tool("get_sdk_setup_instructions", { framework: "react" });
writeAnswer(here, answer);

// 2. The template's build: tsc -b with its flags, then vite build.
const bin = (name) => join(here, "node_modules", ".bin", name);
execFileSync(bin("tsc"), ["-b"], { cwd: here, stdio: "inherit" });
execFileSync(bin("vite"), ["build", "--logLevel", "warn"], { cwd: here, stdio: "inherit" });
console.log("ok   tsc -b and vite build");

// 3. Served on loopback; AuthGate allows the origin through a callback URL.
const port = await freePort();
const origin = `http://127.0.0.1:${port}`;
await tool("add_callback", { url: `${origin}/` });
const preview = spawn(bin("vite"), ["preview", "--host", "127.0.0.1", "--port", String(port), "--strictPort"], {
  cwd: here,
  stdio: "ignore",
});
const browser = await chromium.launch(chromiumOptions());
try {
  for (let i = 0; i < 100; i++) {
    if (await fetch(origin).then((r) => r.ok, () => false)) break;
    await sleep(100);
  }
  const project = (await tool("whoami", {})).project.id;
  const email = `react-${Date.now()}@example.com`;
  const password = "correct horse battery staple";
  const user = await signUp(project, email, password);

  // 4. Tab one signs in.
  const context = await browser.newContext();
  const one = await context.newPage();
  await one.goto(origin);
  await one.fill("input[name=email]", email);
  await one.fill("input[name=password]", password);
  await one.click("button[type=submit]");
  await one.getByTestId("who").waitFor();
  console.log("ok   signed in");

  // 5. A second tab opens (StrictMode mounts twice: one refresh), then both
  // reload at once: each refreshes on mount, one after the other.
  const two = await context.newPage();
  await two.goto(origin);
  await two.getByTestId("who").waitFor();
  await Promise.all([one.reload(), two.reload()]);
  for (const page of [one, two]) {
    const who = await page.getByTestId("who").textContent({ timeout: 10000 });
    assert(who === `Signed in as ${email}`, `a tab shows: ${who}`);
  }
  console.log("ok   two tabs refreshed under StrictMode");

  // 6. The session is alive and no refresh token was spent twice.
  const sessions = await tool("list_sessions", { user_id: user });
  assert(sessions.data.length === 1, `one live session: ${JSON.stringify(sessions)}`);
  const reused = await tool("list_audit_events", { event_type: "token.refresh_reused" });
  assert(reused.data.length === 0, `no refresh reuse: ${JSON.stringify(reused.data)}`);
  const refreshed = await tool("list_audit_events", { event_type: "token.refreshed", limit: 100 });
  const mine = refreshed.data.filter((e) => e.actor?.id === user);
  assert(mine.length >= 3, `three refreshes or more (tab two, then both reloads): ${mine.length}`);
  console.log(`ok   one session, ${mine.length} refreshes, none reused`);
} finally {
  await browser.close();
  preview.kill();
  await client.close();
}

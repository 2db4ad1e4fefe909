// The Next.js answer of get_sdk_setup_instructions, proven as a developer
// would use it: its files written into create-next-app 16.4.3's app (this
// folder), `next build` (no warning may appear) and `next start`, then
// Chromium signs up (the code read from AuthGate's development mailbox with
// `authgate mail`), signs in, opens a protected page, waits past a 3-second
// access token, still sees the page, signs out, and verify_token then says
// the session is revoked. The refresh route's `next` must stay on the app.
//
// Env: AUTHGATE_URL, AUTHGATE_KEY (admin key of a gateway started with
// AUTHGATE_ACCESS_TOKEN_TTL=3s and no SMTP_URL), AUTHGATE_BIN and
// AUTHGATE_DIR (the binary and the folder it serves from, for `mail`).
import { execFileSync, spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { chromium } from "playwright-core";
import { assert, chromiumOptions, freePort, gateway, signUp, sleep, writeAnswer } from "../lib.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const url = process.env.AUTHGATE_URL;
const client = await gateway(Client, StreamableHTTPClientTransport, "authgate-e2e-nextjs");
const { tool } = client;

// 1. The answer, written as handed out.
const answer = await tool("get_sdk_setup_instructions", { framework: "nextjs" });
writeAnswer(here, answer);

// 2. next build: no warning, no deprecation.
const next = join(here, "node_modules", ".bin", "next");
const built = execFileSync(next, ["build"], {
  cwd: here,
  env: { ...process.env, NEXT_TELEMETRY_DISABLED: "1" },
  encoding: "utf8",
  stdio: ["ignore", "pipe", "pipe"],
});
// Next.js tells a CI machine (CI=1) that it has no build cache to reuse; that
// line is about the machine, not the code, so it alone is set aside.
const told = built
  .split("\n")
  .filter((line) => !/No build cache found/.test(line))
  .join("\n");
assert(!/deprecat|⚠|warn/i.test(told), `next build warned:\n${built}`);
console.log("ok   next build, no warning");

const port = await freePort();
const app = `http://localhost:${port}`;
const server = spawn(next, ["start", "-p", String(port), "-H", "127.0.0.1"], {
  cwd: here,
  env: { ...process.env, NEXT_TELEMETRY_DISABLED: "1" },
  stdio: "ignore",
});
const browser = await chromium.launch(chromiumOptions(["--host-resolver-rules=MAP localhost 127.0.0.1"]));
try {
  for (let i = 0; i < 200; i++) {
    if (await fetch(`http://127.0.0.1:${port}/`).then((r) => r.ok, () => false)) break;
    await sleep(100);
  }

  // 3. The refresh route keeps `next` on the app.
  for (const evil of ["/\\evil.test", "//evil.test", "https://evil.test/x"]) {
    const r = await fetch(`http://127.0.0.1:${port}/api/auth/refresh?next=${encodeURIComponent(evil)}`, {
      redirect: "manual",
    });
    const to = new URL(r.headers.get("location"), `http://127.0.0.1:${port}`);
    const onApp = ["127.0.0.1", "localhost"].includes(to.hostname) && to.port === String(port);
    assert(onApp && to.pathname === "/sign-in", `next=${evil} sent the user to ${to.href}`);
  }
  console.log("ok   next= cannot leave the app");

  // 4. Sign up, the code from the development mailbox, verified.
  const project = answer.project_id;
  const email = `next-${Date.now()}@example.com`;
  const password = "correct horse battery staple";
  const rest = (path, body, token) =>
    fetch(`${url}/api/v1${path}`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-authgate-project": project,
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      body: JSON.stringify(body),
    });
  const user = await signUp(project, email, password);
  const mail = (args) =>
    execFileSync(process.env.AUTHGATE_BIN, ["mail", ...args], { cwd: process.env.AUTHGATE_DIR, encoding: "utf8" });
  let listed = "";
  for (let i = 0; i < 100 && !listed.includes("verification code"); i++) {
    listed = mail(["list", "--to", email]);
    await sleep(100);
  }
  const id = listed.split("\n").find((l) => l.includes("verification code"))?.split(/\s+/)[0];
  assert(id, `a verification mail: ${listed}`);
  const code = mail(["show", id]).match(/\b\d{6}\b/)?.[0];
  const verified = await rest("/auth/verify-email", { email, code });
  assert(verified.status === 200, `verify-email: ${verified.status}`);
  console.log("ok   signed up, code from the development mailbox");

  // 5. A protected page sends to sign-in and back.
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${app}/dashboard`);
  await page.waitForURL(/\/sign-in\?next=%2Fdashboard/);
  await page.fill("input[name=email]", email);
  await page.fill("input[name=password]", password);
  await page.click("button[type=submit]");
  await page.waitForURL(`${app}/dashboard`);
  assert((await page.getByTestId("user").textContent()) === user, "the page shows the user id");
  const access = async () => (await context.cookies()).find((c) => c.name === "ag_access")?.value;
  const first = await access();
  console.log("ok   signed in, protected page shows the user");

  // 6. Past the 3-second access token, the page still shows: refreshed.
  await sleep(4000);
  await page.goto(`${app}/dashboard`);
  await page.waitForURL(`${app}/dashboard`);
  assert((await page.getByTestId("user").textContent()) === user, "still signed in after the token expired");
  const second = await access();
  assert(second && second !== first, "a new access token");
  console.log("ok   refreshed past the access token's 3 seconds");

  // 7. Sign out ends the session at AuthGate.
  await page.click("text=Sign out");
  await page.waitForURL(/\/sign-in/);
  const check = await tool("verify_token", { token: second });
  assert(check.valid === false && check.reason === "session_revoked", `verify_token: ${JSON.stringify(check)}`);
  await page.goto(`${app}/dashboard`);
  await page.waitForURL(/\/sign-in/);
  console.log("ok   signed out: verify_token says session_revoked");
} finally {
  await browser.close();
  server.kill();
  await client.close();
}

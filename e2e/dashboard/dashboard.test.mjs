// The admin dashboard in a real Chromium (Debian's, driven by
// playwright-core), once per backend, each against a gateway of its own on
// loopback (AUTHGATE_BIN): sign-in and the overview's counts, a key made
// and revoked in the pages, a session revoked from a user's page, the
// audit filter, escaping of end-user text with no dialog and no CSP
// violation, CSRF from a second loopback origin, a read session, every
// HTML response scanned for secrets, and axe-core on every page.
// Screenshots (1280×800) go to target/e2e/dashboard/.
import { test } from "node:test";
import { spawn, execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createHash } from "node:crypto";
import { chromium } from "playwright-core";
import { AxeBuilder } from "@axe-core/playwright";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { assert, chromiumOptions, freePort, sleep } from "../lib.mjs";

const repo = fileURLToPath(new URL("../..", import.meta.url));
const BIN = process.env.AUTHGATE_BIN ?? join(repo, "target/debug/authgate");
const SHOTS = join(repo, "target/e2e/dashboard");
const XSS_NAME = "<img src=x onerror=alert(1)>";
const PASSWORD = "correct horse battery staple";

async function startGateway(backend) {
  const dir = mkdtempSync(join(tmpdir(), "authgate-dash-"));
  const port = await freePort();
  const env = { ...process.env, AUTHGATE_BIND: `127.0.0.1:${port}` };
  delete env.DATABASE_URL;
  let db;
  if (backend === "postgres") {
    db = `authgate_e2e_dash_${process.pid}_${Date.now()}`;
    execFileSync("createdb", ["-h", "127.0.0.1", "-U", "postgres", db]);
    env.DATABASE_URL = `postgres://postgres@127.0.0.1:5432/${db}`;
    env.AUTHGATE_SECRET_KEY = "e2e-dashboard-secret-0123456789abcdef-01234567";
  }
  const child = spawn(BIN, ["serve"], { cwd: dir, env, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.resume();
  for (let i = 0; i < 300 && !/claude mcp add/.test(out); i++) await sleep(50);
  const key = out.match(/Bearer (ag_live_[A-Za-z0-9]{40})/)?.[1];
  assert(key, `no key printed: ${out}`);
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    if ((await fetch(`${url}/healthz`).catch(() => null))?.ok) break;
    await sleep(50);
  }
  return {
    url,
    key,
    stop() {
      child.kill();
      rmSync(dir, { recursive: true, force: true });
      if (db) {
        try { execFileSync("dropdb", ["-h", "127.0.0.1", "-U", "postgres", "--force", db]); } catch {}
      }
    },
  };
}

async function mcp(url, key) {
  const client = new Client({ name: "dashboard-e2e", version: "1.0.0" });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`${url}/api/mcp`), {
      requestInit: { headers: { Authorization: `Bearer ${key}` } },
    }),
  );
  const call = async (name, args = {}) => {
    const r = await client.callTool({ name, arguments: args });
    return { ok: !r.isError, value: r.structuredContent, text: r.content?.[0]?.text };
  };
  const tool = async (name, args = {}) => {
    const r = await call(name, args);
    assert(r.ok, `${name}: ${r.text}`);
    return r.value;
  };
  return { call, tool, close: () => client.close() };
}

// The HTTP status of an MCP request made with `key`.
const mcpStatus = async (url, key) =>
  (
    await fetch(`${url}/api/mcp`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json", accept: "application/json, text/event-stream" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "e2e", version: "1" } } }),
    })
  ).status;

async function rest(url, path, project, body) {
  const r = await fetch(`${url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-authgate-project": project },
    body: JSON.stringify(body),
  });
  return { status: r.status, body: await r.json().catch(() => null) };
}

// Watches a page: every HTML body, dialogs, CSP violations.
function watch(context) {
  const seen = { html: [], dialogs: [] };
  context.on("page", (page) => track(page, seen));
  return seen;
}
function track(page, seen) {
  page.on("dialog", (d) => {
    seen.dialogs.push(d.message());
    d.dismiss().catch(() => {});
  });
  page.on("response", async (r) => {
    if (!(r.headers()["content-type"] ?? "").includes("text/html")) return;
    const text = await r.text().catch(() => "");
    seen.html.push({ url: r.url(), method: r.request().method(), status: r.status(), text });
  });
}

async function cspViolations(page) {
  return page.evaluate(() => window.__csp ?? []);
}

async function axe(page, name, problems) {
  const result = await new AxeBuilder({ page }).analyze();
  for (const v of result.violations) {
    if (v.impact === "serious" || v.impact === "critical") problems.push(`${name}: ${v.id} (${v.impact}): ${v.help}`);
  }
}

async function shot(page, backend, name) {
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, `${backend}-${name}.png`), fullPage: false });
}

async function run(backend) {
  const gw = await startGateway(backend);
  const browser = await chromium.launch({ ...chromiumOptions(), headless: true });
  const admin = await mcp(gw.url, gw.key);
  const evil = createServer();
  try {
    const status = await admin.tool("get_project_status");
    const project = status.project.id;
    // Seed: two users (one named with markup), one signed in; an org whose
    // metadata holds a closing script tag.
    await rest(gw.url, "/api/v1/auth/sign-up", project, { email: "ada@example.com", password: PASSWORD, name: XSS_NAME });
    await rest(gw.url, "/api/v1/auth/sign-up", project, { email: "bob@example.com", password: PASSWORD });
    const signedIn = await rest(gw.url, "/api/v1/auth/sign-in", project, { email: "ada@example.com", password: PASSWORD });
    assert(signedIn.status === 200, `sign-in ${signedIn.status}`);
    const org = await admin.tool("create_org", { name: "Acme </script>", metadata: { note: "</script><script>alert(2)</script>" } });
    const SECRET = "github-client-secret-e2e-0123456789";
    await admin.tool("configure_auth_providers", { providers: [{ provider: "github", enabled: true, client_id: "Iv1.e2e-client", client_secret: SECRET }] });
    // A brute-force alert, raised through REST sign-ins.
    for (let i = 0; i < 12; i++) await rest(gw.url, "/api/v1/auth/sign-in", project, { email: "bob@example.com", password: "wrong password " + i });
    let alerts = [];
    for (let i = 0; i < 40 && !alerts.some((a) => a.rule === "brute_force"); i++) {
      await sleep(100);
      alerts = (await admin.tool("list_security_alerts", {})).data;
    }
    assert(alerts.some((a) => a.rule === "brute_force"), `a brute-force alert: ${JSON.stringify(alerts)}`);

    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    await context.addInitScript(() => {
      window.__csp = [];
      document.addEventListener("securitypolicyviolation", (e) => window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`));
    });
    const seen = watch(context);
    const page = await context.newPage();
    const a11y = [];
    const violations = [];

    // 1. Sign in with the admin key; the overview's counts are get_project_status's.
    await page.goto(`${gw.url}/admin`);
    assert(page.url().includes("/admin/login"), `no session: ${page.url()}`);
    await axe(page, "login", a11y);
    await shot(page, backend, "login");
    await page.fill("input[name=api_key]", gw.key);
    await page.click("button[type=submit]");
    await page.waitForURL(`${gw.url}/admin`);
    const counts = (await admin.tool("get_project_status")).counts;
    for (const [label, key] of [["End users", "end_users"], ["Organizations", "organizations"], ["Active sessions", "active_sessions"], ["Open security alerts", "open_security_alerts"]]) {
      const shown = await page.locator(`dt:text-is("${label}") + dd`).textContent();
      assert(shown === String(counts[key]), `${label}: page ${shown}, status ${counts[key]}`);
    }
    await axe(page, "overview", a11y);
    await shot(page, backend, "overview");
    violations.push(...(await cspViolations(page)));

    // 2. A write key limited to billing: shown once; works with exactly that; revoked.
    await page.goto(`${gw.url}/admin/keys`);
    await axe(page, "keys", a11y);
    await shot(page, backend, "keys");
    await page.fill("input[name=name][type=text]", "billing bot");
    await page.uncheck("input[name=scopes][value=read]");
    await page.check("input[name=scopes][value=write]");
    await page.check("input[name=tools][value='group:billing']");
    await page.click("button:text-is('Create key')");
    const newKey = (await page.locator("[data-secret]").textContent()).trim();
    assert(/^ag_live_[A-Za-z0-9]{40}$/.test(newKey), `the key shown: ${newKey}`);
    await shot(page, backend, "key-reveal");
    await page.goto(`${gw.url}/admin/keys`);
    assert(!(await page.content()).includes(newKey), "the key is gone once the page is left");
    const bot = await mcp(gw.url, newKey);
    assert((await bot.call("list_billing_plans")).ok, "a billing tool works");
    assert(!(await bot.call("whoami")).ok, "a tool outside billing is refused");
    await bot.close();
    const listed = (await admin.tool("list_api_keys", { limit: 100 })).data.find((k) => k.name === "billing bot");
    assert(JSON.stringify(listed.scopes) === '["write"]' && JSON.stringify(listed.tools) === '["group:billing"]', JSON.stringify(listed));
    await page.locator("tr", { hasText: "billing bot" }).locator("button:text-is('Revoke…')").click();
    assert((await page.content()).includes("Revoke a key?"), "the dry run is shown first");
    assert((await mcpStatus(gw.url, newKey)) === 200, "the dry run revoked nothing");
    await page.click("button:text-is('Revoke the key')");
    assert((await mcpStatus(gw.url, newKey)) === 401, "revoked: the next MCP call is 401");

    // 3. Filter users, open one, revoke a session: verify_token says so.
    await page.goto(`${gw.url}/admin/users`);
    await page.fill("input[name=email]", "ada@");
    await page.click("button:text-is('Filter')");
    await page.waitForURL(/email=ada/);
    assert((await page.locator("#users tbody tr").count()) === 1, "the filter leaves one user");
    await sleep(200);
    const swapped = seen.html.filter((h) => h.url.includes("/admin/users?email=ada")).pop();
    assert(swapped && !swapped.text.includes("<html") && swapped.text.trimStart().startsWith("<h1>"), "htmx fetched the filtered list as a fragment");
    await axe(page, "users", a11y);
    await shot(page, backend, "users");
    await page.click("#users tbody a");
    assert((await page.locator("dd", { hasText: XSS_NAME }).count()) === 1, "the name renders as text");
    await axe(page, "user", a11y);
    await shot(page, backend, "user");
    await page.locator("#sessions button:text-is('Revoke')").first().click();
    await page.click("button:text-is('Mark the email verified')");
    assert((await page.locator("dt:text-is('Email verified') + dd").textContent()) === "true", "set verified from the page");
    assert((await admin.tool("get_end_user", { user_id: signedIn.body.user.id })).email_verified === true, "and over MCP");
    const verified = await admin.tool("verify_token", { token: signedIn.body.access_token });
    assert(verified.valid === false && verified.reason === "session_revoked", `verify_token: ${JSON.stringify(verified)}`);

    // 4. The audit filter gives list_audit_events's rows.
    await page.goto(`${gw.url}/admin/audit`);
    await page.selectOption("select[name=event_type]", "sign_up");
    await page.click("button:text-is('Filter')");
    await page.waitForURL(/event_type=sign_up/);
    const rows = await page.locator("#events tbody tr").count();
    const events = await admin.tool("list_audit_events", { event_type: "sign_up", limit: 100 });
    assert(rows === events.data.length && rows === 2, `audit rows ${rows}, tool ${events.data.length}`);
    await axe(page, "audit", a11y);
    await shot(page, backend, "audit");
    // Paged to the end: 55 organizations made, the filter walked page by page.
    for (let i = 0; i < 55; i++) await admin.tool("create_org", { name: `Paged ${i}` });
    await page.goto(`${gw.url}/admin/audit?event_type=tool.create_org`);
    let walked = await page.locator("#events tbody tr").count();
    let pages = 1;
    while ((await page.locator("a[rel=next]").count()) > 0) {
      await page.click("a[rel=next]");
      await page.waitForLoadState("load");
      walked += await page.locator("#events tbody tr").count();
      pages += 1;
    }
    let listedEvents = 0;
    let cursor;
    do {
      const p = await admin.tool("list_audit_events", { event_type: "tool.create_org", limit: 100, ...(cursor ? { cursor } : {}) });
      listedEvents += p.data.length;
      cursor = p.next_cursor;
    } while (cursor);
    assert(walked === listedEvents && walked === 56 && pages === 2, `audit pages: ${walked} rows on ${pages} pages, the tool ${listedEvents}`);

    // 6. Markup in org metadata stays text.
    await page.goto(`${gw.url}/admin/orgs/${org.id}`);
    assert((await page.locator("dd", { hasText: "</script><script>alert(2)</script>" }).count()) === 1, "metadata renders as text");
    await axe(page, "org", a11y);
    await shot(page, backend, "org");
    // 5. The alert: acknowledge, then resolve with a note; both in the audit page.
    await page.goto(`${gw.url}/admin/alerts`);
    await shot(page, backend, "alert");
    await page.locator("tr", { hasText: "brute_force" }).locator("button:text-is('Acknowledge')").click();
    await page.waitForURL(`${gw.url}/admin/alerts`);
    const row = page.locator("tr", { hasText: "brute_force" });
    assert((await row.textContent()).includes("acknowledged"), "acknowledged");
    await row.locator("input[name=note]").fill("reset the password, blocked the IP");
    await row.locator("button:text-is('Resolve')").click();
    await page.waitForURL(`${gw.url}/admin/alerts`);
    const resolved = await page.locator("tr", { hasText: "brute_force" }).textContent();
    assert(resolved.includes("resolved") && resolved.includes("reset the password, blocked the IP"), `resolved: ${resolved}`);
    for (const type of ["acknowledge_security_alert", "resolve_security_alert"]) {
      await page.goto(`${gw.url}/admin/audit?event_type=tool.${type}`);
      const text = await page.locator("#events tbody").textContent();
      assert(text.includes(type) && text.includes("authgate-dashboard"), `${type} in the audit page`);
    }
    // The providers page: the redirect URI and client id, never the secret.
    await page.goto(`${gw.url}/admin/providers`);
    const providers = await page.content();
    assert(providers.includes(`${gw.url}/api/v1/auth/oauth/github/callback`) && providers.includes("Iv1.e2e-client"), "the provider's redirect URI and client id");
    await axe(page, "providers", a11y);
    await shot(page, backend, "providers");
    for (const [path, name] of [["/admin/orgs", "orgs"], ["/admin/alerts", "alerts"], ["/admin/webhooks", "webhooks"], ["/admin/billing", "billing"]]) {
      await page.goto(`${gw.url}${path}`);
      await axe(page, name, a11y);
      await shot(page, backend, name);
    }
    violations.push(...(await cspViolations(page)));

    // 7. CSRF from a second loopback origin, and a POST without the token.
    const victim = await admin.tool("create_api_key", { name: "victim", scopes: ["read"] });
    const evilPort = await freePort();
    evil.on("request", (_, res) => {
      res.setHeader("content-type", "text/html");
      res.end(`<!doctype html><title>x</title><form id=f method=post action="${gw.url}/admin/keys/${victim.id}/revoke"><input name=confirm value=yes></form><script>document.getElementById('f').submit()</script>`);
    });
    await new Promise((r) => evil.listen(evilPort, "127.0.0.1", r));
    const attacked = await page.goto(`http://127.0.0.1:${evilPort}/`);
    await page.waitForLoadState("load");
    await sleep(500);
    const last = seen.html.filter((h) => h.url.endsWith(`/admin/keys/${victim.id}/revoke`)).pop();
    assert(last && last.status === 403, `the cross-origin form: ${last?.status} (${attacked?.status()})`);
    assert((await mcpStatus(gw.url, victim.key)) === 200, "the victim key still works");
    await page.goto(`${gw.url}/admin/keys`);
    const noToken = await page.evaluate(async () => (await fetch("/admin/keys", { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: "name=x&scopes=read" })).status);
    assert(noToken === 403, `a POST without the token: ${noToken}`);

    // 8. A read session: no write control, and its forged writes are refused.
    const reader = await admin.tool("create_api_key", { name: "reader", scopes: ["read"] });
    const readContext = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const readSeen = watch(readContext);
    const readPage = await readContext.newPage();
    await readPage.goto(`${gw.url}/admin/login`);
    await readPage.fill("input[name=api_key]", reader.key);
    await readPage.click("button[type=submit]");
    await readPage.waitForURL(`${gw.url}/admin`);
    await readPage.goto(`${gw.url}/admin/keys`);
    assert((await readPage.locator("button:text-is('Create key'), button:text-is('Revoke…')").count()) === 0, "no write control");
    const forged = await readPage.evaluate(async () => {
      const csrf = document.querySelector("input[name=csrf_token]").value;
      const r = await fetch("/admin/keys", { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: `name=x&scopes=read&csrf_token=${csrf}` });
      return r.status;
    });
    assert(forged === 403, `a read session's write: ${forged}`);
    await readContext.close();

    // 9. No secret in any HTML but the key in its creation answer; no
    // stored hash of a key or token either.
    const all = [...seen.html, ...readSeen.html];
    const sha = (s) => createHash("sha256").update(s).digest("hex");
    const hashes = [gw.key, newKey, reader.key, victim.key, signedIn.body.refresh_token].map(sha);
    for (const h of all) {
      for (const m of h.text.matchAll(/ag_(?:live|test)_[A-Za-z0-9]{40}/g)) {
        assert(m[0] === newKey && h.method === "POST" && h.url.endsWith("/admin/keys"), `a key in ${h.method} ${h.url}`);
      }
      assert(!h.text.includes("$argon2"), `a password hash in ${h.url}`);
      assert(!h.text.includes(gw.key) && !h.text.includes(reader.key) && !h.text.includes(victim.key), `a key in ${h.url}`);
      assert(!h.text.includes(signedIn.body.refresh_token), `a refresh token in ${h.url}`);
      assert(!h.text.includes(SECRET), `the provider's client secret in ${h.url}`);
      assert(!hashes.some((x) => h.text.includes(x)), `a stored hash in ${h.url}`);
    }
    assert(all.filter((h) => h.text.includes(newKey)).length === 1, "the new key appeared in exactly one response");

    // 6 (cont.). No dialog, no CSP violation; 10. axe found nothing serious.
    assert(seen.dialogs.length === 0, `dialogs: ${seen.dialogs}`);
    assert(violations.length === 0, `CSP violations: ${violations}`);
    assert(a11y.length === 0, `accessibility:\n${a11y.join("\n")}`);
    await context.close();
  } finally {
    await admin.close().catch(() => {});
    evil.close();
    await browser.close();
    gw.stop();
  }
}

test("the dashboard on SQLite", { timeout: 180_000 }, () => run("sqlite"));
test("the dashboard on PostgreSQL", { timeout: 180_000 }, () => run("postgres"));

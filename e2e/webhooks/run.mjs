// docs/webhooks.md's two receivers, run as written (the docs show these
// files; a test keeps them equal): a gateway of its own with loopback
// targets allowed, an endpoint for each receiver, then a sign-up and a
// deletion reach both, each verified by its `standardwebhooks` library; a
// forged delivery is refused by both.
//
// Env: AUTHGATE_BIN (the authgate binary), PYTHON (with requirements.txt).
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { assert, freePort, gateway, signUp, sleep } from "../lib.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const children = [];
const lines = { express: [], flask: [] };

function start(name, cmd, args, env, cwd) {
  const child = spawn(cmd, args, { cwd, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  let buf = "";
  child.stdout.on("data", (d) => {
    buf += d;
    const parts = buf.split("\n");
    buf = parts.pop();
    for (const l of parts) (lines[name] ??= []).push(l);
  });
  child.stderr.on("data", () => {});
  return child;
}

async function waitFor(what, ok, ms = 15000) {
  for (let t = 0; t < ms; t += 100) {
    if (await ok()) return;
    await sleep(100);
  }
  throw new Error(`${what}: express ${JSON.stringify(lines.express)}, flask ${JSON.stringify(lines.flask)}`);
}

try {
  const dir = mkdtempSync(join(tmpdir(), "authgate-hooks-"));
  const port = await freePort();
  start("gateway", process.env.AUTHGATE_BIN, ["serve"], {
    AUTHGATE_BIND: `127.0.0.1:${port}`,
    AUTHGATE_WEBHOOKS_ALLOW_LOOPBACK: "true",
  }, dir);
  await waitFor("the gateway's first-run lines", () => (lines.gateway ?? []).some((l) => l.includes("claude mcp add")));
  process.env.AUTHGATE_URL = `http://127.0.0.1:${port}`;
  process.env.AUTHGATE_KEY = (lines.gateway.join("\n").match(/Bearer (ag_live_[A-Za-z0-9]+)/) ?? [])[1];
  for (let i = 0; i < 100; i++) {
    if (await fetch(`${process.env.AUTHGATE_URL}/healthz`).then((r) => r.ok, () => false)) break;
    await sleep(100);
  }
  const mcp = await gateway(Client, StreamableHTTPClientTransport, "authgate-e2e-webhooks");
  const project = (await mcp.tool("whoami", {})).project.id;

  const receivers = {};
  for (const name of ["express", "flask"]) {
    const p = await freePort();
    const url = `http://127.0.0.1:${p}/webhooks/authgate`;
    const ep = await mcp.tool("create_webhook_endpoint", { url, events: ["user.created", "user.deleted"] });
    const env = { AUTHGATE_WEBHOOK_SECRET: ep.secret, PORT: String(p) };
    if (name === "express") start(name, "node", ["server.mjs"], env, here);
    else start(name, process.env.PYTHON ?? "python3", ["app.py"], env, here);
    receivers[name] = url;
  }
  for (const [name, url] of Object.entries(receivers)) {
    for (let i = 0; i < 100; i++) {
      if (await fetch(url, { method: "POST", body: "{}" }).then(() => true, () => false)) break;
      await sleep(100);
    }
    // A delivery nobody signed: refused.
    const forged = await fetch(url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "webhook-id": "msg_forged",
        "webhook-timestamp": String(Math.floor(Date.now() / 1000)),
        "webhook-signature": "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
      },
      body: JSON.stringify({ type: "user.deleted", data: { id: "usr_x" } }),
    });
    assert(forged.status === 400, `${name}: a forged delivery answers ${forged.status}`);
  }
  console.log("ok   both receivers refuse a forged delivery");

  const email = `hooks-${Date.now()}@example.com`;
  const user = await signUp(project, email, "correct horse battery staple");
  const created = `user.created ${user} ${email}`;
  await waitFor("user.created at both", () => lines.express.includes(created) && lines.flask.includes(created));
  console.log("ok   user.created verified by the Express and the Flask receiver");
  await mcp.tool("delete_end_user", { user_id: user });
  const deleted = `user.deleted ${user}`;
  await waitFor("user.deleted at both", () => lines.express.includes(deleted) && lines.flask.includes(deleted));
  console.log("ok   user.deleted verified by both");
  // A delivery is settled just after its receiver answers: wait for it.
  let sent = [];
  await waitFor("four deliveries settled as delivered", async () => {
    sent = (await mcp.tool("list_webhook_deliveries", { status: "delivered" })).data;
    return sent.length === 4;
  });
  assert(sent.length === 4, `four deliveries delivered: ${JSON.stringify(sent)}`);
  await mcp.close();

  // The docs show exactly these files.
  const doc = readFileSync(join(here, "../../docs/webhooks.md"), "utf8");
  for (const file of ["server.mjs", "app.py"]) {
    assert(doc.includes(readFileSync(join(here, file), "utf8").trim()), `docs/webhooks.md shows ${file} as it is`);
  }
  console.log("ok   docs/webhooks.md shows both files as they ran");
} finally {
  for (const c of children) c.kill();
}

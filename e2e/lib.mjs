// What the e2e drivers share. It imports nothing from npm (each driver's
// folder has its own node_modules): the MCP client classes are passed in.
import { mkdirSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, join } from "node:path";

export const assert = (ok, what) => {
  if (!ok) throw new Error(what);
};

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A free loopback port.
export const freePort = () =>
  new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });

// An MCP client of the gateway at AUTHGATE_URL with AUTHGATE_KEY: `tool`
// calls one and returns its structured answer (a tool error throws).
export async function gateway(Client, StreamableHTTPClientTransport, name) {
  const client = new Client({ name, version: "1.0.0" });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`${process.env.AUTHGATE_URL}/api/mcp`), {
      requestInit: { headers: { Authorization: `Bearer ${process.env.AUTHGATE_KEY}` } },
    }),
  );
  const tool = async (tool, args) => {
    const r = await client.callTool({ name: tool, arguments: args });
    assert(!r.isError, `${tool}: ${JSON.stringify(r.content)}`);
    return r.structuredContent;
  };
  return { tool, close: () => client.close() };
}

// Writes an SDK answer's files under `dir`, as a developer would.
export function writeAnswer(dir, answer) {
  for (const file of answer.files) {
    const path = join(dir, file.path);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, file.content);
  }
  console.log(`wrote ${answer.files.map((f) => f.path).join(", ")}`);
}

// Debian's Chromium as this machine runs it headless: no sandbox (root), and
// none of the background connections a closed network refuses.
export const chromiumOptions = (extra = []) => ({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    ...extra,
  ],
});

// A user signed up through AuthGate's REST API; returns their id.
export async function signUp(project, email, password) {
  const res = await fetch(`${process.env.AUTHGATE_URL}/api/v1/auth/sign-up`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-authgate-project": project },
    body: JSON.stringify({ email, password }),
  });
  assert(res.status === 201, `sign-up: ${res.status}`);
  return (await res.json()).user.id;
}

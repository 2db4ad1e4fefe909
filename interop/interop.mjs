// Interop check: the official TypeScript MCP SDK client against a running
// AuthGate. Needs AUTHGATE_URL (e.g. http://127.0.0.1:8080), AUTHGATE_KEY
// (an admin key) and AUTHGATE_READ_KEY (a read-scoped key). Prints one line
// per check and "N passed, N failed"; exits non-zero on any failure.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { SSEClientTransport } from "@modelcontextprotocol/sdk/client/sse.js";
import { readdirSync } from "node:fs";
import { assert, check, finish } from "./checks.mjs";

const base = process.env.AUTHGATE_URL;
const key = process.env.AUTHGATE_KEY;
const readKey = process.env.AUTHGATE_READ_KEY;
if (!base || !key || !readKey) {
  console.error("set AUTHGATE_URL, AUTHGATE_KEY and AUTHGATE_READ_KEY");
  process.exit(2);
}

// The tool count comes from the generated reference (one input schema per
// registered tool, checked fresh by the test suite), not a hand-kept number.
const expectedTools = readdirSync(new URL("../docs/tools/", import.meta.url))
  .filter((f) => f.endsWith(".input.json")).length;

// A tool error's body is JSON in the text content.
const errorOf = (result) => JSON.parse(result.content?.[0]?.text ?? "{}").error ?? {};
const auth = (k) => ({ requestInit: { headers: { Authorization: `Bearer ${k}` } } });

async function connectHttp(k) {
  const client = new Client({ name: "ts-sdk-interop", version: "1.0.0" });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${base}/api/mcp`), auth(k)));
  return client;
}

const warnings = [];
const originalWarn = console.warn;
console.warn = (...args) => { warnings.push(args.join(" ")); originalWarn(...args); };

await check("streamable HTTP: connect, list, call, tool error", async () => {
  const client = await connectHttp(key);
  const { tools } = await client.listTools();
  assert(tools.length === expectedTools, `${expectedTools} tools, got ${tools.length}`);
  const whoami = tools.find((t) => t.name === "whoami");
  assert(whoami?.annotations?.readOnlyHint === true, "whoami is read-only");
  const revoke = tools.find((t) => t.name === "revoke_api_key");
  assert(revoke?.annotations?.destructiveHint === true, "revoke_api_key is destructive");
  const me = await client.callTool({ name: "whoami", arguments: {} });
  assert(!me.isError, `whoami failed: ${JSON.stringify(me)}`);
  assert(me.structuredContent?.project?.id?.startsWith("prj_"), "whoami names the project");
  const added = await client.callTool({ name: "add_callback", arguments: { url: "https://ts-sdk.example.com/cb" } });
  assert(!added.isError && added.structuredContent.id.startsWith("cb_"), JSON.stringify(added));
  const bad = await client.callTool({ name: "add_callback", arguments: { url: "javascript:alert(1)" } });
  assert(bad.isError === true, "a bad URL is a tool error");
  assert(errorOf(bad).code === "invalid_argument", JSON.stringify(bad));
  assert(errorOf(bad).field === "url", "the error names the field");
  assert(errorOf(bad).hint, "the error says what to do");
  const list = await client.callTool({ name: "list_callbacks", arguments: { limit: 10 } });
  assert(list.structuredContent.data.some((c) => c.id === added.structuredContent.id), "listed");
  let unknown;
  try {
    await client.callTool({ name: "no_such_tool", arguments: {} });
  } catch (err) {
    unknown = err;
  }
  assert(unknown && String(unknown.message).includes("no_such_tool"), `unknown tool is a protocol error: ${unknown}`);
  await client.close();
});

await check("read-scoped key: write tools hidden and refused", async () => {
  const client = await connectHttp(readKey);
  const { tools } = await client.listTools();
  assert(tools.every((t) => t.annotations?.readOnlyHint === true), "only read tools listed");
  const denied = await client.callTool({ name: "add_callback", arguments: { url: "https://x.example.com/cb" } });
  assert(denied.isError && errorOf(denied).code === "permission_denied", JSON.stringify(denied));
  await client.close();
});

await check("401 with a readable reason", async () => {
  let error;
  try {
    await connectHttp("ag_live_" + "0".repeat(40));
  } catch (err) {
    error = err;
  }
  assert(error, "connecting with an unknown key fails");
  assert(String(error.message).includes("Unauthorized: unknown API key"), `reason shown: ${error.message}`);
  const resp = await fetch(`${base}/api/mcp`, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" }),
  });
  assert(resp.status === 401, `401, got ${resp.status}`);
  assert((resp.headers.get("www-authenticate") ?? "").startsWith("Bearer"), "WWW-Authenticate: Bearer");
  const body = await resp.json();
  assert(body.error.code === -32001 && body.error.message.startsWith("Unauthorized"), JSON.stringify(body));
});

await check("legacy SSE transport", async () => {
  const client = new Client({ name: "ts-sdk-interop-sse", version: "1.0.0" });
  await client.connect(new SSEClientTransport(new URL(`${base}/api/sse`), auth(key)));
  const { tools } = await client.listTools();
  assert(tools.length === expectedTools, `${expectedTools} tools over SSE, got ${tools.length}`);
  const status = await client.callTool({ name: "get_project_status", arguments: {} });
  assert(!status.isError && status.structuredContent.project.id.startsWith("prj_"), JSON.stringify(status));
  const bad = await client.callTool({ name: "list_callbacks", arguments: { limit: 1000 } });
  assert(bad.isError && errorOf(bad).field === "limit", JSON.stringify(bad));
  await client.close();
});

await check("no schema warnings from the SDK's validator", async () => {
  const schemaWarnings = warnings.filter((w) => /format|schema/i.test(w));
  assert(schemaWarnings.length === 0, schemaWarnings.join("\n"));
});

finish();

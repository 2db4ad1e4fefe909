// The React Native answer of get_sdk_setup_instructions type-checked as
// handed out: its file written to lib/, then tsc with Expo's TypeScript
// settings against the React Native and expo-secure-store types (app.ts
// uses every export). No device or emulator runs here; the requests it makes
// are the React answer's, which e2e/react drives in Chromium.
//
// Env: AUTHGATE_URL, AUTHGATE_KEY.
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const here = dirname(fileURLToPath(import.meta.url));
const client = new Client({ name: "authgate-e2e-react-native", version: "1.0.0" });
await client.connect(
  new StreamableHTTPClientTransport(new URL(`${process.env.AUTHGATE_URL}/api/mcp`), {
    requestInit: { headers: { Authorization: `Bearer ${process.env.AUTHGATE_KEY}` } },
  }),
);
const r = await client.callTool({ name: "get_sdk_setup_instructions", arguments: { framework: "react-native" } });
await client.close();
if (r.isError) throw new Error(JSON.stringify(r.content));
for (const file of r.structuredContent.files) {
  const path = join(here, file.path);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, file.content);
}
execFileSync(join(here, "node_modules", ".bin", "tsc"), ["-p", "tsconfig.json"], { cwd: here, stdio: "inherit" });
console.log("ok   the React Native answer type-checks");

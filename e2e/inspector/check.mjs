// The MCP Inspector's own portability check (`--cli --strict`, run on the
// Node.js 22 it needs) over the gateway's tools/list: no warning may name an
// input schema. What it says of output schemas is counted and printed: their
// nullable fields keep `type: [T, "null"]`, since answers carry those nulls
// and SDK clients validate structuredContent against the output schema.
//
// Env: AUTHGATE_URL, AUTHGATE_KEY.
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const bin = (name) => join(here, "node_modules", ".bin", name);
const run = spawnSync(
  bin("node"),
  [
    bin("mcp-inspector"),
    "--cli",
    `${process.env.AUTHGATE_URL}/api/mcp`,
    "--transport",
    "http",
    "--header",
    `Authorization: Bearer ${process.env.AUTHGATE_KEY}`,
    "--method",
    "tools/list",
    "--strict",
  ],
  { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 },
);
if (run.status !== 0) throw new Error(`the Inspector exited ${run.status}: ${run.stderr.slice(0, 2000)}`);
const tools = JSON.parse(run.stdout).tools;
const paths = [...run.stderr.matchAll(/^\s*Path: (\S+)/gm)].map((m) => m[1]);
const inputs = paths.filter((p) => p.startsWith("inputSchema"));
if (tools.length < 60) throw new Error(`tools/list through the Inspector: ${tools.length} tools`);
if (inputs.length) throw new Error(`portability warnings on input schemas:\n${inputs.join("\n")}`);
console.log(
  `ok   MCP Inspector --strict: ${tools.length} tools, 0 warnings on input schemas, ${paths.length - inputs.length} on output schemas (nullable fields)`,
);

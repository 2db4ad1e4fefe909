// The React Native answer of get_sdk_setup_instructions type-checked as
// handed out: its file written to lib/, then tsc with Expo's TypeScript
// settings against the React Native and expo-secure-store types (app.ts
// uses every export). No device or emulator runs here; the requests it makes
// are the React answer's, which e2e/react drives in Chromium.
//
// Env: AUTHGATE_URL, AUTHGATE_KEY.
import { execFileSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { gateway, writeAnswer } from "../lib.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const client = await gateway(Client, StreamableHTTPClientTransport, "authgate-e2e-react-native");
writeAnswer(here, await client.tool("get_sdk_setup_instructions", { framework: "react-native" }));
await client.close();
execFileSync(join(here, "node_modules", ".bin", "tsc"), ["-p", "tsconfig.json"], { cwd: here, stdio: "inherit" });
console.log("ok   the React Native answer type-checks");

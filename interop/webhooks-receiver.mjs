// A webhook receiver on loopback for the gateway's webhook tests: it
// records every delivery as it arrived and verifies them with npm
// `standardwebhooks` (the Standard Webhooks reference library), as an
// app's receiver would. It prints {"port": N} when it listens.
//
//   POST /ok/...            200
//   POST /seq/500-500-200/… the nth request on this path gets the nth status
//                           (the last one repeats)
//   POST /status/410/…      that status
//   POST /hang/…            never answers
//   POST /redirect?to=URL   302 to URL
//   GET  /_log              every delivery: path, headers, body
//   POST /_verify           {"secret": "whsec_..."} → for each delivery,
//                           whether Webhook(secret).verify(body, headers)
//                           accepted it, and the payload it returned
import http from "node:http";
import { Webhook } from "standardwebhooks";

const log = [];
const seen = new Map();

function readBody(req) {
  return new Promise((resolve) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
  });
}

function answer(res, status, body) {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, "http://127.0.0.1");
  const body = await readBody(req);
  if (req.method === "GET" && url.pathname === "/_log") {
    return answer(res, 200, log);
  }
  if (req.method === "POST" && url.pathname === "/_verify") {
    const { secret } = JSON.parse(body);
    const wh = new Webhook(secret);
    const results = log.map((d) => {
      try {
        return { ok: true, payload: wh.verify(d.body, d.headers) };
      } catch (e) {
        return { ok: false, error: String(e.message ?? e) };
      }
    });
    return answer(res, 200, results);
  }
  const headers = {};
  for (const name of ["webhook-id", "webhook-timestamp", "webhook-signature", "content-type", "user-agent"]) {
    headers[name] = req.headers[name] ?? null;
  }
  log.push({ path: url.pathname, headers, body });
  if (url.pathname.startsWith("/hang")) {
    return; // never answers; the sender's time limit ends it
  }
  if (url.pathname === "/redirect") {
    res.writeHead(302, { location: url.searchParams.get("to") });
    return res.end();
  }
  if (url.pathname.startsWith("/seq/")) {
    // /seq/500-500-200[/anything]: the codes are the second segment.
    const codes = url.pathname.split("/")[2].split("-").map(Number);
    const n = seen.get(url.pathname) ?? 0;
    seen.set(url.pathname, n + 1);
    return answer(res, codes[Math.min(n, codes.length - 1)], { n });
  }
  if (url.pathname.startsWith("/status/")) {
    return answer(res, Number(url.pathname.split("/")[2]), { status: "as asked" });
  }
  return answer(res, 200, { received: true });
});

server.listen(Number(process.env.PORT ?? 0), "127.0.0.1", () => {
  console.log(JSON.stringify({ port: server.address().port }));
});
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();

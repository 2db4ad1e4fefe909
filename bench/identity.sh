#!/usr/bin/env bash
# The identity benchmarks of docs/benchmarks.md that go through the
# network: sign-in end to end through the REST API (Argon2id at 19 MiB,
# 2 iterations), and whoami over MCP idle and while a sign-in flood runs.
# The release `authgate` binary is pinned to core 0, wrk to core 1.
#
#   bash bench/identity.sh [sqlite|postgres|both] [seconds]
#
# SERVER_CPUS, WRK_CPUS and PAIRS change the setup; AUTHGATE_BIN runs a
# binary built earlier.
source "$(dirname "$0")/lib.sh"
mcp_lua "$work/whoami.lua"
cat > "$work/signin.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-AuthGate-Project"] = os.getenv("AUTHGATE_PROJECT")
wrk.body = '{"email":"bench@example.com","password":"correct horse battery"}'
response = function(status, headers, body)
  if status ~= 200 or not string.find(body, '"access_token"') then
    errors = (errors or 0) + 1
    if errors == 1 then io.stderr:write("unexpected answer: " .. status .. " " .. body .. "\n") end
  end
end
LUA

echo "| measurement | backend | connections | rate/s | p50 | p99 | non-2xx |"
echo "|---|---|---|---|---|---|---|"
for backend in $backends; do
  start_server "$backend" "${SERVER_CPUS:-0}"
  curl -fs -o /dev/null -X POST "$url/api/v1/auth/sign-up" -H "content-type: application/json" \
    -H "x-authgate-project: $project" -d '{"email":"bench@example.com","password":"correct horse battery"}'
  export AUTHGATE_KEY="$key" AUTHGATE_PROJECT="$project" AUTHGATE_TOOL=whoami
  w() { taskset -c "${WRK_CPUS:-1}" wrk -t1 "$@" --latency; }
  w -c4 -d2s -s "$work/whoami.lua" "$url/api/mcp" >/dev/null 2>&1
  signin=$(figures "$(w -c4 -d"${seconds}s" -s "$work/signin.lua" "$url/api/v1/auth/sign-in" 2>&1)")
  echo "| sign-in (REST, Argon2id 19 MiB t=2) | $backend | 4 | ${signin// / | } |"
  # whoami idle and during a flood, measured in pairs: on this kind of host
  # the idle tail itself moves by several times within minutes, so each
  # flood run is compared with the idle run just before it. The rows give
  # the medians over PAIRS pairs, then the median of the pairs' p99 ratios.
  for c in 1 4; do
    : >"$work/pairs.txt"
    for _ in $(seq 1 "${PAIRS:-5}"); do
      idle=$(figures "$(w -c$c -d"${seconds}s" -s "$work/whoami.lua" "$url/api/mcp" 2>&1)")
      w -c8 -d"$((seconds + 2))s" -s "$work/signin.lua" "$url/api/v1/auth/sign-in" >"$work/flood.txt" 2>&1 &
      flood=$!
      sleep 1
      busy=$(figures "$(w -c$c -d"${seconds}s" -s "$work/whoami.lua" "$url/api/mcp" 2>&1)")
      wait "$flood"
      echo "$idle $busy $(figures "$(cat "$work/flood.txt")")" >>"$work/pairs.txt"
    done
    python3 - "$backend" "$c" "$work/pairs.txt" <<'PY'
import statistics, sys
backend, conns, path = sys.argv[1], sys.argv[2], sys.argv[3]
def us(v):
    for unit, k in (("us", 1), ("ms", 1000), ("s", 1000000)):
        if v.endswith(unit):
            return float(v[: -len(unit)]) * k
    raise ValueError(v)
def show(x):
    return f"{x:.0f} µs" if x < 1000 else f"{x / 1000:.2f} ms"
rows = [line.split() for line in open(path) if line.strip()]
med = lambda xs: statistics.median(xs)
for name, off in (("whoami, idle", 0), ("whoami, during a sign-in flood (8 connections)", 4)):
    rate = med(float(r[off]) for r in rows)
    p50 = med(us(r[off + 1]) for r in rows)
    p99 = med(us(r[off + 2]) for r in rows)
    bad = sum(int(r[off + 3]) for r in rows)
    print(f"| {name} | {backend} | {conns} | {rate:.1f} | {show(p50)} | {show(p99)} | {bad} |")
print(f"| the flood's sign-ins | {backend} | 8 | {med(float(r[8]) for r in rows):.1f} | "
      f"{show(med(us(r[9]) for r in rows))} | {show(med(us(r[10]) for r in rows))} | {sum(int(r[11]) for r in rows)} |")
ratios = [us(r[6]) / us(r[2]) for r in rows]
print(f"| whoami p99, flood ÷ idle | {backend} | {conns} | **{med(ratios):.2f}×** (pairs: "
      + ", ".join(f"{x:.2f}" for x in ratios) + ") | | | |")
PY
  done
  stop_server
done

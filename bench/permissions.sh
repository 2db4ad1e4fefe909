#!/usr/bin/env bash
# POST /api/v1/permissions/check through the gateway: the release
# `authgate` binary pinned to core 0, wrk pinned to core 1, a write-scoped
# API key, a member whose role grants the action under a CEL condition.
#
#   bash bench/permissions.sh [sqlite|postgres|both] [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
backends="${1:-both}"
seconds="${2:-10}"
[ "$backends" = both ] && backends="sqlite postgres"
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
cargo build --release -q -p authgate-gateway
bin="$PWD/target/release/authgate"
work="$(mktemp -d)"
server=""
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
  if [ -n "${pgdb:-}" ]; then
    psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS $pgdb WITH (FORCE)" postgres >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
url="http://127.0.0.1:$port"
# One MCP tool call (stateless JSON-RPC); fails the script on a tool error.
tool() {
  local out
  out=$(curl -fsS -X POST "$url/api/mcp" -H "authorization: Bearer $key" -H 'content-type: application/json' \
    -H 'accept: application/json, text/event-stream' -H 'mcp-protocol-version: 2025-06-18' \
    -d "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"$1\",\"arguments\":$2}}")
  case "$out" in *'"isError":true'*) echo "$1 failed: $out" >&2; exit 1;; esac
  echo "$out"
}
echo "| backend | connections | checks/s | p50 | p99 | non-2xx |"
echo "|---|---|---|---|---|---|"
for backend in $backends; do
  rm -rf "$work/run"; mkdir -p "$work/run"
  env=(AUTHGATE_BIND="127.0.0.1:$port" AUTHGATE_STATELESS=true
       AUTHGATE_RATE_LIMIT="10000000/s burst 10000000"
       AUTHGATE_PROJECT_RATE_LIMIT="10000000/s burst 10000000"
       AUTHGATE_SECRET_KEY="bench-secret-0123456789abcdef0123456789")
  if [ "$backend" = postgres ]; then
    pgdb="authgate_bench_$$"
    psql -q -h 127.0.0.1 -U postgres -c "CREATE DATABASE $pgdb" postgres >/dev/null
    env+=(DATABASE_URL="postgres://postgres@127.0.0.1:5432/$pgdb")
  fi
  (cd "$work/run" && exec env "${env[@]}" taskset -c 0 "$bin" serve >out.txt 2>err.txt) &
  server=$!
  for _ in $(seq 1 100); do grep -q "claude mcp add" "$work/run/out.txt" 2>/dev/null && break; sleep 0.1; done
  key=$(grep -o 'Bearer ag_live_[A-Za-z0-9]*' "$work/run/out.txt" | head -1 | cut -d' ' -f2)
  project=$(grep -o 'prj_[0-9A-Z]*' "$work/run/out.txt" | head -1)
  for _ in $(seq 1 100); do curl -fs "$url/healthz" >/dev/null && break; sleep 0.1; done
  user=$(curl -fsS -X POST "$url/api/v1/auth/sign-up" -H 'content-type: application/json' -H "x-authgate-project: $project" \
    -d '{"email":"bench@example.com","password":"correct horse battery"}' | grep -o 'usr_[0-9A-Z]*' | head -1)
  tool create_rbac_resource '{"key":"posts","actions":["read","write","delete"]}' >/dev/null
  tool create_rbac_role '{"key":"editor","grants":[{"resource":"posts","actions":["read","write"]},{"resource":"posts","actions":["delete"],"condition":"resource.owner_id == user.id"}]}' >/dev/null
  org=$(tool create_org '{"name":"Acme"}' | grep -o 'org_[0-9A-Z]*' | head -1)
  tool add_org_member "{\"org_id\":\"$org\",\"user_id\":\"$user\",\"role\":\"editor\"}" >/dev/null
  cat > "$work/check.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $key"
wrk.body = '{"user_id":"$user","org_id":"$org","resource":"posts","action":"delete","context":{"resource":{"owner_id":"$user"}}}'
response = function(status, headers, body)
  if status ~= 200 or not string.find(body, '"allowed":true') then
    errors = (errors or 0) + 1
    if errors == 1 then io.stderr:write("unexpected answer: " .. status .. " " .. body .. "\n") end
  end
end
LUA
  taskset -c 1 wrk -t1 -c4 -d2s -s "$work/check.lua" "$url/api/v1/permissions/check" >/dev/null 2>&1
  for c in 1 16; do
    out=$(taskset -c 1 wrk -t1 -c"$c" -d"${seconds}s" --latency -s "$work/check.lua" "$url/api/v1/permissions/check" 2>&1)
    rps=$(echo "$out" | awk '/Requests\/sec/ {printf "%.0f", $2}')
    p50=$(echo "$out" | awk '$1=="50%" {print $2}')
    p99=$(echo "$out" | awk '$1=="99%" {print $2}')
    bad=$(echo "$out" | grep -c "unexpected answer" || true)
    non2xx=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
    echo "| $backend | $c | $rps | $p50 | $p99 | ${non2xx:-0}$( [ "$bad" != 0 ] && echo ' (unexpected answers)' || true) |"
  done
  kill "$server"; wait "$server" 2>/dev/null || true; server=""
  if [ -n "${pgdb:-}" ]; then
    psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS $pgdb WITH (FORCE)" postgres >/dev/null 2>&1 || true
    pgdb=""
  fi
done

#!/usr/bin/env bash
# POST /api/v1/permissions/check through the gateway: the release
# `authgate` binary pinned to core 0, wrk pinned to core 1, a write-scoped
# API key, a member whose role grants the action under a CEL condition.
#
#   bash bench/permissions.sh [sqlite|postgres|both] [seconds]
source "$(dirname "$0")/lib.sh"
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
  start_server "$backend"
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
    read -r rps p50 p99 non2xx <<<"$(figures "$out")"
    echo "| $backend | $c | ${rps%.*} | $p50 | $p99 | $non2xx $(unexpected "$out") |"
  done
  stop_server
done

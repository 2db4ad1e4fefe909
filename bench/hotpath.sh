#!/usr/bin/env bash
# The hot-path benchmark of docs/benchmarks.md: the release `authgate`
# binary pinned to one core, wrk pinned to the other, stateless JSON MCP
# calls of whoami and get_project_status at 1 and 16 connections, on SQLite
# and on PostgreSQL. Prints one Markdown table row per run.
#
#   bash bench/hotpath.sh [sqlite|postgres|both] [seconds]
#
# Needs wrk (Debian: apt-get install wrk) and, for PostgreSQL, a server on
# 127.0.0.1:5432 that the user postgres may create databases on. The
# server's core is 0 and wrk's is 1 (`taskset`); PostgreSQL itself is not
# pinned and shares the machine.
set -euo pipefail
cd "$(dirname "$0")/.."
backends="${1:-both}"
seconds="${2:-10}"
[ "$backends" = both ] && backends="sqlite postgres"
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
# AUTHGATE_BIN runs a binary built earlier (to compare two commits).
if [ -z "${AUTHGATE_BIN:-}" ]; then cargo build --release -q -p authgate-gateway; fi
bin="${AUTHGATE_BIN:-$PWD/target/release/authgate}"
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

cat > "$work/call.lua" <<'LUA'
-- One JSON-RPC tools/call per request; the tool comes from the environment.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
wrk.headers["Mcp-Protocol-Version"] = "2025-06-18"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("AUTHGATE_KEY")
wrk.body = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"'
  .. os.getenv("AUTHGATE_TOOL") .. '","arguments":{}}}'
response = function(status, headers, body)
  if status ~= 200 or not string.find(body, '"result"') or string.find(body, '"isError":true') then
    errors = (errors or 0) + 1
    if errors == 1 then io.stderr:write("unexpected answer: " .. status .. " " .. body .. "\n") end
  end
end
LUA

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
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
  for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
  for tool in ${BENCH_TOOLS:-whoami get_project_status}; do
    for conns in ${BENCH_CONNS:-1 16}; do
      # A short warm-up, then the measured runs; the median by throughput.
      AUTHGATE_KEY="$key" AUTHGATE_TOOL="$tool" taskset -c 1 wrk -t1 -c"$conns" -d2s -s "$work/call.lua" "http://127.0.0.1:$port/api/mcp" >/dev/null 2>&1
      rows=()
      for _ in $(seq 1 "${RUNS:-3}"); do
        out=$(AUTHGATE_KEY="$key" AUTHGATE_TOOL="$tool" taskset -c 1 wrk -t1 -c"$conns" -d"${seconds}s" --latency -s "$work/call.lua" "http://127.0.0.1:$port/api/mcp" 2>&1)
        rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
        p50=$(echo "$out" | awk '$1=="50%" {print $2}')
        p99=$(echo "$out" | awk '$1=="99%" {print $2}')
        bad=$(echo "$out" | grep -c "unexpected answer" || true)
        non2xx=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
        rows+=("${rps%.*} $p50 $p99 ${non2xx:-0}$( [ "$bad" != 0 ] && echo '(bad)' || true)")
      done
      all=$(printf '%s\n' "${rows[@]}" | sort -n | awk '{print $1}' | paste -sd/ -)
      median=$(printf '%s\n' "${rows[@]}" | sort -n | awk -v n="${#rows[@]}" 'NR==int((n+1)/2)')
      read -r rps p50 p99 errs <<<"$median"
      echo "| $tool | $backend | $conns | $rps | $p50 | $p99 | $errs | $all |"
    done
  done
  kill "$server"; wait "$server" 2>/dev/null || true; server=""
  if [ "$backend" = postgres ]; then
    psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS $pgdb WITH (FORCE)" postgres >/dev/null; pgdb=""
  fi
done

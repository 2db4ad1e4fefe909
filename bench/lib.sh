# Shared by the bench/*.sh scripts, which source it with their arguments
# ([sqlite|postgres|both] [seconds]); not run on its own.
#
# Builds the release `authgate` (or takes AUTHGATE_BIN, to compare two
# commits), makes a work folder removed on exit, picks a free port and
# defines start_server, stop_server, mcp_lua, figures and unexpected.
# Needs wrk (Debian: apt-get install wrk) and, for PostgreSQL, a server on
# 127.0.0.1:5432 that the user postgres may create databases on.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[1]}")/.."
backends="${1:-both}"
seconds="${2:-10}"
[ "$backends" = both ] && backends="sqlite postgres"
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
if [ -z "${AUTHGATE_BIN:-}" ]; then cargo build --release -q -p authgate-gateway; fi
bin="${AUTHGATE_BIN:-$PWD/target/release/authgate}"
work="$(mktemp -d)"
server=""
pgdb=""

drop_database() {
  if [ -n "$pgdb" ]; then
    psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS $pgdb WITH (FORCE)" postgres >/dev/null 2>&1 || true
    pgdb=""
  fi
}

cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
  drop_database
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
url="http://127.0.0.1:$port"

# start_server BACKEND [CPUS]: a fresh database and a stateless server on it
# pinned to CPUS (default core 0), rate limits out of the way; sets server,
# key (the first API key) and project once it answers /healthz.
start_server() {
  local backend="$1" cpus="${2:-0}"
  rm -rf "$work/run"; mkdir -p "$work/run"
  local env=(AUTHGATE_BIND="127.0.0.1:$port" AUTHGATE_STATELESS=true
       AUTHGATE_RATE_LIMIT="10000000/s burst 10000000"
       AUTHGATE_PROJECT_RATE_LIMIT="10000000/s burst 10000000"
       AUTHGATE_SECRET_KEY="bench-secret-0123456789abcdef0123456789")
  if [ "$backend" = postgres ]; then
    pgdb="authgate_bench_$$"
    psql -q -h 127.0.0.1 -U postgres -c "CREATE DATABASE $pgdb" postgres >/dev/null
    env+=(DATABASE_URL="postgres://postgres@127.0.0.1:5432/$pgdb")
  fi
  (cd "$work/run" && exec env "${env[@]}" taskset -c "$cpus" "$bin" serve >out.txt 2>err.txt) &
  server=$!
  for _ in $(seq 1 100); do grep -q "claude mcp add" "$work/run/out.txt" 2>/dev/null && break; sleep 0.1; done
  key=$(grep -o 'Bearer ag_live_[A-Za-z0-9]*' "$work/run/out.txt" | head -1 | cut -d' ' -f2)
  project=$(grep -o 'prj_[0-9A-Z]*' "$work/run/out.txt" | head -1)
  for _ in $(seq 1 100); do curl -fs "$url/healthz" >/dev/null && break; sleep 0.1; done
}

stop_server() {
  kill "$server"; wait "$server" 2>/dev/null || true; server=""
  drop_database
}

# mcp_lua FILE: a wrk script of one stateless JSON-RPC tools/call per
# request, of the tool in $AUTHGATE_TOOL with the key in $AUTHGATE_KEY;
# an answer that is not a successful result is counted and the first shown.
mcp_lua() {
  cat > "$1" <<'LUA'
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
}

# figures WRK_OUTPUT: "rate p50 p99 non2xx" of one wrk --latency run.
figures() {
  local out="$1"
  echo "$(echo "$out" | awk '/Requests\/sec/ {printf "%.1f", $2}') \
$(echo "$out" | awk '$1=="50%" {print $2}') $(echo "$out" | awk '$1=="99%" {print $2}') \
$(echo "$out" | awk '/Non-2xx/ {print $NF}' | grep . || echo 0)"
}

# unexpected WRK_OUTPUT: "(unexpected)" when a Lua check failed.
unexpected() {
  if echo "$1" | grep -q "unexpected answer"; then echo "(unexpected)"; fi
}

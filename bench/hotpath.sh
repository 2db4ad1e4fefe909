#!/usr/bin/env bash
# The hot-path benchmark of docs/benchmarks.md: the release `authgate`
# binary pinned to one core, wrk pinned to the other, stateless JSON MCP
# calls of whoami and get_project_status at 1 and 16 connections, on SQLite
# and on PostgreSQL. Prints one Markdown table row per run.
#
#   bash bench/hotpath.sh [sqlite|postgres|both] [seconds]
#
# BENCH_TOOLS, BENCH_CONNS and RUNS change what is measured; AUTHGATE_BIN
# runs a binary built earlier. PostgreSQL itself is not pinned and shares
# the machine.
source "$(dirname "$0")/lib.sh"
mcp_lua "$work/call.lua"
for backend in $backends; do
  start_server "$backend"
  for tool in ${BENCH_TOOLS:-whoami get_project_status}; do
    for conns in ${BENCH_CONNS:-1 16}; do
      # A short warm-up, then the measured runs; the median by throughput.
      AUTHGATE_KEY="$key" AUTHGATE_TOOL="$tool" taskset -c 1 wrk -t1 -c"$conns" -d2s -s "$work/call.lua" "$url/api/mcp" >/dev/null 2>&1
      rows=()
      for _ in $(seq 1 "${RUNS:-3}"); do
        out=$(AUTHGATE_KEY="$key" AUTHGATE_TOOL="$tool" taskset -c 1 wrk -t1 -c"$conns" -d"${seconds}s" --latency -s "$work/call.lua" "$url/api/mcp" 2>&1)
        rows+=("$(figures "$out")$(unexpected "$out")")
      done
      all=$(printf '%s\n' "${rows[@]}" | sort -n | awk '{printf "%.0f\n", $1}' | paste -sd/ -)
      median=$(printf '%s\n' "${rows[@]}" | sort -n | awk -v n="${#rows[@]}" 'NR==int((n+1)/2)')
      read -r rps p50 p99 errs <<<"$median"
      echo "| $tool | $backend | $conns | ${rps%.*} | $p50 | $p99 | $errs | $all |"
    done
  done
  stop_server
done

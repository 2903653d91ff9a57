#!/usr/bin/env bash
# Ingestion on PostgreSQL (issue 22): unique signed 7 KB convo.status deliveries (bench/load/signed-post.lua), flat out,
# against N `serve` instances on one PostgreSQL database (a throwaway cluster of Debian's package, tests/Postgres/cluster.sh,
# with fsync and synchronous commits on, as in production), the load spread over the instances (one wrk per instance, the
# connections split between them: a load balancer's round robin; every wrk posts to the same 20,000 conversations, so a
# conversation's deliveries arrive at every instance). For each N: the total rate, p99 of the slowest instance, the CPU
# per delivery of the serve processes and of PostgreSQL's, and how many deliveries were processed when the load ended.
# Everything runs on this machine: PostgreSQL's CPU competes with serve's, as it would not on separate machines.
# Usage: bench/load/postgres.sh [seconds per run, default 15] [instance counts, default "1 3"]
# Env: WARMUP seconds (default 5); CONNECTIONS in all (default 16).
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${1:-15}
COUNTS=${2:-"1 3"}
WARMUP=${WARMUP:-5}
CONNECTIONS=${CONNECTIONS:-16}
SECRET=53c5b91fa80f92634e3931d58dc6e7b4   # the fixtures' TEST secret
TOKEN=postgres-bench-admin-token-0123456789AbCdEf
CONSOLE_KEY=postgres-bench-console-key-0123456789AbCdEf
TEMPLATE=tests/fixtures/freescout/wire/convo.status.closed.body
SCRIPT=bench/load/signed-post.lua
WORK=$(mktemp -d /tmp/fsr-pg-bench.XXXXXX)
chmod 755 "$WORK"
CLUSTER=$WORK/cluster
PORT=$((20000 + RANDOM % 20000))
trap 'kill $(jobs -p) 2>/dev/null || true; bash tests/Postgres/cluster.sh stop "$CLUSTER" || true; rm -rf "$WORK"' EXIT

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
[ -e /usr/lib/x86_64-linux-gnu/libcrypto.so ] || [ -e /usr/lib/aarch64-linux-gnu/libcrypto.so ] || apt-get install -y -qq libssl-dev >/dev/null
dotnet build -c Release -v q --nologo engine/FreeScoutRules.Host >/dev/null
SUPER=$(DURABLE=1 bash tests/Postgres/cluster.sh start "$CLUSTER" "$PORT")
psql_run() { PGPASSWORD=$(sed -E 's/.*Password=([^;]+).*/\1/' <<<"$SUPER") psql -h 127.0.0.1 -p "$PORT" -U fsr -d postgres -qAt -c "$1"; }
cpu_ticks() { awk '{ s += $14 + $15 } END { print s + 0 }' "$@" 2>/dev/null; }
# The cluster's postmaster (first line of its pid file) and its backends: PostgreSQL's CPU, this cluster's alone.
postgres_pids() { local pm; pm=$(head -n 1 "$CLUSTER/data/postmaster.pid" 2>/dev/null) || return 0; echo "$pm $(pgrep -d ' ' -P "$pm" || true)"; }
proc_stats() { for p in "$@"; do [ -e "/proc/$p/stat" ] && echo "/proc/$p/stat"; done; }
wait_ready() { for _ in $(seq 1 300); do curl -fs "$1" >/dev/null 2>&1 && return 0; sleep 0.2; done; echo "not ready: $1" >&2; exit 1; }

echo "machine: $(nproc) cores, $(dotnet --version), commit $(git rev-parse --short HEAD), $(psql --version | head -1); fsync on"
for n in $COUNTS; do
  db=bench_$n
  psql_run "CREATE DATABASE $db"
  connection=${SUPER/Database=postgres/Database=$db}
  pids=()
  for i in $(seq 1 "$n"); do
    mkdir -p "$WORK/i$n-$i/rules"
    cp rules/status-change.csx "$WORK/i$n-$i/rules/"
    FREESCOUTRULES_WEBHOOK_SECRET=$SECRET FREESCOUTRULES_ADMIN_TOKEN=$TOKEN FREESCOUTRULES_CONSOLE_KEY=$CONSOLE_KEY \
      Storage__Provider=postgres ConnectionStrings__Postgres="$connection" Logging__LogLevel__Default=Warning \
      dotnet engine/FreeScoutRules.Host/bin/Release/net10.0/freescout-rules.dll serve \
      --urls "http://127.0.0.1:$((5200 + i))" --data-dir "$WORK/i$n-$i/data" --rules "$WORK/i$n-$i/rules" >"$WORK/i$n-$i/serve.log" 2>&1 &
    pids+=($!)
  done
  for i in $(seq 1 "$n"); do wait_ready "http://127.0.0.1:$((5200 + i))/readyz"; done
  per=$(( (CONNECTIONS + n - 1) / n ))
  loads=()
  for i in $(seq 1 "$n"); do
    wrk -t1 -c"$per" -d"${WARMUP}s" -s $SCRIPT "http://127.0.0.1:$((5200 + i))/webhooks/freescout" -- $TEMPLATE $SECRET 0 >/dev/null &
    loads+=($!)
  done
  wait "${loads[@]}"
  sleep 1
  serve0=$(cpu_ticks $(proc_stats "${pids[@]}")); pg0=$(cpu_ticks $(proc_stats $(postgres_pids)))
  loads=()
  for i in $(seq 1 "$n"); do
    { wrk -t1 -c"$per" -d"${DURATION}s" --latency -s $SCRIPT "http://127.0.0.1:$((5200 + i))/webhooks/freescout" -- $TEMPLATE $SECRET 0 | tail -n 1 >"$WORK/wrk-$n-$i.txt"; } &
    loads+=($!)
  done
  wait "${loads[@]}"
  serve1=$(cpu_ticks $(proc_stats "${pids[@]}")); pg1=$(cpu_ticks $(proc_stats $(postgres_pids)))
  requests=$(cat "$WORK"/wrk-$n-*.txt | sed -E 's/^requests ([0-9]+).*/\1/' | paste -sd+ | bc)
  errors=$(cat "$WORK"/wrk-$n-*.txt | sed -E 's/.*non-2xx ([0-9]+).*/\1/' | paste -sd+ | bc)
  p99=$(cat "$WORK"/wrk-$n-*.txt | sed -E 's/.*p99 ([0-9.]+) ms.*/\1/' | sort -g | tail -1)
  processed=$(PGPASSWORD=$(sed -E 's/.*Password=([^;]+).*/\1/' <<<"$SUPER") psql -h 127.0.0.1 -p "$PORT" -U fsr -d "$db" -qAt -c "SELECT COUNT(*) FILTER (WHERE outcome = 'done'), COUNT(*) FROM deliveries")
  hz=$(getconf CLK_TCK)
  printf '%d instance(s): %d requests, non-2xx %d, rate %.0f/s, p99 %s ms (slowest instance); CPU per delivery: serve %.0f µs, PostgreSQL %.0f µs; processed/stored at the end %s\n' \
    "$n" "$requests" "$errors" "$(echo "$requests / $DURATION" | bc -l)" "$p99" \
    "$(echo "($serve1 - $serve0) / $hz * 1000000 / $requests" | bc -l)" "$(echo "($pg1 - $pg0) / $hz * 1000000 / $requests" | bc -l)" "$processed"
  kill "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
done

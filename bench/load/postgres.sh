#!/usr/bin/env bash
# Ingestion on PostgreSQL (issue 22): unique signed 7 KB convo.status deliveries (bench/load/signed-post.lua), flat out,
# against N `serve` instances on one PostgreSQL database (a throwaway cluster of Debian's package, tests/Postgres/cluster.sh,
# with fsync and synchronous commits on, as in production), the load spread over the instances (one wrk per instance, the
# connections split between them: a load balancer's round robin; every wrk posts to the same 10,000 conversations, each
# starting elsewhere among them, so that a conversation's deliveries arrive at every instance, one after the other). For each N: the total rate, p99 of the slowest instance, the CPU
# per delivery of the serve processes and of PostgreSQL's, and how many deliveries were processed when the load ended.
# Everything runs on this machine: PostgreSQL's CPU competes with serve's, as it would not on separate machines.
# First, in the same run, one instance on the SQLite default (its data directory on this machine's disk) as the baseline
# (issue 22: one instance on PostgreSQL at least half its rate); after each flat-out run, the same instances paced at
# 80% of that rate (p99 there: at most 20 ms).
# Usage: bench/load/postgres.sh [seconds per run, default 15] [instance counts, default "1 3"]
# Env: WARMUP seconds (default 5); CONNECTIONS in all (default 16); SQLITE=0 skips the baseline; PACED=0 skips the paced
#      runs; PROFILE=1 loads pg_stat_statements and prints the statements by PostgreSQL time after each count's runs;
#      PIN=1 keeps PostgreSQL on core 0 and everything else on the other cores; PG_EXTRA is appended to the instances'
#      connection string (";Multiplexing=true", say).
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
SQLITE=${SQLITE:-1}
PACED=${PACED:-1}
PROFILE=${PROFILE:-0}
pg_options=""
[ "$PROFILE" = 1 ] && pg_options="-c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all"
# PIN=1: PostgreSQL on core 0, the serve processes and the load on the others (as separate machines would keep them
# apart; the SQLite baseline gets the same cores as serve).
PIN=${PIN:-0}
pg_cpus=""; serve_cpus=""
if [ "$PIN" = 1 ]; then pg_cpus="taskset -c 0"; serve_cpus="taskset -c 1-$(( $(nproc) - 1 ))"; fi
SUPER=$(DURABLE=1 PG_OPTIONS="$pg_options" $pg_cpus bash tests/Postgres/cluster.sh start "$CLUSTER" "$PORT")
psql_run() { PGPASSWORD=$(sed -E 's/.*Password=([^;]+).*/\1/' <<<"$SUPER") psql -h 127.0.0.1 -p "$PORT" -U fsr -d postgres -qAt -c "$1"; }
psql_db() { PGPASSWORD=$(sed -E 's/.*Password=([^;]+).*/\1/' <<<"$SUPER") psql -h 127.0.0.1 -p "$PORT" -U fsr -d "$DB" -qAt -c "$1"; }
cpu_ticks() { awk '{ s += $14 + $15 } END { print s + 0 }' "$@" 2>/dev/null; }
# The cluster's postmaster (first line of its pid file) and its backends: PostgreSQL's CPU, this cluster's alone.
postgres_pids() { local pm; pm=$(head -n 1 "$CLUSTER/data/postmaster.pid" 2>/dev/null) || return 0; echo "$pm $(pgrep -d ' ' -P "$pm" || true)"; }
proc_stats() { for p in "$@"; do [ -e "/proc/$p/stat" ] && echo "/proc/$p/stat"; done; }
# wait_ready URL LOG: waits for the instance's /readyz; if it never is, prints the end of its log and stops.
wait_ready() { for _ in $(seq 1 300); do curl -fs "$1" >/dev/null 2>&1 && return 0; sleep 0.2; done; echo "not ready: $1" >&2; grep -v "^   at " "$2" | tail -n 20 >&2; exit 1; }

echo "machine: $(nproc) cores, $(dotnet --version), commit $(git rev-parse --short HEAD), $(psql --version | head -1); fsync on"
hz=$(getconf CLK_TCK)

# start_instances NAME N [CONNECTION]: N serve processes (on PostgreSQL when CONNECTION is given, else each on its own
# SQLite data directory); sets PIDS.
start_instances() {
  local name=$1 n=$2 connection=${3:-}
  PIDS=()
  for i in $(seq 1 "$n"); do
    mkdir -p "$WORK/$name-$i/rules"
    cp rules/status-change.csx "$WORK/$name-$i/rules/"
    if [ -n "$connection" ]; then
      FREESCOUTRULES_WEBHOOK_SECRET=$SECRET FREESCOUTRULES_ADMIN_TOKEN=$TOKEN FREESCOUTRULES_CONSOLE_KEY=$CONSOLE_KEY \
        Storage__Provider=postgres ConnectionStrings__Postgres="$connection" Logging__LogLevel__Default=Warning \
        $serve_cpus dotnet engine/FreeScoutRules.Host/bin/Release/net10.0/freescout-rules.dll serve \
        --urls "http://127.0.0.1:$((5200 + i))" --data-dir "$WORK/$name-$i/data" --rules "$WORK/$name-$i/rules" >"$WORK/$name-$i/serve.log" 2>&1 &
    else
      FREESCOUTRULES_WEBHOOK_SECRET=$SECRET FREESCOUTRULES_ADMIN_TOKEN=$TOKEN Logging__LogLevel__Default=Warning \
        $serve_cpus dotnet engine/FreeScoutRules.Host/bin/Release/net10.0/freescout-rules.dll serve \
        --urls "http://127.0.0.1:$((5200 + i))" --data-dir "$WORK/$name-$i/data" --rules "$WORK/$name-$i/rules" >"$WORK/$name-$i/serve.log" 2>&1 &
    fi
    PIDS+=($!)
  done
  for i in $(seq 1 "$n"); do wait_ready "http://127.0.0.1:$((5200 + i))/readyz" "$WORK/$name-$i/serve.log"; done
}

# measure LABEL N PACE: a warm-up, then DURATION seconds of load spread over the N instances (PACE: requests per second
# per instance, 0 = flat out); prints one line and sets RATE.
measure() {
  local label=$1 n=$2 pace=$3 per=$(( (CONNECTIONS + $2 - 1) / $2 )) loads=() serve0 serve1 pg0 pg1 requests errors p99
  for i in $(seq 1 "$n"); do
    $serve_cpus wrk -t1 -c"$per" -d"${WARMUP}s" -s $SCRIPT "http://127.0.0.1:$((5200 + i))/webhooks/freescout" -- $TEMPLATE $SECRET "$pace" $(( (i - 1) * 10000 / n )) >/dev/null &
    loads+=($!)
  done
  wait "${loads[@]}"
  sleep 1
  [ "$PROFILE" = 1 ] && [ "$label" != sqlite ] && psql_db "SELECT pg_stat_statements_reset()" >/dev/null
  serve0=$(cpu_ticks $(proc_stats "${PIDS[@]}")); pg0=$(cpu_ticks $(proc_stats $(postgres_pids)))
  loads=()
  rm -f "$WORK"/wrk-*.txt
  for i in $(seq 1 "$n"); do
    { $serve_cpus wrk -t1 -c"$per" -d"${DURATION}s" --latency -s $SCRIPT "http://127.0.0.1:$((5200 + i))/webhooks/freescout" -- $TEMPLATE $SECRET "$pace" $(( (i - 1) * 10000 / n + 5000 / n )) | tail -n 1 >"$WORK/wrk-$i.txt"; } &
    loads+=($!)
  done
  wait "${loads[@]}"
  serve1=$(cpu_ticks $(proc_stats "${PIDS[@]}")); pg1=$(cpu_ticks $(proc_stats $(postgres_pids)))
  requests=$(cat "$WORK"/wrk-*.txt | sed -E 's/^requests ([0-9]+).*/\1/' | paste -sd+ | bc)
  errors=$(cat "$WORK"/wrk-*.txt | sed -E 's/.*non-2xx ([0-9]+).*/\1/' | paste -sd+ | bc)
  p99=$(cat "$WORK"/wrk-*.txt | sed -E 's/.*p99 ([0-9.]+) ms.*/\1/' | sort -g | tail -1)
  RATE=$(echo "$requests / $DURATION" | bc)
  printf '%s: %d instance(s)%s: %d requests, non-2xx %d, rate %d/s, p99 %s ms (slowest instance); CPU per delivery: serve %.0f µs, PostgreSQL %.0f µs\n' \
    "$label" "$n" "$([ "$pace" = 0 ] && echo ", flat out" || echo ", paced at $((pace * n))/s")" "$requests" "$errors" "$RATE" "$p99" \
    "$(echo "($serve1 - $serve0) / $hz * 1000000 / $requests" | bc -l)" "$(echo "($pg1 - $pg0) / $hz * 1000000 / $requests" | bc -l)"
}

stop_instances() {
  kill "${PIDS[@]}" 2>/dev/null || true
  wait "${PIDS[@]}" 2>/dev/null || true
}

SQLITE_RATE=
if [ "$SQLITE" = 1 ]; then
  start_instances sqlite 1
  measure sqlite 1 0
  SQLITE_RATE=$RATE
  stop_instances
fi

for n in $COUNTS; do
  db=bench_$n
  psql_run "CREATE DATABASE $db"
  [ "$PROFILE" = 1 ] && psql_run "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" && DB=$db psql_db "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"
  connection=${SUPER/Database=postgres/Database=$db}${PG_EXTRA:-}
  DB=$db
  start_instances "pg$n" "$n" "$connection"
  measure postgres "$n" 0
  flat=$RATE
  [ -n "$SQLITE_RATE" ] && [ "$n" = 1 ] && printf 'one instance on PostgreSQL: %.2f of the SQLite default in this run (issue 22: at least 0.5)\n' "$(echo "$flat / $SQLITE_RATE" | bc -l)"
  if [ "$PROFILE" = 1 ]; then
    echo "-- statements by PostgreSQL time during the flat-out run (pg_stat_statements):"
    psql_db "SELECT round(total_exec_time::numeric, 0) || ' ms, ' || calls || ' calls, ' || round((total_exec_time / calls)::numeric * 1000, 0) || ' µs/call: ' || left(regexp_replace(query, '\s+', ' ', 'g'), 110) FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) ORDER BY total_exec_time DESC LIMIT 12"
  fi
  if [ "$PACED" = 1 ]; then
    measure postgres "$n" $((flat * 8 / 10 / n))
  fi
  processed=$(psql_db "SELECT COUNT(*) FILTER (WHERE outcome = 'done') || ' of ' || COUNT(*) FROM deliveries")
  echo "  processed at the end: $processed"
  # What the instances warned about (claims lost, retries): none expected.
  cat "$WORK"/pg$n-*/serve.log | grep -E '^(warn|fail|crit): ' | sed -E 's/^(\w+): ([^[]+)\[([0-9]+)\].*/  \1 \3 (\2)/' | sort | uniq -c | sort -rn | head -5 || true
  stop_instances
done

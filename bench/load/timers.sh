#!/usr/bin/env bash
# Timer targets (issue 11), measured on `serve` (Release) with the built-in status rules plus
# bench/load/timer-rules/follow-up.csx (every delivery schedules its conversation's follow-up FOLLOW_UP
# seconds after receipt; the follow-up's rule runs when it fires), in three parts:
#   1. lateness: paced signed 7 KB convo.status deliveries (bench/load/signed-post.lua, 16 connections,
#      20,000 conversations) at RATE/s, WARMUP s, then SECONDS s measured: the timers that fired in
#      the measured run (due while under load), their lateness (freescout_rules_timers_lateness_seconds:
#      due time to committed result) as p50/p99 interpolated within the histogram's buckets, as the
#      share within 1 s, and the highest bucket reached; the load's own acknowledgement p50/p99.
#   2. memory: serve's resident memory (VmRSS) SETTLE s after it is ready, on an empty database and on
#      one with TIMERS pending timers due 30 days ahead (`fill-timers`), then again after SECONDS s of the
#      same load and SETTLE s of rest; the managed heap after the last GC beside it.
#   3. firing: FIRE timers all due already when serve starts: from ready until every one fired (timers
#      fired and committed per second) and until every firing's delivery was evaluated and committed
#      (processed per second), sampled every 0.5 s, with the peak dispatch queue and resident memory.
# Usage: bench/load/timers.sh [seconds of load, default 30] [deliveries/s, default 1000] [pending timers, default 1000000]
# Env: FIRE (timers due at start in part 3, default the pending timers), WARMUP (default 10), SETTLE
#      (default 20), FOLLOW_UP (default 3); SKIP_LATENESS=1, SKIP_MEMORY=1, SKIP_FIRING=1 leave parts out;
#      FILL_DELIVERIES=N fills part 3's database with `fill-database` first (N processed deliveries in up to
#      1,000,000 conversations, the timers' conversations among them), so each firing reads a known state
#      and a stored snapshot (its body when within the newest 7/90 of the fill).
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_LOAD=${1:-30}
RATE=${2:-1000}
TIMERS=${3:-1000000}
FIRE=${FIRE:-$TIMERS}
WARMUP=${WARMUP:-10}
SETTLE=${SETTLE:-20}
FOLLOW_UP=${FOLLOW_UP:-3}
PORT=5095
URL=http://127.0.0.1:$PORT
SECRET=53c5b91fa80f92634e3931d58dc6e7b4   # the fixtures' TEST secret
TOKEN=timers-bench-admin-token-0123456789AbC
TEMPLATE=tests/fixtures/freescout/wire/convo.status.closed.body
SCRIPT=bench/load/signed-post.lua
WORK=$(mktemp -d)
SERVE=
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
[ -e /usr/lib/x86_64-linux-gnu/libcrypto.so ] || [ -e /usr/lib/aarch64-linux-gnu/libcrypto.so ] || apt-get install -y -qq libssl-dev >/dev/null
for project in engine/FreeScoutRules.Host bench/FreeScoutRules.Benchmarks; do dotnet build -c Release -v q --nologo "$project" >/dev/null; done
BENCH=bench/FreeScoutRules.Benchmarks/bin/Release/net10.0/FreeScoutRules.Benchmarks.dll

mkdir -p "$WORK/rules"
cp rules/status-change.csx "$WORK/rules/"
sed "s/TimeSpan.FromSeconds(3)/TimeSpan.FromSeconds($FOLLOW_UP)/" bench/load/timer-rules/follow-up.csx >"$WORK/rules/follow-up.csx"

now() { date +%s.%N; }
metrics() { curl -fs -H "Authorization: Bearer $TOKEN" "$URL/metrics" 2>/dev/null || true; }
# value METRICS-TEXT NAME-REGEX [DECIMALS]: the sum of the matching samples' values (0 when none).
value() { awk -v m="^$2" -v f="%.${3:-0}f\n" '$0 ~ m { v += $NF } END { printf f, v }' <<<"$1"; }
rss_mb() { awk '/^VmRSS/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; }
cpu_seconds() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.1f", ($14 + $15) / hz }' "/proc/$1/stat"; }

# start_serve DATA-DIR: serve on it in the background (SERVE: its pid), returns once it is ready.
start_serve() {
  FREESCOUTRULES_WEBHOOK_SECRET=$SECRET FREESCOUTRULES_ADMIN_TOKEN=$TOKEN Logging__LogLevel__Default=Warning \
    dotnet engine/FreeScoutRules.Host/bin/Release/net10.0/freescout-rules.dll serve \
    --urls "$URL" --data-dir "$1" --rules "$WORK/rules" >>"$WORK/serve.log" 2>&1 &
  SERVE=$!
  for _ in $(seq 1 300); do curl -fs "$URL/readyz" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "serve not ready" >&2; tail -n 20 "$WORK/serve.log" >&2; exit 1
}
stop_serve() { kill "$SERVE"; wait "$SERVE" 2>/dev/null || true; SERVE=; }

# paced SECONDS: the load at RATE/s (wrk -t2: half each), prints wrk's summary line.
paced() { wrk -t2 -c16 -d"$1"s --latency -s $SCRIPT "$URL/webhooks/freescout" -- $TEMPLATE $SECRET $((RATE / 2)) | tail -n 1; }

# buckets METRICS-TEXT: the lateness histogram's cumulative counts, "le count" per line.
buckets() { sed -nE 's/^freescout_rules_timers_lateness_seconds_bucket\{.*le="([^"]+)".*\} ([0-9]+)$/\1 \2/p' <<<"$1"; }

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(dotnet --version), commit $(git rev-parse --short HEAD); load average $(cut -d' ' -f1-3 /proc/loadavg)"

if [ "${SKIP_LATENESS:-0}" != 1 ]; then
  echo "== 1. lateness: $RATE deliveries/s, ${WARMUP} s warm-up, ${SECONDS_LOAD} s measured, follow-ups ${FOLLOW_UP} s after receipt =="
  start_serve "$WORK/lateness"
  paced "$WARMUP" >/dev/null
  before=$(metrics); cpu0=$(cpu_seconds "$SERVE")
  ( for _ in $(seq 1 "$SECONDS_LOAD"); do sleep 1; value "$(metrics)" freescout_rules_dispatch_queue_depth; done | sort -n | tail -n 1 >"$WORK/queue-max" ) &
  SAMPLER=$!
  line=$(paced "$SECONDS_LOAD")
  after=$(metrics); cpu1=$(cpu_seconds "$SERVE")
  wait $SAMPLER
  echo "load: $line"
  awk 'FILENAME == ARGV[1] { before[$1] = $2; next } { print $1, before[$1] + 0, $2 }' <(buckets "$before") <(buckets "$after") | awk -v fired0="$(value "$before" freescout_rules_timers_fired_total)" \
      -v fired1="$(value "$after" freescout_rules_timers_fired_total)" -v seconds="$SECONDS_LOAD" \
      -v sum="$(awk -v a="$(value "$before" freescout_rules_timers_lateness_seconds_sum 3)" -v b="$(value "$after" freescout_rules_timers_lateness_seconds_sum 3)" 'BEGIN { print b - a }')" '
    { le[NR] = $1; count[NR] = $3 - $2; n = NR }
    function quantile(q,   target, i, lower, below) {
      target = q * count[n]; lower = 0; below = 0
      for (i = 1; i <= n; i++) {
        if (count[i] >= target) {
          if (le[i] == "+Inf") return "> " le[i - 1] " s"
          if (i == 1) return "≤ " le[i] " s (the first bucket)"
          return sprintf("%.3f s (bucket %s–%s s)", lower + (le[i] - lower) * (target - below) / (count[i] - below), lower, le[i])
        }
        lower = le[i]; below = count[i]
      }
    }
    END {
      total = count[n]
      for (i = 1; i <= n; i++) if (le[i] == "1") within = count[i]
      for (i = 1; i <= n; i++) if (count[i] == total) { top = le[i]; break }
      printf "timers: fired %d in the measured run (%.0f/s), lateness committed %d: mean %.3f s, p50 %s, p99 %s; within 1 s: %.3f%%; all within %s s\n",
        fired1 - fired0, (fired1 - fired0) / seconds, total, total ? sum / total : 0, quantile(0.5), quantile(0.99), total ? 100 * within / total : 0, top
    }'
  printf 'serve CPU %.2f cores over the measured run; dispatch queue at most %s (sampled each second)\n' \
    "$(awk -v a="$cpu0" -v b="$cpu1" -v s="$SECONDS_LOAD" 'BEGIN { print (b - a) / s }')" "$(cat "$WORK/queue-max")"
  stop_serve
fi

if [ "${SKIP_MEMORY:-0}" != 1 ]; then
  echo "== 2. memory: resident memory ${SETTLE} s after ready, then after ${SECONDS_LOAD} s at $RATE/s and ${SETTLE} s of rest =="
  for case in empty "$TIMERS"; do
    dir="$WORK/memory-$case"
    if [ "$case" != empty ]; then dotnet $BENCH fill-timers "$dir" "$TIMERS" >/dev/null; fi
    sync
    start_serve "$dir"
    sleep "$SETTLE"
    idle=$(rss_mb "$SERVE"); idle_heap=$(value "$(metrics)" dotnet_gc_last_collection_heap_size_bytes)
    line=$(paced "$SECONDS_LOAD")
    sleep "$SETTLE"
    loaded=$(rss_mb "$SERVE"); m=$(metrics)
    printf '%-18s idle %4d MB (heap %3.0f MB); after load %4d MB (heap %3.0f MB), pending now %s; load: %s\n' \
      "$([ "$case" = empty ] && echo "empty timer table" || echo "$case pending")" "$idle" "$(awk -v b="$idle_heap" 'BEGIN { print b / 1048576 }')" \
      "$loaded" "$(value "$m" dotnet_gc_last_collection_heap_size_bytes | awk '{ print $1 / 1048576 }')" \
      "$(curl -fs -H "Authorization: Bearer $TOKEN" "$URL/api/timers?limit=1" | grep -q conversationId && echo some || echo none)" "$line"
    stop_serve
    rm -rf "$dir"
  done
fi

if [ "${SKIP_FIRING:-0}" != 1 ]; then
  echo "== 3. firing: $FIRE timers due when serve starts =="
  dir="$WORK/firing"
  if [ "${FILL_DELIVERIES:-0}" != 0 ]; then dotnet $BENCH fill-database "$dir" "$FILL_DELIVERIES" | sed 's/^/fill: /'; fi
  dotnet $BENCH fill-timers "$dir" "$FIRE" -1 | sed 's/^/fill: /'
  sync
  start_serve "$dir"
  t0=$(now); m=$(metrics); f0=$(value "$m" freescout_rules_timers_fired_total); p0=$(value "$m" 'freescout_rules_deliveries_processed_total.*outcome="done"')
  cpu0=$(cpu_seconds "$SERVE"); c0=$(value "$m" freescout_rules_storage_commits_total); o0=$(value "$m" freescout_rules_storage_committed_operations_total)
  echo "at ready: fired $f0, processed $p0"
  t_fired=; peak_queue=0; peak_rss=0; last=0
  while :; do
    sleep 0.5
    m=$(metrics); t=$(now)
    fired=$(value "$m" freescout_rules_timers_fired_total); processed=$(value "$m" 'freescout_rules_deliveries_processed_total.*outcome="done"')
    queue=$(value "$m" freescout_rules_dispatch_queue_depth); rss=$(rss_mb "$SERVE")
    [ "$queue" -gt "$peak_queue" ] && peak_queue=$queue
    [ "$rss" -gt "$peak_rss" ] && peak_rss=$rss
    if [ -z "$t_fired" ] && [ "$fired" -ge "$FIRE" ]; then t_fired=$t; fi
    elapsed=$(awk -v a="$t0" -v b="$t" 'BEGIN { printf "%d", b - a }')
    if [ "$elapsed" -ge $((last + 10)) ]; then
      last=$elapsed; echo "  t=${elapsed}s fired $fired, processed $processed, queue $queue, RSS $rss MB"
    fi
    [ "$processed" -ge "$FIRE" ] && break
    [ "$elapsed" -gt 3600 ] && { echo "gave up after an hour" >&2; break; }
  done
  cpu1=$(cpu_seconds "$SERVE"); c1=$(value "$m" freescout_rules_storage_commits_total); o1=$(value "$m" freescout_rules_storage_committed_operations_total)
  awk -v t0="$t0" -v tf="$t_fired" -v td="$t" -v f0="$f0" -v p0="$p0" -v n="$FIRE" -v pq="$peak_queue" -v pr="$peak_rss" \
      -v cpu="$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { print b - a }')" -v commits=$((c1 - c0)) -v ops=$((o1 - o0)) 'BEGIN {
    printf "all fired %.1f s after ready: %.0f fired/s; all processed %.1f s after ready: %.0f processed/s\n", tf - t0, (n - f0) / (tf - t0), td - t0, (n - p0) / (td - t0)
    printf "peak dispatch queue %d, peak RSS %d MB; serve CPU %.0f µs per timer (%.2f cores); %.1f operations per commit\n", pq, pr, cpu * 1e6 / (n - p0), cpu / (td - t0), commits ? ops / commits : 0
  }'
  stop_serve
fi
grep -iE "error|fail" "$WORK/serve.log" | grep -v "loops_failures" | head -n 5 || true

#!/usr/bin/env bash
# Ingestion load test (issue 3): unique signed 7 KB convo.status deliveries over 16 connections,
# against a bare Kestrel endpoint (reads the body, answers 202) and against `freescout-rules serve`
# (durable: verify, validate, store with fsync, dispatch), in the same run; then a paced run at
# RATE deliveries/s sampling the dispatcher's queue depth.
# Usage: bench/load/run.sh [seconds per run, default 20] [paced rate, default 5000]
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${1:-20}
RATE=${2:-5000}
CONNECTIONS=16
SECRET=53c5b91fa80f92634e3931d58dc6e7b4   # the fixtures' TEST secret
TEMPLATE=tests/fixtures/freescout/wire/convo.status.closed.body
SCRIPT=bench/load/signed-post.lua
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
[ -e /usr/lib/x86_64-linux-gnu/libcrypto.so ] || [ -e /usr/lib/aarch64-linux-gnu/libcrypto.so ] || apt-get install -y -qq libssl-dev >/dev/null
for project in engine/FreeScoutRules.Host bench/FreeScoutRules.BareKestrel; do dotnet build -c Release -v q --nologo "$project" >/dev/null; done

wait_ready() { for _ in $(seq 1 100); do curl -fs "$1" >/dev/null 2>&1 && return 0; sleep 0.2; done; echo "not ready: $1" >&2; exit 1; }
queue_depth() { curl -fs http://127.0.0.1:5092/metrics | awk '/^freescout_rules_dispatch_queue_depth/ {print $NF}'; }

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(dotnet --version)"
echo "== bare Kestrel (read body, 202) =="
dotnet bench/FreeScoutRules.BareKestrel/bin/Release/net10.0/FreeScoutRules.BareKestrel.dll --urls http://127.0.0.1:5091 >/dev/null 2>&1 &
BARE=$!
sleep 2
wrk -t2 -c$CONNECTIONS -d3s -s $SCRIPT http://127.0.0.1:5091/webhooks/freescout -- $TEMPLATE $SECRET >/dev/null   # warm-up
wrk -t2 -c$CONNECTIONS -d${DURATION}s --latency -s $SCRIPT http://127.0.0.1:5091/webhooks/freescout -- $TEMPLATE $SECRET | tail -n 1
kill $BARE; wait $BARE 2>/dev/null || true

echo "== freescout-rules serve (durable SQLite, built-in rules) =="
mkdir -p "$WORK/rules" && cp rules/status-change.csx "$WORK/rules/"
FREESCOUTRULES_WEBHOOK_SECRET=$SECRET FREESCOUTRULES_ADMIN_TOKEN=load-test-admin-token \
  Logging__LogLevel__Default=Warning \
  dotnet engine/FreeScoutRules.Host/bin/Release/net10.0/freescout-rules.dll serve \
  --urls http://127.0.0.1:5092 --data-dir "$WORK/data" --rules "$WORK/rules" >"$WORK/serve.log" 2>&1 &
SERVE=$!
wait_ready http://127.0.0.1:5092/readyz
wrk -t2 -c$CONNECTIONS -d3s -s $SCRIPT http://127.0.0.1:5092/webhooks/freescout -- $TEMPLATE $SECRET >/dev/null   # warm-up
wrk -t2 -c$CONNECTIONS -d${DURATION}s --latency -s $SCRIPT http://127.0.0.1:5092/webhooks/freescout -- $TEMPLATE $SECRET | tail -n 1
echo "queue depth right after: $(queue_depth)"
start=$(date +%s.%N); while [ "$(queue_depth)" != "0" ]; do sleep 0.2; done
echo "drained in $(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }') s"

echo "== paced: $RATE deliveries/s, queue depth sampled every second =="
PER_THREAD=$(( RATE / 2 ))   # wrk -t2
( for _ in $(seq 1 "$DURATION"); do sleep 1; printf '%s ' "$(queue_depth)"; done; echo ) &
SAMPLER=$!
wrk -t2 -c$CONNECTIONS -d${DURATION}s --latency -s $SCRIPT http://127.0.0.1:5092/webhooks/freescout -- $TEMPLATE $SECRET $PER_THREAD | tail -n 1
wait $SAMPLER
echo "queue depth after: $(queue_depth)"
echo "stored: $(du -h "$WORK/data" | tail -n 1 | cut -f1)"
kill $SERVE; wait $SERVE 2>/dev/null || true
grep -iE "error|fail" "$WORK/serve.log" | head -n 5 || true

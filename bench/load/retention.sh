#!/usr/bin/env bash
# Retention soak (issue 10): steady paced load on `serve` with short retention windows, sampling the
# database's size (/api/status) every SAMPLE seconds. With retention the file stops growing once the
# windows are full: freed pages are reused by new deliveries.
# Usage: bench/load/retention.sh [minutes, default 4] [deliveries/s, default 1000] [bodies window, default 00:00:30] [records window, default 00:01:00]
set -euo pipefail
cd "$(dirname "$0")/../.."
MINUTES=${1:-4}
RATE=${2:-1000}
BODIES=${3:-00:00:30}
RECORDS=${4:-00:01:00}
SAMPLE=15
SECRET=53c5b91fa80f92634e3931d58dc6e7b4   # the fixtures' TEST secret
TOKEN=retention-soak-admin-token-0123456789AbC
TEMPLATE=tests/fixtures/freescout/wire/convo.status.closed.body
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
dotnet build -c Release -v q --nologo engine/FreeScoutRules.Host >/dev/null

FREESCOUTRULES_WEBHOOK_SECRET=$SECRET FREESCOUTRULES_ADMIN_TOKEN=$TOKEN Logging__LogLevel__Default=Warning \
  Retention__Bodies=$BODIES Retention__Records=$RECORDS Retention__Interval=00:00:05 \
  dotnet engine/FreeScoutRules.Host/bin/Release/net10.0/freescout-rules.dll serve \
  --urls http://127.0.0.1:5093 --data-dir "$WORK/data" --rules rules >"$WORK/serve.log" 2>&1 &
for _ in $(seq 1 100); do curl -fs http://127.0.0.1:5093/readyz >/dev/null 2>&1 && break; sleep 0.2; done
echo "paced $RATE deliveries/s for $MINUTES min, Retention:Bodies=$BODIES, Retention:Records=$RECORDS"
wrk -t2 -c16 -d$((MINUTES * 60))s --latency -s bench/load/signed-post.lua http://127.0.0.1:5093/webhooks/freescout -- $TEMPLATE $SECRET $((RATE / 2)) >"$WORK/wrk.txt" &
WRK=$!
for i in $(seq 1 $((MINUTES * 60 / SAMPLE))); do
  sleep $SAMPLE
  size=$(curl -fs -H "Authorization: Bearer $TOKEN" http://127.0.0.1:5093/api/status | sed -E 's/.*"sizeBytes":([0-9]+).*/\1/')
  echo "t=$((i * SAMPLE))s size=$((size / 1024 / 1024)) MB"
done
wait $WRK
tail -n 1 "$WORK/wrk.txt"
grep -iE "error|fail" "$WORK/serve.log" | head -n 5 || true

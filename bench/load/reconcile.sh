#!/usr/bin/env bash
# Reconciliation targets (issue 12), measured on `serve` (Release) against the FreeScout API stand-in
# (tests/FreeScoutRules.FreeScoutStandIn, Release, on loopback) at the default rate (2 requests/s) and page
# size (100):
#   1. learning: CONVERSATIONS conversations FreeScout has before we are installed (updated one a second,
#      within the first pass's one-day lookback); the pass at serve's start stores every snapshot (nothing is
#      known yet). Its requests and time against the rate limit's floor ((requests - 1) / rate).
#   2. changed: CHANGED of them changed while webhooks were lost (POST /_standin/touch: the least recently
#      updated ones, to the next status, updated now - 5 min), then `freescout-rules reconcile --since` the
#      beginning: it lists all CONVERSATIONS and must store exactly the CHANGED newer ones, within floor + 10%;
#      then the status changes derived (every one via reconciliation).
#   3. idle: serve's CPU time over IDLE_SECONDS with reconciliation on (Reconciliation:Interval INTERVAL,
#      nothing changing; measured once the pass at start is done) and, for comparison, off: as a share of one core.
# Usage: bench/load/reconcile.sh [conversations, default 10000] [changed, default 5000]
# Env: IDLE_SECONDS (default 300), INTERVAL (default 00:05:00, the default interval); SKIP_IDLE=1 leaves part 3
#      out, ONLY_IDLE=1 runs part 3 alone (on an empty data directory: the pass at start learns every conversation
#      before the measurement begins).
set -euo pipefail
cd "$(dirname "$0")/../.."
CONVERSATIONS=${1:-10000}
CHANGED=${2:-5000}
IDLE_SECONDS=${IDLE_SECONDS:-300}
INTERVAL=${INTERVAL:-00:05:00}
PORT=5096
STANDIN_PORT=5097
URL=http://127.0.0.1:$PORT
FREESCOUT=http://127.0.0.1:$STANDIN_PORT
KEY=reconcile-bench-api-key
TOKEN=reconcile-bench-admin-token-0123456789AbC
WORK=$(mktemp -d)
SERVE=
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

for project in engine/FreeScoutRules.Host tests/FreeScoutRules.FreeScoutStandIn; do dotnet build -c Release -v q --nologo "$project" >/dev/null; done
CLI="dotnet engine/FreeScoutRules.Host/bin/Release/net10.0/freescout-rules.dll"
mkdir -p "$WORK/rules"
cp rules/status-change.csx "$WORK/rules/"
cpu_seconds() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat"; }
status() { curl -fs -H "Authorization: Bearer $TOKEN" "$URL/api/reconciliation"; }

FROM=$(date -u -d '-20 hours' +%Y-%m-%dT%H:%M:%SZ)
dotnet tests/FreeScoutRules.FreeScoutStandIn/bin/Release/net10.0/FreeScoutRules.FreeScoutStandIn.dll \
  --urls $FREESCOUT --api-key $KEY --conversations "$CONVERSATIONS" --from "$FROM" --step-seconds 1 >"$WORK/standin.log" 2>&1 &
for _ in $(seq 1 100); do curl -fs -H "X-FreeScout-API-Key: $KEY" "$FREESCOUT/_standin/stats" >/dev/null 2>&1 && break; sleep 0.1; done

# start_serve DATA-DIR INTERVAL: serve in the background (SERVE: its pid), returns once it is ready.
start_serve() {
  FREESCOUTRULES_WEBHOOK_SECRET=unused-in-this-bench FREESCOUTRULES_ADMIN_TOKEN=$TOKEN Logging__LogLevel__Default=Warning \
    FREESCOUTRULES_FREESCOUT_URL=$FREESCOUT FREESCOUTRULES_FREESCOUT_API_KEY=$KEY Reconciliation__Interval=$2 \
    $CLI serve --urls "$URL" --data-dir "$1" --rules "$WORK/rules" >>"$WORK/serve.log" 2>&1 &
  SERVE=$!
  for _ in $(seq 1 300); do curl -fs "$URL/readyz" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "serve not ready" >&2; tail -n 20 "$WORK/serve.log" >&2; exit 1
}
stop_serve() { kill "$SERVE"; wait "$SERVE" 2>/dev/null || true; SERVE=; }
# pass_line JSON: requests, time, floor and stored of one pass (the admin API's lastPass or a POST's answer).
pass_line() {
  python3 -c '
import json, re, sys, datetime
p = json.loads(sys.argv[1]); p = p.get("lastPass", p)
t = lambda s: datetime.datetime.fromisoformat(re.sub(r"(\.\d{6})\d+", r"\1", s.replace("Z", "+00:00")))
took = (t(p["finishedAt"]) - t(p["startedAt"])).total_seconds()
floor = (p["requests"] - 1) / 2
over = (took / floor - 1) * 100 if floor else 0
print("requests %d, %.1f s; floor %.1f s, %+.1f%%; listed %d, stored %d, not newer %d, stored before %d, error %s" % (
    p["requests"], took, floor, over, p["listed"], p["stored"], p["notNewer"], p["duplicates"], p["error"]))
' "$1"
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(dotnet --version), commit $(git rev-parse --short HEAD); load average $(cut -d' ' -f1-3 /proc/loadavg)"
if [ "${ONLY_IDLE:-0}" != 1 ]; then
echo "== 1. learning $CONVERSATIONS conversations at serve's first start (2 requests/s, pages of 100) =="
start_serve "$WORK/data" 1.00:00:00
until status | grep -q '"state":"ok"\|"state":"failing"'; do sleep 1; done
pass_line "$(status)"

echo "== 2. $CHANGED of them changed; reconcile --since the beginning lists all $CONVERSATIONS =="
curl -fs -X POST -H "X-FreeScout-API-Key: $KEY" "$FREESCOUT/_standin/touch?count=$CHANGED&at=$(date -u -d '-5 minutes' +%Y-%m-%dT%H:%M:%SZ)" >/dev/null
answer=$(FREESCOUTRULES_ADMIN_TOKEN=$TOKEN $CLI reconcile --url "$URL" --since "$(date -u -d "$FROM -1 minute" +%Y-%m-%dT%H:%M:%SZ)")
echo "$answer" | head -n 1
pass_line "$(status)"
for _ in $(seq 1 300); do
  pending=$(curl -fs -H "Authorization: Bearer $TOKEN" "$URL/api/status" | python3 -c 'import json,sys; print(json.load(sys.stdin)["deliveries"].get("pending", 0))')
  [ "$pending" = 0 ] && break; sleep 0.2
done
curl -fs -H "Authorization: Bearer $TOKEN" "$URL/metrics" | grep -E '^freescout_rules_reconciliation_changes_total' | sed 's/otel_scope_name="FreeScoutRules",//'
stop_serve
fi

if [ "${SKIP_IDLE:-0}" != 1 ]; then
  echo "== 3. idle: serve's CPU over $IDLE_SECONDS s, nothing changing =="
  for mode in on off; do
    start_serve "$WORK/data" "$([ $mode = on ] && echo "$INTERVAL" || echo 00:00:00)"
    # The pass at start catches up from the watermark (part 2's changes are within its overlap): measure after it.
    [ $mode = on ] && until status | grep -q '"state":"ok"\|"state":"failing"'; do sleep 1; done
    sleep 5
    c0=$(cpu_seconds "$SERVE"); t0=$(date +%s.%N)
    sleep "$IDLE_SECONDS"
    c1=$(cpu_seconds "$SERVE"); t1=$(date +%s.%N)
    passes=$(status | python3 -c 'import json,sys; p=json.load(sys.stdin)["lastPass"]; print("last pass: listed", p["listed"], "stored", p["stored"]) if p else print("no pass")')
    echo "reconciliation $mode ($([ $mode = on ] && echo "every $INTERVAL" || echo off)): $(awk -v c0="$c0" -v c1="$c1" -v t0="$t0" -v t1="$t1" 'BEGIN { printf "%.2f s CPU in %.0f s = %.3f%% of a core", c1 - c0, t1 - t0, (c1 - c0) / (t1 - t0) * 100 }'); $passes"
    stop_serve
  done
fi

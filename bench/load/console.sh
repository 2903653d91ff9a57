#!/usr/bin/env bash
# Console page times (issue 13: <= 200 ms server time with 1,000,000 deliveries stored), measured on `serve`
# (Release) over a database filled by `fill-database DIR N` (N processed deliveries over 90 days across 1,000,000
# conversations, one status change each, bodies for the newest 7 days): sign in with curl (the form's anti-forgery
# token and cookies), then fetch each page RUNS times and print the median and the slowest time to the last byte
# (curl's time_total on loopback: the server's time plus a fraction of a millisecond).
# Usage: bench/load/console.sh [deliveries, default 1000000] [runs, default 7]
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-1000000}
RUNS=${2:-7}
PORT=5098
URL=http://127.0.0.1:$PORT
TOKEN=console-bench-admin-token-0123456789AbC
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

for project in engine/FreeScoutRules.Host bench/FreeScoutRules.Benchmarks; do dotnet build -c Release -v q --nologo "$project" >/dev/null; done
dotnet bench/FreeScoutRules.Benchmarks/bin/Release/net10.0/FreeScoutRules.Benchmarks.dll fill-database "$WORK/data" "$N" >/dev/null
mkdir -p "$WORK/rules" && cp rules/status-change.csx "$WORK/rules/"
FREESCOUTRULES_WEBHOOK_SECRET=unused FREESCOUTRULES_ADMIN_TOKEN=$TOKEN Logging__LogLevel__Default=Warning Retention__Bodies=7.00:00:00 \
  dotnet engine/FreeScoutRules.Host/bin/Release/net10.0/freescout-rules.dll serve --urls "$URL" --data-dir "$WORK/data" --rules "$WORK/rules" >"$WORK/serve.log" 2>&1 &
for _ in $(seq 1 600); do curl -fs "$URL/readyz" >/dev/null 2>&1 && break; sleep 0.2; done

jar="$WORK/cookies"
form=$(curl -fs -c "$jar" "$URL/signin")
verification=$(sed -n 's/.*name="__RequestVerificationToken" type="hidden" value="\([^"]*\)".*/\1/p' <<<"$form")
curl -fs -b "$jar" -c "$jar" -o /dev/null -d "Token=$TOKEN" --data-urlencode "__RequestVerificationToken=$verification" "$URL/signin"

newest=$(curl -fs -H "Authorization: Bearer $TOKEN" "$URL/api/deliveries?pageSize=1" | python3 -c 'import json,sys; i=json.load(sys.stdin)["items"][0]; print(i["id"], i["conversationId"])')
delivery=${newest% *}; conversation=${newest#* }
echo "machine: $(nproc) cores, $(dotnet --version), commit $(git rev-parse --short HEAD); $N deliveries; delivery $delivery, conversation $conversation"
printf '%-60s %8s %8s\n' page median slowest
for page in "/" "/deliveries" "/deliveries?event=convo.status" "/deliveries?event=convo.deleted_forever" "/deliveries?event=reconciliation&outcome=done" "/deliveries?outcome=parked" "/deliveries?conversation=$conversation" \
    "/deliveries?since=$(date -u -d '-2 days' +%Y-%m-%dT%H:%M)" "/deliveries/$delivery" "/conversations/$conversation" "/conversations?q=$conversation" \
    "/actions?state=dead" "/rules"; do
  times=()
  for _ in $(seq 1 "$RUNS"); do
    status_time=$(curl -s -b "$jar" -o /dev/null -w '%{http_code} %{time_total}' "$URL$page")
    [ "${status_time% *}" = 200 ] || [ "${status_time% *}" = 302 ] || { echo "$page answered ${status_time% *}" >&2; exit 1; }
    times+=("${status_time#* }")
  done
  printf '%s\n' "${times[@]}" | sort -n | awk -v page="$page" '{ t[NR] = $1 } END { printf "%-60s %6.1f ms %6.1f ms\n", page, t[int((NR + 1) / 2)] * 1000, t[NR] * 1000 }'
done

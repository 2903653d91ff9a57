#!/usr/bin/env bash
# Takeover after SIGKILL, measured (issue 22): three `serve` processes on one throwaway PostgreSQL database (the tests'
# cluster, tests/Postgres/cluster.sh), KILLS times in a row the one holding conversations (deliveries in its lanes),
# intents (attempts in flight at a slow receiver), the retention lease and timers it scheduled is killed with SIGKILL,
# and a new one started in its place. For each kill it prints how long after the kill another instance first committed
# work of each kind the dead one held, and fails if any took more than 5 s (or anything was lost or doubled: the store's
# invariants are checked in SQL at the end). The three-instance traffic test runs once too: FreeScout-like traffic
# round-robin over three instances, one killed halfway; the status changes against what `freescout-rules test` derives;
# every intent at the receiver once, under one idempotency key; the invariants in SQL.
#   tests/Postgres/takeover.sh [KILLS]     default 20; about 8 s per kill on 2 cores, plus a build
# They are the xunit tests AfterEachSigkill_… (3 kills in CI; FSR_TAKEOVER_KILLS here) and ThreeInstances_… of
# tests/FreeScoutRules.Host.Tests/EndToEnd/PostgresFailoverTests.cs. Needs what the tests need: the .NET SDK, and
# Debian's postgresql package (installed with apt-get when missing, as root).
set -euo pipefail
kills=${1:-20}
cd "$(dirname "$0")/../.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
dotnet build tests/FreeScoutRules.Host.Tests -c Release -v quiet -nologo >/dev/null

filter="FullyQualifiedName~PostgresFailoverTests.AfterEachSigkill|FullyQualifiedName~PostgresFailoverTests.ThreeInstances"

log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
FSR_TAKEOVER_KILLS=$kills dotnet test tests/FreeScoutRules.Host.Tests --no-build -c Release --filter "$filter" \
  --logger "console;verbosity=detailed" >"$log" 2>&1 || status=$?

# The test's own lines: one per kill, and the traffic run's summary.
grep -E '^ (kill [0-9]+ of instance|[0-9]+ deliveries \()' "$log" | sed 's/^ //' || true
grep -E '^ kill [0-9]+ of' "$log" | grep -oE '(conversations|intents|retention lease) [0-9.]+ s' | awk '
  { if ($(NF-1) + 0 > max) max = $(NF-1) + 0 }
  END { if (NR) printf "longest takeover: %.2f s over %d measurements\n", max, NR }' || true
if [ "$status" -ne 0 ]; then
  grep -E 'Error Message|Assert|Exception' -A3 "$log" | grep -v '^\s*at ' | head -40 >&2
  echo "takeover.sh: FAILED (a takeover over 5 s, or something lost or doubled; the test's messages above)" >&2
fi
exit "$status"

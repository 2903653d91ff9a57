#!/usr/bin/env bash
# What CI runs (.github/workflows/rules.yml), and what to run before a push: bash .ci/check.sh
# Both read settings.json (--config): the settings the rules depend on (the bot user, business calendars), as the
# server has them.
# 1. check: compiles every rule file as the server does, against the plugins in plugins/; exits 2 on an error,
#    printed as file(line,col): error CODE: message.
# 2. test --expect: runs each recorded delivery file tests/NAME.jsonl through the rules and compares what they
#    derive (status changes, action intents with their arguments, timers) with tests/NAME.expected.jsonl;
#    a difference fails with a diff, and so does an intent whose arguments its plugin would refuse (--plugins). After a deliberate change, rewrite the file with --update-expected and review it:
#      freescout-rules test --config settings.json --rules rules --events tests/NAME.jsonl --expect tests/NAME.expected.jsonl --update-expected
set -euo pipefail
cd "$(dirname "$0")/.."

freescout-rules check --config settings.json --rules rules --plugins plugins

failed=0
for events in tests/*.jsonl; do
  case "$events" in *.expected.jsonl) continue ;; esac
  freescout-rules test --config settings.json --rules rules --plugins plugins --events "$events" --expect "${events%.jsonl}.expected.jsonl" || failed=1
done
exit "$failed"

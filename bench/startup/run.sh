#!/usr/bin/env bash
# Startup and reload latency (issue 5): `serve` ready with 50 rule files, first with an empty
# compile cache, then with a warm one; then the time from changing one file to the new generation
# being in force on the warm server.
# Usage: bench/startup/run.sh [rule files, default 50]
set -euo pipefail
cd "$(dirname "$0")/../.."
FILES=${1:-50}
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
dotnet build -c Release -v q --nologo engine/FreeScoutRules.Host >/dev/null
mkdir -p "$WORK/rules" && cp rules/status-change.csx "$WORK/rules/"
for i in $(seq 1 "$FILES"); do
  cat > "$WORK/rules/ops-$i.csx" <<RULE
public class CloseInMailbox$i : Rule
{
    public override void Define()
    {
        StatusChanged change = default!;
        Delivery delivery = default!;
        When()
            .Match(() => change, c => c.To == ConversationStatus.Closed)
            .Match(() => delivery, d => d.ConversationId == change.ConversationId && d.Conversation.MailboxId == $i);
        Then().Do(ctx => ctx.Enqueue("slack", new { mailbox = $i, number = change.Number }));
    }
}
RULE
done
now() { date +%s.%N; }
elapsed() { awk -v s="$1" -v e="$(now)" 'BEGIN { printf "%.2f", e - s }'; }
start_serve() {
  FREESCOUTRULES_WEBHOOK_SECRET=x FREESCOUTRULES_ADMIN_TOKEN=startup-admin-token-0123456789AbCdef Logging__LogLevel__Default=Warning \
    dotnet engine/FreeScoutRules.Host/bin/Release/net10.0/freescout-rules.dll serve \
    --urls http://127.0.0.1:5094 --data-dir "$WORK/data" --rules "$WORK/rules" >>"$WORK/serve.log" 2>&1 &
  SERVE=$!
  until curl -fs http://127.0.0.1:5094/readyz >/dev/null 2>&1; do sleep 0.02; done
}
generation() { curl -fs -H "Authorization: Bearer startup-admin-token-0123456789AbCdef" http://127.0.0.1:5094/api/rules | sed 's/.*"generation":"\([0-9a-f]*\)".*/\1/' | head -c 12; }

echo "machine: $(nproc) cores, $(dotnet --version), $((FILES + 1)) rule files"
t=$(now); start_serve; echo "ready, empty compile cache: $(elapsed "$t") s"; kill $SERVE; wait $SERVE 2>/dev/null || true
t=$(now); start_serve; echo "ready, warm compile cache:  $(elapsed "$t") s"
before=$(generation)
sleep 1
t=$(now); sed -i 's/mailbox = 7,/mailbox = 7, changed = true,/' "$WORK/rules/ops-7.csx"
until [ "$(generation)" != "$before" ]; do sleep 0.01; done
echo "one changed file live after: $(elapsed "$t") s"
kill $SERVE; wait $SERVE 2>/dev/null || true

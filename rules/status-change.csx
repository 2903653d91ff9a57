// Built-in rules: when did the status of a conversation change?
//
// FreeScout reports a status change through `convo.status`, through a reply that carries the new
// status (Send & Close; before API & Webhooks 1.0.82 the reply was the only report), or not at all
// (a customer reply silently reopens; an agent reply sent without a status silently makes it pending).
// Deliveries are retried, duplicated and reordered. These rules compare each delivery's snapshot with
// the known state of its conversation (its last status and the updatedAt it came with), so that every
// real change yields exactly one StatusChanged, whichever event reports it first.
//
// The semantics (docs/status-change.md):
//   1. Stale: a known state exists and the snapshot's updatedAt is older: nothing is derived, the
//      state stays. Equal timestamps are not stale (FreeScout's clock has one-second steps).
//   2. Known state k, snapshot status s != k: StatusChanged(k -> s), whatever the event.
//   3. No known state: convo.status derives StatusChanged(unknown -> s); an agent reply whose snapshot
//      and newest thread say closed derives StatusChanged(unknown -> closed); nothing else can tell.
//   4. Every delivery that is not stale records (s, updatedAt) as the known state.

/// 2. A known state exists, the delivery is not stale, and its status differs.
[Name("status.changed-from-known-state")]
public class StatusChangedFromKnownState : Rule
{
    public override void Define()
    {
        Delivery delivery = default!;
        PriorState prior = default!;

        When()
            .Match(() => delivery)
            .Match(() => prior,
                p => p.ConversationId == delivery.ConversationId,
                p => !delivery.IsStaleAgainst(p),
                p => p.Status != delivery.Status);

        Then()
            .Do(ctx => ctx.Insert(StatusChanged.Derive(delivery, prior.Status)));
    }
}

/// 3a. Nothing is known yet and FreeScout says outright that the status changed.
[Name("status.first-seen-on-convo-status")]
public class StatusFirstSeenOnConvoStatus : Rule
{
    public override void Define()
    {
        Delivery delivery = default!;

        When()
            .Match(() => delivery, d => d.Event == WebhookEvents.ConversationStatus)
            .Not<PriorState>(p => p.ConversationId == delivery.ConversationId);

        Then()
            .Do(ctx => ctx.Insert(StatusChanged.Derive(delivery, null)));
    }
}

/// 3b. Nothing is known yet and an agent reply carries the close (Send & Close).
[Name("status.first-seen-close-on-agent-reply")]
public class CloseFirstSeenOnAgentReply : Rule
{
    public override void Define()
    {
        Delivery delivery = default!;

        When()
            .Match(() => delivery,
                d => d.Event == WebhookEvents.AgentReplyCreated,
                d => d.Status == ConversationStatus.Closed,
                d => d.LatestThread != null && d.LatestThread.Status == ConversationStatus.Closed)
            .Not<PriorState>(p => p.ConversationId == delivery.ConversationId);

        Then()
            .Do(ctx => ctx.Insert(StatusChanged.Derive(delivery, null)));
    }
}

/// 4. Every delivery that is not stale becomes the known state (1: a stale one changes nothing).
[Name("status.record-known-state")]
public class RecordKnownState : Rule
{
    public override void Define()
    {
        Delivery delivery = default!;

        When()
            .Match(() => delivery)
            .Not<PriorState>(p => p.ConversationId == delivery.ConversationId && delivery.IsStaleAgainst(p));

        Then()
            .Do(ctx => ctx.Insert(new NextState(delivery.ConversationId, delivery.Status, delivery.UpdatedAt)));
    }
}

using FreeScoutRules.Engine.Pipeline;
using FreeScoutRules.Engine.Tests.Support;
using FreeScoutRules.Facts;
using static FreeScoutRules.Engine.Tests.Support.Deliveries;
using Events = FreeScoutRules.FreeScout.WebhookEvents;
using Status = FreeScoutRules.FreeScout.ConversationStatus;

namespace FreeScoutRules.Engine.Tests.Rules;

/// <summary>
/// Every clause of the status-change semantics (docs/status-change.md), run through the real
/// built-in rules/status-change.csx with an in-memory state store.
/// </summary>
[Collection(BuiltInRulesCollection.Name)]
public sealed class StatusChangeRulesTests(RuleSetFixture fixture)
{
    private OfflineEvaluator? _evaluator;

    private OfflineEvaluator Evaluator => _evaluator ??= new(fixture.Rules, new EvaluationPipeline(PipelineSettings.Default));

    private async Task<List<StatusChanged>> RunAsync(params Delivery[] deliveries)
    {
        var changes = new List<StatusChanged>();
        foreach (var delivery in deliveries)
        {
            changes.AddRange((await Evaluator.ProcessAsync(delivery)).StatusChanges);
        }

        return changes;
    }

    private static void AssertChange(StatusChanged change, string? from, string to, string via)
    {
        Assert.Equal(from, change.From);
        Assert.Equal(to, change.To);
        Assert.Equal(via, change.Via);
    }

    [Fact]
    public async Task SendAndClose_StatusThenReply_YieldsOneChange()
    {
        var changes = await RunAsync(
            Of(Events.ConversationCreated, Status.Active, 0),
            Of(Events.ConversationStatus, Status.Closed, 60),
            Of(Events.AgentReplyCreated, Status.Closed, 60));

        AssertChange(Assert.Single(changes), Status.Active, Status.Closed, Events.ConversationStatus);
    }

    [Fact]
    public async Task SendAndClose_ReplyThenStatus_YieldsOneChange()
    {
        var changes = await RunAsync(
            Of(Events.ConversationCreated, Status.Active, 0),
            Of(Events.AgentReplyCreated, Status.Closed, 60),
            Of(Events.ConversationStatus, Status.Closed, 60));

        AssertChange(Assert.Single(changes), Status.Active, Status.Closed, Events.AgentReplyCreated);
    }

    [Fact]
    public async Task SendAndClose_BothWithNothingKnown_YieldsOneChangeFromUnknownWhicheverComesFirst()
    {
        var statusFirst = await RunAsync(Of(Events.ConversationStatus, Status.Closed, 60), Of(Events.AgentReplyCreated, Status.Closed, 60));
        var replyFirst = await RunAsync(
            Of(Events.AgentReplyCreated, Status.Closed, 60, conversationId: 2),
            Of(Events.ConversationStatus, Status.Closed, 60, conversationId: 2));

        AssertChange(Assert.Single(statusFirst), null, Status.Closed, Events.ConversationStatus);
        AssertChange(Assert.Single(replyFirst), null, Status.Closed, Events.AgentReplyCreated);
    }

    [Fact]
    public async Task ReplyOnlyClose_ModuleBefore1082_YieldsOneChange()
    {
        var known = await RunAsync(Of(Events.ConversationCreated, Status.Active, 0), Of(Events.AgentReplyCreated, Status.Closed, 60));
        var unknown = await RunAsync(Of(Events.AgentReplyCreated, Status.Closed, 60, conversationId: 2));

        AssertChange(Assert.Single(known), Status.Active, Status.Closed, Events.AgentReplyCreated);
        AssertChange(Assert.Single(unknown), null, Status.Closed, Events.AgentReplyCreated);
    }

    [Fact]
    public async Task AgentReply_NothingKnown_NewestThreadNotClosed_DerivesNothing()
    {
        var changes = await RunAsync(
            Of(Events.AgentReplyCreated, Status.Closed, 60, newestThreadStatus: Status.Active),
            Of(Events.AgentReplyCreated, Status.Closed, 60, conversationId: 2, noThreads: true),
            Of(Events.AgentReplyCreated, Status.Pending, 60, conversationId: 3));

        Assert.Empty(changes);
    }

    [Fact]
    public async Task Duplicates_OfEveryKind_YieldOneChange()
    {
        var status = Of(Events.ConversationStatus, Status.Closed, 60);

        var changes = await RunAsync(
            Of(Events.ConversationCreated, Status.Active, 0),
            status,
            Of(Events.ConversationStatus, Status.Closed, 60),
            status,
            Of(Events.AgentReplyCreated, Status.Closed, 60),
            Of(Events.ConversationStatus, Status.Closed, 75));

        AssertChange(Assert.Single(changes), Status.Active, Status.Closed, Events.ConversationStatus);
    }

    [Fact]
    public async Task StaleRetry_OlderThanKnownState_DerivesNothingAndKeepsTheState()
    {
        var changes = await RunAsync(
            Of(Events.ConversationCreated, Status.Active, 0),
            Of(Events.ConversationStatus, Status.Closed, 120),
            Of(Events.AgentReplyCreated, Status.Pending, 60));

        AssertChange(Assert.Single(changes), Status.Active, Status.Closed, Events.ConversationStatus);
        var state = Evaluator.StateOf(1187).Known;
        Assert.Equal(Status.Closed, state!.Status);
        Assert.Equal(T0.AddSeconds(120), state.UpdatedAt);
    }

    [Fact]
    public async Task StaleRetry_EvaluationSaysSoByRecordingNoState()
    {
        await RunAsync(Of(Events.ConversationStatus, Status.Closed, 120));

        var evaluation = await Evaluator.ProcessAsync(Of(Events.ConversationStatus, Status.Active, 60));

        Assert.Null(evaluation.NextState);
        Assert.Empty(evaluation.StatusChanges);
    }

    [Fact]
    public async Task EqualTimestamps_AreNotStale()
    {
        var changes = await RunAsync(
            Of(Events.ConversationStatus, Status.Closed, 60),
            Of(Events.CustomerReplyCreated, Status.Active, 60, newestThreadType: FreeScout.ThreadType.Customer));

        Assert.Equal(2, changes.Count);
        AssertChange(changes[1], Status.Closed, Status.Active, Events.CustomerReplyCreated);
    }

    [Fact]
    public async Task ReopenByCustomerReply_IsAChange()
    {
        var changes = await RunAsync(
            Of(Events.ConversationStatus, Status.Closed, 60),
            Of(Events.CustomerReplyCreated, Status.Active, 3600, newestThreadType: FreeScout.ThreadType.Customer));

        Assert.Equal(2, changes.Count);
        AssertChange(changes[1], Status.Closed, Status.Active, Events.CustomerReplyCreated);
        Assert.True(changes[1].IsReopen);
    }

    [Fact]
    public async Task SilentPendingAfterAgentReply_IsAChange()
    {
        var changes = await RunAsync(
            Of(Events.ConversationCreated, Status.Active, 0),
            Of(Events.AgentReplyCreated, Status.Pending, 60));

        AssertChange(Assert.Single(changes), Status.Active, Status.Pending, Events.AgentReplyCreated);
    }

    [Theory]
    [InlineData(Events.ConversationCreated)]
    [InlineData(Events.ConversationAssigned)]
    [InlineData(Events.NoteCreated)]
    [InlineData(Events.CustomerReplyCreated)]
    [InlineData(Events.ConversationMoved)]
    [InlineData(Events.ConversationDeleted)]
    [InlineData(Events.ConversationRestored)]
    public async Task UnknownPriorState_OtherEvents_DeriveNothingButRecordTheState(string eventName)
    {
        var evaluation = await Evaluator.ProcessAsync(Of(eventName, Status.Pending, 0));

        Assert.Empty(evaluation.StatusChanges);
        Assert.Equal(Status.Pending, (Evaluator.StateOf(1187).Known)!.Status);
    }

    [Fact]
    public async Task UnknownPriorState_ThenKnown_ChangesAreDerivedFromTheFirstRecordedState()
    {
        var changes = await RunAsync(
            Of(Events.NoteCreated, Status.Pending, 0),
            Of(Events.CustomerReplyCreated, Status.Active, 30));

        AssertChange(Assert.Single(changes), Status.Pending, Status.Active, Events.CustomerReplyCreated);
    }

    [Fact]
    public async Task InterleavedConversations_KeepTheirOwnState()
    {
        var changes = await RunAsync(
            Of(Events.ConversationCreated, Status.Active, 0, conversationId: 1),
            Of(Events.ConversationCreated, Status.Active, 0, conversationId: 2),
            Of(Events.ConversationStatus, Status.Closed, 60, conversationId: 1),
            Of(Events.AgentReplyCreated, Status.Pending, 60, conversationId: 2),
            Of(Events.AgentReplyCreated, Status.Closed, 60, conversationId: 1),
            Of(Events.ConversationStatus, Status.Closed, 90, conversationId: 2));

        Assert.Collection(
            changes,
            c => { Assert.Equal(1, c.ConversationId); AssertChange(c, Status.Active, Status.Closed, Events.ConversationStatus); },
            c => { Assert.Equal(2, c.ConversationId); AssertChange(c, Status.Active, Status.Pending, Events.AgentReplyCreated); },
            c => { Assert.Equal(2, c.ConversationId); AssertChange(c, Status.Pending, Status.Closed, Events.ConversationStatus); });
    }

    [Fact]
    public async Task Spam_IsAStatusLikeAnyOther()
    {
        var changes = await RunAsync(
            Of(Events.ConversationCreated, Status.Active, 0),
            Of(Events.ConversationStatus, Status.Spam, 60),
            Of(Events.ConversationStatus, Status.Active, 120));

        Assert.Equal(2, changes.Count);
        AssertChange(changes[0], Status.Active, Status.Spam, Events.ConversationStatus);
        AssertChange(changes[1], Status.Spam, Status.Active, Events.ConversationStatus);
    }

    [Fact]
    public async Task Delete_WithUnchangedStatus_DerivesNothing_AndAStatusChangedWhileDeletedStillCounts()
    {
        var changes = await RunAsync(
            Of(Events.ConversationCreated, Status.Active, 0),
            Of(Events.ConversationDeleted, Status.Active, 60),
            Of(Events.ConversationDeletedForever, Status.Active, 60, noThreads: true),
            Of(Events.ConversationDeleted, Status.Closed, 90));

        AssertChange(Assert.Single(changes), Status.Active, Status.Closed, Events.ConversationDeleted);
    }

    [Fact]
    public async Task UnknownStatusSpelling_IsCarriedThroughAsAChange()
    {
        var changes = await RunAsync(Of(Events.ConversationCreated, Status.Active, 0), Of(Events.ConversationStatus, "on-hold", 60));

        AssertChange(Assert.Single(changes), Status.Active, "on-hold", Events.ConversationStatus);
    }

    [Fact]
    public async Task StatusChanged_NamesTheConversationTimeAndCloser()
    {
        var change = Assert.Single(await RunAsync(Of(Events.ConversationStatus, Status.Closed, 60)));

        Assert.Equal(1187, change.ConversationId);
        Assert.Equal(11187, change.Number);
        Assert.Equal(T0.AddSeconds(60), change.At);
        Assert.Equal("Anna", change.By!.FirstName);
        Assert.True(change.IsClose);
    }

    [Fact]
    public async Task BuiltInRules_NameWhatFired()
    {
        var evaluation = await Evaluator.ProcessAsync(Of(Events.ConversationStatus, Status.Closed, 60));

        Assert.Equal(
            ["status.first-seen-on-convo-status", "status.record-known-state"],
            evaluation.RulesFired.Order(StringComparer.Ordinal));
    }
}

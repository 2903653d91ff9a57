using FreeScoutRules.Facts;
using FreeScoutRules.FreeScout;

namespace FreeScoutRules.Abstractions.Tests.Facts;

public sealed class DeliveryTests
{
    private static readonly DateTimeOffset T = new(2025, 6, 2, 10, 0, 0, TimeSpan.Zero);

    [Fact]
    public void New_ConversationWithoutUpdatedAt_IsRefused()
    {
        var ex = Assert.Throws<ArgumentException>(() => new Delivery("d1", "convo.status", T, new Conversation { Id = 1 }));

        Assert.Contains("no updatedAt", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(-1, true)]
    [InlineData(0, false)]
    [InlineData(1, false)]
    public void IsStaleAgainst_OnlyStrictlyOlderIsStale(int secondsAfterKnown, bool stale)
    {
        var delivery = new Delivery("d1", "convo.status", T, new Conversation { Id = 1, Status = "closed", UpdatedAt = T.AddSeconds(secondsAfterKnown) });

        Assert.Equal(stale, delivery.IsStaleAgainst(new PriorState(1, "active", T)));
    }

    [Fact]
    public void Derive_ReopenByCustomer_IsByTheCustomerAndIsAReopen()
    {
        var customer = new Person { Id = 27, Type = "customer", FirstName = "María" };
        var conversation = new Conversation
        {
            Id = 1, Number = 7, Status = ConversationStatus.Active, UpdatedAt = T,
            ClosedByUser = new Person { Id = 2, Type = "user" },
            Embedded = new ConversationEmbedded { Threads = [new ConversationThread { Id = 9, Type = ThreadType.Customer, CreatedBy = customer }] },
        };

        var change = StatusChanged.Derive(new Delivery("d1", WebhookEvents.CustomerReplyCreated, T, conversation), ConversationStatus.Closed);

        Assert.Equal(new StatusChanged(1, 7, "closed", "active", WebhookEvents.CustomerReplyCreated, T, customer), change);
        Assert.True(change.IsReopen);
        Assert.False(change.IsClose);
    }
}

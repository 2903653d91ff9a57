namespace FreeScoutRules.Engine.Storage.Sqlite;

/// <summary>
/// Deliberate breaks of the SQLite store, for the contract suite's mutation test only
/// (tests/FreeScoutRules.Engine.Tests/Storage/Contract/SqliteMutationTests.cs): each one must make the suite fail, so
/// that the suite is known to catch it. Nothing in production sets one: <see cref="SqliteStorage"/>'s constructor for
/// the engine passes <see cref="None"/>, and the few places that look at them are named here.
/// </summary>
[Flags]
internal enum SqliteMutation
{
    None = 0,

    /// <summary><see cref="ClaimFence"/> compares the holder and not the epoch: a claim from before a release still commits.</summary>
    EpochUnchecked = 1 << 0,

    /// <summary>
    /// <see cref="ClaimIntentsOperation"/> holds no intent back behind an earlier pending one of its conversation and
    /// destination: two are claimable at once.
    /// </summary>
    OutboxUnordered = 1 << 1,

    /// <summary><see cref="FireTimerOperation"/> does not check that its scheduling is still pending: a timer fires twice.</summary>
    TimerFiresTwice = 1 << 2,

    /// <summary><see cref="StoreDeliveryOperation"/> skips a sequence number: a gap in a conversation's sequence.</summary>
    SequenceGap = 1 << 3,

    /// <summary><see cref="StoreDeliveryOperation"/>'s dedupe looks at the body only: the same bytes under another event are a duplicate.</summary>
    DedupeIgnoresEvent = 1 << 4,

    /// <summary><see cref="ClaimConversationsOperation"/> counts a holder alive however long ago its lease expired.</summary>
    ClaimExpiryIgnored = 1 << 5,
}

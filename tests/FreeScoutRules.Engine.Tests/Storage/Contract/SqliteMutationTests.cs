using FreeScoutRules.Engine.Storage.Sqlite;
using Xunit.Sdk;

namespace FreeScoutRules.Engine.Tests.Storage.Contract;

/// <summary>
/// The contract suite catches what it claims to: each deliberate break of the SQLite store (<see cref="SqliteMutation"/>,
/// applied at the one place it names) fails the suite's checks of what it breaks, and the same checks pass on the store
/// unbroken. A new break needs its checks here (the second test says so).
/// </summary>
public sealed class SqliteMutationTests
{
    private static readonly Dictionary<SqliteMutation, Func<StoreContract, Task>[]> Checks = new()
    {
        [SqliteMutation.EpochUnchecked] = [c => c.AClaimFromBeforeARelease_IsLost_EvenToItsOwnHolder_AndItsWritesChangeNothing()],
        [SqliteMutation.OutboxUnordered] = [c => c.OnlyTheOldestPendingIntentOfAConversationAndDestination_IsClaimable_AndOnlyByOneHolder()],
        [SqliteMutation.TimerFiresTwice] = [c => c.ATimerFiresOnce_AsItsConversationsNextDelivery_WhoeverFires()],
        [SqliteMutation.SequenceGap] =
        [
            c => c.Sequences_AreGapFreePerConversation_InStoringOrder_AndPendingWorkIsReadInThatOrder(),
            c => c.Sequences_StayGapFree_WhenManyStoreAtOnce_AndGoOnAfterTheWorkIsDone(),
        ],
        [SqliteMutation.DedupeIgnoresEvent] = [c => c.TheSameBytesUnderAnotherEvent_AreANewDelivery()],
        [SqliteMutation.ClaimExpiryIgnored] = [c => c.AnExpiredHoldersClaim_IsTakenOver_WithItsEpochAdvanced_AndTheOldHoldersWritesAreRefused_ChangingNothing()],
    };

    public static TheoryData<string> Mutations => [.. Checks.Keys.Select(m => m.ToString())];

    [Theory]
    [MemberData(nameof(Mutations))]
    public async Task ABreakOfTheSqliteStore_FailsTheContractsChecks_WhichPassOnTheStoreUnbroken(string name)
    {
        var mutation = Enum.Parse<SqliteMutation>(name);
        foreach (var check in Checks[mutation])
        {
            await RunAsync(SqliteMutation.None, check);
            var failure = await Record.ExceptionAsync(() => RunAsync(mutation, check));

            Assert.True(failure is XunitException, $"With {mutation}, a check of the contract {(failure is null ? "passed" : $"failed other than by an assertion: {failure}")}.");
        }
    }

    [Fact]
    public void EveryBreak_HasTheChecksThatCatchIt() =>
        Assert.Equal(Enum.GetValues<SqliteMutation>().Where(m => m != SqliteMutation.None).Order(), Checks.Keys.Order());

    private static async Task RunAsync(SqliteMutation mutation, Func<StoreContract, Task> check)
    {
        var contract = new SqliteStoreContract(mutation);
        await contract.InitializeAsync();
        try
        {
            await check(contract);
        }
        finally
        {
            await contract.DisposeAsync();
        }
    }
}

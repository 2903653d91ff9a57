using FreeScoutRules.Engine.Storage;
using FreeScoutRules.Engine.Storage.InMemory;
using Microsoft.Extensions.Time.Testing;

namespace FreeScoutRules.Engine.Tests.Storage.Contract;

/// <summary>The ports' contract on the in-memory store (what <c>test</c>, <c>replay</c> and <c>explain</c> run on).</summary>
public sealed class InMemoryStoreContract : StoreContract
{
    private protected override Task<OpenedStore> OpenAsync(FakeTimeProvider time)
    {
        var hints = new WorkHints();
        return Task.FromResult(new OpenedStore(StorePorts.Of(new InMemoryStore(time, hints)), hints, () => ValueTask.CompletedTask));
    }
}

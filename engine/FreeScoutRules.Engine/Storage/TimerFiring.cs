using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using FreeScoutRules.Facts;
using FreeScoutRules.FreeScout;

namespace FreeScoutRules.Engine.Storage;

/// <summary>
/// A timer that fell due, as stored: the body of the <c>timer.elapsed</c> delivery it becomes in its
/// conversation's inbox (so that it runs in the conversation's turn, exactly once, through the same
/// dispatch, recovery, re-runs and history as webhooks). Immutable.
/// </summary>
/// <param name="ConversationId">The conversation.</param>
/// <param name="Name">The timer's name.</param>
/// <param name="Number">Which scheduling of that name (1 the first time).</param>
/// <param name="DueAt">When it was due.</param>
/// <param name="FiredAt">When the engine fired it (stored it as a delivery).</param>
/// <param name="ScheduledBy">The rule that scheduled it.</param>
internal sealed record TimerFiring(int ConversationId, string Name, int Number, DateTimeOffset DueAt, DateTimeOffset FiredAt, string ScheduledBy)
{
    /// <summary>The event name of a timer's delivery. Reserved: ingestion refuses it from outside.</summary>
    public const string Event = EngineEvents.TimerElapsed;

    public byte[] ToJson() => JsonSerializer.SerializeToUtf8Bytes(this, TimerJsonContext.Default.TimerFiring);

    /// <summary>The firing stored in <paramref name="body"/>, or <c>null</c> (with why) when it is not one.</summary>
    public static TimerFiring? FromJson(ReadOnlySpan<byte> body, out string? problem)
    {
        try
        {
            var firing = JsonSerializer.Deserialize(body, TimerJsonContext.Default.TimerFiring);
            problem = firing is { Name.Length: > 0, ConversationId: > 0, ScheduledBy: not null } ? null : "The stored timer misses its name, conversation or rule.";
            return problem is null ? firing : null;
        }
        catch (JsonException ex)
        {
            problem = $"The stored timer is not readable: {ex.Message}";
            return null;
        }
    }

    /// <summary>
    /// Its dedupe key: the same for every firing of this scheduling (conversation, name, number), whenever
    /// it fired, so that storage can never hold two deliveries of one scheduling.
    /// </summary>
    public byte[] DedupeKey() =>
        SHA256.HashData(Encoding.UTF8.GetBytes(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{Event}\n{ConversationId}\n{Name}\n{Number}")));

    /// <summary>The fact the rules see.</summary>
    /// <param name="id">The firing's delivery id (or <c>timer:N</c> offline).</param>
    /// <param name="knownStatus">The conversation's known status, if any.</param>
    /// <param name="snapshot">The conversation's latest snapshot, if known and kept.</param>
    public TimerElapsed ToFact(string id, string? knownStatus, Conversation? snapshot) =>
        new(id, Name, ConversationId, Number, DueAt, FiredAt, ScheduledBy, knownStatus, snapshot);
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(TimerFiring))]
internal sealed partial class TimerJsonContext : JsonSerializerContext;

using System.Text.Json;
using System.Text.Json.Serialization;
using FreeScoutRules.Engine.Processing;

namespace FreeScoutRules.Engine.Storage;

/// <summary>What processing a delivery produced, as kept in <c>deliveries.result</c> and shown by the admin API.</summary>
internal sealed record DeliveryResult(
    IReadOnlyList<StatusChangeRecord> StatusChanges,
    IReadOnlyList<string> RulesFired,
    IReadOnlyList<ActionIntentRecord> ActionIntents,
    bool Stale,
    IReadOnlyList<string>? SuppressedIntents = null)
{
    public static DeliveryResult From(Evaluation evaluation) => new(
        [.. evaluation.StatusChanges.Select(c => new StatusChangeRecord(c.From, c.To, c.Via, c.At, c.By?.Id))],
        evaluation.RulesFired,
        [.. evaluation.Intents.Select(i => new ActionIntentRecord(i.Rule, i.Action, JsonDocument.Parse(i.Arguments).RootElement.Clone()))],
        evaluation.NextState is null);

    public string ToJson() => JsonSerializer.Serialize(this, StorageJsonContext.Default.DeliveryResult);

    public static DeliveryResult? FromJson(string? json) =>
        json is null ? null : JsonSerializer.Deserialize(json, StorageJsonContext.Default.DeliveryResult);
}

internal sealed record StatusChangeRecord(string? From, string To, string Via, DateTimeOffset At, int? ByUserId);

internal sealed record ActionIntentRecord(string Rule, string Action, JsonElement Arguments);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(DeliveryResult))]
internal sealed partial class StorageJsonContext : JsonSerializerContext;

using System.Text.Json;
using System.Text.Json.Serialization;

namespace FreeScoutRules.Engine.Storage;

/// <summary>
/// What processing a delivery produced, as kept with the delivery and shown by the admin API:
/// status changes, rules fired, the intents queued and those held back (with why), and the rules
/// that failed on it. Written by the evaluation pipeline, stored as JSON.
/// </summary>
internal sealed record DeliveryResult(
    IReadOnlyList<StatusChangeRecord> StatusChanges,
    IReadOnlyList<string> RulesFired,
    IReadOnlyList<ActionIntentRecord> ActionIntents,
    bool Stale,
    IReadOnlyList<string>? SuppressedIntents = null,
    IReadOnlyList<RuleFailureRecord>? RuleFailures = null,
    IReadOnlyList<string>? Facts = null,
    PriorRecord? Prior = null,
    IReadOnlyList<RuleFailureRecord>? EarlierRuleFailures = null)
{
    /// <summary>The timers the evaluation scheduled or cancelled (<c>null</c>: none).</summary>
    public IReadOnlyList<TimerRecord>? Timers { get; init; }

    /// <summary>For a <c>timer.elapsed</c> delivery: the timer that fired (<c>null</c> for a webhook's).</summary>
    public FiredTimerRecord? Fired { get; init; }

    public string ToJson() => JsonSerializer.Serialize(this, StorageJsonContext.Default.DeliveryResult);

    public static DeliveryResult? FromJson(string? json) =>
        json is null ? null : JsonSerializer.Deserialize(json, StorageJsonContext.Default.DeliveryResult);
}

/// <summary>
/// The known state a delivery was evaluated against (<see cref="Status"/> <c>null</c>: nothing was
/// known): a re-run evaluates against it again, so that it derives what it derived, or should have.
/// </summary>
internal sealed record PriorRecord(string? Status, DateTimeOffset? UpdatedAt)
{
    public static PriorRecord Of(FreeScoutRules.Facts.PriorState? known) => new(known?.Status, known?.UpdatedAt);

    public FreeScoutRules.Facts.PriorState? ToPriorState(int conversationId) =>
        Status is { } status && UpdatedAt is { } at ? new FreeScoutRules.Facts.PriorState(conversationId, status, at) : null;
}

/// <remarks>
/// By: who made the change, when the payload says so. ByUserId: the same when it was an agent (a
/// user), for readers of the first version of this record (it never names a customer).
/// </remarks>
internal sealed record StatusChangeRecord(string? From, string To, string Via, DateTimeOffset At, int? ByUserId, ActorRecord? By = null);

/// <summary>Who did something: <see cref="Kind"/> is <c>user</c> (an agent), <c>customer</c>, or <c>bot</c> (our own bot user, <c>Dispatch:BotUserId</c>).</summary>
internal sealed record ActorRecord(string Kind, int Id, string? Name)
{
    public const string User = "user";
    public const string Customer = "customer";
    public const string Bot = "bot";

    public static ActorRecord? Of(FreeScoutRules.FreeScout.Person? person, int? botUserId) => person switch
    {
        null => null,
        { IsUser: true } when person.Id == botUserId => new(Bot, person.Id, FullName(person)),
        { IsUser: true } => new(User, person.Id, FullName(person)),
        { IsCustomer: true } => new(Customer, person.Id, FullName(person)),
        _ => new(person.Type, person.Id, FullName(person)),
    };

    private static string? FullName(FreeScoutRules.FreeScout.Person person) =>
        string.Join(" ", new[] { person.FirstName, person.LastName }.Where(n => !string.IsNullOrWhiteSpace(n))) is { Length: > 0 } name ? name : null;
}

internal sealed record ActionIntentRecord(string Rule, string Action, JsonElement Arguments);

/// <summary>A rule that threw on a delivery: which, where it is defined, what it was doing, the error.</summary>
/// <remarks>Location: The rule's place in its file, <c>file(line,col)</c>.</remarks>
/// <remarks>Where: The condition or action that threw, or the first frame of the rule file's own code.</remarks>
internal sealed record RuleFailureRecord(string Rule, string Location, string Where, string Message, bool BuiltIn);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(DeliveryResult))]
internal sealed partial class StorageJsonContext : JsonSerializerContext;

/// <summary>The timer a <c>timer.elapsed</c> delivery ran: which scheduling of which name, due when, fired when, set by which rule.</summary>
internal sealed record FiredTimerRecord(string Name, int Number, DateTimeOffset DueAt, DateTimeOffset FiredAt, string ScheduledBy);

/// <summary>A timer an evaluation scheduled (<see cref="DueAt"/>) or cancelled (<c>null</c>), as kept in the delivery's record.</summary>
internal sealed record TimerRecord(string Rule, string Name, int ConversationId, DateTimeOffset? DueAt)
{
    public static TimerRecord Of(FreeScoutRules.Facts.TimerChange change) => new(change.Rule, change.Name, change.ConversationId, change.DueAt);
}

using System.Text.Json;

namespace FreeScoutRules.Host.Tests.Support;

/// <summary>Admin API answers in one line for people, for the state a failed wait reports.</summary>
internal static class Describe
{
    /// <summary>The intents as "intent 3 'sample-notify' pending (last error); …".</summary>
    public static string Intents(JsonElement intents) =>
        intents.GetArrayLength() == 0
            ? "no intents"
            : string.Join("; ", intents.EnumerateArray().Select(i =>
                $"intent {i.GetProperty("id").GetInt64()} '{i.GetProperty("action").GetString()}' {i.GetProperty("state").GetString()}"
                + (i.TryGetProperty("lastError", out var error) && error.ValueKind == JsonValueKind.String ? $" ({error.GetString()})" : "")));
}

using System.Text.Json.Serialization;

namespace FreeScoutRules.FreeScout;

/// <summary>The short form of a user (agent) or customer, as embedded in conversations and threads.</summary>
public sealed record Person
{
    [JsonInclude]
    public int Id { get; internal set; }

    /// <summary><c>user</c> or <c>customer</c>.</summary>
    [JsonInclude]
    public string Type { get; internal set; } = "";

    [JsonInclude]

    public string? FirstName { get; internal set; }

    /// <summary>Can be <c>null</c> for customers.</summary>
    [JsonInclude]
    public string? LastName { get; internal set; }

    /// <summary>Empty when there is none.</summary>
    [JsonInclude]
    public string? PhotoUrl { get; internal set; }

    [JsonInclude]

    public string? Email { get; internal set; }

    /// <summary>True for an agent (user), false for a customer.</summary>
    public bool IsUser => Type == "user";

    /// <summary>True for a customer, false for an agent (user).</summary>
    public bool IsCustomer => Type == "customer";
}

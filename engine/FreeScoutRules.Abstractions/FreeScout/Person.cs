namespace FreeScoutRules.FreeScout;

/// <summary>The short form of a user (agent) or customer, as embedded in conversations and threads.</summary>
public sealed record Person
{
    public int Id { get; init; }

    /// <summary><c>user</c> or <c>customer</c>.</summary>
    public string Type { get; init; } = "";

    public string? FirstName { get; init; }

    /// <summary>Can be <c>null</c> for customers.</summary>
    public string? LastName { get; init; }

    /// <summary>Empty when there is none.</summary>
    public string? PhotoUrl { get; init; }

    public string? Email { get; init; }

    /// <summary>True for an agent (user), false for a customer.</summary>
    public bool IsUser => Type == "user";
}

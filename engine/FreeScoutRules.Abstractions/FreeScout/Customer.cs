using System.Text.Json.Serialization;

namespace FreeScoutRules.FreeScout;

/// <summary>
/// The full customer object FreeScout sends as the body of <c>customer.created</c> and
/// <c>customer.updated</c>. Immutable; safe to share between threads.
/// </summary>
public sealed record Customer
{
    public int Id { get; init; }

    public string? FirstName { get; init; }

    public string? LastName { get; init; }

    public string? JobTitle { get; init; }

    public string? Company { get; init; }

    /// <summary><c>unknown</c>, <c>gravatar</c>, <c>twitter</c>, …</summary>
    public string? PhotoType { get; init; }

    public string? PhotoUrl { get; init; }

    public DateTimeOffset? CreatedAt { get; init; }

    public DateTimeOffset? UpdatedAt { get; init; }

    public string? Notes { get; init; }

    [JsonPropertyName("_embedded")]
    public CustomerEmbedded? Embedded { get; init; }

    /// <summary>Present only with the CRM module.</summary>
    public IReadOnlyList<CustomField>? CustomerFields { get; init; }
}

/// <summary>The <c>_embedded</c> object of a full customer.</summary>
public sealed record CustomerEmbedded
{
    public IReadOnlyList<CustomerChannel> Emails { get; init; } = [];

    public IReadOnlyList<CustomerChannel> Phones { get; init; } = [];

    /// <summary>FreeScout spells this key in snake case.</summary>
    [JsonPropertyName("social_profiles")]
    public IReadOnlyList<CustomerChannel> SocialProfiles { get; init; } = [];

    public IReadOnlyList<CustomerChannel> Websites { get; init; } = [];

    public CustomerAddress? Address { get; init; }
}

/// <summary>An e-mail address, phone number, social profile or website of a customer.</summary>
public sealed record CustomerChannel
{
    /// <summary><c>0</c> for phones, profiles and websites.</summary>
    public int Id { get; init; }

    public string? Value { get; init; }

    /// <summary>For example <c>work</c>, <c>home</c>, <c>mobile</c>; absent for websites.</summary>
    public string? Type { get; init; }
}

/// <summary>A customer's postal address; every part may be <c>null</c>.</summary>
public sealed record CustomerAddress
{
    public string? City { get; init; }

    public string? State { get; init; }

    public string? Zip { get; init; }

    public string? Country { get; init; }

    public string? Address { get; init; }
}

using System.Text.Json.Serialization;

namespace FreeScoutRules.FreeScout;

/// <summary>
/// The full customer object FreeScout sends as the body of <c>customer.created</c> and
/// <c>customer.updated</c>. Immutable; safe to share between threads.
/// </summary>
public sealed record Customer
{
    [JsonInclude]
    public int Id { get; internal set; }

    [JsonInclude]

    public string? FirstName { get; internal set; }

    [JsonInclude]

    public string? LastName { get; internal set; }

    [JsonInclude]

    public string? JobTitle { get; internal set; }

    [JsonInclude]

    public string? Company { get; internal set; }

    /// <summary><c>unknown</c>, <c>gravatar</c>, <c>twitter</c>, …</summary>
    [JsonInclude]
    public string? PhotoType { get; internal set; }

    [JsonInclude]

    public string? PhotoUrl { get; internal set; }

    [JsonInclude]

    public DateTimeOffset? CreatedAt { get; internal set; }

    [JsonInclude]

    public DateTimeOffset? UpdatedAt { get; internal set; }

    [JsonInclude]

    public string? Notes { get; internal set; }

    [JsonPropertyName("_embedded")]
    [JsonInclude]
    public CustomerEmbedded? Embedded { get; internal set; }

    /// <summary>Present only with the CRM module.</summary>
    [JsonInclude]
    public IReadOnlyList<CustomField>? CustomerFields { get; internal set; }
}

/// <summary>The <c>_embedded</c> object of a full customer.</summary>
public sealed record CustomerEmbedded
{
    [JsonInclude]
    public IReadOnlyList<CustomerChannel> Emails { get; internal set; } = [];

    [JsonInclude]

    public IReadOnlyList<CustomerChannel> Phones { get; internal set; } = [];

    /// <summary>FreeScout spells this key in snake case.</summary>
    [JsonPropertyName("social_profiles")]
    [JsonInclude]
    public IReadOnlyList<CustomerChannel> SocialProfiles { get; internal set; } = [];

    [JsonInclude]

    public IReadOnlyList<CustomerChannel> Websites { get; internal set; } = [];

    [JsonInclude]

    public CustomerAddress? Address { get; internal set; }
}

/// <summary>An e-mail address, phone number, social profile or website of a customer.</summary>
public sealed record CustomerChannel
{
    /// <summary><c>0</c> for phones, profiles and websites.</summary>
    [JsonInclude]
    public int Id { get; internal set; }

    [JsonInclude]

    public string? Value { get; internal set; }

    /// <summary>For example <c>work</c>, <c>home</c>, <c>mobile</c>; absent for websites.</summary>
    [JsonInclude]
    public string? Type { get; internal set; }
}

/// <summary>A customer's postal address; every part may be <c>null</c>.</summary>
public sealed record CustomerAddress
{
    [JsonInclude]
    public string? City { get; internal set; }

    [JsonInclude]

    public string? State { get; internal set; }

    [JsonInclude]

    public string? Zip { get; internal set; }

    [JsonInclude]

    public string? Country { get; internal set; }

    [JsonInclude]

    public string? Address { get; internal set; }
}

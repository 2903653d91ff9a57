using System.Text.Json.Serialization;

namespace FreeScoutRules.FreeScout;

/// <summary>
/// One item of a conversation's history (<c>_embedded.threads[]</c>): a customer message, an agent
/// reply, a note or a system line item. Immutable; safe to share between threads.
/// </summary>
public sealed record ConversationThread
{
    [JsonInclude]
    public int Id { get; internal set; }

    /// <summary>See <see cref="ThreadType"/>.</summary>
    [JsonInclude]
    public string Type { get; internal set; } = "";

    /// <summary>The status chosen when the thread was created; see <see cref="ThreadStatus"/>.</summary>
    [JsonInclude]
    public string Status { get; internal set; } = "";

    /// <summary>Only <c>published</c> threads appear in webhooks.</summary>
    [JsonInclude]
    public string State { get; internal set; } = "";

    [JsonInclude]

    public ThreadAction? Action { get; internal set; }

    /// <summary>HTML; <c>null</c> or empty for line items.</summary>
    [JsonInclude]
    public string? Body { get; internal set; }

    /// <summary>Threads written through the REST API have <c>source.type == "api"</c>.</summary>
    [JsonInclude]
    public ThreadSource? Source { get; internal set; }

    [JsonInclude]

    public Person? Customer { get; internal set; }

    [JsonInclude]

    public Person? CreatedBy { get; internal set; }

    [JsonInclude]

    public Person? AssignedTo { get; internal set; }

    [JsonInclude]

    public IReadOnlyList<string> To { get; internal set; } = [];

    [JsonInclude]

    public IReadOnlyList<string> Cc { get; internal set; } = [];

    [JsonInclude]

    public IReadOnlyList<string> Bcc { get; internal set; } = [];

    [JsonInclude]

    public DateTimeOffset? CreatedAt { get; internal set; }

    [JsonInclude]

    public DateTimeOffset? OpenedAt { get; internal set; }

    [JsonPropertyName("_embedded")]
    [JsonInclude]
    public ThreadEmbedded? Embedded { get; internal set; }
}

/// <summary>The <c>action</c> of a line item; <see cref="Type"/> is empty on other threads.</summary>
public sealed record ThreadAction
{
    /// <summary>For example <c>changed-ticket-status</c>.</summary>
    [JsonInclude]
    public string Type { get; internal set; } = "";

    /// <summary>A localised sentence: never match rules against it.</summary>
    [JsonInclude]
    public string Text { get; internal set; } = "";
}

/// <summary>Where a conversation or thread came from.</summary>
public sealed record ThreadSource
{
    /// <summary><c>email</c>, <c>web</c>, <c>api</c> or empty.</summary>
    [JsonInclude]
    public string Type { get; internal set; } = "";

    /// <summary><c>customer</c>, <c>user</c> or empty.</summary>
    [JsonInclude]
    public string Via { get; internal set; } = "";
}

/// <summary>The <c>_embedded</c> object of a thread.</summary>
public sealed record ThreadEmbedded
{
    [JsonInclude]
    public IReadOnlyList<Attachment> Attachments { get; internal set; } = [];
}

/// <summary>A file attached to a thread.</summary>
public sealed record Attachment
{
    [JsonInclude]
    public int Id { get; internal set; }

    [JsonInclude]

    public string FileName { get; internal set; } = "";

    [JsonInclude]

    public string FileUrl { get; internal set; } = "";

    [JsonInclude]

    public string MimeType { get; internal set; } = "";

    [JsonInclude]

    public long Size { get; internal set; }
}

using System.Text.Json.Serialization;

namespace FreeScoutRules.FreeScout;

/// <summary>
/// One item of a conversation's history (<c>_embedded.threads[]</c>): a customer message, an agent
/// reply, a note or a system line item. Immutable; safe to share between threads.
/// </summary>
public sealed record ConversationThread
{
    public int Id { get; init; }

    /// <summary>See <see cref="ThreadType"/>.</summary>
    public string Type { get; init; } = "";

    /// <summary>The status chosen when the thread was created; see <see cref="ThreadStatus"/>.</summary>
    public string Status { get; init; } = "";

    /// <summary>Only <c>published</c> threads appear in webhooks.</summary>
    public string State { get; init; } = "";

    public ThreadAction? Action { get; init; }

    /// <summary>HTML; <c>null</c> or empty for line items.</summary>
    public string? Body { get; init; }

    /// <summary>Threads written through the REST API have <c>source.type == "api"</c>.</summary>
    public ThreadSource? Source { get; init; }

    public Person? Customer { get; init; }

    public Person? CreatedBy { get; init; }

    public Person? AssignedTo { get; init; }

    public IReadOnlyList<string> To { get; init; } = [];

    public IReadOnlyList<string> Cc { get; init; } = [];

    public IReadOnlyList<string> Bcc { get; init; } = [];

    public DateTimeOffset? CreatedAt { get; init; }

    public DateTimeOffset? OpenedAt { get; init; }

    [JsonPropertyName("_embedded")]
    public ThreadEmbedded? Embedded { get; init; }
}

/// <summary>The <c>action</c> of a line item; <see cref="Type"/> is empty on other threads.</summary>
public sealed record ThreadAction
{
    /// <summary>For example <c>changed-ticket-status</c>.</summary>
    public string Type { get; init; } = "";

    /// <summary>A localised sentence: never match rules against it.</summary>
    public string Text { get; init; } = "";
}

/// <summary>Where a conversation or thread came from.</summary>
public sealed record ThreadSource
{
    /// <summary><c>email</c>, <c>web</c>, <c>api</c> or empty.</summary>
    public string Type { get; init; } = "";

    /// <summary><c>customer</c>, <c>user</c> or empty.</summary>
    public string Via { get; init; } = "";
}

/// <summary>The <c>_embedded</c> object of a thread.</summary>
public sealed record ThreadEmbedded
{
    public IReadOnlyList<Attachment> Attachments { get; init; } = [];
}

/// <summary>A file attached to a thread.</summary>
public sealed record Attachment
{
    public int Id { get; init; }

    public string FileName { get; init; } = "";

    public string FileUrl { get; init; } = "";

    public string MimeType { get; init; } = "";

    public long Size { get; init; }
}

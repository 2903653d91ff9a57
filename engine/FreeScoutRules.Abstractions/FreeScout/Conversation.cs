using System.Text.Json.Serialization;

namespace FreeScoutRules.FreeScout;

/// <summary>
/// The conversation object FreeScout sends as the body of every <c>convo.*</c> webhook
/// (module <c>formatEntity(Conversation)</c>). Immutable; safe to share between threads.
/// </summary>
/// <remarks>
/// Fields FreeScout may omit or send as <c>null</c> are nullable. Text values that FreeScout
/// restricts to a set of spellings (status, state, type) are kept as the raw string, so a
/// spelling this version does not know is carried through unchanged instead of failing.
/// Compare them with the constants of <see cref="ConversationStatus"/> and its siblings.
/// </remarks>
public sealed record Conversation
{
    /// <summary>Internal id, as in the URL <c>/conversation/{id}</c>.</summary>
    [JsonInclude]
    public int Id { get; internal set; }

    /// <summary>The ticket number shown to people.</summary>
    [JsonInclude]
    public int Number { get; internal set; }

    /// <summary>Published customer and agent message threads; may be stale (FreeScout quirk).</summary>
    [JsonInclude]
    public int ThreadsCount { get; internal set; }

    /// <summary><c>email</c>, <c>phone</c>, <c>chat</c> or <c>custom</c>.</summary>
    [JsonInclude]
    public string Type { get; internal set; } = "";

    [JsonInclude]

    public int FolderId { get; internal set; }

    /// <summary>The status at event time: see <see cref="ConversationStatus"/>.</summary>
    [JsonInclude]
    public string Status { get; internal set; } = "";

    /// <summary><c>draft</c>, <c>published</c> or <c>deleted</c>: see <see cref="ConversationState"/>.</summary>
    [JsonInclude]
    public string State { get; internal set; } = "";

    [JsonInclude]

    public string Subject { get; internal set; } = "";

    /// <summary>Plain-text start of the latest customer, agent or note body. Not necessarily the triggering message.</summary>
    [JsonInclude]
    public string Preview { get; internal set; } = "";

    [JsonInclude]

    public int MailboxId { get; internal set; }

    /// <summary>The assigned user, or <c>null</c> when unassigned.</summary>
    [JsonInclude]
    public Person? Assignee { get; internal set; }

    [JsonInclude]

    public Person? CreatedBy { get; internal set; }

    [JsonInclude]

    public DateTimeOffset? CreatedAt { get; internal set; }

    /// <summary>When the conversation last changed; FreeScout's clock has one-second steps.</summary>
    [JsonInclude]
    public DateTimeOffset? UpdatedAt { get; internal set; }

    /// <summary>The id of the user who closed it (not an object); may be <c>null</c> even when closed.</summary>
    [JsonInclude]
    public int? ClosedBy { get; internal set; }

    [JsonInclude]

    public Person? ClosedByUser { get; internal set; }

    /// <summary>Not cleared on reopen: can be set while the status is active.</summary>
    [JsonInclude]
    public DateTimeOffset? ClosedAt { get; internal set; }

    [JsonInclude]

    public DateTimeOffset? UserUpdatedAt { get; internal set; }

    [JsonInclude]

    public CustomerWaitingSince? CustomerWaitingSince { get; internal set; }

    [JsonInclude]

    public ThreadSource? Source { get; internal set; }

    [JsonInclude]

    public IReadOnlyList<string> Cc { get; internal set; } = [];

    [JsonInclude]

    public IReadOnlyList<string> Bcc { get; internal set; } = [];

    [JsonInclude]

    public Person? Customer { get; internal set; }

    /// <summary>The embedded threads, newest first. FreeScout nests them under <c>_embedded</c>.</summary>
    [JsonPropertyName("_embedded")]
    [JsonInclude]
    public ConversationEmbedded? Embedded { get; internal set; }

    /// <summary>Present only with the Custom Fields module and a mailbox that has fields; otherwise <c>null</c>.</summary>
    [JsonInclude]
    public IReadOnlyList<CustomField>? CustomFields { get; internal set; }

    /// <summary>The embedded threads, newest first; empty when FreeScout sent none.</summary>
    [JsonIgnore]
    public IReadOnlyList<ConversationThread> Threads => Embedded?.Threads ?? [];

    /// <summary>The newest thread (FreeScout's authoritative latest item), or <c>null</c>.</summary>
    [JsonIgnore]
    public ConversationThread? LatestThread => Threads.Count > 0 ? Threads[0] : null;
}

/// <summary>The <c>_embedded</c> object of a conversation.</summary>
public sealed record ConversationEmbedded
{
    [JsonInclude]
    public IReadOnlyList<ConversationThread> Threads { get; internal set; } = [];
}

/// <summary><c>customerWaitingSince</c>: the last reply time and who made it.</summary>
public sealed record CustomerWaitingSince
{
    [JsonInclude]
    public DateTimeOffset? Time { get; internal set; }

    /// <summary>Localised text such as "Just now": never match rules against it.</summary>
    [JsonInclude]
    public string Friendly { get; internal set; } = "";

    /// <summary><c>customer</c>, <c>user</c> or empty.</summary>
    [JsonInclude]
    public string LatestReplyFrom { get; internal set; } = "";
}

/// <summary>A custom field value (Custom Fields module). <see cref="Value"/> is always a string; a dropdown holds the option id.</summary>
public sealed record CustomField
{
    [JsonInclude]
    public int Id { get; internal set; }

    [JsonInclude]

    public string Name { get; internal set; } = "";

    [JsonInclude]

    public string Value { get; internal set; } = "";

    /// <summary>The dropdown label, or empty.</summary>
    [JsonInclude]
    public string Text { get; internal set; } = "";
}

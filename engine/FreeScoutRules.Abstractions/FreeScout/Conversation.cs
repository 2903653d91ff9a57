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
    public int Id { get; init; }

    /// <summary>The ticket number shown to people.</summary>
    public int Number { get; init; }

    /// <summary>Published customer and agent message threads; may be stale (FreeScout quirk).</summary>
    public int ThreadsCount { get; init; }

    /// <summary><c>email</c>, <c>phone</c>, <c>chat</c> or <c>custom</c>.</summary>
    public string Type { get; init; } = "";

    public int FolderId { get; init; }

    /// <summary>The status at event time: see <see cref="ConversationStatus"/>.</summary>
    public string Status { get; init; } = "";

    /// <summary><c>draft</c>, <c>published</c> or <c>deleted</c>: see <see cref="ConversationState"/>.</summary>
    public string State { get; init; } = "";

    public string Subject { get; init; } = "";

    /// <summary>Plain-text start of the latest customer, agent or note body. Not necessarily the triggering message.</summary>
    public string Preview { get; init; } = "";

    public int MailboxId { get; init; }

    /// <summary>The assigned user, or <c>null</c> when unassigned.</summary>
    public Person? Assignee { get; init; }

    public Person? CreatedBy { get; init; }

    public DateTimeOffset? CreatedAt { get; init; }

    /// <summary>When the conversation last changed; FreeScout's clock has one-second steps.</summary>
    public DateTimeOffset? UpdatedAt { get; init; }

    /// <summary>The id of the user who closed it (not an object); may be <c>null</c> even when closed.</summary>
    public int? ClosedBy { get; init; }

    public Person? ClosedByUser { get; init; }

    /// <summary>Not cleared on reopen: can be set while the status is active.</summary>
    public DateTimeOffset? ClosedAt { get; init; }

    public DateTimeOffset? UserUpdatedAt { get; init; }

    public CustomerWaitingSince? CustomerWaitingSince { get; init; }

    public ThreadSource? Source { get; init; }

    public IReadOnlyList<string> Cc { get; init; } = [];

    public IReadOnlyList<string> Bcc { get; init; } = [];

    public Person? Customer { get; init; }

    /// <summary>The embedded threads, newest first. FreeScout nests them under <c>_embedded</c>.</summary>
    [JsonPropertyName("_embedded")]
    public ConversationEmbedded? Embedded { get; init; }

    /// <summary>Present only with the Custom Fields module and a mailbox that has fields; otherwise <c>null</c>.</summary>
    public IReadOnlyList<CustomField>? CustomFields { get; init; }

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
    public IReadOnlyList<ConversationThread> Threads { get; init; } = [];
}

/// <summary><c>customerWaitingSince</c>: the last reply time and who made it.</summary>
public sealed record CustomerWaitingSince
{
    public DateTimeOffset? Time { get; init; }

    /// <summary>Localised text such as "Just now": never match rules against it.</summary>
    public string Friendly { get; init; } = "";

    /// <summary><c>customer</c>, <c>user</c> or empty.</summary>
    public string LatestReplyFrom { get; init; } = "";
}

/// <summary>A custom field value (Custom Fields module). <see cref="Value"/> is always a string; a dropdown holds the option id.</summary>
public sealed record CustomField
{
    public int Id { get; init; }

    public string Name { get; init; } = "";

    public string Value { get; init; } = "";

    /// <summary>The dropdown label, or empty.</summary>
    public string Text { get; init; } = "";
}

namespace FreeScoutRules.FreeScout;

/// <summary>Status values of a conversation. FreeScout falls back to <c>active</c> for anything else.</summary>
public static class ConversationStatus
{
    public const string Active = "active";
    public const string Pending = "pending";
    public const string Closed = "closed";
    public const string Spam = "spam";

    /// <summary>Every status FreeScout knows, in its own order.</summary>
    public static IReadOnlyList<string> All { get; } = [Active, Pending, Closed, Spam];

    /// <summary>True for one of <see cref="All"/> (case-sensitive).</summary>
    public static bool IsKnown(string? value) => value is Active or Pending or Closed or Spam;
}

/// <summary>Status values of a thread: a conversation status, or <c>nochange</c> on line items.</summary>
public static class ThreadStatus
{
    public const string NoChange = "nochange";

    /// <summary>True for a conversation status or <c>nochange</c>.</summary>
    public static bool IsKnown(string? value) => value is NoChange || ConversationStatus.IsKnown(value);
}

/// <summary>Types of a thread.</summary>
public static class ThreadType
{
    /// <summary>A message from the customer.</summary>
    public const string Customer = "customer";

    /// <summary>An agent's reply.</summary>
    public const string Message = "message";

    public const string Note = "note";

    /// <summary>A system history row (status changed, assigned, moved…).</summary>
    public const string LineItem = "lineitem";

    public const string Chat = "chat";
}

/// <summary>States of a conversation.</summary>
public static class ConversationState
{
    public const string Draft = "draft";
    public const string Published = "published";
    public const string Deleted = "deleted";
}

/// <summary>Values of <see cref="ThreadSource.Type"/>.</summary>
public static class SourceType
{
    public const string Email = "email";
    public const string Web = "web";

    /// <summary>Written through the REST API, for example by the <c>freescout</c> action.</summary>
    public const string Api = "api";
}

using System.Text.Json.Nodes;
using FreeScoutRules.Facts;
using NRules.RuleModel;

namespace FreeScoutRules.Actions;

/// <summary>What a rule's right-hand side may do besides inserting facts: record action intents.</summary>
public static class RuleContextExtensions
{
    /// <summary>
    /// Records that <paramref name="action"/> should run with <paramref name="arguments"/> for the
    /// conversation of the delivery being processed. No I/O happens here.
    /// </summary>
    /// <param name="context">The rule's context (<c>ctx</c> in <c>Then().Do(ctx => …)</c>).</param>
    /// <param name="action">The action's name, as a plugin declares it.</param>
    /// <param name="arguments">
    /// An object whose public properties become the JSON arguments, usually an anonymous object
    /// (<c>new { channel = "#support", text = "…" }</c>: expression trees allow those, not dictionary
    /// initialisers); a <see cref="JsonObject"/>, a dictionary, or <c>null</c> for none.
    /// </param>
    /// <example><code>Then().Do(ctx => ctx.Enqueue("slack", new { text = $"#{change.Number} closed" }));</code></example>
    /// <exception cref="ArgumentException"><paramref name="action"/> is empty, or the arguments are not an object.</exception>
    /// <exception cref="InvalidOperationException">The session was not started by the FreeScoutRules engine.</exception>
    public static void Enqueue(this IContext context, string action, object? arguments = null)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentException.ThrowIfNullOrWhiteSpace(action);
        var delivery = context.Resolve(typeof(Delivery)) as Delivery
            ?? throw new InvalidOperationException("No delivery is being processed in this session.");
        var intent = new ActionIntent(
            context.Rule.Name, action, delivery.ConversationId, ArgumentsJson.From(arguments).ToJsonString(ArgumentsJson.WriteOptions));
        context.TryInsert(intent);
    }
}

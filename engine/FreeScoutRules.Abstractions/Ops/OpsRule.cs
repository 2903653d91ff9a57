using FreeScoutRules.FreeScout;
using NRules.Fluent.Dsl;

namespace FreeScoutRules.Ops;

/// <summary>
/// A concise rule: what happens, which conditions, and what to do, declared in one expression and compiled into an
/// ordinary NRules rule. A public class deriving from it with the declaration as its base argument is a rule, named
/// after the class (or <c>[Name("…")]</c>):
/// <code>public class NotifyOnClose() : OpsRule(On.Close().NotByBot().Post("https://hooks.example.com/support", c => new { text = $"#{c.Number} closed" }));</code>
/// The built-in conditions (<c>On.StatusChange(to: Closed)</c>, <c>On.Timer("survey")</c>, <c>.WhenStatus(Closed)</c>,
/// <c>.NotByBot()</c>…) become NRules conditions over the facts, as a rule written in NRules' own DSL would have them
/// (<c>explain</c> shows them, rules share their nodes); the rule's own lambdas (<c>.Where(c =&gt; …)</c>, the arguments
/// of an action) are ordinary delegates, run when NRules evaluates the condition or fires the action, and a failure
/// in them is contained like any rule's. The declaration itself runs once, when the rules folder is loaded.
/// </summary>
public abstract class OpsRule : Rule
{
    /// <summary>The conversation status <c>active</c>.</summary>
    protected const string Active = ConversationStatus.Active;

    /// <summary>The conversation status <c>pending</c>.</summary>
    protected const string Pending = ConversationStatus.Pending;

    /// <summary>The conversation status <c>closed</c>.</summary>
    protected const string Closed = ConversationStatus.Closed;

    /// <summary>The conversation status <c>spam</c>.</summary>
    protected const string Spam = ConversationStatus.Spam;

    private readonly OpsDeclaration _declaration;

    /// <param name="declaration">What the rule reacts to and does: <c>On.…</c> with its conditions and at least one action.</param>
    /// <exception cref="ArgumentException">The declaration has no action.</exception>
    protected OpsRule(OpsDeclaration declaration)
    {
        ArgumentNullException.ThrowIfNull(declaration);
        if (declaration.Actions.IsEmpty)
        {
            throw new ArgumentException(
                "A rule needs at least one action: .Post(…), .Do(…), .Note(…), .SetStatus(…), .Schedule(…), .Cancel(…) …", nameof(declaration));
        }

        _declaration = declaration;
    }

    /// <summary>Translates the declaration into NRules' rule model; called by the engine when it loads the rules.</summary>
    public sealed override void Define() => _declaration.Define(When(), Then());

    public override string ToString() => _declaration.ToString();
}

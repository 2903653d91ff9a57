using NRules.RuleModel;

namespace FreeScoutRules.Engine.Rules;

/// <summary>
/// A rule definition under another name. NRules names a rule without <c>[Name]</c> after its type's
/// full name, which for a class in a script is <c>Submission#0+NotifyOnClose</c>; rule authors should
/// see <c>NotifyOnClose</c>. <see cref="IRuleDefinition"/> is public, so a decorator does it.
/// </summary>
internal sealed class RenamedRuleDefinition(IRuleDefinition inner, string name) : IRuleDefinition
{
    public string Name { get; } = name;

    public string Description => inner.Description;

    public int Priority => inner.Priority;

    public RuleRepeatability Repeatability => inner.Repeatability;

    public IReadOnlyList<string> Tags => inner.Tags;

    public PropertyMap Properties => inner.Properties;

    public DependencyGroupElement DependencyGroup => inner.DependencyGroup;

    public FilterGroupElement FilterGroup => inner.FilterGroup;

    public GroupElement LeftHandSide => inner.LeftHandSide;

    public ActionGroupElement RightHandSide => inner.RightHandSide;
}

using FreeScoutRules.Engine.Rules;

namespace FreeScoutRules.Engine.Tests.Support;

/// <summary>The built-in rules of rules/ compiled once for all tests of a collection (a compile costs ~1 s).</summary>
public sealed class RuleSetFixture
{
    internal RuleSetGeneration Rules { get; } = RuleSetCompiler.Compile(Fixtures.RulesDirectory);
}

[CollectionDefinition(Name)]
public sealed class BuiltInRulesCollection : ICollectionFixture<RuleSetFixture>
{
    public const string Name = "built-in rules";
}

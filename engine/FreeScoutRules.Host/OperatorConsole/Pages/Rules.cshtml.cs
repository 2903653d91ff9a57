using FreeScoutRules.Engine.FreeScoutApi;
using FreeScoutRules.Engine.Plugins;
using FreeScoutRules.Engine.Rules;
using FreeScoutRules.Engine.Storage;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.Extensions.Options;

namespace FreeScoutRules.Host.OperatorConsole.Pages;

/// <summary>The rule generation in force (files, rules, diagnostics), the last change that did not compile, the history of generations, and the plugins.</summary>
internal sealed class RulesModel(
    RuleSetHolder rules, RulesReloader reloader, IRuleGenerationLog generations, PluginSetHolder plugins, IOptions<FreeScoutOptions> freeScout,
    IDeliveryHistory deliveries, TimeProvider time) : PageModel
{
    internal RuleSetGeneration? Current => rules.IsLoaded ? rules.Current : null;

    public DateTimeOffset LoadedAt => reloader.LoadedAt;

    internal ReloadReport? LastFailure => reloader.LastFailure;

    internal IReadOnlyList<RuleGenerationRecord> History { get; private set; } = [];

    internal PluginSet Plugins => plugins.Current;

    public IReadOnlyDictionary<string, string> Unconfigured { get; private set; } = new Dictionary<string, string>();

    /// <summary>Rule failures per rule, last 24 hours.</summary>
    internal RuleFailureSummary RuleFailures { get; private set; } = new([], false);

    public async Task OnGetAsync(CancellationToken cancellationToken)
    {
        History = await generations.ListGenerationsAsync(20, cancellationToken);
        RuleFailures = await deliveries.RuleFailuresAsync(time.GetUtcNow().AddHours(-24), OverviewModel.RuleFailureScan, cancellationToken);
        Unconfigured = plugins.Current.Unconfigured(freeScout.Value.Connection());
    }
}

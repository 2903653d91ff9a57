namespace FreeScoutRules.Host.Tests.Support;

/// <summary>
/// For tests of a CLI verb: a temporary rules folder holding the built-in rules (and, when asked, the
/// annotated sample rule as notify.csx), and a deliveries file to fill; both removed afterwards.
/// </summary>
public abstract class CliTestBase : IDisposable
{
    protected CliTestBase(bool withSampleRule)
    {
        Directory.CreateDirectory(RulesDirectory);
        File.Copy(Path.Combine(AppContext.BaseDirectory, "rules", "status-change.csx"), Path.Combine(RulesDirectory, "status-change.csx"));
        if (withSampleRule)
        {
            File.Copy(Path.Combine(AppContext.BaseDirectory, "rules.sample.csx"), Path.Combine(RulesDirectory, "notify.csx"));
        }
    }

    protected string RulesDirectory { get; } = Path.Combine(Path.GetTempPath(), $"fsr-cli-{Guid.NewGuid():N}");

    internal JsonLinesFile Events { get; } = new();

    public void Dispose()
    {
        Events.Dispose();
        Directory.Delete(RulesDirectory, recursive: true);
        GC.SuppressFinalize(this);
    }
}

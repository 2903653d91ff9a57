using System.Reflection;
using System.Runtime.CompilerServices;
using FreeScoutRules.Actions;
using FreeScoutRules.Engine.Plugins;
using FreeScoutRules.Engine.Tests.Support;

namespace FreeScoutRules.Engine.Tests.Plugins;

/// <summary>The sample plugin, built by the solution, dropped into a plugins folder and loaded for real.</summary>
public sealed class PluginLoaderTests : IDisposable
{
    private readonly TempDirectory _plugins = new();

    public void Dispose() => _plugins.Dispose();

    private static string SamplePluginDirectory => Path.GetFullPath(typeof(PluginLoaderTests).Assembly
        .GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "SamplePluginDirectory").Value!);

    private void DropSampleAsFolder()
    {
        var target = Directory.CreateDirectory(Path.Combine(_plugins.Path, "FreeScoutRules.Plugins.Sample")).FullName;
        foreach (var file in Directory.GetFiles(SamplePluginDirectory))
        {
            File.Copy(file, Path.Combine(target, Path.GetFileName(file)));
        }
    }

    [Fact]
    public void Load_SamplePluginFolder_ProvidesItsActionSharingTheHostsContract()
    {
        DropSampleAsFolder();

        var set = PluginLoader.Load(_plugins.Path);

        Assert.Empty(set.Problems);
        var handler = Assert.Single(set.Handlers);
        Assert.Equal("sample-notify", handler.Key);
        Assert.IsAssignableFrom<IActionHandler>(handler.Value);
        Assert.NotSame(typeof(PluginLoaderTests).Assembly, handler.Value.GetType().Assembly);
    }

    [Fact]
    public void Load_SingleDllDroppedIn_IsAPluginToo()
    {
        File.Copy(Path.Combine(SamplePluginDirectory, "FreeScoutRules.Plugins.Sample.dll"), Path.Combine(_plugins.Path, "sample.dll"));

        Assert.Equal(["sample-notify"], PluginLoader.Load(_plugins.Path).Handlers.Keys);
    }

    [Fact]
    public void Load_BrokenAndUselessPlugins_AreReportedWithPathAndReason_AndTheOthersLoad()
    {
        DropSampleAsFolder();
        var garbage = _plugins.Write("garbage.dll", "this is not an assembly");
        var empty = Path.Combine(_plugins.Path, "empty.dll");
        File.Copy(typeof(TempDirectory).Assembly.Location, empty);
        Directory.CreateDirectory(Path.Combine(_plugins.Path, "misnamed"));
        File.Copy(Path.Combine(SamplePluginDirectory, "FreeScoutRules.Plugins.Sample.dll"), Path.Combine(_plugins.Path, "misnamed", "other.dll"));

        var set = PluginLoader.Load(_plugins.Path);

        Assert.Equal(["sample-notify"], set.Handlers.Keys);
        Assert.Contains(set.Problems, p => p.Path == garbage && p.Reason.Contains("not a .NET assembly", StringComparison.Ordinal));
        Assert.Contains(set.Problems, p => p.Path == empty && p.Reason.Contains("no public IActionHandler", StringComparison.Ordinal));
        Assert.Contains(set.Problems, p => p.Path.EndsWith("misnamed", StringComparison.Ordinal) && p.Reason.Contains("misnamed.dll", StringComparison.Ordinal));
    }

    [Fact]
    public void Load_TwoPluginsWithTheSameAction_KeepsTheFirstAndReportsTheSecond()
    {
        File.Copy(Path.Combine(SamplePluginDirectory, "FreeScoutRules.Plugins.Sample.dll"), Path.Combine(_plugins.Path, "a.dll"));
        File.Copy(Path.Combine(SamplePluginDirectory, "FreeScoutRules.Plugins.Sample.dll"), Path.Combine(_plugins.Path, "b.dll"));

        var set = PluginLoader.Load(_plugins.Path);

        Assert.Single(set.Handlers);
        Assert.Contains(set.Problems, p => p.Path.EndsWith("b.dll", StringComparison.Ordinal) && p.Reason.Contains("already provided", StringComparison.Ordinal));
    }

    [Fact]
    public void Load_ActionScript_IsCompiledAndProvidesItsAction_AndABrokenOneIsReportedLikeACompiler()
    {
        _plugins.Write("shout.csx", """
            public sealed record ShoutArguments(string Text);

            public sealed class Shout : ActionHandler<ShoutArguments>
            {
                public override string Name => "shout";

                protected override ValueTask<ActionResult> ExecuteAsync(ShoutArguments arguments, ActionContext context) =>
                    ValueTask.FromResult(arguments.Text.Length > 0 ? ActionResult.Done() : ActionResult.Fail("nothing to shout"));
            }
            """);
        var broken = _plugins.Write("broken.csx", "public class Nope : IActionHandler { }\n");

        var set = PluginLoader.Load(_plugins.Path);

        Assert.Contains("shout", set.Handlers.Keys);
        Assert.Equal(2, set.Problems.Count);
        Assert.All(set.Problems, p => Assert.Equal(broken, p.Path));
        Assert.StartsWith("(1,21): error CS0535: 'Nope' does not implement interface member", set.Problems[0].Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_MissingFolder_IsEmptyNotAnError()
    {
        var set = PluginLoader.Load(Path.Combine(_plugins.Path, "nope"));

        Assert.Empty(set.Handlers);
        Assert.Empty(set.Problems);
    }

    [Fact]
    public void Unload_PluginContextIsCollected_AndItsFilesCanBeReplacedMeanwhile()
    {
        DropSampleAsFolder();
        var weak = LoadUseAndUnload(_plugins.Path);
        File.Delete(Path.Combine(_plugins.Path, "FreeScoutRules.Plugins.Sample", "FreeScoutRules.Plugins.Sample.dll"));

        for (var i = 0; i < 20 && weak.Any(w => w.IsAlive); i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }

        Assert.All(weak, w => Assert.False(w.IsAlive));
    }

    [Fact]
    public async Task SampleAction_InvalidArguments_IsAPermanentFailureNamingThem()
    {
        DropSampleAsFolder();
        var handler = PluginLoader.Load(_plugins.Path).Handlers["sample-notify"];

        var result = await handler.ExecuteAsync(Context("""{"url":"ftp://x","text":""}"""));

        Assert.Equal(ActionOutcome.PermanentFailure, result.Outcome);
        Assert.Equal("Invalid arguments for 'sample-notify': url must be an absolute http(s) URL; text is required", result.Reason);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static IReadOnlyList<WeakReference> LoadUseAndUnload(string directory)
    {
        var set = PluginLoader.Load(directory);
        Assert.Single(set.Handlers);
        return set.Unload();
    }

    private static ActionContext Context(string arguments) => new()
    {
        Intent = new ActionIntent("rule", "sample-notify", 1187, arguments),
        IdempotencyKey = "k",
        Attempt = 1,
        Logger = Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance,
        HttpClientFactory = new NoHttp(),
        Time = TimeProvider.System,
    };

    private sealed class NoHttp : IHttpClientFactory
    {
        public HttpClient CreateClient(string name) => throw new InvalidOperationException("no HTTP in this test");
    }

    [Fact]
    public void Load_ScriptThatCannotBeRead_IsAProblemOfThatPath_NotACrash()
    {
        // A file removed between the listing and the read, as while a plugin is being copied or replaced.
        File.CreateSymbolicLink(Path.Combine(_plugins.Path, "vanishing.csx"), Path.Combine(_plugins.Path, "gone", "nowhere.csx"));

        var set = PluginLoader.Load(_plugins.Path);

        var problem = Assert.Single(set.Problems);
        Assert.EndsWith("vanishing.csx", problem.Path, StringComparison.Ordinal);
        Assert.Contains("cannot be read", problem.Reason, StringComparison.Ordinal);
        Assert.Contains("loaded again at the next change", problem.Reason, StringComparison.Ordinal);
    }
}

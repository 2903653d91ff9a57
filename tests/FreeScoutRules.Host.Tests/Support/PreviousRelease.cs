namespace FreeScoutRules.Host.Tests.Support;

/// <summary>
/// The server of an earlier commit, built from this repository's history, for the rolling-upgrade test (issue 22): its
/// <c>freescout-rules.dll</c> runs beside this build's on one database. Built once per machine into the temporary folder
/// (a minute on two cores), reused while its marker stands.
/// </summary>
internal static class PreviousRelease
{
    /// <summary>
    /// A build of an earlier PostgreSQL schema: the first commit that ran <c>serve</c> on PostgreSQL (schema 1; no release
    /// with PostgreSQL has been tagged yet). Move it to the last release's commit when there is one.
    /// </summary>
    public const string Commit = "882a42a6c88435e4fd9f6ae8b00466e1e6866fd9";

    /// <summary>The PostgreSQL schema version <see cref="Commit"/> migrates to.</summary>
    public const int SchemaVersion = 1;

    private static readonly SemaphoreSlim Gate = new(1, 1);

    /// <summary>The path of the built <c>freescout-rules.dll</c> of <see cref="Commit"/>.</summary>
    public static async Task<string> BuildAsync()
    {
        var folder = Path.Combine(Path.GetTempPath(), $"fsr-release-{Commit[..12]}");
        var program = Path.Combine(folder, "bin", "freescout-rules.dll");
        var marker = Path.Combine(folder, "built");
        await Gate.WaitAsync();
        try
        {
            if (File.Exists(marker) && File.Exists(program))
            {
                return program;
            }

            if (Directory.Exists(folder))
            {
                Directory.Delete(folder, recursive: true);
            }

            var source = Directory.CreateDirectory(Path.Combine(folder, "src")).FullName;
            var repository = RepositoryCommands.Root;
            var present = await RepositoryCommands.RunAsync("git", repository, null, "cat-file", "-e", Commit + "^{commit}");
            if (present.ExitCode != 0)
            {
                throw new InvalidOperationException(
                    $"The rolling-upgrade test builds commit {Commit} from this repository's history, which this clone lacks "
                    + $"(a shallow clone? `git fetch --unshallow`):\n{present.Output}");
            }

            var extract = await RepositoryCommands.RunAsync("/bin/sh", repository, null, "-c", $"git archive --format=tar {Commit} | tar -x -C \"{source}\"");
            Assert.True(extract.ExitCode == 0, extract.Output);
            // No build servers: a node left running would keep this process's output pipes open, and outlive the tests.
            var build = await RepositoryCommands.RunAsync(
                "dotnet", source, null, "build", "engine/FreeScoutRules.Host/FreeScoutRules.Host.csproj", "-c", "Release",
                "-o", Path.Combine(folder, "bin"), "--nologo", "-v", "q", "--disable-build-servers", "-nodeReuse:false");
            Assert.True(build.ExitCode == 0 && File.Exists(program), $"building {Commit} failed:\n{build.Output}");
            await File.WriteAllTextAsync(marker, Commit);
            return program;
        }
        finally
        {
            Gate.Release();
        }
    }
}

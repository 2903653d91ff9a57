using System.Runtime.CompilerServices;
using PublicApiGenerator;

namespace FreeScoutRules.Abstractions.Tests;

/// <summary>
/// Freezes the public API that rule files and plugins compile against. A change shows up as a
/// failing test and a <c>PublicApi.received.txt</c> beside <c>PublicApi.approved.txt</c>: review the
/// difference and, when it is intended (and compatible, or announced), copy received over approved.
/// </summary>
public sealed class PublicApiApprovalTests
{
    [Fact]
    public void PublicApi_IsTheApprovedOne()
    {
        var api = typeof(FreeScoutRules.Facts.Delivery).Assembly.GeneratePublicApi(new ApiGeneratorOptions { IncludeAssemblyAttributes = false })
            .ReplaceLineEndings("\n");
        var approvedPath = Path.Combine(SourceDirectory(), "PublicApi.approved.txt");
        var receivedPath = Path.Combine(SourceDirectory(), "PublicApi.received.txt");
        var approved = File.Exists(approvedPath) ? File.ReadAllText(approvedPath).ReplaceLineEndings("\n") : "";

        if (api != approved)
        {
            File.WriteAllText(receivedPath, api);
        }
        else if (File.Exists(receivedPath))
        {
            File.Delete(receivedPath);
        }

        Assert.True(api == approved, $"The public API of FreeScoutRules.Abstractions changed: compare {receivedPath} with {approvedPath}.");
    }

    private static string SourceDirectory([CallerFilePath] string path = "") => Path.GetDirectoryName(path)!;
}

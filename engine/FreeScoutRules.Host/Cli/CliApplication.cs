using System.CommandLine;

namespace FreeScoutRules.Host.Cli;

/// <summary>The <c>freescout-rules</c> command line: one verb a class.</summary>
internal static class CliApplication
{
    public static RootCommand Build() =>
        new("FreeScoutRules: turns FreeScout webhooks into facts, runs C# script rules on them, and triggers actions.")
        {
            ServeCommand.Create(),
            TestCommand.Create(),
            CheckCommand.Create(),
            ExplainCommand.Create(),
            ReplayCommand.Create(),
            ActionsCommand.Create(),
            DeliveriesCommand.Create(),
            ReconcileCommand.Create(),
            SendCommand.Create(),
            TokenCommand.Create(),
        };
}

using System.CommandLine;
using System.Globalization;
using FreeScoutRules.Engine.Storage;
using FreeScoutRules.Engine.Storage.Postgres;
using FreeScoutRules.Engine.Storage.Sqlite;
using FreeScoutRules.Host.Settings;

namespace FreeScoutRules.Host.Cli;

/// <summary>
/// <c>freescout-rules storage copy --from DATA_DIR [--to CONNECTION_STRING]</c> (issue 22): moves a stopped server's SQLite
/// data directory into an empty PostgreSQL database, all or nothing, for several instances to run on (docs/deploy.md,
/// "Moving to PostgreSQL").
/// </summary>
internal static class StorageCommand
{
    /// <summary>The setting the connection string comes from when <c>--to</c> is not given (as <c>serve</c> on PostgreSQL reads it).</summary>
    public const string ConnectionStringName = "Postgres";

    public static Command Create()
    {
        var from = new Option<DirectoryInfo>("--from")
        {
            Description = "The SQLite server's data directory (its freescout-rules.db). The server must be stopped: the copy takes the directory's lock as serve does, and refuses while a server holds it.",
            Required = true,
        };
        var to = new Option<string?>("--to")
        {
            Description = "The PostgreSQL database to copy into, as a connection string (Host=db;Port=5432;Database=freescout_rules;Username=…;Password=…); it must hold no data "
                + "yet. Default: ConnectionStrings:Postgres (environment ConnectionStrings__Postgres, or the --config file). A password given here is visible to the "
                + "machine's other users (ps, /proc) and kept in the shell's history: prefer the environment or a settings file only you can read.",
        };
        var copy = new Command(
            "copy",
            "Copy a stopped server's SQLite data directory into an empty PostgreSQL database, in one transaction (all or nothing): every delivery with its body "
            + "as stored, known states, status changes, the outbox (each intent's idempotency key kept), attempts, timers, rule generations, the installation id "
            + "and the reconciliation watermark; identity sequences moved past the copied ids, every table's rows counted on both sides. Not copied: the "
            + "instances and named leases of the processes that ran (nobody holds anything in the copy). Exit codes: 0 copied, 1 a bad target (not empty, "
            + "no or a malformed connection string), 2 could not copy (no database in --from, a server running on it, a schema of another release, the "
            + "database unreachable, a failure during the copy: nothing was written).")
        {
            from,
            to,
        };
        copy.SetAction((result, cancellationToken) => CopyAsync(
            result.GetValue(from)!, result.GetValue(to), result.InvocationConfiguration.Output, result.InvocationConfiguration.Error, cancellationToken));
        return new Command("storage", "The store itself: move a SQLite data directory to PostgreSQL.") { copy };
    }

    private static async Task<int> CopyAsync(DirectoryInfo from, string? to, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        var connectionString = to ?? AppConfiguration.Build(new Dictionary<string, string?>()).GetConnectionString(ConnectionStringName);
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            await error.WriteLineAsync(
                $"No target: give --to CONNECTION_STRING, or set ConnectionStrings:{ConnectionStringName} (environment ConnectionStrings__{ConnectionStringName}, or the --config file).");
            return ExitCodes.BadInput;
        }

        PostgresStoreCopy target;
        try
        {
            target = PostgresStoreCopy.To(connectionString);
        }
        catch (StoreCopyException ex)
        {
            await error.WriteLineAsync(ex.Message);
            return ExitCodes.BadInput;
        }

        await using (target)
        {
            IStoreCopySource? source;
            try
            {
                source = await SqliteStorageModule.OpenForCopyAsync(new SqliteOptions { DataDirectory = from.FullName }, error, cancellationToken);
            }
            catch (StorageException ex)
            {
                await error.WriteLineAsync(ex.Message);
                return ExitCodes.CannotRun;
            }

            if (source is null)
            {
                return ExitCodes.CannotRun;
            }

            await using (source)
            {
                await output.WriteLineAsync($"Copying {source.Location} into {target.Where} (one transaction: all or nothing).");
                try
                {
                    var report = await target.CopyAsync(source, progress => output.WriteLine(Line(progress)), cancellationToken);
                    await output.WriteLineAsync(Summary(report));
                    return ExitCodes.Ok;
                }
                catch (StorageException ex)
                {
                    await error.WriteLineAsync(ex.Message);
                    return ExitCodes.CannotRun;
                }
                catch (StoreCopyException ex)
                {
                    await error.WriteLineAsync(ex.Message);
                    return ex.Failure == StoreCopyFailure.BadTarget ? ExitCodes.BadInput : ExitCodes.CannotRun;
                }
                catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
                {
                    await error.WriteLineAsync($"Stopped before the copy committed: nothing of it was written to {target.Where}.");
                    return ExitCodes.CannotRun;
                }
            }
        }
    }

    private static string Line(StoreCopyProgress progress) => string.Create(
        CultureInfo.InvariantCulture,
        $"  {progress.Table,-17} {progress.Rows,12:N0} {(progress.Rows == 1 ? "row " : "rows")} {progress.Elapsed.TotalSeconds,7:F1} s{(progress.Done ? "" : " …")}");

    private static string Summary(StoreCopyReport report)
    {
        var counts = string.Join(", ", report.Counts.Select(c => string.Create(CultureInfo.InvariantCulture, $"{c.Table} {c.Target:N0}")));
        var next = string.Join(", ", report.NextIds.Select(n => string.Create(CultureInfo.InvariantCulture, $"{n.Key} {n.Value:N0}")));
        var notCopied = string.Join("; ", StoreCopyMap.NotCopied.Concat(StoreCopyMap.TargetOnly).Select(n => $"{n.Key} ({n.Value})"));
        return string.Create(CultureInfo.InvariantCulture, $"""
            Counts verified, the same in the source and the target: {counts}.
            Next ids: {next}.
            Copied and committed in {report.Elapsed.TotalSeconds:F1} s. Installation id {report.InstallationId}, as before: new intents' idempotency keys stay in its family.
            Not copied: {notCopied}.
            Next:
              1. Keep the SQLite server stopped for good (disable its unit): what it stored from now on would not be on PostgreSQL.
              2. Start the instances on the copy: Storage:Provider=postgres and ConnectionStrings:Postgres (environment Storage__Provider=postgres,
                 ConnectionStrings__Postgres=…), the same FREESCOUTRULES_CONSOLE_KEY on every instance (the console's keys are encrypted with it:
                 `freescout-rules token` makes one), and a data directory of its own for each (its rules cache and lock). FreeScout's retries
                 of the webhooks it sent meanwhile arrive there.
              3. Check each instance: /readyz; GET /api/status (instances, queue depth, installationId as above); the newest deliveries
                 (GET /api/deliveries, or the console) and dead actions (GET /api/actions?state=dead) (docs/deploy.md, "Moving to PostgreSQL").
            """);
    }
}

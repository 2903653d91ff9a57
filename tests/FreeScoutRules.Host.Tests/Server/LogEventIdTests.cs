using System.Reflection;
using Microsoft.Extensions.Logging;

namespace FreeScoutRules.Host.Tests.Server;

/// <summary>
/// Every log message of the engine, the server and the built-in plugins has an EventId of its own, so that an alert or a
/// log query on an id means one thing. Read from the <see cref="LoggerMessageAttribute"/>s compiled into the assemblies.
/// </summary>
public sealed class LogEventIdTests
{
    [Fact]
    public void EveryLoggerMessage_HasAnEventIdOfItsOwn()
    {
        Assembly[] assemblies =
        [
            typeof(FreeScoutRules.Engine.Storage.StorageException).Assembly,
            typeof(FreeScoutRules.Host.Server.WebhookEndpoint).Assembly,
            typeof(FreeScoutRules.Actions.Secret).Assembly,
            .. Directory.GetFiles(AppContext.BaseDirectory, "FreeScoutRules.Plugins.*.dll").Select(Assembly.LoadFrom),
        ];
        var messages = assemblies
            .SelectMany(a => a.GetTypes())
            .SelectMany(t => t.GetMethods(BindingFlags.Static | BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly))
            .Select(m => (Method: $"{m.DeclaringType!.FullName}.{m.Name}", Attribute: m.GetCustomAttribute<LoggerMessageAttribute>()))
            .Where(m => m.Attribute is not null)
            .ToList();

        Assert.True(messages.Count > 40, $"only {messages.Count} log messages found: is the attribute still compiled in?");
        var shared = messages.GroupBy(m => m.Attribute!.EventId).Where(g => g.Count() > 1)
            .Select(g => $"{g.Key}: {string.Join(", ", g.Select(m => m.Method))}").ToList();
        Assert.True(shared.Count == 0, "EventIds used more than once:\n" + string.Join("\n", shared));
    }
}

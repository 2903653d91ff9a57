namespace FreeScoutRules.Host.Tests.Support;

/// <summary>
/// A test class that runs <c>serve</c> processes (several on PostgreSQL): a folder of its own for their data and rules
/// (<see cref="Root"/>, removed afterwards) and a receiver for the actions they send (<see cref="Receiver"/>).
/// </summary>
/// <param name="name">Part of the folder's name, to tell the tests' leftovers apart.</param>
public abstract class ServeProcessesTest(string name) : IAsyncLifetime
{
    protected string Root { get; } = Path.Combine(Path.GetTempPath(), $"fsr-{name}-{Guid.NewGuid():N}");

    private protected HttpReceiver Receiver { get; private set; } = null!;

    public virtual async Task InitializeAsync() => Receiver = await HttpReceiver.StartAsync();

    public virtual async Task DisposeAsync()
    {
        await Receiver.DisposeAsync();
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
        }
    }
}

using System.Diagnostics.Metrics;

namespace FreeScoutRules.Engine.Tests.Support;

/// <summary>Meters for components under test, outside a host.</summary>
internal sealed class TestMeterFactory : IMeterFactory
{
    private readonly List<Meter> _meters = [];

    /// <summary>Whether <paramref name="meter"/> is one of this factory's (a listener's filter: tests running at the same time have meters of the same name).</summary>
    public bool Owns(Meter meter)
    {
        lock (_meters)
        {
            return _meters.Contains(meter);
        }
    }

    public Meter Create(MeterOptions options)
    {
        var meter = new Meter(options);
        lock (_meters)
        {
            _meters.Add(meter);
        }

        return meter;
    }

    public void Dispose()
    {
        foreach (var meter in _meters)
        {
            meter.Dispose();
        }
    }
}

using System.Diagnostics.Metrics;

namespace CompactAI.Tests.Hybrid;

/// <summary>Creates meters the test can tell apart from those of tests running in parallel.</summary>
internal sealed class TestMeterFactory : IMeterFactory
{
    public List<Meter> Meters { get; } = [];

    public Meter Create(MeterOptions options)
    {
        var meter = new Meter(options);
        Meters.Add(meter);
        return meter;
    }

    public void Dispose()
    {
        foreach (Meter meter in Meters)
        {
            meter.Dispose();
        }
    }
}

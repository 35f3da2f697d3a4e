namespace CompactAI.Tests.Hybrid;

/// <summary>A clock the test moves by hand. Timers (timeouts, back-off) still run on real time.</summary>
internal sealed class ManualTimeProvider : TimeProvider
{
    private DateTimeOffset _now = new(2026, 1, 1, 12, 0, 0, TimeSpan.Zero);

    public override DateTimeOffset GetUtcNow() => _now;

    public void Advance(TimeSpan by) => _now += by;
}

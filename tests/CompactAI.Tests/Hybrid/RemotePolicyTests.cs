using CompactAI.Hybrid;

namespace CompactAI.Tests.Hybrid;

public class RemotePolicyTests
{
    [Theory]
    [InlineData(1, 100)]
    [InlineData(2, 200)]
    [InlineData(3, 400)]
    [InlineData(4, 800)]
    [InlineData(5, 1000)]
    [InlineData(9, 1000)]
    public void Backoff_is_exponential_capped_and_jittered_into_the_upper_half(int attempt, double cappedMs)
    {
        var options = new HybridOptions { RetryBaseDelay = TimeSpan.FromMilliseconds(100), RetryMaxDelay = TimeSpan.FromSeconds(1) };
        var invoker = new RemoteInvoker(DelegateRemoteClient.Answering("x"), options, TimeProvider.System);

        double[] delays = [.. Enumerable.Range(0, 200).Select(_ => invoker.BackoffDelay(attempt).TotalMilliseconds)];

        Assert.All(delays, d => Assert.InRange(d, cappedMs * 0.5, cappedMs));
        Assert.True(delays.Distinct().Count() > 100, "no jitter");
    }

    [Fact]
    public void Breaker_lets_exactly_one_trial_through_when_half_open()
    {
        var time = new ManualTimeProvider();
        var breaker = new CircuitBreaker(threshold: 2, TimeSpan.FromSeconds(5), time);
        Assert.True(breaker.TryAcquire());
        breaker.RecordFailure();
        Assert.True(breaker.TryAcquire());
        breaker.RecordFailure();
        Assert.False(breaker.TryAcquire());

        time.Advance(TimeSpan.FromSeconds(5));
        bool[] granted = [.. Enumerable.Range(0, 8).AsParallel().Select(_ => breaker.TryAcquire())];

        Assert.Equal(1, granted.Count(g => g));
        breaker.RecordSuccess();
        Assert.True(breaker.TryAcquire());
        Assert.True(breaker.TryAcquire());
    }

    [Fact]
    public void Success_resets_the_consecutive_failure_count()
    {
        var breaker = new CircuitBreaker(threshold: 2, TimeSpan.FromSeconds(5), new ManualTimeProvider());
        breaker.RecordFailure();
        breaker.RecordSuccess();
        breaker.RecordFailure();

        Assert.True(breaker.TryAcquire());
    }

    [Fact]
    public void Budget_windows_slide()
    {
        var time = new ManualTimeProvider();
        var budget = new RemoteCallBudget(perMinute: 1, perDay: null, time);

        Assert.True(budget.TryConsume(out _));
        Assert.False(budget.TryConsume(out string? why));
        Assert.Contains("per-minute", why, StringComparison.Ordinal);
        time.Advance(TimeSpan.FromSeconds(59));
        Assert.False(budget.TryConsume(out _));
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.True(budget.TryConsume(out _));
    }
}

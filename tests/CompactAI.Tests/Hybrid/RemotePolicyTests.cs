using CompactAI.Hybrid;
using Polly;
using Microsoft.Extensions.AI;
using static CompactAI.Tests.Hybrid.HybridAssert;

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

        double[] delays = [.. Enumerable.Range(0, 200).Select(_ => RemotePipeline.BackoffDelay(options, attempt).TotalMilliseconds)];

        Assert.All(delays, d => Assert.InRange(d, cappedMs * 0.5, cappedMs));
        Assert.True(delays.Distinct().Count() > 100, "no jitter");
    }

    [Fact]
    public async Task Breaker_lets_exactly_one_trial_through_when_half_open()
    {
        var time = new ManualTimeProvider();
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        bool fail = true;
        int calls = 0;
        var remote = new DelegateRemoteClient(async (_, ct) =>
        {
            Interlocked.Increment(ref calls);
            if (fail)
            {
                throw new HttpRequestException("down");
            }

            await gate.Task.WaitAsync(ct);
            return new ChatResponse(new ChatMessage(ChatRole.Assistant, "remote"));
        });
        HybridOptions options = FastRetries();
        options.CircuitBreakerFailureThreshold = 2;
        options.CircuitBreakerCoolDown = TimeSpan.FromSeconds(5);
        using var client = new HybridChatClient(new ScriptedLocalClient(Tok.Unsure()), remote, options, timeProvider: time);
        Assert.Equal(HybridRoute.LocalFallback, Decision(await client.GetResponseAsync(Question)).Route);
        Assert.Equal(HybridRoute.LocalFallback, Decision(await client.GetResponseAsync(Question)).Route);
        Assert.Equal(HybridRoute.LocalCircuitOpen, Decision(await client.GetResponseAsync(Question)).Route);

        time.Advance(TimeSpan.FromSeconds(5));
        fail = false;
        Task<ChatResponse> trial = client.GetResponseAsync(Question);
        while (Volatile.Read(ref calls) < 3)
        {
            await Task.Delay(1);
        }

        HybridRoute[] others = [.. (await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => client.GetResponseAsync(Question)))).Select(r => Decision(r).Route)];
        gate.SetResult();

        Assert.All(others, r => Assert.Equal(HybridRoute.LocalCircuitOpen, r));
        Assert.Equal(HybridRoute.Remote, Decision(await trial).Route);
        Assert.Equal(HybridRoute.Remote, Decision(await client.GetResponseAsync(Question)).Route);
        Assert.Equal(4, calls);
    }

    [Fact]
    public async Task A_success_in_the_window_keeps_the_breaker_closed()
    {
        int calls = 0;
        var remote = new DelegateRemoteClient((_, _) => Interlocked.Increment(ref calls) % 2 == 0
            ? Task.FromResult(new ChatResponse(new ChatMessage(ChatRole.Assistant, "remote")))
            : throw new HttpRequestException("down"));
        HybridOptions options = FastRetries();
        options.CircuitBreakerFailureThreshold = 2;
        using var client = new HybridChatClient(new ScriptedLocalClient(Tok.Unsure()), remote, options, timeProvider: new ManualTimeProvider());

        HybridRoute[] routes = new HybridRoute[6];
        for (int i = 0; i < routes.Length; i++)
        {
            routes[i] = Decision(await client.GetResponseAsync(Question)).Route;
        }

        Assert.DoesNotContain(HybridRoute.LocalCircuitOpen, routes);
        Assert.Equal(6, calls);
    }

    [Fact]
    public async Task Budget_windows_slide()
    {
        var time = new ManualTimeProvider();
        var remote = DelegateRemoteClient.Answering("remote");
        using var client = new HybridChatClient(new ScriptedLocalClient(Tok.Unsure()), remote,
            new HybridOptions { MaxRemoteCallsPerMinute = 1 }, timeProvider: time);

        Assert.Equal(HybridRoute.Remote, Decision(await client.GetResponseAsync(Question)).Route);
        HybridDecision refused = Decision(await client.GetResponseAsync(Question));
        Assert.Equal(HybridRoute.LocalBudget, refused.Route);
        Assert.Contains("per-minute", refused.Reason, StringComparison.Ordinal);
        time.Advance(TimeSpan.FromSeconds(59));
        Assert.Equal(HybridRoute.LocalBudget, Decision(await client.GetResponseAsync(Question)).Route);
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(HybridRoute.Remote, Decision(await client.GetResponseAsync(Question)).Route);
        Assert.Equal(2, remote.Calls);
    }

    [Fact]
    public async Task A_zero_budget_never_escalates()
    {
        var remote = DelegateRemoteClient.Answering("remote");
        using var client = new HybridChatClient(new ScriptedLocalClient(Tok.Unsure()), remote, new HybridOptions { MaxRemoteCallsPerDay = 0 });

        Assert.Equal(HybridRoute.LocalBudget, Decision(await client.GetResponseAsync(Question)).Route);
        Assert.Equal(0, remote.Calls);
    }

    [Fact]
    public async Task A_users_pipeline_replaces_the_built_one()
    {
        int calls = 0;
        var remote = new DelegateRemoteClient((_, _) =>
        {
            Interlocked.Increment(ref calls);
            throw new HttpRequestException("down");
        });
        Polly.ResiliencePipeline pipeline = new Polly.ResiliencePipelineBuilder()
            .AddRetry(new Polly.Retry.RetryStrategyOptions { MaxRetryAttempts = 3, Delay = TimeSpan.Zero })
            .Build();
        using var client = new HybridChatClient(new ScriptedLocalClient(Tok.Unsure()), remote,
            new HybridOptions { MaxRemoteRetries = 0, RemotePipeline = pipeline });

        HybridDecision decision = Decision(await client.GetResponseAsync(Question));

        Assert.Equal(HybridRoute.LocalFallback, decision.Route);
        Assert.Equal(4, decision.RemoteAttempts);
        Assert.Equal(4, calls);
    }
}

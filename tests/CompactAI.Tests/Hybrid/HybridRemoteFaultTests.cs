using CompactAI.Hybrid;
using Microsoft.Extensions.AI;
using Xunit.Abstractions;
using static CompactAI.Tests.Hybrid.HybridAssert;
using Behavior = CompactAI.Tests.Hybrid.LoopbackOpenAIServer.Behavior;

namespace CompactAI.Tests.Hybrid;

/// <summary>
/// Faults from a real HTTP server on the loopback interface, reached through
/// <see cref="RemoteChatClients.ForOpenAICompatible"/> (the official OpenAI .NET client).
/// </summary>
public class HybridRemoteFaultTests(ITestOutputHelper output)
{
    private const string ApiKey = "sk-test-secret-key-123";

    private static HybridOptions Options(int retries = 0, Behavior behavior = Behavior.Good) => new()
    {
        MaxRemoteRetries = retries,
        RetryBaseDelay = TimeSpan.FromMilliseconds(1),
        RetryMaxDelay = TimeSpan.FromMilliseconds(5),
        // Only the slow server should time out; everything else gets room for a cold first request (JIT of Kestrel and
        // the OpenAI client) on a loaded machine.
        RemoteTimeout = behavior is Behavior.Slow or Behavior.RoleThenStall ? SlowTimeout : TimeSpan.FromSeconds(20),
    };

    private static readonly TimeSpan SlowTimeout = TimeSpan.FromSeconds(1);

    private static HybridChatClient Client(Uri endpoint, ScriptedLocalClient local, HybridOptions options, TimeProvider? time = null) =>
        new(local, RemoteChatClients.ForOpenAICompatible(endpoint, ApiKey, "big-model", options), options, timeProvider: time);

    [Fact]
    public async Task Good_reply_is_used_when_escalated()
    {
        await using LoopbackOpenAIServer server = await LoopbackOpenAIServer.StartAsync(Behavior.Good);
        using HybridChatClient client = Client(server.Endpoint, new ScriptedLocalClient(Tok.Unsure()), Options());

        ChatResponse response = await client.GetResponseAsync(Question);

        HybridDecision decision = Decision(response);
        Assert.Equal(HybridRoute.Remote, decision.Route);
        Assert.Equal(server.Answer, response.Text);
        Assert.Equal((11L, 6L), (decision.RemoteInputTokens!.Value, decision.RemoteOutputTokens!.Value));
        Assert.Equal($"Bearer {ApiKey}", server.LastAuthorization);
        Assert.Equal(1, server.RequestCount);
    }

    [Fact]
    public async Task Good_streamed_reply_is_used_when_escalated()
    {
        await using LoopbackOpenAIServer server = await LoopbackOpenAIServer.StartAsync(Behavior.Good);
        using HybridChatClient client = Client(server.Endpoint, new ScriptedLocalClient(Tok.Unsure()), Options());

        ChatResponse response = await client.GetStreamingResponseAsync(Question).ToChatResponseAsync();

        Assert.Equal(HybridRoute.Remote, Decision(response).Route);
        Assert.Equal(server.Answer, response.Text);
    }

    [Fact]
    public async Task Good_streamed_reply_in_stream_then_verify_mode_is_forwarded()
    {
        await using LoopbackOpenAIServer server = await LoopbackOpenAIServer.StartAsync(Behavior.Good);
        HybridOptions options = Options();
        options.StreamingMode = HybridStreamingMode.StreamThenVerify;
        using HybridChatClient client = Client(server.Endpoint, new ScriptedLocalClient(Tok.Confident()), options);

        ChatResponse response = await client.GetStreamingResponseAsync(Question, Route("remote")).ToChatResponseAsync();

        Assert.Equal(HybridRoute.Remote, Decision(response).Route);
        Assert.Equal(server.Answer, response.Text);
    }

    [Theory]
    [InlineData(Behavior.Status500, "HTTP 500")]
    [InlineData(Behavior.Status429, "HTTP 429")]
    [InlineData(Behavior.MalformedJson, "malformed remote reply")]
    [InlineData(Behavior.Slow, "timed out after 1000 ms")]
    [InlineData(Behavior.DropMidway, "dropped mid-way")]
    public async Task Remote_fault_returns_the_local_answer_flagged(Behavior behavior, string reason)
    {
        await using LoopbackOpenAIServer server = await LoopbackOpenAIServer.StartAsync(behavior);
        var local = new ScriptedLocalClient(Tok.Unsure());
        using HybridChatClient client = Client(server.Endpoint, local, Options(retries: 1, behavior));

        ChatResponse response = await client.GetResponseAsync(Question);

        HybridDecision decision = Decision(response);
        output.WriteLine($"{behavior}: {decision.RemoteError}");
        Assert.Equal(HybridRoute.LocalFallback, decision.Route);
        Assert.Equal(EscalationTrigger.LowConfidence, decision.Trigger);
        Assert.True(decision.IsUnverified);
        Assert.Equal(local.Text, response.Text);
        Assert.Contains(reason, decision.RemoteError, StringComparison.Ordinal);
        Assert.Equal(2, decision.RemoteAttempts);
        // A slow server may not have read a request yet when the client's timeout fires on a saturated test host.
        if (behavior == Behavior.Slow) Assert.InRange(server.RequestCount, 0, 2);
        else Assert.Equal(2, server.RequestCount);
        Assert.DoesNotContain(ApiKey, decision.Reason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(Behavior.Status500, "HTTP 500")]
    [InlineData(Behavior.Status429, "HTTP 429")]
    [InlineData(Behavior.MalformedJson, "malformed remote reply")]
    [InlineData(Behavior.Slow, "timed out after 1000 ms")]
    [InlineData(Behavior.DropMidway, "dropped mid-way")]
    public async Task Remote_stream_fault_returns_the_local_answer_flagged(Behavior behavior, string reason)
    {
        await using LoopbackOpenAIServer server = await LoopbackOpenAIServer.StartAsync(behavior);
        var local = new ScriptedLocalClient(Tok.Unsure());
        using HybridChatClient client = Client(server.Endpoint, local, Options(behavior: behavior));

        ChatResponse response = await client.GetStreamingResponseAsync(Question).ToChatResponseAsync();

        HybridDecision decision = Decision(response);
        output.WriteLine($"{behavior}: {decision.RemoteError}");
        Assert.Equal(HybridRoute.LocalFallback, decision.Route);
        Assert.Equal(local.Text, response.Text);
        Assert.Contains(reason, decision.RemoteError, StringComparison.Ordinal);
        // A stream is never retried. A slow server may not have read the request yet when the client's timeout fires
        // (seen when the test host is saturated), so for it the count is at most one.
        if (behavior == Behavior.Slow) Assert.InRange(server.RequestCount, 0, 1);
        else Assert.Equal(1, server.RequestCount);
    }

    [Theory]
    [InlineData(Behavior.Status500)]
    [InlineData(Behavior.Status429)]
    [InlineData(Behavior.DropMidway)]
    public async Task Api_key_never_reaches_logs_or_decisions(Behavior behavior)
    {
        await using LoopbackOpenAIServer server = await LoopbackOpenAIServer.StartAsync(behavior);
        var logger = new ListLogger();
        HybridOptions options = Options();
        using var client = new HybridChatClient(
            new ScriptedLocalClient(Tok.Unsure()), RemoteChatClients.ForOpenAICompatible(server.Endpoint, ApiKey, "big-model", options), options, logger);

        HybridDecision decision = Decision(await client.GetResponseAsync(Question));

        Assert.Equal(HybridRoute.LocalFallback, decision.Route);
        Assert.Contains(logger.Entries, e => e.Level == Microsoft.Extensions.Logging.LogLevel.Warning && e.Text.Contains(decision.RemoteError!, StringComparison.Ordinal));
        Assert.Contains(logger.Entries, e => e.Level == Microsoft.Extensions.Logging.LogLevel.Debug && e.Text.Contains("LocalFallback", StringComparison.Ordinal));
        Assert.DoesNotContain(logger.Entries, e => e.Text.Contains("sk-test", StringComparison.Ordinal));
        Assert.DoesNotContain("sk-test", decision.Reason, StringComparison.Ordinal);
        Assert.Equal($"Bearer {ApiKey}", server.LastAuthorization);
    }

    [Fact]
    public async Task Refused_connection_returns_the_local_answer_flagged()
    {
        var local = new ScriptedLocalClient(Tok.Unsure());
        using HybridChatClient client = Client(LoopbackOpenAIServer.ClosedEndpoint(), local, Options(retries: 2));

        ChatResponse response = await client.GetResponseAsync(Question);

        HybridDecision decision = Decision(response);
        output.WriteLine(decision.RemoteError);
        Assert.Equal(HybridRoute.LocalFallback, decision.Route);
        Assert.Equal(3, decision.RemoteAttempts);
        Assert.Equal(local.Text, response.Text);
        Assert.Contains("remote connection failed", decision.RemoteError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Stream_dropped_after_forwarding_began_is_reported_incomplete_not_retried()
    {
        await using LoopbackOpenAIServer server = await LoopbackOpenAIServer.StartAsync(Behavior.DropMidway);
        HybridOptions options = Options(retries: 2);
        options.StreamingMode = HybridStreamingMode.StreamThenVerify;
        using HybridChatClient client = Client(server.Endpoint, new ScriptedLocalClient(Tok.Confident()), options);

        server.DropSignal = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var updates = new List<ChatResponseUpdate>();
        await foreach (ChatResponseUpdate update in client.GetStreamingResponseAsync(Question, Route("remote")))
        {
            updates.Add(update);
            server.DropSignal.TrySetResult(); // the first update reached us: now cut the connection
        }

        ChatResponse response = updates.ToChatResponse();
        HybridDecision decision = Decision(response);
        output.WriteLine(decision.RemoteError);
        Assert.Equal(HybridRoute.RemoteIncomplete, decision.Route);
        Assert.True(decision.IsUnverified);
        Assert.Equal(1, server.RequestCount);
        Assert.StartsWith("The", response.Text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(Behavior.RoleThenDrop, "dropped mid-way")]
    [InlineData(Behavior.RoleThenStall, "timed out after 1000 ms")]
    public async Task Stream_then_verify_falls_back_to_the_local_answer_when_no_remote_text_reached_the_caller(Behavior behavior, string reason)
    {
        await using LoopbackOpenAIServer server = await LoopbackOpenAIServer.StartAsync(behavior);
        HybridOptions options = Options(behavior: behavior);
        options.StreamingMode = HybridStreamingMode.StreamThenVerify;
        var local = new ScriptedLocalClient(Tok.Confident());
        using HybridChatClient client = Client(server.Endpoint, local, options);

        ChatResponse response = await client.GetStreamingResponseAsync(Question, Route("remote")).ToChatResponseAsync();

        HybridDecision decision = Decision(response);
        output.WriteLine($"{behavior}: {decision.RemoteError}");
        Assert.Equal(HybridRoute.LocalFallback, decision.Route);
        Assert.Equal(EscalationTrigger.Forced, decision.Trigger);
        Assert.True(decision.IsUnverified);
        Assert.Equal(local.Text, response.Text);
        Assert.Contains(reason, decision.RemoteError, StringComparison.Ordinal);
        Assert.Equal(1, decision.RemoteAttempts);
    }

    [Fact]
    public async Task Retry_after_of_a_429_is_honoured()
    {
        await using LoopbackOpenAIServer server = await LoopbackOpenAIServer.StartAsync(Behavior.Status429);
        server.RetryAfter = "1";
        HybridOptions options = Options(retries: 1);
        options.RetryMaxDelay = TimeSpan.FromSeconds(5);
        using HybridChatClient client = Client(server.Endpoint, new ScriptedLocalClient(Tok.Unsure()), options);

        HybridDecision decision = Decision(await client.GetResponseAsync(Question));

        Assert.Equal(HybridRoute.LocalFallback, decision.Route);
        Assert.Equal(2, decision.RemoteAttempts);
        IReadOnlyList<TimeSpan> arrivals = server.Arrivals;
        Assert.Equal(2, arrivals.Count);
        // The server asked for one second; the back-off alone (1–5 ms here) would retry at once.
        Assert.True(arrivals[1] - arrivals[0] >= TimeSpan.FromMilliseconds(950), $"retried after {(arrivals[1] - arrivals[0]).TotalMilliseconds:0} ms");
    }

    [Fact]
    public async Task Retry_after_longer_than_the_delay_cap_falls_back_without_retrying()
    {
        await using LoopbackOpenAIServer server = await LoopbackOpenAIServer.StartAsync(Behavior.Status429);
        server.RetryAfter = "30";
        var local = new ScriptedLocalClient(Tok.Unsure());
        using HybridChatClient client = Client(server.Endpoint, local, Options(retries: 2));

        ChatResponse response = await client.GetResponseAsync(Question);

        HybridDecision decision = Decision(response);
        output.WriteLine(decision.RemoteError);
        Assert.Equal(HybridRoute.LocalFallback, decision.Route);
        Assert.Equal(local.Text, response.Text);
        Assert.Equal(1, decision.RemoteAttempts);
        Assert.Equal(1, server.RequestCount);
        Assert.Contains("HTTP 429", decision.RemoteError, StringComparison.Ordinal);
        Assert.Contains("Retry-After 30 s", decision.RemoteError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Circuit_breaker_opens_after_consecutive_failures_and_closes_after_the_cool_down()
    {
        await using LoopbackOpenAIServer server = await LoopbackOpenAIServer.StartAsync(Behavior.Status500);
        var time = new ManualTimeProvider();
        HybridOptions options = Options();
        options.CircuitBreakerFailureThreshold = 3;
        options.CircuitBreakerCoolDown = TimeSpan.FromSeconds(30);
        using HybridChatClient client = Client(server.Endpoint, new ScriptedLocalClient(Tok.Unsure()), options, time);

        for (int i = 0; i < 3; i++)
        {
            Assert.Equal(HybridRoute.LocalFallback, Decision(await client.GetResponseAsync(Question)).Route);
        }

        Assert.Equal(3, server.RequestCount);
        for (int i = 0; i < 2; i++)
        {
            HybridDecision open = Decision(await client.GetResponseAsync(Question));
            Assert.Equal(HybridRoute.LocalCircuitOpen, open.Route);
            Assert.Equal(0, open.RemoteAttempts);
        }

        Assert.Equal(3, server.RequestCount);

        time.Advance(TimeSpan.FromSeconds(29));
        Assert.Equal(HybridRoute.LocalCircuitOpen, Decision(await client.GetResponseAsync(Question)).Route);
        Assert.Equal(3, server.RequestCount);

        // After the cool-down one trial goes out; the server has recovered, so the breaker closes.
        time.Advance(TimeSpan.FromSeconds(2));
        server.Mode = Behavior.Good;
        Assert.Equal(HybridRoute.Remote, Decision(await client.GetResponseAsync(Question)).Route);
        Assert.Equal(HybridRoute.Remote, Decision(await client.GetResponseAsync(Question)).Route);
        Assert.Equal(5, server.RequestCount);
    }

    [Fact]
    public async Task Failed_trial_reopens_the_breaker()
    {
        await using LoopbackOpenAIServer server = await LoopbackOpenAIServer.StartAsync(Behavior.Status500);
        var time = new ManualTimeProvider();
        HybridOptions options = Options();
        options.CircuitBreakerFailureThreshold = 2;
        options.CircuitBreakerCoolDown = TimeSpan.FromSeconds(10);
        using HybridChatClient client = Client(server.Endpoint, new ScriptedLocalClient(Tok.Unsure()), options, time);
        await client.GetResponseAsync(Question);
        await client.GetResponseAsync(Question);

        time.Advance(TimeSpan.FromSeconds(11));
        Assert.Equal(HybridRoute.LocalFallback, Decision(await client.GetResponseAsync(Question)).Route);
        Assert.Equal(HybridRoute.LocalCircuitOpen, Decision(await client.GetResponseAsync(Question)).Route);
        Assert.Equal(3, server.RequestCount);
    }

    [Fact]
    public async Task Per_minute_budget_keeps_requests_local_until_the_window_moves()
    {
        await using LoopbackOpenAIServer server = await LoopbackOpenAIServer.StartAsync(Behavior.Good);
        var time = new ManualTimeProvider();
        HybridOptions options = Options();
        options.MaxRemoteCallsPerMinute = 2;
        var local = new ScriptedLocalClient(Tok.Unsure());
        using HybridChatClient client = Client(server.Endpoint, local, options, time);

        Assert.Equal(HybridRoute.Remote, Decision(await client.GetResponseAsync(Question)).Route);
        time.Advance(TimeSpan.FromSeconds(20));
        Assert.Equal(HybridRoute.Remote, Decision(await client.GetResponseAsync(Question)).Route);
        ChatResponse budgeted = await client.GetResponseAsync(Question);
        HybridDecision decision = Decision(budgeted);
        Assert.Equal(HybridRoute.LocalBudget, decision.Route);
        Assert.True(decision.IsUnverified);
        Assert.Contains("per-minute budget of 2", decision.Reason, StringComparison.Ordinal);
        Assert.Equal(local.Text, budgeted.Text);
        Assert.Equal(2, server.RequestCount);

        // The first call leaves the one-minute window 60 s after it was made.
        time.Advance(TimeSpan.FromSeconds(40));
        Assert.Equal(HybridRoute.Remote, Decision(await client.GetResponseAsync(Question)).Route);
        Assert.Equal(HybridRoute.LocalBudget, Decision(await client.GetResponseAsync(Question)).Route);
        Assert.Equal(3, server.RequestCount);
    }

    [Fact]
    public async Task Per_day_budget_holds_across_minutes()
    {
        var time = new ManualTimeProvider();
        var remote = DelegateRemoteClient.Answering("remote");
        using var client = new HybridChatClient(new ScriptedLocalClient(Tok.Unsure()), remote,
            new HybridOptions { MaxRemoteCallsPerMinute = 10, MaxRemoteCallsPerDay = 3 }, timeProvider: time);

        for (int i = 0; i < 3; i++)
        {
            Assert.Equal(HybridRoute.Remote, Decision(await client.GetResponseAsync(Question)).Route);
            time.Advance(TimeSpan.FromHours(1));
        }

        HybridDecision spent = Decision(await client.GetResponseAsync(Question));
        Assert.Equal(HybridRoute.LocalBudget, spent.Route);
        Assert.Contains("per-day", spent.Reason, StringComparison.Ordinal);
        time.Advance(TimeSpan.FromHours(22));
        Assert.Equal(HybridRoute.Remote, Decision(await client.GetResponseAsync(Question)).Route);
        Assert.Equal(4, remote.Calls);
    }
}

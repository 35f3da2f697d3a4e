using CompactAI.Hybrid;
using Microsoft.Extensions.AI;
using static CompactAI.Tests.Hybrid.HybridAssert;

namespace CompactAI.Tests.Hybrid;

public class HybridRoutingTests
{
    private const string RemoteText = "Paris.";

    [Fact]
    public async Task Confident_local_answer_stays_local()
    {
        var local = new ScriptedLocalClient(Tok.Confident());
        var remote = DelegateRemoteClient.Answering(RemoteText);
        using var client = new HybridChatClient(local, remote);

        ChatResponse response = await client.GetResponseAsync(Question);

        HybridDecision decision = Decision(response);
        Assert.Equal(HybridRoute.Local, decision.Route);
        Assert.Equal(EscalationTrigger.None, decision.Trigger);
        Assert.Equal(local.Text, response.Text);
        Assert.Equal(0, remote.Calls);
        Assert.True(decision.Confidence >= 0.5);
        Assert.Equal(Tok.Confident().Length, decision.LocalOutputTokens);
        Assert.NotNull(decision.LocalLatency);
        Assert.Null(decision.RemoteLatency);
        Assert.False(decision.IsUnverified);
    }

    [Fact]
    public async Task Low_confidence_escalates_to_remote()
    {
        var local = new ScriptedLocalClient(Tok.Unsure());
        var remote = DelegateRemoteClient.Answering(RemoteText);
        using var client = new HybridChatClient(local, remote);

        ChatResponse response = await client.GetResponseAsync(Question);

        HybridDecision decision = Decision(response);
        Assert.Equal(HybridRoute.Remote, decision.Route);
        Assert.Equal(EscalationTrigger.LowConfidence, decision.Trigger);
        Assert.Equal(RemoteText, response.Text);
        Assert.Equal(1, remote.Calls);
        Assert.True(decision.Confidence < 0.5);
        Assert.Equal((20L, 7L, 1), (decision.RemoteInputTokens!.Value, decision.RemoteOutputTokens!.Value, decision.RemoteAttempts));
    }

    [Fact]
    public async Task Threshold_decides_between_local_and_remote()
    {
        double confidence = DefaultConfidenceScorer.Instance.Score(ConfidenceSignals.FromTokens(Tok.Confident()));
        var remote = DelegateRemoteClient.Answering(RemoteText);
        using var strict = new HybridChatClient(new ScriptedLocalClient(Tok.Confident()), remote, new HybridOptions { ConfidenceThreshold = confidence + 0.001 });
        using var lenient = new HybridChatClient(new ScriptedLocalClient(Tok.Confident()), remote, new HybridOptions { ConfidenceThreshold = confidence });

        Assert.Equal(HybridRoute.Remote, Decision(await strict.GetResponseAsync(Question)).Route);
        Assert.Equal(HybridRoute.Local, Decision(await lenient.GetResponseAsync(Question)).Route);
    }

    [Fact]
    public async Task Validator_rejection_escalates_even_when_confident()
    {
        var local = new ScriptedLocalClient(Tok.Confident("not json at all"));
        var remote = DelegateRemoteClient.Answering("""{"city":"Paris"}""");
        var options = new HybridOptions();
        options.Validators.Add(new JsonSchemaValidator("""{"type":"object","required":["city"]}""", "city-json"));
        options.Validators.Add(new RegexValidator("json", name: "mentions-json"));
        using var client = new HybridChatClient(local, remote, options);

        ChatResponse response = await client.GetResponseAsync(Question);

        HybridDecision decision = Decision(response);
        Assert.Equal(HybridRoute.Remote, decision.Route);
        Assert.Equal(EscalationTrigger.ValidatorFailed, decision.Trigger);
        Assert.Contains("city-json", decision.Reason, StringComparison.Ordinal);
        Assert.Collection(decision.ValidatorResults,
            r => Assert.False(r.IsValid),
            r => Assert.True(r.IsValid));
        Assert.True(decision.Confidence >= 0.5);
    }

    [Fact]
    public async Task Answer_cut_at_the_token_limit_escalates()
    {
        var local = new ScriptedLocalClient(Tok.Confident(), finish: "length");
        using var client = new HybridChatClient(local, DelegateRemoteClient.Answering(RemoteText));

        HybridDecision decision = Decision(await client.GetResponseAsync(Question));

        Assert.Equal((HybridRoute.Remote, EscalationTrigger.Truncated), (decision.Route, decision.Trigger));
    }

    [Fact]
    public async Task Empty_answer_escalates()
    {
        var local = new ScriptedLocalClient([]);
        using var client = new HybridChatClient(local, DelegateRemoteClient.Answering(RemoteText));

        HybridDecision decision = Decision(await client.GetResponseAsync(Question));

        Assert.Equal((HybridRoute.Remote, EscalationTrigger.EmptyOutput), (decision.Route, decision.Trigger));
    }

    [Fact]
    public async Task Refusal_escalates_even_when_confident()
    {
        var local = new ScriptedLocalClient(Tok.Confident("I'm sorry, but I can't help with that."));
        using var client = new HybridChatClient(local, DelegateRemoteClient.Answering(RemoteText));

        HybridDecision decision = Decision(await client.GetResponseAsync(Question));

        Assert.Equal((HybridRoute.Remote, EscalationTrigger.Refusal), (decision.Route, decision.Trigger));
    }

    [Fact]
    public async Task Forced_local_keeps_an_unsure_answer_and_strips_the_route_key()
    {
        var local = new ScriptedLocalClient(Tok.Unsure());
        var remote = DelegateRemoteClient.Answering(RemoteText);
        using var client = new HybridChatClient(local, remote);
        ChatOptions options = Route("local");

        ChatResponse response = await client.GetResponseAsync(Question, options);

        HybridDecision decision = Decision(response);
        Assert.Equal(HybridRoute.Local, decision.Route);
        Assert.Contains("local forced", decision.Reason, StringComparison.Ordinal);
        Assert.Equal(0, remote.Calls);
        Assert.False(local.LastOptions!.AdditionalProperties!.ContainsKey(CompactAIPropertyNames.Route));
        Assert.True(options.AdditionalProperties!.ContainsKey(CompactAIPropertyNames.Route), "the caller's options must not be changed");
    }

    [Fact]
    public async Task Forced_remote_skips_the_local_model()
    {
        var local = new ScriptedLocalClient(Tok.Confident());
        var remote = DelegateRemoteClient.Answering(RemoteText);
        using var client = new HybridChatClient(local, remote);

        ChatResponse response = await client.GetResponseAsync(Question, Route("REMOTE"));

        HybridDecision decision = Decision(response);
        Assert.Equal((HybridRoute.Remote, EscalationTrigger.Forced), (decision.Route, decision.Trigger));
        Assert.Equal(0, local.Calls + local.StreamCalls);
        Assert.Null(decision.Confidence);
        Assert.False(remote.LastOptions!.AdditionalProperties!.ContainsKey(CompactAIPropertyNames.Route));
    }

    [Fact]
    public async Task Auto_route_behaves_as_no_override_and_unknown_routes_are_refused()
    {
        using var client = new HybridChatClient(new ScriptedLocalClient(Tok.Confident()), DelegateRemoteClient.Answering(RemoteText));

        Assert.Equal(HybridRoute.Local, Decision(await client.GetResponseAsync(Question, Route("auto"))).Route);
        await Assert.ThrowsAsync<ArgumentException>(() => client.GetResponseAsync(Question, Route("nearest")));
    }

    [Fact]
    public async Task Prompt_perplexity_gate_escalates_before_generating()
    {
        var scorer = new FixedPromptScorer(perplexity: 50);
        var local = new ScriptedLocalClient(Tok.Confident(), promptScorer: scorer);
        using var client = new HybridChatClient(local, DelegateRemoteClient.Answering(RemoteText), new HybridOptions { PromptPerplexityGate = 20 });

        HybridDecision decision = Decision(await client.GetResponseAsync(Question));

        Assert.Equal((HybridRoute.Remote, EscalationTrigger.PromptPerplexity), (decision.Route, decision.Trigger));
        Assert.Equal(1, scorer.Calls);
        Assert.Equal(0, local.Calls + local.StreamCalls);
    }

    [Fact]
    public async Task Prompt_below_the_gate_generates_locally_and_records_the_perplexity()
    {
        var local = new ScriptedLocalClient(Tok.Confident(), promptScorer: new FixedPromptScorer(perplexity: 5));
        using var client = new HybridChatClient(local, DelegateRemoteClient.Answering(RemoteText), new HybridOptions { PromptPerplexityGate = 20 });

        HybridDecision decision = Decision(await client.GetResponseAsync(Question));

        Assert.Equal(HybridRoute.Local, decision.Route);
        Assert.Equal(5, decision.Signals!.PromptPerplexity);
    }

    [Fact]
    public async Task Early_exit_cancels_the_local_stream_and_escalates()
    {
        GeneratedTokens tokens = GeneratedTokens.Unsure(40);
        var local = new ScriptedLocalClient(tokens.Items);
        var remote = DelegateRemoteClient.Answering(RemoteText);
        using var client = new HybridChatClient(local, remote, new HybridOptions { EarlyExit = true, EarlyExitMinTokens = 6 });

        ChatResponse response = await client.GetResponseAsync(Question);

        HybridDecision decision = Decision(response);
        Assert.Equal((HybridRoute.Remote, EscalationTrigger.EarlyExit), (decision.Route, decision.Trigger));
        Assert.True(local.SawCancellation, "the local stream never saw the cancellation");
        Assert.Equal(6, local.TokensProduced);
        Assert.Equal(6, decision.LocalOutputTokens);
        Assert.Equal(RemoteText, response.Text);
    }

    [Fact]
    public async Task Early_exit_does_not_trigger_on_a_confident_stream()
    {
        var local = new ScriptedLocalClient(Tok.Confident());
        using var client = new HybridChatClient(local, DelegateRemoteClient.Answering(RemoteText), new HybridOptions { EarlyExit = true, EarlyExitMinTokens = 2 });

        ChatResponse response = await client.GetResponseAsync(Question);

        Assert.Equal(HybridRoute.Local, Decision(response).Route);
        Assert.False(local.SawCancellation);
        Assert.Equal(local.Text, response.Text);
    }

    [Fact]
    public async Task Early_exit_followed_by_a_remote_failure_returns_a_whole_local_answer()
    {
        GeneratedTokens tokens = GeneratedTokens.Unsure(30);
        var local = new ScriptedLocalClient(tokens.Items);
        var remote = new DelegateRemoteClient((_, _) => throw new HttpRequestException("connection refused"));
        using var client = new HybridChatClient(local, remote, new HybridOptions { EarlyExit = true, EarlyExitMinTokens = 4, MaxRemoteRetries = 0 });

        ChatResponse response = await client.GetResponseAsync(Question);

        HybridDecision decision = Decision(response);
        Assert.Equal((HybridRoute.LocalFallback, EscalationTrigger.EarlyExit), (decision.Route, decision.Trigger));
        Assert.Equal(local.Text, response.Text);
        Assert.Equal(30, decision.LocalOutputTokens);
        Assert.Contains("connection refused", decision.RemoteError, StringComparison.Ordinal);
        Assert.True(decision.IsUnverified);
    }

    [Fact]
    public async Task Remote_exceptions_are_retried_then_fall_back_with_the_reason()
    {
        var local = new ScriptedLocalClient(Tok.Unsure());
        var remote = new DelegateRemoteClient((_, _) => throw new InvalidOperationException("upstream exploded"));
        using var client = new HybridChatClient(local, remote, FastRetries(retries: 2));

        ChatResponse response = await client.GetResponseAsync(Question);

        HybridDecision decision = Decision(response);
        Assert.Equal(HybridRoute.LocalFallback, decision.Route);
        Assert.Equal(EscalationTrigger.LowConfidence, decision.Trigger);
        Assert.Equal(3, remote.Calls);
        Assert.Equal(3, decision.RemoteAttempts);
        Assert.Contains("upstream exploded", decision.Reason, StringComparison.Ordinal);
        Assert.Equal(local.Text, response.Text);
    }

    [Fact]
    public async Task Retry_succeeds_after_a_transient_failure()
    {
        int calls = 0;
        var remote = new DelegateRemoteClient((_, _) => Interlocked.Increment(ref calls) == 1
            ? throw new HttpRequestException("reset")
            : Task.FromResult(new ChatResponse(new ChatMessage(ChatRole.Assistant, RemoteText))));
        using var client = new HybridChatClient(new ScriptedLocalClient(Tok.Unsure()), remote, FastRetries(retries: 1));

        ChatResponse response = await client.GetResponseAsync(Question);

        Assert.Equal((HybridRoute.Remote, 2), (Decision(response).Route, Decision(response).RemoteAttempts));
        Assert.Equal(RemoteText, response.Text);
    }

    [Fact]
    public async Task Empty_remote_reply_falls_back()
    {
        var remote = new DelegateRemoteClient((_, _) => Task.FromResult(new ChatResponse(new ChatMessage(ChatRole.Assistant, "  "))));
        using var client = new HybridChatClient(new ScriptedLocalClient(Tok.Unsure()), remote, FastRetries());

        HybridDecision decision = Decision(await client.GetResponseAsync(Question));

        Assert.Equal(HybridRoute.LocalFallback, decision.Route);
        Assert.Contains("held no answer", decision.RemoteError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Remote_timeout_falls_back()
    {
        var remote = new DelegateRemoteClient(async (_, ct) =>
        {
            await Task.Delay(TimeSpan.FromSeconds(30), ct);
            return new ChatResponse(new ChatMessage(ChatRole.Assistant, RemoteText));
        });
        HybridOptions options = FastRetries();
        options.RemoteTimeout = TimeSpan.FromMilliseconds(100);
        using var client = new HybridChatClient(new ScriptedLocalClient(Tok.Unsure()), remote, options);

        HybridDecision decision = Decision(await client.GetResponseAsync(Question));

        Assert.Equal(HybridRoute.LocalFallback, decision.Route);
        Assert.Contains("timed out after 100 ms", decision.RemoteError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Caller_cancellation_propagates_instead_of_falling_back()
    {
        using var cancellation = new CancellationTokenSource();
        var remote = new DelegateRemoteClient(async (_, ct) =>
        {
            await cancellation.CancelAsync();
            await Task.Delay(TimeSpan.FromSeconds(30), ct);
            return new ChatResponse(new ChatMessage(ChatRole.Assistant, RemoteText));
        });
        using var client = new HybridChatClient(new ScriptedLocalClient(Tok.Unsure()), remote, FastRetries(retries: 3));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => client.GetResponseAsync(Question, cancellationToken: cancellation.Token));
        Assert.Equal(1, remote.Calls);
    }

    [Fact]
    public async Task UseHybrid_composes_with_the_builder_and_the_local_model_as_inner_client()
    {
        var local = new ScriptedLocalClient(Tok.Unsure());
        var remote = DelegateRemoteClient.Answering(RemoteText);
        using IChatClient client = new ChatClientBuilder(local)
            .UseHybrid(remote, o => o.ConfidenceThreshold = 0.0001)
            .Build();

        ChatResponse response = await client.GetResponseAsync(Question);

        Assert.NotNull(client.GetService<HybridChatClient>());
        Assert.Same(local, client.GetService<ScriptedLocalClient>());
        Assert.Equal(HybridRoute.Local, Decision(response).Route);
    }

    [Fact]
    public async Task Options_are_copied_at_construction()
    {
        var options = new HybridOptions { ConfidenceThreshold = 0.0001 };
        using var client = new HybridChatClient(new ScriptedLocalClient(Tok.Unsure()), DelegateRemoteClient.Answering(RemoteText), options);
        options.ConfidenceThreshold = 0.99;

        Assert.Equal(HybridRoute.Local, Decision(await client.GetResponseAsync(Question)).Route);
    }

    private sealed class FixedPromptScorer(double perplexity) : IPromptScorer
    {
        private int _calls;

        public int Calls => _calls;

        public ValueTask<PromptScore> ScorePromptAsync(IEnumerable<ChatMessage> messages, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _calls);
            return ValueTask.FromResult(new PromptScore(8, -Math.Log(perplexity), perplexity));
        }
    }
}

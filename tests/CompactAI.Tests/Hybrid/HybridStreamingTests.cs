using CompactAI.Hybrid;
using CompactAI.Inference;
using Microsoft.Extensions.AI;
using static CompactAI.Tests.Hybrid.HybridAssert;

namespace CompactAI.Tests.Hybrid;

public class HybridStreamingTests
{
    private const string RemoteText = "Paris is the capital.";

    private static async Task<List<ChatResponseUpdate>> CollectAsync(IAsyncEnumerable<ChatResponseUpdate> updates)
    {
        var list = new List<ChatResponseUpdate>();
        await foreach (ChatResponseUpdate update in updates)
        {
            list.Add(update);
        }

        return list;
    }

    private static HybridDecision FinalDecision(List<ChatResponseUpdate> updates)
    {
        for (int i = 0; i < updates.Count - 1; i++)
        {
            Assert.False(updates[i].AdditionalProperties?.ContainsKey(CompactAIPropertyNames.HybridDecision) ?? false, "decision before the end");
        }

        return Assert.IsType<HybridDecision>(updates[^1].AdditionalProperties![CompactAIPropertyNames.HybridDecision]);
    }

    [Fact]
    public async Task Verified_mode_replays_a_committed_local_answer_with_its_tokens()
    {
        var local = new ScriptedLocalClient(Tok.Confident());
        using var client = new HybridChatClient(local, DelegateRemoteClient.Answering(RemoteText));

        List<ChatResponseUpdate> updates = await CollectAsync(client.GetStreamingResponseAsync(Question));

        Assert.Equal(HybridRoute.Local, FinalDecision(updates).Route);
        ChatResponse response = updates.ToChatResponse();
        Assert.Equal(local.Text, response.Text);
        Assert.Equal(HybridRoute.Local, Decision(response).Route);
        Assert.Equal(Tok.Confident().Length, updates.Count(u => u.AdditionalProperties?.ContainsKey(CompactAIPropertyNames.Token) == true));
    }

    [Fact]
    public async Task Verified_mode_shows_nothing_of_an_escalated_local_answer()
    {
        var local = new ScriptedLocalClient(Tok.Unsure());
        var remote = DelegateRemoteClient.Answering(RemoteText);
        using var client = new HybridChatClient(local, remote);

        List<ChatResponseUpdate> updates = await CollectAsync(client.GetStreamingResponseAsync(Question));

        Assert.Equal(HybridRoute.Remote, FinalDecision(updates).Route);
        Assert.Equal(RemoteText, updates.ToChatResponse().Text);
        Assert.DoesNotContain(updates, u => u.AdditionalProperties?.ContainsKey(CompactAIPropertyNames.Token) == true);
        Assert.Equal(1, local.StreamCalls);
    }

    [Fact]
    public async Task Verified_mode_early_exit_cancels_the_local_stream()
    {
        var local = new ScriptedLocalClient(GeneratedTokens.Unsure(50).Items);
        using var client = new HybridChatClient(local, DelegateRemoteClient.Answering(RemoteText), new HybridOptions { EarlyExit = true, EarlyExitMinTokens = 10 });

        List<ChatResponseUpdate> updates = await CollectAsync(client.GetStreamingResponseAsync(Question));

        HybridDecision decision = FinalDecision(updates);
        Assert.Equal((HybridRoute.Remote, EscalationTrigger.EarlyExit), (decision.Route, decision.Trigger));
        Assert.True(local.SawCancellation);
        Assert.Equal(10, local.TokensProduced);
    }

    [Fact]
    public async Task Verified_mode_falls_back_to_the_buffered_local_answer()
    {
        var local = new ScriptedLocalClient(Tok.Unsure());
        var remote = new DelegateRemoteClient((_, _) => throw new HttpRequestException("no route to host"));
        using var client = new HybridChatClient(local, remote, FastRetries());

        List<ChatResponseUpdate> updates = await CollectAsync(client.GetStreamingResponseAsync(Question));

        HybridDecision decision = FinalDecision(updates);
        Assert.Equal(HybridRoute.LocalFallback, decision.Route);
        Assert.Equal(local.Text, updates.ToChatResponse().Text);
        Assert.Equal(1, local.StreamCalls);
    }

    [Fact]
    public async Task Stream_then_verify_forwards_local_tokens_and_flags_a_failed_check()
    {
        var local = new ScriptedLocalClient(Tok.Unsure());
        var remote = DelegateRemoteClient.Answering(RemoteText);
        using var client = new HybridChatClient(local, remote, new HybridOptions { StreamingMode = HybridStreamingMode.StreamThenVerify });

        List<ChatResponseUpdate> updates = await CollectAsync(client.GetStreamingResponseAsync(Question));

        HybridDecision decision = FinalDecision(updates);
        Assert.Equal((HybridRoute.LocalStreamedUnverified, EscalationTrigger.LowConfidence), (decision.Route, decision.Trigger));
        Assert.True(decision.IsUnverified);
        Assert.Equal(local.Text, updates.ToChatResponse().Text);
        Assert.Equal(0, remote.Calls);
    }

    [Fact]
    public async Task Stream_then_verify_yields_each_local_update_before_the_next_is_generated()
    {
        var gate = new SemaphoreSlim(0);
        var local = new GatedLocalClient(Tok.Confident(), gate);
        using var client = new HybridChatClient(local, DelegateRemoteClient.Answering(RemoteText), new HybridOptions { StreamingMode = HybridStreamingMode.StreamThenVerify });

        await using IAsyncEnumerator<ChatResponseUpdate> updates = client.GetStreamingResponseAsync(Question).GetAsyncEnumerator();
        Assert.True(await updates.MoveNextAsync());
        Assert.Equal(1, local.Produced);
        gate.Release(100);
        ChatResponseUpdate last = updates.Current;
        while (await updates.MoveNextAsync())
        {
            last = updates.Current;
        }

        Assert.Equal(HybridRoute.Local, Assert.IsType<HybridDecision>(last.AdditionalProperties![CompactAIPropertyNames.HybridDecision]).Route);
    }

    [Fact]
    public async Task Stream_then_verify_streams_a_forced_remote_answer()
    {
        var local = new ScriptedLocalClient(Tok.Confident());
        using var client = new HybridChatClient(local, DelegateRemoteClient.Answering(RemoteText), new HybridOptions { StreamingMode = HybridStreamingMode.StreamThenVerify });

        List<ChatResponseUpdate> updates = await CollectAsync(client.GetStreamingResponseAsync(Question, Route("remote")));

        Assert.Equal((HybridRoute.Remote, EscalationTrigger.Forced), (FinalDecision(updates).Route, FinalDecision(updates).Trigger));
        Assert.Equal(RemoteText, updates.ToChatResponse().Text);
        Assert.Equal(0, local.StreamCalls);
    }

    [Fact]
    public async Task Stream_then_verify_switches_to_local_only_before_the_first_remote_update()
    {
        var local = new ScriptedLocalClient(Tok.Confident());
        var failing = new DelegateRemoteClient((_, _) => throw new HttpRequestException("refused"));
        using var client = new HybridChatClient(local, failing, new HybridOptions
        {
            StreamingMode = HybridStreamingMode.StreamThenVerify,
            MaxRemoteRetries = 1,
            RetryBaseDelay = TimeSpan.FromMilliseconds(1),
        });

        List<ChatResponseUpdate> updates = await CollectAsync(client.GetStreamingResponseAsync(Question, Route("remote")));

        HybridDecision decision = FinalDecision(updates);
        Assert.Equal(HybridRoute.LocalFallback, decision.Route);
        Assert.Equal(2, failing.Calls);
        Assert.Equal(2, decision.RemoteAttempts);
        Assert.Equal(local.Text, updates.ToChatResponse().Text);
    }

    /// <summary>Produces one token per release of the gate (the first one free), to observe forwarding order.</summary>
    private sealed class GatedLocalClient(IReadOnlyList<GeneratedToken> tokens, SemaphoreSlim gate) : IChatClient
    {
        public int Produced { get; private set; }

        public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
            throw new NotSupportedException();

        public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(
            IEnumerable<ChatMessage> messages, ChatOptions? options = null, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
        {
            for (int i = 0; i < tokens.Count; i++)
            {
                if (i > 0)
                {
                    await gate.WaitAsync(cancellationToken);
                }

                Produced++;
                yield return new ChatResponseUpdate(ChatRole.Assistant, tokens[i].Text)
                {
                    AdditionalProperties = new() { [CompactAIPropertyNames.Token] = tokens[i] },
                };
            }
        }

        public object? GetService(Type serviceType, object? serviceKey = null) => null;

        public void Dispose()
        {
        }
    }
}

using CompactAI.Chat;
using CompactAI.Hybrid;
using CompactAI.Inference;
using Microsoft.Extensions.AI;

namespace CompactAI.Tests.Chat;

/// <summary>IChatClient conformance of the local client on the real stories260K model.</summary>
public sealed class CompactChatClientTests : IClassFixture<Stories260KFixture>
{
    private readonly CompactModel _model;

    public CompactChatClientTests(Stories260KFixture fixture) => _model = fixture.Model;

    private static List<ChatMessage> Conversation(string text = "Once upon a time") => [new(ChatRole.User, text)];

    [Fact]
    public async Task StreamingAndNonStreamingGiveTheSameTextForTheSameSeed()
    {
        using var client = new CompactChatClient(_model);
        var options = new ChatOptions { Temperature = 0.9f, Seed = 42, MaxOutputTokens = 30 };
        var whole = await client.GetResponseAsync(Conversation(), options);
        var parts = new List<string>();
        await foreach (var u in client.GetStreamingResponseAsync(Conversation(), options)) parts.Add(u.Text);
        Assert.Equal(whole.Text, string.Concat(parts));
        Assert.NotEmpty(whole.Text);
    }

    [Fact]
    public async Task GreedyChatEqualsTheSessionsGreedyContinuationOfTheRenderedPrompt()
    {
        using var client = new CompactChatClient(_model);
        var response = await client.GetResponseAsync(Conversation(), new ChatOptions { Temperature = 0, MaxOutputTokens = 20 });
        var tokens = (IReadOnlyList<GeneratedToken>)response.AdditionalProperties![CompactAIPropertyNames.Tokens]!;
        Assert.Equal(20, tokens.Count);
        Assert.Equal(response.Text, string.Concat(tokens.Select(t => t.Text)));
        // The same tokens come out of a plain session given the same prompt (the chat layer adds nothing of its own).
        int promptTokens = (int)response.Usage!.InputTokenCount!;
        using var session = _model.CreateSession();
        string prompt = "<|im_start|>user\nOnce upon a time<|im_end|>\n<|im_start|>assistant\n";
        var ids = _model.Tokenizer.Encode(prompt, addSpecial: true, parseSpecial: true);
        Assert.Equal(ids.Count, promptTokens);
        var direct = await session.GenerateTextAsync(ids, new GenerationOptions { MaxTokens = 20, Sampling = Sampling.SamplingOptions.Greedy });
        Assert.Equal(direct.Tokens.Select(t => t.Id), tokens.Select(t => t.Id));
    }

    [Fact]
    public async Task UsageCountsAreRight()
    {
        using var client = new CompactChatClient(_model);
        var response = await client.GetResponseAsync(Conversation(), new ChatOptions { Temperature = 0, MaxOutputTokens = 7 });
        var tokens = (IReadOnlyList<GeneratedToken>)response.AdditionalProperties![CompactAIPropertyNames.Tokens]!;
        Assert.Equal(7, response.Usage!.OutputTokenCount);
        Assert.Equal(tokens.Count, response.Usage.OutputTokenCount);
        Assert.Equal(response.Usage.InputTokenCount + response.Usage.OutputTokenCount, response.Usage.TotalTokenCount);
        Assert.Equal(ChatFinishReason.Length, response.FinishReason);
        Assert.Equal(CompactAIPropertyNames.FinishLength, response.AdditionalProperties[CompactAIPropertyNames.FinishReason]);
    }

    [Fact]
    public async Task OptionsAreHonoured()
    {
        using var client = new CompactChatClient(_model);
        var stopped = await client.GetResponseAsync(Conversation(), new ChatOptions { Temperature = 0, MaxOutputTokens = 60, StopSequences = ["."] });
        Assert.DoesNotContain(".", stopped.Text);
        Assert.Equal(ChatFinishReason.Stop, stopped.FinishReason);

        var a = await client.GetResponseAsync(Conversation(), new ChatOptions { Temperature = 1.2f, TopK = 0, TopP = 1, Seed = 5, MaxOutputTokens = 25 });
        var b = await client.GetResponseAsync(Conversation(), new ChatOptions { Temperature = 1.2f, TopK = 0, TopP = 1, Seed = 5, MaxOutputTokens = 25 });
        Assert.Equal(a.Text, b.Text);

        // top_k = 1 is greedy whatever the temperature.
        var greedy = await client.GetResponseAsync(Conversation(), new ChatOptions { Temperature = 0, MaxOutputTokens = 15 });
        var topK1 = await client.GetResponseAsync(Conversation(), new ChatOptions { Temperature = 1.5f, TopK = 1, Seed = 9, MaxOutputTokens = 15 });
        Assert.Equal(greedy.Text, topK1.Text);
    }

    [Fact]
    public async Task CancellationStopsAStreamAndFreesTheSessionSlot()
    {
        using var client = new CompactChatClient(_model);
        using var cts = new CancellationTokenSource();
        int seen = 0;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var _ in client.GetStreamingResponseAsync(Conversation(), new ChatOptions { MaxOutputTokens = 200 }, cts.Token))
                if (++seen == 2) cts.Cancel();
        });
        Assert.Equal(2, seen);
        Assert.Equal(0, _model.Sessions.InUse);
    }

    [Fact]
    public async Task ASecondTurnProcessesOnlyTheNewTokens()
    {
        using var model = CompactModel.Load(TestData.Stories260K, new CompactModelOptions { Threads = 1, ContextSize = 256, MaxParallelSequences = 1 });
        using var client = new CompactChatClient(model);
        var history = Conversation();
        var first = await client.GetResponseAsync(history, new ChatOptions { Temperature = 0, MaxOutputTokens = 12 });
        history.AddRange(first.Messages);
        history.Add(new ChatMessage(ChatRole.User, "The end"));
        var second = await client.GetResponseAsync(history, new ChatOptions { Temperature = 0, MaxOutputTokens = 5 });
        int evaluated = (int)second.AdditionalProperties!["compactai.prompt_tokens_evaluated"]!;
        // Everything up to the first answer's last token came from the cache: only the rest of the second prompt ran.
        long firstTotal = first.Usage!.InputTokenCount!.Value + first.Usage.OutputTokenCount!.Value - 1;
        Assert.Equal(second.Usage!.InputTokenCount!.Value - firstTotal, evaluated);
        Assert.True(evaluated < second.Usage.InputTokenCount!.Value / 2);
    }

    [Fact]
    public async Task EightConcurrentConversationsMatchTheirSoloRunsWithBoundedSessions()
    {
        using var model = CompactModel.Load(TestData.Stories260K, new CompactModelOptions { Threads = 1, ContextSize = 128, MaxParallelSequences = 3 });
        using var client = new CompactChatClient(model);
        string[] prompts = ["Once upon a time", "Lily and Ben", "The cat sat on the", "One day", "She was very happy", "In the park", "The sun", "Mom said"];
        var options = new ChatOptions { Temperature = 0, MaxOutputTokens = 24 };
        var solo = new List<string>();
        foreach (var p in prompts) solo.Add((await client.GetResponseAsync(Conversation(p), options)).Text);

        var concurrent = await Task.WhenAll(prompts.Select(p => Task.Run(() => client.GetResponseAsync(Conversation(p), options))));
        Assert.Equal(solo, concurrent.Select(r => r.Text));
        Assert.True(model.Sessions.SessionsCreated <= 3, $"{model.Sessions.SessionsCreated} sessions were created for a pool of 3");
        Assert.Equal(0, model.Sessions.InUse);
    }

    [Fact]
    public async Task ContextOverflowFollowsThePolicy()
    {
        using var model = CompactModel.Load(TestData.Stories260K, new CompactModelOptions { Threads = 1, ContextSize = 200, MaxParallelSequences = 1 });
        var longTurns = Enumerable.Range(0, 6).Select(i => new ChatMessage(i % 2 == 0 ? ChatRole.User : ChatRole.Assistant, "Once upon a time there was a little girl.")).ToList();
        using var strict = new CompactChatClient(model);
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => strict.GetResponseAsync(longTurns, new ChatOptions { MaxOutputTokens = 16 }));
        Assert.Contains("context holds 200", e.Message);

        using var sliding = new CompactChatClient(model, new CompactChatClientOptions { ContextOverflow = ContextOverflowPolicy.DropOldestMessages });
        var r = await sliding.GetResponseAsync(longTurns, new ChatOptions { Temperature = 0, MaxOutputTokens = 16 });
        Assert.True(r.Usage!.InputTokenCount + 16 <= 200);
    }

    [Fact]
    public async Task PromptScoresSeparateStoriesFromGibberish()
    {
        using var client = new CompactChatClient(_model);
        var scorer = (IPromptScorer)client.GetService(typeof(IPromptScorer))!;
        var story = await scorer.ScorePromptAsync(Conversation("Once upon a time, there was a little girl named Lily. She loved to play outside."), default);
        var code = await scorer.ScorePromptAsync(Conversation("int main(void) { return printf(\"%d\\n\", 42); }"), default);
        Assert.True(story.Perplexity < code.Perplexity, $"story {story.Perplexity}, code {code.Perplexity}");
        Assert.True(story.TokenCount > 10);
    }

    [Fact]
    public void MetadataIsExposed()
    {
        using var client = new CompactChatClient(_model, new CompactChatClientOptions { ModelId = "stories" });
        var meta = (ChatClientMetadata)client.GetService(typeof(ChatClientMetadata))!;
        Assert.Equal("compactai", meta.ProviderName);
        Assert.Equal("stories", meta.DefaultModelId);
        Assert.Same(_model, client.GetService(typeof(CompactModel)));
    }
}

/// <summary>Embeddings from the real model.</summary>
public sealed class CompactEmbeddingGeneratorTests : IClassFixture<Stories260KFixture>
{
    private readonly CompactModel _model;

    public CompactEmbeddingGeneratorTests(Stories260KFixture fixture) => _model = fixture.Model;

    [Fact]
    public async Task EmbeddingsAreUnitLengthMeanPooledHiddenStates()
    {
        using var generator = new CompactEmbeddingGenerator(_model);
        var result = await generator.GenerateAsync(["Once upon a time", "Once upon a time", "The cat sat on the mat"]);
        Assert.Equal(3, result.Count);
        foreach (var e in result)
        {
            Assert.Equal(_model.Config.EmbeddingLength, e.Vector.Length);
            Assert.InRange(System.Numerics.Tensors.TensorPrimitives.Norm(e.Vector.Span), 0.9999f, 1.0001f);
        }
        Assert.Equal(result[0].Vector.ToArray(), result[1].Vector.ToArray());
        Assert.True(System.Numerics.Tensors.TensorPrimitives.CosineSimilarity(result[0].Vector.Span, result[2].Vector.Span) < 0.9999f);
        Assert.Equal(_model.Tokenizer.Encode("Once upon a time").Count * 2 + _model.Tokenizer.Encode("The cat sat on the mat").Count, result.Usage!.InputTokenCount);
    }

    [Fact]
    public async Task EmbeddingIsTheMeanOfTheLastHiddenStatesComputedIndependently()
    {
        // Independent check: the hidden state of the last position, scored through the output head, gives the logits the
        // session computes; so the pooled vector must reproduce the next-token logits when it holds a single position.
        using var generator = new CompactEmbeddingGenerator(_model);
        var ids = new[] { _model.Tokenizer.BosToken };
        using var session = _model.CreateSession();
        var e = await session.EmbedAsync(ids);
        var logits = await session.GetNextTokenLogitsAsync(ids);
        // logits = h · Wout with h = RMSNorm(x)·g; the embedding is h / |h|, so logits / |h| = embedding · Wout.
        var output = new float[logits.Length];
        unsafe
        {
            var w = _model.Weights.Output;
            var row = new float[w.Columns];
            for (int r = 0; r < w.Rows; r++)
            {
                w.DequantizeRow(r, row);
                output[r] = System.Numerics.Tensors.TensorPrimitives.Dot(row, e);
            }
        }
        float scale = logits[0] / output[0];
        for (int i = 0; i < logits.Length; i++) Assert.InRange(output[i] * scale, logits[i] - 1e-3f * Math.Abs(logits[i]) - 1e-3f, logits[i] + 1e-3f * Math.Abs(logits[i]) + 1e-3f);
    }
}

using CompactAI.Inference;
using CompactAI.Sampling;

namespace CompactAI.Tests.Inference;

/// <summary>Behaviour of the decode loop on the real stories260K model: reuse, cancellation, stops, sampling, streaming.</summary>
public sealed class InferenceSessionTests : IClassFixture<Stories260KFixture>
{
    private static readonly GenerationOptions Greedy32 = new() { MaxTokens = 32, Sampling = SamplingOptions.Greedy };
    private readonly CompactModel _model;

    public InferenceSessionTests(Stories260KFixture fixture) => _model = fixture.Model;

    [Fact]
    public async Task ReusedSessionGivesTheSameResultAsAFreshOne()
    {
        using var reused = _model.CreateSession();
        await reused.GenerateTextAsync("Lily and Ben", Greedy32);
        var second = await reused.GenerateTextAsync("The cat sat on the", Greedy32);

        using var fresh = _model.CreateSession();
        var alone = await fresh.GenerateTextAsync("The cat sat on the", Greedy32);

        Assert.Equal(alone.Tokens.Select(t => t.Id), second.Tokens.Select(t => t.Id));
        Assert.Equal(alone.Text, second.Text);
        Assert.Equal(alone.Tokens.Select(t => t.LogProbability), second.Tokens.Select(t => t.LogProbability));
    }

    [Fact]
    public async Task ACachedPrefixIsNotProcessedAgain()
    {
        using var session = _model.CreateSession();
        var first = await session.GenerateTextAsync("Once upon a time", Greedy32);
        long before = session.TokensEvaluated;
        // The next turn continues the same text: only the tokens after the cached prefix are evaluated.
        var next = first.PromptTokens.Concat(first.Tokens.Select(t => t.Id)).Concat(_model.Tokenizer.Encode(" Then", addSpecial: false)).ToArray();
        var second = await session.GenerateTextAsync(next, new GenerationOptions { MaxTokens = 1, Sampling = SamplingOptions.Greedy });
        int cached = first.PromptTokens.Count + first.Tokens.Count - 1; // the last generated token was never evaluated
        Assert.Equal(next.Length - cached, second.PromptTokensEvaluated);
        Assert.Equal(next.Length - cached, session.TokensEvaluated - before);
    }

    [Fact]
    public async Task StreamingAndNonStreamingGiveTheSameTokensForTheSameSeed()
    {
        var options = new GenerationOptions { MaxTokens = 40, Sampling = new SamplingOptions { Temperature = 0.9f, Seed = 1234 } };
        using var session = _model.CreateSession();
        var streamed = new List<GeneratedToken>();
        await foreach (var t in session.GenerateAsync("Once upon a time", options)) streamed.Add(t);
        var whole = await session.GenerateTextAsync("Once upon a time", options);
        Assert.Equal(whole.Tokens.Select(t => t.Id), streamed.Select(t => t.Id));
        Assert.Equal(whole.Text, string.Concat(streamed.Select(t => t.Text)));
    }

    [Fact]
    public async Task SeedsMakeSamplingReproducibleAndDifferentSeedsExploreDifferentContinuations()
    {
        using var session = _model.CreateSession();
        async Task<string> Run(ulong seed) => (await session.GenerateTextAsync("Once upon a time",
            new GenerationOptions { MaxTokens = 40, Sampling = new SamplingOptions { Temperature = 1.5f, TopK = 0, TopP = 1, MinP = 0, Seed = seed } })).Text;
        Assert.Equal(await Run(7), await Run(7));
        var texts = new HashSet<string>();
        for (ulong s = 1; s <= 6; s++) texts.Add(await Run(s));
        Assert.True(texts.Count > 1, "six seeds at temperature 1.5 all gave the same 40 tokens");
    }

    [Fact]
    public async Task CancellationStopsGenerationBetweenTokens()
    {
        using var session = _model.CreateSession();
        using var cts = new CancellationTokenSource();
        int received = 0;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var _ in session.GenerateAsync("Once upon a time", new GenerationOptions { MaxTokens = 200, IgnoreEndOfSequence = true }, cts.Token))
            {
                if (++received == 3) cts.Cancel();
            }
        });
        Assert.Equal(3, received);
        // The session is usable again afterwards.
        var after = await session.GenerateTextAsync("Once upon a time", Greedy32);
        Assert.Equal(32, after.Tokens.Count);
    }

    [Fact]
    public async Task AnAlreadyCancelledTokenStopsBeforeAnyWork()
    {
        using var session = _model.CreateSession();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => session.GenerateTextAsync("Once upon a time", Greedy32, new CancellationToken(true)));
    }

    [Fact]
    public async Task StopSequenceEndsGenerationAndIsNotPartOfTheText()
    {
        using var session = _model.CreateSession();
        var result = await session.GenerateTextAsync("Once upon a time",
            new GenerationOptions { MaxTokens = 48, Sampling = SamplingOptions.Greedy, StopSequences = ["Lily"] });
        Assert.Equal(FinishReason.StopSequence, result.FinishReason);
        Assert.Equal(", there was a little girl named ", result.Text);
        Assert.Equal(result.Text, string.Concat(result.Tokens.Select(t => t.Text)));
    }

    [Fact]
    public async Task MaxTokensAndEndOfSequenceAreReported()
    {
        using var session = _model.CreateSession();
        var capped = await session.GenerateTextAsync("Once upon a time", new GenerationOptions { MaxTokens = 5, Sampling = SamplingOptions.Greedy });
        Assert.Equal(FinishReason.MaxTokens, capped.FinishReason);
        Assert.Equal(5, capped.Tokens.Count);

        var full = await session.GenerateTextAsync("Once upon a time", new GenerationOptions { MaxTokens = 1000, Sampling = SamplingOptions.Greedy });
        Assert.Contains(full.FinishReason, new[] { FinishReason.EndOfSequence, FinishReason.ContextFull });
        Assert.DoesNotContain(full.Tokens, t => _model.Tokenizer.IsEndOfGeneration(t.Id));
    }

    [Fact]
    public async Task ContextFullIsReportedNotThrown()
    {
        using var session = _model.CreateSession(contextSize: 16);
        var result = await session.GenerateTextAsync("Once upon a time", new GenerationOptions { MaxTokens = 100, Sampling = SamplingOptions.Greedy, IgnoreEndOfSequence = true });
        Assert.Equal(FinishReason.ContextFull, result.FinishReason);
        Assert.Equal(16 - 5 + 1, result.Tokens.Count);
    }

    [Fact]
    public async Task RepeatPenaltyChangesAGreedyLoop()
    {
        using var session = _model.CreateSession();
        var plain = await session.GenerateTextAsync("Once upon a time", new GenerationOptions { MaxTokens = 48, Sampling = SamplingOptions.Greedy });
        var penalised = await session.GenerateTextAsync("Once upon a time",
            new GenerationOptions { MaxTokens = 48, Sampling = SamplingOptions.Greedy with { RepeatPenalty = 1.5f } });
        Assert.NotEqual(plain.Tokens.Select(t => t.Id), penalised.Tokens.Select(t => t.Id));
        // Repeats within the penalty window are rarer with the penalty.
        static int Repeats(IEnumerable<int> ids) { var l = ids.ToList(); return l.Count - l.Distinct().Count(); }
        Assert.True(Repeats(penalised.Tokens.Select(t => t.Id)) < Repeats(plain.Tokens.Select(t => t.Id)));
    }

    [Fact]
    public async Task LogitBiasCanBanTheGreedyToken()
    {
        using var session = _model.CreateSession();
        var banned = await session.GenerateTextAsync("Once upon a time", new GenerationOptions
        {
            MaxTokens = 1,
            Sampling = SamplingOptions.Greedy with { LogitBias = new Dictionary<int, float> { [432] = float.NegativeInfinity } },
        });
        Assert.Equal(383, banned.Tokens[0].Id); // llama.cpp's second most probable first token
    }

    [Fact]
    public async Task ConcurrentUseOfOneSessionIsRefused()
    {
        using var session = _model.CreateSession();
        var options = new GenerationOptions { MaxTokens = 200, IgnoreEndOfSequence = true };
        await using var e = session.GenerateAsync("Once upon a time", options).GetAsyncEnumerator();
        Assert.True(await e.MoveNextAsync());
        await Assert.ThrowsAsync<InvalidOperationException>(() => session.GenerateTextAsync("Lily", options));
    }

    [Fact]
    public async Task InvalidOptionsAreRejected()
    {
        using var session = _model.CreateSession();
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => session.GenerateTextAsync("x", new GenerationOptions { MaxTokens = -1 }));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => session.GenerateTextAsync("x", new GenerationOptions { Sampling = new SamplingOptions { TopP = 0 } }));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => session.GenerateTextAsync([1, 99999], Greedy32));
        await Assert.ThrowsAsync<ArgumentException>(() => session.GenerateTextAsync(Array.Empty<int>(), Greedy32));
    }
}

/// <summary>Allocation measurements count every thread, so they run alone (not in parallel with other tests).</summary>
[CollectionDefinition(nameof(AllocationTests), DisableParallelization = true)]
public sealed class AllocationCollection;

[Collection(nameof(AllocationTests))]
public sealed class AllocationTests : IClassFixture<Stories260KFixture>
{
    private readonly CompactModel _model;

    public AllocationTests(Stories260KFixture fixture) => _model = fixture.Model;

    [Fact]
    public void TheDecodeLoopAllocatesNothingPerToken()
    {
        using var session = _model.CreateSession();
        var options = new GenerationOptions { MaxTokens = 60, Sampling = SamplingOptions.Greedy, IgnoreEndOfSequence = true };
        // Warm up, then compare total allocations (all threads) of a short and a long generation: the difference is
        // the per-token cost. Token texts are strings (a few dozen bytes each); the forward pass and sampler add nothing.
        long Measure(int tokens)
        {
            var o = options with { MaxTokens = tokens };
            long before = GC.GetTotalAllocatedBytes(precise: true);
            session.GenerateTextAsync("Once upon a time", o).GetAwaiter().GetResult();
            return GC.GetTotalAllocatedBytes(precise: true) - before;
        }
        Measure(60);
        long shortRun = Measure(10), longRun = Measure(60);
        double perToken = (longRun - shortRun) / 50.0;
        Assert.True(perToken < 200, $"{perToken:F0} bytes allocated per generated token");
    }

    [Fact]
    public void ABatchOfSequencesAllocatesNothingPerToken()
    {
        // Four sessions decoding together in the model's batched steps: the per-token cost of each stays the token text.
        var sessions = Enumerable.Range(0, 4).Select(_ => _model.CreateSession()).ToArray();
        try
        {
            string[] prompts = ["Once upon a time", "The little dog", "One day", "Lily saw a bird"];
            var options = new GenerationOptions { MaxTokens = 60, Sampling = SamplingOptions.Greedy, IgnoreEndOfSequence = true };
            long Measure(int tokens)
            {
                var o = options with { MaxTokens = tokens };
                long before = GC.GetTotalAllocatedBytes(precise: true);
                Task.WaitAll(sessions.Select((s, i) => s.GenerateTextAsync(prompts[i], o)).ToArray());
                return GC.GetTotalAllocatedBytes(precise: true) - before;
            }
            Measure(60);
            long shortRun = Measure(10), longRun = Measure(60);
            double perToken = (longRun - shortRun) / (50.0 * sessions.Length);
            Assert.True(perToken < 200, $"{perToken:F0} bytes allocated per generated token per sequence");
        }
        finally
        {
            foreach (var s in sessions) s.Dispose();
        }
    }
}

using CompactAI.Inference;
using CompactAI.Sampling;
using CompactAI.Tests.Inference;

namespace CompactAI.Tests.SamplerSteps;

/// <summary>
/// XTC ("exclude top choices", llama.cpp's <c>llama_sampler_init_xtc</c>), written here only against the public step API as
/// a user would: with chance <c>probability</c>, when at least two candidates have a probability ≥ <c>threshold</c>, all of
/// them but the least probable are removed (if at least <c>minKeep</c> candidates remain). No effect when the threshold is
/// above 0.5 (no two tokens can pass it) or fewer than two candidates are left.
/// </summary>
internal sealed class XtcStep(float probability, float threshold, ulong seed, int minKeep = 1) : ISamplerStep
{
    private Random _random = new((int)seed);

    public void Apply(ref SamplerCandidates candidates)
    {
        if (probability <= 0 || threshold > 0.5f || candidates.Count < 2) return;
        if (_random.NextSingle() > probability) return;
        if (!candidates.IsSorted) candidates.Sort();
        if (!candidates.HasProbabilities) candidates.Softmax();
        var p = candidates.Probabilities;
        int last = -1; // the last (least probable) candidate at or above the threshold
        for (int i = 0; i < p.Length && p[i] >= threshold; i++) last = i;
        if (last > 0 && candidates.Count - last >= minKeep) candidates.Keep(last, candidates.Count - last);
    }

    public void Accept(int token) { }

    public void Reset() => _random = new Random((int)seed);
}

/// <summary>A stateful step: bans (−∞) every token this sequence already chose in this generation.</summary>
internal sealed class NoRepeatStep : ISamplerStep
{
    private readonly HashSet<int> _seen = new();
    private readonly int[] _banned = new int[1024];
    private int _count;

    public void Apply(ref SamplerCandidates candidates)
    {
        Assert.True(candidates.IsVocabularyOrder);
        var l = candidates.Logits;
        for (int i = 0; i < _count; i++) l[_banned[i]] = float.NegativeInfinity;
    }

    public void Accept(int token)
    {
        if (_seen.Add(token)) _banned[_count++] = token;
    }

    public void Reset()
    {
        _seen.Clear();
        _count = 0;
    }
}

/// <summary>Records every call it sees, and what the candidates looked like at its stage.</summary>
internal sealed class RecordingStep : ISamplerStep
{
    public readonly List<string> Calls = new();
    public readonly List<int> Accepted = new();
    public bool AlwaysVocabularyOrder = true, AlwaysSortedWithProbabilities = true;
    public int LargestCount;

    public void Apply(ref SamplerCandidates candidates)
    {
        Calls.Add("apply");
        AlwaysVocabularyOrder &= candidates.IsVocabularyOrder && !candidates.HasProbabilities;
        AlwaysSortedWithProbabilities &= candidates.IsSorted && candidates.HasProbabilities;
        LargestCount = Math.Max(LargestCount, candidates.Count);
    }

    public void Accept(int token)
    {
        Calls.Add("accept");
        Accepted.Add(token);
    }

    public void Reset() => Calls.Add("reset");
}

public sealed class SamplerStepTests : IClassFixture<Stories260KFixture>
{
    private readonly CompactModel _model;

    public SamplerStepTests(Stories260KFixture fixture) => _model = fixture.Model;

    private static SamplingOptions Pure(ulong seed) => new() { Temperature = 1, TopK = 0, TopP = 1, MinP = 0, Seed = seed };

    [Fact]
    public void XtcRemovesExactlyTheTopChoicesItsDefinitionNames()
    {
        var random = new Random(3);
        int changed = 0, unchanged = 0;
        for (int trial = 0; trial < 500; trial++)
        {
            int n = random.Next(1, 40);
            float threshold = (float)(random.NextDouble() * 0.4);
            float scale = (float)(random.NextDouble() * 6);
            var logits = new float[n];
            for (int i = 0; i < n; i++) logits[i] = (float)(random.NextDouble() * scale);
            var ids = new int[n];
            var probabilities = new float[n];
            var candidates = new SamplerCandidates(logits, ids, probabilities, ReadOnlySpan<int>.Empty);
            candidates.Sort();
            candidates.Softmax();
            int[] sortedIds = candidates.Ids.ToArray();
            float[] sortedP = candidates.Probabilities.ToArray();

            new XtcStep(1, threshold, (ulong)trial).Apply(ref candidates);

            // The definition: the m tokens with p ≥ threshold; if m ≥ 2, the m − 1 most probable go.
            int m = sortedP.Count(p => p >= threshold);
            int[] expected = m >= 2 ? sortedIds[(m - 1)..] : sortedIds;
            Assert.Equal(expected, candidates.Ids.ToArray());
            Assert.Equal(sortedP[(m >= 2 ? m - 1 : 0)..], candidates.Probabilities.ToArray());
            if (m >= 2)
            {
                changed++;
                Assert.True(candidates.Probabilities[0] >= threshold);
                Assert.All(candidates.Probabilities[1..].ToArray(), p => Assert.True(p < threshold));
            }
            else unchanged++;
        }
        Assert.True(changed > 50 && unchanged > 50, $"{changed} changed, {unchanged} unchanged: the cases are not both covered");
    }

    [Fact]
    public void XtcNeverChangesAnythingAboveHalfOrAtZeroChance()
    {
        var logits = new float[] { 5, 4.9f, 4.8f, 1 };
        foreach (var step in new[] { new XtcStep(1, 0.51f, 1), new XtcStep(0, 0.1f, 1) })
        {
            var candidates = new SamplerCandidates(logits.ToArray(), new int[4], new float[4], ReadOnlySpan<int>.Empty);
            candidates.Sort();
            candidates.Softmax();
            step.Apply(ref candidates);
            Assert.Equal(4, candidates.Count);
        }
    }

    [Fact]
    public async Task XtcInAGenerationNeverPicksATopChoiceWhenTwoPassTheThreshold()
    {
        const float threshold = 0.1f;
        int excluded = 0, baselineTookTop = 0;
        for (ulong seed = 1; seed <= 4; seed++)
        {
            using var session = _model.CreateSession();
            var xtc = Pure(seed) with { CustomSteps = [new CustomSamplerStep(SamplerStage.AfterTruncation, () => new XtcStep(1, threshold, seed))] };
            var withXtc = await session.GenerateTextAsync("Once upon a time", new GenerationOptions { MaxTokens = 40, Sampling = xtc, IgnoreEndOfSequence = true });
            var baseline = await session.GenerateTextAsync("Once upon a time", new GenerationOptions { MaxTokens = 40, Sampling = Pure(seed), IgnoreEndOfSequence = true });
            // The raw distribution is the one XTC saw (no penalties, no truncation, temperature 1), up to rounding: skip the borderline steps.
            foreach (var t in withXtc.Tokens)
            {
                if (!(t.Top2Probability >= threshold * 1.01f && t.Top1Probability > t.Top2Probability * 1.01f)) continue;
                excluded++;
                Assert.True(t.Probability <= t.Top2Probability * 1.001f, $"token {t.Id} p={t.Probability} with top-2 {t.Top2Probability}");
                Assert.True(t.Probability < t.Top1Probability, $"token {t.Id} is the top choice ({t.Probability})");
            }
            baselineTookTop += baseline.Tokens.Count(t => t.Top2Probability >= threshold * 1.01f && t.Probability >= t.Top1Probability * 0.999f);
        }
        Assert.True(excluded >= 5, $"only {excluded} steps had two tokens above the threshold");
        Assert.True(baselineTookTop > 0, "without XTC the top choice was never taken in such a step: the test would not tell");
    }

    [Fact]
    public async Task ACustomStepIsResetOncePerGenerationAndAcceptsEachChosenTokenAfterTheApplyThatChoseIt()
    {
        using var session = _model.CreateSession();
        var made = new List<RecordingStep>();
        var options = new GenerationOptions
        {
            MaxTokens = 12,
            IgnoreEndOfSequence = true,
            Sampling = new SamplingOptions { Seed = 7, CustomSteps = [new CustomSamplerStep(SamplerStage.AfterPenalties, () => { var s = new RecordingStep(); made.Add(s); return s; })] },
        };
        var first = await session.GenerateTextAsync("Once upon a time", options);
        var second = await session.GenerateTextAsync("The little dog", options with { MaxTokens = 5 });

        Assert.Equal(2, made.Count); // one instance per generation
        foreach (var (step, result) in new[] { (made[0], first), (made[1], second) })
        {
            int n = result.Tokens.Count;
            var expected = new List<string> { "reset" };
            for (int i = 0; i < n; i++) { expected.Add("apply"); expected.Add("accept"); }
            Assert.Equal(expected, step.Calls);
            Assert.Equal(result.Tokens.Select(t => t.Id), step.Accepted);
            Assert.True(step.AlwaysVocabularyOrder);
            Assert.Equal(_model.Config.VocabularySize, step.LargestCount);
        }
    }

    [Fact]
    public async Task AnEndOfGenerationTokenIsAppliedButNotAccepted()
    {
        using var session = _model.CreateSession();
        RecordingStep? step = null;
        int eos = _model.Tokenizer.EosToken;
        var options = new GenerationOptions
        {
            MaxTokens = 200,
            Sampling = SamplingOptions.Greedy with
            {
                CustomSteps =
                [
                    new CustomSamplerStep(SamplerStage.AfterPenalties, () => new EndAfterStep(eos, 6)),
                    new CustomSamplerStep(SamplerStage.AfterTruncation, () => step = new RecordingStep()),
                ],
            },
        };
        var result = await session.GenerateTextAsync("Once upon a time", options);
        Assert.Equal(FinishReason.EndOfSequence, result.FinishReason);
        Assert.Equal(6, result.Tokens.Count);
        Assert.NotNull(step);
        Assert.Equal(result.Tokens.Count + 1, step.Calls.Count(c => c == "apply"));
        Assert.Equal(result.Tokens.Select(t => t.Id), step.Accepted);
        // After truncation the candidates are sorted with probabilities, even when greedy.
        Assert.True(step.AlwaysSortedWithProbabilities);
    }

    [Fact]
    public async Task TruncationStageStepsSeeAtMostTopKSortedCandidates()
    {
        using var session = _model.CreateSession();
        RecordingStep? step = null;
        var sampling = new SamplingOptions { Seed = 3, TopK = 20, CustomSteps = [new CustomSamplerStep(SamplerStage.AfterTruncation, () => step = new RecordingStep())] };
        await session.GenerateTextAsync("Once upon a time", new GenerationOptions { MaxTokens = 10, Sampling = sampling, IgnoreEndOfSequence = true });
        Assert.NotNull(step);
        Assert.True(step.AlwaysSortedWithProbabilities);
        Assert.InRange(step.LargestCount, 1, 20);
    }

    [Fact]
    public async Task AStepThatChangesNothingLeavesTheTokensExactlyAsTheDefaultChain()
    {
        foreach (var baseOptions in new[] { SamplingOptions.Greedy, new SamplingOptions { Seed = 11 }, new SamplingOptions { Seed = 5, RepeatPenalty = 1.2f } })
        {
            using var session = _model.CreateSession();
            var plain = await session.GenerateTextAsync("Once upon a time", new GenerationOptions { MaxTokens = 30, Sampling = baseOptions });
            var withSteps = baseOptions with
            {
                CustomSteps = [new CustomSamplerStep(SamplerStage.AfterPenalties, () => new RecordingStep()), new CustomSamplerStep(SamplerStage.AfterTruncation, () => new RecordingStep())],
            };
            var observed = await session.GenerateTextAsync("Once upon a time", new GenerationOptions { MaxTokens = 30, Sampling = withSteps });
            Assert.Equal(plain.Tokens.Select(t => t.Id), observed.Tokens.Select(t => t.Id));
            Assert.Equal(plain.Tokens.Select(t => t.LogProbability), observed.Tokens.Select(t => t.LogProbability));
        }
    }

    [Fact]
    public async Task StatefulStepsArePerSequenceSoABatchGivesEachItsSoloTokens()
    {
        var options = new GenerationOptions
        {
            MaxTokens = 30,
            IgnoreEndOfSequence = true,
            Sampling = SamplingOptions.Greedy with { CustomSteps = [new CustomSamplerStep(SamplerStage.AfterPenalties, () => new NoRepeatStep())] },
        };
        string[] prompts = ["Once upon a time", "The little dog", "One day", "Lily saw a bird"];
        var solo = new List<int[]>();
        foreach (var p in prompts)
        {
            using var session = _model.CreateSession();
            var r = await session.GenerateTextAsync(p, options);
            var ids = r.Tokens.Select(t => t.Id).ToArray();
            Assert.Equal(ids.Length, ids.Distinct().Count()); // the step's definition: no token twice
            solo.Add(ids);
        }
        var sessions = prompts.Select(_ => _model.CreateSession()).ToArray();
        try
        {
            var together = await Task.WhenAll(sessions.Select((s, i) => s.GenerateTextAsync(prompts[i], options)));
            for (int i = 0; i < prompts.Length; i++) Assert.Equal(solo[i], together[i].Tokens.Select(t => t.Id).ToArray());
        }
        finally
        {
            foreach (var s in sessions) s.Dispose();
        }
    }

    [Fact]
    public async Task AStepThatLeavesNoCandidateFailsTheGenerationClearly()
    {
        using var session = _model.CreateSession();
        var options = new GenerationOptions { MaxTokens = 5, Sampling = SamplingOptions.Greedy with { CustomSteps = [new CustomSamplerStep(SamplerStage.AfterPenalties, () => new EmptyingStep())] } };
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => session.GenerateTextAsync("Once upon a time", options));
        Assert.Contains("custom sampler step", e.Message);
    }

    [Fact]
    public async Task InvalidCustomStepsAreRejected()
    {
        using var session = _model.CreateSession();
        var nullEntry = new SamplingOptions { CustomSteps = [null!] };
        await Assert.ThrowsAsync<ArgumentException>(() => session.GenerateTextAsync("x", new GenerationOptions { Sampling = nullEntry }));
        var nullStep = new SamplingOptions { CustomSteps = [new CustomSamplerStep(SamplerStage.AfterPenalties, () => null!)] };
        await Assert.ThrowsAsync<InvalidOperationException>(() => session.GenerateTextAsync("x", new GenerationOptions { Sampling = nullStep }));
    }

    [Fact]
    public void CandidatesRejectMismatchedBuffersAndRangesOutsideThem()
    {
        Assert.Throws<ArgumentException>(() => new SamplerCandidates(new float[3], new int[2], new float[3], ReadOnlySpan<int>.Empty));
        var logits = new float[] { 1, 3, 2 };
        var ids = new int[3];
        var candidates = new SamplerCandidates(logits, ids, new float[3], ReadOnlySpan<int>.Empty);
        Assert.True(candidates.IsVocabularyOrder);
        Assert.Equal([0, 1, 2], candidates.Ids.ToArray());
        bool threw = false;
        try { candidates.Keep(2, 2); } catch (ArgumentOutOfRangeException) { threw = true; }
        Assert.True(threw);
        candidates.Sort();
        Assert.Equal([1, 2, 0], candidates.Ids.ToArray());
        Assert.Equal([3f, 2f, 1f], candidates.Logits.ToArray());
        candidates.Keep(1, 2);
        Assert.Equal([2, 0], candidates.Ids.ToArray());
        candidates.Softmax();
        Assert.Equal(1.0, candidates.Probabilities[0] + candidates.Probabilities[1], 5);
        Assert.Equal(MathF.Exp(1) / (MathF.Exp(1) + 1), candidates.Probabilities[0], 5);
    }

    /// <summary>Makes the end token the most likely once <paramref name="after"/> tokens were accepted.</summary>
    private sealed class EndAfterStep(int eos, int after) : ISamplerStep
    {
        private int _accepted;
        public void Apply(ref SamplerCandidates candidates)
        {
            if (_accepted >= after) candidates.Logits[eos] = 1e6f;
        }
        public void Accept(int token) => _accepted++;
        public void Reset() => _accepted = 0;
    }

    private sealed class EmptyingStep : ISamplerStep
    {
        public void Apply(ref SamplerCandidates candidates) => candidates.Keep(0, 0);
        public void Accept(int token) { }
        public void Reset() { }
    }
}

/// <summary>The decode loop with a user step still allocates nothing per token (as <see cref="AllocationTests"/>, alone: the counters are global).</summary>
[Collection(nameof(AllocationTests))]
public sealed class SamplerStepAllocationTests : IClassFixture<Stories260KFixture>
{
    private readonly CompactModel _model;

    public SamplerStepAllocationTests(Stories260KFixture fixture) => _model = fixture.Model;

    [Fact]
    public void ABatchOfSequencesWithAUserStepAllocatesNothingPerToken()
    {
        var sessions = Enumerable.Range(0, 4).Select(_ => _model.CreateSession()).ToArray();
        try
        {
            string[] prompts = ["Once upon a time", "The little dog", "One day", "Lily saw a bird"];
            var sampling = new SamplingOptions { Seed = 9, CustomSteps = [new CustomSamplerStep(SamplerStage.AfterTruncation, () => new XtcStep(0.5f, 0.1f, 9))] };
            var options = new GenerationOptions { MaxTokens = 60, Sampling = sampling, IgnoreEndOfSequence = true };
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

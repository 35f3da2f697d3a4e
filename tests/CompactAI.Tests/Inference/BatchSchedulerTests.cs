using CompactAI.Inference;
using CompactAI.Models;
using CompactAI.Models.Synthetic;
using CompactAI.Sampling;
using CompactAI.Tensors.Quantization;

namespace CompactAI.Tests.Inference;

/// <summary>A synthetic Q8_0 model (small-llama shape: rows of 256, so batched matmuls run the register-tiled GEMM kernels).</summary>
public sealed class SyntheticQ8Fixture : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("compactai-batch-").FullName;

    public SyntheticQ8Fixture()
    {
        string path = Path.Combine(_dir, "small-llama-q8_0.gguf");
        SyntheticModel.Write(ModelShape.For("small-llama"), QuantizationPreset.Q8_0, TestData.TokenizerVectors("ggml-vocab-gpt-2.gguf"), path, seed: 12);
        // A small step, so prompts are chunked differently alone and beside decoding sequences.
        Model = CompactModel.Load(path, new CompactModelOptions { Threads = 2, ContextSize = 256, BatchSize = 24, Backend = ComputeBackend.Cpu });
    }

    public CompactModel Model { get; }

    public void Dispose()
    {
        Model.Dispose();
        Directory.Delete(_dir, recursive: true);
    }
}

/// <summary>
/// Continuous batching: sessions of one model run as sequences of one scheduler, and a sequence's tokens must be exactly
/// its solo tokens whatever runs beside it (batch invariance), on a float model (stories260K) and a Q8_0 one.
/// </summary>
public sealed class BatchSchedulerTests : IClassFixture<Stories260KFixture>, IClassFixture<SyntheticQ8Fixture>
{
    private readonly CompactModel _stories, _q8;

    public BatchSchedulerTests(Stories260KFixture stories, SyntheticQ8Fixture q8)
    {
        _stories = stories.Model;
        _q8 = q8.Model;
    }

    public static TheoryData<string> Models => new() { "stories260K", "q8_0" };

    private CompactModel For(string name) => name == "q8_0" ? _q8 : _stories;

    /// <summary>Eight requests: different prompts and lengths, greedy and seeded sampling alternating.</summary>
    private static (int[] Prompt, GenerationOptions Options)[] Requests(CompactModel model)
    {
        string[] texts =
        [
            "Once upon a time", "The little dog", "Lily wanted to play with her friend Tom in the park, but it was raining",
            "One day", "Tim had a big red ball. He liked to", "The sun", "A cat and a bird were friends. Every morning they",
            "Mom said",
        ];
        return texts.Select((t, i) => (
            model.Tokenizer.Encode(t).ToArray(),
            new GenerationOptions
            {
                MaxTokens = 12 + 5 * i,
                IgnoreEndOfSequence = true,
                Sampling = i % 2 == 0 ? SamplingOptions.Greedy : new SamplingOptions { Temperature = 0.9f, TopK = 40, TopP = 0.95f, Seed = (ulong)(100 + i) },
            })).ToArray();
    }

    private static async Task<int[]> Solo(CompactModel model, int[] prompt, GenerationOptions options)
    {
        using var session = model.CreateSession();
        var result = await session.GenerateTextAsync(prompt, options);
        return result.Tokens.Select(t => t.Id).ToArray();
    }

    private static async Task<int[]> Streamed(InferenceSession session, int[] prompt, GenerationOptions options, CancellationToken ct = default)
    {
        var ids = new List<int>();
        await foreach (var t in session.GenerateAsync(prompt, options, ct)) ids.Add(t.Id);
        return ids.ToArray();
    }

    [Theory]
    [MemberData(nameof(Models))]
    public async Task EightConcurrentSessionsGiveExactlyTheirSoloTokens(string name)
    {
        var model = For(name);
        var requests = Requests(model);
        var solo = new int[requests.Length][];
        for (int i = 0; i < requests.Length; i++) solo[i] = await Solo(model, requests[i].Prompt, requests[i].Options);

        // All eight at once, joining at different times: request i starts once request 0 has streamed i tokens.
        var sessions = requests.Select(_ => model.CreateSession()).ToArray();
        try
        {
            var started = requests.Select(_ => new TaskCompletionSource()).ToArray();
            var tasks = new Task<int[]>[requests.Length];
            tasks[0] = Task.Run(async () =>
            {
                var ids = new List<int>();
                await foreach (var t in sessions[0].GenerateAsync(requests[0].Prompt, requests[0].Options))
                {
                    ids.Add(t.Id);
                    if (ids.Count < requests.Length) started[ids.Count].TrySetResult();
                }
                foreach (var s in started) s.TrySetResult();
                return ids.ToArray();
            });
            for (int i = 1; i < requests.Length; i++)
            {
                int k = i;
                tasks[k] = Task.Run(async () =>
                {
                    await started[k].Task;
                    // Half stream, half run to completion: both paths go through the scheduler.
                    return k % 2 == 0
                        ? await Streamed(sessions[k], requests[k].Prompt, requests[k].Options)
                        : (await sessions[k].GenerateTextAsync(requests[k].Prompt, requests[k].Options)).Tokens.Select(t => t.Id).ToArray();
                });
            }
            var batched = await Task.WhenAll(tasks);
            for (int i = 0; i < requests.Length; i++) Assert.True(solo[i].SequenceEqual(batched[i]), $"{name}: request {i} differs in a batch");
        }
        finally
        {
            foreach (var s in sessions) s.Dispose();
        }
    }

    [Theory]
    [MemberData(nameof(Models))]
    public async Task ALongPromptArrivingWhileOthersDecodeChangesNoOutput(string name)
    {
        var model = For(name);
        var requests = Requests(model).Take(4).Select(r => (Prompt: r.Prompt, Options: r.Options with { MaxTokens = 40 })).ToArray();
        // About 150 tokens of prompt: several chunks of a step, arriving while the others decode.
        var longPrompt = model.Tokenizer.Encode(string.Join(" ", Enumerable.Repeat("The little girl saw a big tree and a small bird.", 12))).ToArray();
        var longOptions = new GenerationOptions { MaxTokens = 10, IgnoreEndOfSequence = true, Sampling = SamplingOptions.Greedy };
        var solo = new List<int[]>();
        foreach (var (p, o) in requests) solo.Add(await Solo(model, p, o));
        var longSolo = await Solo(model, longPrompt, longOptions);

        var sessions = Enumerable.Range(0, 5).Select(_ => model.CreateSession()).ToArray();
        try
        {
            var decoding = new TaskCompletionSource();
            var tasks = requests.Select((r, i) => Task.Run(async () =>
            {
                var ids = new List<int>();
                await foreach (var t in sessions[i].GenerateAsync(r.Prompt, r.Options))
                {
                    ids.Add(t.Id);
                    if (i == 0 && ids.Count == 5) decoding.TrySetResult();
                }
                return ids.ToArray();
            })).ToList();
            await decoding.Task;
            var longTask = Task.Run(() => Streamed(sessions[4], longPrompt, longOptions));
            var outputs = await Task.WhenAll(tasks);
            for (int i = 0; i < requests.Length; i++) Assert.True(solo[i].SequenceEqual(outputs[i]), $"{name}: decoding request {i} changed by the long prompt");
            Assert.Equal(longSolo, await longTask);
        }
        finally
        {
            foreach (var s in sessions) s.Dispose();
        }
    }

    [Fact]
    public async Task CancellingOneSequenceMidBatchLeavesTheOthersAndThePool()
    {
        var model = _q8;
        var requests = Requests(model).Take(4).Select(r => (Prompt: r.Prompt, Options: r.Options with { MaxTokens = 30 })).ToArray();
        var solo = new List<int[]>();
        foreach (var (p, o) in requests) solo.Add(await Solo(model, p, o));

        var sessions = requests.Select(_ => model.CreateSession()).ToArray();
        try
        {
            using var cts = new CancellationTokenSource();
            int received = 0;
            var cancelled = Task.Run(async () =>
            {
                await foreach (var _ in sessions[0].GenerateAsync(requests[0].Prompt, requests[0].Options, cts.Token))
                    if (++received == 4) cts.Cancel();
            });
            var others = Enumerable.Range(1, 3).Select(i => Task.Run(() => Streamed(sessions[i], requests[i].Prompt, requests[i].Options))).ToArray();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled);
            Assert.Equal(4, received);
            var outputs = await Task.WhenAll(others);
            for (int i = 1; i < requests.Length; i++) Assert.True(solo[i].SequenceEqual(outputs[i - 1]), $"request {i} changed by the cancellation");
            // The cancelled session and the model's threads work on: the same request again gives its solo tokens.
            Assert.Equal(solo[0], await Streamed(sessions[0], requests[0].Prompt, requests[0].Options));
        }
        finally
        {
            foreach (var s in sessions) s.Dispose();
        }
    }

    [Fact]
    public async Task AStreamStoppedEarlyLeavesTheSequenceAsTheConsumerSawIt()
    {
        using var session = _stories.CreateSession();
        var prompt = _stories.Tokenizer.Encode("Once upon a time").ToArray();
        var options = new GenerationOptions { MaxTokens = 40, IgnoreEndOfSequence = true, Sampling = SamplingOptions.Greedy };
        var seen = new List<int>();
        await foreach (var t in session.GenerateAsync(prompt, options))
        {
            seen.Add(t.Id);
            if (seen.Count == 5) break;
        }
        // As without look-ahead: the prompt and the five tokens, each evaluated before it was handed out.
        Assert.Equal(prompt.Concat(seen), session.Tokens);
    }

    [Fact]
    public async Task AStreamEndingMidCharacterGivesTheSameTextAsGenerateText()
    {
        using var session = _q8.CreateSession();
        // The token of the lone byte 0xE4 (the first of a three-byte character), pushed to the top by a logit bias, so the
        // generation ends inside a character and the decoder's flush (U+FFFD) must reach the stream too.
        var tokenizer = _q8.Tokenizer;
        var bytes = new List<byte>();
        int lead = Enumerable.Range(0, tokenizer.VocabularySize).First(id =>
        {
            bytes.Clear();
            tokenizer.AppendTokenBytes(id, bytes);
            return bytes is [0xE4];
        });
        foreach (int maxTokens in new[] { 1, 3 })
        {
            var options = new GenerationOptions
            {
                MaxTokens = maxTokens,
                IgnoreEndOfSequence = true,
                Sampling = SamplingOptions.Greedy with { LogitBias = new Dictionary<int, float> { [lead] = 1000f } },
            };
            var whole = await session.GenerateTextAsync("Hello", options);
            var streamed = new System.Text.StringBuilder();
            await foreach (var t in session.GenerateAsync("Hello", options)) streamed.Append(t.Text);
            Assert.EndsWith("\uFFFD", whole.Text);
            Assert.Equal(whole.Text, streamed.ToString());
            Assert.Equal(whole.Text, string.Concat(whole.Tokens.Select(t => t.Text)));
        }
    }

    /// <summary>Feeds a fixed token <see cref="Tokens"/> times and records, after each, the scheduler step that ran it.</summary>
    private sealed class CountingWork : ScheduledWork
    {
        private readonly BatchScheduler _scheduler;
        private readonly int _tokens;

        public CountingWork(BatchScheduler scheduler, Sequence sequence, int tokens) : base(sequence, CancellationToken.None)
        {
            (_scheduler, _tokens) = (scheduler, tokens);
            SetPending(1);
        }

        public int Tokens => _tokens;

        /// <summary>The step after which each token had run, in order.</summary>
        public List<long> Steps { get; } = new();

        public override SegmentOutput OutputFor(int count, bool last) => SegmentOutput.None;

        public override float[]? DestinationFor(SegmentOutput output) => null;

        public override bool Evaluated(int count)
        {
            Steps.Add(_scheduler.Steps);
            if (Steps.Count == _tokens) return false;
            SetPending(1);
            return true;
        }
    }

    /// <summary>
    /// Round robin: eight equal sequences (one-token prompts, so each wants one row per step from the first step) on a
    /// scheduler whose steps hold fewer rows than that. After every step, no sequence has run more than one token more than
    /// any other, and every step is full; with steps that hold all eight, every sequence runs in every step.
    /// </summary>
    [Theory]
    [InlineData(3)]
    [InlineData(5)]
    [InlineData(8)]
    public async Task EqualSequencesAreServedRoundRobin(int maxBatch)
    {
        var c = _q8.Config;
        const int sequences = 8, tokens = 15;
        using var scheduler = new BatchScheduler(c, _q8.Weights, threads: 2, maxBatch, contextSize: 32);
        var works = Enumerable.Range(0, sequences).Select(_ =>
            new CountingWork(scheduler, new Sequence(new KvCache(c.BlockCount, 32, c.KvHeadCount, c.HeadDim, c.ValueDim), c.VocabularySize), tokens)).ToArray();
        scheduler.Submit(works);
        await Task.WhenAll(works.Select(w => w.Completion));
        foreach (var w in works)
        {
            w.ThrowIfFailed();
            Assert.Equal(tokens, w.Sequence.Tokens.Count);
        }
        long last = works.Max(w => w.Steps[^1]);
        Assert.Equal((sequences * tokens + maxBatch - 1) / maxBatch, last); // no step ran short while more were waiting
        for (long step = 1; step <= last; step++)
        {
            var done = works.Select(w => w.Steps.Count(s => s <= step)).ToArray();
            Assert.True(done.Max() - done.Min() <= 1, $"after step {step}: tokens run {string.Join(", ", done)}");
            Assert.Equal(Math.Min(sequences * tokens, step * maxBatch), done.Sum());
        }
    }
}

using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Serialization;
using CompactAI.Inference;
using CompactAI.Sampling;

namespace CompactAI.Cli.Commands;

/// <summary>
/// <c>compactai bench</c>: llama-bench's two measures on one model, timed as llama-bench times them: prompt processing
/// of N random tokens in batches (pp) and exactly M single-token decodes after an empty cache (tg: the first token BOS,
/// then random ids; no sampling). Each is reported as the median, minimum and maximum over the repetitions, after a
/// warm-up.
/// With <c>--parallel N</c> it also runs N concurrent generations of M tokens from N distinct prompts of N tokens on one
/// loaded model (continuous batching, as llama-server's <c>-np N</c>): aggregate generated tokens/s over the wall time,
/// and the p50/p95 of the requests' latencies (prompt and generation). <c>--batch-size</c> sets
/// <see cref="CompactModelOptions.BatchSize"/> (default min(prompt tokens, 512)).
/// </summary>
internal static class BenchCommand
{
    private static readonly Option<int?> PromptTokens = CliOption.Int("--prompt-tokens", "Random prompt tokens of pp (default 128).", 1, 1 << 16);
    private static readonly Option<int?> GenTokens = CliOption.Int("--gen-tokens", "Single-token decodes of tg (default 64).", 1, 1 << 16);
    private static readonly Option<int?> Repetitions = CliOption.Int("--repetitions", "Timed repetitions after a warm-up (default 3).", 1, 1000);
    private static readonly Option<int?> Parallel = CliOption.Int("--parallel", "Also run N concurrent generations (continuous batching).", 1, 256);
    private static readonly Option<int?> BatchSize = CliOption.Int("--batch-size", "Tokens per forward step (default min(prompt tokens, 512)).", 1, 1 << 16);

    public static Command Create()
    {
        var command = new Command("bench", "llama-bench's prompt processing (pp) and generation (tg) rates; with --json the last line has the figures.");
        ModelOptions.AddTo(command);
        command.Add(PromptTokens);
        command.Add(GenTokens);
        command.Add(Repetitions);
        command.Add(Parallel);
        command.Add(BatchSize);
        command.Add(LoraArguments.Lora);
        command.Add(CommonOptions.Json);
        command.SetAction((p, ct) => RunAsync(p, ct));
        return command;
    }

    private static async Task<int> RunAsync(ParseResult p, CancellationToken ct)
    {
        string modelPath = ModelOptions.PathOf(p);
        int pp = p.GetValue(PromptTokens) ?? 128;
        int tg = p.GetValue(GenTokens) ?? 64;
        int reps = p.GetValue(Repetitions) ?? 3;
        bool json = p.GetValue(CommonOptions.Json);
        int? parallel = p.GetValue(Parallel);
        var lora = LoraArguments.Read(p);
        var options = LoraArguments.PreferCpu(lora, ModelOptions.Read(p, new CompactModelOptions
        {
            ContextSize = pp + tg + 8,
            BatchSize = p.GetValue(BatchSize) ?? Math.Min(pp, 512),
        }));
        int? threads = options.Threads;

        var load = Stopwatch.StartNew();
        using var model = await CliProgress.LoadAsync(modelPath, options, json, ct);
        double loadMs = load.Elapsed.TotalMilliseconds;
        using var session = model.CreateSession();

        var rng = new Random(42);
        var prompt = new int[pp];
        for (int i = 0; i < pp; i++) prompt[i] = rng.Next(model.Config.VocabularySize);
        // tg's tokens as llama-bench's: BOS (or a random id), then random ids; fed without sampling.
        var decode = new int[tg];
        decode[0] = model.Tokenizer.BosToken >= 0 ? model.Tokenizer.BosToken : rng.Next(model.Config.VocabularySize);
        for (int i = 1; i < tg; i++) decode[i] = rng.Next(model.Config.VocabularySize);
        var adapters = LoraArguments.Load(model, lora);
        var gen = new GenerationOptions { MaxTokens = tg, Sampling = SamplingOptions.Greedy, IgnoreEndOfSequence = true, AddSpecialTokens = false, Adapters = adapters };
        // With --lora the prompt runs through a generation of 0 tokens, so that it too applies the adapters.
        async Task RunPromptAsync()
        {
            if (adapters.Length == 0) await session.GetNextTokenLogitsAsync(prompt, ct);
            else await session.GenerateTextAsync(prompt, gen with { MaxTokens = 0 }, ct);
        }

        // Warm-up: JIT, page in the weights.
        session.Reset();
        await RunPromptAsync();
        session.Reset();
        session.DecodeEach(decode.AsSpan(0, Math.Min(tg, 8)), adapters);

        var ppRates = new double[reps];
        var tgRates = new double[reps];
        for (int r = 0; r < reps; r++)
        {
            ct.ThrowIfCancellationRequested();
            session.Reset();
            long t0 = Stopwatch.GetTimestamp();
            await RunPromptAsync();
            ppRates[r] = pp / Stopwatch.GetElapsedTime(t0).TotalSeconds;

            session.Reset();
            t0 = Stopwatch.GetTimestamp();
            session.DecodeEach(decode, adapters);
            tgRates[r] = tg / Stopwatch.GetElapsedTime(t0).TotalSeconds;
        }
        var ppStats = RateStats.Of(ppRates);
        var tgStats = RateStats.Of(tgRates);
        var figures = new BenchJson(ppStats.Median, tgStats.Median, loadMs, model.Backend.ToString().ToLowerInvariant(), model.DeviceLayers)
        {
            PromptMin = ppStats.Min, PromptMax = ppStats.Max, GenerationMin = tgStats.Min, GenerationMax = tgStats.Max,
        };
        if (parallel is { } np) figures = await ParallelAsync(model, figures, np, pp, gen, reps, ct);
        int t = threads ?? Environment.ProcessorCount;
        Console.Out.WriteLine($"model: {Path.GetFileName(modelPath)} ({model.FileSize / 1e6:F1} MB), threads {t}, repetitions {reps}");
        Console.Out.WriteLine($"backend: {model.BackendDescription}");
        Console.Out.WriteLine($"pp{pp}: {ppStats.Median,10:F1} tokens/s (median; min {ppStats.Min:F1}, max {ppStats.Max:F1})");
        Console.Out.WriteLine($"tg{tg}: {tgStats.Median,10:F1} tokens/s (median; min {tgStats.Min:F1}, max {tgStats.Max:F1})");
        Console.Out.WriteLine($"load: {figures.LoadMilliseconds,10:F1} ms");
        if (figures.AggregateGenerationTokensPerSecond is { } agg)
            Console.Out.WriteLine($"parallel {parallel}: {agg,10:F1} tokens/s aggregate, latency p50 {figures.P50LatencyMilliseconds:F0} ms, p95 {figures.P95LatencyMilliseconds:F0} ms");
        if (json) Console.Out.WriteLine(JsonSerializer.Serialize(figures, CliJson.Default.BenchJson));
        return 0;
    }

    /// <summary>N concurrent generations from distinct random prompts, <paramref name="reps"/> times; the mean aggregate rate and the latency percentiles over all requests.</summary>
    private static async Task<BenchJson> ParallelAsync(CompactModel model, BenchJson figures, int n, int pp, GenerationOptions gen, int reps, CancellationToken ct)
    {
        var sessions = Enumerable.Range(0, n).Select(_ => model.CreateSession()).ToArray();
        try
        {
            var rng = new Random(7);
            var latencies = new List<double>();
            double tokens = 0, seconds = 0;
            for (int r = 0; r < reps; r++)
            {
                var prompts = sessions.Select(_ => Enumerable.Range(0, pp).Select(_ => rng.Next(model.Config.VocabularySize)).ToArray()).ToArray();
                foreach (var s in sessions) s.Reset();
                var wall = Stopwatch.StartNew();
                var runs = sessions.Select((s, i) => Task.Run(async () =>
                {
                    var sw = Stopwatch.StartNew();
                    var result = await s.GenerateTextAsync(prompts[i], gen, ct);
                    return (Tokens: result.Tokens.Count, Ms: sw.Elapsed.TotalMilliseconds);
                }, ct)).ToArray();
                var done = await Task.WhenAll(runs);
                seconds += wall.Elapsed.TotalSeconds;
                tokens += done.Sum(d => d.Tokens);
                latencies.AddRange(done.Select(d => d.Ms));
            }
            latencies.Sort();
            double Percentile(double p) => latencies[Math.Min(latencies.Count - 1, (int)Math.Ceiling(p * latencies.Count) - 1)];
            return figures with
            {
                Parallel = n,
                AggregateGenerationTokensPerSecond = tokens / seconds,
                P50LatencyMilliseconds = Percentile(0.50),
                P95LatencyMilliseconds = Percentile(0.95),
            };
        }
        finally
        {
            foreach (var s in sessions) s.Dispose();
        }
    }
}

/// <summary>The median, minimum and maximum of a set of rates.</summary>
internal readonly record struct RateStats(double Median, double Min, double Max)
{
    public static RateStats Of(double[] rates)
    {
        var sorted = rates.Order().ToArray();
        int n = sorted.Length;
        double median = n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
        return new RateStats(median, sorted[0], sorted[^1]);
    }
}

/// <summary>The figures of <c>compactai bench --json</c>: rates are medians over the repetitions, with their extremes.</summary>
internal sealed record BenchJson(
    [property: JsonPropertyName("pp_tok_s")] double PromptTokensPerSecond,
    [property: JsonPropertyName("tg_tok_s")] double GenerationTokensPerSecond,
    [property: JsonPropertyName("load_ms")] double LoadMilliseconds,
    [property: JsonPropertyName("backend")] string Backend,
    [property: JsonPropertyName("gpu_layers")] int GpuLayers)
{
    [JsonPropertyName("pp_min")] public double PromptMin { get; init; }

    [JsonPropertyName("pp_max")] public double PromptMax { get; init; }

    [JsonPropertyName("tg_min")] public double GenerationMin { get; init; }

    [JsonPropertyName("tg_max")] public double GenerationMax { get; init; }

    /// <summary>Concurrent generations of <c>--parallel</c> (null without it).</summary>
    [JsonPropertyName("parallel")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? Parallel { get; init; }

    /// <summary>Generated tokens of all concurrent requests per second of wall time.</summary>
    [JsonPropertyName("aggregate_tg_tok_s")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? AggregateGenerationTokensPerSecond { get; init; }

    /// <summary>Median request latency (prompt and generation).</summary>
    [JsonPropertyName("p50_latency_ms")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? P50LatencyMilliseconds { get; init; }

    /// <summary>95th-percentile request latency.</summary>
    [JsonPropertyName("p95_latency_ms")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? P95LatencyMilliseconds { get; init; }
}

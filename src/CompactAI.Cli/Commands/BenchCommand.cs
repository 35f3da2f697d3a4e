using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Serialization;
using CompactAI.Inference;
using CompactAI.Sampling;

namespace CompactAI.Cli.Commands;

/// <summary>
/// <c>compactai bench</c>: llama-bench's two measures on one model: prompt processing of N random tokens in one
/// batch (pp) and greedy generation of M tokens one at a time (tg), each the mean of several repetitions after a warm-up.
/// </summary>
internal static class BenchCommand
{
    public static async Task<int> RunAsync(string[] args, CancellationToken ct)
    {
        var a = new CliArguments(args, new HashSet<string> { "json" });
        string modelPath = a.Required("model");
        int? threads = a.OptionalInt("threads", 1, 1024);
        int pp = a.Int("prompt-tokens", 128, 1, 1 << 16);
        int tg = a.Int("gen-tokens", 64, 1, 1 << 16);
        int reps = a.Int("repetitions", 3, 1, 1000);
        bool json = a.Flag("json");
        var options = BackendArguments.Apply(a, new CompactModelOptions
        {
            Threads = threads,
            ContextSize = pp + tg + 8,
            BatchSize = Math.Min(pp, 512),
        });
        a.RejectUnknown("bench");

        var load = Stopwatch.StartNew();
        using var model = await CompactModel.LoadAsync(modelPath, options, ct);
        double loadMs = load.Elapsed.TotalMilliseconds;
        using var session = model.CreateSession();

        var rng = new Random(42);
        var prompt = new int[pp];
        for (int i = 0; i < pp; i++) prompt[i] = rng.Next(model.Config.VocabularySize);
        int start = model.Tokenizer.BosToken >= 0 ? model.Tokenizer.BosToken : 0;
        var gen = new GenerationOptions { MaxTokens = tg, Sampling = SamplingOptions.Greedy, IgnoreEndOfSequence = true, AddSpecialTokens = false };

        // Warm-up: JIT, page in the weights.
        session.Reset();
        await session.GetNextTokenLogitsAsync(prompt, ct);
        session.Reset();
        await session.GenerateTextAsync([start], gen with { MaxTokens = Math.Min(tg, 8) }, ct);

        double ppSeconds = 0, tgSeconds = 0;
        for (int r = 0; r < reps; r++)
        {
            session.Reset();
            var sw = Stopwatch.StartNew();
            await session.GetNextTokenLogitsAsync(prompt, ct);
            ppSeconds += sw.Elapsed.TotalSeconds;

            session.Reset();
            var result = await session.GenerateTextAsync([start], gen, ct);
            tgSeconds += result.GenerationTime.TotalSeconds;
        }
        var figures = new BenchJson(pp * reps / ppSeconds, tg * reps / tgSeconds, loadMs, model.Backend.ToString().ToLowerInvariant(), model.DeviceLayers);
        int t = threads ?? Environment.ProcessorCount;
        Console.Out.WriteLine($"model: {Path.GetFileName(modelPath)} ({model.FileSize / 1e6:F1} MB), threads {t}, repetitions {reps}");
        Console.Out.WriteLine($"backend: {model.BackendDescription}");
        Console.Out.WriteLine($"pp{pp}: {figures.PromptTokensPerSecond,10:F1} tokens/s");
        Console.Out.WriteLine($"tg{tg}: {figures.GenerationTokensPerSecond,10:F1} tokens/s");
        Console.Out.WriteLine($"load: {figures.LoadMilliseconds,10:F1} ms");
        if (json) Console.Out.WriteLine(JsonSerializer.Serialize(figures, CliJson.Default.BenchJson));
        return 0;
    }
}

internal sealed record BenchJson(
    [property: JsonPropertyName("pp_tok_s")] double PromptTokensPerSecond,
    [property: JsonPropertyName("tg_tok_s")] double GenerationTokensPerSecond,
    [property: JsonPropertyName("load_ms")] double LoadMilliseconds,
    [property: JsonPropertyName("backend")] string Backend,
    [property: JsonPropertyName("gpu_layers")] int GpuLayers);

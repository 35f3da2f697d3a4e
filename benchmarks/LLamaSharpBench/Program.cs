// llamasharp-bench: load time, ppN and tgN of one GGUF file in llama.cpp through LLamaSharp 0.30.0, with the definitions
// of llama-bench and `compactai bench`: pp = N random tokens decoded in one batch (cache cleared first), tg = exactly M
// single-token decodes from an empty cache (BOS, then random ids; no sampling). Median, min and max over the repetitions
// after one warm-up of each; load = LLamaWeights.LoadFromFile + CreateContext. Prints one JSON line like compactai bench --json.
//
// Usage: llamasharp-bench --model FILE [--threads 2] [--prompt-tokens 128] [--gen-tokens 64] [--repetitions 5]
using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using LLama;
using LLama.Common;
using LLama.Native;

string? model = null;
int threads = 2, pp = 128, tg = 64, reps = 5;
for (int i = 0; i < args.Length; i++)
{
    string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
    switch (args[i])
    {
        case "--model": model = Value(); break;
        case "--threads": threads = int.Parse(Value(), CultureInfo.InvariantCulture); break;
        case "--prompt-tokens": pp = int.Parse(Value(), CultureInfo.InvariantCulture); break;
        case "--gen-tokens": tg = int.Parse(Value(), CultureInfo.InvariantCulture); break;
        case "--repetitions": reps = int.Parse(Value(), CultureInfo.InvariantCulture); break;
        default: Console.Error.WriteLine($"llamasharp-bench: unknown option {args[i]}"); return 2;
    }
}
if (model is null || threads < 1 || pp < 1 || tg < 1 || reps < 1)
{
    Console.Error.WriteLine("usage: llamasharp-bench --model FILE [--threads N] [--prompt-tokens N] [--gen-tokens N] [--repetitions N]");
    return 2;
}

string variant = "unknown";
NativeLibraryConfig.All.WithLogCallback((_, message) =>
{
    if (Regex.Match(message, @"Successfully loaded '[^']*native/([a-z0-9]+)/libllama\.") is { Success: true } m) variant = m.Groups[1].Value;
});
NativeApi.llama_empty_call(); // load the native library before the clock starts, as compactai bench's process has its runtime up

var parameters = new ModelParams(model)
{
    ContextSize = (uint)(pp + tg + 8), Threads = threads, BatchThreads = threads, GpuLayerCount = 0,
    BatchSize = (uint)Math.Min(pp, 512), UBatchSize = (uint)Math.Min(pp, 512),
};
long t0 = Stopwatch.GetTimestamp();
using var weights = LLamaWeights.LoadFromFile(parameters);
using var context = weights.CreateContext(parameters);
double loadMs = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;

int vocab = weights.Vocab.Count;
var rng = new Random(42);
var prompt = new LLamaToken[pp];
for (int i = 0; i < pp; i++) prompt[i] = rng.Next(vocab);
var decode = new LLamaToken[tg];
decode[0] = weights.Vocab.BOS ?? rng.Next(vocab);
for (int i = 1; i < tg; i++) decode[i] = rng.Next(vocab);

var batch = new LLamaBatch();
void Clear() => context.NativeHandle.MemoryClear(true);
void Check(DecodeResult r) { if (r != DecodeResult.Ok) throw new InvalidOperationException($"llama_decode: {r}"); }
void Prompt()
{
    Clear();
    for (int start = 0; start < pp; start += (int)parameters.BatchSize)
    {
        batch.Clear();
        int n = Math.Min((int)parameters.BatchSize, pp - start);
        for (int j = 0; j < n; j++) batch.Add(prompt[start + j], start + j, LLamaSeqId.Zero, start + j == pp - 1);
        Check(context.Decode(batch));
    }
}
void Generate(int count)
{
    Clear();
    for (int j = 0; j < count; j++)
    {
        batch.Clear();
        batch.Add(decode[j], j, LLamaSeqId.Zero, true);
        Check(context.Decode(batch));
    }
}

Prompt();
Generate(Math.Min(tg, 8));
var ppRates = new double[reps];
var tgRates = new double[reps];
for (int r = 0; r < reps; r++)
{
    t0 = Stopwatch.GetTimestamp();
    Prompt();
    ppRates[r] = pp / Stopwatch.GetElapsedTime(t0).TotalSeconds;
    t0 = Stopwatch.GetTimestamp();
    Generate(tg);
    tgRates[r] = tg / Stopwatch.GetElapsedTime(t0).TotalSeconds;
}

static (double Median, double Min, double Max) Stats(double[] xs)
{
    var s = xs.Order().ToArray();
    return (s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2, s[0], s[^1]);
}
var p = Stats(ppRates);
var g = Stats(tgRates);
Console.WriteLine($"model: {Path.GetFileName(model)}, threads {threads}, repetitions {reps}, LLamaSharp CPU build {variant}");
Console.WriteLine(FormattableString.Invariant(
    $"{{\"pp_tok_s\":{p.Median:F2},\"pp_min\":{p.Min:F2},\"pp_max\":{p.Max:F2},\"tg_tok_s\":{g.Median:F2},\"tg_min\":{g.Min:F2},\"tg_max\":{g.Max:F2},\"load_ms\":{loadMs:F2},\"variant\":\"{variant}\"}}"));
return 0;

using BenchmarkDotNet.Attributes;
using CompactAI.Chat;

namespace CompactAI.Benchmarks.Embeddings;

/// <summary>
/// Sentence-embedding throughput of all-MiniLM-L6-v2 Q8_0 (../shared/models) on 2 threads: one call embeds a batch of
/// <see cref="Batch"/> short sentences, packed into one encoder pass. The mean time is per sentence
/// (<c>OperationsPerInvoke</c>), so sentences/s = 1 / mean. Compare with llama.cpp: <c>scripts/bench-embeddings.sh</c>.
/// </summary>
[MemoryDiagnoser]
public class EmbeddingThroughputSuite
{
    /// <summary>Sentences per call, as the goal states (batch 32).</summary>
    public const int Batch = 32;

    /// <summary>The sentences of the embedding goldens, cycled to <see cref="Batch"/>.</summary>
    private static readonly string[] Sentences =
    [
        "The cat sits outside.", "A man is playing guitar.", "The new movie is awesome!", "I love pasta with tomato sauce.",
        "How do I reset my password?", "Forgot my login credentials, how can I recover the account?",
        "The quarterly revenue grew by 12% compared to last year.", "Photosynthesis converts light energy into chemical energy in plants.",
        "Der Hund spielt im Garten mit einem Ball.", "Café au lait, crème brûlée et naïveté.", "東京は日本の首都です。",
        "Small specialized models run fast on a laptop CPU.", "Retrieval-augmented generation combines search with a language model.",
        "what is the capital of france", "Paris is the capital and most populous city of France.",
        "C# 12 introduced primary constructors; .NET 8 shipped them in November 2023.",
    ];

    private CompactModel? _model;
    private CompactEmbeddingGenerator? _generator;
    private string[] _batch = [];

    [GlobalSetup]
    public void Setup()
    {
        string shared = Environment.GetEnvironmentVariable("COMPACTAI_SHARED") ?? FindShared();
        _model = CompactModel.Load(Path.Combine(shared, "models", "all-MiniLM-L6-v2-Q8_0.gguf"), new CompactModelOptions { Threads = 2 });
        _generator = new CompactEmbeddingGenerator(_model);
        _batch = Enumerable.Range(0, Batch).Select(i => Sentences[i % Sentences.Length]).ToArray();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _generator?.Dispose();
        _model?.Dispose();
    }

    /// <summary>One call with <see cref="Batch"/> sentences; reported per sentence.</summary>
    [Benchmark(OperationsPerInvoke = Batch)]
    public int EmbedBatch32() => _generator!.GenerateAsync(_batch).GetAwaiter().GetResult().Count;

    private static string FindShared()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "shared");
            if (Directory.Exists(Path.Combine(candidate, "models"))) return candidate;
        }
        throw new DirectoryNotFoundException("No shared/models above the benchmark; set COMPACTAI_SHARED.");
    }
}

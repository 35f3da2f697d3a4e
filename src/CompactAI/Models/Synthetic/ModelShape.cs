namespace CompactAI.Models.Synthetic;

/// <summary>
/// The hyper-parameters of a real model (taken from its published config), for writing random-weight GGUFs with exactly
/// its tensor shapes: identical maths and memory traffic, so they serve for correctness and speed checks.
/// </summary>
internal sealed record ModelShape(
    string Name, string Architecture, int Embedding, int Layers, int Heads, int KvHeads, int FeedForward, int Vocabulary,
    int Context, float RopeBase, float RmsEpsilon, string Pre, int HeadDim = 0)
{
    /// <summary>Per-head size (embedding / heads unless the family decouples it).</summary>
    public int KeyLength => HeadDim > 0 ? HeadDim : Embedding / Heads;

    /// <summary>Llama 3 rope scaling (written as the rope_freqs tensor, as the converter does).</summary>
    public bool Llama3RopeScaling { get; init; }

    /// <summary>
    /// Phi-3 LongRoPE: short and long frequency factors (tensors), the context they switch at
    /// (<c>rope.scaling.original_context_length</c>) and the attention factor √(1 + ln(context/original)/ln(original)).
    /// </summary>
    public int LongRopeOriginalContext { get; init; }

    /// <summary>Gemma 2's attention logit soft-cap (50 in the real models).</summary>
    public float AttentionSoftcap { get; init; } = 50f;

    /// <summary>Gemma 2's final logit soft-cap (30 in the real models).</summary>
    public float FinalLogitSoftcap { get; init; } = 30f;

    /// <summary>Shapes by name: real models and tiny per-family shapes for conformance tests.</summary>
    public static IReadOnlyDictionary<string, ModelShape> All { get; } = new ModelShape[]
    {
        new("smollm2-135m", "llama", 576, 30, 9, 3, 1536, 49152, 8192, 100000f, 1e-5f, "smollm"),
        new("qwen2.5-0.5b", "qwen2", 896, 24, 14, 2, 4864, 151936, 32768, 1000000f, 1e-6f, "qwen2"),
        new("llama3.2-1b", "llama", 2048, 16, 32, 8, 8192, 128256, 131072, 500000f, 1e-5f, "llama-bpe") { Llama3RopeScaling = true },
        new("tiny-llama", "llama", 64, 2, 4, 2, 128, 0, 512, 10000f, 1e-5f, "gpt-2"),
        new("small-llama", "llama", 256, 2, 4, 2, 512, 0, 512, 10000f, 1e-5f, "gpt-2"), // rows of 256: real K-quant blocks
        new("tiny-qwen2", "qwen2", 64, 2, 4, 2, 128, 0, 512, 1000000f, 1e-6f, "qwen2"),
        new("tiny-qwen3", "qwen3", 64, 2, 4, 2, 128, 0, 512, 1000000f, 1e-6f, "qwen2", HeadDim: 32),
        new("tiny-gemma", "gemma", 64, 2, 4, 1, 128, 0, 512, 10000f, 1e-6f, "gpt-2"),
        // Random weights give attention scores of ~0.03 and logits of ~1, which caps of 50 and 30 would leave untouched:
        // the tiny model's caps are of that size, so that the soft-caps are exercised.
        new("tiny-gemma2", "gemma2", 64, 4, 4, 2, 128, 0, 512, 10000f, 1e-6f, "gpt-2") { AttentionSoftcap = 0.02f, FinalLogitSoftcap = 1f },
        new("tiny-gemma3", "gemma3", 64, 6, 4, 2, 128, 0, 512, 1000000f, 1e-6f, "gpt-2"),
        new("tiny-phi3", "phi3", 64, 2, 4, 4, 128, 0, 512, 10000f, 1e-5f, "gpt-2") { LongRopeOriginalContext = 256 },
    }.ToDictionary(s => s.Name, StringComparer.Ordinal);

    /// <summary>The shape named <paramref name="name"/>.</summary>
    /// <exception cref="ArgumentException">Unknown name; the message lists the known ones.</exception>
    public static ModelShape For(string name) =>
        All.TryGetValue(name, out var s) ? s : throw new ArgumentException($"Unknown model shape '{name}'. Known shapes: {string.Join(", ", All.Keys)}.", nameof(name));
}

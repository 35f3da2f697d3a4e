using CompactAI.Chat;

namespace CompactAI.Hosting;

/// <summary>The compute backend a hosted model runs on.</summary>
public enum CompactAIBackend
{
    /// <summary>The best backend this build can run: the CPU today (logged at load, with the reason).</summary>
    Auto,
    /// <summary>The CPU (managed SIMD kernels).</summary>
    Cpu,
    /// <summary>Reserved for the CUDA backend; rejected by validation until a build ships it.</summary>
    Cuda,
}

/// <summary>
/// Options of <c>AddCompactAI</c>: which GGUF file to load, how to run it, and how the registered
/// <see cref="Microsoft.Extensions.AI.IChatClient"/> answers. Bindable from configuration (section <c>CompactAI</c> by convention):
/// <code>
/// "CompactAI": { "ModelPath": "models/stories260K.gguf", "Threads": 4, "ContextSize": 2048, "MaxParallelSequences": 2 }
/// </code>
/// </summary>
public sealed class CompactAIOptions
{
    /// <summary>The conventional configuration section name, <c>CompactAI</c>.</summary>
    public const string SectionName = "CompactAI";

    /// <summary>Path of the GGUF model file (required).</summary>
    public string? ModelPath { get; set; }

    /// <summary>Threads per sequence for the forward pass (null: the number of processor cores).</summary>
    public int? Threads { get; set; }

    /// <summary>Context size per sequence in tokens (null: the model's training context, capped at 4096).</summary>
    public int? ContextSize { get; set; }

    /// <summary>Most prompt tokens run through the model in one batch.</summary>
    public int BatchSize { get; set; } = 64;

    /// <summary>Most sequences generating at once (each holds a KV cache); further requests queue.</summary>
    public int MaxParallelSequences { get; set; } = 4;

    /// <summary>The compute backend; <see cref="CompactAIBackend.Auto"/> means the CPU today.</summary>
    public CompactAIBackend Backend { get; set; } = CompactAIBackend.Auto;

    /// <summary>The model id reported by the chat client and embedding generator (null: the file name without extension).</summary>
    public string? ModelId { get; set; }

    /// <summary>Answer length when a chat request does not set <c>MaxOutputTokens</c>.</summary>
    public int DefaultMaxOutputTokens { get; set; } = 512;

    /// <summary>What the chat client does when a conversation does not fit the context.</summary>
    public ContextOverflowPolicy ContextOverflow { get; set; } = ContextOverflowPolicy.Throw;

    /// <summary>
    /// Load the model while the host starts (a hosted service) rather than on first use. Ignored without a host:
    /// then the model loads when <see cref="CompactModel"/>, the chat client or the embedding generator is first resolved.
    /// </summary>
    public bool LoadOnStart { get; set; } = true;

    /// <summary>
    /// Receives load progress in [0, 1], in coarse observable steps: 0 (starting), 0.1 (file found),
    /// 0.8 (file mapped and validated, tokenizer and weights ready), 1 (warm-up forward pass done). Not bound from configuration.
    /// </summary>
    public IProgress<float>? LoadProgress { get; set; }

    /// <summary>The engine options these settings describe.</summary>
    public CompactModelOptions ToModelOptions() => new()
    {
        Threads = Threads,
        ContextSize = ContextSize,
        BatchSize = BatchSize,
        MaxParallelSequences = MaxParallelSequences,
    };
}

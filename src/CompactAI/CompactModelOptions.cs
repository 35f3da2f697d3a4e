namespace CompactAI;

/// <summary>Options for loading a model and creating its sessions.</summary>
public sealed record CompactModelOptions
{
    /// <summary>Threads per session for the forward pass (null: the number of processor cores).</summary>
    public int? Threads { get; init; }

    /// <summary>Context size of new sessions in tokens (null: the model's training context, capped at 4096).</summary>
    public int? ContextSize { get; init; }

    /// <summary>Most prompt tokens run through the model in one batch.</summary>
    public int BatchSize { get; init; } = 64;

    /// <summary>Most sequences generating at once through the model's <see cref="Inference.SessionPool"/> (each holds a KV cache); further requests queue.</summary>
    public int MaxParallelSequences { get; init; } = 4;

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> for invalid values.</summary>
    public void Validate()
    {
        if (Threads is <= 0) throw new ArgumentOutOfRangeException(nameof(Threads), Threads, "Threads must be positive.");
        if (ContextSize is <= 0) throw new ArgumentOutOfRangeException(nameof(ContextSize), ContextSize, "ContextSize must be positive.");
        if (MaxParallelSequences <= 0) throw new ArgumentOutOfRangeException(nameof(MaxParallelSequences), MaxParallelSequences, "MaxParallelSequences must be positive.");
        if (BatchSize <= 0) throw new ArgumentOutOfRangeException(nameof(BatchSize), BatchSize, "BatchSize must be positive.");
    }
}

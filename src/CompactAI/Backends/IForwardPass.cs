using CompactAI.Inference;

namespace CompactAI.Backends;

/// <summary>
/// One device session's forward pass: the model graph together with the sequence's KV cache and scratch buffers (the CUDA one
/// lives in <c>CompactAI.Cuda</c>). The model's <see cref="BatchScheduler"/> runs it for the session's <see cref="Sequence"/>; CPU
/// sequences need none, as the scheduler's own batched transformer runs them. Not thread-safe: one call at a time (the scheduler's).
/// </summary>
internal interface IForwardPass : IDisposable
{
    /// <summary>Most tokens one call takes.</summary>
    int MaxBatch { get; }

    /// <summary>Bytes the KV cache holds (device and host together).</summary>
    long CacheBytes { get; }

    /// <summary>
    /// Runs <paramref name="tokens"/> at positions <paramref name="startPos"/>… (earlier positions are cached) and writes the logits of
    /// every token (<paramref name="allLogits"/>, [tokens × vocab]) or of the last one into <paramref name="logits"/>.
    /// </summary>
    void Forward(ReadOnlySpan<int> tokens, int startPos, Span<float> logits, bool allLogits);

    /// <summary>
    /// The LoRA adapters the following <see cref="Forward"/> and <see cref="ForwardHidden"/> calls apply (null: the base model).
    /// A pass that cannot apply adapters (the default) refuses a set with <see cref="NotSupportedException"/>.
    /// </summary>
    Models.LoraStack? Adapters
    {
        get => null;
        set
        {
            if (value is not null) throw new NotSupportedException("LoRA adapters run on the CPU engine only; this model runs layers on a device (load it with Backend = Cpu to use adapters).");
        }
    }

    /// <summary>Like <see cref="Forward"/>, but writes every token's final hidden state (after the output norm) into <paramref name="hidden"/>.</summary>
    void ForwardHidden(ReadOnlySpan<int> tokens, int startPos, Span<float> hidden);

    /// <summary>
    /// The cache as a host <see cref="KvCache"/>, for saving and loading session state: the live cache on the CPU; on a device, a
    /// host copy that <see cref="CacheToHost"/> fills and <see cref="CacheFromHost"/> sends back.
    /// </summary>
    KvCache HostCache { get; }

    /// <summary>Makes <see cref="HostCache"/> hold positions [0, <paramref name="count"/>) of the live cache.</summary>
    void CacheToHost(int count);

    /// <summary>Makes the live cache hold positions [0, <paramref name="count"/>) of <see cref="HostCache"/>.</summary>
    void CacheFromHost(int count);
}

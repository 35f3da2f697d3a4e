using CompactAI.Inference;
using CompactAI.Models;
using CompactAI.Threading;

namespace CompactAI.Backends;

/// <summary>The CPU engine as an <see cref="IForwardPass"/>: the <see cref="Transformer"/>, its worker threads and a host KV cache.</summary>
internal sealed class CpuForwardPass : IForwardPass
{
    private readonly WorkerPool _pool;
    private readonly Transformer _transformer;
    private readonly KvCache _cache;

    public CpuForwardPass(ModelConfig config, ModelWeights weights, int contextSize, int threads, int maxBatch)
    {
        _pool = new WorkerPool(threads);
        _transformer = new Transformer(config, weights, _pool, maxBatch, contextSize);
        _cache = new KvCache(config.BlockCount, contextSize, config.KvHeadCount, config.HeadDim, config.ValueDim);
    }

    public int MaxBatch => _transformer.MaxBatch;

    public long CacheBytes => _cache.SizeInBytes;

    public KvCache HostCache => _cache;

    public void Forward(ReadOnlySpan<int> tokens, int startPos, Span<float> logits, bool allLogits) =>
        _transformer.Forward(tokens, startPos, _cache, logits, allLogits);

    public void ForwardHidden(ReadOnlySpan<int> tokens, int startPos, Span<float> hidden) =>
        _transformer.ForwardHidden(tokens, startPos, _cache, hidden);

    public void CacheToHost(int count)
    {
        // The cache is on the host already.
    }

    public void CacheFromHost(int count)
    {
        // The cache is on the host already.
    }

    public void Dispose() => _pool.Dispose();
}

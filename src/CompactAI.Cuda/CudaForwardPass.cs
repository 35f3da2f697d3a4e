using CompactAI.Backends;
using CompactAI.Inference;
using CompactAI.Models;
using CompactAI.Threading;

namespace CompactAI.Cuda;

/// <summary>
/// A session's forward pass on a CUDA device: the whole model in a <see cref="CudaTransformer"/>, or, when only the first N blocks
/// are offloaded, those on the device, the residual stream copied back, and the remaining blocks and the output head in the CPU
/// <see cref="Transformer"/> (with a host KV cache for its blocks only).
/// </summary>
internal sealed class CudaForwardPass : IForwardPass
{
    private readonly CudaTransformer _device;
    private readonly ModelConfig _c;
    private readonly int _contextSize;
    private readonly Action _release;
    private readonly WorkerPool? _pool;
    private readonly Transformer? _tail;
    private readonly float[]? _residual;
    private KvCache? _hostCache;
    private bool _disposed;

    public CudaForwardPass(CudaTransformer device, ModelConfig config, ModelWeights weights, int contextSize, int maxBatch, int threads, Action release)
    {
        _device = device;
        _c = config;
        _contextSize = contextSize;
        _release = release;
        int layers = device.Weights.Layers;
        if (layers < config.BlockCount)
        {
            _pool = new WorkerPool(threads);
            _tail = new Transformer(config, weights, _pool, maxBatch, contextSize, firstLayer: layers);
            _hostCache = new KvCache(config.BlockCount, contextSize, config.KvHeadCount, config.HeadDim, config.ValueDim, firstAllocatedLayer: layers);
            _residual = new float[maxBatch * config.EmbeddingLength];
        }
    }

    public int MaxBatch => _device.MaxBatch;

    public long CacheBytes => _device.CacheBytes + (_tail is null ? 0 : _hostCache!.SizeInBytes);

    public KvCache HostCache
    {
        get
        {
            var cache = _hostCache ??= new KvCache(_c.BlockCount, _contextSize, _c.KvHeadCount, _c.HeadDim, _c.ValueDim);
            cache.AllocateAllLayers();
            return cache;
        }
    }

    public void Forward(ReadOnlySpan<int> tokens, int startPos, Span<float> logits, bool allLogits)
    {
        if (_tail is null)
        {
            _device.Forward(tokens, startPos, logits, allLogits);
            return;
        }
        _device.ForwardBlocks(tokens, startPos, _residual);
        _tail.ForwardFrom(_residual, tokens.Length, startPos, _hostCache!, logits, allLogits);
    }

    public void ForwardHidden(ReadOnlySpan<int> tokens, int startPos, Span<float> hidden)
    {
        if (_tail is null)
        {
            _device.ForwardHidden(tokens, startPos, hidden);
            return;
        }
        _device.ForwardBlocks(tokens, startPos, _residual);
        _tail.ForwardHiddenFrom(_residual, tokens.Length, startPos, _hostCache!, hidden);
    }

    public void CacheToHost(int count) => _device.CopyCacheTo(HostCache, count);

    public void CacheFromHost(int count) => _device.CopyCacheFrom(HostCache, count);

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _pool?.Dispose();
        _device.Dispose();
        _release();
    }
}

using CompactAI.Cuda.Kernels;
using CompactAI.Models;
using ILGPU;
using ILGPU.Runtime;

namespace CompactAI.Cuda;

/// <summary>
/// One session's forward pass on the device, over <see cref="DeviceWeights"/> shared by the model's sessions: this session's KV
/// cache, RoPE tables and activation buffers, sized once for <see cref="MaxBatch"/> tokens. A batch of consecutive tokens runs as a
/// fixed sequence of kernel launches (matrix–matrix products for a prompt, matrix–vector for one token); only what the caller
/// asks for comes back to the host: the logits of the last token or of every token, the final hidden states, or, when the model
/// is partly offloaded, the residual stream after the device's blocks.
/// Per block: x += Wo·Attn(RoPE(Wq·n), RoPE(Wk·n), Wv·n) with n = RMSNorm(x), then x += Wdown·(act(Wgate·n) ⊙ Wup·n) with
/// n = RMSNorm(x), with the family's optional biases, Q/K norms, post-norms, GELU, embedding scale, attention soft-cap,
/// sliding windows, fused projections (as row slices) and the final logit soft-cap, exactly as the CPU <see cref="Transformer"/>.
/// The KV cache holds half-precision values (as the CPU engine's and llama.cpp's default F16 cache).
/// </summary>
/// <remarks>One call at a time per instance; calls on instances sharing a device take turns (<see cref="CudaBackend.Gate"/>).</remarks>
internal sealed class CudaTransformer : IDisposable
{
    private readonly CudaBackend _backend;
    private readonly DeviceKernels _k;
    private readonly ModelConfig _c;
    private readonly DeviceWeights _w;
    private readonly List<IDisposable> _owned = new();
    private readonly DeviceBuffer<int> _tokens;
    private readonly DeviceBuffer<float> _x, _xn, _q, _kv, _v, _attn, _proj, _gate, _up;
    private readonly DeviceBuffer<float>? _logits;
    private readonly DeviceBuffer<float>[] _keys, _values;
    private readonly DeviceBuffer<float> _cos, _sin, _localCos, _localSin;
    private readonly float _preScale, _scale;
    private readonly int[] _ids;

    public CudaTransformer(DeviceWeights weights, ModelConfig config, ModelWeights hostWeights, int contextSize, int maxBatch)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(contextSize, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBatch, 1);
        _backend = weights.Backend;
        _w = weights;
        _k = _backend.Kernels;
        _c = config;
        ContextSize = contextSize;
        MaxBatch = maxBatch;
        _ids = new int[maxBatch];
        // As the CPU Attention: families whose graph scales q itself round the scaled q; a soft-cap folds 1/cap into the scale.
        _preScale = config.ScaleQueryBeforeAttention ? config.AttentionScale : 1.0f;
        float scale = config.ScaleQueryBeforeAttention ? 1.0f : config.AttentionScale;
        _scale = config.AttentionSoftcap > 0 ? scale / config.AttentionSoftcap : scale;
        using var scope = _backend.Gate.EnterScope();
        using var binding = _backend.Accelerator.BindScoped();
        try
        {
            int embd = config.EmbeddingLength, rows = DeviceMemoryEstimate.PaddedRows(maxBatch);
            _tokens = Own(_backend.Allocate<int>(maxBatch));
            _x = Zeros((long)rows * embd);
            _xn = Zeros((long)rows * embd);
            _q = Zeros((long)rows * config.HeadCount * config.HeadDim);
            _kv = Zeros((long)rows * config.KvHeadCount * config.HeadDim);
            _v = Zeros((long)rows * config.KvHeadCount * config.ValueDim);
            _attn = Zeros((long)rows * config.HeadCount * config.ValueDim);
            _proj = Zeros((long)rows * embd);
            _gate = Zeros((long)rows * config.FeedForwardLength);
            _up = Zeros((long)rows * config.FeedForwardLength);
            if (weights.OutputOnDevice) _logits = Zeros((long)MatMulKernels.Tile * config.VocabularySize);
            _keys = new DeviceBuffer<float>[weights.Layers];
            _values = new DeviceBuffer<float>[weights.Layers];
            for (int l = 0; l < weights.Layers; l++)
            {
                _keys[l] = Zeros((long)config.KvHeadCount * contextSize * config.HeadDim);
                _values[l] = Zeros((long)config.KvHeadCount * contextSize * config.ValueDim);
            }
            // The CPU engine's own RoPE tables for the whole context (LongRoPE factors chosen by the context size, as the CPU's).
            var factors = hostWeights.RopeFactorsFor(config, contextSize);
            (_cos, _sin) = RopeTables(new RopeTable(config.RopeDimensions, config.RopeFreqBase, config.RopeFreqScale, factors, config.RopeAttentionFactor, contextSize));
            (_localCos, _localSin) = config.SlidingWindowLayers is null ? (_cos, _sin)
                : RopeTables(new RopeTable(config.RopeDimensions, config.SlidingWindowRopeFreqBase, config.SlidingWindowRopeFreqScale, factors, config.RopeAttentionFactor, contextSize));
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>Positions the device KV cache holds.</summary>
    public int ContextSize { get; }

    /// <summary>Most tokens one call takes.</summary>
    public int MaxBatch { get; }

    /// <summary>The device weights this pass runs on.</summary>
    public DeviceWeights Weights => _w;

    /// <summary>Bytes of this session's device KV cache.</summary>
    public long CacheBytes => DeviceMemoryEstimate.KvCache(_c, _w.Layers, ContextSize);

    /// <summary>
    /// Runs <paramref name="tokens"/> at positions <paramref name="startPos"/>… and copies the logits of every token
    /// (<paramref name="allLogits"/>, [tokens × vocab]) or of the last one into <paramref name="logits"/>. Needs every block on the device.
    /// </summary>
    public void Forward(ReadOnlySpan<int> tokens, int startPos, Span<float> logits, bool allLogits)
    {
        if (!_w.OutputOnDevice) throw new InvalidOperationException("Only some blocks are on the device; run them with ForwardBlocks and the rest on the CPU.");
        int n = tokens.Length, vocab = _c.VocabularySize, first = allLogits ? 0 : n - 1, rows = n - first;
        if (logits.Length < (long)rows * vocab) throw new ArgumentException($"Logits hold {logits.Length} values, need {(long)rows * vocab}.", nameof(logits));
        lock (_backend.Gate)
        {
            using var binding = _backend.Accelerator.BindScoped();
            Run(tokens, startPos);
            int embd = _c.EmbeddingLength;
            _k.RmsNorm(_x.View.SubView((long)first * embd), _w.OutputNorm!.View, _xn.View, rows, embd, _c.RmsNormEpsilon);
            // The head in tiles of 8 rows through an 8-row logits buffer (a whole batch of vocabulary-wide rows could be large).
            for (int r = 0; r < rows; r += MatMulKernels.Tile)
            {
                int count = Math.Min(MatMulKernels.Tile, rows - r);
                _k.MatMul(_w.Output!, _xn.View.SubView((long)r * embd), _logits!.View, count);
                if (_c.FinalLogitSoftcap > 0) _k.Softcap(_logits.View, count * vocab, _c.FinalLogitSoftcap);
                _k.Synchronize();
                _logits.View.SubView(0, (long)count * vocab).CopyToCPU(logits.Slice(r * vocab, count * vocab));
            }
        }
    }

    /// <summary>Runs <paramref name="tokens"/> and copies every token's final hidden state (after the output norm) into <paramref name="hidden"/>.</summary>
    public void ForwardHidden(ReadOnlySpan<int> tokens, int startPos, Span<float> hidden)
    {
        if (!_w.OutputOnDevice) throw new InvalidOperationException("Only some blocks are on the device; run them with ForwardBlocks and the rest on the CPU.");
        int n = tokens.Length, embd = _c.EmbeddingLength;
        if (hidden.Length < n * embd) throw new ArgumentException($"The buffer holds {hidden.Length} values, need {n * embd}.", nameof(hidden));
        lock (_backend.Gate)
        {
            using var binding = _backend.Accelerator.BindScoped();
            Run(tokens, startPos);
            _k.RmsNorm(_x.View, _w.OutputNorm!.View, _xn.View, n, embd, _c.RmsNormEpsilon);
            _k.Synchronize();
            _xn.View.SubView(0, (long)n * embd).CopyToCPU(hidden[..(n * embd)]);
        }
    }

    /// <summary>
    /// Runs <paramref name="tokens"/> through the device's blocks and copies the residual stream after them ([tokens × embd]) into
    /// <paramref name="residual"/>, for the CPU to run the remaining blocks (a partly offloaded model).
    /// </summary>
    public void ForwardBlocks(ReadOnlySpan<int> tokens, int startPos, Span<float> residual)
    {
        int n = tokens.Length, embd = _c.EmbeddingLength;
        if (residual.Length < n * embd) throw new ArgumentException($"The buffer holds {residual.Length} values, need {n * embd}.", nameof(residual));
        lock (_backend.Gate)
        {
            using var binding = _backend.Accelerator.BindScoped();
            Run(tokens, startPos);
            _k.Synchronize();
            _x.View.SubView(0, (long)n * embd).CopyToCPU(residual[..(n * embd)]);
        }
    }

    /// <summary>Copies positions [0, <paramref name="count"/>) of the device cache into <paramref name="cache"/>'s first layers (same layout).</summary>
    public void CopyCacheTo(Inference.KvCache cache, int count)
    {
        lock (_backend.Gate)
        {
            using var binding = _backend.Accelerator.BindScoped();
            _k.Synchronize();
            ForEachHead(count, (view, host) => view.CopyToCPU(host), cache);
        }
    }

    /// <summary>Copies positions [0, <paramref name="count"/>) of <paramref name="cache"/>'s first layers into the device cache.</summary>
    public void CopyCacheFrom(Inference.KvCache cache, int count)
    {
        lock (_backend.Gate)
        {
            using var binding = _backend.Accelerator.BindScoped();
            ForEachHead(count, (view, host) => view.CopyFromCPU(host), cache);
        }
    }

    private delegate void HeadCopy(ArrayView<float> device, Span<float> host);

    private void ForEachHead(int count, HeadCopy copy, Inference.KvCache cache)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, ContextSize);
        if (cache.Capacity != ContextSize) throw new ArgumentException($"The host cache holds {cache.Capacity} positions, the device cache {ContextSize}.", nameof(cache));
        int hd = _c.HeadDim, vd = _c.ValueDim;
        for (int l = 0; l < _w.Layers; l++)
        {
            for (int h = 0; h < _c.KvHeadCount; h++)
            {
                copy(_keys[l].View.SubView((long)h * ContextSize * hd, (long)count * hd), cache.KeysOf(l, h)[..(count * hd)]);
                copy(_values[l].View.SubView((long)h * ContextSize * vd, (long)count * vd), cache.ValuesOf(l, h)[..(count * vd)]);
            }
        }
    }

    /// <summary>Embedding and the device's blocks for the batch; leaves the residual stream in _x. Caller holds the gate.</summary>
    private void Run(ReadOnlySpan<int> tokens, int startPos)
    {
        var c = _c;
        int n = tokens.Length;
        if (n == 0 || n > MaxBatch) throw new ArgumentOutOfRangeException(nameof(tokens), n, $"A batch holds 1 to {MaxBatch} tokens.");
        if (startPos < 0 || startPos + n > ContextSize) throw new InvalidOperationException($"The context holds {ContextSize} tokens; {startPos + n} were needed.");
        for (int b = 0; b < n; b++)
        {
            int t = tokens[b];
            if ((uint)t >= (uint)c.VocabularySize) throw new ArgumentOutOfRangeException(nameof(tokens), t, $"Token id must be in [0, {c.VocabularySize}).");
            _ids[b] = t;
        }
        _tokens.View.SubView(0, n).CopyFromCPU(_ids.AsSpan(0, n));

        int embd = c.EmbeddingLength, hd = c.HeadDim, vd = c.ValueDim, heads = c.HeadCount, kvHeads = c.KvHeadCount;
        float eps = c.RmsNormEpsilon;
        _k.Embedding(_w.Embedding, _tokens.View, n, _x.View, c.EmbeddingScale);
        for (int l = 0; l < _w.Layers; l++)
        {
            var w = _w.Blocks[l];
            bool local = c.IsSlidingWindowLayer(l);

            // Attention block: q, k, v = RMSNorm(x)·W (+ b); per-head RMSNorm of q and k; RoPE; store k, v; attend over the cache.
            _k.RmsNorm(_x.View, w.AttentionNorm.View, _xn.View, n, embd, eps);
            _k.MatMul(w.Query, _xn.View, _q.View, n);
            _k.MatMul(w.Key, _xn.View, _kv.View, n);
            _k.MatMul(w.Value, _xn.View, _v.View, n);
            if (w.QueryBias is { } qb) _k.AddRows(_q.View, qb.View, n, (int)qb.Length);
            if (w.KeyBias is { } kb) _k.AddRows(_kv.View, kb.View, n, (int)kb.Length);
            if (w.ValueBias is { } vb) _k.AddRows(_v.View, vb.View, n, (int)vb.Length);
            if (w.QueryNorm is { } qn) _k.RmsNorm(_q.View, qn.View, _q.View, n * heads, hd, eps);
            if (w.KeyNorm is { } kn) _k.RmsNorm(_kv.View, kn.View, _kv.View, n * kvHeads, hd, eps);
            var (cos, sin) = local ? (_localCos, _localSin) : (_cos, _sin);
            _k.Rope(_q.View, cos.View, sin.View, n, heads, hd, c.RopeDimensions, startPos, c.RopeStyle);
            _k.Rope(_kv.View, cos.View, sin.View, n, kvHeads, hd, c.RopeDimensions, startPos, c.RopeStyle);
            _k.StoreKv(_kv.View, _keys[l].View, n, kvHeads, hd, ContextSize, startPos, half: true);
            _k.StoreKv(_v.View, _values[l].View, n, kvHeads, vd, ContextSize, startPos, half: true);
            var shape = new AttentionShape(heads, heads / kvHeads, hd, vd, ContextSize, startPos, local ? c.SlidingWindow : 0,
                half: true, _preScale, _scale, c.AttentionSoftcap);
            _k.Attend(_q.View, _keys[l].View, _values[l].View, _attn.View, n, shape);
            _k.MatMul(w.Output, _attn.View, _proj.View, n);
            if (w.PostAttentionNorm is { } pan) _k.RmsNorm(_proj.View, pan.View, _proj.View, n, embd, eps);
            _k.Add(_x.View, _proj.View, n * embd);

            // FFN block (gated): x += Wdown·(act(Wgate·n) ⊙ Wup·n), n = RMSNorm(x).
            _k.RmsNorm(_x.View, w.FfnNorm.View, _xn.View, n, embd, eps);
            _k.MatMul(w.Gate, _xn.View, _gate.View, n);
            _k.MatMul(w.Up, _xn.View, _up.View, n);
            _k.GatedActivation(_gate.View, _up.View, n * c.FeedForwardLength, c.Activation);
            _k.MatMul(w.Down, _gate.View, _proj.View, n);
            if (w.PostFfnNorm is { } pfn) _k.RmsNorm(_proj.View, pfn.View, _proj.View, n, embd, eps);
            _k.Add(_x.View, _proj.View, n * embd);
        }
    }

    private (DeviceBuffer<float> Cos, DeviceBuffer<float> Sin) RopeTables(RopeTable table)
    {
        table.Prepare(0, ContextSize);
        var cos = Own(_backend.Allocate<float>(table.Cos.Length));
        cos.View.CopyFromCPU(table.Cos);
        var sin = Own(_backend.Allocate<float>(table.Sin.Length));
        sin.View.CopyFromCPU(table.Sin);
        return (cos, sin);
    }

    private T Own<T>(T resource) where T : IDisposable
    {
        _owned.Add(resource);
        return resource;
    }

    private DeviceBuffer<float> Zeros(long length)
    {
        var buffer = Own(_backend.Allocate<float>(length));
        buffer.View.MemSetToZero();
        return buffer;
    }

    public void Dispose()
    {
        for (int i = _owned.Count - 1; i >= 0; i--) _owned[i].Dispose();
        _owned.Clear();
    }
}

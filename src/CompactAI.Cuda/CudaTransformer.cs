using CompactAI.Models;
using ILGPU;
using ILGPU.Runtime;

namespace CompactAI.Cuda;

/// <summary>
/// The decoder forward pass of the CPU engine's <see cref="Transformer"/>, one token at a time, on a <see cref="CudaBackend"/>:
/// weights uploaded once in their GGUF layout, the KV cache and every activation on the device; only the logits come back.
/// Per layer: x += Wo·Attn(RoPE(Wq·n), RoPE(Wk·n), Wv·n) with n = RMSNorm(x), then x += Wdown·(act(Wgate·n) ⊙ Wup·n) with
/// n = RMSNorm(x). The KV cache holds half-precision values (as the CPU engine's and llama.cpp's default F16 cache). Supported: the llama graph and its optional biases, Q/K norms, post-norms, GELU, embedding scale, attention
/// soft-cap and sliding windows. Not yet: fused QKV / gate-up projections (Phi-3) and the final logit soft-cap (Gemma 2).
/// </summary>
internal sealed unsafe class CudaTransformer : IDisposable
{
    private readonly CudaBackend _backend;
    private readonly DeviceKernels _k;
    private readonly ModelConfig _c;
    private readonly List<IDisposable> _owned = new();
    private readonly DeviceMatrix _embedding, _output;
    private readonly Layer[] _layers;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _outputNorm;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _x, _xn, _q, _kv, _v, _attn, _proj, _gate, _up, _logits;
    private readonly MemoryBuffer1D<float, Stride1D.Dense>[] _keys, _values;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _cos, _sin, _localCos, _localSin;

    private sealed class Layer
    {
        public required MemoryBuffer1D<float, Stride1D.Dense> AttentionNorm, FfnNorm;
        public MemoryBuffer1D<float, Stride1D.Dense>? QueryBias, KeyBias, ValueBias, QueryNorm, KeyNorm, PostAttentionNorm, PostFfnNorm;
        public required DeviceMatrix Query, Key, Value, Output, Gate, Up, Down;
    }

    public CudaTransformer(CudaBackend backend, ModelConfig config, ModelWeights weights, int contextSize)
    {
        if (config.FinalLogitSoftcap > 0) throw new NotSupportedException("The CUDA backend does not apply the final logit soft-cap yet.");
        _backend = backend;
        _k = backend.Kernels;
        _c = config;
        ContextSize = contextSize;
        var acc = backend.Accelerator;
        try
        {
            _embedding = Own(DeviceMatrix.Upload(acc, weights.TokenEmbedding));
            _output = weights.Output.Data == weights.TokenEmbedding.Data ? _embedding : Own(DeviceMatrix.Upload(acc, weights.Output));
            _outputNorm = Floats(weights.OutputNorm);
            _layers = new Layer[config.BlockCount];
            for (int l = 0; l < _layers.Length; l++)
            {
                var w = weights.Layers[l];
                if (w.Qkv is not null || w.Gate is null) throw new NotSupportedException("The CUDA backend does not run fused QKV or gate-up projections yet.");
                _layers[l] = new Layer
                {
                    AttentionNorm = Floats(w.AttentionNorm),
                    FfnNorm = Floats(w.FfnNorm),
                    QueryBias = OptionalFloats(w.QueryBias),
                    KeyBias = OptionalFloats(w.KeyBias),
                    ValueBias = OptionalFloats(w.ValueBias),
                    QueryNorm = OptionalFloats(w.QueryNorm),
                    KeyNorm = OptionalFloats(w.KeyNorm),
                    PostAttentionNorm = OptionalFloats(w.PostAttentionNorm),
                    PostFfnNorm = OptionalFloats(w.PostFfnNorm),
                    Query = Own(DeviceMatrix.Upload(acc, w.Query!.Value)),
                    Key = Own(DeviceMatrix.Upload(acc, w.Key!.Value)),
                    Value = Own(DeviceMatrix.Upload(acc, w.Value!.Value)),
                    Output = Own(DeviceMatrix.Upload(acc, w.Output)),
                    Gate = Own(DeviceMatrix.Upload(acc, w.Gate.Value)),
                    Up = Own(DeviceMatrix.Upload(acc, w.Up)),
                    Down = Own(DeviceMatrix.Upload(acc, w.Down)),
                };
            }
            int embd = config.EmbeddingLength, ff = config.FeedForwardLength;
            _x = Zeros(embd);
            _xn = Zeros(embd);
            _q = Zeros(config.HeadCount * config.HeadDim);
            _kv = Zeros(config.KvHeadCount * config.HeadDim);
            _v = Zeros(config.KvHeadCount * config.ValueDim);
            _attn = Zeros(config.HeadCount * config.ValueDim);
            _proj = Zeros(embd);
            _gate = Zeros(ff);
            _up = Zeros(ff);
            _logits = Zeros(config.VocabularySize);
            _keys = new MemoryBuffer1D<float, Stride1D.Dense>[config.BlockCount];
            _values = new MemoryBuffer1D<float, Stride1D.Dense>[config.BlockCount];
            for (int l = 0; l < config.BlockCount; l++)
            {
                _keys[l] = Zeros((long)config.KvHeadCount * contextSize * config.HeadDim);
                _values[l] = Zeros((long)config.KvHeadCount * contextSize * config.ValueDim);
            }
            var (cos, sin) = RopeAngles.Build(config.RopeDimensions, config.RopeFreqBase, config.RopeFreqScale, weights.RopeFrequencyFactors, contextSize);
            _cos = Floats(cos);
            _sin = Floats(sin);
            if (config.SlidingWindowLayers is null)
            {
                (_localCos, _localSin) = (_cos, _sin);
            }
            else
            {
                var (lc, ls) = RopeAngles.Build(config.RopeDimensions, config.SlidingWindowRopeFreqBase, 1.0f, weights.RopeFrequencyFactors, contextSize);
                _localCos = Floats(lc);
                _localSin = Floats(ls);
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>Positions the device KV cache holds.</summary>
    public int ContextSize { get; }

    /// <summary>
    /// Runs <paramref name="token"/> at position <paramref name="pos"/> (positions 0 … pos − 1 must already be in the cache)
    /// and copies its logits into <paramref name="logits"/> (vocabulary length).
    /// </summary>
    public void Forward(int token, int pos, Span<float> logits)
    {
        var c = _c;
        if ((uint)token >= (uint)c.VocabularySize) throw new ArgumentOutOfRangeException(nameof(token), token, $"Token id must be in [0, {c.VocabularySize}).");
        if ((uint)pos >= (uint)ContextSize) throw new ArgumentOutOfRangeException(nameof(pos), pos, $"The context holds {ContextSize} positions.");
        if (logits.Length < c.VocabularySize) throw new ArgumentException($"Logits hold {logits.Length} values, need {c.VocabularySize}.", nameof(logits));
        int embd = c.EmbeddingLength, hd = c.HeadDim, vd = c.ValueDim, half = c.RopeDimensions / 2;
        float eps = c.RmsNormEpsilon;
        _k.Embedding(_embedding, token, _x.View, c.EmbeddingScale);
        for (int l = 0; l < _layers.Length; l++)
        {
            var w = _layers[l];
            bool local = c.IsSlidingWindowLayer(l);

            _k.RmsNorm(_x.View, w.AttentionNorm.View, _xn.View, 1, embd, eps);
            _k.MatVec(w.Query, _xn.View, _q.View);
            _k.MatVec(w.Key, _xn.View, _kv.View);
            _k.MatVec(w.Value, _xn.View, _v.View);
            if (w.QueryBias is { } qb) _k.Add(_q.View, qb.View, (int)qb.Length);
            if (w.KeyBias is { } kb) _k.Add(_kv.View, kb.View, (int)kb.Length);
            if (w.ValueBias is { } vb) _k.Add(_v.View, vb.View, (int)vb.Length);
            if (w.QueryNorm is { } qn) _k.RmsNorm(_q.View, qn.View, _q.View, c.HeadCount, hd, eps);
            if (w.KeyNorm is { } kn) _k.RmsNorm(_kv.View, kn.View, _kv.View, c.KvHeadCount, hd, eps);
            var cos = (local ? _localCos : _cos).View.SubView((long)pos * half, half);
            var sin = (local ? _localSin : _sin).View.SubView((long)pos * half, half);
            _k.Rope(_q.View, cos, sin, c.HeadCount, hd, c.RopeDimensions, c.RopeStyle);
            _k.Rope(_kv.View, cos, sin, c.KvHeadCount, hd, c.RopeDimensions, c.RopeStyle);
            _k.StoreKv(_kv.View, _keys[l].View, c.KvHeadCount, hd, ContextSize, pos, half: true);
            _k.StoreKv(_v.View, _values[l].View, c.KvHeadCount, vd, ContextSize, pos, half: true);
            int len = pos + 1, first = local && c.SlidingWindow > 0 ? Math.Max(0, len - c.SlidingWindow) : 0;
            _k.Attend(_q.View, _keys[l].View, _values[l].View, _attn.View, c.HeadCount, c.KvHeadCount, hd, vd, ContextSize, first, len,
                c.AttentionScale, c.AttentionSoftcap, half: true);
            _k.MatVec(w.Output, _attn.View, _proj.View);
            if (w.PostAttentionNorm is { } pan) _k.RmsNorm(_proj.View, pan.View, _proj.View, 1, embd, eps);
            _k.Add(_x.View, _proj.View, embd);

            _k.RmsNorm(_x.View, w.FfnNorm.View, _xn.View, 1, embd, eps);
            _k.MatVec(w.Gate, _xn.View, _gate.View);
            _k.MatVec(w.Up, _xn.View, _up.View);
            _k.GatedActivation(_gate.View, _up.View, c.FeedForwardLength, c.Activation);
            _k.MatVec(w.Down, _gate.View, _proj.View);
            if (w.PostFfnNorm is { } pfn) _k.RmsNorm(_proj.View, pfn.View, _proj.View, 1, embd, eps);
            _k.Add(_x.View, _proj.View, embd);
        }
        _k.RmsNorm(_x.View, _outputNorm.View, _xn.View, 1, embd, eps);
        _k.MatVec(_output, _xn.View, _logits.View);
        _k.Synchronize();
        ArrayView<float> result = _logits.View;
        result.SubView(0, c.VocabularySize).CopyToCPU(logits[..c.VocabularySize]);
    }

    private T Own<T>(T resource) where T : IDisposable
    {
        _owned.Add(resource);
        return resource;
    }

    private MemoryBuffer1D<float, Stride1D.Dense> Zeros(long length)
    {
        var buffer = Own(_backend.Accelerator.Allocate1D<float>(length));
        buffer.MemSetToZero();
        return buffer;
    }

    private MemoryBuffer1D<float, Stride1D.Dense> Floats(float[] values) => Own(_backend.Accelerator.Allocate1D(values));

    private MemoryBuffer1D<float, Stride1D.Dense>? OptionalFloats(float[]? values) => values is null ? null : Floats(values);

    public void Dispose()
    {
        for (int i = _owned.Count - 1; i >= 0; i--) _owned[i].Dispose();
        _owned.Clear();
    }
}

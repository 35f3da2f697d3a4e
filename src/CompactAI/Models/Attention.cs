using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using CompactAI.Inference;
using CompactAI.Tensors;
using CompactAI.Threading;

namespace CompactAI.Models;

/// <summary>
/// Causal grouped-query attention over the KV cache, for a batch of consecutive tokens:
/// out_h = softmax(q_h·Kᵀ / √d + causal mask) · V, where query head h reads key/value head h / (heads / kvHeads).
/// Items are (token, head) pairs spread over the worker pool. Each head's keys and values are contiguous in the cache,
/// so the two inner loops are plain strided dot products and axpys.
/// </summary>
internal sealed class Attention : IParallelJob
{
    private readonly WorkerPool _pool;
    private readonly int _heads, _kvHeads, _headDim, _valueDim;
    private readonly float _scale, _softcap;

    // Dispatch state.
    private float[] _q = [], _out = [];
    private KvCache? _cache;
    private int _layer, _startPos, _window;

    [ThreadStatic] private static float[]? t_scores;

    public Attention(ModelConfig c, WorkerPool pool)
    {
        _pool = pool;
        _heads = c.HeadCount;
        _kvHeads = c.KvHeadCount;
        _headDim = c.HeadDim;
        _valueDim = c.ValueDim;
        _scale = c.AttentionScale;
        _softcap = c.AttentionSoftcap;
    }

    /// <summary>
    /// out[b, h, :] for tokens b at positions startPos + b, whose keys and values are already in the cache.
    /// With a <paramref name="window"/> &gt; 0, position p attends only to positions t with p − t &lt; window.
    /// </summary>
    public void Run(float[] q, KvCache cache, int layer, int startPos, int batch, float[] output, int window)
    {
        _window = window;
        _q = q;
        _out = output;
        _cache = cache;
        _layer = layer;
        _startPos = startPos;
        // Keep about 4K multiply-adds per chunk so short contexts do not pay for dispatch.
        int perItem = (startPos + batch) * (_headDim + _valueDim);
        _pool.Run(this, batch * _heads, Math.Max(1, 4096 / Math.Max(1, perItem)));
        _cache = null;
    }

    public void Execute(int start, int end)
    {
        var cache = _cache!;
        int group = _heads / _kvHeads, hd = _headDim, vd = _valueDim;
        int maxLen = _startPos + end / _heads + 1;
        var scores = t_scores is { } s && s.Length >= maxLen ? s : (t_scores = new float[Math.Max(maxLen, 256)]);
        Span<float> q = stackalloc float[hd];
        for (int item = start; item < end; item++)
        {
            int b = item / _heads, h = item % _heads, kvh = h / group;
            int len = _startPos + b + 1; // causal: positions 0…pos
            int first = _window > 0 ? Math.Max(0, len - _window) : 0; // sliding window: the last `window` positions
            var keys = cache.KeysOf(_layer, kvh);
            var values = cache.ValuesOf(_layer, kvh);
            // llama.cpp's F16 cache multiplies a half-precision copy of q with the keys.
            TensorOps.RoundToHalf(_q.AsSpan(item * hd, hd), q);
            var p = scores.AsSpan(first, len - first);
            for (int t = first; t < len; t++) p[t - first] = Dot(q, keys.Slice(t * hd, hd));
            TensorPrimitives.Multiply(p, _scale, p);
            if (_softcap > 0) TensorOps.Softcap(p, _softcap);
            TensorOps.Softmax(p);
            TensorOps.RoundToHalf(p, p); // …and half-precision attention weights with the values
            var o = _out.AsSpan(item * vd, vd);
            o.Clear();
            for (int t = first; t < len; t++) Axpy(p[t - first], values.Slice(t * vd, vd), o);
        }
    }

    /// <summary>Σ a[i]·b[i] for short vectors (a head: 8–256 floats), without a library call per position.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        int n = a.Length, i = 0;
        ref float ra = ref MemoryMarshal.GetReference(a);
        ref float rb = ref MemoryMarshal.GetReference(b);
        var acc = Vector256<float>.Zero;
        for (; i + 8 <= n; i += 8)
            acc = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref ra, (nuint)i), Vector256.LoadUnsafe(ref rb, (nuint)i), acc);
        float sum = Vector256.Sum(acc);
        for (; i < n; i++) sum += Unsafe.Add(ref ra, i) * Unsafe.Add(ref rb, i);
        return sum;
    }

    /// <summary>y += α·x.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Axpy(float alpha, ReadOnlySpan<float> x, Span<float> y)
    {
        int n = x.Length, i = 0;
        ref float rx = ref MemoryMarshal.GetReference(x);
        ref float ry = ref MemoryMarshal.GetReference(y);
        var va = Vector256.Create(alpha);
        for (; i + 8 <= n; i += 8)
            Vector256.FusedMultiplyAdd(va, Vector256.LoadUnsafe(ref rx, (nuint)i), Vector256.LoadUnsafe(ref ry, (nuint)i)).StoreUnsafe(ref ry, (nuint)i);
        for (; i < n; i++) Unsafe.Add(ref ry, i) += alpha * Unsafe.Add(ref rx, i);
    }
}

using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using CompactAI.Inference;
using CompactAI.Tensors;
using CompactAI.Tensors.Native;
using CompactAI.Threading;

namespace CompactAI.Models;

/// <summary>
/// Causal grouped-query attention over the KV cache, for a batch of tokens of one or more sequences:
/// out_h = softmax(q_h·Kᵀ·scale + causal mask) · V, where query head h reads key/value head h / (heads / kvHeads).
/// It is computed in one pass with an online softmax, exactly as llama.cpp's CPU flash attention does with its default
/// F16 cache: q is rounded to half precision (after the scale, for the families whose graph scales q itself), and the
/// running Σ p·v is kept in half precision (rescaled when a new maximum appears) and divided by Σ p at the end.
/// Matching that arithmetic is what makes our probabilities agree with llama.cpp's to 1e-3. Items are (token, head) pairs spread over the worker pool; each head's keys and values
/// are contiguous in the cache.
/// </summary>
internal sealed class Attention : IParallelJob
{
    /// <summary>Whether the native loop runs: the model computes with the native kernels (<see cref="FormatSet.IsNative"/>).</summary>
    private readonly bool _native;

    private readonly WorkerPool _pool;
    private readonly int _heads, _kvHeads, _headDim, _valueDim;
    private readonly float _preScale, _scale, _softcap;

    // Dispatch state: each batch row's sequence cache and position (rows of several sequences share one dispatch).
    private float[] _q = [], _out = [];
    private KvCache?[] _caches = [];
    private int[] _positions = [];
    private int _layer, _window;

    /// <param name="c">The model's hyper-parameters.</param>
    /// <param name="pool">The worker pool.</param>
    /// <param name="formats">The model's kernels (null: the default set); the native loop runs with <see cref="FormatSet.Native"/>.</param>
    public Attention(ModelConfig c, WorkerPool pool, FormatSet? formats = null)
    {
        _pool = pool;
        _native = (formats ?? FormatSet.Default).IsNative;
        _heads = c.HeadCount;
        _kvHeads = c.KvHeadCount;
        _headDim = c.HeadDim;
        _valueDim = c.ValueDim;
        // Families whose llama.cpp graph multiplies q by the scale itself hand flash attention a scale of 1, so the
        // scaled q is what gets rounded to half. With a soft-cap, ggml folds 1/cap into the scale: s = cap·tanh(q·k·(scale/cap)).
        _preScale = c.ScaleQueryBeforeAttention ? c.AttentionScale : 1.0f;
        _softcap = c.AttentionSoftcap;
        float scale = c.ScaleQueryBeforeAttention ? 1.0f : c.AttentionScale;
        _scale = _softcap > 0 ? scale / _softcap : scale;
    }

    /// <summary>
    /// out[b, h, :] for batch rows b, row b at position <paramref name="positions"/>[b] of the sequence whose cache is
    /// <paramref name="caches"/>[b] (its key and value already stored there). Each row attends over its own sequence's
    /// cache only, with the same arithmetic whatever else is in the batch.
    /// With a <paramref name="window"/> &gt; 0, position p attends only to positions t with p − t &lt; window.
    /// </summary>
    public void Run(float[] q, KvCache?[] caches, int[] positions, int layer, int batch, float[] output, int window)
    {
        _window = window;
        _q = q;
        _out = output;
        _caches = caches;
        _positions = positions;
        _layer = layer;
        // Keep about 4K multiply-adds per chunk so short contexts do not pay for dispatch.
        int longest = 0;
        for (int b = 0; b < batch; b++) longest = Math.Max(longest, positions[b] + 1);
        int perItem = longest * (_headDim + _valueDim);
        _pool.Run(this, batch * _heads, Math.Max(1, 4096 / Math.Max(1, perItem)));
        _caches = [];
    }

    public void Execute(int start, int end)
    {
        int group = _heads / _kvHeads, hd = _headDim, vd = _valueDim;
        Span<float> q = stackalloc float[hd];
        Span<float> acc = stackalloc float[vd];
        for (int item = start; item < end; item++)
        {
            int b = item / _heads, h = item % _heads, kvh = h / group;
            var cache = _caches[b]!;
            int len = _positions[b] + 1; // causal: positions 0…pos
            int first = _window > 0 ? Math.Max(0, len - _window) : 0; // sliding window: the last `window` positions
            var keys = cache.KeysOf(_layer, kvh);
            var values = cache.ValuesOf(_layer, kvh);
            if (_preScale != 1.0f)
            {
                TensorPrimitives.Multiply(_q.AsSpan(item * hd, hd), _preScale, q);
                TensorMath.RoundToHalf(q, q);
            }
            else
            {
                TensorMath.RoundToHalf(_q.AsSpan(item * hd, hd), q);
            }
            var output = _out.AsSpan(item * vd, vd);
            if (_native) AttendNative(q, keys, values, first, len, _scale, _softcap, acc, output);
            else AttendManaged(q, keys, values, first, len, _scale, _softcap, acc, output);
        }
    }

    /// <summary>
    /// One query row over positions [first, len) of one KV head: the online softmax with the F16 running sum.
    /// <paramref name="q"/> is already scaled and rounded; <paramref name="acc"/> is value-dim scratch.
    /// </summary>
    internal static void AttendManaged(ReadOnlySpan<float> q, ReadOnlySpan<float> keys, ReadOnlySpan<float> values, int first, int len,
        float scale, float softcap, Span<float> acc, Span<float> output)
    {
        int hd = q.Length, vd = acc.Length;
        acc.Clear();
        float max = float.NegativeInfinity, sum = 0;
        for (int t = first; t < len; t++)
        {
            float s = Dot(q, keys.Slice(t * hd, hd)) * scale;
            if (softcap > 0) s = softcap * MathF.Tanh(s);
            float weight = 1;
            if (s > max)
            {
                // A new maximum: rescale what was accumulated so far by e^(old max − new max).
                float rescale = MathF.Exp(max - s);
                max = s;
                TensorPrimitives.Multiply(acc, rescale, acc);
                TensorMath.RoundToHalf(acc, acc);
                sum *= rescale;
            }
            else
            {
                weight = MathF.Exp(s - max);
            }
            Axpy(weight, values.Slice(t * vd, vd), acc);
            TensorMath.RoundToHalf(acc, acc);
            sum += weight;
        }
        TensorPrimitives.Divide(acc, sum, output);
    }

    /// <summary><see cref="AttendManaged"/> in C, where the half rounding is one F16C round trip per eight values.</summary>
    internal static unsafe void AttendNative(ReadOnlySpan<float> q, ReadOnlySpan<float> keys, ReadOnlySpan<float> values, int first, int len,
        float scale, float softcap, Span<float> acc, Span<float> output)
    {
        if (keys.Length < len * q.Length || values.Length < len * acc.Length || output.Length < acc.Length)
            throw new ArgumentException("The keys, values or output are shorter than the positions and dimensions need.");
        fixed (float* pq = q, pk = keys, pv = values, pacc = acc, pout = output)
            NativeKernels.Attend(pq, pk, pv, q.Length, acc.Length, first, len, scale, softcap, pacc, pout);
    }

    /// <summary>
    /// Σ a[i]·b[i] over a head (8–256 half-representable floats, so every product is exact), summed in llama.cpp's order
    /// (<c>ggml_vec_dot_f16</c> on AVX/AVX2, what its flash attention dots q with each key with): four 8-wide accumulators
    /// over steps of 32, folded (0 + 2) + (1 + 3), the halves added, then (l0 + l1) + (l2 + l3); the n mod 32 leftovers
    /// added one by one in double. Another order moves a score by an ulp, which flips the odd half rounding downstream.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        int n = a.Length, i = 0, np = n & ~31;
        ref float ra = ref MemoryMarshal.GetReference(a);
        ref float rb = ref MemoryMarshal.GetReference(b);
        Vector256<float> s0 = Vector256<float>.Zero, s1 = s0, s2 = s0, s3 = s0;
        for (; i < np; i += 32)
        {
            s0 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref ra, (nuint)i), Vector256.LoadUnsafe(ref rb, (nuint)i), s0);
            s1 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref ra, (nuint)(i + 8)), Vector256.LoadUnsafe(ref rb, (nuint)(i + 8)), s1);
            s2 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref ra, (nuint)(i + 16)), Vector256.LoadUnsafe(ref rb, (nuint)(i + 16)), s2);
            s3 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref ra, (nuint)(i + 24)), Vector256.LoadUnsafe(ref rb, (nuint)(i + 24)), s3);
        }
        var v = (s0 + s2) + (s1 + s3);
        var t0 = v.GetLower() + v.GetUpper();
        double sum = (t0.GetElement(0) + t0.GetElement(1)) + (t0.GetElement(2) + t0.GetElement(3));
        for (; i < n; i++) sum += Unsafe.Add(ref ra, i) * Unsafe.Add(ref rb, i);
        return (float)sum;
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

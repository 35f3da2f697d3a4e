using ILGPU;

namespace CompactAI.Cuda.Kernels;

/// <summary>
/// Causal grouped-query attention of one query position over the device KV cache, and the cache store.
/// Cache layout per layer: keys [kvHead][capacity][headDim], values [kvHead][capacity][valueDim] (floats), as the CPU KvCache.
/// Arithmetic: a plain online softmax in float. The CPU engine reproduces llama.cpp's flash attention with an F16 cache
/// (q rounded to half, Σp·v kept in half); this kernel keeps everything in float, so results differ by about half-precision
/// rounding (≈1e-3 relative), not by maths.
/// </summary>
internal static class AttentionKernels
{
    /// <summary>Index: kvHead·dim + d. Writes one token's k (or v) row into the cache at <paramref name="pos"/>.</summary>
    public static void Store(Index1D index, ArrayView<float> src, ArrayView<float> cache, int dim, int capacity, int pos)
    {
        int h = index / dim, d = index % dim;
        cache[((long)h * capacity + pos) * dim + d] = src[index];
    }

    /// <summary>
    /// Grid: one warp per query head; lane k owns dimensions k, k + warp, … of the head. out_h = softmax(q_h·Kᵀ·scale) · V over
    /// positions [first, len), soft-capped when <paramref name="softcap"/> &gt; 0. The output row doubles as the accumulator.
    /// </summary>
    public static void Attend(ArrayView<float> q, ArrayView<float> keys, ArrayView<float> values, ArrayView<float> output,
        int group, int headDim, int valueDim, int capacity, int first, int len, float scale, float softcap)
    {
        int h = Grid.IdxX, lane = Group.IdxX, stride = Group.DimX, kvh = h / group;
        long qo = (long)h * headDim, oo = (long)h * valueDim;
        long kBase = (long)kvh * capacity * headDim, vBase = (long)kvh * capacity * valueDim;
        for (int d = lane; d < valueDim; d += stride) output[oo + d] = 0;
        float max = float.NegativeInfinity, sum = 0;
        for (int t = first; t < len; t++)
        {
            float partial = 0;
            long k = kBase + (long)t * headDim;
            for (int d = lane; d < headDim; d += stride) partial += q[qo + d] * keys[k + d];
            float s = WarpReduce.Sum(partial) * scale;
            if (softcap > 0) s = softcap * MathF.Tanh(s / softcap);
            float weight = 1, rescale = 1;
            if (s > max)
            {
                rescale = MathF.Exp(max - s);
                max = s;
            }
            else
            {
                weight = MathF.Exp(s - max);
            }
            sum = sum * rescale + weight;
            long v = vBase + (long)t * valueDim;
            for (int d = lane; d < valueDim; d += stride) output[oo + d] = output[oo + d] * rescale + weight * values[v + d];
        }
        float inv = 1.0f / sum;
        for (int d = lane; d < valueDim; d += stride) output[oo + d] *= inv;
    }
}

using ILGPU;

namespace CompactAI.Cuda.Kernels;

/// <summary>
/// Causal grouped-query attention of one query position over the device KV cache, and the cache store.
/// Cache layout per layer: keys [kvHead][capacity][headDim], values [kvHead][capacity][valueDim] (floats), as the CPU KvCache.
/// Arithmetic: with <c>half</c> set, keys/values are stored rounded to half precision and q is rounded to half when read, as the
/// CPU engine (llama.cpp's default F16 cache) does; the online softmax and Σp·v then run in float. The CPU engine also keeps the
/// running Σp·v in half precision (llama.cpp's flash-attention accumulator); this kernel does not, so outputs differ by about
/// half-precision rounding of the accumulator (≲1e-3 relative), not by maths.
/// </summary>
internal static class AttentionKernels
{
    /// <summary>Index: kvHead·dim + d. Writes one token's k (or v) row into the cache at <paramref name="pos"/> (rounded to half when <paramref name="half"/> ≠ 0).</summary>
    public static void Store(Index1D index, ArrayView<float> src, ArrayView<float> cache, int dim, int capacity, int pos, int half)
    {
        int h = index / dim, d = index % dim;
        float v = src[index];
        cache[((long)h * capacity + pos) * dim + d] = half != 0 ? Dequant.RoundToHalf(v) : v;
    }

    /// <summary>
    /// Grid: one warp per query head; lane k owns dimensions k, k + warp, … of the head. out_h = softmax(q_h·Kᵀ·scale) · V over
    /// positions [first, len) (q rounded to half first when <paramref name="half"/> ≠ 0), soft-capped when <paramref name="softcap"/> &gt; 0. The output row doubles as the accumulator.
    /// </summary>
    public static void Attend(ArrayView<float> q, ArrayView<float> keys, ArrayView<float> values, ArrayView<float> output,
        int group, int headDim, int valueDim, int capacity, int first, int len, float scale, float softcap, int half)
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
            for (int d = lane; d < headDim; d += stride)
            {
                float qd = half != 0 ? Dequant.RoundToHalf(q[qo + d]) : q[qo + d];
                partial += qd * keys[k + d];
            }
            float s = WarpReduce.Sum(partial) * scale;
            if (softcap > 0) s = softcap * DeviceMath.Tanh(s / softcap);
            float weight = 1, rescale = 1;
            if (s > max)
            {
                rescale = DeviceMath.Exp(max - s);
                max = s;
            }
            else
            {
                weight = DeviceMath.Exp(s - max);
            }
            sum = sum * rescale + weight;
            long v = vBase + (long)t * valueDim;
            for (int d = lane; d < valueDim; d += stride) output[oo + d] = output[oo + d] * rescale + weight * values[v + d];
        }
        float inv = 1.0f / sum;
        for (int d = lane; d < valueDim; d += stride) output[oo + d] *= inv;
    }
}

using ILGPU;

namespace CompactAI.Cuda.Kernels;

/// <summary>The fixed parameters of one attention launch (packed in a struct: a kernel takes a limited number of arguments).</summary>
internal readonly struct AttentionShape(int heads, int group, int headDim, int valueDim, int capacity, int startPos, int window,
    bool half, float preScale, float scale, float softcap)
{
    /// <summary>Query heads.</summary>
    public readonly int Heads = heads;

    /// <summary>Query heads per KV head.</summary>
    public readonly int Group = group;

    /// <summary>Floats per key (and query) head.</summary>
    public readonly int HeadDim = headDim;

    /// <summary>Floats per value head.</summary>
    public readonly int ValueDim = valueDim;

    /// <summary>Positions per cache layer.</summary>
    public readonly int Capacity = capacity;

    /// <summary>Position of the batch's first token.</summary>
    public readonly int StartPos = startPos;

    /// <summary>Sliding window (0: none): position p attends to t with p − t &lt; window.</summary>
    public readonly int Window = window;

    /// <summary>1: q is rounded to half before the dot products (F16 cache arithmetic).</summary>
    public readonly int Half = half ? 1 : 0;

    /// <summary>Multiplier of q before the rounding (Gemma, Phi-3: the attention scale; else 1).</summary>
    public readonly float PreScale = preScale;

    /// <summary>Multiplier of q·k (already divided by the soft-cap when there is one).</summary>
    public readonly float Scale = scale;

    /// <summary>Soft-cap c: s = c·tanh(s) (0: off).</summary>
    public readonly float Softcap = softcap;
}

/// <summary>
/// Causal grouped-query attention of a batch of consecutive query positions over the device KV cache, and the cache store.
/// Cache layout per layer: keys [kvHead][capacity][headDim], values [kvHead][capacity][valueDim] (floats), as the CPU KvCache.
/// Arithmetic as the CPU engine's Attention: keys/values are stored rounded to half precision; q is multiplied by the pre-scale
/// and rounded to half; s = q·k·scale, soft-capped as c·tanh(s); online softmax. The CPU engine also keeps the running Σp·v in
/// half precision (llama.cpp's flash-attention accumulator); this kernel keeps it in float, so outputs differ by about
/// half-precision rounding of the accumulator (≲1e-3 relative), not by maths.
/// </summary>
internal static class AttentionKernels
{
    /// <summary>
    /// Index: (b·kvHeads + h)·dim + d over the batch. Writes token b's k (or v) row into the cache at position startPos + b
    /// (rounded to half when <paramref name="half"/> ≠ 0).
    /// </summary>
    public static void Store(Index1D index, ArrayView<float> src, ArrayView<float> cache, int heads, int dim, int capacity, int startPos, int half)
    {
        int row = index / dim, d = index % dim, b = row / heads, h = row % heads;
        float v = src[index];
        cache[((long)h * capacity + startPos + b) * dim + d] = half != 0 ? Dequant.RoundToHalf(v) : v;
    }

    /// <summary>
    /// Grid: one warp per (token, query head), group index b·heads + h; lane k owns dimensions k, k + warp, … of the head. Token b
    /// at position p = startPos + b attends to positions [max(0, p + 1 − window), p] (all of [0, p] without a window). The output
    /// row doubles as the accumulator.
    /// </summary>
    public static void Attend(ArrayView<float> q, ArrayView<float> keys, ArrayView<float> values, ArrayView<float> output, AttentionShape s)
    {
        int item = Grid.IdxX, lane = Group.IdxX, stride = Group.DimX;
        int b = item / s.Heads, kvh = item % s.Heads / s.Group;
        int len = s.StartPos + b + 1, first = s.Window > 0 && len > s.Window ? len - s.Window : 0;
        long qo = (long)item * s.HeadDim, oo = (long)item * s.ValueDim;
        long kBase = (long)kvh * s.Capacity * s.HeadDim, vBase = (long)kvh * s.Capacity * s.ValueDim;
        for (int d = lane; d < s.ValueDim; d += stride) output[oo + d] = 0;
        float max = float.NegativeInfinity, sum = 0;
        for (int t = first; t < len; t++)
        {
            float partial = 0;
            long k = kBase + (long)t * s.HeadDim;
            for (int d = lane; d < s.HeadDim; d += stride)
            {
                float qd = q[qo + d] * s.PreScale;
                if (s.Half != 0) qd = Dequant.RoundToHalf(qd);
                partial += qd * keys[k + d];
            }
            float score = WarpReduce.Sum(partial) * s.Scale;
            if (s.Softcap > 0) score = s.Softcap * DeviceMath.Tanh(score);
            float weight = 1, rescale = 1;
            if (score > max)
            {
                rescale = DeviceMath.Exp(max - score);
                max = score;
            }
            else
            {
                weight = DeviceMath.Exp(score - max);
            }
            sum = sum * rescale + weight;
            long v = vBase + (long)t * s.ValueDim;
            for (int d = lane; d < s.ValueDim; d += stride) output[oo + d] = output[oo + d] * rescale + weight * values[v + d];
        }
        float inv = 1.0f / sum;
        for (int d = lane; d < s.ValueDim; d += stride) output[oo + d] *= inv;
    }
}

using ILGPU;

namespace CompactAI.Cuda.Kernels;

/// <summary>Butterfly reductions across one warp (every lane gets the result). The kernels using them launch one warp per group.</summary>
internal static class WarpReduce
{
    /// <summary>Σ over the warp's lanes.</summary>
    public static float Sum(float v)
    {
        for (int offset = Warp.WarpSize / 2; offset > 0; offset /= 2) v += Warp.ShuffleXor(v, offset);
        return v;
    }

    /// <summary>max over the warp's lanes.</summary>
    public static float Max(float v)
    {
        for (int offset = Warp.WarpSize / 2; offset > 0; offset /= 2) v = MathF.Max(v, Warp.ShuffleXor(v, offset));
        return v;
    }
}

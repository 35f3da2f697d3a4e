using ILGPU;

namespace CompactAI.Cuda.Kernels;

/// <summary>RMSNorm, dst = x / √(mean(x²) + ε) ⊙ gain, per row (TensorMath.RmsNorm; the CPU sums squares in double, this in float).</summary>
internal static class NormKernels
{
    /// <summary>Grid: one warp per row of <paramref name="n"/> elements; <paramref name="gain"/> is shared by every row.</summary>
    public static void RmsNorm(ArrayView<float> x, ArrayView<float> gain, ArrayView<float> dst, int n, float epsilon)
    {
        int row = Grid.IdxX, lane = Group.IdxX, stride = Group.DimX;
        long offset = (long)row * n;
        float sum = 0;
        for (int i = lane; i < n; i += stride)
        {
            float v = x[offset + i];
            sum += v * v;
        }
        sum = WarpReduce.Sum(sum);
        float scale = 1.0f / MathF.Sqrt(sum / n + epsilon);
        for (int i = lane; i < n; i += stride) dst[offset + i] = x[offset + i] * scale * gain[i];
    }
}

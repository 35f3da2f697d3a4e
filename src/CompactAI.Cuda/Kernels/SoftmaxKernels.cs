using ILGPU;

namespace CompactAI.Cuda.Kernels;

/// <summary>In-place softmax per row, p = exp(x − max) / Σ exp(x − max) (TensorMath.Softmax; the CPU sums in double, this in float).</summary>
internal static class SoftmaxKernels
{
    /// <summary>Grid: one warp per row of <paramref name="n"/> elements.</summary>
    public static void Softmax(ArrayView<float> x, int n)
    {
        int row = Grid.IdxX, lane = Group.IdxX, stride = Group.DimX;
        long offset = (long)row * n;
        float max = float.NegativeInfinity;
        for (int i = lane; i < n; i += stride) max = MathF.Max(max, x[offset + i]);
        max = WarpReduce.Max(max);
        float sum = 0;
        for (int i = lane; i < n; i += stride)
        {
            float e = DeviceMath.Exp(x[offset + i] - max);
            x[offset + i] = e;
            sum += e;
        }
        sum = WarpReduce.Sum(sum);
        float inv = 1.0f / sum;
        for (int i = lane; i < n; i += stride) x[offset + i] *= inv;
    }
}

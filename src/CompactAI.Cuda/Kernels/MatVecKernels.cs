using ILGPU;

namespace CompactAI.Cuda.Kernels;

/// <summary>
/// Dequantize-and-dot matrix–vector product, y[r] = Σ_c W[r, c]·x[c], over weights in their GGUF block layout.
/// One warp per output row: lane k decodes elements k, k + warp, … (see <see cref="Dequant.Element"/>), multiplies by the
/// float activation and the warp sums the partial products. Activations stay in float (the CPU engine quantizes them to
/// Q8_0/Q8_K for its integer dot), so this agrees with dequantize-then-dot to float rounding.
/// </summary>
internal static class MatVecKernels
{
    /// <summary>Grid: one group (one warp) per row of <paramref name="y"/>.</summary>
    public static void MatVec(ArrayView<byte> w, ArrayView<float> x, ArrayView<float> y, int type, int cols, long rowBytes)
    {
        int row = Grid.IdxX, lane = Group.IdxX, stride = Group.DimX;
        long offset = row * rowBytes;
        float sum = 0;
        for (int c = lane; c < cols; c += stride) sum += Dequant.Element(w, offset, c, type) * x[c];
        sum = WarpReduce.Sum(sum);
        if (lane == 0) y[row] = sum;
    }
}

using ILGPU;

namespace CompactAI.Cuda.Kernels;

/// <summary>The shape of one matrix–matrix product: <see cref="Rows"/> × <see cref="Columns"/> weights in GGUF type <see cref="Type"/>, <see cref="Tokens"/> activation rows.</summary>
internal readonly struct MatMulShape(int type, int rows, int columns, long rowBytes, int tokens)
{
    /// <summary>The weights' <see cref="CompactAI.Tensors.GgmlType"/> id.</summary>
    public readonly int Type = type;

    /// <summary>Output features (weight rows).</summary>
    public readonly int Rows = rows;

    /// <summary>Input features (weight columns).</summary>
    public readonly int Columns = columns;

    /// <summary>Bytes per weight row.</summary>
    public readonly long RowBytes = rowBytes;

    /// <summary>Activation rows (tokens).</summary>
    public readonly int Tokens = tokens;
}

/// <summary>
/// Dequantize-and-dot matrix–matrix product for prompt batches, Y[b, r] = Σ_c W[r, c]·X[b, c] (X: [tokens × cols], Y: [tokens × rows]).
/// One warp per (weight row, tile of <see cref="Tile"/> tokens): each lane decodes a weight element once and multiplies it into
/// the tile's eight accumulators, so the weights are read and dequantized once per tile rather than once per token. The warp
/// then sums each accumulator. X must hold whole tiles (rows up to the next multiple of <see cref="Tile"/>): rows past
/// <see cref="MatMulShape.Tokens"/> are read, and their sums are discarded.
/// </summary>
internal static class MatMulKernels
{
    /// <summary>Tokens per tile.</summary>
    public const int Tile = 8;

    /// <summary>Grid: rows × ⌈tokens / 8⌉ groups of one warp (group g: row g mod rows, tile g / rows).</summary>
    public static void MatMul(ArrayView<byte> w, ArrayView<float> x, ArrayView<float> y, MatMulShape s)
    {
        int group = Grid.IdxX, lane = Group.IdxX, stride = Group.DimX;
        int row = group % s.Rows, b0 = group / s.Rows * Tile;
        long offset = row * s.RowBytes, cols = s.Columns;
        long x0 = b0 * cols;
        float a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0;
        for (int c = lane; c < s.Columns; c += stride)
        {
            float v = Dequant.Element(w, offset, c, s.Type);
            long i = x0 + c;
            a0 += v * x[i];
            a1 += v * x[i + cols];
            a2 += v * x[i + 2 * cols];
            a3 += v * x[i + 3 * cols];
            a4 += v * x[i + 4 * cols];
            a5 += v * x[i + 5 * cols];
            a6 += v * x[i + 6 * cols];
            a7 += v * x[i + 7 * cols];
        }
        a0 = WarpReduce.Sum(a0);
        a1 = WarpReduce.Sum(a1);
        a2 = WarpReduce.Sum(a2);
        a3 = WarpReduce.Sum(a3);
        a4 = WarpReduce.Sum(a4);
        a5 = WarpReduce.Sum(a5);
        a6 = WarpReduce.Sum(a6);
        a7 = WarpReduce.Sum(a7);
        if (lane != 0) return;
        int n = s.Tokens - b0;
        long o = (long)b0 * s.Rows + row;
        y[o] = a0; // a tile has at least one token
        if (n > 1) y[o + s.Rows] = a1;
        if (n > 2) y[o + 2L * s.Rows] = a2;
        if (n > 3) y[o + 3L * s.Rows] = a3;
        if (n > 4) y[o + 4L * s.Rows] = a4;
        if (n > 5) y[o + 5L * s.Rows] = a5;
        if (n > 6) y[o + 6L * s.Rows] = a6;
        if (n > 7) y[o + 7L * s.Rows] = a7;
    }
}

using ILGPU;

namespace CompactAI.Cuda.Kernels;

/// <summary>Embedding lookup: dst = dequantize(E[token]) · scale (WeightMatrix.DequantizeRow, then the Gemma-style embedding scale).</summary>
internal static class EmbeddingKernels
{
    /// <summary>Index: the column. <paramref name="token"/> selects the row.</summary>
    public static void Lookup(Index1D c, ArrayView<byte> w, ArrayView<float> dst, int type, long rowBytes, int token, float scale)
    {
        float v = Dequant.Element(w, token * rowBytes, c, type);
        dst[c] = scale == 1.0f ? v : v * scale;
    }
}

using ILGPU;

namespace CompactAI.Cuda.Kernels;

/// <summary>Embedding lookup: dst[b] = dequantize(E[tokens[b]]) · scale (WeightMatrix.DequantizeRow, then the Gemma-style embedding scale).</summary>
internal static class EmbeddingKernels
{
    /// <summary>Index: b·cols + c over every token of the batch.</summary>
    public static void Lookup(Index1D i, ArrayView<byte> w, ArrayView<int> tokens, ArrayView<float> dst, int type, long rowBytes, int cols, float scale)
    {
        int b = i / cols, c = i % cols;
        float v = Dequant.Element(w, tokens[b] * rowBytes, c, type);
        dst[i] = scale == 1.0f ? v : v * scale;
    }
}

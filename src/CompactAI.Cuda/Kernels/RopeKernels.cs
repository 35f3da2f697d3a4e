using ILGPU;

namespace CompactAI.Cuda.Kernels;

/// <summary>
/// Rotary position embedding of a batch of tokens' heads in place (RopeTable.Apply): pairs (x[2i], x[2i+1]) when interleaved,
/// (x[i], x[i+d/2]) for NeoX. cos/sin are the CPU engine's own RopeTable values for the whole context, uploaded once, so
/// the angles match bit for bit.
/// </summary>
internal static class RopeKernels
{
    /// <summary>
    /// Index: (b·heads + h)·half + i over the batch. Token b is at position startPos + b, whose table row is
    /// cos/sin[(startPos + b)·half …].
    /// </summary>
    public static void Rope(Index1D index, ArrayView<float> data, ArrayView<float> cos, ArrayView<float> sin, int heads, int headDim, int half, int startPos, int neox)
    {
        int head = index / half, i = index % half, b = head / heads;
        long v = (long)head * headDim;
        long a = neox != 0 ? v + i : v + 2 * i;
        long o = neox != 0 ? v + i + half : v + 2 * i + 1;
        long t = (long)(startPos + b) * half + i;
        float x0 = data[a], x1 = data[o], c = cos[t], s = sin[t];
        data[a] = x0 * c - x1 * s;
        data[o] = x0 * s + x1 * c;
    }
}

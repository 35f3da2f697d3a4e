using ILGPU;

namespace CompactAI.Cuda.Kernels;

/// <summary>
/// Rotary position embedding of one token's heads in place (RopeTable.Apply): pairs (x[2i], x[2i+1]) when interleaved, (x[i], x[i+d/2])
/// for NeoX. cos/sin come from a table the host builds exactly as the CPU's RopeTable does (<see cref="RopeAngles"/>), so angles match bit for bit.
/// </summary>
internal static class RopeKernels
{
    /// <summary>Index: head·half + i over every head. <paramref name="cos"/>/<paramref name="sin"/> are the position's rows (half values each).</summary>
    public static void Rope(Index1D index, ArrayView<float> data, ArrayView<float> cos, ArrayView<float> sin, int headDim, int half, int neox)
    {
        int h = index / half, i = index % half;
        long v = (long)h * headDim;
        long a = neox != 0 ? v + i : v + 2 * i;
        long b = neox != 0 ? v + i + half : v + 2 * i + 1;
        float x0 = data[a], x1 = data[b], c = cos[i], s = sin[i];
        data[a] = x0 * c - x1 * s;
        data[b] = x0 * s + x1 * c;
    }
}

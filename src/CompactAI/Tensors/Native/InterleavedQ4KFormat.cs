namespace CompactAI.Tensors.Native;

/// <summary>
/// Q4_K weights with their rows interleaved eight at a time (<c>cai_repack_q4_k_x8</c>), the layout of the native Q4_K
/// kernel for decode and prompts: one register lane per row, so the eight rows share the scale unpacking and the
/// activation loads, and their eight results need no horizontal sums. A group of eight rows takes the bytes of eight
/// Q4_K rows, so the interleaved copy replaces the mapped one byte for byte.
/// </summary>
/// <remarks>
/// The maths is Q4_K's: <see cref="Dequantize"/> and <see cref="Dot"/> take rows in the GGUF layout, which
/// <see cref="CopyRow"/> gathers from a group. Only the native library computes on the interleaved layout, so matrices
/// are interleaved only when it is loaded (<see cref="CanInterleave"/>).
/// </remarks>
internal sealed unsafe class InterleavedQ4KFormat : TensorFormat
{
    /// <summary>Rows per group.</summary>
    public const int Group = 8;

    private const int SuperBlock = 256, Q4KBlockBytes = 144, GroupBlockBytes = Group * Q4KBlockBytes;
    private const int DOffset = 0, DMinOffset = 16, ScalesOffset = 32, LevelsOffset = 128;

    private static readonly Lazy<InterleavedQ4KFormat> s_instance = new(() => new InterleavedQ4KFormat(FormatSet.Native.For(GgmlType.Q4_K)));

    private readonly TensorFormat _rows;

    private InterleavedQ4KFormat(TensorFormat rows) : base(GgmlType.Q4_K)
    {
        _rows = rows;
        ActivationFormat = rows.ActivationFormat;
    }

    public override GgmlType ActivationType => GgmlType.Q8_K;

    internal override int NativeTypeId => NativeKernels.Q4KX8TypeId;

    internal override int RowGroup => Group;

    /// <summary>True when <paramref name="w"/> is a row-major Q4_K matrix of whole groups and super-blocks, computed by the native kernels.</summary>
    public static bool CanInterleave(in WeightMatrix w) =>
        w.Format.Type == GgmlType.Q4_K && w.Format.NativeTypeId == (int)GgmlType.Q4_K &&
        w.Rows % Group == 0 && w.Columns % SuperBlock == 0;

    /// <summary>Bytes the interleaved copy of <paramref name="w"/> takes (the same as the original).</summary>
    public static long ByteCount(in WeightMatrix w) => w.RowBytes * w.Rows;

    /// <summary>Interleaves <paramref name="w"/> into <paramref name="destination"/> (<see cref="ByteCount"/> bytes) and returns the view of it.</summary>
    public static WeightMatrix Interleave(in WeightMatrix w, byte* destination)
    {
        if (!CanInterleave(w)) throw new ArgumentException($"A {w.Rows}×{w.Columns} {w.Format.Type} matrix cannot be interleaved.", nameof(w));
        NativeKernels.RepackQ4KX8(w.Data, w.RowBytes, w.Rows, w.Columns, destination);
        return new WeightMatrix(destination, w.Rows, w.Columns, s_instance.Value);
    }

    public override void Dequantize(ReadOnlySpan<byte> src, Span<float> dst) => _rows.Dequantize(src, dst);

    public override float Dot(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int n) => _rows.Dot(weights, activations, n);

    /// <summary>Gathers row <paramref name="row"/> from its group back into Q4_K blocks.</summary>
    internal override void CopyRow(byte* data, long rowBytes, int row, Span<byte> dst)
    {
        int j = row % Group;
        byte* group = data + (row - j) * rowBytes;
        long blocks = rowBytes / Q4KBlockBytes;
        if (dst.Length < rowBytes) throw new ArgumentException($"The destination holds {dst.Length} bytes; a row takes {rowBytes}.", nameof(dst));
        for (long b = 0; b < blocks; b++)
        {
            byte* src = group + b * GroupBlockBytes;
            var block = dst.Slice((int)(b * Q4KBlockBytes), Q4KBlockBytes);
            new ReadOnlySpan<byte>(src + DOffset + 2 * j, 2).CopyTo(block);
            new ReadOnlySpan<byte>(src + DMinOffset + 2 * j, 2).CopyTo(block[2..]);
            for (int k = 0; k < 3; k++) new ReadOnlySpan<byte>(src + ScalesOffset + 32 * k + 4 * j, 4).CopyTo(block[(4 + 4 * k)..]);
            for (int t = 0; t < 16; t++) new ReadOnlySpan<byte>(src + LevelsOffset + 64 * t + 8 * j, 8).CopyTo(block[(16 + 8 * t)..]);
        }
    }
}

using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace CompactAI.Tensors.Formats;

/// <summary>
/// Q5_1: blocks of 32 weights in 24 bytes, f16 d, f16 m, u32 qh (fifth bits), 16 bytes of low nibbles; w = d·q + m.
/// Activations: Q8_1.
/// </summary>
/// <remarks>
/// Quantize (ggml's <c>quantize_row_q5_1_ref</c>): m = min x, d = (max − min) / 31, q = trunc((x − m)·(1/d) + 0.5).
/// Dot: Σ_blocks d_w·d_a·Σ q_w·q_a + m_w·s_a.
/// </remarks>
internal sealed unsafe class Q5_1Format() : TensorFormat(GgmlType.Q5_1)
{
    private const int QK = 32, Bytes = 24;

    public override GgmlType ActivationType => GgmlType.Q8_1;

    public override bool CanQuantize => true;

    public override void Dequantize(ReadOnlySpan<byte> src, Span<float> dst) => LegacyBlocks.DequantizeWithMin<Block>(src, dst);

    /// <summary>The unsigned 5-bit values q of one block.</summary>
    private static void Unpack(ReadOnlySpan<byte> block, Span<sbyte> q) => LegacyBlocks.UnpackFiveBits(block[4..], block[8..], 0, q);

    public override void Quantize(ReadOnlySpan<float> src, Span<byte> dst)
    {
        for (int b = 0; b < src.Length / QK; b++)
        {
            var x = src.Slice(b * QK, QK);
            var block = dst.Slice(b * Bytes, Bytes);
            BlockStats.MinMax(x, out float min, out float max);
            float d = (max - min) / 31;
            float id = d != 0 ? 1.0f / d : 0.0f;
            Fp16.Write(block, d);
            Fp16.Write(block[2..], min);
            uint qh = 0;
            for (int j = 0; j < QK / 2; j++)
            {
                int q0 = (byte)(int)((x[j] - min) * id + 0.5f);
                int q1 = (byte)(int)((x[j + QK / 2] - min) * id + 0.5f);
                LegacyBlocks.PackFiveBits(j, q0, q1, block[8..], ref qh);
            }
            Unsafe.WriteUnaligned(ref block[4], qh);
        }
    }

    public override float Dot(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int n) =>
        Int8Dot.IsAvx2 ? LegacyBlocks.DotQ8_1<Block>(weights, activations, n) : DotPortable(weights, activations, n);

    /// <summary>The portable kernel (also the reference the SIMD kernel is tested against).</summary>
    internal static float DotPortable(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int n) =>
        LegacyBlocks.DotQ8_1Portable<Block>(weights, activations, n);

    /// <summary>q: the nibbles at byte 8, bit 4 from the u32 qh at byte 4.</summary>
    private readonly struct Block : IUnsignedLegacyBlock
    {
        public static int BlockBytes => Bytes;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<byte> Load(byte* block)
        {
            var fifth = Avx2.And(Int8Dot.BitsToBytes(Unsafe.ReadUnaligned<uint>(block + 4)), Vector256.Create((byte)0x10));
            return Avx2.Or(Int8Dot.Nibbles16(block + 8), fifth);
        }

        public static void Unpack(ReadOnlySpan<byte> block, Span<sbyte> q) => Q5_1Format.Unpack(block, q);
    }
}

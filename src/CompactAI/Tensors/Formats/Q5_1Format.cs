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
    private const int QK = 32, Bytes = 24, ActBytes = 36;

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

    public override float Dot(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int n)
    {
        if (!Int8Dot.IsAvx2) return DotPortable(weights, activations, n);
        fixed (byte* pw0 = weights, pa0 = activations)
        {
            var acc = Vector256<float>.Zero;
            var bit4 = Vector256.Create((byte)0x10);
            float offsets = 0;
            for (int b = 0; b < n / QK; b++)
            {
                byte* pw = pw0 + b * Bytes, pa = pa0 + b * ActBytes;
                var fifth = Avx2.And(Int8Dot.BitsToBytes(Unsafe.ReadUnaligned<uint>(pw + 4)), bit4);
                var w = Avx2.Or(Int8Dot.Nibbles16(pw + 8), fifth);
                var s = Int8Dot.MulSumUnsigned(w, Avx.LoadVector256((sbyte*)pa + 4));
                acc = Int8Dot.MulAdd(s, Fp16.Read(pw) * Fp16.Read(pa), acc);
                offsets += Fp16.Read(pw + 2) * Fp16.Read(pa + 2);
            }
            return Int8Dot.Sum(acc) + offsets;
        }
    }

    /// <summary>The portable kernel (also the reference the SIMD kernel is tested against).</summary>
    internal static float DotPortable(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int n) =>
        LegacyBlocks.DotQ8_1Portable<Block>(weights, activations, n);

    /// <summary>q: the nibbles at byte 8, bit 4 from the u32 qh at byte 4.</summary>
    private readonly struct Block : ILegacyBlock
    {
        public static int BlockBytes => Bytes;

        public static void Unpack(ReadOnlySpan<byte> block, Span<sbyte> q) => Q5_1Format.Unpack(block, q);
    }
}

using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace CompactAI.Tensors.Formats;

/// <summary>
/// Q5_0: blocks of 32 weights in 22 bytes, f16 d, u32 qh (bit j = fifth bit of element j), 16 bytes of low nibbles
/// (as Q4_0); w = d·(q − 16). Activations: Q8_0.
/// </summary>
/// <remarks>
/// Quantize (ggml's <c>quantize_row_q5_0_ref</c>): m = the element of largest magnitude, d = m / −16,
/// q = min(31, trunc(x·(1/d) + 16.5)).
/// Dot: Σ_blocks d_w·d_a·Σ (q_w − 16)·q_a.
/// </remarks>
internal sealed unsafe class Q5_0Format() : TensorFormat(GgmlType.Q5_0)
{
    private const int QK = 32, Bytes = 22, ActBytes = 34;

    public override GgmlType ActivationType => GgmlType.Q8_0;

    public override bool CanQuantize => true;

    public override void Dequantize(ReadOnlySpan<byte> src, Span<float> dst) => LegacyBlocks.Dequantize<Block>(src, dst);

    /// <summary>The signed values q − 16 of one block.</summary>
    private static void Unpack(ReadOnlySpan<byte> block, Span<sbyte> q) => LegacyBlocks.UnpackFiveBits(block[2..], block[6..], 16, q);

    public override void Quantize(ReadOnlySpan<float> src, Span<byte> dst)
    {
        for (int b = 0; b < src.Length / QK; b++)
        {
            var x = src.Slice(b * QK, QK);
            var block = dst.Slice(b * Bytes, Bytes);
            float max = BlockStats.SignedAbsMax(x);
            float d = max / -16;
            float id = d != 0 ? 1.0f / d : 0.0f;
            Fp16.Write(block, d);
            uint qh = 0;
            for (int j = 0; j < QK / 2; j++)
            {
                int q0 = Math.Min(31, (int)(x[j] * id + 16.5f));
                int q1 = Math.Min(31, (int)(x[j + QK / 2] * id + 16.5f));
                LegacyBlocks.PackFiveBits(j, q0, q1, block[6..], ref qh);
            }
            Unsafe.WriteUnaligned(ref block[2], qh);
        }
    }

    public override float Dot(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int n)
    {
        if (!Int8Dot.IsAvx2) return DotPortable(weights, activations, n);
        fixed (byte* pw0 = weights, pa0 = activations)
        {
            var acc = Vector256<float>.Zero;
            var high = Vector256.Create((byte)0xF0);
            for (int b = 0; b < n / QK; b++)
            {
                byte* pw = pw0 + b * Bytes, pa = pa0 + b * ActBytes;
                // Where the fifth bit is clear, q − 16 = nibble | 0xF0 read as a signed byte.
                var clear = Avx2.AndNot(Int8Dot.BitsToBytes(Unsafe.ReadUnaligned<uint>(pw + 2)), high);
                var w = Avx2.Or(Int8Dot.Nibbles16(pw + 6), clear).AsSByte();
                var s = Int8Dot.MulSum(w, Avx.LoadVector256((sbyte*)pa + 2));
                acc = Int8Dot.MulAdd(s, Fp16.Read(pw) * Fp16.Read(pa), acc);
            }
            return Int8Dot.Sum(acc);
        }
    }

    /// <summary>The portable kernel (also the reference the SIMD kernel is tested against).</summary>
    internal static float DotPortable(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int n) =>
        LegacyBlocks.DotQ8_0Portable<Block>(weights, activations, n);

    private readonly struct Block : ILegacyBlock
    {
        public static int BlockBytes => Bytes;

        public static void Unpack(ReadOnlySpan<byte> block, Span<sbyte> q) => Q5_0Format.Unpack(block, q);
    }
}

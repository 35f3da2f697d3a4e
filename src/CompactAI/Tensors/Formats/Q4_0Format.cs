using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace CompactAI.Tensors.Formats;

/// <summary>
/// Q4_0: blocks of 32 weights in 18 bytes, f16 d then 16 bytes of nibbles (byte j holds element j in its low nibble and
/// element j+16 in its high one); w = d·(q − 8). Activations: Q8_0.
/// </summary>
/// <remarks>
/// Quantize (ggml's <c>quantize_row_q4_0_ref</c>): m = the element of largest magnitude (first one on ties), d = m / −8,
/// q = min(15, trunc(x·(1/d) + 8.5)), so m itself maps to q = 0.
/// Dot: Σ_blocks d_w·d_a·Σ (q_w − 8)·q_a.
/// </remarks>
internal sealed unsafe class Q4_0Format() : TensorFormat(GgmlType.Q4_0)
{
    private const int QK = 32, Bytes = 18, ActBytes = 34;

    public override GgmlType ActivationType => GgmlType.Q8_0;

    public override bool CanQuantize => true;

    public override void Dequantize(ReadOnlySpan<byte> src, Span<float> dst) => LegacyBlocks.Dequantize<Block>(src, dst);

    public override void Quantize(ReadOnlySpan<float> src, Span<byte> dst)
    {
        for (int b = 0; b < src.Length / QK; b++)
        {
            var x = src.Slice(b * QK, QK);
            var block = dst.Slice(b * Bytes, Bytes);
            float max = BlockStats.SignedAbsMax(x);
            float d = max / -8;
            float id = d != 0 ? 1.0f / d : 0.0f;
            Fp16.Write(block, d);
            for (int j = 0; j < QK / 2; j++)
            {
                int q0 = Math.Min(15, (int)(x[j] * id + 8.5f));
                int q1 = Math.Min(15, (int)(x[j + QK / 2] * id + 8.5f));
                block[2 + j] = (byte)(q0 | (q1 << 4));
            }
        }
    }

    public override float Dot(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int n)
    {
        if (!Int8Dot.IsAvx2) return DotPortable(weights, activations, n);
        fixed (byte* pw0 = weights, pa0 = activations)
        {
            byte* pw = pw0, pa = pa0;
            var acc = Vector256<float>.Zero;
            var eight = Vector256.Create((sbyte)8);
            // One FMA chain, block after block: llama.cpp's order (and the native tiles'), so the sums agree to the bit.
            for (int b = 0; b < n / QK; b++, pw += Bytes, pa += ActBytes)
            {
                var w = Avx2.Subtract(Int8Dot.Nibbles16(pw + 2).AsSByte(), eight);
                var s = Int8Dot.MulSum(w, Avx.LoadVector256((sbyte*)pa + 2));
                acc = Int8Dot.MulAdd(s, Fp16.Read(pw) * Fp16.Read(pa), acc);
            }
            return Int8Dot.Sum(acc);
        }
    }

    /// <summary>The portable kernel (also the reference the SIMD kernel is tested against).</summary>
    internal static float DotPortable(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int n) =>
        LegacyBlocks.DotQ8_0Portable<Block>(weights, activations, n);

    /// <summary>q − 8 from the nibbles at byte 2.</summary>
    private readonly struct Block : ILegacyBlock
    {
        public static int BlockBytes => Bytes;

        public static void Unpack(ReadOnlySpan<byte> block, Span<sbyte> q) => LegacyBlocks.UnpackNibbles(block[2..], 8, q);
    }
}

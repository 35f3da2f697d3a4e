using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace CompactAI.Tensors.Formats;

/// <summary>
/// Q4_1: blocks of 32 weights in 20 bytes, f16 d, f16 m, then 16 bytes of nibbles (as Q4_0); w = d·q + m.
/// Activations: Q8_1.
/// </summary>
/// <remarks>
/// Quantize (ggml's <c>quantize_row_q4_1_ref</c>): m = min x, d = (max − min) / 15, q = min(15, trunc((x − m)·(1/d) + 0.5)).
/// Dot: Σ_blocks d_w·d_a·Σ q_w·q_a + m_w·s_a, where s_a = d_a·Σ q_a is stored in the Q8_1 block.
/// </remarks>
internal sealed unsafe class Q4_1Format() : TensorFormat(GgmlType.Q4_1)
{
    private const int QK = 32, Bytes = 20, ActBytes = 36;

    public override GgmlType ActivationType => GgmlType.Q8_1;

    public override bool CanQuantize => true;

    public override void Dequantize(ReadOnlySpan<byte> src, Span<float> dst) => LegacyBlocks.DequantizeWithMin<Block>(src, dst);

    public override void Quantize(ReadOnlySpan<float> src, Span<byte> dst)
    {
        for (int b = 0; b < src.Length / QK; b++)
        {
            var x = src.Slice(b * QK, QK);
            var block = dst.Slice(b * Bytes, Bytes);
            BlockStats.MinMax(x, out float min, out float max);
            float d = (max - min) / 15;
            float id = d != 0 ? 1.0f / d : 0.0f;
            Fp16.Write(block, d);
            Fp16.Write(block[2..], min);
            for (int j = 0; j < QK / 2; j++)
            {
                int q0 = Math.Min(15, (int)((x[j] - min) * id + 0.5f));
                int q1 = Math.Min(15, (int)((x[j + QK / 2] - min) * id + 0.5f));
                block[4 + j] = (byte)(q0 | (q1 << 4));
            }
        }
    }

    public override float Dot(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int n)
    {
        if (!Int8Dot.IsAvx2) return DotPortable(weights, activations, n);
        fixed (byte* pw0 = weights, pa0 = activations)
        {
            var acc = Vector256<float>.Zero;
            float offsets = 0;
            for (int b = 0; b < n / QK; b++)
            {
                byte* pw = pw0 + b * Bytes, pa = pa0 + b * ActBytes;
                var s = Int8Dot.MulSumUnsigned(Int8Dot.Nibbles16(pw + 4), Avx.LoadVector256((sbyte*)pa + 4));
                acc = Int8Dot.MulAdd(s, Fp16.Read(pw) * Fp16.Read(pa), acc);
                offsets += Fp16.Read(pw + 2) * Fp16.Read(pa + 2);
            }
            return Int8Dot.Sum(acc) + offsets;
        }
    }

    /// <summary>The portable kernel (also the reference the SIMD kernel is tested against).</summary>
    internal static float DotPortable(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int n) =>
        LegacyBlocks.DotQ8_1Portable<Block>(weights, activations, n);

    /// <summary>q from the nibbles at byte 4.</summary>
    private readonly struct Block : ILegacyBlock
    {
        public static int BlockBytes => Bytes;

        public static void Unpack(ReadOnlySpan<byte> block, Span<sbyte> q) => LegacyBlocks.UnpackNibbles(block[4..], 0, q);
    }
}

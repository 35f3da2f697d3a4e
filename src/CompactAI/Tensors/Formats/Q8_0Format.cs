using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace CompactAI.Tensors.Formats;

/// <summary>
/// Q8_0: blocks of 32 weights in 34 bytes, f16 d then 32 int8 q; w = d·q. Also the activation format of
/// Q4_0, Q5_0 and Q8_0 weights.
/// </summary>
/// <remarks>
/// Quantize (ggml's <c>quantize_row_q8_0_ref</c>): d = max|x| / 127, q = round(x / d) with halves away from zero
/// (C <c>roundf</c>), computed as x·(1/d) in float.
/// Dot against Q8_0 activations: Σ_blocks d_w·d_a·Σ q_w·q_a, the inner sum exact in int32.
/// </remarks>
internal sealed unsafe class Q8_0Format() : TensorFormat(GgmlType.Q8_0)
{
    private const int QK = 32, Bytes = 34;

    public override GgmlType ActivationType => GgmlType.Q8_0;

    public override bool CanQuantize => true;

    public override void Dequantize(ReadOnlySpan<byte> src, Span<float> dst) => LegacyBlocks.DequantizeQ8(src, dst, Bytes, 2);

    public override void Quantize(ReadOnlySpan<float> src, Span<byte> dst)
    {
        if (!Int8Dot.IsAvx2)
        {
            QuantizePortable(src, dst);
            return;
        }
        fixed (float* px = src)
        fixed (byte* py = dst)
        {
            for (int b = 0; b < src.Length / QK; b++)
            {
                float* x = px + b * QK;
                byte* block = py + b * Bytes;
                *(ushort*)block = BitConverter.HalfToUInt16Bits((Half)LegacyBlocks.QuantizeQ8(x, block + 2, out _));
            }
        }
    }

    /// <summary>The scalar quantizer, the reference the vector one is tested against.</summary>
    internal static void QuantizePortable(ReadOnlySpan<float> src, Span<byte> dst)
    {
        for (int b = 0; b < src.Length / QK; b++)
        {
            var block = dst.Slice(b * Bytes, Bytes);
            Fp16.Write(block, LegacyBlocks.QuantizeQ8(src.Slice(b * QK, QK), block[2..], out _));
        }
    }

    public override float Dot(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int n)
    {
        if (!Int8Dot.IsAvx2) return DotPortable(weights, activations, n);
        fixed (byte* pw0 = weights, pa0 = activations)
        {
            byte* pw = pw0, pa = pa0;
            var acc0 = Vector256<float>.Zero;
            var acc1 = Vector256<float>.Zero;
            int nb = n / QK, b = 0;
            // Two independent accumulators hide the FMA latency.
            for (; b + 2 <= nb; b += 2, pw += 2 * Bytes, pa += 2 * Bytes)
            {
                var s0 = Int8Dot.MulSum(Avx.LoadVector256((sbyte*)pw + 2), Avx.LoadVector256((sbyte*)pa + 2));
                var s1 = Int8Dot.MulSum(Avx.LoadVector256((sbyte*)pw + Bytes + 2), Avx.LoadVector256((sbyte*)pa + Bytes + 2));
                acc0 = Int8Dot.MulAdd(s0, Fp16.Read(pw) * Fp16.Read(pa), acc0);
                acc1 = Int8Dot.MulAdd(s1, Fp16.Read(pw + Bytes) * Fp16.Read(pa + Bytes), acc1);
            }
            if (b < nb)
            {
                var s0 = Int8Dot.MulSum(Avx.LoadVector256((sbyte*)pw + 2), Avx.LoadVector256((sbyte*)pa + 2));
                acc0 = Int8Dot.MulAdd(s0, Fp16.Read(pw) * Fp16.Read(pa), acc0);
            }
            return Int8Dot.Sum(acc0 + acc1);
        }
    }

    /// <summary>The portable kernel (also the reference the SIMD kernels are tested against).</summary>
    internal static float DotPortable(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int n) =>
        LegacyBlocks.DotQ8Portable(weights, activations, n, Bytes, 2);
}

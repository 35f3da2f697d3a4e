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
/// Dot against Q8_0 activations: Σ_blocks d_w·d_a·Σ q_w·q_a, the inner sum exact in int32, the blocks summed in one
/// FMA chain over eight lanes as llama.cpp's AVX2 kernels do.
/// </remarks>
internal sealed unsafe class Q8_0Format() : TensorFormat(GgmlType.Q8_0)
{
    private const int QK = 32, Bytes = 34;

    public override GgmlType ActivationType => GgmlType.Q8_0;

    public override bool CanQuantize => true;

    public override void Dequantize(ReadOnlySpan<byte> src, Span<float> dst) => LegacyBlocks.DequantizeQ8(src, dst, Bytes, 2);

    public override void Quantize(ReadOnlySpan<float> src, Span<byte> dst)
    {
        if (Int8Dot.IsAvx2) QuantizeVector(src, dst, activations: false);
        else QuantizePortable(src, dst);
    }

    /// <summary>As llama.cpp's x86 CPU backend quantizes a matmul's input (127/max, halves to even; see <c>LegacyBlocks.QuantizeQ8Activations</c>).</summary>
    internal override void QuantizeActivations(ReadOnlySpan<float> src, Span<byte> dst)
    {
        if (Int8Dot.IsAvx2) QuantizeVector(src, dst, activations: true);
        else QuantizeActivationsPortable(src, dst);
    }

    // The vector block loop of both quantizers: the weight one (llama.cpp's reference rounding) or the activation one.
    private static void QuantizeVector(ReadOnlySpan<float> src, Span<byte> dst, bool activations)
    {
        fixed (float* px = src)
        fixed (byte* py = dst)
        {
            for (int b = 0; b < src.Length / QK; b++)
            {
                float* x = px + b * QK;
                byte* block = py + b * Bytes;
                float d = activations
                    ? LegacyBlocks.QuantizeQ8Activations(x, block + 2, out _)
                    : LegacyBlocks.QuantizeQ8(x, block + 2, out _);
                *(ushort*)block = BitConverter.HalfToUInt16Bits((Half)d);
            }
        }
    }

    /// <summary>The scalar activation quantizer, the reference the vector and native ones are tested against.</summary>
    internal static void QuantizeActivationsPortable(ReadOnlySpan<float> src, Span<byte> dst)
    {
        for (int b = 0; b < src.Length / QK; b++)
        {
            var block = dst.Slice(b * Bytes, Bytes);
            Fp16.Write(block, LegacyBlocks.QuantizeQ8Activations(src.Slice(b * QK, QK), block[2..], out _));
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
            var acc = Vector256<float>.Zero;
            // One FMA chain, block after block: llama.cpp's order (and the native tiles'), so the sums agree to the bit.
            for (int b = 0; b < n / QK; b++, pw += Bytes, pa += Bytes)
            {
                var s = Int8Dot.MulSum(Avx.LoadVector256((sbyte*)pw + 2), Avx.LoadVector256((sbyte*)pa + 2));
                acc = Int8Dot.MulAdd(s, Fp16.Read(pw) * Fp16.Read(pa), acc);
            }
            return Int8Dot.Sum(acc);
        }
    }

    /// <summary>The portable kernel (also the reference the SIMD kernels are tested against).</summary>
    internal static float DotPortable(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int n) =>
        LegacyBlocks.DotQ8Portable(weights, activations, n, Bytes, 2);
}

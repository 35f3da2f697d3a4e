using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace CompactAI.Tensors.Formats;

/// <summary>
/// Q8_1: blocks of 32 values in 36 bytes, f16 d, f16 s = d·Σq, then 32 int8 q; x = d·q. The activation format of
/// Q4_1 and Q5_1 weights, whose offset term m·Σx is then m·s.
/// </summary>
/// <remarks>
/// Quantize (ggml's <c>quantize_row_q8_1_ref</c>): as Q8_0 (d = max|x| / 127, q = roundf(x·(1/d))), plus s = f16(d·Σq).
/// Dot of two Q8_1 rows: Σ_blocks d₁·d₂·Σ q₁·q₂ (ggml has no Q8_1 weight kernel; this one makes the format complete).
/// </remarks>
internal sealed unsafe class Q8_1Format() : TensorFormat(GgmlType.Q8_1)
{
    private const int QK = 32, Bytes = 36;

    public override GgmlType ActivationType => GgmlType.Q8_1;

    public override bool CanQuantize => true;

    public override void Dequantize(ReadOnlySpan<byte> src, Span<float> dst) => LegacyBlocks.DequantizeQ8(src, dst, Bytes, 4);

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
                    ? LegacyBlocks.QuantizeQ8Activations(x, block + 4, out int sum)
                    : LegacyBlocks.QuantizeQ8(x, block + 4, out sum);
                *(ushort*)block = BitConverter.HalfToUInt16Bits((Half)d);
                *(ushort*)(block + 2) = BitConverter.HalfToUInt16Bits((Half)(sum * d));
            }
        }
    }

    /// <summary>The scalar activation quantizer, the reference the vector and native ones are tested against.</summary>
    internal static void QuantizeActivationsPortable(ReadOnlySpan<float> src, Span<byte> dst)
    {
        for (int b = 0; b < src.Length / QK; b++)
        {
            var block = dst.Slice(b * Bytes, Bytes);
            float d = LegacyBlocks.QuantizeQ8Activations(src.Slice(b * QK, QK), block[4..], out int sum);
            Fp16.Write(block, d);
            Fp16.Write(block[2..], sum * d);
        }
    }

    /// <summary>The scalar quantizer, the reference the vector one is tested against.</summary>
    internal static void QuantizePortable(ReadOnlySpan<float> src, Span<byte> dst)
    {
        for (int b = 0; b < src.Length / QK; b++)
        {
            var block = dst.Slice(b * Bytes, Bytes);
            float d = LegacyBlocks.QuantizeQ8(src.Slice(b * QK, QK), block[4..], out int sum);
            Fp16.Write(block, d);
            Fp16.Write(block[2..], sum * d);
        }
    }

    public override float Dot(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int n)
    {
        if (!Int8Dot.IsAvx2) return DotPortable(weights, activations, n);
        fixed (byte* pw0 = weights, pa0 = activations)
        {
            var acc = Vector256<float>.Zero;
            for (int b = 0; b < n / QK; b++)
            {
                byte* pw = pw0 + b * Bytes, pa = pa0 + b * Bytes;
                var s = Int8Dot.MulSum(Avx.LoadVector256((sbyte*)pw + 4), Avx.LoadVector256((sbyte*)pa + 4));
                acc = Int8Dot.MulAdd(s, Fp16.Read(pw) * Fp16.Read(pa), acc);
            }
            return Int8Dot.Sum(acc);
        }
    }

    /// <summary>The portable kernel (also the reference the SIMD kernel is tested against).</summary>
    internal static float DotPortable(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int n) =>
        LegacyBlocks.DotQ8Portable(weights, activations, n, Bytes, 4);
}

using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace CompactAI.Tensors.Formats;

/// <summary>
/// Q4_K: super-blocks of 256 weights in 144 bytes: f16 d, f16 dmin, 12 bytes holding eight 6-bit scales sc and mins m
/// (one per 32 weights), then 128 bytes of nibbles (each 64-weight chunk: 32 bytes, low nibbles = first 32 weights,
/// high nibbles = next 32). w = d·sc·q − dmin·m. Activations: Q8_K.
/// </summary>
/// <remarks>
/// Quantize (ggml's <c>quantize_row_q4_K_ref</c>): per 32 weights, <see cref="KQuantMath.MakeQkx2Quants"/> with nmax 15,
/// weights √(mean x²) + |x|, rmin −1, rdelta 0.1, 20 steps; scales and mins then quantized to 6 bits against their maxima
/// (d = max scale / 63, dmin = max min / 63) and the weights requantized with the rounded scales.
/// Dot: Σ_blocks d_w·d_a·Σ_j sc_j·Σ_{i∈j} q_i·a_i − dmin_w·d_a·Σ_j m_j·(bsum_{2j} + bsum_{2j+1}).
/// </remarks>
internal sealed unsafe class Q4_KFormat() : TensorFormat(GgmlType.Q4_K)
{
    private const int QK = KQuantMath.QK_K, Bytes = 144, ActBytes = 292;

    public override GgmlType ActivationType => GgmlType.Q8_K;

    public override bool CanQuantize => true;

    public override void Dequantize(ReadOnlySpan<byte> src, Span<float> dst) => ScaleMinK4.Dequantize<Quants>(src, dst);

    public override void Quantize(ReadOnlySpan<float> src, Span<byte> dst)
    {
        Span<byte> levels = stackalloc byte[QK];
        for (int b = 0; b < src.Length / QK; b++)
        {
            var block = dst.Slice(b * Bytes, Bytes);
            ScaleMinK4.QuantizeScales(src.Slice(b * QK, QK), block, levels, nmax: 15, rmin: -1f, rdelta: 0.1f, nstep: 20);
            var q = block.Slice(16, 128);
            for (int c = 0; c < 4; c++)
            {
                for (int l = 0; l < 32; l++) q[32 * c + l] = (byte)(levels[64 * c + l] | (levels[64 * c + 32 + l] << 4));
            }
        }
    }

    public override float Dot(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int n)
    {
        if (!Int8Dot.IsAvx2) return DotPortable(weights, activations, n);
        fixed (byte* pw0 = weights, pa0 = activations)
        {
            var acc = Vector256<float>.Zero;
            float minSum = 0;
            var low = Vector256.Create((byte)0x0F);
            for (int b = 0; b < n / QK; b++)
            {
                byte* pw = pw0 + b * Bytes, pa = pa0 + b * ActBytes;
                float da = *(float*)pa;
                ScaleMinK4.UnpackScales(pw + 4, out ulong scales, out ulong mins);
                minSum += Fp16.Read(pw + 2) * da * ScaleMinK4.MinTerm(mins, pa);
                var sumi = Vector256<int>.Zero;
                byte* q = pw + 16;
                sbyte* a = (sbyte*)pa + Q8_KFormat.QsOffset;
                for (int c = 0; c < 4; c++, q += 32, a += 64, scales >>= 16)
                {
                    var bytes = Avx.LoadVector256(q);
                    var lo = Avx2.And(bytes, low);
                    var hi = Avx2.And(Avx2.ShiftRightLogical(bytes.AsUInt16(), 4).AsByte(), low);
                    sumi = Int8Dot.MulSumUnsignedScaled(sumi, lo, Avx.LoadVector256(a), Vector256.Create((short)(byte)scales));
                    sumi = Int8Dot.MulSumUnsignedScaled(sumi, hi, Avx.LoadVector256(a + 32), Vector256.Create((short)(byte)(scales >> 8)));
                }
                acc = Int8Dot.MulAdd(sumi, Fp16.Read(pw) * da, acc);
            }
            return Int8Dot.Sum(acc) - minSum;
        }
    }

    /// <summary>q: the low nibbles of the 32 bytes at 16 + 32c (weights 64c..64c+31), then their high nibbles.</summary>
    private readonly struct Quants : IScaleMinK4Quants
    {
        public static int BlockBytes => Bytes;

        public static void Unpack(ReadOnlySpan<byte> block, Span<sbyte> q)
        {
            for (int c = 0; c < 4; c++)
            {
                for (int l = 0; l < 32; l++)
                {
                    q[64 * c + l] = (sbyte)(block[16 + 32 * c + l] & 0xF);
                    q[64 * c + 32 + l] = (sbyte)(block[16 + 32 * c + l] >> 4);
                }
            }
        }

    }

    /// <summary>The portable kernel (also the reference the SIMD kernel is tested against).</summary>
    internal static float DotPortable(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int n) =>
        ScaleMinK4.DotPortable<Quants>(weights, activations, n);
}

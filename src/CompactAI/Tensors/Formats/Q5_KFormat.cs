using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace CompactAI.Tensors.Formats;

/// <summary>
/// Q5_K: super-blocks of 256 weights in 176 bytes: f16 d, f16 dmin, 12 bytes of 6-bit scales/mins (as Q4_K), 32 bytes qh of
/// fifth bits (byte l, bit 2c: weight 64c + l; bit 2c+1: weight 64c + 32 + l), then 128 bytes of low nibbles (as Q4_K).
/// w = d·sc·q − dmin·m with q ∈ [0, 31]. Activations: Q8_K.
/// </summary>
/// <remarks>
/// Quantize (ggml's <c>quantize_row_q5_K_ref</c>): as Q4_K with nmax 31, rmin −0.5, rdelta 0.1, 15 steps.
/// Dot: as Q4_K.
/// </remarks>
internal sealed unsafe class Q5_KFormat() : TensorFormat(GgmlType.Q5_K)
{
    private const int QK = KQuantMath.QK_K, Bytes = 176, ActBytes = 292;

    public override GgmlType ActivationType => GgmlType.Q8_K;

    public override bool CanQuantize => true;

    public override void Dequantize(ReadOnlySpan<byte> src, Span<float> dst) => ScaleMinK4.Dequantize<Quants>(src, dst);

    /// <summary>The 256 unsigned 5-bit values of one block.</summary>
    private static void Unpack(ReadOnlySpan<byte> block, Span<sbyte> q)
    {
        var qh = block.Slice(16, 32);
        var ql = block.Slice(48, 128);
        for (int c = 0; c < 4; c++)
        {
            for (int l = 0; l < 32; l++)
            {
                q[64 * c + l] = (sbyte)((ql[32 * c + l] & 0xF) | (((qh[l] >> (2 * c)) & 1) << 4));
                q[64 * c + 32 + l] = (sbyte)((ql[32 * c + l] >> 4) | (((qh[l] >> (2 * c + 1)) & 1) << 4));
            }
        }
    }

    public override void Quantize(ReadOnlySpan<float> src, Span<byte> dst)
    {
        Span<byte> levels = stackalloc byte[QK];
        for (int b = 0; b < src.Length / QK; b++)
        {
            var block = dst.Slice(b * Bytes, Bytes);
            ScaleMinK4.QuantizeScales(src.Slice(b * QK, QK), block, levels, nmax: 31, rmin: -0.5f, rdelta: 0.1f, nstep: 15);
            var qh = block.Slice(16, 32);
            var ql = block.Slice(48, 128);
            qh.Clear();
            for (int c = 0; c < 4; c++)
            {
                for (int l = 0; l < 32; l++)
                {
                    int l1 = levels[64 * c + l], l2 = levels[64 * c + 32 + l];
                    if (l1 > 15) { l1 -= 16; qh[l] |= (byte)(1 << (2 * c)); }
                    if (l2 > 15) { l2 -= 16; qh[l] |= (byte)(2 << (2 * c)); }
                    ql[32 * c + l] = (byte)(l1 | (l2 << 4));
                }
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
            var bit4 = Vector256.Create((byte)0x10);
            for (int b = 0; b < n / QK; b++)
            {
                byte* pw = pw0 + b * Bytes, pa = pa0 + b * ActBytes;
                float da = *(float*)pa;
                ScaleMinK4.UnpackScales(pw + 4, out ulong scales, out ulong mins);
                minSum += Fp16.Read(pw + 2) * da * ScaleMinK4.MinTerm(mins, pa);
                var sumi = Vector256<int>.Zero;
                var hbits = Avx.LoadVector256(pw + 16);
                byte* q = pw + 48;
                sbyte* a = (sbyte*)pa + Q8_KFormat.QsOffset;
                for (int c = 0; c < 4; c++, q += 32, a += 64, scales >>= 16)
                {
                    var bytes = Avx.LoadVector256(q);
                    var m1 = Vector256.Create((byte)(1 << (2 * c)));
                    var m2 = Vector256.Create((byte)(2 << (2 * c)));
                    var lo = Avx2.Or(Avx2.And(bytes, low), Avx2.And(Avx2.CompareEqual(Avx2.And(hbits, m1), m1), bit4));
                    var hi = Avx2.Or(Avx2.And(Avx2.ShiftRightLogical(bytes.AsUInt16(), 4).AsByte(), low),
                                     Avx2.And(Avx2.CompareEqual(Avx2.And(hbits, m2), m2), bit4));
                    sumi = Int8Dot.MulSumUnsignedScaled(sumi, lo, Avx.LoadVector256(a), Vector256.Create((short)(byte)scales));
                    sumi = Int8Dot.MulSumUnsignedScaled(sumi, hi, Avx.LoadVector256(a + 32), Vector256.Create((short)(byte)(scales >> 8)));
                }
                acc = Int8Dot.MulAdd(sumi, Fp16.Read(pw) * da, acc);
            }
            return Int8Dot.Sum(acc) - minSum;
        }
    }

    /// <summary>Chunk c: the nibbles of the 32 bytes at 48 + 32c, bit 4 from bits 2c and 2c + 1 of qh.</summary>
    private readonly struct Quants : IScaleMinK4Quants
    {
        public static int BlockBytes => Bytes;

        public static void Unpack(ReadOnlySpan<byte> block, Span<sbyte> q) => Q5_KFormat.Unpack(block, q);

    }

    /// <summary>The portable kernel (also the reference the SIMD kernel is tested against).</summary>
    internal static float DotPortable(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int n) =>
        ScaleMinK4.DotPortable<Quants>(weights, activations, n);
}

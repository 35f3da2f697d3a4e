using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace CompactAI.Tensors.Formats;

/// <summary>
/// Q2_K: super-blocks of 256 weights in 84 bytes: 16 bytes of 4-bit scale (low) / min (high) pairs, one per 16 weights,
/// 64 bytes of 2-bit q, f16 d, f16 dmin. Weight e sits in byte 32·(e/128) + e%32 at bit 2·((e/32)%4); its scale byte is e/16.
/// w = d·(sc &amp; 15)·q − dmin·(sc &gt;&gt; 4). Activations: Q8_K.
/// </summary>
/// <remarks>
/// Quantize (ggml's <c>quantize_row_q2_K_ref</c>): per 16 weights <see cref="KQuantMath.MakeQkx2Quants"/> (nmax 3, weights |x|,
/// rmin −0.5, rdelta 0.1, 15 steps, absolute error); scales and mins quantized to 4 bits against their maxima, then the weights
/// requantized. Dot: d_w·d_a·Σ_g sc_g·Σ q·a − dmin_w·d_a·Σ_g m_g·bsum_g.
/// </remarks>
internal sealed unsafe class Q2_KFormat() : TensorFormat(GgmlType.Q2_K)
{
    private const int QK = KQuantMath.QK_K, Bytes = 84, ActBytes = 292;
    private const int ScalesOffset = 0, QsOffset = 16, DOffset = 80, DminOffset = 82;

    public override GgmlType ActivationType => GgmlType.Q8_K;

    public override bool CanQuantize => true;

    public override void Dequantize(ReadOnlySpan<byte> src, Span<float> dst)
    {
        Span<sbyte> q = stackalloc sbyte[QK];
        for (int b = 0; b < dst.Length / QK; b++)
        {
            var block = src.Slice(b * Bytes, Bytes);
            float d = Fp16.Read(block[DOffset..]), dmin = Fp16.Read(block[DminOffset..]);
            Unpack(block, q);
            var y = dst.Slice(b * QK, QK);
            for (int g = 0; g < 16; g++)
            {
                int sc = block[ScalesOffset + g];
                float dl = d * (sc & 0xF), ml = dmin * (sc >> 4);
                for (int l = 0; l < 16; l++) y[16 * g + l] = dl * q[16 * g + l] - ml;
            }
        }
    }

    /// <summary>The 256 unsigned 2-bit values of one block.</summary>
    private static void Unpack(ReadOnlySpan<byte> block, Span<sbyte> q)
    {
        for (int e = 0; e < QK; e++) q[e] = (sbyte)((block[QsOffset + 32 * (e / 128) + e % 32] >> (2 * ((e / 32) % 4))) & 3);
    }

    public override void Quantize(ReadOnlySpan<float> src, Span<byte> dst)
    {
        Span<byte> levels = stackalloc byte[QK];
        Span<byte> aux = stackalloc byte[16];
        Span<float> weights = stackalloc float[16];
        Span<float> mins = stackalloc float[16];
        Span<float> scales = stackalloc float[16];
        const float q4scale = 15f;
        for (int b = 0; b < src.Length / QK; b++)
        {
            var x = src.Slice(b * QK, QK);
            var block = dst.Slice(b * Bytes, Bytes);
            float maxScale = 0, maxMin = 0;
            for (int g = 0; g < 16; g++)
            {
                var xg = x.Slice(16 * g, 16);
                for (int l = 0; l < 16; l++) weights[l] = MathF.Abs(xg[l]);
                scales[g] = KQuantMath.MakeQkx2Quants(16, 3, xg, weights, levels.Slice(16 * g, 16), out mins[g], aux, -0.5f, 0.1f, 15, true);
                if (scales[g] > maxScale) maxScale = scales[g];
                if (mins[g] > maxMin) maxMin = mins[g];
            }
            var sc = block.Slice(ScalesOffset, 16);
            if (maxScale > 0)
            {
                float iscale = q4scale / maxScale;
                for (int g = 0; g < 16; g++) sc[g] = (byte)KQuantMath.NearestInt(iscale * scales[g]);
                Fp16.Write(block[DOffset..], maxScale / q4scale);
            }
            else
            {
                sc.Clear();
                Fp16.Write(block[DOffset..], 0f);
            }
            if (maxMin > 0)
            {
                float iscale = q4scale / maxMin;
                for (int g = 0; g < 16; g++) sc[g] |= (byte)(KQuantMath.NearestInt(iscale * mins[g]) << 4);
                Fp16.Write(block[DminOffset..], maxMin / q4scale);
            }
            else
            {
                Fp16.Write(block[DminOffset..], 0f);
            }
            float dAll = Fp16.Read(block[DOffset..]), dminAll = Fp16.Read(block[DminOffset..]);
            for (int g = 0; g < 16; g++)
            {
                float d = dAll * (sc[g] & 0xF);
                if (d == 0) continue;
                float dm = dminAll * (sc[g] >> 4);
                for (int i = 0; i < 16; i++)
                {
                    levels[16 * g + i] = (byte)Math.Max(0, Math.Min(3, KQuantMath.NearestInt((x[16 * g + i] + dm) / d)));
                }
            }
            var qs = block.Slice(QsOffset, 64);
            for (int h = 0; h < 2; h++)
            {
                for (int l = 0; l < 32; l++)
                {
                    int e = 128 * h + l;
                    qs[32 * h + l] = (byte)(levels[e] | (levels[e + 32] << 2) | (levels[e + 64] << 4) | (levels[e + 96] << 6));
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
            var low4 = Vector128.Create((byte)0x0F);
            var two = Vector256.Create((byte)0x03);
            var splitPair = Vector256.Create((byte)0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3);
            for (int b = 0; b < n / QK; b++)
            {
                byte* pw = pw0 + b * Bytes, pa = pa0 + b * ActBytes;
                float da = *(float*)pa;
                var sc = Sse2.LoadVector128(pw + ScalesOffset);
                var scales = Avx2.ConvertToVector256Int16(Sse2.And(sc, low4)).AsInt32();
                var mins = Avx2.ConvertToVector256Int16(Sse2.ShiftRightLogical(sc.AsUInt16(), 4).AsByte() & low4);
                var m = Avx2.MultiplyAddAdjacent(mins, Avx.LoadVector256((short*)(pa + Q8_KFormat.BsumsOffset)));
                minSum += Fp16.Read(pw + DminOffset) * da * Vector256.Sum(m);
                var sumi = Vector256<int>.Zero;
                for (int h = 0; h < 2; h++)
                {
                    var q = Avx.LoadVector256(pw + QsOffset + 32 * h);
                    sbyte* a = (sbyte*)pa + Q8_KFormat.QsOffset + 128 * h;
                    int p = 4 * h;
                    sumi = Int8Dot.MulSumUnsignedScaled(sumi, Avx2.And(q, two), Avx.LoadVector256(a), Scales(scales, p, splitPair));
                    sumi = Int8Dot.MulSumUnsignedScaled(sumi, Avx2.And(Avx2.ShiftRightLogical(q.AsUInt16(), 2).AsByte(), two), Avx.LoadVector256(a + 32), Scales(scales, p + 1, splitPair));
                    sumi = Int8Dot.MulSumUnsignedScaled(sumi, Avx2.And(Avx2.ShiftRightLogical(q.AsUInt16(), 4).AsByte(), two), Avx.LoadVector256(a + 64), Scales(scales, p + 2, splitPair));
                    sumi = Int8Dot.MulSumUnsignedScaled(sumi, Avx2.And(Avx2.ShiftRightLogical(q.AsUInt16(), 6).AsByte(), two), Avx.LoadVector256(a + 96), Scales(scales, p + 3, splitPair));
                }
                acc = Int8Dot.MulAdd(sumi, Fp16.Read(pw + DOffset) * da, acc);
            }
            return Int8Dot.Sum(acc) - minSum;
        }
    }

    /// <summary>Scales 2p (first 16 weights, low lane) and 2p+1 (next 16, high lane) of a 32-weight group as int16 lanes.</summary>
    internal static Vector256<short> Scales(Vector256<int> scalePairs, int p, Vector256<byte> splitPair) =>
        Avx2.Shuffle(Avx2.PermuteVar8x32(scalePairs, Vector256.Create(p)).AsByte(), splitPair).AsInt16();

    /// <summary>The portable kernel (also the reference the SIMD kernel is tested against).</summary>
    internal static float DotPortable(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int n)
    {
        Span<sbyte> q = stackalloc sbyte[QK];
        float sum = 0;
        for (int b = 0; b < n / QK; b++)
        {
            var w = weights.Slice(b * Bytes, Bytes);
            var a = activations.Slice(b * ActBytes, ActBytes);
            Unpack(w, q);
            var qa = MemoryMarshal.Cast<byte, sbyte>(a.Slice(Q8_KFormat.QsOffset, QK));
            var bsums = MemoryMarshal.Cast<byte, short>(a.Slice(Q8_KFormat.BsumsOffset, 32));
            int sumi = 0, summ = 0;
            for (int g = 0; g < 16; g++)
            {
                int sc = w[ScalesOffset + g];
                sumi += (sc & 0xF) * Int8Dot.Dot(q.Slice(16 * g, 16), qa.Slice(16 * g, 16));
                summ += (sc >> 4) * bsums[g];
            }
            float da = BitConverter.ToSingle(a);
            sum += Fp16.Read(w[DOffset..]) * da * sumi - Fp16.Read(w[DminOffset..]) * da * summ;
        }
        return sum;
    }
}

using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
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

    public override void Dequantize(ReadOnlySpan<byte> src, Span<float> dst)
    {
        for (int b = 0; b < dst.Length / QK; b++)
        {
            var block = src.Slice(b * Bytes, Bytes);
            float d = Fp16.Read(block), dmin = Fp16.Read(block[2..]);
            var scales = block.Slice(4, 12);
            var q = block.Slice(16, 128);
            var y = dst.Slice(b * QK, QK);
            for (int c = 0; c < 4; c++)
            {
                KQuantMath.GetScaleMinK4(2 * c, scales, out int sc1, out int m1);
                KQuantMath.GetScaleMinK4(2 * c + 1, scales, out int sc2, out int m2);
                float d1 = d * sc1, mm1 = dmin * m1, d2 = d * sc2, mm2 = dmin * m2;
                for (int l = 0; l < 32; l++) y[64 * c + l] = d1 * (q[32 * c + l] & 0xF) - mm1;
                for (int l = 0; l < 32; l++) y[64 * c + 32 + l] = d2 * (q[32 * c + l] >> 4) - mm2;
            }
        }
    }

    public override void Quantize(ReadOnlySpan<float> src, Span<byte> dst)
    {
        Span<byte> levels = stackalloc byte[QK];
        Span<byte> aux = stackalloc byte[32];
        Span<float> weights = stackalloc float[32];
        Span<float> mins = stackalloc float[8];
        Span<float> scales = stackalloc float[8];
        Span<byte> ls = stackalloc byte[8];
        Span<byte> lm = stackalloc byte[8];
        for (int b = 0; b < src.Length / QK; b++)
        {
            var x = src.Slice(b * QK, QK);
            var block = dst.Slice(b * Bytes, Bytes);
            float maxScale = 0, maxMin = 0;
            for (int j = 0; j < 8; j++)
            {
                var xj = x.Slice(32 * j, 32);
                float sumX2 = 0;
                for (int l = 0; l < 32; l++) sumX2 += xj[l] * xj[l];
                float avX = MathF.Sqrt(sumX2 / 32);
                for (int l = 0; l < 32; l++) weights[l] = avX + MathF.Abs(xj[l]);
                scales[j] = KQuantMath.MakeQkx2Quants(32, 15, xj, weights, levels.Slice(32 * j, 32), out mins[j], aux, -1f, 0.1f, 20, false);
                if (scales[j] > maxScale) maxScale = scales[j];
                if (mins[j] > maxMin) maxMin = mins[j];
            }
            float invScale = maxScale > 0 ? 63f / maxScale : 0f;
            float invMin = maxMin > 0 ? 63f / maxMin : 0f;
            for (int j = 0; j < 8; j++)
            {
                ls[j] = Math.Min((byte)63, (byte)KQuantMath.NearestInt(invScale * scales[j]));
                lm[j] = Math.Min((byte)63, (byte)KQuantMath.NearestInt(invMin * mins[j]));
            }
            KQuantMath.PackScaleMinK4(ls, lm, block.Slice(4, 12));
            Fp16.Write(block, maxScale / 63f);
            Fp16.Write(block[2..], maxMin / 63f);
            float dAll = Fp16.Read(block), dminAll = Fp16.Read(block[2..]);
            for (int j = 0; j < 8; j++)
            {
                KQuantMath.GetScaleMinK4(j, block.Slice(4, 12), out int sc, out int m);
                float d = dAll * sc;
                if (d == 0) continue;
                float dm = dminAll * m;
                for (int i = 0; i < 32; i++)
                {
                    levels[32 * j + i] = (byte)Math.Max(0, Math.Min(15, KQuantMath.NearestInt((x[32 * j + i] + dm) / d)));
                }
            }
            var q = block.Slice(16, 128);
            for (int c = 0; c < 4; c++)
            {
                for (int l = 0; l < 32; l++) q[32 * c + l] = (byte)(levels[64 * c + l] | (levels[64 * c + 32 + l] << 4));
            }
        }
    }

    /// <summary>Sub-block scales and mins of one block as two 8-byte arrays.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void UnpackScales(ReadOnlySpan<byte> packed, Span<byte> scales, Span<byte> mins)
    {
        for (int j = 0; j < 8; j++)
        {
            KQuantMath.GetScaleMinK4(j, packed, out int sc, out int m);
            scales[j] = (byte)sc;
            mins[j] = (byte)m;
        }
    }

    /// <summary>
    /// The eight 6-bit scales (byte j of <paramref name="scales"/>) and mins of the 12 packed bytes at <paramref name="p"/>,
    /// unpacked with word operations: bytes 0-3 / 4-7 hold scales / mins 0-3 in their low 6 bits and the top 2 bits of
    /// scales / mins 4-7 in their high 2; bytes 8-11 hold the low nibbles of scale j (low) and min j (high) for j = 4..7.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void UnpackScales(byte* p, out ulong scales, out ulong mins)
    {
        const uint low6 = 0x3f3f3f3f, low4 = 0x0f0f0f0f, top2 = 0x03030303;
        uint u0 = Unsafe.ReadUnaligned<uint>(p), u1 = Unsafe.ReadUnaligned<uint>(p + 4), u2 = Unsafe.ReadUnaligned<uint>(p + 8);
        uint sc0 = u0 & low6;
        uint sc1 = (u2 & low4) | (((u0 >> 6) & top2) << 4);
        uint m0 = u1 & low6;
        uint m1 = ((u2 >> 4) & low4) | (((u1 >> 6) & top2) << 4);
        scales = sc0 | ((ulong)sc1 << 32);
        mins = m0 | ((ulong)m1 << 32);
    }

    /// <summary>Σ_j m_j·(bsum_{2j} + bsum_{2j+1}) for a Q8_K activation block (eight mins packed in a word).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static int MinTerm(ulong mins, byte* act)
    {
        var bsums = Avx.LoadVector256((short*)(act + Q8_KFormat.BsumsOffset));
        var pairs = Ssse3.HorizontalAdd(bsums.GetLower(), bsums.GetUpper()); // bsum_{2j} + bsum_{2j+1}, j = 0..7
        var m16 = Sse41.ConvertToVector128Int16(Vector128.CreateScalar(mins).AsByte());
        var prod = Sse2.MultiplyAddAdjacent(m16, pairs);
        prod = Sse2.Add(prod, Sse2.Shuffle(prod, 0b01_00_11_10));
        prod = Sse2.Add(prod, Sse2.Shuffle(prod, 0b10_11_00_01));
        return prod.ToScalar();
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
                UnpackScales(pw + 4, out ulong scales, out ulong mins);
                minSum += Fp16.Read(pw + 2) * da * MinTerm(mins, pa);
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

    /// <summary>The portable kernel (also the reference the SIMD kernel is tested against).</summary>
    internal static float DotPortable(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int n)
    {
        Span<sbyte> q = stackalloc sbyte[QK];
        Span<byte> scales = stackalloc byte[8], mins = stackalloc byte[8];
        float sum = 0;
        for (int b = 0; b < n / QK; b++)
        {
            var w = weights.Slice(b * Bytes, Bytes);
            var a = activations.Slice(b * ActBytes, ActBytes);
            UnpackScales(w.Slice(4, 12), scales, mins);
            for (int c = 0; c < 4; c++)
            {
                for (int l = 0; l < 32; l++)
                {
                    q[64 * c + l] = (sbyte)(w[16 + 32 * c + l] & 0xF);
                    q[64 * c + 32 + l] = (sbyte)(w[16 + 32 * c + l] >> 4);
                }
            }
            var qa = MemoryMarshal.Cast<byte, sbyte>(a.Slice(Q8_KFormat.QsOffset, QK));
            var bsums = MemoryMarshal.Cast<byte, short>(a.Slice(Q8_KFormat.BsumsOffset, 32));
            int sumi = 0, summ = 0;
            for (int j = 0; j < 8; j++)
            {
                sumi += scales[j] * Int8Dot.Dot(q.Slice(32 * j, 32), qa.Slice(32 * j, 32));
                summ += mins[j] * (bsums[2 * j] + bsums[2 * j + 1]);
            }
            float da = BitConverter.ToSingle(a);
            sum += Fp16.Read(w) * da * sumi - Fp16.Read(w[2..]) * da * summ;
        }
        return sum;
    }
}

using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace CompactAI.Tensors.Formats;

/// <summary>
/// The unsigned values of one Q4_K/Q5_K super-block as the portable drivers of <see cref="ScaleMinK4"/> read them.
/// Implemented by small structs, so the call is specialised and inlined (no virtual dispatch).
/// </summary>
internal interface IScaleMinK4Quants
{
    /// <summary>Bytes per super-block.</summary>
    static abstract int BlockBytes { get; }

    /// <summary>The 256 unsigned values q of <paramref name="block"/> (the portable path).</summary>
    static abstract void Unpack(ReadOnlySpan<byte> block, Span<sbyte> q);
}

/// <summary>
/// What Q4_K and Q5_K share: a super-block header of f16 d, f16 dmin and eight 6-bit scales sc and mins m packed in 12 bytes
/// (bytes 0-15), weights w = d·sc·q − dmin·m per 32, the scale search that fills it, and the dot product against Q8_K:
/// Σ_blocks d_w·d_a·Σ_j sc_j·Σ_{i∈j} q_i·a_i − dmin_w·d_a·Σ_j m_j·(bsum_{2j} + bsum_{2j+1}).
/// The formats state how q is packed (and keep their own AVX2 loops); this class owns the rest.
/// </summary>
internal static unsafe class ScaleMinK4
{
    private const int QK = KQuantMath.QK_K, ActBytes = 292;

    /// <summary>Byte offset of the 12 packed scales and mins in a block.</summary>
    public const int ScalesOffset = 4;

    /// <summary>
    /// Quantizes one super-block's scales (ggml's <c>quantize_row_q4_K_ref</c> / <c>q5_K_ref</c>): per 32 weights,
    /// <see cref="KQuantMath.MakeQkx2Quants"/> with weights √(mean x²) + |x|; the scales and mins then quantized to 6 bits against
    /// their maxima (d = max scale / 63, dmin = max min / 63) and written to <paramref name="header"/>[0..16]; the levels
    /// requantized with the rounded scales, l = clamp(round((x + dmin·m) / (d·sc)), 0, <paramref name="nmax"/>).
    /// </summary>
    public static void QuantizeScales(ReadOnlySpan<float> x, Span<byte> header, Span<byte> levels, int nmax, float rmin, float rdelta, int nstep)
    {
        Span<byte> aux = stackalloc byte[32];
        Span<float> weights = stackalloc float[32];
        Span<float> mins = stackalloc float[8];
        Span<float> scales = stackalloc float[8];
        Span<byte> ls = stackalloc byte[8];
        Span<byte> lm = stackalloc byte[8];
        float maxScale = 0, maxMin = 0;
        for (int j = 0; j < 8; j++)
        {
            var xj = x.Slice(32 * j, 32);
            float sumX2 = 0;
            for (int l = 0; l < 32; l++) sumX2 += xj[l] * xj[l];
            float avX = MathF.Sqrt(sumX2 / 32);
            for (int l = 0; l < 32; l++) weights[l] = avX + MathF.Abs(xj[l]);
            scales[j] = KQuantMath.MakeQkx2Quants(32, nmax, xj, weights, levels.Slice(32 * j, 32), out mins[j], aux, rmin, rdelta, nstep, false);
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
        KQuantMath.PackScaleMinK4(ls, lm, header.Slice(ScalesOffset, 12));
        Fp16.Write(header, maxScale / 63f);
        Fp16.Write(header[2..], maxMin / 63f);
        float dAll = Fp16.Read(header), dminAll = Fp16.Read(header[2..]);
        for (int j = 0; j < 8; j++)
        {
            KQuantMath.GetScaleMinK4(j, header.Slice(ScalesOffset, 12), out int sc, out int m);
            float d = dAll * sc;
            if (d == 0) continue;
            float dm = dminAll * m;
            for (int i = 0; i < 32; i++)
            {
                levels[32 * j + i] = (byte)Math.Max(0, Math.Min(nmax, KQuantMath.NearestInt((x[32 * j + i] + dm) / d)));
            }
        }
    }

    /// <summary>Sub-block scales and mins of one block as two 8-byte arrays.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void UnpackScales(ReadOnlySpan<byte> packed, Span<byte> scales, Span<byte> mins)
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
    public static void UnpackScales(byte* p, out ulong scales, out ulong mins)
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
    public static int MinTerm(ulong mins, byte* act)
    {
        var bsums = Avx.LoadVector256((short*)(act + Q8_KFormat.BsumsOffset));
        var pairs = Ssse3.HorizontalAdd(bsums.GetLower(), bsums.GetUpper()); // bsum_{2j} + bsum_{2j+1}, j = 0..7
        var m16 = Sse41.ConvertToVector128Int16(Vector128.CreateScalar(mins).AsByte());
        var prod = Sse2.MultiplyAddAdjacent(m16, pairs);
        prod = Sse2.Add(prod, Sse2.Shuffle(prod, 0b01_00_11_10));
        prod = Sse2.Add(prod, Sse2.Shuffle(prod, 0b10_11_00_01));
        return prod.ToScalar();
    }

    /// <summary>w = d·sc·q − dmin·m for <typeparamref name="TQuants"/> blocks.</summary>
    public static void Dequantize<TQuants>(ReadOnlySpan<byte> src, Span<float> dst)
        where TQuants : struct, IScaleMinK4Quants
    {
        Span<sbyte> q = stackalloc sbyte[QK];
        for (int b = 0; b < dst.Length / QK; b++)
        {
            var block = src.Slice(b * TQuants.BlockBytes, TQuants.BlockBytes);
            float d = Fp16.Read(block), dmin = Fp16.Read(block[2..]);
            TQuants.Unpack(block, q);
            var y = dst.Slice(b * QK, QK);
            for (int j = 0; j < 8; j++)
            {
                KQuantMath.GetScaleMinK4(j, block.Slice(ScalesOffset, 12), out int sc, out int m);
                float dl = d * sc, ml = dmin * m;
                for (int l = 0; l < 32; l++) y[32 * j + l] = dl * q[32 * j + l] - ml;
            }
        }
    }

    /// <summary>The portable dot product of <paramref name="n"/> weights in <typeparamref name="TQuants"/> blocks with Q8_K activations.</summary>
    public static float DotPortable<TQuants>(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int n)
        where TQuants : struct, IScaleMinK4Quants
    {
        Span<sbyte> q = stackalloc sbyte[QK];
        Span<byte> scales = stackalloc byte[8], mins = stackalloc byte[8];
        float sum = 0;
        for (int b = 0; b < n / QK; b++)
        {
            var w = weights.Slice(b * TQuants.BlockBytes, TQuants.BlockBytes);
            var a = activations.Slice(b * ActBytes, ActBytes);
            UnpackScales(w.Slice(ScalesOffset, 12), scales, mins);
            TQuants.Unpack(w, q);
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

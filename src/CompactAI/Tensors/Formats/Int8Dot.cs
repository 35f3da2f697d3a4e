using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace CompactAI.Tensors.Formats;

/// <summary>
/// Shared integer kernels for the quantized dot products: sums of int8 products in a 32-byte lane, float
/// accumulation, horizontal sums, and the f16 decode table. The formats state the maths; these helpers own the
/// instruction-set tricks.
/// </summary>
/// <remarks>
/// Three tiers, chosen by the JIT from constant <c>IsSupported</c> checks:
/// <list type="bullet">
/// <item>AVX-VNNI (<c>vpdpbusd</c>/<c>vpdpwssd</c>, Alder Lake / Sapphire Rapids / Zen 5 and later): one instruction per
/// multiply-accumulate. .NET 10 exposes the VEX-encoded AVX-VNNI (<see cref="AvxVnni"/>) but no AVX-512 VNNI class, so CPUs with
/// only AVX-512 VNNI (Zen 4, Ice Lake) run the AVX2 tier.</item>
/// <item>AVX2: <c>vpmaddubsw</c> (u8×s8 → pairwise i16) then <c>vpmaddwd</c> with ones (→ i32), the sign of one operand moved
/// onto the other so that the unsigned input is |a| (llama.cpp's <c>mul_sum_i8_pairs</c>).</item>
/// <item>Portable: each format unpacks a block to int8 and calls <see cref="Dot(ref sbyte, ref sbyte, int)"/>, which uses
/// <see cref="Vector128"/> widening multiplies where hardware-accelerated (Arm64, x64 without AVX2) and scalar code otherwise.</item>
/// </list>
/// Pair sums never saturate int16 for the value ranges the formats feed in (|w| ≤ 127 or u ≤ 63, |a| ≤ 127).
/// </remarks>
internal static class Int8Dot
{
    /// <summary>True where the AVX2 + FMA kernels run.</summary>
    public static bool IsAvx2 => Avx2.IsSupported && Fma.IsSupported;

    /// <summary>True where the AVX-VNNI flavour of the AVX2 kernels runs.</summary>
    public static bool IsVnni => AvxVnni.IsSupported && IsAvx2;

    /// <summary>
    /// Σ a[i]·b[i] over 32 signed bytes, returned as 8 int32 partial sums. Requires a[i] ≠ −128 or b[i] ≠ −128
    /// (|a|·b is formed with <c>vpsignb</c>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> MulSum(Vector256<sbyte> a, Vector256<sbyte> b) =>
        MulSumUnsigned(Avx2.Abs(a), Avx2.Sign(b, a));

    /// <summary>Σ u[i]·s[i] over 32 bytes (u unsigned, s signed) as 8 int32 partial sums; needs u[2k]·s[2k] + u[2k+1]·s[2k+1] to fit int16.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> MulSumUnsigned(Vector256<byte> u, Vector256<sbyte> s)
    {
        if (IsVnni) return AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, u, s);
        return Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(u, s), Vector256<short>.One);
    }

    /// <summary>
    /// acc + Σ over pairs of (u[2k]·s[2k] + u[2k+1]·s[2k+1])·scale[k], as 8 int32 lanes: a per-16-bit-lane weight applied to the pair
    /// sums (K-quant sub-block scales).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> MulSumUnsignedScaled(Vector256<int> acc, Vector256<byte> u, Vector256<sbyte> s, Vector256<short> scale)
    {
        var pairs = Avx2.MultiplyAddAdjacent(u, s);
        if (IsVnni) return AvxVnni.MultiplyWideningAndAdd(acc, pairs, scale);
        return Avx2.Add(acc, Avx2.MultiplyAddAdjacent(pairs, scale));
    }

    /// <summary>acc + float(sum)·scale, lane-wise.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> MulAdd(Vector256<int> sum, float scale, Vector256<float> acc) =>
        Fma.MultiplyAdd(Avx.ConvertToVector256Single(sum), Vector256.Create(scale), acc);

    /// <summary>Sum of the 8 float lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Sum(Vector256<float> v)
    {
        var s = Sse.Add(v.GetLower(), v.GetUpper());
        s = Sse.Add(s, Sse.MoveHighToLow(s, s));
        s = Sse.AddScalar(s, Sse.Shuffle(s, s, 0x55));
        return s.ToScalar();
    }

    /// <summary>
    /// 32 bytes in which byte i is 0xFF when bit i of <paramref name="bits"/> is set and 0 otherwise (expands the 5th-bit
    /// masks of Q5_0/Q5_1).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> BitsToBytes(uint bits)
    {
        // Byte i takes byte i/8 of the word, keeps bit i%8, and compares.
        var spread = Avx2.Shuffle(Vector256.Create(bits).AsByte(), Vector256.Create(
            (byte)0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
            2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
        var bit = Vector256.Create(0x8040201008040201UL).AsByte();
        return Avx2.CompareEqual(Avx2.And(spread, bit), bit);
    }

    /// <summary>Loads 16 bytes of packed nibbles as 32 bytes: the low nibbles first, then the high ones.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe Vector256<byte> Nibbles16(byte* p)
    {
        var v = Sse2.LoadVector128(p);
        var m = Vector128.Create((byte)0x0F);
        return Vector256.Create(Sse2.And(v, m), Sse2.And(Sse2.ShiftRightLogical(v.AsUInt16(), 4).AsByte(), m));
    }

    /// <summary>max |p[i]| over 32 floats (order-independent, so equal to a sequential scan for non-NaN input).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe float MaxAbs32(float* p)
    {
        var abs = Vector256.Create(0x7fffffff).AsSingle();
        var m = Avx.Max(Avx.Max(Avx.And(Avx.LoadVector256(p), abs), Avx.And(Avx.LoadVector256(p + 8), abs)),
                        Avx.Max(Avx.And(Avx.LoadVector256(p + 16), abs), Avx.And(Avx.LoadVector256(p + 24), abs)));
        var h = Sse.Max(m.GetLower(), m.GetUpper());
        h = Sse.Max(h, Sse.MoveHighToLow(h, h));
        h = Sse.MaxScalar(h, Sse.Shuffle(h, h, 0x55));
        return h.ToScalar();
    }

    /// <summary>
    /// q[i] = round(p[i]·scale) for 32 floats as saturated int8, rounding halves away from zero (C's <c>roundf</c>) when
    /// <paramref name="awayFromZero"/>, else to even (ggml's <c>nearest_int</c>). Also returns Σq over each 16-value half.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe Vector256<sbyte> Quantize32(float* p, float scale, bool awayFromZero, out int sumLow16, out int sumHigh16)
    {
        var s = Vector256.Create(scale);
        var a = Round(Avx.Multiply(Avx.LoadVector256(p), s), awayFromZero);
        var b = Round(Avx.Multiply(Avx.LoadVector256(p + 8), s), awayFromZero);
        var c = Round(Avx.Multiply(Avx.LoadVector256(p + 16), s), awayFromZero);
        var d = Round(Avx.Multiply(Avx.LoadVector256(p + 24), s), awayFromZero);
        var ab = Avx2.PackSignedSaturate(a, b); // int16: a0-3 b0-3 | a4-7 b4-7
        var cd = Avx2.PackSignedSaturate(c, d);
        var abcd = Avx2.PackSignedSaturate(ab, cd); // int8 dwords: a0-3 b0-3 c0-3 d0-3 | a4-7 b4-7 c4-7 d4-7
        var q = Avx2.PermuteVar8x32(abcd.AsInt32(), Vector256.Create(0, 4, 1, 5, 2, 6, 3, 7)).AsSByte();
        // Sums of the saturated values, so they agree with the stored bytes.
        var wide = Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(Vector256<byte>.One, q), Vector256<short>.One);
        var lanes = Sse2.Add(wide.GetLower(), Sse2.Shuffle(wide.GetLower(), 0b01_00_11_10));
        sumLow16 = lanes.ToScalar() + lanes.GetElement(1);
        var upper = Sse2.Add(wide.GetUpper(), Sse2.Shuffle(wide.GetUpper(), 0b01_00_11_10));
        sumHigh16 = upper.ToScalar() + upper.GetElement(1);
        return q;

        static Vector256<int> Round(Vector256<float> t, bool awayFromZero)
        {
            if (!awayFromZero) return Avx.ConvertToVector256Int32WithTruncation(Avx.RoundToNearestInteger(t));
            // roundf: truncate, then step one away from zero where the dropped fraction is at least one half (t − trunc(t) is
            // exact, unlike t ± 0.5, which rounds up 0.49999997).
            var r = Avx.RoundToZero(t);
            var frac = Avx.And(Avx.Subtract(t, r), Vector256.Create(0x7fffffff).AsSingle());
            var step = Avx.Or(Avx.And(t, Vector256.Create(unchecked((int)0x80000000)).AsSingle()), Vector256.Create(1f));
            r = Avx.Add(r, Avx.And(Avx.CompareGreaterThanOrEqual(frac, Vector256.Create(0.5f)), step));
            return Avx.ConvertToVector256Int32WithTruncation(r);
        }
    }

    /// <summary>Σ a[i]·b[i] over <paramref name="n"/> signed bytes (the portable kernel).</summary>
    public static int Dot(ref sbyte a, ref sbyte b, int n)
    {
        int i = 0, sum = 0;
        if (Vector128.IsHardwareAccelerated)
        {
            var acc = Vector128<int>.Zero;
            for (; i + 16 <= n; i += 16)
            {
                var va = Vector128.LoadUnsafe(ref a, (nuint)i);
                var vb = Vector128.LoadUnsafe(ref b, (nuint)i);
                var (al, ah) = Vector128.Widen(va);
                var (bl, bh) = Vector128.Widen(vb);
                var p = al * bl + ah * bh; // at most 2·127·128 in magnitude: fits int16
                var (pl, ph) = Vector128.Widen(p);
                acc += pl + ph;
            }
            sum = Vector128.Sum(acc);
        }
        for (; i < n; i++) sum += Unsafe.Add(ref a, i) * Unsafe.Add(ref b, i);
        return sum;
    }

    /// <summary>Σ a[i]·b[i] over the shorter of two int8 spans.</summary>
    public static int Dot(ReadOnlySpan<sbyte> a, ReadOnlySpan<sbyte> b) =>
        Dot(ref MemoryMarshal.GetReference(a), ref MemoryMarshal.GetReference(b), Math.Min(a.Length, b.Length));
}

/// <summary>IEEE half-precision conversions as ggml does them (round to nearest even when encoding).</summary>
internal static class Fp16
{
    private static readonly float[] s_toSingle = BuildTable();

    /// <summary>The float value of the half whose bits are <paramref name="bits"/> (table lookup: exact, and cheaper than a software convert).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ToSingle(ushort bits) => Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(s_toSingle), bits);

    /// <summary>The half stored little-endian at <paramref name="p"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe float Read(byte* p) => ToSingle(Unsafe.ReadUnaligned<ushort>(p));

    /// <summary>The half stored little-endian at <paramref name="src"/>[0..2].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Read(ReadOnlySpan<byte> src) => ToSingle(Unsafe.ReadUnaligned<ushort>(ref MemoryMarshal.GetReference(src)));

    /// <summary>Writes <paramref name="value"/> rounded to half (nearest even) at <paramref name="dst"/>[0..2].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Write(Span<byte> dst, float value) =>
        Unsafe.WriteUnaligned(ref MemoryMarshal.GetReference(dst), BitConverter.HalfToUInt16Bits((Half)value));

    /// <summary><paramref name="value"/> rounded to half precision and back.</summary>
    public static float Round(float value) => (float)(Half)value;

    private static float[] BuildTable()
    {
        var t = new float[65536];
        for (int i = 0; i < t.Length; i++) t[i] = (float)BitConverter.UInt16BitsToHalf((ushort)i);
        return t;
    }
}
